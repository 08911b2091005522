using System;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;
using ModuleCommunication.Threading;

namespace ModuleCommunication.Commands
{
    /// <summary>Clear-MessageQueue: discards the queued, undelivered messages of channels.</summary>
    [Cmdlet(VerbsCommon.Clear, "MessageQueue", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(QueueClearResult))]
    public sealed class ClearMessageQueueCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Channel name or -like pattern (default: every channel).</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNull]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(ChannelNameCompleter))]
        [Alias("Name")]
        public string Channel { get; set; } = "*";

        /// <summary>Do not ask for confirmation.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            try
            {
                // A typo must not read as "cleared 0": a plain name has to be a channel.
                if (!WildcardPattern.ContainsWildcardCharacters(Channel) && Bus.ListChannels(Channel).Count == 0)
                {
                    WriteError(NewError("ChannelNotFound", ErrorCategory.ObjectNotFound, Channel,
                        $"Channel '{Channel}' does not exist.", "List the channels with Get-MessageChannels, or give a -like pattern."));
                    return;
                }
                if (!ShouldProceed(Force, Channel, "Discard queued messages")) return;
                long cleared = Bus.ClearQueue(Channel);
                WriteObject(new QueueClearResult { Success = true, Channel = Channel, ClearedCount = cleared });
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, Channel);
            }
        }
    }

    /// <summary>
    /// Wait-ModuleMessage: waits until messages are delivered, running this runspace's own
    /// default handlers meanwhile (a pump). Without -MessageId, waits until every queue is empty.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Wait, "ModuleMessage")]
    [OutputType(typeof(DeliveryStatus))]
    public sealed class WaitModuleMessageCommand : ModuleCommunicationCmdlet
    {
        private volatile bool _stopping;

        /// <summary>Ids from Publish-ModuleMessage (pipeline input works).</summary>
        [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("Id")]
        public Guid[]? MessageId { get; set; }

        /// <summary>How long to wait (seconds or TimeSpan; default 30 s).</summary>
        [Parameter]
        [SecondsTransformation]
        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

        /// <summary>Write a DeliveryStatus object for each message (default: no output).</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            if (MessageId == null || MessageId.Length == 0) return;
            foreach (Guid id in MessageId) Wait(id, () => Bus.WaitDelivered(id, 0));
        }

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            if (MyInvocation.ExpectingInput || MessageId != null) return;
            Wait(Guid.Empty, () => Bus.WaitIdle(0));
        }

        /// <inheritdoc/>
        protected override void StopProcessing() => _stopping = true;

        private void Wait(Guid id, Func<bool> done)
        {
            bool delivered;
            try
            {
                RunspaceDispatcher? dispatcher = RunspaceDispatcher.Current;
                delivered = dispatcher != null
                    ? dispatcher.Pump(done, Timeout, () => _stopping)
                    : WaitWithoutHandlers(id);
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, id);
                return;
            }
            if (_stopping) throw new PipelineStoppedException();
            if (!delivered)
            {
                string what = id == Guid.Empty ? "every queue to empty" : $"message {id} to be delivered";
                // A paused processor is the likeliest cause and the one a user forgets: say so first.
                bool paused = !Bus.IsRunning();
                WriteError(NewError("MessageDeliveryTimeout", ErrorCategory.OperationTimeout, id == Guid.Empty ? null : id,
                    $"Timed out after {Timeout.TotalSeconds:0.###} s waiting for {what}"
                        + (paused ? ": delivery is paused (Stop-MessageProcessor), so nothing is delivered." : "."),
                    paused
                        ? "Resume delivery with Start-MessageProcessor, then wait again."
                        : "Check Get-MessageSubscriptions for stalled subscriptions (a handler's runspace may be busy), or pass a longer -Timeout."));
            }
            if (PassThru) WriteObject(new DeliveryStatus { MessageId = id, Delivered = delivered });
        }

        private bool WaitWithoutHandlers(Guid id)
        {
            // Native waits in short slices so Ctrl+C is honoured.
            DateTime end = DateTime.UtcNow + Timeout;
            while (!_stopping)
            {
                TimeSpan left = end - DateTime.UtcNow;
                uint slice = ToMilliseconds(left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100));
                bool done = id == Guid.Empty ? Bus.WaitIdle(slice) : Bus.WaitDelivered(id, slice);
                if (done) return true;
                if (left <= TimeSpan.Zero) return false;
            }
            return false;
        }
    }

    /// <summary>Start-MessageProcessor: resumes delivery after Stop-MessageProcessor.</summary>
    [Cmdlet(VerbsLifecycle.Start, "MessageProcessor", SupportsShouldProcess = true)]
    [OutputType(typeof(ProcessorStatus))]
    public sealed class StartMessageProcessorCommand : ModuleCommunicationCmdlet
    {
        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            if (!ShouldProcess("message processor", "Resume delivery")) return;
            try
            {
                Bus.Resume();
                // Handlers of this runspace may have messages waiting from the pause.
                RunspaceDispatcher.Current?.Signal();
                BusMetrics now = Bus.Stats();
                WriteObject(new ProcessorStatus { Running = true, QueueLength = now.QueueLength, InFlight = now.InFlight });
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, null);
            }
        }
    }

    /// <summary>
    /// Stop-MessageProcessor: pauses delivery (publishing still queues). With -Timeout it
    /// first drains the queues, running this runspace's handlers, for up to that long.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Stop, "MessageProcessor", SupportsShouldProcess = true)]
    [OutputType(typeof(ProcessorStatus))]
    public sealed class StopMessageProcessorCommand : ModuleCommunicationCmdlet
    {
        private volatile bool _stopping;

        /// <summary>Drain for up to this long before pausing (seconds or TimeSpan).</summary>
        [Parameter]
        [SecondsTransformation]
        public TimeSpan Timeout { get; set; }

        /// <inheritdoc/>
        protected override void StopProcessing() => _stopping = true;

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            if (!ShouldProcess("message processor", "Pause delivery")) return;
            try
            {
                bool drained = false;
                if (Timeout > TimeSpan.Zero)
                {
                    RunspaceDispatcher? dispatcher = RunspaceDispatcher.Current;
                    drained = dispatcher != null
                        ? dispatcher.Pump(() => Bus.WaitIdle(0), Timeout, () => _stopping)
                        : Bus.WaitIdle(ToMilliseconds(Timeout));
                    if (!drained)
                    {
                        BusMetrics left = Bus.Stats();
                        WriteWarning($"The queues did not drain within {Timeout.TotalSeconds:0.###} s; pausing with {left.QueueLength} message(s) queued " +
                            $"and {left.InFlight} taken by handlers that have not reported them done (those still run).");
                    }
                }
                Bus.Pause();
                BusMetrics now = Bus.Stats();
                WriteObject(new ProcessorStatus { Running = false, QueueLength = now.QueueLength, InFlight = now.InFlight, Drained = drained });
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, null);
            }
        }
    }
}
