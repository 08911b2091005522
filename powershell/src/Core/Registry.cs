using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Text.Json;
using ModuleCommunication.Native;
using ModuleCommunication.Serialization;
using ModuleCommunication.Threading;

namespace ModuleCommunication.Core
{
    /// <summary>
    /// The API registry of the native core, in .NET terms: registering PowerShell handlers and
    /// middleware, listing, removing, validating. Calls themselves go through <see cref="ApiRunner"/>.
    /// </summary>
    internal static unsafe class Registry
    {
        /// <summary>MC_CALLBACK_CALLER_THREAD: script blocks must run on the invoking thread.</summary>
        private const uint CallerThread = 1;

        /// <summary>The priority of middleware that gives none (the core's default).</summary>
        public const int DefaultMiddlewarePriority = 100;

        private static HubHandle Hub => ModuleHub.Handle;

        // ----- APIs ------------------------------------------------------------------------------

        /// <summary>Registers a PowerShell handler owned by the calling cmdlet's runspace.</summary>
        public static ApiInfo RegisterApi(PSCmdlet cmdlet, string module, string operation, ScriptBlock handler, IDictionary? schema,
            string? description, TimeSpan? timeout, bool force)
        {
            (byte[]? schemaJson, ApiSchemaBinding? binding) = ConvertSchema(schema);
            RunspaceDispatcher dispatcher = RunspaceDispatcher.ForCurrentRunspace(cmdlet);
            var stage = new ApiStage(true, $"the handler of {module}.{operation}", handler, Runspace.DefaultRunspace!, dispatcher)
            {
                Module = module,
                Operation = operation,
                Binding = binding,
                DefaultTimeout = timeout,
            };
            long key = StageRegistry.Add(stage);
            byte[] json = JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                w.WriteString("module", module);
                w.WriteString("operation", operation);
                if (description != null) w.WriteString("description", description);
                if (schemaJson != null)
                {
                    w.WritePropertyName("parameters");
                    w.WriteRawValue(schemaJson, skipInputValidation: true);
                }
                if (timeout.HasValue) w.WriteNumber("timeoutMs", (long)Math.Ceiling(timeout.Value.TotalMilliseconds));
                if (force) w.WriteBoolean("force", true);
                w.WriteEndObject();
            });
            McStatus status;
            fixed (byte* p = json)
            {
                status = NativeMethods.mc_api_register(Hub, p, (nuint)json.Length, StageRegistry.Callback, StageRegistry.ReleaseCallback, (nint)key, CallerThread);
            }
            if (status != McStatus.Ok)
            {
                StageRegistry.Remove(key); // the core does not release what it refused
                throw Status.ToException(status);
            }
            StageRegistry.Registered(stage);
            return DescribeApi(module, operation) ?? throw new InvalidOperationException($"API {module}.{operation} disappeared right after it was registered.");
        }

        /// <summary>
        /// Unregisters an API; returns how many of its own middleware went with it. With
        /// <paramref name="onlyIfKey"/>, only when that PowerShell stage is still its handler.
        /// </summary>
        public static long Unregister(string module, string operation, long? onlyIfKey = null)
        {
            if (onlyIfKey.HasValue && StageRegistry.FindHandler(module, operation)?.Key != onlyIfKey) return 0;
            Status.Check(NativeMethods.mc_api_unregister(Hub, module, operation, out nuint removed));
            return (long)removed;
        }

        public static List<ApiInfo> ListApis(string? modulePattern, string? operationPattern)
        {
            Status.Check(NativeMethods.mc_api_list(Hub, modulePattern, operationPattern, out byte* json));
            using JsonDocument doc = CoreJson.Parse(NativeString.Take(json));
            var result = new List<ApiInfo>();
            foreach (JsonElement a in doc.RootElement.EnumerateArray()) result.Add(ToApiInfo(a));
            return result;
        }

        public static ApiInfo? DescribeApi(string module, string operation)
        {
            List<ApiInfo> found = ListApis(WildcardPattern.Escape(module), WildcardPattern.Escape(operation));
            return found.Count > 0 ? found[0] : null;
        }

        // ----- middleware -------------------------------------------------------------------------

        /// <summary>
        /// Adds a middleware stage. <paramref name="described"/> names it in errors when the user
        /// did not choose its name (Register-ModuleAPI -Middleware); by default "middleware 'name'".
        /// </summary>
        public static MiddlewareInfo AddMiddleware(PSCmdlet cmdlet, string name, int priority, ScriptBlock handler, string? module,
            string? operation, bool force, string? described = null)
        {
            RunspaceDispatcher dispatcher = RunspaceDispatcher.ForCurrentRunspace(cmdlet);
            var stage = new ApiStage(false, described ?? $"middleware '{name}'", handler, Runspace.DefaultRunspace!, dispatcher)
            {
                MiddlewareName = name,
                Scope = module != null ? module + "." + operation : null,
            };
            long key = StageRegistry.Add(stage);
            byte[] json = JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                w.WriteString("name", name);
                w.WriteNumber("priority", priority);
                if (module != null) w.WriteString("module", module);
                if (operation != null) w.WriteString("operation", operation);
                if (force) w.WriteBoolean("force", true);
                w.WriteEndObject();
            });
            McStatus status;
            fixed (byte* p = json)
            {
                status = NativeMethods.mc_middleware_add(Hub, p, (nuint)json.Length, StageRegistry.Callback, StageRegistry.ReleaseCallback, (nint)key, CallerThread);
            }
            if (status != McStatus.Ok)
            {
                StageRegistry.Remove(key);
                throw Status.ToException(status);
            }
            List<MiddlewareInfo> added = ListMiddleware(WildcardPattern.Escape(name));
            return added.Count > 0 ? added[0] : throw new InvalidOperationException($"Middleware '{name}' disappeared right after it was added.");
        }

        public static void RemoveMiddleware(string name, long? onlyIfKey = null)
        {
            if (onlyIfKey.HasValue && StageRegistry.FindMiddleware(name)?.Key != onlyIfKey) return;
            Status.Check(NativeMethods.mc_middleware_remove(Hub, name));
        }

        public static List<MiddlewareInfo> ListMiddleware(string? pattern)
        {
            Status.Check(NativeMethods.mc_middleware_list(Hub, pattern, out byte* json));
            using JsonDocument doc = CoreJson.Parse(NativeString.Take(json));
            var result = new List<MiddlewareInfo>();
            foreach (JsonElement m in doc.RootElement.EnumerateArray())
            {
                string name = m.GetProperty("name").GetString()!;
                string? apiKey = OptionalString(m, "apiKey");
                result.Add(new MiddlewareInfo
                {
                    Name = name,
                    Priority = m.GetProperty("priority").GetInt32(),
                    Order = m.GetProperty("order").GetInt64(),
                    Scope = apiKey ?? "Global",
                    ModuleName = OptionalString(m, "module"),
                    APIName = OptionalString(m, "operation"),
                    HandlerType = StageRegistry.FindMiddleware(name) != null ? "ScriptBlock" : "Native",
                    RegisteredAt = Time(m.GetProperty("registeredAt")) ?? DateTime.MinValue,
                    CallCount = m.GetProperty("calls").GetInt64(),
                });
            }
            return result;
        }

        // ----- validation -------------------------------------------------------------------------

        /// <summary>Checks parameters against the API's schema; the errors are empty when valid.</summary>
        public static List<ApiParameterError> Validate(string module, string operation, IDictionary? parameters, string? authenticationToken)
        {
            byte[] json = JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                w.WriteString("module", module);
                w.WriteString("operation", operation);
                if (authenticationToken != null) w.WriteString("authenticationToken", authenticationToken);
                DataCodec.WriteProperty(w, "parameters", parameters ?? new Hashtable());
                w.WriteEndObject();
            });
            byte* report;
            fixed (byte* p = json)
            {
                Status.Check(NativeMethods.mc_api_validate(Hub, p, (nuint)json.Length, out report));
            }
            using JsonDocument doc = CoreJson.Parse(NativeString.Take(report));
            var errors = new List<ApiParameterError>();
            foreach (JsonElement e in doc.RootElement.GetProperty("errors").EnumerateArray())
            {
                errors.Add(new ApiParameterError(e.GetProperty("parameter").GetString()!, e.GetProperty("message").GetString()!));
            }
            return errors;
        }

        // ----- schema conversion ------------------------------------------------------------------

        private static readonly Dictionary<Type, string> s_typeNames = new()
        {
            [typeof(string)] = "string",
            [typeof(int)] = "int",
            [typeof(long)] = "long",
            [typeof(double)] = "double",
            [typeof(bool)] = "bool",
            [typeof(Hashtable)] = "hashtable",
            [typeof(IDictionary)] = "hashtable",
            [typeof(System.Collections.Specialized.OrderedDictionary)] = "hashtable",
            [typeof(Array)] = "array",
            [typeof(object[])] = "array",
            [typeof(DateTime)] = "datetime",
            [typeof(object)] = "object",
        };

        /// <summary>
        /// The spec's -Parameters hashtable as the core's schema JSON, plus how the handler is bound.
        /// Shapes are converted here; the rules (types, ranges, patterns) are the core's to check.
        /// </summary>
        public static (byte[]? Json, ApiSchemaBinding? Binding) ConvertSchema(IDictionary? schema)
        {
            if (schema == null) return (null, null);
            var parameters = new List<ApiSchemaBinding.Param>();
            byte[] json = JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                foreach (DictionaryEntry entry in schema)
                {
                    string name = entry.Key?.ToString() ?? string.Empty;
                    object? value = entry.Value is PSObject ps ? ps.BaseObject : entry.Value;
                    if (value is not IDictionary spec)
                    {
                        throw new ArgumentException(
                            $"The schema entry of parameter '{name}' is {(value == null ? "null" : "a " + value.GetType().Name)}; describe each parameter with a hashtable such as @{{ Type = 'string'; Required = $true }}.");
                    }
                    string type = "object";
                    bool hasDefault = false;
                    string? defaultJson = null, defaultHints = null;
                    w.WritePropertyName(name);
                    w.WriteStartObject();
                    foreach (DictionaryEntry field in spec)
                    {
                        string key = field.Key?.ToString() ?? string.Empty;
                        object? v = field.Value is PSObject fp ? fp.BaseObject : field.Value;
                        w.WritePropertyName(key);
                        switch (key.ToLowerInvariant())
                        {
                            case "type":
                                type = v is Type t ? (s_typeNames.TryGetValue(t, out string? n) ? n : t.FullName ?? t.Name) : v?.ToString() ?? "null";
                                w.WriteStringValue(type);
                                type = type.ToLowerInvariant() switch { "int32" => "int", "int64" => "long", "boolean" => "bool", var x => x };
                                break;
                            case "required":
                                if (v is SwitchParameter sw) w.WriteBooleanValue(sw.IsPresent);
                                else if (v is bool b) w.WriteBooleanValue(b);
                                else DataCodec.WriteValue(w, v, new TypeHints());
                                break;
                            case "default":
                                (defaultJson, defaultHints) = DataCodec.Encode(v);
                                hasDefault = true;
                                w.WriteRawValue(defaultJson, skipInputValidation: true);
                                break;
                            case "validateset":
                                w.WriteStartArray();
                                IEnumerable items = v is IEnumerable e && v is not string ? e : new[] { v };
                                foreach (object? item in items) DataCodec.WriteValue(w, item, new TypeHints());
                                w.WriteEndArray();
                                break;
                            default:
                                DataCodec.WriteValue(w, v, new TypeHints());
                                break;
                        }
                    }
                    w.WriteEndObject();
                    parameters.Add(new ApiSchemaBinding.Param(name, type, ApiSchemaBinding.ClrType(type), hasDefault, defaultJson, defaultHints));
                }
                w.WriteEndObject();
            });
            return (json, new ApiSchemaBinding(parameters));
        }

        // ----- JSON -------------------------------------------------------------------------------

        private static ApiInfo ToApiInfo(JsonElement a)
        {
            string module = a.GetProperty("module").GetString()!;
            string operation = a.GetProperty("operation").GetString()!;
            ApiStage? stage = StageRegistry.FindHandler(module, operation);
            long calls = a.GetProperty("calls").GetInt64();
            JsonElement timeout = a.GetProperty("timeoutMs");
            var middleware = new List<string>();
            foreach (JsonElement m in a.GetProperty("middleware").EnumerateArray()) middleware.Add(m.GetString()!);
            return new ApiInfo
            {
                ModuleName = module,
                APIName = operation,
                APIKey = a.GetProperty("apiKey").GetString()!,
                Description = OptionalString(a, "description"),
                Parameters = ToParameters(a.GetProperty("parameters"), stage?.Binding),
                DefaultTimeout = timeout.ValueKind == JsonValueKind.Number ? TimeSpan.FromMilliseconds(timeout.GetInt64()) : null,
                Middleware = middleware.ToArray(),
                HandlerType = stage != null ? "ScriptBlock" : "Native",
                RunspaceId = stage?.Owner.InstanceId,
                RegisteredAt = Time(a.GetProperty("registeredAt")) ?? DateTime.MinValue,
                CallCount = calls,
                SuccessCount = a.GetProperty("succeeded").GetInt64(),
                FailureCount = a.GetProperty("failed").GetInt64(),
                AverageExecutionTime = calls > 0 ? Math.Round(a.GetProperty("totalDurationMs").GetDouble() / calls, 3) : 0,
                LastCalled = Time(a.GetProperty("lastCalled")),
                LastError = OptionalString(a, "lastError") is string error ? Status.ForPowerShell(error) : null,
                AttemptCount = a.TryGetProperty("attempts", out JsonElement at) ? at.GetInt64() : 0,
                RetryCount = a.TryGetProperty("retries", out JsonElement rt) ? rt.GetInt64() : 0,
                RejectedCount = a.TryGetProperty("rejectedByBreaker", out JsonElement rj) ? rj.GetInt64() : 0,
            };
        }

        private static ApiParameterInfo[]? ToParameters(JsonElement schema, ApiSchemaBinding? binding)
        {
            if (schema.ValueKind != JsonValueKind.Object) return null;
            var result = new List<ApiParameterInfo>();
            foreach (JsonProperty p in schema.EnumerateObject())
            {
                JsonElement s = p.Value;
                bool hasDefault = s.TryGetProperty("default", out JsonElement d);
                ApiSchemaBinding.Param? bound = null;
                if (binding != null)
                {
                    foreach (ApiSchemaBinding.Param b in binding.Parameters)
                    {
                        if (string.Equals(b.Name, p.Name, StringComparison.OrdinalIgnoreCase)) bound = b;
                    }
                }
                object[]? set = null;
                if (s.GetProperty("validateSet").ValueKind == JsonValueKind.Array)
                {
                    var items = new List<object>();
                    foreach (JsonElement item in s.GetProperty("validateSet").EnumerateArray()) items.Add(DataCodec.ReadValue(item, default)!);
                    set = items.ToArray();
                }
                result.Add(new ApiParameterInfo
                {
                    Name = p.Name,
                    Type = s.GetProperty("type").GetString()!,
                    Required = s.GetProperty("required").GetBoolean(),
                    Description = OptionalString(s, "description"),
                    HasDefault = hasDefault,
                    Default = !hasDefault ? null
                        : bound is { HasDefault: true } ? DataCodec.Decode(bound.DefaultJson!, bound.DefaultHints)
                        : DataCodec.ReadValue(d, default),
                    ValidateSet = set,
                    Pattern = OptionalString(s, "pattern"),
                });
            }
            return result.ToArray();
        }

        private static string? OptionalString(JsonElement e, string name)
            => e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        private static DateTime? Time(JsonElement e)
            => e.ValueKind == JsonValueKind.String
                ? DateTime.Parse(e.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind).ToLocalTime()
                : null;
    }
}
