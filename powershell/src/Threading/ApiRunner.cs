using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Text.Json;
using System.Threading;
using ModuleCommunication.Core;
using ModuleCommunication.Native;
using ModuleCommunication.Serialization;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// Runs API calls and their PowerShell stages (docs/threading.md, "API calls").
    ///
    /// The native core drives the pipeline and calls back on the thread that runs it. A stage's
    /// script block runs:
    /// <list type="bullet">
    /// <item>inline, when that thread is the pipeline thread of the runspace that registered it;</item>
    /// <item>re-created from its text in the current pool runspace, for an -Async call and the calls its stages make;</item>
    /// <item>otherwise on its owner's thread: posted to the owner's <see cref="RunspaceDispatcher"/>,
    /// which runs it at the owner's next checkpoint or pump, while this thread waits (running its
    /// own runspace's posted work meanwhile) until the call's deadline.</item>
    /// </list>
    /// Exceptions never cross native frames: each callback catches, records and returns a status,
    /// and stops or exits are rethrown once the native call has returned.
    /// </summary>
    internal static unsafe class ApiRunner
    {
        /// <summary>The timeout of a call that must run in another runspace and gives no timeout.</summary>
        public static readonly TimeSpan DefaultCrossRunspaceTimeout = TimeSpan.FromSeconds(30);

        /// <summary>How long past the deadline a waiter gives the owner to report that it stopped the stage.</summary>
        private static readonly TimeSpan s_stopGrace = TimeSpan.FromMilliseconds(500);

        private const string RunCallScript = "param([UInt64] $Tag) [ModuleCommunication.Threading.EntryPoints]::RunApiCall($Tag)";

        /// <summary>The depth of the call whose stage runs on this thread now (0: none).</summary>
        [ThreadStatic] private static uint t_depth;

        public static uint AmbientDepth => t_depth;

        // ----- starting calls --------------------------------------------------------------------

        /// <summary>
        /// Invokes synchronously on the calling (pipeline) thread; returns the handler's output or
        /// throws <see cref="ApiInvocationException"/> (or the stop/exit a stage met).
        /// </summary>
        public static object? Invoke(ApiCallState state, PSCmdlet? cmdlet)
        {
            state.Cmdlet = cmdlet;
            state.CmdletRunspace = Runspace.DefaultRunspace;
            try
            {
                // A call that may retry runs each attempt in a stoppable pipeline of its own (RunAttempt).
                if (state.HasDeadline && !state.AttemptScoped) RunStoppable(state, cmdlet);
                else RunCall(state);
            }
            finally
            {
                state.Cmdlet = null;
            }
            // A handler's Write-Error in the runspace that registered it, passed back as if inline.
            while (state.ForeignErrors.TryDequeue(out ErrorRecord? error)) cmdlet?.WriteError(error);
            return Outcome(state);
        }

        /// <summary>Entry point of the nested pipeline (timed calls) and of -Async jobs.</summary>
        public static object? RunCallEntry(ulong tag)
        {
            if (!ApiCallState.TryGet(tag, out ApiCallState? state))
            {
                throw new InvalidOperationException($"API call {tag} is not known; it has ended already.");
            }
            state.MarkStarted();
            // A timed call runs here in the caller's own runspace, which is not one of the pool's.
            if (state.RunInPool) AsyncHandlerPool.NoteMember();
            RunCall(state);
            // Failures are read from the state by the caller (the job, or Invoke); a throw here would
            // only become a second, wrapped error record.
            return state.RunInPool && state.Status == McStatus.Ok && !state.TimedOut ? state.ResultForPipeline : null;
        }

        /// <summary>The error of a finished call, or null when it succeeded (for -Async jobs).</summary>
        public static Exception? Failure(ApiCallState state)
        {
            try
            {
                Outcome(state);
                return null;
            }
            catch (Exception e)
            {
                return e;
            }
        }

        /// <summary>Runs the call inside a nested pipeline that a timer stops at the deadline.</summary>
        private static void RunStoppable(ApiCallState state, PSCmdlet? cmdlet)
        {
            using PowerShell ps = PowerShell.Create(RunspaceMode.CurrentRunspace);
            ps.AddScript(RunCallScript, useLocalScope: true).AddArgument(state.Tag);
            if (!state.AttachStoppable(ps))
            {
                state.TimedOut = true;
                return;
            }
            using (var timer = new Timer(_ => state.FireTimeout(), null, state.Remaining ?? TimeSpan.Zero, Timeout.InfiniteTimeSpan))
            {
                state.InNestedPipeline = true;
                try
                {
                    ps.Invoke();
                }
                catch (PipelineStoppedException) when (state.TimedOut)
                {
                    // Our deadline stopped it; the outcome says Timeout.
                }
                catch (RuntimeException) when (state.Error != null || state.Status != McStatus.Ok)
                {
                    // Recorded already.
                }
                finally
                {
                    state.InNestedPipeline = false;
                    state.DetachStoppable();
                }
            }
            if (cmdlet != null) ForwardStreams(ps, cmdlet);
        }

        /// <summary>
        /// Non-terminating errors of the nested pipeline become the cmdlet's own. Warnings, verbose,
        /// debug and information messages were already shown by the host the nested pipeline shares;
        /// forwarding them would show them twice.
        /// </summary>
        private static void ForwardStreams(PowerShell ps, PSCmdlet cmdlet)
        {
            foreach (ErrorRecord e in ps.Streams.Error) cmdlet.WriteError(e);
        }

        /// <summary>P/Invokes mc_api_invoke for the call and records the outcome. Never throws for the call's own failure.</summary>
        private static void RunCall(ApiCallState state)
        {
            McStatus status;
            byte* result;
            JsonBuffer buffer = JsonBuffer.Rent();
            try
            {
                WriteRequest(buffer.Writer, state);
                ReadOnlySpan<byte> request = buffer.Written;
                fixed (byte* p = request)
                {
                    status = NativeMethods.mc_api_invoke_cancellable(ModuleHub.Handle, p, (nuint)request.Length, state.CancelFlag, out result, out _);
                }
            }
            finally
            {
                buffer.Release();
            }
            state.Status = status;
            if (status == McStatus.Ok)
            {
                NativeMethods.mc_string_free(result);
                return;
            }
            state.Error = ErrorFromNative(state, status);
        }

        private static void WriteRequest(Utf8JsonWriter w, ApiCallState state)
        {
            ApiContext c = state.Context;
            w.WriteStartObject();
            w.WriteString("module", c.Module);
            w.WriteString("operation", c.Operation);
            DataCodec.WriteProperty(w, "parameters", c.Parameters ?? new Hashtable());
            if (state.TimeoutMs.HasValue) w.WriteNumber("timeoutMs", state.TimeoutMs.Value);
            w.WriteNumber("tag", state.Tag);
            uint depth = Math.Max(t_depth, state.ParentDepth);
            if (depth > 0) w.WriteNumber("depth", depth);
            w.WriteString("requestId", c.RequestId);
            if (state.AuthenticationToken != null) w.WriteString("authenticationToken", state.AuthenticationToken);
            if (state.RetryAttempts.HasValue) w.WriteNumber("retryAttempts", state.RetryAttempts.Value);
            if (state.CircuitBreaker.HasValue) w.WriteBoolean("circuitBreaker", state.CircuitBreaker.Value);
            w.WriteEndObject();
        }

        /// <summary>Turns the recorded outcome into the result, or throws.</summary>
        private static object? Outcome(ApiCallState state)
        {
            if (state.Status == McStatus.Ok && !state.TimedOut) return state.Result;
            if (state.FlowControl != null && !state.TimedOut) state.FlowControl.Throw();
            if (state.TimedOut && (state.Error == null || state.Error.Category != ApiErrorCategory.Timeout))
            {
                state.Error = new ApiInvocationException(ApiErrorCategory.Timeout, state.Context.APIKey,
                    state.TimeoutMessage("the call"), Array.Empty<ApiParameterError>(), null) { RequestId = state.Context.RequestId };
            }
            throw state.Error ?? new ApiInvocationException(ApiErrorCategory.HandlerFailed, state.Context.APIKey,
                $"{state.Context.APIKey} failed with status {state.Status}.", Array.Empty<ApiParameterError>(), state.FirstFailure);
        }

        /// <summary>The error of the last failed mc_api_invoke / mc_api_next on this thread, from its details JSON.</summary>
        private static ApiInvocationException ErrorFromNative(ApiCallState state, McStatus status)
        {
            ApiErrorCategory category = CategoryOf(status);
            string message = string.Empty;
            var parameters = new List<ApiParameterError>();
            if (NativeMethods.mc_api_error_details(out byte* json) == McStatus.Ok && json != null)
            {
                using JsonDocument doc = CoreJson.Parse(NativeString.Take(json));
                JsonElement root = doc.RootElement;
                if (Enum.TryParse(root.GetProperty("category").GetString(), out ApiErrorCategory c)) category = c;
                message = Status.ForPowerShell(root.GetProperty("message").GetString() ?? string.Empty);
                foreach (JsonElement p in root.GetProperty("parameters").EnumerateArray())
                {
                    parameters.Add(new ApiParameterError(p.GetProperty("parameter").GetString()!, Status.ForPowerShell(p.GetProperty("message").GetString()!)));
                }
            }
            else
            {
                message = Status.ToException(status).Message;
            }
            if (parameters.Count == 0 && state.PassedThrough is { } passed && passed.Category == category)
            {
                parameters.AddRange(passed.ParameterErrors);
            }
            return new ApiInvocationException(category, state.Context.APIKey, message, parameters,
                category == ApiErrorCategory.HandlerFailed ? state.FirstFailure : null) { RequestId = state.Context.RequestId };
        }

        public static ApiErrorCategory CategoryOf(McStatus status) => status switch
        {
            McStatus.ValidationFailed => ApiErrorCategory.Validation,
            McStatus.ApiNotFound => ApiErrorCategory.NotFound,
            McStatus.AuthenticationFailed => ApiErrorCategory.Authentication,
            McStatus.AuthorizationFailed => ApiErrorCategory.Authorization,
            McStatus.Timeout => ApiErrorCategory.Timeout,
            McStatus.CircuitOpen => ApiErrorCategory.CircuitOpen,
            McStatus.Unavailable => ApiErrorCategory.Unavailable,
            McStatus.CallDepthExceeded => ApiErrorCategory.CallDepthExceeded,
            McStatus.Cancelled => ApiErrorCategory.Cancelled,
            _ => ApiErrorCategory.HandlerFailed,
        };

        public static McStatus StatusOf(ApiErrorCategory category) => category switch
        {
            ApiErrorCategory.Validation => McStatus.ValidationFailed,
            ApiErrorCategory.NotFound => McStatus.ApiNotFound,
            ApiErrorCategory.Authentication => McStatus.AuthenticationFailed,
            ApiErrorCategory.Authorization => McStatus.AuthorizationFailed,
            ApiErrorCategory.Timeout => McStatus.Timeout,
            ApiErrorCategory.CircuitOpen => McStatus.CircuitOpen,
            ApiErrorCategory.Unavailable => McStatus.Unavailable,
            ApiErrorCategory.CallDepthExceeded => McStatus.CallDepthExceeded,
            ApiErrorCategory.Cancelled => McStatus.Cancelled,
            _ => McStatus.HandlerFailed,
        };

        /// <summary>Records a stage's error on the native call and returns its status.</summary>
        public static uint Fail(ulong call, ApiErrorCategory category, string message)
        {
            McStatus status = StatusOf(category);
            NativeMethods.mc_api_call_set_error(call, (uint)status, message);
            return (uint)status;
        }

        // ----- stages ----------------------------------------------------------------------------

        /// <summary>True on the pipeline thread of <paramref name="owner"/> (notes §2.5).</summary>
        public static bool IsOwnerThread(Runspace owner) => Runspace.DefaultRunspace == owner && Runspace.CanUseDefaultRunspace;

        public static uint RunStage(ApiStage stage, ApiCallState state, ulong call)
        {
            if (state.Cancelled) return Fail(call, ApiErrorCategory.Cancelled, $"{state.Context.APIKey}: the call was stopped.");
            if (NativeMethods.mc_api_call_attempt(call, out uint attempt) == McStatus.Ok) state.Context.Attempt = (int)attempt;
            if (state.AuthenticationToken != null && !state.UserFetched)
            {
                state.Context.User ??= NativeUser(call);
                state.UserFetched = true;
            }
            if (state.AttemptScoped && !state.InAttempt)
            {
                // The first PowerShell stage of an attempt: a new attempt restarts the clock.
                if (attempt != state.Attempt) state.BeginAttempt(attempt);
                if (state.RunInPool || IsOwnerThread(stage.Owner)) return RunAttempt(stage, state, call);
            }
            if (state.RunInPool) return RunHere(stage, state, call, recreate: true);
            if (IsOwnerThread(stage.Owner)) return RunHere(stage, state, call, recreate: false);
            return Marshal(stage, state, call);
        }

        /// <summary>Runs the stage's script block on this thread.</summary>
        public static uint RunHere(ApiStage stage, ApiCallState state, ulong call, bool recreate)
        {
            ApiContext ctx = state.Context;
            uint previousDepth = t_depth;
            ApiContext? previousContext = ApiContext.Current;
            ScriptBlock? block = null;
            try
            {
                if (NativeMethods.mc_api_call_depth(call, out uint depth) == McStatus.Ok)
                {
                    ctx.Depth = (int)depth;
                    t_depth = depth;
                }
                RunspaceScripts scripts = RunspaceScripts.Current;
                block = recreate ? scripts.Recreate(stage) : stage.Block;
                // Directly in the calling cmdlet's pipeline, the stage's non-terminating errors are
                // captured and written by the cmdlet; elsewhere they go to the stage's own error stream.
                PSCmdlet? writer = CanCaptureErrors && state.Cmdlet != null && !state.InNestedPipeline
                                   && ReferenceEquals(Runspace.DefaultRunspace, state.CmdletRunspace)
                    ? state.Cmdlet
                    : null;
                ApiContext.SetCurrent(ctx);
                if (ctx.RefusedParameters is { } refused)
                {
                    state.PassedThrough = refused; // the caller gets it whole, with its ParameterErrors
                    return Fail(call, refused.Category, refused.Message);
                }
                if (stage.IsHandler)
                {
                    Hashtable splat = stage.Binding != null ? stage.Binding.Bind(ctx) : ApiSchemaBinding.CopyForHandler(ctx);
                    if (stage.WantsContext && !splat.ContainsKey("Context")) splat["Context"] = ctx;
                    if (stage.MissingMandatory(splat) is { } missing)
                    {
                        // PowerShell would prompt for them on the caller's host, and the call would
                        // wait for someone to type, past its timeout. The caller's mistake, as a
                        // value the handler's param() refuses (below).
                        return Fail(call, ApiErrorCategory.Validation,
                            $"{Capitalize(stage.Name)} did not run: missing mandatory parameters: {missing}. Give them in -Parameters.");
                    }
                    state.Result = null;
                    ScriptBlock runner = writer != null ? scripts.SplatCapturingErrors : scripts.Splat;
                    // In the pool (-Async), a handler blocked in a .NET wait must not keep pwsh from exiting.
                    bool watched = state.RunInPool && PoolInterrupts.Enter();
                    Collection<PSObject> output;
                    try
                    {
                        output = runner.InvokeWithContext(null, null, block, splat);
                    }
                    finally
                    {
                        if (watched) PoolInterrupts.Leave();
                    }
                    Shape(state, output, writer);
                }
                else
                {
                    ctx.Frames.Push(call);
                    try
                    {
                        state.Result = null;
                        Collection<PSObject> output = writer != null
                            ? scripts.CallCapturingErrors.InvokeWithContext(null, null, block, ctx, scripts.Next)
                            : block.InvokeWithContext(null, null, ctx, scripts.Next);
                        Shape(state, output, writer);
                    }
                    finally
                    {
                        ctx.Frames.Pop();
                    }
                }
                return (uint)McStatus.Ok;
            }
            catch (Exception e) when (IsLoopControl(e))
            {
                // break, continue or exit outside a loop of the stage's own: the stage failed, as
                // with message handlers; rethrown, it would end the caller's loop or script (exit
                // ends pwsh -File), which a module calling another's API must never suffer.
                return Fail(call, ApiErrorCategory.HandlerFailed, $"{Capitalize(stage.Name)} failed: {HandlerInvoker.LoopControlMessage}");
            }
            catch (Exception e) when (IsFlowControl(e))
            {
                if (e is PipelineStoppedException && !StopIsTheCallers(state))
                {
                    // The owner's pipeline was stopped (its own Ctrl+C): rethrown in the caller, the
                    // stop would end the caller's script, which nobody stopped.
                    return Fail(call, ApiErrorCategory.HandlerFailed,
                        $"{Capitalize(stage.Name)} was stopped: the runspace that registered it ({stage.Owner.InstanceId}) stopped its pipeline while it ran.");
                }
                state.FlowControl ??= ExceptionDispatchInfo.Capture(e);
                return state.TimedOut || state.DeadlinePassed
                    ? Fail(call, ApiErrorCategory.Timeout, state.TimeoutMessage(stage.Name))
                    : Fail(call, state.Cancelled || e is PipelineStoppedException ? ApiErrorCategory.Cancelled : ApiErrorCategory.HandlerFailed,
                        $"{stage.Name} was stopped ({e.GetType().Name}).");
            }
            catch (Exception e)
            {
                ApiInvocationException? api = FindApiException(e);
                if (api != null && (api.RequestId == ctx.RequestId || api.Category == ApiErrorCategory.CallDepthExceeded))
                {
                    // An error of the rest of this call, rethrown by a middleware (or passed through):
                    // or the nesting limit, which concerns the whole chain. Either passes on unchanged.
                    state.PassedThrough = api;
                    return Fail(call, api.Category, api.Message);
                }
                if (state.Cancelled)
                {
                    // The caller stopped the call (Stop-Job, Ctrl+C) while the stage ran: what the
                    // stop broke (a module PowerShell was loading for a command, say) is no failure
                    // of the API, and the circuit breaker must not count it.
                    return Fail(call, ApiErrorCategory.Cancelled, $"{stage.Name} was stopped ({e.GetType().Name}).");
                }
                state.FirstFailure ??= e;
                if (stage.IsHandler && IsBindingOf(e, block))
                {
                    // The handler's own param() refused the values ([int] given 'abc', a
                    // ValidateRange): the caller's mistake, which the circuit breaker does not count.
                    return Fail(call, ApiErrorCategory.Validation, $"{Capitalize(stage.Name)} did not run: {Describe(e)}");
                }
                bool notFound = e is CommandNotFoundException || (e as RuntimeException)?.ErrorRecord?.Exception is CommandNotFoundException;
                string hint = recreate && notFound ? " (" + ApiJob.PoolHint + ")" : string.Empty;
                ApiErrorCategory category = Classify(e) ?? ApiErrorCategory.HandlerFailed;
                return Fail(call, category, $"{Capitalize(stage.Name)} failed: {Describe(e)}{hint}");
            }
            finally
            {
                t_depth = previousDepth;
                ApiContext.SetCurrent(previousContext);
            }
        }

        /// <summary>Whether <paramref name="e"/> is PowerShell's refusal to bind <paramref name="handler"/>'s own parameters (not a command's inside it).</summary>
        private static bool IsBindingOf(Exception e, ScriptBlock? handler)
        {
            for (Exception? x = e; x != null && handler != null; x = x.InnerException)
            {
                if (x is ParameterBindingException binding)
                {
                    // A plain script block is a ScriptInfo; an advanced one ([CmdletBinding()], [Parameter()]) a FunctionInfo.
                    ScriptBlock? bound = binding.ErrorRecord?.InvocationInfo?.MyCommand switch
                    {
                        ScriptInfo script => script.ScriptBlock,
                        FunctionInfo function => function.ScriptBlock,
                        _ => null,
                    };
                    return ReferenceEquals(bound, handler);
                }
            }
            return false;
        }

        /// <summary>
        /// The category a handler's exception chooses by its type, not its message:
        /// <see cref="ApiErrorException"/> says it outright; TimeoutException, or an error record of
        /// category OperationTimeout, is Timeout; SocketException, HttpRequestException,
        /// WebException, or an error record of category ConnectionError, ResourceBusy or
        /// ResourceUnavailable, is Unavailable. Null: a plain handler failure. Failures of nested
        /// API calls are not looked into (they retried on their own).
        /// </summary>
        internal static ApiErrorCategory? Classify(Exception? e)
        {
            for (int i = 0; e != null && i < 16; i++)
            {
                switch (e)
                {
                    case ApiErrorException chosen:
                        return chosen.Category;
                    case ApiInvocationException:
                        return null;
                    case TimeoutException:
                        return ApiErrorCategory.Timeout;
                    case System.Net.Sockets.SocketException:
                    case System.Net.Http.HttpRequestException:
#pragma warning disable SYSLIB0014 // WebException: still what older network code throws
                    case System.Net.WebException:
#pragma warning restore SYSLIB0014
                        return ApiErrorCategory.Unavailable;
                }
                if (e is RuntimeException r && r.ErrorRecord != null)
                {
                    switch (r.ErrorRecord.CategoryInfo.Category)
                    {
                        case ErrorCategory.OperationTimeout:
                            return ApiErrorCategory.Timeout;
                        case ErrorCategory.ConnectionError:
                        case ErrorCategory.ResourceBusy:
                        case ErrorCategory.ResourceUnavailable:
                            return ApiErrorCategory.Unavailable;
                    }
                    // A MethodInvocationException (a .NET method's exception in script) has a record
                    // whose Exception is a ParentContainsErrorRecordException, which holds nothing:
                    // the thrown exception is its InnerException.
                    if (r.ErrorRecord.Exception != null && !ReferenceEquals(r.ErrorRecord.Exception, e)
                        && r.ErrorRecord.Exception is not ParentContainsErrorRecordException)
                    {
                        e = r.ErrorRecord.Exception;
                        continue;
                    }
                }
                e = e.InnerException;
            }
            return null;
        }

        private static string Capitalize(string s) => s.Length > 0 ? char.ToUpperInvariant(s[0]) + s.Substring(1) : s;

        /// <summary>
        /// Output as `$x = &amp; $block` would give it: nothing, one object, or an array. With a
        /// <paramref name="writer"/>, error records that 2>&amp;1 merged into the output are written
        /// through it instead (PowerShell marks them with a writeErrorStream property).
        /// </summary>
        private static void Shape(ApiCallState state, Collection<PSObject> output, PSCmdlet? writer)
        {
            List<object>? items = null;
            foreach (PSObject o in output)
            {
                if (writer != null && o?.BaseObject is ErrorRecord error && IsMergedError(o))
                {
                    writer.WriteError(error);
                    continue;
                }
                (items ??= new List<object>(output.Count)).Add(o!);
            }
            state.ResultIsList = items != null && items.Count > 1;
            state.Result = items == null ? null : items.Count == 1 ? items[0] : items.ToArray();
        }

        // PowerShell 7 marks error records that 2>&1 merged into the output with the internal
        // PSObject.WriteStream (PowerShell 5 used a writeErrorStream note property). Without it the
        // errors are not captured at all (see CanCaptureErrors), never mistaken for output.
        private static readonly System.Reflection.PropertyInfo? s_writeStream =
            typeof(PSObject).GetProperty("WriteStream", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic);

        private static bool CanCaptureErrors => s_writeStream != null;

        private static bool IsMergedError(PSObject o)
        {
            try
            {
                return s_writeStream?.GetValue(o)?.ToString() == "Error";
            }
            catch
            {
                return false;
            }
        }

        /// <summary>
        /// Whether a stop of the running stage is the caller's own: its Ctrl+C or Stop-Job, its
        /// deadline (TimedOut is set before that stop), or a stage running in the caller's own
        /// pipeline (inline, or an -Async job's).
        /// </summary>
        private static bool StopIsTheCallers(ApiCallState state)
            => state.Cancelled || state.TimedOut || state.RunInPool
               || ReferenceEquals(Runspace.DefaultRunspace, state.CmdletRunspace);

        /// <summary>A stop (Ctrl+C, a timeout) or runaway recursion: rethrown once the native call has returned.</summary>
        private static bool IsFlowControl(Exception e)
            => e is PipelineStoppedException || e is ScriptCallDepthException || e.GetType().Name is "ReturnException";

        private static bool IsLoopControl(Exception e) => e.GetType().Name is "ExitException" or "BreakException" or "ContinueException";

        public static ApiInvocationException? FindApiException(Exception? e)
        {
            for (int i = 0; e != null && i < 16; i++)
            {
                if (e is ApiInvocationException api) return api;
                if (e is RuntimeException r && r.ErrorRecord?.Exception is ApiInvocationException inner && !ReferenceEquals(inner, e)) return inner;
                e = e.InnerException;
            }
            return null;
        }

        public static string Describe(Exception e)
        {
            Exception inner = e is MethodInvocationException && e.InnerException != null ? e.InnerException : e;
            if (inner is ThreadInterruptedException) return HandlerInvoker.InterruptedMessage;
            return inner is RuntimeException r && r.ErrorRecord != null ? r.ErrorRecord.ToString() : inner.Message;
        }

        // ----- attempts of a call that may retry ---------------------------------------------------

        private const string RunAttemptScript =
            "param([UInt64] $Tag, [Int64] $Key, [UInt64] $Call) [ModuleCommunication.Threading.EntryPoints]::RunApiAttempt($Tag, $Key, $Call)";

        /// <summary>
        /// Runs the first stage of an attempt (and, through $Next, the stages inside it) in a nested
        /// pipeline that a timer stops at the attempt's deadline. A stopped attempt fails with
        /// Timeout, which the native retry stage may retry in a fresh pipeline.
        /// </summary>
        private static uint RunAttempt(ApiStage stage, ApiCallState state, ulong call)
        {
            if (state.DeadlinePassed) return Fail(call, ApiErrorCategory.Timeout, state.TimeoutMessage(stage.Name));
            PowerShell ps;
            try
            {
                ps = PowerShell.Create(RunspaceMode.CurrentRunspace);
            }
            catch (InvalidOperationException)
            {
                // No nested pipeline possible here: run it directly (the deadline then applies at stage boundaries).
                return RunHere(stage, state, call, recreate: state.RunInPool);
            }
            using (ps)
            {
                ps.AddScript(RunAttemptScript, useLocalScope: true).AddArgument(state.Tag).AddArgument(stage.Key).AddArgument(call);
                if (!state.SwapStoppable(ps, out PowerShell? previous))
                {
                    return Fail(call, ApiErrorCategory.Timeout, state.TimeoutMessage(stage.Name));
                }
                bool wasNested = state.InNestedPipeline;
                state.InAttempt = true;
                state.InNestedPipeline = true;
                state.AttemptStatus = uint.MaxValue;
                try
                {
                    using var timer = new Timer(_ => state.FireTimeout(), null, state.Remaining ?? TimeSpan.Zero, Timeout.InfiniteTimeSpan);
                    try
                    {
                        ps.Invoke();
                    }
                    catch (Exception)
                    {
                        // Stopped at the deadline, or failed: the status records what happened.
                    }
                }
                finally
                {
                    state.InAttempt = false;
                    state.InNestedPipeline = wasNested;
                    state.RestoreStoppable(previous);
                }
                if (state.Cmdlet != null && !wasNested && ReferenceEquals(Runspace.DefaultRunspace, state.CmdletRunspace)) ForwardStreams(ps, state.Cmdlet);
                uint status = state.AttemptStatus;
                if (state.TimedOut && !state.Cancelled)
                {
                    // Our own stop, not the user's: it must not be rethrown after the call.
                    state.FlowControl = null;
                    if (status == (uint)McStatus.Ok || status == uint.MaxValue) status = Fail(call, ApiErrorCategory.Timeout, state.TimeoutMessage(stage.Name));
                }
                if (status == uint.MaxValue)
                {
                    status = Fail(call, ApiErrorCategory.HandlerFailed, $"{Capitalize(stage.Name)} did not run.");
                }
                return status;
            }
        }

        /// <summary>The user the native security stage gave the call (its token's User), if any.</summary>
        private static string? NativeUser(ulong call)
        {
            if (NativeMethods.mc_api_call_user(call, out byte* json) != McStatus.Ok) return null;
            string text = NativeString.Take(json);
            if (text.Length < 2 || text[0] != '"') return null;
            using JsonDocument doc = CoreJson.Parse(text);
            return doc.RootElement.GetString();
        }

        /// <summary>Entry of an attempt's nested pipeline.</summary>
        public static void RunAttemptEntry(ulong tag, long stageKey, ulong call)
        {
            if (!ApiCallState.TryGet(tag, out ApiCallState? state)) return;
            if (!StageRegistry.TryGet(stageKey, out ApiStage stage))
            {
                state.AttemptStatus = Fail(call, ApiErrorCategory.Unavailable, "The stage was removed while the call was running; invoke the API again.");
                return;
            }
            state.AttemptStatus = RunHere(stage, state, call, recreate: state.RunInPool);
        }

        // ----- another runspace's stage -----------------------------------------------------------

        private static uint Marshal(ApiStage stage, ApiCallState state, ulong call)
        {
            if (stage.Dispatcher.IsClosed)
            {
                return Fail(call, ApiErrorCategory.Unavailable,
                    $"{Capitalize(stage.Name)} cannot run: the runspace that registered it ({stage.Owner.InstanceId}) has closed. Register it again.");
            }
            if (!state.HasDeadline) state.SetTimeout(DefaultCrossRunspaceTimeout);
            var item = new ApiWorkItem(stage, state, call);
            if (!stage.Dispatcher.Post(item))
            {
                return Fail(call, ApiErrorCategory.Unavailable,
                    $"{Capitalize(stage.Name)} cannot run: the runspace that registered it ({stage.Owner.InstanceId}) has closed. Register it again.");
            }
            long waitUntil = state.Deadline + (long)(s_stopGrace.TotalSeconds * Stopwatch.Frequency);
            if (WaitPumping(item.Done, waitUntil, state)) return item.Status;
            if (state.Cancelled)
            {
                // Ctrl+C or Stop-Job: the caller stops now, not at the deadline; the stage is
                // not started, or is stopped in the owner's runspace.
                if (!item.TryCancelPending()) item.Stop(); // a stop, not a timeout: TimedOut stays false
                return Fail(call, ApiErrorCategory.Cancelled, $"{state.Context.APIKey}: the call was stopped.");
            }
            if (item.Cancel())
            {
                return Fail(call, ApiErrorCategory.Timeout,
                    $"{state.Context.APIKey}: {stage.Name} did not start within the call's timeout of {state.Timeout?.TotalMilliseconds:0.###} ms. "
                    + $"It runs in the runspace that registered it ({stage.Owner.InstanceId}), which runs it only at a checkpoint "
                    + "(a command, a loop iteration) or while it waits in Wait-ModuleMessage; that runspace is busy or blocked. "
                    + "Let it reach a checkpoint, or allow more time with -Timeout.");
            }
            // It started and was told to stop at the deadline but has not finished (blocked in a .NET call).
            return Fail(call, ApiErrorCategory.Timeout, state.TimeoutMessage(stage.Name) + " It was still running in its own runspace when the caller gave up.");
        }

        /// <summary>
        /// Waits for <paramref name="done"/> until the Stopwatch timestamp <paramref name="until"/>
        /// or until the call is cancelled, running the posted work of this thread's own runspace
        /// meanwhile, so that two runspaces calling each other's APIs do not deadlock.
        /// </summary>
        private static bool WaitPumping(ManualResetEventSlim done, long until, ApiCallState state)
        {
            RunspaceDispatcher? mine = Runspace.CanUseDefaultRunspace ? RunspaceDispatcher.Current : null;
            WaitHandle[] handles = mine != null
                ? new[] { done.WaitHandle, state.CancelledHandle, mine.WorkPosted }
                : new[] { done.WaitHandle, state.CancelledHandle };
            while (true)
            {
                mine?.RunPostedWork();
                if (done.IsSet) return true;
                if (state.Cancelled) return false;
                long left = until - Stopwatch.GetTimestamp();
                if (left <= 0) return done.IsSet;
                WaitHandle.WaitAny(handles, TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
            }
        }

        /// <summary>
        /// Runs a stage posted by another runspace's call on this (owner) thread, inside a nested
        /// pipeline a timer stops at the call's deadline.
        /// </summary>
        public static uint RunPosted(ApiWorkItem item)
        {
            ApiCallState state = item.State;
            if (state.DeadlinePassed) return Fail(item.Call, ApiErrorCategory.Timeout, state.TimeoutMessage(item.Stage.Name));
            PowerShell ps;
            try
            {
                ps = PowerShell.Create(RunspaceMode.CurrentRunspace);
            }
            catch (InvalidOperationException)
            {
                // No nested pipeline possible here: run it directly (a deadline then only cuts the wait).
                return RunHere(item.Stage, state, item.Call, recreate: false);
            }
            using (ps)
            {
                ps.AddScript("param([Int64] $Id) [ModuleCommunication.Threading.EntryPoints]::RunWorkItem($Id)", useLocalScope: true).AddArgument(item.Id);
                item.SetStoppable(ps);
                using var timer = new Timer(_ => item.StopAtDeadline(), null, state.Remaining ?? TimeSpan.Zero, Timeout.InfiniteTimeSpan);
                try
                {
                    ps.Invoke();
                }
                catch (Exception)
                {
                    // Stopped at the deadline, or failed: the status records what happened.
                }
                foreach (ErrorRecord error in ps.Streams.Error) state.ForeignErrors.Enqueue(error);
                if (item.Status == uint.MaxValue)
                {
                    item.Status = state.TimedOut
                        ? Fail(item.Call, ApiErrorCategory.Timeout, state.TimeoutMessage(item.Stage.Name))
                        : Fail(item.Call, ApiErrorCategory.HandlerFailed, $"{Capitalize(item.Stage.Name)} did not run.");
                }
                return item.Status;
            }
        }

        // ----- $Next -------------------------------------------------------------------------------

        /// <summary>A misuse of $Next, as an error with a stable ErrorId (what $Next's script rethrows keeps it).</summary>
        private static RuntimeException NextMisused(string errorId, ErrorCategory category, string message)
        {
            var inner = new InvalidOperationException(message);
            return new RuntimeException(message, inner, new ErrorRecord(inner, errorId, category, null));
        }

        /// <summary>The body of $Next: runs the rest of the pipeline and returns its output.</summary>
        public static object? Next(object? context)
        {
            ApiContext ctx = (context is PSObject p ? p.BaseObject : context) as ApiContext
                ?? throw NextMisused("NextNeedsContext", ErrorCategory.InvalidArgument,
                    "$Next takes the context the middleware received: call it as & $Next $Context.");
            ApiCallState state = ctx.State ?? throw NextMisused("NextAfterCallEnded", ErrorCategory.InvalidOperation,
                "This context's call has ended; $Next can only be called while its middleware runs.");
            if (ctx.Frames.Count == 0)
            {
                throw NextMisused("NextAfterMiddlewareReturned", ErrorCategory.InvalidOperation,
                    "$Next can only be called while its middleware runs, not after it returned.");
            }
            ulong frame = ctx.Frames.Peek();
            McStatus status;
            byte* result;
            state.Result = null;
            state.ResultIsList = false;
            JsonBuffer buffer = JsonBuffer.Rent();
            try
            {
                Utf8JsonWriter w = buffer.Writer;
                w.WriteStartObject();
                DataCodec.WriteProperty(w, "parameters", ctx.Parameters ?? new Hashtable());
                w.WriteEndObject();
                ReadOnlySpan<byte> update = buffer.Written;
                fixed (byte* u = update)
                {
                    status = NativeMethods.mc_api_next(frame, u, (nuint)update.Length, out result, out _);
                }
            }
            finally
            {
                buffer.Release();
            }
            if (status == McStatus.Ok)
            {
                NativeMethods.mc_string_free(result);
                return state.ResultForPipeline;
            }
            if (state.FlowControl != null) state.FlowControl.Throw();
            throw ErrorFromNative(state, status);
        }
    }

    /// <summary>
    /// Script blocks the API machinery needs in each runspace: the handler splatter, $Next, and
    /// (in pool runspaces) the stages re-created from their text. A script block must never run in
    /// a runspace other than the one it was made in, so each runspace makes its own.
    /// </summary>
    internal sealed class RunspaceScripts
    {
        private static readonly ConditionalWeakTable<Runspace, RunspaceScripts> s_table = new();

        // The try makes an exception end the handler (or middleware) and fail the call, whoever
        // calls: PowerShell ends a script block at a statement-terminating error (a .NET method's
        // exception, a handler whose own parameters cannot be bound) only when a try encloses it,
        // and otherwise writes the error and runs the next statement, so a call would succeed or
        // fail (and be retried) depending on whether the caller wrote try/catch around
        // Invoke-ModuleAPI. Message handlers, invoked straight from C#, already end there.
        // Non-terminating errors (Write-Error) stay non-terminating.
        public readonly ScriptBlock Splat = ScriptBlock.Create(
            "param($__mcHandler, $__mcParameters) try { & $__mcHandler @__mcParameters } catch { throw }");

        public readonly ScriptBlock SplatCapturingErrors = ScriptBlock.Create(
            "param($__mcHandler, $__mcParameters) try { & $__mcHandler @__mcParameters 2>&1 } catch { throw }");

        public readonly ScriptBlock CallCapturingErrors = ScriptBlock.Create(
            "param($__mcBlock, $__mcContext, $__mcNext) try { & $__mcBlock $__mcContext $__mcNext 2>&1 } catch { throw }");

        // Unwraps the MethodInvocationException PowerShell puts around .NET exceptions, so that a
        // middleware's catch sees the API error itself (ErrorId, category, message).
        public readonly ScriptBlock Next = ScriptBlock.Create(
            "param($Context) try { [ModuleCommunication.Threading.EntryPoints]::ApiNext($Context) } "
            + "catch [System.Management.Automation.MethodInvocationException] { throw $_.Exception.InnerException }");

        private readonly Dictionary<long, ScriptBlock> _recreated = new();

        [ThreadStatic] private static Runspace? t_runspace;
        [ThreadStatic] private static RunspaceScripts? t_scripts;

        public static RunspaceScripts Current
        {
            get
            {
                Runspace runspace = Runspace.DefaultRunspace ?? throw new InvalidOperationException("No runspace on this thread.");
                if (!ReferenceEquals(runspace, t_runspace) || t_scripts == null)
                {
                    t_scripts = s_table.GetValue(runspace, _ => new RunspaceScripts());
                    t_runspace = runspace;
                }
                return t_scripts;
            }
        }

        public ScriptBlock Recreate(ApiStage stage)
        {
            lock (_recreated)
            {
                if (!_recreated.TryGetValue(stage.Key, out ScriptBlock? block))
                {
                    block = ScriptBlock.Create(stage.Text);
                    _recreated[stage.Key] = block;
                }
                return block;
            }
        }
    }
}
