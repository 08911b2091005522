using System;
using System.Collections;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using ModuleCommunication.Native;
using ModuleCommunication.Serialization;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// A PowerShell script block registered with the native pipeline: an API's handler or a
    /// middleware. It belongs to the runspace that registered it, and runs only on that
    /// runspace's thread (or, for -Async calls, re-created from its text in a pool runspace).
    /// </summary>
    internal sealed class ApiStage
    {
        public ApiStage(bool isHandler, string name, ScriptBlock block, Runspace owner, RunspaceDispatcher dispatcher)
        {
            IsHandler = isHandler;
            Name = name;
            Block = block;
            Text = block.ToString();
            Owner = owner;
            Dispatcher = dispatcher;
            if (isHandler && block.Ast is ScriptBlockAst ast && ast.ParamBlock != null)
            {
                List<string[]>? mandatory = null;
                foreach (ParameterAst p in ast.ParamBlock.Parameters)
                {
                    if (string.Equals(p.Name.VariablePath.UserPath, "Context", StringComparison.OrdinalIgnoreCase)) WantsContext = true;
                    if (MandatoryNames(p) is { } names) (mandatory ??= new List<string[]>()).Add(names);
                    _declared.Add(p.Name.VariablePath.UserPath);
                    foreach (string alias in AliasesOf(p)) _declared.Add(alias);
                }
                Mandatory = mandatory;
            }
        }

        /// <summary>
        /// The parameters the handler declares [Parameter(Mandatory)] in every parameter set, each
        /// as its name and aliases. Missing, PowerShell would prompt for them on the caller's host
        /// (the call then waits for someone to type, past its timeout); the call fails instead.
        /// </summary>
        public IReadOnlyList<string[]>? Mandatory { get; }

        // Every name and alias the handler's param() declares, and the common parameters an advanced
        // handler (one with [Parameter()]) has: a splat key equal to one of them binds that
        // parameter, never another one it is a prefix of ('Debug' does not give $DebugLevel).
        private readonly HashSet<string> _declared = new(s_commonNames, StringComparer.OrdinalIgnoreCase);

        private static readonly string[] s_commonNames = CommonNames();

        private static string[] CommonNames()
        {
            var names = new List<string>();
            foreach (Type t in new[] { typeof(System.Management.Automation.Internal.CommonParameters), typeof(System.Management.Automation.Internal.ShouldProcessParameters) })
            {
                foreach (System.Reflection.PropertyInfo p in t.GetProperties())
                {
                    names.Add(p.Name);
                    foreach (AliasAttribute a in p.GetCustomAttributes(typeof(AliasAttribute), false)) names.AddRange(a.AliasNames);
                }
            }
            return names.ToArray();
        }

        /// <summary>The [Alias()] names of a parameter.</summary>
        private static IEnumerable<string> AliasesOf(ParameterAst p)
        {
            foreach (AttributeBaseAst attribute in p.Attributes)
            {
                if (attribute is not AttributeAst a || a.TypeName.GetReflectionAttributeType() != typeof(AliasAttribute)) continue;
                foreach (ExpressionAst e in a.PositionalArguments)
                {
                    IEnumerable<ExpressionAst> items = e is ArrayLiteralAst array ? array.Elements : new[] { e };
                    foreach (ExpressionAst item in items)
                    {
                        if (item is StringConstantExpressionAst alias) yield return alias.Value;
                    }
                }
            }
        }

        /// <summary>Name and aliases of a parameter mandatory in all its sets; null otherwise or when unsure.</summary>
        private static string[]? MandatoryNames(ParameterAst p)
        {
            bool mandatory = false;
            var names = new List<string> { p.Name.VariablePath.UserPath };
            names.AddRange(AliasesOf(p));
            foreach (AttributeBaseAst attribute in p.Attributes)
            {
                if (attribute is not AttributeAst a) continue;
                Type? type = a.TypeName.GetReflectionAttributeType();
                if (type != typeof(ParameterAttribute)) continue;
                bool thisOne = false;
                foreach (NamedAttributeArgumentAst n in a.NamedArguments)
                {
                    if (n.ArgumentName.Equals("ParameterSetName", StringComparison.OrdinalIgnoreCase)) return null; // depends on the set bound
                    if (!n.ArgumentName.Equals("Mandatory", StringComparison.OrdinalIgnoreCase)) continue;
                    bool? value = n.ExpressionOmitted ? true : n.Argument switch
                    {
                        VariableExpressionAst v when v.VariablePath.UserPath.Equals("true", StringComparison.OrdinalIgnoreCase) => true,
                        VariableExpressionAst v when v.VariablePath.UserPath.Equals("false", StringComparison.OrdinalIgnoreCase) => false,
                        ConstantExpressionAst c => LanguagePrimitives.IsTrue(c.Value),
                        _ => null,
                    };
                    if (value == null) return null;
                    thisOne = value.Value;
                }
                if (!thisOne) return null;
                mandatory = true;
            }
            return mandatory ? names.ToArray() : null;
        }

        /// <summary>
        /// The mandatory parameters <paramref name="splat"/> does not give, or null. PowerShell binds
        /// a key to the parameter it names exactly (name or alias), else to the one it is a prefix of.
        /// </summary>
        public string? MissingMandatory(Hashtable splat)
        {
            if (Mandatory == null) return null;
            List<string>? missing = null;
            foreach (string[] names in Mandatory)
            {
                bool given = false;
                foreach (object key in splat.Keys)
                {
                    string k = (string)key;
                    if (k.Length == 0) continue;
                    bool exact = _declared.Contains(k);
                    foreach (string name in names)
                    {
                        if (exact ? name.Equals(k, StringComparison.OrdinalIgnoreCase) : name.StartsWith(k, StringComparison.OrdinalIgnoreCase)) given = true;
                    }
                }
                if (!given) (missing ??= new List<string>()).Add(names[0]);
            }
            return missing == null ? null : string.Join(", ", missing);
        }

        /// <summary>The handler declares a $Context parameter: it receives the call's context (unless an API parameter has that name).</summary>
        public bool WantsContext { get; }

        /// <summary>The user_data value the native callback carries.</summary>
        public long Key { get; set; }

        public bool IsHandler { get; }

        /// <summary>For messages: "the handler of LabRunner.ExecuteStep" or "middleware 'Logging'".</summary>
        public string Name { get; }

        public ScriptBlock Block { get; }

        /// <summary>The block's text, re-created in pool runspaces for -Async calls.</summary>
        public string Text { get; }

        public Runspace Owner { get; }

        public RunspaceDispatcher Dispatcher { get; }

        // Handlers only.
        public string Module { get; init; } = string.Empty;
        public string Operation { get; init; } = string.Empty;
        public ApiSchemaBinding? Binding { get; init; }
        public TimeSpan? DefaultTimeout { get; init; }

        // Middleware only.
        public string MiddlewareName { get; init; } = string.Empty;

        /// <summary>Module.Operation of the one API a middleware is for; null for global middleware.</summary>
        public string? Scope { get; init; }
    }

    /// <summary>
    /// How a handler's parameters are bound: the schema's names, the .NET type each is converted
    /// to, and the defaults as the data codec wrote them (decoded afresh for every call, so a
    /// handler that changes a default hashtable does not change it for the next call).
    /// </summary>
    internal sealed class ApiSchemaBinding
    {
        public sealed record Param(string Name, string Type, Type? ConvertTo, bool HasDefault, string? DefaultJson, string? DefaultHints);

        public ApiSchemaBinding(IReadOnlyList<Param> parameters) => Parameters = parameters;

        public IReadOnlyList<Param> Parameters { get; }

        public static Type? ClrType(string type) => type switch
        {
            "string" => typeof(string),
            "int" => typeof(int),
            "long" => typeof(long),
            "double" => typeof(double),
            "bool" => typeof(bool),
            "datetime" => typeof(DateTime),
            _ => null, // hashtable, array, object: passed as given
        };

        /// <summary>
        /// The splat for the handler: each given parameter converted to its type, defaults for the
        /// rest. A value the core's validation let through that still cannot be converted is the
        /// caller's mistake, not the handler's: it fails the call as Validation (which the breaker
        /// does not count), naming the parameter, before the handler runs.
        /// </summary>
        public Hashtable Bind(ApiContext context)
        {
            var splat = new Hashtable(Parameters.Count, StringComparer.OrdinalIgnoreCase);
            List<ApiParameterError>? errors = null;
            foreach (Param p in Parameters)
            {
                bool given = TryGet(context.Parameters, p.Name, out object? value);
                if (!given && !p.HasDefault) continue;
                try
                {
                    // A default is converted like a given value: a datetime default travels as
                    // text, a long or double one as a number the codec reads back as Int32.
                    splat[p.Name] = Convert(given ? value : DataCodec.Decode(p.DefaultJson!, p.DefaultHints), p);
                }
                catch (Exception e) when (e is InvalidCastException or FormatException or OverflowException or ArgumentException)
                {
                    string whose = given ? string.Empty : " (its default; register the API again with a default of this type)";
                    (errors ??= new List<ApiParameterError>()).Add(new ApiParameterError(p.Name, $"{p.Name}{whose}: {e.Message}"));
                }
            }
            if (errors != null)
            {
                // Worded as the core's own validation errors are.
                string list = string.Join("; ", errors.ConvertAll(e => e.Message));
                throw new ApiInvocationException(ApiErrorCategory.Validation, context.APIKey,
                    $"invalid parameters for {context.APIKey}: {list}. The handler did not run; see the API's parameters with Get-ModuleAPIs",
                    errors, null) { RequestId = context.RequestId };
            }
            return splat;
        }

        /// <summary>
        /// The caller's dictionary as a case-insensitive table (the call's parameters, or the splat of
        /// an API without a schema). Parameter names compare case-insensitively, so two keys of a
        /// case-sensitive dictionary that differ only in case ('Path', 'path') name one parameter:
        /// refused as Validation, naming both, or one value would be lost without a word.
        /// </summary>
        public static Hashtable Copy(IDictionary given, string apiKey, Guid? requestId = null)
        {
            Hashtable splat = CopyFirstWins(given, apiKey, requestId, out ApiInvocationException? duplicate);
            if (duplicate != null) throw duplicate;
            return splat;
        }

        /// <summary>
        /// As <see cref="Copy"/>, keeping the first of two keys that name one parameter and returning
        /// the refusal in <paramref name="duplicate"/>, for the call to report once security has passed.
        /// </summary>
        public static Hashtable CopyFirstWins(IDictionary given, string apiKey, Guid? requestId, out ApiInvocationException? duplicate)
        {
            duplicate = null;
            var splat = new Hashtable(given.Count, StringComparer.OrdinalIgnoreCase);
            foreach (DictionaryEntry e in given)
            {
                string key = e.Key?.ToString() ?? string.Empty;
                if (splat.ContainsKey(key))
                {
                    duplicate ??= Invalid(apiKey, requestId, key, $"'{FirstSpelling(splat, key)}' and '{key}' are both given (parameter names compare case-insensitively); give the parameter once");
                    continue;
                }
                splat[key] = e.Value;
            }
            return splat;
        }

        /// <summary>
        /// The splat of an API without a schema. A key that is no parameter name ('', 'a b') would
        /// fail inside PowerShell's binder as the handler's error, or turn into positional
        /// arguments: refused as Validation, by the rule a schema's names follow.
        /// </summary>
        public static Hashtable CopyForHandler(ApiContext context)
        {
            Hashtable splat = Copy(context.Parameters, context.APIKey, context.RequestId);
            foreach (string key in splat.Keys)
            {
                if (!IsParameterName(key))
                {
                    throw Invalid(context.APIKey, context.RequestId, key,
                        $"'{key}' is not a parameter name: use 1 to 128 letters, digits and underscores, starting with a letter or underscore "
                        + "(a name a PowerShell handler can declare in param())");
                }
            }
            return splat;
        }

        /// <summary>The core's rule for a schema's parameter names (src/registry/schema.rs, check_param_name).</summary>
        private static bool IsParameterName(string name)
        {
            if (name.Length == 0 || name.Length > 128 || !(char.IsLetter(name[0]) || name[0] == '_')) return false;
            foreach (char c in name)
            {
                if (!char.IsLetterOrDigit(c) && c != '_') return false;
            }
            return true;
        }

        private static string FirstSpelling(Hashtable table, string key)
        {
            foreach (object k in table.Keys)
            {
                if (string.Equals((string)k, key, StringComparison.OrdinalIgnoreCase)) return (string)k;
            }
            return key;
        }

        /// <summary>A Validation failure of one parameter, worded as the core's own validation errors are.</summary>
        private static ApiInvocationException Invalid(string apiKey, Guid? requestId, string parameter, string problem)
        {
            var errors = new List<ApiParameterError> { new ApiParameterError(parameter, problem) };
            return new ApiInvocationException(ApiErrorCategory.Validation, apiKey,
                $"invalid parameters for {apiKey}: {problem}. The handler did not run; see the API's parameters with Get-ModuleAPIs", errors, null)
                { RequestId = requestId ?? Guid.Empty };
        }

        private static bool TryGet(IDictionary given, string name, out object? value)
        {
            if (given.Contains(name))
            {
                value = given[name];
                return true;
            }
            foreach (DictionaryEntry e in given)
            {
                if (string.Equals(e.Key?.ToString(), name, StringComparison.OrdinalIgnoreCase))
                {
                    value = e.Value;
                    return true;
                }
            }
            value = null;
            return false;
        }

        private static object? Convert(object? value, Param p)
        {
            object? bare = value is PSObject ps ? ps.BaseObject : value;
            if (p.Type == "hashtable" && bare != null && bare is not IDictionary) return ToHashtable(value!);
            if (bare == null || p.ConvertTo == null || p.ConvertTo.IsInstanceOfType(bare)) return value;
            // A DateTimeOffset passes the core's datetime check (it travels as ISO 8601 text with its
            // offset), and PowerShell has no conversion to DateTime. The data codec reads text with an
            // offset back as a Local DateTime, so the handler gets the same instant in local time, as
            // a handler of that text would; UtcDateTime would be the same instant with another Kind.
            if (bare is DateTimeOffset offset && p.ConvertTo == typeof(DateTime)) return offset.LocalDateTime;
            return LanguagePrimitives.ConvertTo(bare, p.ConvertTo, CultureInfo.InvariantCulture);
        }

        /// <summary>
        /// The core's check lets any object with properties through as a hashtable (it travels as a
        /// JSON object). A [pscustomobject] (ConvertFrom-Json's output) becomes a hashtable of its
        /// properties, keys case-insensitive like @{}; any other object is refused, so that the
        /// caller's mistake is not reported as the handler's.
        /// </summary>
        private static Hashtable ToHashtable(object value)
        {
            if (value is not PSObject { BaseObject: PSCustomObject } custom)
            {
                throw new ArgumentException($"a hashtable parameter takes a dictionary or a [pscustomobject], not a {(value is PSObject o ? o.BaseObject : value).GetType().FullName}.");
            }
            var table = new Hashtable(StringComparer.OrdinalIgnoreCase);
            foreach (PSPropertyInfo property in custom.Properties)
            {
                object? item;
                try
                {
                    item = property.Value;
                }
                catch (Exception)
                {
                    item = null; // a ScriptProperty that throws, as the data codec reads it
                }
                table[property.Name] = item;
            }
            return table;
        }
    }

    /// <summary>
    /// Every PowerShell stage of the process, by the integer key handed to native code as
    /// user_data (never a GCHandle: a late callback for a removed stage finds nothing). The native
    /// core calls <see cref="Release"/> once it no longer uses a key.
    /// </summary>
    internal static unsafe class StageRegistry
    {
        private static readonly ConcurrentDictionary<long, ApiStage> s_byKey = new();
        private static long s_nextKey;

        static StageRegistry() => RunspaceDispatcher.RunspaceClosed += OnRunspaceClosed;

        public static delegate* unmanaged[Cdecl]<nint, ulong, uint> Callback => &OnStage;

        public static delegate* unmanaged[Cdecl]<nint, void> ReleaseCallback => &Release;

        // The newest handler of each API (folded "module.operation"), so a call finds it without a scan.
        private static readonly ConcurrentDictionary<string, ApiStage> s_handlers = new(StringComparer.OrdinalIgnoreCase);

        private static string HandlerKey(string module, string operation) => module + "\u0001" + operation;

        /// <summary>Gives the stage its key; call <see cref="Registered"/> once the core accepted it.</summary>
        public static long Add(ApiStage stage)
        {
            stage.Key = Interlocked.Increment(ref s_nextKey);
            s_byKey[stage.Key] = stage;
            return stage.Key;
        }

        /// <summary>
        /// Makes an accepted handler its API's handler here. Not before: a registration the core
        /// refuses (APIExists) must leave the API's current handler, and its owner, as they are.
        /// </summary>
        public static void Registered(ApiStage stage)
        {
            if (stage.IsHandler) s_handlers[HandlerKey(stage.Module, stage.Operation)] = stage;
        }

        public static void Remove(long key)
        {
            if (!s_byKey.TryRemove(key, out ApiStage? stage) || !stage.IsHandler) return;
            // Only if it is still the newest: a replacement registered meanwhile stays.
            ((ICollection<KeyValuePair<string, ApiStage>>)s_handlers).Remove(new KeyValuePair<string, ApiStage>(HandlerKey(stage.Module, stage.Operation), stage));
        }

        public static IEnumerable<ApiStage> All => s_byKey.Values;

        public static bool TryGet(long key, out ApiStage stage) => s_byKey.TryGetValue(key, out stage!);

        /// <summary>The PowerShell handler of an API, if it was registered here (names case-insensitive).</summary>
        public static ApiStage? FindHandler(string module, string operation)
            => s_handlers.TryGetValue(HandlerKey(module, operation), out ApiStage? stage) ? stage : null;

        public static ApiStage? FindMiddleware(string name)
        {
            ApiStage? found = null;
            foreach (ApiStage s in s_byKey.Values)
            {
                if (!s.IsHandler && string.Equals(s.MiddlewareName, name, StringComparison.OrdinalIgnoreCase) && (found == null || s.Key > found.Key))
                {
                    found = s;
                }
            }
            return found;
        }

        /// <summary>
        /// Native stage callback: runs on the thread running the call's pipeline. Finds the stage and
        /// the call, then lets <see cref="ApiRunner"/> decide where the script block runs. Never throws.
        /// </summary>
        [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
        private static uint OnStage(nint key, ulong call)
        {
            try
            {
                if (!s_byKey.TryGetValue(key, out ApiStage? stage))
                {
                    return ApiRunner.Fail(call, ApiErrorCategory.Unavailable,
                        "The stage was removed while the call was running; invoke the API again.");
                }
                if (NativeMethods.mc_api_call_tag(call, out ulong tag) != McStatus.Ok || !ApiCallState.TryGet(tag, out ApiCallState? state))
                {
                    return ApiRunner.Fail(call, ApiErrorCategory.HandlerFailed,
                        $"{stage.Name} was called for a call that PowerShell did not start; PowerShell stages run only for Invoke-ModuleAPI calls.");
                }
                return ApiRunner.RunStage(stage, state, call);
            }
            catch (Exception e)
            {
                try
                {
                    return ApiRunner.Fail(call, ApiErrorCategory.HandlerFailed, "Internal error in the PowerShell stage: " + e.Message);
                }
                catch
                {
                    return (uint)McStatus.HandlerFailed;
                }
            }
        }

        /// <summary>Native release callback: the core dropped the stage (unregistered, replaced, hub gone).</summary>
        [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
        private static void Release(nint key)
        {
            try
            {
                Remove(key);
            }
            catch
            {
                // Never throw into native code.
            }
        }

        /// <summary>The runspace closed: its script blocks can never run again, so their APIs and middleware go.</summary>
        public static void OnRunspaceClosed(Guid runspaceId)
        {
            foreach (ApiStage s in s_byKey.Values)
            {
                if (s.Owner.InstanceId != runspaceId) continue;
                try
                {
                    if (s.IsHandler) Core.Registry.Unregister(s.Module, s.Operation, onlyIfKey: s.Key);
                    else Core.Registry.RemoveMiddleware(s.MiddlewareName, onlyIfKey: s.Key);
                }
                catch (ModuleCommunicationException)
                {
                    // Already gone.
                }
            }
        }
    }
}
