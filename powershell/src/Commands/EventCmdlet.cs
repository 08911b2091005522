using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Threading;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// Base of the event cmdlets: reports, once per process, what happened to the history file
    /// named by $env:MODULECOMMUNICATION_EVENT_HISTORY when the hub was made.
    /// </summary>
    public abstract class EventCmdlet : ModuleCommunicationCmdlet
    {
        private static int s_startupReported;

        /// <inheritdoc/>
        protected override void BeginProcessing() => ReportHistoryStartup(this);

        /// <summary>
        /// Once per process, reports what happened to the history file named by
        /// $env:MODULECOMMUNICATION_EVENT_HISTORY; shared by every cmdlet that touches events.
        /// </summary>
        internal static void ReportHistoryStartup(Cmdlet cmdlet)
        {
            try
            {
                _ = ModuleHub.Handle; // makes the hub, which applies the environment variable
                if (Interlocked.Exchange(ref s_startupReported, 1) != 0) return;
                if (ModuleHub.HistoryStartupProblem is ModuleCommunicationException problem)
                {
                    ErrorRecord record = ToErrorRecord(problem, ModuleHub.HistoryStartupPath);
                    record.ErrorDetails = new ErrorDetails(
                        $"The event history file from ${ModuleHub.EventHistoryVariable} was not loaded, so events are kept in memory only: {problem.Message}")
                    {
                        RecommendedAction = "Repair or move the file, then run Set-CommunicationConfiguration -EventHistoryPath with it (or another file).",
                    };
                    cmdlet.WriteError(record);
                    return;
                }
                if (ModuleHub.HistoryStartupPath != null)
                {
                    foreach (string warning in EventBus.Info().LoadWarnings) cmdlet.WriteWarning(warning);
                }
            }
            catch (ModuleCommunicationException e)
            {
                cmdlet.WriteError(ToErrorRecord(e, null));
            }
        }

        /// <summary>Json lines unless the file name ends with .csv.</summary>
        protected static EventHistoryFormat FormatOf(string path)
            => path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? EventHistoryFormat.Csv : EventHistoryFormat.JsonLines;
    }

    /// <summary>Tab completion of event names, from the event history.</summary>
    public sealed class EventNameCompleter : IArgumentCompleter
    {
        /// <inheritdoc/>
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
            string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
            => HistoryCompletion.Complete(commandName, parameterName, wordToComplete, EventBus.Names);
    }

    /// <summary>Tab completion of event channels, from the event history.</summary>
    public sealed class EventChannelCompleter : IArgumentCompleter
    {
        /// <inheritdoc/>
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
            string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
            => HistoryCompletion.Complete(commandName, parameterName, wordToComplete, EventBus.Channels);
    }

    internal static class HistoryCompletion
    {
        /// <summary>The values <paramref name="find"/> gives for "prefix*", escaped and quoted where needed.</summary>
        public static IEnumerable<CompletionResult> Complete(string commandName, string parameterName, string wordToComplete,
            Func<string, IEnumerable<string>> find)
        {
            var results = new List<CompletionResult>();
            try
            {
                bool wildcards = CompletionText.TakesWildcards(commandName, parameterName);
                string prefix = CompletionText.Prefix(wordToComplete, wildcards);
                foreach (string value in find(WildcardPattern.Escape(prefix) + "*"))
                {
                    results.Add(new CompletionResult(CompletionText.Text(value, wildcards), value, CompletionResultType.ParameterValue, value));
                }
            }
            catch
            {
                // Completion never throws.
            }
            return results;
        }
    }
}
