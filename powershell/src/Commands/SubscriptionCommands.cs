using System;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;
using ModuleCommunication.Threading;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// Register-ModuleMessageHandler (alias Subscribe-ModuleMessage): runs a script block for
    /// every matching message. Default handlers run in this runspace, on its own thread, at
    /// its next checkpoint; -RunAsync handlers run on a private runspace pool.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Register, "ModuleMessageHandler")]
    [Alias("Subscribe-ModuleMessage")]
    [OutputType(typeof(SubscriptionInfo))]
    public sealed class RegisterModuleMessageHandlerCommand : HandlerRegistrationCmdlet
    {
        /// <summary>Channel name or -like pattern.</summary>
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(ChannelNameCompleter))]
        public string Channel { get; set; } = string.Empty;

        /// <summary>Message type name or -like pattern (default: all).</summary>
        [Parameter(Position = 2)]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string MessageType { get; set; } = "*";

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            CheckArgumentList();
            if (ReservedChannelError(Channel) is ErrorRecord reserved) ThrowTerminatingError(reserved);
            var options = new Subscriptions.Options(Channel, MessageType, MaxQueueSize, ChosenOverflowPolicy, BlockTimeoutMs, SourceModule,
                AuthenticationToken);
            Register(() => SubscriptionSource.ForMessages(options), Channel);
            // Only once the name was accepted (Register throws otherwise), so a bad name gets its error alone.
            try
            {
                if (!WildcardPattern.ContainsWildcardCharacters(Channel) && Bus.ListChannels(WildcardPattern.Escape(Channel)).Count == 0)
                {
                    WriteWarning($"Channel '{Channel}' does not exist yet. The subscription receives its messages once it is created with New-MessageChannel.");
                }
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, Channel);
            }
        }
    }

    /// <summary>Unregister-ModuleMessageHandler (alias Unsubscribe-ModuleMessage): removes a subscription.</summary>
    [Cmdlet(VerbsLifecycle.Unregister, "ModuleMessageHandler", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [Alias("Unsubscribe-ModuleMessage")]
    [OutputType(typeof(UnsubscribeResult))]
    public sealed class UnregisterModuleMessageHandlerCommand : HandlerRemovalCmdlet
    {
    }

    /// <summary>Get-MessageSubscriptions: lists subscriptions with their counters and last error.</summary>
    [Cmdlet(VerbsCommon.Get, "MessageSubscriptions")]
    [OutputType(typeof(SubscriptionInfo))]
    public sealed class GetMessageSubscriptionsCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Only subscriptions whose channel pattern matches this channel name or pattern (channels from Get-MessageChannels may be piped).</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [Alias("Name")]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(ChannelNameCompleter))]
        public string? Channel { get; set; }

        /// <summary>Only this subscription.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ArgumentCompleter(typeof(SubscriptionIdCompleter))]
        public Guid? SubscriptionId { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            try
            {
                bool found = false;
                foreach (SubscriptionInfo s in Subscriptions.List(Channel))
                {
                    if (SubscriptionId.HasValue && s.SubscriptionId != SubscriptionId.Value) continue;
                    WriteObject(s);
                    found = true;
                }
                // An id names one subscription: a typo (or one already removed) must not read as "nothing".
                if (SubscriptionId.HasValue && !found)
                {
                    WriteError(NewError("SubscriptionNotFound", ErrorCategory.ObjectNotFound, SubscriptionId.Value,
                        $"No subscription has the id {SubscriptionId.Value}{(Channel != null ? $" among those that receive from '{Channel}'" : "")}: it does not exist or was removed.",
                        "List the subscriptions with Get-MessageSubscriptions."));
                }
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, Channel);
            }
        }
    }
}
