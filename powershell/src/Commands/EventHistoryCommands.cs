using System;
using System.IO;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Commands
{
    /// <summary>Get-ModuleEvents: the events of the history, oldest first.</summary>
    [Cmdlet(VerbsCommon.Get, "ModuleEvents")]
    [OutputType(typeof(ModuleEvent))]
    public sealed class GetModuleEventsCommand : EventCmdlet
    {
        /// <summary>Event name or -like pattern (default: all).</summary>
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        [Alias("Name")]
        [ArgumentCompleter(typeof(EventNameCompleter))]
        public string EventName { get; set; } = "*";

        /// <summary>Only events published at or after this time.</summary>
        [Parameter]
        public DateTime Since { get; set; }

        /// <summary>Only the newest this-many of the matching events.</summary>
        [Parameter]
        [ValidateRange(0, int.MaxValue)]
        public int Last { get; set; }

        /// <summary>Only events from this source module (or -like pattern).</summary>
        [Parameter]
        [SupportsWildcards]
        [Alias("Source")]
        public string? SourceModule { get; set; }

        /// <summary>Only events of this event channel (or -like pattern).</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EventChannelCompleter))]
        [SupportsWildcards]
        public string? Channel { get; set; }

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            var query = new EventBus.Query(EventName, Channel, SourceModule,
                MyInvocation.BoundParameters.ContainsKey(nameof(Since)) ? Since : null,
                MyInvocation.BoundParameters.ContainsKey(nameof(Last)) ? Last : null);
            try
            {
                foreach (ModuleEvent e in EventBus.History(query)) WriteObject(e);
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, EventName);
            }
        }
    }

    /// <summary>Clear-EventHistory: removes events from the history (and from the history file).</summary>
    [Cmdlet(VerbsCommon.Clear, "EventHistory", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High,
        DefaultParameterSetName = ByName)]
    [OutputType(typeof(EventHistoryClearResult))]
    public sealed class ClearEventHistoryCommand : EventCmdlet
    {
        private const string ByName = "ByName";
        private const string ByEvent = "ByEvent";

        /// <summary>Event name or -like pattern (default: every event); names may be piped in.</summary>
        [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = ByName)]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        [Alias("Name")]
        [ArgumentCompleter(typeof(EventNameCompleter))]
        public string EventName { get; set; } = "*";

        /// <summary>
        /// Events piped from Get-ModuleEvents: refused. Clearing selects by name, so bound to
        /// -EventName by their Name they would remove every event of that name, not the ones piped.
        /// </summary>
        [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = ByEvent, DontShow = true)]
        public ModuleEvent? InputObject { get; set; }

        /// <summary>Do not ask for confirmation.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            if (InputObject is ModuleEvent piped)
            {
                string command = $"Clear-EventHistory -EventName '{WildcardPattern.Escape(piped.Name).Replace("'", "''")}'";
                WriteError(NewError("ClearByEventNotSupported", ErrorCategory.InvalidArgument, piped,
                    $"Clear-EventHistory removes events by name, not single events, so nothing was removed for the piped event '{piped.Name}' ({piped.Id}). To remove every event of that name, run {command}.",
                    $"Run {command}."));
                return;
            }
            var query = new EventBus.Query(EventName);
            try
            {
                int matching = EventBus.History(query).Count;
                // A history file may hold matching events that memory no longer does.
                string action = EventBus.Info().Path is null
                    ? $"Remove {matching} event(s) from the event history"
                    : $"Remove {matching} event(s) from the event history, and those of the history file";
                if (!ShouldProceed(Force, EventName, action)) return;
                long cleared = EventBus.Clear(query);
                WriteObject(new EventHistoryClearResult { Success = true, EventName = EventName, ClearedCount = cleared });
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, EventName);
            }
        }
    }

    /// <summary>Export-EventHistory: writes events of the history to a JSON-lines or CSV file.</summary>
    [Cmdlet(VerbsData.Export, "EventHistory", SupportsShouldProcess = true)]
    [OutputType(typeof(EventHistoryExportResult))]
    public sealed class ExportEventHistoryCommand : EventCmdlet
    {
        /// <summary>The file to write (replaced if it exists, unless -NoClobber).</summary>
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotBlank]
        public string Path { get; set; } = string.Empty;

        /// <summary>JsonLines or Csv (default: Csv for a .csv file, else JsonLines).</summary>
        [Parameter]
        public EventHistoryFormat Format { get; set; }

        /// <summary>Only events whose name matches (default: all).</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(EventNameCompleter))]
        public string EventName { get; set; } = "*";

        /// <summary>Only events published at or after this time.</summary>
        [Parameter]
        public DateTime Since { get; set; }

        /// <summary>Only the newest this-many of the matching events.</summary>
        [Parameter]
        [ValidateRange(0, int.MaxValue)]
        public int Last { get; set; }

        /// <summary>Only events from this source module (or -like pattern).</summary>
        [Parameter]
        [SupportsWildcards]
        public string? SourceModule { get; set; }

        /// <summary>Do not replace an existing file.</summary>
        [Parameter]
        public SwitchParameter NoClobber { get; set; }

        /// <summary>Write the result (file, format, count).</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc/>
        protected override void BeginProcessing()
        {
            base.BeginProcessing();
            // Piped events bound to nothing, and the whole history was written regardless, the events
            // the user filtered out included: refused before anything is written.
            if (MyInvocation.ExpectingInput)
            {
                ThrowTerminatingError(NewError("ExportByEventNotSupported", ErrorCategory.InvalidArgument, Path,
                    "Export-EventHistory takes no pipeline input: it writes the events of the history that -EventName, -SourceModule, -Since and -Last choose (as Get-ModuleEvents does). Nothing was written.",
                    "Give the filters to Export-EventHistory instead of piping Get-ModuleEvents into it, e.g. Export-EventHistory -Path events.jsonl -EventName 'Order.*'."));
            }
        }

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            if (ResolveFileSystemPath(Path, nameof(Path), out string path) is ErrorRecord notFileSystem) ThrowTerminatingError(notFileSystem);
            EventHistoryFormat format = MyInvocation.BoundParameters.ContainsKey(nameof(Format)) ? Format : FormatOf(path);
            if (NoClobber && File.Exists(path))
            {
                ThrowTerminatingError(NewError("FileExists", ErrorCategory.ResourceExists, path,
                    $"'{path}' exists and -NoClobber was given.", "Choose another -Path, or leave out -NoClobber to replace the file."));
            }
            if (!ShouldProcess(path, $"Export event history ({format})")) return;
            var query = new EventBus.Query(EventName, null, SourceModule,
                MyInvocation.BoundParameters.ContainsKey(nameof(Since)) ? Since : null,
                MyInvocation.BoundParameters.ContainsKey(nameof(Last)) ? Last : null);
            try
            {
                long count = EventBus.Export(path, format, query);
                if (PassThru) WriteObject(new EventHistoryExportResult { Path = path, Format = format, Count = count });
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, path);
            }
        }
    }

    /// <summary>Import-EventHistory: adds the events of an exported file to the history.</summary>
    [Cmdlet(VerbsData.Import, "EventHistory", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(EventHistoryImportResult))]
    public sealed class ImportEventHistoryCommand : EventCmdlet
    {
        /// <summary>A file written by Export-EventHistory (or the history file itself).</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotBlank]
        [Alias("FullName")]
        public string Path { get; set; } = string.Empty;

        /// <summary>JsonLines or Csv (default: Csv for a .csv file, else JsonLines).</summary>
        [Parameter]
        public EventHistoryFormat Format { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            if (ResolveFileSystemPath(Path, nameof(Path), out string path) is ErrorRecord notFileSystem)
            {
                WriteError(notFileSystem);
                return;
            }
            EventHistoryFormat format = MyInvocation.BoundParameters.ContainsKey(nameof(Format)) ? Format : FormatOf(path);
            if (!ShouldProcess(path, $"Import events ({format}) into the event history")) return;
            try
            {
                (EventHistoryImportResult result, var warnings) = EventBus.Import(path, format);
                foreach (string w in warnings) WriteWarning(w);
                WriteObject(result);
            }
            catch (ModuleCommunicationException e) when (e.StatusName == nameof(McStatus.CorruptFile))
            {
                // The file may be fine and the format wrong (-Format, or an extension that misleads).
                EventHistoryFormat other = format == EventHistoryFormat.Csv ? EventHistoryFormat.JsonLines : EventHistoryFormat.Csv;
                ErrorRecord record = ToErrorRecord(e, path);
                record.ErrorDetails = new ErrorDetails($"{e.Message.TrimEnd('.')}. It was read as {format}.")
                {
                    RecommendedAction = $"If the file holds {other}, run Import-EventHistory again with -Format {other}; otherwise repair or move it.",
                };
                WriteError(record);
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, path);
            }
        }
    }
}
