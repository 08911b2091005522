using System;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// Publish-ModuleEvent (aliases Send-ModuleEvent, Submit-ModuleEvent): publishes an event to
    /// its event channel, the event history and every matching event subscription, and
    /// returns its id at once. -Broadcast also sends it to every message channel. Only the payload
    /// comes from the pipeline: a piped record's own Channel, Source or Priority property is its
    /// data, never the event's options.
    /// </summary>
    [Cmdlet(VerbsData.Publish, "ModuleEvent")]
    [Alias("Send-ModuleEvent", "Submit-ModuleEvent")]
    [OutputType(typeof(Guid))]
    public sealed class PublishModuleEventCommand : EventCmdlet
    {
        /// <summary>The event's name; subscribers select on it with -like patterns.</summary>
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        [Alias("Name")]
        [ArgumentCompleter(typeof(EventNameCompleter))]
        public string EventName { get; set; } = string.Empty;

        /// <summary>The payload: any data (hashtables, arrays, numbers, strings, dates…).</summary>
        [Parameter(Position = 1, ValueFromPipeline = true)]
        [AllowNull]
        [Alias("Data")]
        public object? EventData { get; set; }

        /// <summary>The publishing module's name.</summary>
        [Parameter]
        [Alias("Source")]
        public string? SourceModule { get; set; }

        /// <summary>The event channel (default "Events"); made on first use.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EventChannelCompleter))]
        public string? Channel { get; set; }

        /// <summary>Also deliver the event, as a message, to every message channel.</summary>
        [Parameter]
        public SwitchParameter Broadcast { get; set; }

        /// <summary>Low, Normal (default), High or Critical.</summary>
        [Parameter]
        public MessagePriority Priority { get; set; } = MessagePriority.Normal;

        /// <summary>Ties related events and messages together.</summary>
        [Parameter]
        public string? CorrelationId { get; set; }

        /// <summary>A token from New-AuthenticationToken, checked while security is enabled (Enable-CommunicationSecurity).</summary>
        [Parameter]
        public string? AuthenticationToken { get; set; }

        private PublishCancellation _cancellation; // not readonly: Begin records the flag in it

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            if (ReservedChannelError(Channel) is ErrorRecord reserved)
            {
                WriteError(reserved);
                return;
            }
            object? data = EventData is PSObject p && p.BaseObject is not PSCustomObject ? p.BaseObject : EventData;
            nint cancel = _cancellation.Begin();
            if (Stopping) return;
            try
            {
                (Guid id, ModuleCommunicationException? rejected) =
                    EventBus.Publish(EventName, data, SourceModule, Channel, Broadcast, Priority, CorrelationId, AuthenticationToken, cancel);
                if (rejected != null) WriteNativeError(rejected, id);
                WriteObject(id);
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, EventName);
            }
            catch (ArgumentException e)
            {
                WriteError(new ErrorRecord(e, "InvalidEventData", ErrorCategory.InvalidData, EventData));
            }
        }

        /// <summary>Ctrl+C: a publish waiting for room in a full Block queue gives up.</summary>
        protected override void StopProcessing() => _cancellation.Stop();
    }
}
