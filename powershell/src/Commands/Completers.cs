using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;
using ModuleCommunication.Core;

namespace ModuleCommunication.Commands
{
    /// <summary>What every completer does with the word typed and the names it offers.</summary>
    internal static class CompletionText
    {
        public static string Prefix(string? word) => (word ?? string.Empty).Trim('\'', '"');

        private static readonly char[] s_needQuotes = { ' ', '\'', '"', '$', '`', ';', '(', ')', '*', '?', '[' };

        public static string Quote(string name)
            => name.IndexOfAny(s_needQuotes) >= 0 ? "'" + name.Replace("'", "''") + "'" : name;

        /// <summary>The value typed for the first of <paramref name="names"/> that is bound, if any.</summary>
        public static string? Bound(IDictionary fakeBoundParameters, params string[] names)
        {
            foreach (string n in names)
            {
                if (fakeBoundParameters.Contains(n)) return fakeBoundParameters[n]?.ToString();
            }
            return null;
        }
    }

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
                string prefix = CompletionText.Prefix(wordToComplete);
                foreach (ChannelInfo c in Bus.ListChannels(WildcardPattern.Escape(prefix) + "*"))
                {
                    string text = CompletionText.Quote(c.Name);
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
                string prefix = CompletionText.Prefix(wordToComplete);
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
