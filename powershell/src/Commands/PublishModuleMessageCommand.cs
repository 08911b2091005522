using System;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// Publish-ModuleMessage (aliases Send-ModuleMessage, Submit-ModuleMessage): queues a
    /// message for every matching subscription and returns its id at once. Only the payload comes
    /// from the pipeline: a piped record's own TTL, Priority or Channel property is its data,
    /// never the message's options.
    /// </summary>
    [Cmdlet(VerbsData.Publish, "ModuleMessage")]
    [Alias("Send-ModuleMessage", "Submit-ModuleMessage")]
    [OutputType(typeof(Guid))]
    public sealed class PublishModuleMessageCommand : ModuleCommunicationCmdlet
    {
        /// <summary>An existing channel (see New-MessageChannel).</summary>
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ChannelNameCompleter))]
        public string Channel { get; set; } = string.Empty;

        /// <summary>What kind of message this is; subscribers may select on it.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNullOrEmpty]
        public string MessageType { get; set; } = string.Empty;

        /// <summary>The payload: any data (hashtables, arrays, numbers, strings, dates…).</summary>
        [Parameter(Position = 2, ValueFromPipeline = true)]
        [AllowNull]
        public object? Data { get; set; }

        /// <summary>The publishing module's name.</summary>
        [Parameter]
        public string? SourceModule { get; set; }

        /// <summary>Low, Normal (default), High or Critical.</summary>
        [Parameter]
        public MessagePriority Priority { get; set; } = MessagePriority.Normal;

        /// <summary>Discard the message if not delivered within this time (seconds or a TimeSpan).</summary>
        [Parameter]
        [Alias("TTL")]
        [SecondsTransformation(AllowNegative = true)] // refused below as InvalidTimeToLive, like 0
        public TimeSpan TimeToLive { get; set; }

        /// <summary>Ties related messages together (a request and its reply).</summary>
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
            object? data = Data is PSObject p && p.BaseObject is not PSCustomObject ? p.BaseObject : Data;
            TimeSpan? ttl = MyInvocation.BoundParameters.ContainsKey(nameof(TimeToLive)) ? TimeToLive : null;
            if (ttl.HasValue && ttl.Value <= TimeSpan.Zero)
            {
                WriteError(NewError("InvalidTimeToLive", ErrorCategory.InvalidArgument, TimeToLive,
                    $"TimeToLive must be positive; got {TimeToLive}.", "Give a number of seconds greater than 0, or leave -TimeToLive out."));
                return;
            }
            if (ttl.HasValue && ttl.Value >= DateTime.MaxValue - DateTime.UtcNow)
            {
                WriteError(NewError("InvalidTimeToLive", ErrorCategory.InvalidArgument, TimeToLive,
                    $"TimeToLive {TimeToLive} would expire after the year 9999.", "Give a shorter time, or leave -TimeToLive out for no expiry."));
                return;
            }
            nint cancel = _cancellation.Begin();
            if (Stopping) return;
            try
            {
                (Guid id, ModuleCommunicationException? rejected) = Bus.Publish(Channel, MessageType, data, SourceModule, Priority, ttl, CorrelationId, AuthenticationToken, cancel);
                if (rejected != null) WriteNativeError(rejected, id);
                WriteObject(id);
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, Channel);
            }
            catch (ArgumentException e)
            {
                WriteError(new ErrorRecord(e, "InvalidMessageData", ErrorCategory.InvalidData, Data));
            }
        }

        /// <summary>Ctrl+C: a publish waiting for room in a full Block queue gives up.</summary>
        protected override void StopProcessing() => _cancellation.Stop();
    }
}
