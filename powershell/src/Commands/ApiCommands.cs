using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;
using ModuleCommunication.Threading;

namespace ModuleCommunication.Commands
{
    /// <summary>Shared by the API registry cmdlets: error records for registry failures.</summary>
    public abstract class ApiRegistryCmdlet : ModuleCommunicationCmdlet
    {
        /// <summary>A registry failure as an ErrorRecord with the API cmdlets' ErrorIds (APINotFound, APIExists…).</summary>
        internal static ErrorRecord RegistryError(ModuleCommunicationException e, object? target)
        {
            (string id, ErrorCategory category) = (McStatus)e.Status switch
            {
                McStatus.ApiNotFound => ("APINotFound", ErrorCategory.ObjectNotFound),
                McStatus.ApiExists => ("APIExists", ErrorCategory.ResourceExists),
                McStatus.MiddlewareNotFound => ("MiddlewareNotFound", ErrorCategory.ObjectNotFound),
                McStatus.MiddlewareExists => ("MiddlewareExists", ErrorCategory.ResourceExists),
                _ => (e.StatusName, ToErrorRecord(e, target).CategoryInfo.Category),
            };
            return new ErrorRecord(e, id, category, target);
        }

        /// <summary>A failed call as an ErrorRecord: ErrorId per category, the offending parameter or the API as target.</summary>
        internal static ErrorRecord CallError(ApiInvocationException e)
        {
            object target = e.Category == ApiErrorCategory.Validation && e.ParameterErrors.Count > 0 ? e.ParameterErrors[0].Parameter : e.APIKey;
            var record = new ErrorRecord(e, e.ErrorId, e.PowerShellCategory, target);
            string? action = e.Category switch
            {
                ApiErrorCategory.Validation => "See the API's parameters with Get-ModuleAPIs, or check them first with Test-ModuleAPI.",
                ApiErrorCategory.NotFound => "List the registered APIs with Get-ModuleAPIs.",
                ApiErrorCategory.Timeout => "Allow more time with -Timeout, or make sure the runspace that registered the API reaches a checkpoint.",
                ApiErrorCategory.CircuitOpen => "Wait until the time the message gives, or reset the breaker with Reset-CircuitBreaker.",
                ApiErrorCategory.Authentication => "Pass a valid token with -AuthenticationToken (New-AuthenticationToken creates one).",
                ApiErrorCategory.Authorization => "Use a token of an allowed module whose scopes include api:call for this API.",
                ApiErrorCategory.CallDepthExceeded => "Give the handler that calls itself an end condition.",
                _ => null,
            };
            if (action != null) record.ErrorDetails = new ErrorDetails(e.Message) { RecommendedAction = action };
            return record;
        }

        /// <summary>
        /// Starts the bookkeeping of one call: $Context, the effective timeout. Parameters that name
        /// one parameter twice are refused by the call's first PowerShell stage, after the security
        /// check: a caller without a token learns nothing about the API.
        /// </summary>
        internal static ApiCallState StartCall(string module, string operation, IDictionary? parameters, TimeSpan? timeout, bool async)
        {
            ApiStage? handler = StageRegistry.FindHandler(module, operation);
            var requestId = Guid.NewGuid();
            ApiInvocationException? refused = null;
            Hashtable table = parameters == null
                ? new Hashtable(StringComparer.OrdinalIgnoreCase)
                : ApiSchemaBinding.CopyFirstWins(parameters, module + "." + operation, requestId, out refused);
            // As the caller spelled it (names compare case-insensitively): the registered spelling
            // would tell a caller that the security check refuses that the API exists.
            var context = new ApiContext(module, operation, table, requestId)
            {
                IsAsync = async,
                RefusedParameters = refused,
            };
            ApiCallState state = ApiCallState.Start(context);
            // A call made by a stage of an -Async call runs the way that call does, in the same pool
            // runspace: sent to the runspace that registered the API, it would wait for a caller
            // that may sit in Wait-Job, which never reaches a checkpoint.
            bool inPool = async || ApiContext.Current?.State is { RunInPool: true };
            TimeSpan? effective = timeout ?? handler?.DefaultTimeout;
            if (effective == null && !inPool && NeedsAnotherRunspace(handler, module, operation)) effective = ApiRunner.DefaultCrossRunspaceTimeout;
            state.SetTimeout(effective);
            state.RunInPool = inPool;
            state.ParentDepth = ApiRunner.AmbientDepth;
            return state;
        }

