using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;

namespace ModuleCommunication
{
    /// <summary>What kind of failure ended an API call (the native core's categories).</summary>
    public enum ApiErrorCategory
    {
        /// <summary>The parameters do not match the API's schema; the handler did not run.</summary>
        Validation,
        /// <summary>No API of that Module.Operation is registered.</summary>
        NotFound,
        /// <summary>The caller did not prove who it is (reserved for the security stage).</summary>
        Authentication,
        /// <summary>The caller may not call this API (reserved for the security stage).</summary>
        Authorization,
        /// <summary>The call did not complete within its timeout.</summary>
        Timeout,
        /// <summary>The API's circuit breaker is open (reserved for the circuit breaker stage).</summary>
        CircuitOpen,
        /// <summary>A middleware or the handler threw.</summary>
        HandlerFailed,
        /// <summary>The API exists but cannot be reached now (its runspace closed).</summary>
        Unavailable,
        /// <summary>API calls nested more than 32 deep: a handler calling itself without end.</summary>
        CallDepthExceeded,
        /// <summary>The caller stopped the call (Ctrl+C, Stop-Job); not counted by the circuit breaker.</summary>
        Cancelled,
    }

    /// <summary>
    /// What middleware and handlers see as <c>$Context</c>: the call's identity and the values
    /// stages share. <see cref="Metadata"/>, <see cref="Headers"/>, <see cref="User"/> and
    /// <see cref="Parameters"/> may be changed by a middleware; later stages and the handler see
    /// the change.
    /// </summary>
    public sealed class ApiContext
    {
        internal ApiContext(string module, string operation, Hashtable parameters, Guid requestId)
        {
            Module = module;
            Operation = operation;
            _parameters = parameters;
            RequestId = requestId;
            StartTime = DateTime.Now;
        }

        /// <summary>Module.Operation, as the caller spelled it.</summary>
        public string APIKey => Module + "." + Operation;

        /// <summary>The module of the API called.</summary>
        public string Module { get; }

        /// <summary>The operation called.</summary>
        public string Operation { get; }

        /// <summary>The call's parameters (a copy of the caller's; validated after the middleware). Null sets an empty table.</summary>
        public Hashtable Parameters
        {
            get => _parameters;
            set => _parameters = value ?? new Hashtable(StringComparer.OrdinalIgnoreCase);
        }

        private Hashtable _parameters;

        /// <summary>Unique id of this call.</summary>
        public Guid RequestId { get; }

        /// <summary>When the call started (local time).</summary>
        public DateTime StartTime { get; }

        /// <summary>Who calls: the User of the call's authentication token, else null unless a middleware sets it.</summary>
        public object? User { get; set; }

        /// <summary>The attempt running: 0 for the first, 1 for the first retry, and so on.</summary>
        public int Attempt { get; internal set; }

        /// <summary>Request headers; empty unless a middleware sets some.</summary>
        public Hashtable Headers { get; set; } = new Hashtable(StringComparer.OrdinalIgnoreCase);

        /// <summary>Free-form values that stages pass on to later stages and the handler.</summary>
        public Hashtable Metadata { get; set; } = new Hashtable(StringComparer.OrdinalIgnoreCase);

        /// <summary>1 for a call made outside any handler; 2 for a call made by a handler of such a call, and so on.</summary>
        public int Depth { get; internal set; }

        /// <summary>True when the call runs as a job (Invoke-ModuleAPI -Async).</summary>
        public bool IsAsync { get; internal set; }

        /// <summary>The native frames of the middleware running now, innermost last: what $Next continues.</summary>
        internal readonly Stack<ulong> Frames = new();

        internal Threading.ApiCallState? State;

        /// <summary>The caller's parameters named one parameter twice: the first PowerShell stage fails the call with this.</summary>
        internal ApiInvocationException? RefusedParameters;

        [ThreadStatic] private static ApiContext? t_current;

        /// <summary>
        /// The context of the API call whose handler or middleware runs on this thread now (null
        /// outside one). A handler can also declare a $Context parameter to receive it.
        /// </summary>
        public static ApiContext? Current => t_current;

        internal static void SetCurrent(ApiContext? context) => t_current = context;

        /// <inheritdoc/>
        public override string ToString() => $"{APIKey} {RequestId}";
    }

    /// <summary>One parameter of an API's schema.</summary>
    public sealed class ApiParameterInfo
    {
        /// <summary>Its name.</summary>
        public string Name { get; init; } = string.Empty;
        /// <summary>string, int, long, double, bool, hashtable, array, datetime or object.</summary>
        public string Type { get; init; } = "object";
        /// <summary>Whether every call must give it.</summary>
        public bool Required { get; init; }
        /// <summary>Free text.</summary>
        public string? Description { get; init; }
        /// <summary>Whether it has a default value.</summary>
        public bool HasDefault { get; init; }
        /// <summary>The default value, when it has one.</summary>
        public object? Default { get; init; }
        /// <summary>The allowed values, if limited.</summary>
        public object[]? ValidateSet { get; init; }
        /// <summary>The regular expression values must match, if any.</summary>
        public string? Pattern { get; init; }

