using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using ModuleCommunication.Core;

namespace ModuleCommunication.Commands
{
    /// <summary>Which checks Test-ModuleCommunication runs.</summary>
    public enum CommunicationTestType
    {
        /// <summary>Fast functional checks of the bus, events, metrics and health.</summary>
        Basic,
        /// <summary>Concurrent publishers for -Duration: throughput, no loss, order kept.</summary>
        Stress,
        /// <summary>Basic, more checks (tracking, replay, -RunAsync handler, concurrency), and a short stress run.</summary>
        Full,
    }

    /// <summary>Test-ModuleCommunication: real self-tests on private channels; leaves nothing behind.</summary>
    [Cmdlet(VerbsDiagnostic.Test, "ModuleCommunication")]
    [OutputType(typeof(CommunicationTestResult))]
    public sealed class TestModuleCommunicationCommand : ModuleCommunicationCmdlet
    {
        private readonly CancellationTokenSource _cancel = new();

        /// <summary>Basic (default), Stress or Full.</summary>
        [Parameter(Position = 0)]
        public CommunicationTestType TestType { get; set; } = CommunicationTestType.Basic;

        /// <summary>How long the stress run publishes (seconds or a TimeSpan): default 10 s for Stress, 2 s within Full.</summary>
        [Parameter]
        [SecondsTransformation]
        public TimeSpan Duration { get; set; }

        /// <summary>Concurrent publishers of the stress run (default 10 for Stress, 4 within Full).</summary>
        [Parameter]
        [ValidateRange(1, 256)]
        public int Concurrency { get; set; }

        /// <inheritdoc/>
        protected override void StopProcessing() => _cancel.Cancel();

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            bool durationGiven = MyInvocation.BoundParameters.ContainsKey(nameof(Duration));
            // Under a second, thread start-up takes the whole run: publishers may send nothing and
            // the stress checks would fail on a healthy hub.
            if (durationGiven && (Duration < TimeSpan.FromSeconds(1) || Duration > TimeSpan.FromHours(1)))
            {
                ThrowTerminatingError(NewError("InvalidDuration", ErrorCategory.InvalidArgument, Duration,
                    $"-Duration {Duration} is out of range: it must be at least 1 second and at most 1 hour.", "Give a duration between 1 second and 1 hour, e.g. -Duration 30."));
                return;
            }
            var watch = Stopwatch.StartNew();
            var checks = new List<(string Name, Func<string> Check)>();
            if (TestType != CommunicationTestType.Stress) checks.AddRange(SelfTests.Basic());
            if (TestType == CommunicationTestType.Full) checks.AddRange(SelfTests.FullOnly());
            var results = new List<TestResult>();
            int total = checks.Count + (TestType == CommunicationTestType.Basic ? 0 : 1);
            var progress = new ProgressRecord(1, "Test-ModuleCommunication", "Starting");
            foreach ((string name, Func<string> check) in checks)
            {
                if (_cancel.IsCancellationRequested) break;
                progress.StatusDescription = name;
                progress.PercentComplete = results.Count * 100 / total;
                WriteProgress(progress);
                TestResult r = SelfTests.Run(name, check);
                WriteVerbose($"{r.Name}: {(r.Success ? "passed" : "FAILED")} in {r.Duration.TotalMilliseconds:F1} ms: {r.Details}");
                results.Add(r);
            }
            if (TestType != CommunicationTestType.Basic && !_cancel.IsCancellationRequested)
            {
                TimeSpan duration = durationGiven ? Duration : TimeSpan.FromSeconds(TestType == CommunicationTestType.Stress ? 10 : 2);
                int publishers = MyInvocation.BoundParameters.ContainsKey(nameof(Concurrency)) ? Concurrency
                    : TestType == CommunicationTestType.Stress ? 10 : 4;
                int before = results.Count;
                results.AddRange(StressChecks(duration, publishers, before * 100 / total, progress));
            }
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
            long passed = results.Count(r => r.Success);
            WriteObject(new CommunicationTestResult
            {
                TestType = TestType.ToString(),
                Tests = results.ToArray(),
                Passed = passed,
                Failed = results.Count - passed,
                PassRate = results.Count == 0 ? 0 : Math.Round(passed * 100.0 / results.Count, 1),
                Duration = watch.Elapsed,
            });
        }

        private IEnumerable<TestResult> StressChecks(TimeSpan duration, int publishers, int startPercent, ProgressRecord progress)
        {
            var watch = Stopwatch.StartNew();
            SelfTests.StressOutcome o;
            try
            {
                o = SelfTests.Stress(duration, publishers, (fraction, published, received) =>
                {
                    progress.StatusDescription = $"Stress: {publishers} publishers, {published:N0} published, {received:N0} received";
                    progress.PercentComplete = startPercent + (int)((100 - startPercent) * fraction);
                    progress.SecondsRemaining = (int)Math.Max(0, (duration - watch.Elapsed).TotalSeconds);
                    WriteProgress(progress);
                }, _cancel.Token);
            }
            catch (Exception e)
            {
                return new[] { new TestResult { Name = "StressThroughput", Success = false, Duration = watch.Elapsed, Details = e.Message } };
            }
            TimeSpan took = watch.Elapsed;
            return new[]
            {
                new TestResult
                {
                    Name = "StressThroughput",
                    Success = o.Published > 0 && o.Lost == 0,
                    Duration = took,
                    Details = o.Summary,
                },
                new TestResult
                {
                    Name = "StressOrdering",
                    Success = o.OutOfOrder == 0 && o.Published > 0,
                    Duration = took,
                    Details = o.OutOfOrder == 0
                        ? $"every publisher's {o.Published / Math.Max(1, publishers):N0} messages (on average) arrived in publish order"
                        : $"{o.OutOfOrder:N0} messages arrived out of their publisher's order",
                },
                new TestResult
                {
                    Name = "StressLatency",
                    Success = o.Latency.Count >= o.Received || !Bus.GetConfiguration().EnableMetrics,
                    Duration = took,
                    Details = $"{o.Latency.Count:N0} delivery latencies recorded: p50 {o.Latency.P50:F3} ms, p95 {o.Latency.P95:F3} ms, p99 {o.Latency.P99:F3} ms",
                },
            };
        }
    }

    /// <summary>Test-MessageChannel: a real round trip through one channel; reports failure without throwing.</summary>
    [Cmdlet(VerbsDiagnostic.Test, "MessageChannel")]
    [OutputType(typeof(ChannelTestResult))]
    public sealed class TestMessageChannelCommand : ModuleCommunicationCmdlet
    {
        /// <summary>The channel (exact name, case-insensitive).</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("Channel")]
        [ArgumentCompleter(typeof(ChannelNameCompleter))]
        public string Name { get; set; } = string.Empty;

        /// <summary>How long to wait for the test message (seconds or a TimeSpan); default 5 s.</summary>
        [Parameter(Position = 1)]
        [SecondsTransformation]
        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

        /// <summary>
        /// A token allowing messages:publish and messages:subscribe on the channel, for when security
        /// requires one (the test message goes through your channel).
        /// </summary>
        [Parameter]
        public string? AuthenticationToken { get; set; }

        private PublishCancellation _cancellation; // not readonly: Begin records the flag in it

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            nint cancel = _cancellation.Begin();
            if (Stopping) return;
            WriteObject(SelfTests.TestChannel(Name, Timeout, AuthenticationToken, cancel));
        }

        /// <summary>Ctrl+C: the test message's publish, waiting for room in a full Block queue, gives up.</summary>
        protected override void StopProcessing() => _cancellation.Stop();
    }
}