        /// <summary>True when a PowerShell stage of this API belongs to a runspace other than the caller's.</summary>
        private static bool NeedsAnotherRunspace(ApiStage? handler, string module, string operation)
        {
            if (handler != null && !ApiRunner.IsOwnerThread(handler.Owner)) return true;
            string key = module + "." + operation;
            foreach (ApiStage s in StageRegistry.All)
            {
                if (s.IsHandler || ApiRunner.IsOwnerThread(s.Owner)) continue;
                if (s.Scope == null || string.Equals(s.Scope, key, StringComparison.OrdinalIgnoreCase)) return true;
            }
            return false;
        }
    }

    /// <summary>Register-ModuleAPI: registers a module operation that Invoke-ModuleAPI can call.</summary>
    [Cmdlet(VerbsLifecycle.Register, "ModuleAPI", SupportsShouldProcess = true)]
    [OutputType(typeof(ApiInfo))]
    public sealed class RegisterModuleAPICommand : ApiRegistryCmdlet
    {
        /// <summary>The module that offers the operation.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string ModuleName { get; set; } = string.Empty;

        /// <summary>The operation's name (no dots).</summary>
        [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string APIName { get; set; } = string.Empty;

        /// <summary>Called with the parameters splatted by name: param($StepName, $Parameters).</summary>
        [Parameter(Mandatory = true, Position = 2)]
        public ScriptBlock Handler { get; set; } = null!;

        /// <summary>The schema: @{ Name = @{ Type; Required; Description; Default; ValidateSet; Pattern } }.</summary>
        [Parameter]
        public IDictionary? Parameters { get; set; }

        /// <summary>Free text.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        public string? Description { get; set; }

        /// <summary>Middleware for this API alone, called as param($Context, $Next), in the order given.</summary>
        [Parameter]
        [ValidateNotNull] // also each element: a null one failed after the API was registered
        public ScriptBlock[] Middleware { get; set; } = Array.Empty<ScriptBlock>();

        /// <summary>The timeout of calls that give none (seconds or TimeSpan).</summary>
        [Parameter]
        [SecondsTransformation(MaxSeconds = 86400, Positive = true)] // the core's limit: one day; 0 refused below
        public TimeSpan Timeout { get; set; }

        /// <summary>Replace an API of the same name (and the middleware added for it alone).</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            string key = ModuleName + "." + APIName;
            bool hasTimeout = MyInvocation.BoundParameters.ContainsKey(nameof(Timeout));
            if (hasTimeout && Timeout <= TimeSpan.Zero)
            {
                ThrowTerminatingError(NewError("InvalidTimeout", ErrorCategory.InvalidArgument, Timeout,
                    $"-Timeout must be positive; got {Timeout}.", "Give a number of seconds greater than 0, or leave -Timeout out."));
            }
            if (!ShouldProcess(key, Force ? "Register API (replacing an existing one)" : "Register API")) return;
            try
            {
                Registry.RegisterApi(this, ModuleName, APIName, Handler, Parameters, Description, hasTimeout ? Timeout : null, Force);
                for (int i = 0; i < Middleware.Length; i++)
                {
                    string name = $"{key}/{i + 1}";
                    Registry.AddMiddleware(this, name, Registry.DefaultMiddlewarePriority, Middleware[i], ModuleName, APIName, force: false,
                        described: $"-Middleware script {i + 1} of {key} (listed by Get-APIMiddleware as '{name}')");
                }
                WriteObject(Registry.DescribeApi(ModuleName, APIName));
            }
            catch (ModuleCommunicationException e)
            {
                ThrowTerminatingError(RegistryError(e, (McStatus)e.Status == McStatus.InvalidArgument ? Parameters ?? (object)key : key));
            }
            catch (ArgumentException e)
            {
                ThrowTerminatingError(new ErrorRecord(e, "InvalidParameterSchema", ErrorCategory.InvalidArgument, Parameters));
            }
        }
    }

