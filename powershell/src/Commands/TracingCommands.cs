using System;
using System.IO;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Commands
{
    /// <summary>Enable-MessageTracing: records publishing, delivery, API calls and stages, errors and slow operations.</summary>
    [Cmdlet(VerbsLifecycle.Enable, "MessageTracing", SupportsShouldProcess = true)]
    [OutputType(typeof(TracingStatus))]
    public sealed class EnableMessageTracingCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Basic (default) or Verbose.</summary>
        [Parameter(Position = 0)]
        public TraceLevel Level { get; set; } = TraceLevel.Basic;

        /// <summary>Also write the records to -FilePath, as JSON lines, from a background writer.</summary>
        [Parameter]
        public SwitchParameter LogToFile { get; set; }

        /// <summary>The trace file (relative paths resolve against the current location); default communication-trace.log.</summary>
        [Parameter]
        [ValidateNotBlank]
        public string? FilePath { get; set; }

        /// <summary>Size in MB at which the file rotates (default 10).</summary>
        [Parameter]
        [ValidateRange(1, 100_000)]
        public int MaxFileSizeMB { get; set; } = 10;

        /// <summary>Operations that take at least this long get a "slow" record (default 1 second).</summary>
        [Parameter]
        [SecondsTransformation]
        public TimeSpan SlowThreshold { get; set; } = TimeSpan.FromSeconds(1);

        /// <summary>Records kept in memory for Get-MessageTrace (default 10000).</summary>
        [Parameter]
        [ValidateRange(1, 10_000_000)]
        public int BufferSize { get; set; } = 10_000;

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            if (FilePath != null && !LogToFile)
            {
                ThrowTerminatingError(NewError("FilePathWithoutLogToFile", ErrorCategory.InvalidArgument, FilePath,
                    $"-FilePath '{FilePath}' was given without -LogToFile.", "Add -LogToFile to write the trace to that file."));
            }
            string? path = null;
            if (LogToFile && ResolveFileSystemPath(FilePath ?? "communication-trace.log", nameof(FilePath), out path) is ErrorRecord notFileSystem)
            {
                ThrowTerminatingError(notFileSystem);
            }
            if (!ShouldProcess(path != null ? $"{Level} trace to {path}" : $"{Level} trace in memory", "Enable")) return;
            try
            {
                Tracing.Enable(Level, path, (long)MaxFileSizeMB * 1024 * 1024, (long)SlowThreshold.TotalMilliseconds, BufferSize);
                WriteObject(new TracingStatus { Enabled = true, Level = Level, LogToFile = LogToFile, FilePath = path });
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, path ?? (object)Level);
            }
        }
    }

    /// <summary>Disable-MessageTracing: flushes and closes the trace, optionally archiving it compressed.</summary>
    [Cmdlet(VerbsLifecycle.Disable, "MessageTracing", SupportsShouldProcess = true)]
    [OutputType(typeof(TraceSummary))]
    public sealed class DisableMessageTracingCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Compress the trace file and its rotated parts into one .log.gz in -ArchivePath.</summary>
        [Parameter]
        public SwitchParameter ArchiveLogs { get; set; }

        /// <summary>The archive folder (created if missing; relative paths resolve against the current location); default: the trace file's folder.</summary>
        [Parameter]
        [ValidateNotBlank]
        public string? ArchivePath { get; set; }

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            if (ArchivePath != null && !ArchiveLogs)
            {
                ThrowTerminatingError(NewError("ArchivePathWithoutArchiveLogs", ErrorCategory.InvalidArgument, ArchivePath,
                    $"-ArchivePath '{ArchivePath}' was given without -ArchiveLogs.", "Add -ArchiveLogs to archive the trace there."));
            }
            string? folder = null;
            if (ArchivePath != null && ResolveFileSystemPath(ArchivePath, nameof(ArchivePath), out folder) is ErrorRecord notFileSystem)
            {
                ThrowTerminatingError(notFileSystem);
            }
            if (!ShouldProcess("message tracing", ArchiveLogs ? "Disable and archive" : "Disable")) return;
            try
            {
                WriteObject(Tracing.Disable(ArchiveLogs, folder));
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, ArchivePath);
            }
        }
    }

    /// <summary>Get-MessageTrace: the trace records kept in memory, oldest first.</summary>
    [Cmdlet(VerbsCommon.Get, "MessageTrace")]
    [OutputType(typeof(TraceRecord))]
    public sealed class GetMessageTraceCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Only the newest N records (default: all kept).</summary>
        [Parameter(Position = 0)]
        [ValidateRange(1, int.MaxValue)]
        public int Last { get; set; }

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            try
            {
                foreach (TraceRecord r in Tracing.Read(Last)) WriteObject(r);
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, null);
            }
        }
    }
}
