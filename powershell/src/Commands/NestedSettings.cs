using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Management.Automation;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// The spec's nested configuration sections (RetryPolicy, CircuitBreaker, Security) as
    /// hashtables, turned into the native configuration's objects: spec names to camelCase
    /// keys, seconds to milliseconds where the spec counts seconds (RecoveryTimeout,
    /// SamplingDuration), each value checked for its type here and for its range by the core.
    /// </summary>
    internal static class NestedSettings
    {
        private enum Kind { Integer, Number, Boolean, Seconds, StringList }

        private static readonly Dictionary<string, (string Native, Dictionary<string, (string Key, Kind Kind)> Keys)> s_sections =
            new(StringComparer.OrdinalIgnoreCase)
            {
                ["RetryPolicy"] = ("retryPolicy", new(StringComparer.OrdinalIgnoreCase)
                {
                    ["MaxRetries"] = ("maxRetries", Kind.Integer),
                    ["RetryDelay"] = ("retryDelayMs", Kind.Integer),
                    ["BackoffMultiplier"] = ("backoffMultiplier", Kind.Number),
                    ["MaxDelay"] = ("maxDelayMs", Kind.Integer),
                    ["Jitter"] = ("jitter", Kind.Boolean),
                }),
                ["CircuitBreaker"] = ("circuitBreaker", new(StringComparer.OrdinalIgnoreCase)
                {
                    ["FailureThreshold"] = ("failureThreshold", Kind.Integer),
                    ["FailureRatio"] = ("failureRatio", Kind.Number),
                    ["SamplingDuration"] = ("samplingDurationMs", Kind.Seconds),
                    ["RecoveryTimeout"] = ("recoveryTimeoutMs", Kind.Seconds),
                    ["HalfOpenProbes"] = ("halfOpenProbes", Kind.Integer),
                }),
                ["Security"] = ("security", new(StringComparer.OrdinalIgnoreCase)
                {
                    ["Enabled"] = ("enabled", Kind.Boolean),
                    ["RequireAuthentication"] = ("requireAuthentication", Kind.Boolean),
                    ["DefaultTokenExpiration"] = ("defaultTokenExpirationMinutes", Kind.Integer),
                    ["AllowedModules"] = ("allowedModules", Kind.StringList),
                }),
            };

        /// <summary>The section names, for error messages.</summary>
        public static IEnumerable<string> Sections => s_sections.Keys;

        public static bool IsSection(string key) => s_sections.ContainsKey(key);

        /// <summary>
        /// Converts a section's hashtable; returns the native key and object, or null and a
        /// problem naming the bad key or value and what to give instead.
        /// </summary>
        public static (string Native, Dictionary<string, object>? Value, string? Problem) Convert(string section, object? value)
        {
            (string native, Dictionary<string, (string Key, Kind Kind)> keys) = s_sections[section];
            object? raw = value is PSObject p ? p.BaseObject : value;
            if (raw is not IDictionary table)
            {
                return (native, null, $"{section} must be a hashtable like @{{ {string.Join("; ", keys.Keys.Take(2).Select(k => k + " = …"))} }}; got '{raw}'.");
            }
            var result = new Dictionary<string, object>();
            foreach (DictionaryEntry entry in table)
            {
                string key = entry.Key?.ToString() ?? string.Empty;
                if (!keys.TryGetValue(key, out var spec))
                {
                    return (native, null, $"'{key}' is not a {section} setting. The {section} settings are {string.Join(", ", keys.Keys)}.");
                }
                object? v = entry.Value is PSObject pv ? pv.BaseObject : entry.Value;
                object? converted = ConvertValue(v, spec.Kind);
                if (converted == null)
                {
                    string want = spec.Kind switch
                    {
                        Kind.Integer => "a whole number",
                        Kind.Number => "a number",
                        Kind.Boolean => "$true or $false",
                        Kind.Seconds => "a number of seconds or a TimeSpan",
                        _ => "an array of module names, or @() for all",
                    };
                    return (native, null, $"{section}.{key} must be {want}; got '{v}'.");
                }
                result[spec.Key] = converted;
            }
            return (native, result, null);
        }

        private static object? ConvertValue(object? v, Kind kind)
        {
            try
            {
                switch (kind)
                {
                    case Kind.Boolean:
                        return v is bool b ? b : v is SwitchParameter s ? s.IsPresent : null;
                    case Kind.Integer:
                        if (v is double d && d != Math.Floor(d)) return null;
                        return v is IConvertible && v is not string && v is not bool ? System.Convert.ToInt64(v, CultureInfo.InvariantCulture) : null;
                    case Kind.Number:
                        return v is IConvertible && v is not string && v is not bool ? System.Convert.ToDouble(v, CultureInfo.InvariantCulture) : null;
                    case Kind.Seconds:
                        if (v is TimeSpan t) return (long)t.TotalMilliseconds;
                        return v is IConvertible && v is not string && v is not bool
                            ? (long)Math.Round(System.Convert.ToDouble(v, CultureInfo.InvariantCulture) * 1000.0)
                            : null;
                    default:
                        if (v == null) return Array.Empty<string>();
                        if (v is string one) return new[] { one };
                        if (v is IEnumerable list)
                        {
                            var names = new List<string>();
                            foreach (object? item in list)
                            {
                                object? x = item is PSObject pi ? pi.BaseObject : item;
                                if (x is not string name) return null;
                                names.Add(name);
                            }
                            return names.ToArray();
                        }
                        return null;
                }
            }
            catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
            {
                return null;
            }
        }
    }
}
