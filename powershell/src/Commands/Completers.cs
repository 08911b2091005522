using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Reflection;
using ModuleCommunication.Core;

namespace ModuleCommunication.Commands
{
    /// <summary>What every completer does with the word typed and the names it offers.</summary>
    internal static class CompletionText
    {
        /// <summary>
        /// The word typed, without its quotes; for a parameter that takes wildcards, also without
        /// the escapes its completions have (so 'a`[ finds a[b again).
        /// </summary>
        public static string Prefix(string? word, bool wildcards = false)
        {
            string prefix = (word ?? string.Empty).Trim('\'', '"');
            return wildcards ? WildcardPattern.Unescape(prefix) : prefix;
        }

        /// <summary>
        /// The command-line text that gives exactly <paramref name="name"/>: for a parameter that
        /// takes wildcards, escaped (a[1] as a`[1`]) so that it matches only itself, and quoted
        /// unless it is plainly safe.
        /// </summary>
        public static string Text(string name, bool wildcards) => Quote(wildcards ? WildcardPattern.Escape(name) : name);

        /// <summary>
        /// <paramref name="name"/> as one argument: as it is only when it is plainly safe (a letter
        /// or _ first, then letters, digits and _ . - :), else in single quotes. A list of the
        /// characters that need quotes is never complete (, &amp; | # @ { } ; &lt; &gt;, a leading
        /// -, text that reads as a number such as 1.50 or 1kb), so the safe ones are listed instead.
        /// </summary>
        public static string Quote(string name)
        {
            bool safe = name.Length > 0 && (char.IsLetter(name[0]) || name[0] == '_');
            for (int i = 0; safe && i < name.Length; i++)
            {
                char c = name[i];
                safe = char.IsLetterOrDigit(c) || c is '_' or '.' or '-' or ':';
            }
            return safe ? name : "'" + name.Replace("'", "''") + "'";
        }

        /// <summary>The value typed for the first of <paramref name="names"/> that is bound, if any.</summary>
        public static string? Bound(IDictionary fakeBoundParameters, params string[] names)
        {
            foreach (string n in names)
            {
                if (fakeBoundParameters.Contains(n)) return fakeBoundParameters[n]?.ToString();
            }
            return null;
        }

        /// <summary>
        /// Whether the parameter takes -like patterns: this module's cmdlets mark those with
        /// [SupportsWildcards] (shown by Get-Help as "Accept wildcard characters"). False for a
        /// command that is not one of them.
        /// </summary>
        public static bool TakesWildcards(string commandName, string parameterName)
        {
            // PowerShell passes the command as typed: it may be module-qualified.
            string name = commandName.Substring(commandName.LastIndexOf('\\') + 1);
            if (!s_cmdlets.Value.TryGetValue(name, out Type? type)) return false;
            foreach (PropertyInfo p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                bool named = string.Equals(p.Name, parameterName, StringComparison.OrdinalIgnoreCase)
                    || (p.GetCustomAttribute<AliasAttribute>()?.AliasNames.Contains(parameterName, StringComparer.OrdinalIgnoreCase) ?? false);
                if (named) return p.IsDefined(typeof(SupportsWildcardsAttribute));
            }
            return false;
        }

        // This module's cmdlets by name and by alias.
        private static readonly Lazy<Dictionary<string, Type>> s_cmdlets = new(() =>
        {
            var cmdlets = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase);
            foreach (Type t in typeof(CompletionText).Assembly.GetTypes())
            {
                if (t.GetCustomAttribute<CmdletAttribute>() is not CmdletAttribute c) continue;
                cmdlets[c.VerbName + "-" + c.NounName] = t;
                foreach (string alias in t.GetCustomAttribute<AliasAttribute>()?.AliasNames ?? (IList<string>)Array.Empty<string>()) cmdlets[alias] = t;
            }
            return cmdlets;
        });
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
                bool wildcards = CompletionText.TakesWildcards(commandName, parameterName);
                string prefix = CompletionText.Prefix(wordToComplete, wildcards);
                foreach (ChannelInfo c in Bus.ListChannels(WildcardPattern.Escape(prefix) + "*"))
                {
                    string text = CompletionText.Text(c.Name, wildcards);
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
