using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using ModuleCommunication.Native;
using ModuleCommunication.Serialization;

namespace ModuleCommunication.Core
{
    /// <summary>Circuit breakers and the retry policy of the native core, in .NET terms.</summary>
    internal static unsafe class Breakers
    {
        private static HubHandle Hub => ModuleHub.Handle;

        public static List<CircuitBreakerInfo> List(string? pattern)
        {
            Status.Check(NativeMethods.mc_breaker_status(Hub, pattern, out byte* json));
            using JsonDocument doc = CoreJson.Parse(NativeString.TakeBytes(json, Bus.StrLen(json)));
            return doc.RootElement.EnumerateArray().Select(ToInfo).ToList();
        }

        public static long Reset(string? pattern)
        {
            Status.Check(NativeMethods.mc_breaker_reset(Hub, pattern, out nuint count));
            return (long)count;
        }

        public static void Isolate(string operation) => Status.Check(NativeMethods.mc_breaker_isolate(Hub, operation));

        /// <summary>Options of one operation's breaker (camelCase keys over the defaults), or null to return it to the defaults.</summary>
        public static void Configure(string operation, IReadOnlyDictionary<string, object>? options)
        {
            if (options == null)
            {
                Status.Check(NativeMethods.mc_breaker_configure(Hub, operation, null, 0));
                return;
            }
            byte[] json = JsonBuffer.Build(w => Settings.WriteObject(w, options));
            fixed (byte* p = json)
            {
                Status.Check(NativeMethods.mc_breaker_configure(Hub, operation, p, (nuint)json.Length));
            }
        }

        internal static CircuitBreakerOptions ToOptions(JsonElement o) => new()
        {
            FailureThreshold = o.GetProperty("failureThreshold").GetInt32(),
            FailureRatio = o.GetProperty("failureRatio").GetDouble(),
            SamplingDuration = TimeSpan.FromMilliseconds(o.GetProperty("samplingDurationMs").GetInt64()),
            RecoveryTimeout = TimeSpan.FromMilliseconds(o.GetProperty("recoveryTimeoutMs").GetInt64()),
            HalfOpenProbes = o.GetProperty("halfOpenProbes").GetInt32(),
        };

        internal static RetryPolicy ToRetryPolicy(JsonElement r) => new()
        {
            MaxRetries = r.GetProperty("maxRetries").GetInt32(),
            RetryDelay = r.GetProperty("retryDelayMs").GetInt64(),
            BackoffMultiplier = r.GetProperty("backoffMultiplier").GetDouble(),
            MaxDelay = r.GetProperty("maxDelayMs").GetInt64(),
            Jitter = r.GetProperty("jitter").GetBoolean(),
        };

        private static CircuitBreakerInfo ToInfo(JsonElement b)
        {
            JsonElement until = b.GetProperty("msUntilHalfOpen");
            return new CircuitBreakerInfo
            {
                OperationName = b.GetProperty("operation").GetString()!,
                State = Enum.Parse<CircuitState>(b.GetProperty("state").GetString()!),
                SuccessRate = b.GetProperty("successRate").GetDouble(),
                FailureRatio = b.GetProperty("failureRatio").GetDouble(),
                Throughput = Bus.Long(b, "throughput"),
                FailuresInWindow = Bus.Long(b, "failuresInWindow"),
                TotalCalls = Bus.Long(b, "totalCalls"),
                TotalFailures = Bus.Long(b, "totalFailures"),
                Rejected = Bus.Long(b, "rejected"),
                TimesOpened = Bus.Long(b, "timesOpened"),
                OpenedAt = Bus.Time(b.GetProperty("openedAt")),
                HalfOpenAt = Bus.Time(b.GetProperty("halfOpenAt")),
                TimeUntilHalfOpen = until.ValueKind == JsonValueKind.Number ? TimeSpan.FromMilliseconds(until.GetInt64()) : null,
                LastFailure = Bus.Time(b.GetProperty("lastFailure")),
                LastError = Bus.OptionalString(b, "lastError") is string error ? Status.ForPowerShell(error) : null,
                LastStateChange = Bus.Time(b.GetProperty("lastStateChange")) ?? DateTime.MinValue,
                CustomOptions = b.GetProperty("customOptions").GetBoolean(),
                Options = ToOptions(b.GetProperty("options")),
            };
        }
    }

    /// <summary>Security settings and authentication tokens of the native core.</summary>
    internal static unsafe class Tokens
    {
        private static HubHandle Hub => ModuleHub.Handle;

        /// <summary>Turns security on after applying the given settings (camelCase keys).</summary>
        public static void Enable(IReadOnlyDictionary<string, object> settings)
        {
            byte[] json = JsonBuffer.Build(w => Settings.WriteObject(w, settings));
            fixed (byte* p = json)
            {
                Status.Check(NativeMethods.mc_security_enable(Hub, p, (nuint)json.Length));
            }
        }

        public static void Disable() => Status.Check(NativeMethods.mc_security_disable(Hub));