        /// <inheritdoc/>
        public override string ToString() => Required ? $"{Name} ({Type}, required)" : $"{Name} ({Type})";
    }

    /// <summary>A registered API and its counters (Get-ModuleAPIs, Register-ModuleAPI).</summary>
    public sealed class ApiInfo
    {
        /// <summary>The module's name.</summary>
        public string ModuleName { get; init; } = string.Empty;
        /// <summary>The operation's name.</summary>
        public string APIName { get; init; } = string.Empty;
        /// <summary>ModuleName.APIName.</summary>
        public string APIKey { get; init; } = string.Empty;
        /// <summary>Free text.</summary>
        public string? Description { get; init; }
        /// <summary>The schema; null when the API takes any parameters unvalidated.</summary>
        public ApiParameterInfo[]? Parameters { get; init; }
        /// <summary>The timeout of calls that give none.</summary>
        public TimeSpan? DefaultTimeout { get; init; }
        /// <summary>Names of the middleware its calls run, outermost first.</summary>
        public string[] Middleware { get; init; } = Array.Empty<string>();
        /// <summary>ScriptBlock (registered in PowerShell) or Native (registered through the C ABI).</summary>
        public string HandlerType { get; init; } = "ScriptBlock";
        /// <summary>The runspace whose thread runs the handler (null for native handlers).</summary>
        public Guid? RunspaceId { get; init; }
        /// <summary>When it was registered (local time).</summary>
        public DateTime RegisteredAt { get; init; }
        /// <summary>Calls started, including those that failed validation.</summary>
        public long CallCount { get; init; }
        /// <summary>Calls that returned a result.</summary>
        public long SuccessCount { get; init; }
        /// <summary>Calls that failed.</summary>
        public long FailureCount { get; init; }
        /// <summary>Mean duration of a call, in milliseconds (0 before the first call).</summary>
        public double AverageExecutionTime { get; init; }
        /// <summary>When it was last called (local time).</summary>
        public DateTime? LastCalled { get; init; }
        /// <summary>The last failure's message.</summary>
        public string? LastError { get; init; }
        /// <summary>Attempts made: first attempts let through by the circuit breaker, and retries.</summary>
        public long AttemptCount { get; init; }
        /// <summary>Of those, retries.</summary>
        public long RetryCount { get; init; }
        /// <summary>Calls the circuit breaker failed fast.</summary>
        public long RejectedCount { get; init; }

        /// <inheritdoc/>
        public override string ToString() => APIKey;
    }

    /// <summary>A middleware (Add-APIMiddleware, Get-APIMiddleware).</summary>
    public sealed class MiddlewareInfo
    {
        /// <summary>Its unique name.</summary>
        public string Name { get; init; } = string.Empty;
        /// <summary>Lower runs outer; equal priorities run in registration order.</summary>
        public int Priority { get; init; }
        /// <summary>Global, or the Module.Operation it is for.</summary>
        public string Scope { get; init; } = "Global";
        /// <summary>The module of the one API it is for (null when global).</summary>
        public string? ModuleName { get; init; }
        /// <summary>The operation of the one API it is for (null when global).</summary>
        public string? APIName { get; init; }
        /// <summary>Registration order among all middleware.</summary>
        public long Order { get; init; }
        /// <summary>ScriptBlock or Native.</summary>
        public string HandlerType { get; init; } = "ScriptBlock";
        /// <summary>When it was added (local time).</summary>
        public DateTime RegisteredAt { get; init; }
        /// <summary>How many times it ran.</summary>
        public long CallCount { get; init; }

        /// <inheritdoc/>
        public override string ToString() => Name;
    }

    /// <summary>What Test-ModuleAPI found.</summary>
    public sealed class ApiTestResult
    {
        /// <summary>Module.Operation.</summary>
        public string APIKey { get; init; } = string.Empty;
        /// <summary>True when the parameters were valid and the call returned a result.</summary>
        public bool Success { get; init; }
        /// <summary>How long validation and the call took.</summary>
        public TimeSpan Duration { get; init; }
        /// <summary>The same in milliseconds.</summary>
        public double DurationMs => Duration.TotalMilliseconds;
        /// <summary>The handler's output, when the call succeeded.</summary>
        public object? Result { get; init; }
        /// <summary>What went wrong: each invalid parameter, or the call's error.</summary>
        public string[] Errors { get; init; } = Array.Empty<string>();
        /// <summary>The failure's category, when it failed.</summary>
        public ApiErrorCategory? ErrorCategory { get; init; }
    }

    /// <summary>Result of Unregister-ModuleAPI.</summary>
    public sealed class ApiUnregisterResult
    {
        /// <summary>True when the API was removed.</summary>
        public bool Success { get; init; }
        /// <summary>Module.Operation.</summary>
        public string APIKey { get; init; } = string.Empty;
        /// <summary>Middleware that was added for this API alone and removed with it.</summary>
        public long MiddlewareRemoved { get; init; }
    }

