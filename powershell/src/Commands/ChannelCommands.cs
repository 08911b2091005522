using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Commands
{
    /// <summary>New-MessageChannel: creates a channel that messages can be published to.</summary>
    [Cmdlet(VerbsCommon.New, "MessageChannel", SupportsShouldProcess = true)]
    [OutputType(typeof(ChannelInfo))]
    public sealed class NewMessageChannelCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Channel name; compared case-insensitively; no wildcard characters.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string Name { get; set; } = string.Empty;

        /// <summary>Free text shown by Get-MessageChannels.</summary>
        [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
        public string? Description { get; set; }

        /// <summary>Queue capacity of each subscription to this channel (default: MaxMessageQueueSize).</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateRange(1L, 100_000_000L)] // long limits: int ones make PowerShell refuse any value above 2^31 with a type error
        public long MaxMessages { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            if (ReservedChannelError(Name) is ErrorRecord reserved)
            {
                WriteError(reserved);
                return;
            }
            if (!ShouldProcess(Name, "Create message channel")) return;
            try
            {
                Bus.CreateChannel(Name, Description, MaxMessages);
                foreach (ChannelInfo c in Bus.ListChannels(WildcardPattern.Escape(Name))) WriteObject(c);
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, Name);
            }
        }
    }

    /// <summary>Get-MessageChannels: lists channels with their counters.</summary>
    [Cmdlet(VerbsCommon.Get, "MessageChannels")]
    [OutputType(typeof(ChannelInfo))]
    public sealed class GetMessageChannelsCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Name or -like pattern (default: all).</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(ChannelNameCompleter))]
        public string Name { get; set; } = "*";

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            try
            {
                var channels = Bus.ListChannels(Name);
                if (channels.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(Name))
                {
                    WriteError(NewError("ChannelNotFound", ErrorCategory.ObjectNotFound, Name,
                        $"Channel '{Name}' does not exist.", "Create it with New-MessageChannel, or list channels with Get-MessageChannels."));
                    return;
                }
                foreach (ChannelInfo c in channels) WriteObject(c);
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, Name);
            }
        }
    }

    /// <summary>Remove-MessageChannel: removes a channel.</summary>
    [Cmdlet(VerbsCommon.Remove, "MessageChannel", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(ChannelRemovalResult))]
    public sealed class RemoveMessageChannelCommand : ModuleCommunicationCmdlet
    {
        /// <summary>The channel to remove.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ChannelNameCompleter))]
        public string Name { get; set; } = string.Empty;

        /// <summary>Remove even when messages of the channel are still queued (they are discarded).</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            try
            {
                var existing = Bus.ListChannels(WildcardPattern.Escape(Name));
                if (existing.Count == 0)
                {
                    WriteError(ReservedChannelError(Name) ?? (WildcardPattern.ContainsWildcardCharacters(Name)
                        ? NewError("ChannelNotFound", ErrorCategory.ObjectNotFound, Name,
                            $"Channel '{Name}' does not exist: -Name takes one exact name, not a wildcard pattern.",
                            $"To remove every channel the pattern matches, pipe them: Get-MessageChannels -Name '{Name}' | Remove-MessageChannel.")
                        : NewError("ChannelNotFound", ErrorCategory.ObjectNotFound, Name,
                            $"Channel '{Name}' does not exist.", "List channels with Get-MessageChannels.")));
                    return;
                }
                long queued = existing[0].QueueLength;
                if (queued > 0 && !Force)
                {
                    WriteError(NewError("ChannelHasQueuedMessages", ErrorCategory.ResourceBusy, Name,
                        $"Channel '{Name}' still has {queued} queued message(s).",
                        "Wait for delivery with Wait-ModuleMessage, or use -Force to discard them."));
                    return;
                }
                if (!ShouldProcess(Name, queued > 0 ? $"Remove message channel and discard {queued} queued message(s)" : "Remove message channel")) return;
                long cleared = Bus.RemoveChannel(Name);
                WriteObject(new ChannelRemovalResult { Success = true, Name = existing[0].Name, ClearedCount = cleared });
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, Name);
            }
        }
    }
}
