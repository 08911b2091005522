using System;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;
using ModuleCommunication.Threading;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// Register-ModuleEventHandler (alias Subscribe-ModuleEvent): runs a script block for every
    /// event whose name matches. Handlers run where message handlers run: by default in this
    /// runspace, on its own thread, at its next checkpoint; with -RunAsync on a private pool.
    /// -Replay / -Since first deliver matching events of the history.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Register, "ModuleEventHandler")]
    [Alias("Subscribe-ModuleEvent")]
    [OutputType(typeof(SubscriptionInfo))]
    public sealed class RegisterModuleEventHandlerCommand : EventCmdlet
    {
        /// <summary>Event name or -like pattern (default: every event).</summary>
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        [Alias("Name")]
        [ArgumentCompleter(typeof(EventNameCompleter))]
        public string EventName { get; set; } = "*";

        /// <summary>Called as <c>param($Event)</c> for each event.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        public ScriptBlock Handler { get; set; } = null!;

        /// <summary>Called as <c>param($Event)</c> first; the handler runs only when it returns true.</summary>
        [Parameter]
        public ScriptBlock? Filter { get; set; }

        /// <summary>Only events from this source module (or -like pattern).</summary>
        [Parameter]
        [SupportsWildcards]
        public string? SourceModule { get; set; }

        /// <summary>Only events of this event channel (or -like pattern); default: all.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string Channel { get; set; } = "*";

        /// <summary>Run the handler on a private runspace pool, even while this thread is busy.</summary>
        [Parameter]
        public SwitchParameter RunAsync { get; set; }

        /// <summary>-RunAsync only: extra values passed to the handler after the event.</summary>
        [Parameter]
        public object[] ArgumentList { get; set; } = Array.Empty<object>();

        /// <summary>First deliver the newest this-many matching events of the history.</summary>
        [Parameter]
        [ValidateRange(0, int.MaxValue)]
        public int Replay { get; set; }

        /// <summary>First deliver the matching events of the history published at or after this time.</summary>
        [Parameter]
        public DateTime Since { get; set; }

        /// <summary>Queue capacity (default MaxMessageQueueSize).</summary>
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
            bool replay = MyInvocation.BoundParameters.ContainsKey(nameof(Replay));
            bool since = MyInvocation.BoundParameters.ContainsKey(nameof(Since));
            var options = new EventBus.SubscribeOptions(EventName, Channel, SourceModule, MaxQueueSize,
                MyInvocation.BoundParameters.ContainsKey(nameof(OverflowPolicy)) ? OverflowPolicy : null,
                (long)BlockTimeout.TotalMilliseconds, replay ? Replay : null, since ? Since : null);
            try
            {
                SubscriptionSource source = SubscriptionSource.ForEvents(options);
                HandlerSubscription s = RunAsync
                    ? Subscriptions.AddAsync(source, Handler, Filter, ArgumentList)
                    : Subscriptions.AddDefault(this, source, Handler, Filter);
                WriteObject(Subscriptions.Describe(s.Id));
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, EventName);
            }
        }
    }

    /// <summary>Unregister-ModuleEventHandler (alias Unsubscribe-ModuleEvent): removes an event subscription.</summary>
    [Cmdlet(VerbsLifecycle.Unregister, "ModuleEventHandler", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [Alias("Unsubscribe-ModuleEvent")]
    [OutputType(typeof(UnsubscribeResult))]
    public sealed class UnregisterModuleEventHandlerCommand : EventCmdlet
    {
        /// <summary>The id from Subscribe-ModuleEvent or Get-MessageSubscriptions.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("Id")]
        [ArgumentCompleter(typeof(SubscriptionIdCompleter))]
        public Guid SubscriptionId { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            if (!ShouldProcess(SubscriptionId.ToString(), "Remove event subscription")) return;
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
}
