using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;
using ModuleCommunication.Core;

namespace ModuleCommunication.Commands
{
    /// <summary>Shared shape of the completers below: filter by prefix, escape and quote when needed, never throw.</summary>
    internal static class Completion
    {
        public static IEnumerable<CompletionResult> From(string commandName, string parameterName, string? wordToComplete,
            Func<IEnumerable<(string Text, string Tip)>> items)
        {
            var results = new List<CompletionResult>();
            try
            {
                bool wildcards = CompletionText.TakesWildcards(commandName, parameterName);
                string prefix = CompletionText.Prefix(wordToComplete, wildcards);
                var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                foreach ((string text, string tip) in items())
                {
                    if (!text.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || !seen.Add(text)) continue;
                    results.Add(new CompletionResult(CompletionText.Text(text, wildcards), text, CompletionResultType.ParameterValue, tip));
                }
            }
            catch
            {
                // Completion never throws.
            }
            return results;
        }
    }

    /// <summary>Tab completion of circuit breaker operation names.</summary>
    public sealed class BreakerNameCompleter : IArgumentCompleter
    {
        /// <inheritdoc/>
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
            string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
            => Completion.From(commandName, parameterName, wordToComplete, () => Breakers.List(null).ConvertAll(b => (b.OperationName, $"{b.OperationName} ({b.State})")));
    }

    /// <summary>Tab completion of token scopes.</summary>
    public sealed class ScopeCompleter : IArgumentCompleter
    {
        private static readonly (string, string)[] s_scopes =
        {
            ("api:call", "Invoke every API"),
            ("events:publish", "Publish every event"),
            ("events:subscribe", "Subscribe to every event"),
            ("messages:publish", "Publish on every channel"),
            ("messages:subscribe", "Subscribe to every channel"),
        };

        /// <inheritdoc/>
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
            string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
            => Completion.From(commandName, parameterName, wordToComplete, () =>
            {
                var items = new List<(string, string)>(s_scopes);
                foreach (ApiInfo api in Registry.ListApis(null, null))
                {
                    // A scope's target is a pattern: a name with * ? [ ] in it is escaped to mean only itself.
                    items.Add(($"api:call:{WildcardPattern.Escape(api.APIKey)}", $"Invoke {api.APIKey} only"));
                    items.Add(($"api:call:{WildcardPattern.Escape(api.ModuleName)}.*", $"Invoke every API of {api.ModuleName}"));
                }
                return items;
            });
    }

    /// <summary>Tab completion of the modules that hold tokens.</summary>
    public sealed class TokenModuleCompleter : IArgumentCompleter
    {
        /// <inheritdoc/>
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
            string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
            => Completion.From(commandName, parameterName, wordToComplete, () => Tokens.List(null).ConvertAll(t => (t.ModuleName, t.ModuleName)));
    }

    /// <summary>Tab completion of token ids.</summary>
    public sealed class TokenIdCompleter : IArgumentCompleter
    {
        /// <inheritdoc/>
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
            string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
            => Completion.From(commandName, parameterName, wordToComplete, () => Tokens.List(null).ConvertAll(t => (t.TokenId.ToString(), $"{t.ModuleName}: {string.Join(", ", t.Scopes)}")));
    }
}