        public static CommunicationSecurity Get()
        {
            Status.Check(NativeMethods.mc_security_get(Hub, out byte* json));
            using JsonDocument doc = CoreJson.Parse(NativeString.TakeBytes(json, Bus.StrLen(json)));
            JsonElement s = doc.RootElement;
            return new CommunicationSecurity
            {
                Enabled = s.GetProperty("enabled").GetBoolean(),
                RequireAuthentication = s.GetProperty("requireAuthentication").GetBoolean(),
                DefaultTokenExpiration = Bus.Long(s, "defaultTokenExpirationMinutes"),
                AllowedModules = s.GetProperty("allowedModules").EnumerateArray().Select(m => m.GetString()!).ToArray(),
                Allowed = Bus.Long(s, "allowed"),
                AuthenticationFailures = Bus.Long(s, "authenticationFailures"),
                AuthorizationFailures = Bus.Long(s, "authorizationFailures"),
                ActiveTokens = Bus.Long(s, "activeTokens"),
            };
        }

        internal static SecuritySettings ToSettings(JsonElement s) => new()
        {
            Enabled = s.GetProperty("enabled").GetBoolean(),
            RequireAuthentication = s.GetProperty("requireAuthentication").GetBoolean(),
            DefaultTokenExpiration = Bus.Long(s, "defaultTokenExpirationMinutes"),
            AllowedModules = s.GetProperty("allowedModules").EnumerateArray().Select(m => m.GetString()!).ToArray(),
        };

        public static AuthenticationToken Create(string module, string? user, string[] scopes, long? expirationMinutes)
        {
            byte[] request = JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                w.WriteString("module", module);
                if (user != null) w.WriteString("user", user);
                w.WriteStartArray("scopes");
                foreach (string s in scopes) w.WriteStringValue(s);
                w.WriteEndArray();
                if (expirationMinutes.HasValue) w.WriteNumber("expirationMinutes", expirationMinutes.Value);
                w.WriteEndObject();
            });
            byte* json;
            fixed (byte* p = request)
            {
                Status.Check(NativeMethods.mc_token_create(Hub, p, (nuint)request.Length, out json));
            }
            byte[] bytes = NativeString.TakeBytes(json, Bus.StrLen(json));
            try
            {
                using JsonDocument doc = CoreJson.Parse(bytes);
                JsonElement t = doc.RootElement;
                AuthenticationTokenInfo info = ToInfo(t);
                return new AuthenticationToken
                {
                    Token = t.GetProperty("token").GetString()!,
                    TokenId = info.TokenId,
                    ModuleName = info.ModuleName,
                    User = info.User,
                    Scopes = info.Scopes,
                    CreatedAt = info.CreatedAt,
                    ExpiresAt = info.ExpiresAt,
                };
            }
            finally
            {
                Array.Clear(bytes);
            }
        }

        public static List<AuthenticationTokenInfo> List(string? modulePattern)
        {
            Status.Check(NativeMethods.mc_token_list(Hub, modulePattern, out byte* json));
            using JsonDocument doc = CoreJson.Parse(NativeString.TakeBytes(json, Bus.StrLen(json)));
            return doc.RootElement.EnumerateArray().Select(ToInfo).ToList();
        }

        public static long RevokeModule(string modulePattern)
        {
            Status.Check(NativeMethods.mc_token_revoke(Hub, modulePattern, null, out nuint count));
            return (long)count;
        }

        public static void RevokeId(Guid tokenId)
            => Status.Check(NativeMethods.mc_token_revoke(Hub, null, tokenId.ToString(), out _));

        private static AuthenticationTokenInfo ToInfo(JsonElement t) => new()
        {
            TokenId = Guid.Parse(t.GetProperty("tokenId").GetString()!),
            ModuleName = t.GetProperty("module").GetString()!,
            User = Bus.OptionalString(t, "user"),
            Scopes = t.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()!).ToArray(),
            CreatedAt = Bus.Time(t.GetProperty("createdAt")) ?? DateTime.MinValue,
            ExpiresAt = Bus.Time(t.GetProperty("expiresAt")) ?? DateTime.MinValue,
            Uses = Bus.Long(t, "uses"),
            LastUsed = Bus.Time(t.GetProperty("lastUsed")),
        };
    }

    /// <summary>Writes settings dictionaries (values: string, bool, number, string[], nested dictionaries) as JSON.</summary>
    internal static class Settings
    {
        public static void WriteObject(Utf8JsonWriter w, IReadOnlyDictionary<string, object> settings)
        {
            w.WriteStartObject();
            foreach (KeyValuePair<string, object> kv in settings)
            {
                w.WritePropertyName(kv.Key);
                WriteValue(w, kv.Value);
            }
            w.WriteEndObject();
        }

        public static void WriteValue(Utf8JsonWriter w, object? value)
        {
            switch (value)
            {
                case null: w.WriteNullValue(); break;
                case string s: w.WriteStringValue(s); break;
                case bool b: w.WriteBooleanValue(b); break;
                case IReadOnlyDictionary<string, object> d: WriteObject(w, d); break;
                case string[] list:
                    w.WriteStartArray();
                    foreach (string item in list) w.WriteStringValue(item);
                    w.WriteEndArray();
                    break;
                case double or float or decimal:
                    double number = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                    // NaN and infinities have no JSON form: sent as text, the core refuses them naming the setting.
                    if (double.IsFinite(number)) w.WriteNumberValue(number);
                    else w.WriteStringValue(number.ToString(CultureInfo.InvariantCulture));
                    break;
                case ulong big: w.WriteNumberValue(big); break;
                case sbyte or byte or short or ushort or int or uint or long:
                    w.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                    break;
                // Anything else is not a setting value: as text, the core refuses it naming the setting.
                default: w.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture)); break;
            }
        }
    }
}