    /// <summary>Result of Remove-APIMiddleware.</summary>
    public sealed class MiddlewareRemovalResult
    {
        /// <summary>True when the middleware was removed.</summary>
        public bool Success { get; init; }
        /// <summary>Its name.</summary>
        public string Name { get; init; } = string.Empty;
    }

    /// <summary>
    /// A failed API call. Thrown by Invoke-ModuleAPI (inside an ErrorRecord whose ErrorId names the
    /// category), by <c>&amp; $Next $Context</c> in middleware, and in a failed -Async job.
    /// </summary>
    public sealed class ApiInvocationException : RuntimeException
    {
        internal ApiInvocationException(ApiErrorCategory category, string apiKey, string message, IReadOnlyList<ApiParameterError> parameters, Exception? inner)
            : base(message, inner)
        {
            Category = category;
            APIKey = apiKey;
            ParameterErrors = parameters;
        }

        /// <summary>What kind of failure it is.</summary>
        public ApiErrorCategory Category { get; }

        /// <summary>The call that failed ($Context.RequestId).</summary>
        public Guid RequestId { get; internal init; }

        private ErrorRecord? _record;

        /// <summary>The error record: ErrorId per category (see <see cref="ErrorId"/>), the API key as target.</summary>
        public override ErrorRecord ErrorRecord => _record ??= new ErrorRecord(this, ErrorId, PowerShellCategory, APIKey);

        /// <summary>Module.Operation as the caller gave it.</summary>
        public string APIKey { get; }

        /// <summary>For Validation: each invalid parameter.</summary>
        public IReadOnlyList<ApiParameterError> ParameterErrors { get; }

        /// <summary>The stable ErrorId of the category (e.g. ParameterValidationFailed).</summary>
        public string ErrorId => Category switch
        {
            ApiErrorCategory.Validation => "ParameterValidationFailed",
            ApiErrorCategory.NotFound => "APINotFound",
            ApiErrorCategory.Authentication => "AuthenticationFailed",
            ApiErrorCategory.Authorization => "AuthorizationFailed",
            ApiErrorCategory.Timeout => "APITimeout",
            ApiErrorCategory.CircuitOpen => "CircuitOpen",
            ApiErrorCategory.HandlerFailed => "APIHandlerFailed",
            ApiErrorCategory.Unavailable => "APIUnavailable",
            ApiErrorCategory.Cancelled => "APICancelled",
            _ => "APICallDepthExceeded",
        };

        /// <summary>The PowerShell error category of the failure.</summary>
        public ErrorCategory PowerShellCategory => Category switch
        {
            ApiErrorCategory.Validation => System.Management.Automation.ErrorCategory.InvalidArgument,
            ApiErrorCategory.NotFound => System.Management.Automation.ErrorCategory.ObjectNotFound,
            ApiErrorCategory.Authentication => System.Management.Automation.ErrorCategory.AuthenticationError,
            ApiErrorCategory.Authorization => System.Management.Automation.ErrorCategory.PermissionDenied,
            ApiErrorCategory.Timeout => System.Management.Automation.ErrorCategory.OperationTimeout,
            ApiErrorCategory.CircuitOpen => System.Management.Automation.ErrorCategory.ResourceUnavailable,
            ApiErrorCategory.HandlerFailed => System.Management.Automation.ErrorCategory.InvalidResult,
            ApiErrorCategory.Unavailable => System.Management.Automation.ErrorCategory.ResourceUnavailable,
            ApiErrorCategory.Cancelled => System.Management.Automation.ErrorCategory.OperationStopped,
            _ => System.Management.Automation.ErrorCategory.LimitsExceeded,
        };
    }

    /// <summary>
    /// Thrown by a handler to say what kind of failure it is, so that the retry stage and the
    /// circuit breaker treat it right: <c>throw [ModuleCommunication.ApiErrorException]::new('Unavailable', 'database busy')</c>
    /// is retried (so is 'Timeout'); 'HandlerFailed' is not; 'Validation', 'NotFound',
    /// 'Authentication' and 'Authorization' are neither retried nor counted by the breaker.
    /// </summary>
    public sealed class ApiErrorException : Exception
    {
        /// <summary>A failure of <paramref name="category"/> with <paramref name="message"/>.</summary>
        public ApiErrorException(ApiErrorCategory category, string message) : base(message) => Category = category;

        /// <summary>A failure of <paramref name="category"/> caused by <paramref name="inner"/>.</summary>
        public ApiErrorException(ApiErrorCategory category, string message, Exception inner) : base(message, inner) => Category = category;

        /// <summary>What kind of failure it is.</summary>
        public ApiErrorCategory Category { get; }
    }

    /// <summary>One invalid parameter of a call.</summary>
    public sealed class ApiParameterError
    {
        internal ApiParameterError(string parameter, string message)
        {
            Parameter = parameter;
            Message = message;
        }

        /// <summary>The parameter's name.</summary>
        public string Parameter { get; }

        /// <summary>What is wrong with it.</summary>
        public string Message { get; }

        /// <inheritdoc/>
        public override string ToString() => Message;
    }
}
