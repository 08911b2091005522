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
    public sealed class RegisterModuleMessageHandlerCommand : ModuleCommunicationCmdlet
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

        /// <summary>Called as <c>param($Message)</c> for each message.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        public ScriptBlock Handler { get; set; } = null!;

        /// <summary>Called as <c>param($Message)</c> first; the handler runs only when it returns true.</summary>
        [Parameter]
        public ScriptBlock? Filter { get; set; }

        /// <summary>Only messages from this source module (or -like pattern).</summary>
        [Parameter]
        [SupportsWildcards]
        public string? SourceModule { get; set; }

        /// <summary>Run the handler on a private runspace pool, even while this thread is busy.</summary>
        [Parameter]
        public SwitchParameter RunAsync { get; set; }

        /// <summary>-RunAsync only: extra values passed to the handler after the message.</summary>
        [Parameter]
        public object[] ArgumentList { get; set; } = Array.Empty<object>();

        /// <summary>Queue capacity (default: the channel's MaxMessages or MaxMessageQueueSize).</summary>
        [Parameter]
        [ValidateRange(1, int.MaxValue)]
        public long MaxQueueSize { get; set; }

        /// <summary>What a full queue does (default: the configured DefaultOverflowPolicy).</summary>
        [Parameter]
        public OverflowPolicy OverflowPolicy { get; set; }

        /// <summary>Block policy: how long a publisher waits for room (seconds or TimeSpan).</summary>
        [Parameter]
        [SecondsTransformation]
        public TimeSpan BlockTimeout { get; set; }

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            if (!RunAsync && ArgumentList.Length > 0)
            {
                ThrowTerminatingError(NewError("ArgumentListNeedsRunAsync", ErrorCategory.InvalidArgument, ArgumentList,
                    "-ArgumentList is for -RunAsync handlers; a default handler already sees this runspace's variables."));
            }
            var options = new Subscriptions.Options(Channel, MessageType, MaxQueueSize,
                MyInvocation.BoundParameters.ContainsKey(nameof(OverflowPolicy)) ? OverflowPolicy : null,
                (long)BlockTimeout.TotalMilliseconds, SourceModule);
            try
            {
                if (!WildcardPattern.ContainsWildcardCharacters(Channel) && Bus.ListChannels(WildcardPattern.Escape(Channel)).Count == 0)
                {
                    WriteWarning($"Channel '{Channel}' does not exist yet. The subscription receives its messages once it is created with New-MessageChannel.");
                }
                HandlerSubscription s = RunAsync
                    ? Subscriptions.AddAsync(options, Handler, Filter, ArgumentList)
                    : Subscriptions.AddDefault(this, options, Handler, Filter);
                WriteObject(Subscriptions.Describe(s.Id));
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
    public sealed class UnregisterModuleMessageHandlerCommand : ModuleCommunicationCmdlet
    {
        /// <summary>The id from Subscribe-ModuleMessage or Get-MessageSubscriptions.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("Id")]
        [ArgumentCompleter(typeof(SubscriptionIdCompleter))]
        public Guid SubscriptionId { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            if (!ShouldProcess(SubscriptionId.ToString(), "Remove subscription")) return;
            try
            {
                if (!Subscriptions.Remove(SubscriptionId))
                {
                    WriteError(NewError("SubscriptionNotFound", ErrorCategory.ObjectNotFound, SubscriptionId,
                        $"No subscription has the id {SubscriptionId}.", "List subscriptions with Get-MessageSubscriptions."));
                    return;
                }
                WriteObject(new UnsubscribeResult { Success = true, SubscriptionId = SubscriptionId });
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, SubscriptionId);
            }
        }
    }

    /// <summary>Get-MessageSubscriptions: lists subscriptions with their counters and last error.</summary>
    [Cmdlet(VerbsCommon.Get, "MessageSubscriptions")]
    [OutputType(typeof(SubscriptionInfo))]
    public sealed class GetMessageSubscriptionsCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Only subscriptions whose channel pattern matches this channel name or pattern.</summary>
        [Parameter(Position = 0)]
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
                foreach (SubscriptionInfo s in Subscriptions.List(Channel))
                {
                    if (SubscriptionId.HasValue && s.SubscriptionId != SubscriptionId.Value) continue;
                    WriteObject(s);
                }
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, Channel);
            }
        }
    }
}
