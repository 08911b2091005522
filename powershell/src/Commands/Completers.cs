using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;
using ModuleCommunication.Core;

namespace ModuleCommunication.Commands
{
    /// <summary>Tab completion of channel names.</summary>
    public sealed class ChannelNameCompleter : IArgumentCompleter
    {
        /// <inheritdoc/>
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
            string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var results = new List<CompletionResult>();
            try
            {
                string prefix = (wordToComplete ?? string.Empty).Trim('\'', '"');
                foreach (ChannelInfo c in Bus.ListChannels(WildcardPattern.Escape(prefix) + "*"))
                {
                    string text = c.Name.IndexOfAny(new[] { ' ', '\'', '"', '$', '`' }) >= 0 ? "'" + c.Name.Replace("'", "''") + "'" : c.Name;
                    results.Add(new CompletionResult(text, c.Name, CompletionResultType.ParameterValue, c.Description.Length > 0 ? c.Description : c.Name));
                }
            }
            catch
            {
                // Completion never throws.
            }
            return results;
        }
    }

    /// <summary>Tab completion of subscription ids.</summary>
    public sealed class SubscriptionIdCompleter : IArgumentCompleter
    {
        /// <inheritdoc/>
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
            string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var results = new List<CompletionResult>();
            try
            {
                string prefix = (wordToComplete ?? string.Empty).Trim('\'', '"');
                foreach (SubscriptionInfo s in Subscriptions.List(null))
                {
                    string id = s.SubscriptionId.ToString();
                    if (!id.StartsWith(prefix, System.StringComparison.OrdinalIgnoreCase)) continue;
                    results.Add(new CompletionResult(id, id, CompletionResultType.ParameterValue, $"{s.Channel}/{s.MessageType} ({s.Mode})"));
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
