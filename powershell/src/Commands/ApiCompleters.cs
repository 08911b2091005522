using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;
using ModuleCommunication.Core;

namespace ModuleCommunication.Commands
{
    /// <summary>Tab completion of the module names of registered APIs.</summary>
    public sealed class ApiModuleNameCompleter : IArgumentCompleter
    {
        /// <inheritdoc/>
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
            string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var results = new List<CompletionResult>();
            try
            {
                var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                bool wildcards = CompletionText.TakesWildcards(commandName, parameterName);
                foreach (ApiInfo a in Registry.ListApis(WildcardPattern.Escape(CompletionText.Prefix(wordToComplete, wildcards)) + "*", null))
                {
                    if (seen.Add(a.ModuleName))
                    {
                        results.Add(new CompletionResult(CompletionText.Text(a.ModuleName, wildcards), a.ModuleName, CompletionResultType.ParameterValue, a.ModuleName));
                    }
                }
            }
            catch
            {
                // Completion never throws.
            }
            return results;
        }
    }

    /// <summary>Tab completion of API (operation) names, narrowed by the module already typed.</summary>
    public sealed class ApiNameCompleter : IArgumentCompleter
    {
        /// <inheritdoc/>
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
            string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var results = new List<CompletionResult>();
            try
            {
                // The module typed narrows the list: as a pattern only where the command takes one.
                string? module = CompletionText.Bound(fakeBoundParameters, "ModuleName", "Module");
                if (module != null && !CompletionText.TakesWildcards(commandName, "ModuleName")) module = WildcardPattern.Escape(module);
                bool wildcards = CompletionText.TakesWildcards(commandName, parameterName);
                foreach (ApiInfo a in Registry.ListApis(module, WildcardPattern.Escape(CompletionText.Prefix(wordToComplete, wildcards)) + "*"))
                {
                    results.Add(new CompletionResult(CompletionText.Text(a.APIName, wildcards), a.APIName, CompletionResultType.ParameterValue,
                        string.IsNullOrEmpty(a.Description) ? a.APIKey : $"{a.APIKey}: {a.Description}"));
                }
            }
            catch
            {
                // Completion never throws.
            }
            return results;
        }
    }

    /// <summary>Tab completion of middleware names.</summary>
    public sealed class MiddlewareNameCompleter : IArgumentCompleter
    {
        /// <inheritdoc/>
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
            string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var results = new List<CompletionResult>();
            try
            {
                bool wildcards = CompletionText.TakesWildcards(commandName, parameterName);
                foreach (MiddlewareInfo m in Registry.ListMiddleware(WildcardPattern.Escape(CompletionText.Prefix(wordToComplete, wildcards)) + "*"))
                {
                    results.Add(new CompletionResult(CompletionText.Text(m.Name, wildcards), m.Name, CompletionResultType.ParameterValue,
                        $"{m.Name} (priority {m.Priority}, {m.Scope})"));
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
