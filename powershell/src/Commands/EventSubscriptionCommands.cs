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
    public sealed class RegisterModuleEventHandlerCommand : HandlerRegistrationCmdlet
    {
        /// <summary>Event name or -like pattern (default: every event).</summary>
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        [Alias("Name")]
        [ArgumentCompleter(typeof(EventNameCompleter))]
        public string EventName { get; set; } = "*";

        /// <summary>Only events of this event channel (or -like pattern); default: all.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EventChannelCompleter))]
        [SupportsWildcards]
        public string Channel { get; set; } = "*";

        /// <summary>First deliver the newest this-many matching events of the history.</summary>
        [Parameter]
        [ValidateRange(0, int.MaxValue)]
        public int Replay { get; set; }

        /// <summary>First deliver the matching events of the history published at or after this time.</summary>
        [Parameter]
        public DateTime Since { get; set; }

        /// <inheritdoc/>
        protected override void BeginProcessing() => EventCmdlet.ReportHistoryStartup(this);

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            CheckArgumentList();
            if (ReservedChannelError(Channel) is ErrorRecord reserved) ThrowTerminatingError(reserved);
            bool replay = MyInvocation.BoundParameters.ContainsKey(nameof(Replay));
            bool since = MyInvocation.BoundParameters.ContainsKey(nameof(Since));
            var options = new EventBus.SubscribeOptions(EventName, Channel, SourceModule, MaxQueueSize,
                ChosenOverflowPolicy, BlockTimeoutMs, replay ? Replay : null, since ? Since : null, AuthenticationToken);
            Register(() => SubscriptionSource.ForEvents(options), EventName);
        }
    }

    /// <summary>Unregister-ModuleEventHandler (alias Unsubscribe-ModuleEvent): removes an event subscription.</summary>
    [Cmdlet(VerbsLifecycle.Unregister, "ModuleEventHandler", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [Alias("Unsubscribe-ModuleEvent")]
    [OutputType(typeof(UnsubscribeResult))]
    public sealed class UnregisterModuleEventHandlerCommand : HandlerRemovalCmdlet
    {
    }
}
