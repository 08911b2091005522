using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Threading;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// The job Invoke-ModuleAPI -Async returns: Wait-Job, Receive-Job (the handler's output),
    /// Stop-Job, Remove-Job and Get-Job work on it. The whole call (middleware and handler) runs on
    /// the module's runspace pool, each script block re-created from its text there, so it runs
    /// while the caller's thread is blocked (in Wait-Job, say). A failed call fails the job with
    /// the call's error, which Receive-Job writes.
    /// </summary>
    public sealed class ApiJob : Job2
    {
        private const string RunScript = "param([UInt64] $Tag) [ModuleCommunication.Threading.EntryPoints]::RunApiCall($Tag)";

        private readonly ApiCallState _state;
        private readonly object _gate = new();
        private PowerShell? _ps;
        private Timer? _timer;
        private bool _stopRequested;
        private int _hinted;
        private Runspace? _ownRunspace;

        internal const string PoolHint =
            "An -Async call runs handlers and middleware in the module's runspace pool, re-created from their text: "
            + "functions and variables of the script that registered them do not exist there. Define or import what "
            + "they need inside the script block, or call without -Async.";

        internal ApiJob(ApiCallState state, string command)
            : base(command, state.Context.APIKey)
        {
            _state = state;
            PSJobTypeName = "ModuleAPIJob";
        }

        /// <summary>Module.Operation of the call.</summary>
        public string APIKey => _state.Context.APIKey;

        /// <summary>The call's id ($Context.RequestId).</summary>
        public Guid RequestId => _state.Context.RequestId;

        /// <inheritdoc/>
        public override string StatusMessage => _failure?.Message ?? string.Empty;

        /// <summary>The call's error when the job failed (also in its Error stream).</summary>
        public Exception? Failure => _failure;

        /// <inheritdoc/>
        public override bool HasMoreData => Output.Count > 0 || Error.Count > 0 || Warning.Count > 0 || Verbose.Count > 0
            || Debug.Count > 0 || Information.Count > 0 || Progress.Count > 0;

        /// <inheritdoc/>
        public override string Location => "localhost";

        /// <inheritdoc/>
        public override void StartJob()
        {
            PowerShell ps = PowerShell.Create();
            if (AsyncHandlerPool.CallerIsMember)
            {
                _ownRunspace = AsyncHandlerPool.OpenPrivateRunspace();
                ps.Runspace = _ownRunspace;
            }
            else
            {
                ps.RunspacePool = AsyncHandlerPool.Pool;
            }
            ps.AddScript(RunScript, useLocalScope: true).AddArgument(_state.Tag);
            // Streams are the PowerShell object's own collections (as ThreadJob does), so what the
            // handler writes is visible to Receive-Job as it happens. Errors are copied instead: the
            // job adds the call's own error after the invocation, when that collection is closed.
            ps.Streams.Error.DataAdded += (sender, e) =>
            {
                ErrorRecord record = ((PSDataCollection<ErrorRecord>)sender!)[e.Index];
                Error.Add(record);
                if (record.Exception is CommandNotFoundException && Interlocked.Exchange(ref _hinted, 1) == 0)
                {
                    ps.Streams.Warning.Add(new WarningRecord(PoolHint));
                }
            };
            Warning = ps.Streams.Warning;
            Verbose = ps.Streams.Verbose;
            Debug = ps.Streams.Debug;
            Information = ps.Streams.Information;
            Progress = ps.Streams.Progress;
            lock (_gate) _ps = ps;
            _state.AttachStoppable(ps);
            SetJobState(JobState.Running);
            // A call that may retry times each attempt in the attempt's own pipeline instead.
            if (_state.HasDeadline && !_state.AttemptScoped)
            {
                _timer = new Timer(_ => _state.FireTimeout(), null, _state.Remaining ?? TimeSpan.Zero, Timeout.InfiniteTimeSpan);
            }
            try
            {
                ps.BeginInvoke<PSObject, PSObject>(null, Output, null, OnCompleted, null);
            }
            catch (Exception e)
            {
                Finish(ps, e);
            }
        }

        private void OnCompleted(IAsyncResult result)
        {
            PowerShell? ps;
            lock (_gate) ps = _ps;
            if (ps == null) return;
            Exception? failure = null;
            try
            {
                ps.EndInvoke(result);
            }
            catch (Exception e)
            {
                failure = e;
            }
            Finish(ps, failure);
        }

        private void Finish(PowerShell ps, Exception? failure)
        {
            _timer?.Dispose();
            _state.DetachStoppable();
            _state.End();
            Exception? reason = failure ?? ps.InvocationStateInfo.Reason;
            bool stopped = ps.InvocationStateInfo.State == PSInvocationState.Stopped || reason is PipelineStoppedException;
            Exception? callError = ApiRunner.Failure(_state);
            if (_state.TimedOut)
            {
                string message = _state.Started ? _state.TimeoutMessage("the call") : _state.NotStartedMessage();
                var timeout = new ApiInvocationException(ApiErrorCategory.Timeout, APIKey, message,
                    Array.Empty<ApiParameterError>(), null) { RequestId = RequestId };
                Error.Add(timeout.ErrorRecord);
                Fail(timeout);
            }
            else if (_stopRequested && (stopped || _state.Cancelled))
            {
                // Stopped by the pipeline stop, or by the cancel first (a call waiting to retry
                // ends at once with Cancelled): either way the user's Stop-Job.
                SetJobState(JobState.Stopped);
            }
            else if (callError != null || reason != null || ps.InvocationStateInfo.State == PSInvocationState.Failed)
            {
                Exception error = callError ?? ApiRunner.FindApiException(reason) ?? reason ?? new InvalidOperationException($"{APIKey} failed.");
                ErrorRecord record = error is RuntimeException r && r.ErrorRecord != null
                    ? r.ErrorRecord
                    : new ErrorRecord(error, "APIJobFailed", ErrorCategory.NotSpecified, APIKey);
                Error.Add(record);
                Fail(error);
            }
            else
            {
                SetJobState(JobState.Completed);
            }
            // Not disposed here: this runs inside the invocation's completion, and disposing the
            // PowerShell object from there can wait for that very completion. Remove-Job disposes it.
            // A runspace of its own is closed off this thread for the same reason.
            if (Interlocked.Exchange(ref _ownRunspace, null) is Runspace own)
            {
                ThreadPool.QueueUserWorkItem(_ =>
                {
                    AsyncHandlerPool.Forget(own);
                    try { own.Dispose(); } catch (Exception) { /* closing anyway */ }
                });
            }
        }

        private void Fail(Exception reason)
        {
            _failure = reason;
            // The call's error is in the Error stream with its own ErrorId; JobStateInfo.Reason is left
            // empty because Receive-Job would write it a second time (as JobStateFailed).
            SetJobState(JobState.Failed);
        }

        private Exception? _failure;

        /// <inheritdoc/>
        public override void StopJob() => StopJob(false, null);

        /// <inheritdoc/>
        public override void StopJob(bool force, string? reason)
        {
            PowerShell? ps = BeginStopping();
            // After BeginStopping: a call waiting to retry ends at the cancel, before the stop
            // below reaches it, and must finish as Stopped too.
            _state.MarkCancelled();
            if (ps == null) return;
            try
            {
                ps.Stop();
            }
            catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
            {
                // Finished meanwhile.
            }
        }

        private PowerShell? BeginStopping()
        {
            PowerShell? ps;
            lock (_gate)
            {
                ps = _ps;
                _stopRequested = true;
            }
            if (ps == null || JobStateInfo.State is JobState.Completed or JobState.Failed or JobState.Stopped) return null;
            SetJobState(JobState.Stopping);
            return ps;
        }

        /// <inheritdoc/>
        public override void StartJobAsync()
        {
            StartJob();
            OnStartJobCompleted(new System.ComponentModel.AsyncCompletedEventArgs(null, false, null));
        }

        /// <inheritdoc/>
        public override void StopJobAsync() => StopJobAsync(false, null);

        /// <inheritdoc/>
        public override void StopJobAsync(bool force, string? reason)
        {
            // Stop-Job waits for StopJobCompleted.
            PowerShell? ps = BeginStopping();
            _state.MarkCancelled(); // after BeginStopping, as in StopJob
            if (ps == null)
            {
                OnStopJobCompleted(new System.ComponentModel.AsyncCompletedEventArgs(null, false, null));
                return;
            }
            try
            {
                ps.BeginStop(_ => OnStopJobCompleted(new System.ComponentModel.AsyncCompletedEventArgs(null, false, null)), null);
            }
            catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
            {
                OnStopJobCompleted(new System.ComponentModel.AsyncCompletedEventArgs(null, false, null));
            }
        }

        /// <inheritdoc/>
        public override void SuspendJob() => throw new NotSupportedException("An API call job cannot be suspended.");

        /// <inheritdoc/>
        public override void SuspendJobAsync() => SuspendJob();

        /// <inheritdoc/>
        public override void SuspendJob(bool force, string? reason) => SuspendJob();

        /// <inheritdoc/>
        public override void SuspendJobAsync(bool force, string? reason) => SuspendJob();

        /// <inheritdoc/>
        public override void ResumeJob() => throw new NotSupportedException("An API call job cannot be suspended or resumed.");

        /// <inheritdoc/>
        public override void ResumeJobAsync() => ResumeJob();

        /// <inheritdoc/>
        public override void UnblockJob() => throw new NotSupportedException("An API call job is never blocked.");

        /// <inheritdoc/>
        public override void UnblockJobAsync() => UnblockJob();

        /// <inheritdoc/>
        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _timer?.Dispose();
                PowerShell? ps;
                lock (_gate)
                {
                    ps = _ps;
                    _ps = null;
                }
                if (ps != null)
                {
                    _stopRequested = true;
                    try { ps.Stop(); } catch (ObjectDisposedException) { }
                    ps.Dispose();
                    _state.End();
                }
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// Makes Invoke-ModuleAPI -Async jobs known to the job cmdlets (Get-Job, Remove-Job…).
    /// Import-Module registers public adapters of a module's assembly by their type name.
    /// </summary>
    public sealed class ModuleCommunicationApiJobSourceAdapter : JobSourceAdapter
    {
        private readonly ConcurrentDictionary<Guid, Job2> _jobs = new();

        /// <summary>Creates the adapter (done by Import-Module).</summary>
        public ModuleCommunicationApiJobSourceAdapter() => Name = nameof(ModuleCommunicationApiJobSourceAdapter);

        /// <inheritdoc/>
        public override Job2 NewJob(JobInvocationInfo specification)
        {
            if (specification.Parameters.Count > 0)
            {
                foreach (System.Management.Automation.Runspaces.CommandParameter p in specification.Parameters[0])
                {
                    if (p.Name == "NewJob" && p.Value is Job2 job)
                    {
                        _jobs[job.InstanceId] = job;
                        return job;
                    }
                }
            }
            throw new InvalidOperationException("Jobs of this adapter are created by Invoke-ModuleAPI -Async.");
        }

        /// <inheritdoc/>
        public override IList<Job2> GetJobs() => new List<Job2>(_jobs.Values);

        /// <inheritdoc/>
        public override IList<Job2> GetJobsByName(string name, bool recurse)
        {
            var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
            var result = new List<Job2>();
            foreach (Job2 j in _jobs.Values) if (pattern.IsMatch(j.Name)) result.Add(j);
            return result;
        }

        /// <inheritdoc/>
        public override IList<Job2> GetJobsByCommand(string command, bool recurse)
        {
            var pattern = new WildcardPattern(command, WildcardOptions.IgnoreCase);
            var result = new List<Job2>();
            foreach (Job2 j in _jobs.Values) if (pattern.IsMatch(j.Command)) result.Add(j);
            return result;
        }

        /// <inheritdoc/>
        public override Job2? GetJobByInstanceId(Guid instanceId, bool recurse) => _jobs.TryGetValue(instanceId, out Job2? j) ? j : null;

        /// <inheritdoc/>
        public override Job2? GetJobBySessionId(int id, bool recurse)
        {
            foreach (Job2 j in _jobs.Values) if (j.Id == id) return j;
            return null;
        }

        /// <inheritdoc/>
        public override IList<Job2> GetJobsByState(JobState state, bool recurse)
        {
            var result = new List<Job2>();
            foreach (Job2 j in _jobs.Values) if (j.JobStateInfo.State == state) result.Add(j);
            return result;
        }

        /// <inheritdoc/>
        public override IList<Job2> GetJobsByFilter(Dictionary<string, object> filter, bool recurse) => new List<Job2>();

        /// <inheritdoc/>
        public override void RemoveJob(Job2 job)
        {
            if (_jobs.TryRemove(job.InstanceId, out Job2? removed))
            {
                if (removed.JobStateInfo.State is JobState.Running or JobState.NotStarted) removed.StopJob();
                removed.Dispose();
            }
        }
    }
}
