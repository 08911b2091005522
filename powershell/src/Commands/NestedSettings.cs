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
    /// SamplingDuration), each value checked for its type and range.
    /// </summary>
    internal static class NestedSettings
    {
        internal enum Kind { Integer, Number, Boolean, Seconds, StringList }

        /// <summary>
        /// One key of a section: its native key, kind and range (seconds for Seconds). The
        /// ranges are the core's, checked here too so that errors name the spec's keys and
        /// units; Pester checks both ends of each against the core.
        /// </summary>
        private sealed record Setting(string Native, Kind Kind, double Min = 0, double Max = 0, bool AboveMin = false);

        private static readonly Dictionary<string, (string Native, Dictionary<string, Setting> Keys)> s_sections =
            new(StringComparer.OrdinalIgnoreCase)
            {
                ["RetryPolicy"] = ("retryPolicy", new(StringComparer.OrdinalIgnoreCase)
                {
                    ["MaxRetries"] = new("maxRetries", Kind.Integer, 0, 100),
                    ["RetryDelay"] = new("retryDelayMs", Kind.Integer, 0, 3_600_000),
                    ["BackoffMultiplier"] = new("backoffMultiplier", Kind.Number, 1, 100),
                    ["MaxDelay"] = new("maxDelayMs", Kind.Integer, 0, 3_600_000),
                    ["Jitter"] = new("jitter", Kind.Boolean),
                }),
                ["CircuitBreaker"] = ("circuitBreaker", new(StringComparer.OrdinalIgnoreCase)
                {
                    ["FailureThreshold"] = new("failureThreshold", Kind.Integer, 1, 1_000_000),
                    ["FailureRatio"] = new("failureRatio", Kind.Number, 0, 1, AboveMin: true),
                    ["SamplingDuration"] = new("samplingDurationMs", Kind.Seconds, 0.1, 86_400),
                    ["RecoveryTimeout"] = new("recoveryTimeoutMs", Kind.Seconds, 0.001, 86_400),
                    ["HalfOpenProbes"] = new("halfOpenProbes", Kind.Integer, 1, 1_000),
                }),
                ["Security"] = ("security", new(StringComparer.OrdinalIgnoreCase)
                {
                    ["Enabled"] = new("enabled", Kind.Boolean),
                    ["RequireAuthentication"] = new("requireAuthentication", Kind.Boolean),
                    ["DefaultTokenExpiration"] = new("defaultTokenExpirationMinutes", Kind.Integer, 1, 525_600),
                    ["AllowedModules"] = new("allowedModules", Kind.StringList),
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
            (string native, Dictionary<string, Setting> keys) = s_sections[section];
            object? raw = value is PSObject p ? p.BaseObject : value;
            if (raw is not IDictionary table)
            {
                return (native, null, $"{section} must be a hashtable like @{{ {string.Join("; ", keys.Keys.Take(2).Select(k => k + " = …"))} }}; got '{raw}'.");
            }
            var result = new Dictionary<string, object>();
            foreach (DictionaryEntry entry in table)
            {
                string key = entry.Key?.ToString() ?? string.Empty;
                if (!keys.TryGetValue(key, out Setting? spec))
                {
                    return (native, null, $"'{key}' is not a {section} setting. The {section} settings are {string.Join(", ", keys.Keys)}.");
                }
                if (result.ContainsKey(spec.Native))
                {
                    // Only a case-sensitive hashtable can hold both; one value would be dropped.
                    return (native, null, $"{section}.{key} is given twice (setting names compare case-insensitively); give it once.");
                }
                object? v = entry.Value is PSObject pv ? pv.BaseObject : entry.Value;
                object? converted = ConvertValue(v, spec.Kind);
                if (converted == null || !InRange(converted, spec))
                {
                    return (native, null, $"{section}.{key} must be {Wanted(spec)}; got '{v}'.");
                }
                result[spec.Native] = converted;
            }
            return (native, result, null);
        }

        private static bool InRange(object converted, Setting spec)
        {
            if (spec.Kind is Kind.Boolean or Kind.StringList) return true;
            double x = System.Convert.ToDouble(converted, CultureInfo.InvariantCulture);
            if (spec.Kind == Kind.Seconds) x /= 1000.0;
            return (spec.AboveMin ? x > spec.Min : x >= spec.Min) && x <= spec.Max;
        }

        private static string Wanted(Setting spec)
        {
            string min = spec.Min.ToString(CultureInfo.InvariantCulture), max = spec.Max.ToString(CultureInfo.InvariantCulture);
            return spec.Kind switch
            {
                Kind.Integer => $"a whole number from {min} to {max}",
                Kind.Number => spec.AboveMin ? $"a number above {min} and at most {max}" : $"a number from {min} to {max}",
                Kind.Boolean => "$true or $false",
                Kind.Seconds => $"a number of seconds from {min} to {max}, or a TimeSpan",
                _ => "an array of module names, or @() for all",
            };
        }

        /// <summary>A number type; not text, a bool, a char or an enum, which .NET would also convert.</summary>
        private static bool IsNumber(object? v) => v is sbyte or byte or short or ushort or int or uint or long or ulong
            or float or double or decimal;

        internal static object? ConvertValue(object? v, Kind kind)
        {
            try
            {
                switch (kind)
                {
                    case Kind.Boolean:
                        return v is bool b ? b : v is SwitchParameter s ? s.IsPresent : null;
                    case Kind.Integer:
                        // Whole numbers only: a fraction is refused, not rounded.
                        // Checked in the value's own type: converting a double to decimal first
                        // would round 2.0000000000000004 to 2.
                        switch (v)
                        {
                            case double or float:
                                double d = System.Convert.ToDouble(v, CultureInfo.InvariantCulture);
                                return double.IsFinite(d) && d == Math.Truncate(d) && Math.Abs(d) < 9e18 ? (long)d : null;
                            case decimal m:
                                return m == decimal.Truncate(m) ? System.Convert.ToInt64(m) : null;
                            default:
                                return IsNumber(v) ? System.Convert.ToInt64(v, CultureInfo.InvariantCulture) : null;
                        }
                    case Kind.Number:
                        return IsNumber(v) ? System.Convert.ToDouble(v, CultureInfo.InvariantCulture) : null;
                    case Kind.Seconds:
                        if (v is TimeSpan t) return (long)t.TotalMilliseconds;
                        return IsNumber(v) ? (long)Math.Round(System.Convert.ToDouble(v, CultureInfo.InvariantCulture) * 1000.0) : null;
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