    /// <summary>Unregister-ModuleAPI: removes an API (and the middleware added for it alone).</summary>
    [Cmdlet(VerbsLifecycle.Unregister, "ModuleAPI", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(ApiUnregisterResult))]
    public sealed class UnregisterModuleAPICommand : ApiRegistryCmdlet
    {
        /// <summary>The API's module.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ApiModuleNameCompleter))]
        public string ModuleName { get; set; } = string.Empty;

        /// <summary>The API's operation.</summary>
        [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ApiNameCompleter))]
        public string APIName { get; set; } = string.Empty;

        /// <summary>Do not ask for confirmation.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            string key = ModuleName + "." + APIName;
            if (!ShouldProceed(Force, key, "Unregister API")) return;
            try
            {
                long removed = Registry.Unregister(ModuleName, APIName);
                WriteObject(new ApiUnregisterResult { Success = true, APIKey = key, MiddlewareRemoved = removed });
            }
            catch (ModuleCommunicationException e)
            {
                WriteError(RegistryError(e, key));
            }
        }
    }

    /// <summary>Get-ModuleAPIs: lists registered APIs with their schema and counters.</summary>
    [Cmdlet(VerbsCommon.Get, "ModuleAPIs")]
    [OutputType(typeof(ApiInfo))]
    public sealed class GetModuleAPIsCommand : ApiRegistryCmdlet
    {
        /// <summary>Module name or -like pattern (default: all).</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(ApiModuleNameCompleter))]
        public string ModuleName { get; set; } = "*";

        /// <summary>Operation name or -like pattern (default: all).</summary>
        [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(ApiNameCompleter))]
        public string APIName { get; set; } = "*";

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            try
            {
                List<ApiInfo> apis = Registry.ListApis(ModuleName, APIName);
                bool plainModule = !WildcardPattern.ContainsWildcardCharacters(ModuleName);
                if (apis.Count == 0 && plainModule && !WildcardPattern.ContainsWildcardCharacters(APIName))
                {
                    WriteError(NewError("APINotFound", ErrorCategory.ObjectNotFound, ModuleName + "." + APIName,
                        $"API '{ModuleName}.{APIName}' is not registered.", "List the registered APIs with Get-ModuleAPIs."));
                    return;
                }
                // A plain module name asks for that module: a typo must not read as "no APIs".
                if (apis.Count == 0 && plainModule && APIName == "*")
                {
                    WriteError(NewError("APINotFound", ErrorCategory.ObjectNotFound, ModuleName,
                        $"Module '{ModuleName}' has no registered API.", "List the registered APIs with Get-ModuleAPIs."));
                    return;
                }
                foreach (ApiInfo a in apis) WriteObject(a);
            }
            catch (ModuleCommunicationException e)
            {
                WriteError(RegistryError(e, ModuleName + "." + APIName));
            }
        }
    }

    /// <summary>
    /// Invoke-ModuleAPI: calls an API through its middleware and parameter validation, and returns
    /// the handler's output as it is. -Async returns a job instead.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Invoke, "ModuleAPI", DefaultParameterSetName = SyncSet)]
    [OutputType(typeof(object), ParameterSetName = new[] { SyncSet })]
    [OutputType(typeof(ApiJob), ParameterSetName = new[] { AsyncSet })]
    public sealed class InvokeModuleAPICommand : ApiRegistryCmdlet
    {
        private const string SyncSet = "Sync";
        private const string AsyncSet = "Async";
        private ApiCallState? _running;

        /// <summary>The API's module.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [Alias("ModuleName")]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ApiModuleNameCompleter))]
        public string Module { get; set; } = string.Empty;

        /// <summary>The API's operation.</summary>
        [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
        [Alias("APIName")]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ApiNameCompleter))]
        public string Operation { get; set; } = string.Empty;

        /// <summary>The parameters, by name; validated against the API's schema.</summary>
        [Parameter(Position = 2)]
        public IDictionary? Parameters { get; set; }

        /// <summary>Stop the call and fail with a timeout after this long (seconds or TimeSpan).</summary>
        [Parameter]
        [SecondsTransformation(MaxSeconds = 86400, Positive = true)] // the core's limit: one day; 0 refused below
        public TimeSpan Timeout { get; set; }

        /// <summary>Return a job at once; the call runs on the module's runspace pool.</summary>
        [Parameter(Mandatory = true, ParameterSetName = AsyncSet)]
        public SwitchParameter Async { get; set; }

        /// <summary>A token from New-AuthenticationToken, checked while security is enabled.</summary>
        [Parameter]
        public string? AuthenticationToken { get; set; }

        /// <summary>Retries after the first attempt for retryable failures (default: the retry policy's MaxRetries).</summary>
        [Parameter]
        [ValidateRange(0, 100)]
        public int RetryAttempts { get; set; }

        /// <summary>The API's circuit breaker guards the call (the default); -EnableCircuitBreaker:$false turns it off for this call.</summary>
        [Parameter]
        public SwitchParameter EnableCircuitBreaker { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            bool hasTimeout = MyInvocation.BoundParameters.ContainsKey(nameof(Timeout));
            if (hasTimeout && Timeout <= TimeSpan.Zero)
            {
                ThrowTerminatingError(NewError("InvalidTimeout", ErrorCategory.InvalidArgument, Timeout,
                    $"-Timeout must be positive; got {Timeout}.", "Give a number of seconds greater than 0, or leave -Timeout out."));
            }
            ApiCallState state;
            try
            {
                state = StartCall(Module, Operation, Parameters, hasTimeout ? Timeout : null, Async);
            }
            catch (ApiInvocationException e)
            {
                ThrowTerminatingError(CallError(e));
                return;
            }
            state.AuthenticationToken = AuthenticationToken;
            if (MyInvocation.BoundParameters.ContainsKey(nameof(RetryAttempts))) state.RetryAttempts = RetryAttempts;
            if (MyInvocation.BoundParameters.ContainsKey(nameof(EnableCircuitBreaker))) state.CircuitBreaker = EnableCircuitBreaker.IsPresent;
            if (Async)
            {
                StartJob(state);
                return;
            }
            _running = state;
            try
            {
                object? result = ApiRunner.Invoke(state, this);
                if (result != null) WriteObject(result, enumerateCollection: state.ResultIsList);
            }
            catch (ApiInvocationException e)
            {
                ThrowTerminatingError(CallError(e));
            }
            catch (ArgumentException e)
            {
                ThrowTerminatingError(new ErrorRecord(e, "InvalidParameterData", ErrorCategory.InvalidData, Parameters));
            }
            finally
            {
                _running = null;
                state.End();
            }
        }

        /// <inheritdoc/>
        protected override void StopProcessing() => _running?.Cancel();

        private void StartJob(ApiCallState state)
        {
            var job = new ApiJob(state, $"Invoke-ModuleAPI -Module {state.Context.Module} -Operation {state.Context.Operation} -Async");
            try
            {
                var definition = new JobDefinition(typeof(ModuleCommunicationApiJobSourceAdapter), job.Command, job.Name);
                var parameters = new Dictionary<string, object> { ["NewJob"] = job };
                JobManager.NewJob(new JobInvocationInfo(definition, parameters));
                job.StartJob();
                WriteObject(job);
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                state.End();
                ThrowTerminatingError(new ErrorRecord(e, "APIJobNotStarted", ErrorCategory.ResourceUnavailable, job.Name));
            }
        }
    }

    /// <summary>Test-ModuleAPI: validates parameters and invokes the API, reporting success, duration and result or errors.</summary>
    [Cmdlet(VerbsDiagnostic.Test, "ModuleAPI")]
    [OutputType(typeof(ApiTestResult))]
    public sealed class TestModuleAPICommand : ApiRegistryCmdlet
    {
        private ApiCallState? _running;

        /// <summary>The API's module.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ApiModuleNameCompleter))]
        public string ModuleName { get; set; } = string.Empty;

        /// <summary>The API's operation.</summary>
        [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ApiNameCompleter))]
        public string APIName { get; set; } = string.Empty;

        /// <summary>The parameters to test with.</summary>
        [Parameter(Position = 2)]
        [Alias("Parameters")]
        public IDictionary? TestParameters { get; set; }

        /// <summary>Timeout of the test call (seconds or TimeSpan).</summary>
        [Parameter]
        [SecondsTransformation(MaxSeconds = 86400)] // the core's limit: one day
        public TimeSpan Timeout { get; set; }

        /// <summary>A token for the security check, while security is enabled.</summary>
        [Parameter]
        public string? AuthenticationToken { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            string key = ModuleName + "." + APIName;
            var watch = Stopwatch.StartNew();
            ApiTestResult Failed(ApiErrorCategory category, IEnumerable<string> errors) => new()
            {
                APIKey = key,
                Success = false,
                Duration = watch.Elapsed,
                Errors = new List<string>(errors).ToArray(),
                ErrorCategory = category,
            };
            try
            {
                List<ApiParameterError> invalid = Registry.Validate(ModuleName, APIName, TestParameters, AuthenticationToken);
                if (invalid.Count > 0)
                {
                    WriteObject(Failed(ApiErrorCategory.Validation, invalid.ConvertAll(e => e.Message)));
                    return;
                }
            }
            catch (ModuleCommunicationException e)
            {
                ApiErrorCategory category = (McStatus)e.Status switch
                {
                    McStatus.ApiNotFound => ApiErrorCategory.NotFound,
                    McStatus.AuthenticationFailed => ApiErrorCategory.Authentication,
                    McStatus.AuthorizationFailed => ApiErrorCategory.Authorization,
                    _ => ApiErrorCategory.Validation,
                };
                WriteObject(Failed(category, new[] { e.Message }));
                return;
            }
            catch (ArgumentException e)
            {
                WriteObject(Failed(ApiErrorCategory.Validation, new[] { e.Message }));
                return;
            }
            bool hasTimeout = MyInvocation.BoundParameters.ContainsKey(nameof(Timeout)) && Timeout > TimeSpan.Zero;
            ApiCallState state;
            try
            {
                state = StartCall(ModuleName, APIName, TestParameters, hasTimeout ? Timeout : null, async: false);
            }
            catch (ApiInvocationException e)
            {
                WriteObject(Failed(e.Category, new List<ApiParameterError>(e.ParameterErrors).ConvertAll(p => p.Message)));
                return;
            }
            state.AuthenticationToken = AuthenticationToken;
            // One attempt: a test reports the first failure instead of retrying past it, and
            // -Timeout bounds the whole test call.
            state.RetryAttempts = 0;
            _running = state;
            try
            {
                object? result = ApiRunner.Invoke(state, this);
                WriteObject(new ApiTestResult { APIKey = state.Context.APIKey, Success = true, Duration = watch.Elapsed, Result = result });
            }
            catch (ApiInvocationException e)
            {
                var errors = new List<string>();
                foreach (ApiParameterError p in e.ParameterErrors) errors.Add(p.Message);
                if (errors.Count == 0) errors.Add(e.Message);
                WriteObject(Failed(e.Category, errors));
            }
            finally
            {
                _running = null;
                state.End();
            }
        }

        /// <inheritdoc/>
        protected override void StopProcessing() => _running?.Cancel();
    }
}
