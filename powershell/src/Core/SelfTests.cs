using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Management.Automation;
using System.Text.Json;
using System.Threading;
using ModuleCommunication.Native;

namespace ModuleCommunication.Core
{
    /// <summary>
    /// The checks of Test-ModuleCommunication and Test-MessageChannel. Every check runs on
    /// private channels (names starting with "__ModuleCommunication.", which the core never
    /// lists and routes only to subscriptions that name them exactly), so no user
    /// subscription sees the test traffic, and removes everything it made, even when it fails.
    /// No PowerShell runs here except the -RunAsync handler check, on the module's pool.
    /// </summary>
    internal static class SelfTests
    {
        /// <summary>Prefix of every private channel the checks create.</summary>
        public const string PrivatePrefix = "__ModuleCommunication.SelfTest.";

        /// <summary>A check that failed; its message becomes the test's Details.</summary>
        private sealed class CheckFailed : Exception
        {
            public CheckFailed(string message) : base(message) { }
        }

        private static void Expect(bool condition, string failure)
        {
            if (!condition) throw new CheckFailed(failure);
        }

        /// <summary>Runs one named check, timing it and turning any failure into a failed result.</summary>
        public static TestResult Run(string name, Func<string> check)
        {
            var watch = Stopwatch.StartNew();
            try
            {
                string details = check();
                return new TestResult { Name = name, Success = true, Duration = watch.Elapsed, Details = details };
            }
            catch (CheckFailed e)
            {
                return new TestResult { Name = name, Success = false, Duration = watch.Elapsed, Details = e.Message };
            }
            catch (ModuleCommunicationException e)
            {
                return new TestResult { Name = name, Success = false, Duration = watch.Elapsed, Details = $"{e.StatusName}: {e.Message}" };
            }
            catch (Exception e)
            {
                return new TestResult { Name = name, Success = false, Duration = watch.Elapsed, Details = $"{e.GetType().Name}: {e.Message}" };
            }
        }

        /// <summary>A private channel and the subscriptions made on it, all removed on dispose.</summary>
        private sealed class Scratch : IDisposable
        {
            private readonly List<Guid> _subscriptions = new();

            public Scratch(string test, long maxMessages = 0)
            {
                Channel = PrivatePrefix + Guid.NewGuid().ToString("N").Substring(0, 12) + "." + test;
                Bus.CreateChannel(Channel, "Test-ModuleCommunication " + test, maxMessages);
            }

            public string Channel { get; }

            public unsafe Guid Subscribe(string messageType = "*", long capacity = 0, OverflowPolicy? overflow = null,
                long blockTimeoutMs = 0, string? sourceModule = null)
            {
                Guid id = Bus.SubscribePull(Channel, messageType, capacity, overflow, blockTimeoutMs, sourceModule, null, 0);
                _subscriptions.Add(id);
                return id;
            }

            public void Track(Guid subscription) => _subscriptions.Add(subscription);

            public Guid Publish(string messageType, object? data = null, MessagePriority priority = MessagePriority.Normal,
                TimeSpan? ttl = null, string? sourceModule = null)
            {
                (Guid id, ModuleCommunicationException? rejected) = Bus.Publish(Channel, messageType, data, sourceModule, priority, ttl, null);
                if (rejected != null) throw rejected;
                return id;
            }

            public void Dispose()
            {
                foreach (Guid id in _subscriptions) Subscriptions.Remove(id);
                try { Bus.RemoveChannel(Channel); } catch (ModuleCommunicationException) { }
            }
        }

        private static List<ModuleMessage> Take(Guid subscription, int max, uint timeoutMs = 2000)
            => Bus.Take(subscription, max, timeoutMs, ItemReaders.Message).Cast<ModuleMessage>().ToList();

        private static List<ModuleMessage> TakeAndComplete(Guid subscription, int max, uint timeoutMs = 2000)
        {
            var got = new List<ModuleMessage>();
            var watch = Stopwatch.StartNew();
            while (got.Count < max)
            {
                long left = timeoutMs - watch.ElapsedMilliseconds;
                if (left <= 0) break;
                // Pull queues are filled at publish: after the first batch, take only what is there.
                List<ModuleMessage> batch = Take(subscription, max - got.Count, got.Count == 0 ? (uint)left : 0);
                if (batch.Count == 0) break;
                Bus.Complete(subscription, batch.Count, 0, 0, null);
                got.AddRange(batch);
            }
            return got;
        }

        private static SubscriptionInfo Info(Guid subscription) => Subscriptions.Describe(subscription);

        private static string NotRunningHint() => Bus.IsRunning() ? string.Empty : " (the message processor is stopped: run Start-MessageProcessor)";

        // ----- Basic ---------------------------------------------------------------------

        public static IEnumerable<(string Name, Func<string> Check)> Basic()
        {
            yield return ("ChannelLifecycle", ChannelLifecycle);
            yield return ("PublishSubscribe", PublishSubscribe);
            yield return ("PriorityOrder", PriorityOrder);
            yield return ("TimeToLive", TimeToLive);
            yield return ("Filter", Filter);
            yield return ("QueueOverflow", QueueOverflow);
            yield return ("Events", Events);
            yield return ("Metrics", Metrics);
            yield return ("HealthCheck", HealthCheck);
        }

        public static IEnumerable<(string Name, Func<string> Check)> FullOnly()
        {
            yield return ("DeliveryTracking", DeliveryTracking);
            yield return ("EventReplay", EventReplay);
            yield return ("RunAsyncHandler", RunAsyncHandler);
            yield return ("ConcurrentPublishers", ConcurrentPublishers);
        }

        private static string ChannelLifecycle()
        {
            using var s = new Scratch("Lifecycle");
            try
            {
                Bus.CreateChannel(s.Channel.ToUpperInvariant(), null, 0);
                throw new CheckFailed("a second channel differing only in case was created; names must compare case-insensitively");
            }
            catch (ModuleCommunicationException e) when ((McStatus)e.Status == McStatus.ChannelExists) { }
            Bus.RemoveChannel(s.Channel);
            try
            {
                s.Publish("AfterRemove");
                throw new CheckFailed("publishing to a removed channel succeeded");
            }
            catch (ModuleCommunicationException e) when ((McStatus)e.Status == McStatus.ChannelNotFound) { }
            return "created, refused a duplicate name in other case, removed, refused a publish after removal";
        }

        private static string PublishSubscribe()
        {
            using var s = new Scratch("RoundTrip");
            Guid sub = s.Subscribe();
            var when = new DateTime(2030, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc);
            var data = new Hashtable { ["Text"] = "Grüße \"quoted\"", ["Number"] = 42, ["Big"] = 1L << 40, ["When"] = when,
                ["Nested"] = new Hashtable { ["List"] = new object[] { 1, "two" } } };
            Guid id = s.Publish("RoundTrip", data, sourceModule: "SelfTest");
            List<ModuleMessage> got = TakeAndComplete(sub, 1);
            Expect(got.Count == 1, "the message did not arrive within 2 s" + NotRunningHint());
            ModuleMessage m = got[0];
            Expect(m.Id == id, $"received message {m.Id}, published {id}");
            Expect(m.Data is Hashtable, $"Data arrived as {m.Data?.GetType().Name ?? "null"}, not as a hashtable");
            var d = (Hashtable)m.Data!;
            Expect(Equals(d["Text"], data["Text"]), "a string changed on the way");
            Expect(d["Number"] is int n && n == 42, "an int did not stay an int");
            Expect(d["Big"] is long b && b == 1L << 40, "a long did not stay a long");
            Expect(d["When"] is DateTime t && t.ToUniversalTime() == when, "a DateTime did not stay the same DateTime");
            Expect(d["Nested"] is Hashtable nested && nested["List"] is object[] list && list.Length == 2, "a nested hashtable or array changed");
            Expect(m.SourceModule == "SelfTest", "the source module was lost");
            return "one message with nested data went through a pull subscription with every type kept";
        }

        private static string PriorityOrder()
        {
            using var s = new Scratch("Priority");
            Guid sub = s.Subscribe();
            s.Publish("Low", priority: MessagePriority.Low);
            s.Publish("Normal", priority: MessagePriority.Normal);
            s.Publish("High", priority: MessagePriority.High);
            s.Publish("Critical", priority: MessagePriority.Critical);
            s.Publish("Normal2", priority: MessagePriority.Normal);
            string order = string.Join(",", TakeAndComplete(sub, 5).Select(m => m.MessageType));
            Expect(order == "Critical,High,Normal,Normal2,Low", $"delivered in the order {order}; expected Critical,High,Normal,Normal2,Low" + NotRunningHint());
            return "Critical, High, Normal (in publish order), Low";
        }

        private static string TimeToLive()
        {
            using var s = new Scratch("TimeToLive");
            Guid sub = s.Subscribe();
            s.Publish("Short", ttl: TimeSpan.FromMilliseconds(1));
            s.Publish("Marker");
            // The condition is the passage of time itself: the 1 ms TTL must have run out.
            Thread.Sleep(5);
            string got = string.Join(",", TakeAndComplete(sub, 2, 500).Select(m => m.MessageType));
            Expect(got == "Marker", $"received '{got}'; an expired message must never be delivered" + NotRunningHint());
            long expired = Info(sub).Expired;
            Expect(expired == 1, $"the subscription counted {expired} expired messages, expected 1");
            return "a message past its time to live was not delivered and was counted as Expired";
        }

        private static string Filter()
        {
            using var s = new Scratch("Filter");
            Guid sub = s.Subscribe(messageType: "Keep*", sourceModule: "Self*");
            s.Publish("KeepA", sourceModule: "SelfTest");
            s.Publish("DropB", sourceModule: "SelfTest");
            s.Publish("KeepC", sourceModule: "Other");
            s.Publish("keepD", sourceModule: "selftest");
            string got = string.Join(",", TakeAndComplete(sub, 3, 500).Select(m => m.MessageType));
            Expect(got == "KeepA,keepD", $"received '{got}'; expected KeepA,keepD (message type Keep*, source Self*, case-insensitive)");
            return "message type and source module patterns selected 2 of 4 messages, ignoring case";
        }

        private static string QueueOverflow()
        {
            using var s = new Scratch("Overflow");
            Guid sub = s.Subscribe(capacity: 2, overflow: OverflowPolicy.DropOldest);
            s.Publish("One");
            s.Publish("Two");
            s.Publish("Three");
            string got = string.Join(",", TakeAndComplete(sub, 3, 500).Select(m => m.MessageType));
            Expect(got == "Two,Three", $"received '{got}'; a full DropOldest queue must keep the newest");
            long dropped = Info(sub).Dropped;
            Expect(dropped == 1, $"the subscription counted {dropped} dropped messages, expected 1");
            return "a full queue dropped its oldest message and counted it";
        }

        private const string EventChannel = "__ModuleCommunication.SelfTest.Events";

        private static unsafe string Events()
        {
            string name = "SelfTest." + Guid.NewGuid().ToString("N");
            Guid sub = EventBus.SubscribePull(new EventBus.SubscribeOptions(name, EventChannel, null, 0, null, 0, null, null), null, 0);
            try
            {
                (Guid id, _) = EventBus.Publish(name, new Hashtable { ["Step"] = 1 }, "SelfTest", EventChannel, false, MessagePriority.Normal, null);
                List<ModuleEvent> got = Bus.Take(sub, 1, 2000, ItemReaders.Event).Cast<ModuleEvent>().ToList();
                Expect(got.Count == 1, "the event did not arrive within 2 s" + NotRunningHint());
                Bus.Complete(sub, 1, 0, 0, null);
                Expect(got[0].Id == id && got[0].Name == name, $"received event {got[0].Name}, published {name}");
                Expect(got[0].Data is Hashtable h && Equals(h["Step"], 1), "the event's data changed");
                // MaxEventHistory 0 keeps no history by choice: then the event must not be in it.
                // A small history may already have let it go for newer events of other publishers.
                long capacity = Bus.GetConfiguration().MaxEventHistory;
                int inHistory = EventBus.History(new EventBus.Query(Name: name, Channel: EventChannel)).Count;
                if (capacity == 0)
                {
                    Expect(inHistory == 0, "the event is in a history of MaxEventHistory 0");
                    return "an event went to its subscriber (MaxEventHistory is 0: no history is kept)";
                }
                // Pushed out only if the history holds at least its capacity of events published since.
                bool pushedOut = inHistory == 0 && EventBus.History(new EventBus.Query(Since: got[0].Timestamp)).Count >= capacity;
                Expect(inHistory == 1 || pushedOut, "the event is not in the history");
                return pushedOut ? $"an event went to its subscriber and into the history (which newer events have filled since: MaxEventHistory {capacity})"
                    : "an event went to its subscriber and into the history";
            }
            finally
            {
                Subscriptions.Remove(sub);
                EventBus.Clear(new EventBus.Query(Name: name, Channel: EventChannel));
            }
        }

        private static string Metrics()
        {
            CommunicationMetrics before = Observability.GetMetrics(null, false);
            using (var s = new Scratch("Metrics"))
            {
                Guid sub = s.Subscribe();
                s.Publish("Counted");
                Expect(TakeAndComplete(sub, 1).Count == 1, "the message did not arrive" + NotRunningHint());
            }
            CommunicationMetrics after = Observability.GetMetrics(null, false);
            long published = after.MessageBus.Published - before.MessageBus.Published;
            long delivered = after.MessageBus.Delivered - before.MessageBus.Delivered;
            long latencies = after.Performance.DeliveryLatency.Count - before.Performance.DeliveryLatency.Count;
            Expect(published >= 1 && delivered >= 1, $"one round trip changed Published by {published} and Delivered by {delivered}");
            Expect(latencies >= 1 || !Bus.GetConfiguration().EnableMetrics, $"one delivery added {latencies} latencies");
            return $"a round trip was counted (published +{published}, delivered +{delivered}, latencies +{latencies})";
        }

        private static string HealthCheck()
        {
            CommunicationStatus status = Observability.GetStatus(true, 5000);
            TestResult? messaging = status.HealthChecks.MessagingTest;
            Expect(messaging != null && messaging.Success, "the core's messaging round trip failed: " + messaging?.Details);
            return $"the core's own round trip passed; overall health {status.OverallHealth}";
        }

        // ----- Full ----------------------------------------------------------------------

        private static string DeliveryTracking()
        {
            using var s = new Scratch("Tracking");
            Guid sub = s.Subscribe();
            Guid id = s.Publish("Tracked");
            Expect(!Bus.WaitDelivered(id, 0), "the message counted as delivered before anyone took it");
            Expect(TakeAndComplete(sub, 1).Count == 1, "the message did not arrive" + NotRunningHint());
            Expect(Bus.WaitDelivered(id, 2000), "the message was not reported delivered after it was handled");
            return "Wait-ModuleMessage's tracking saw the message in flight, then delivered";
        }

        private static unsafe string EventReplay()
        {
            string name = "SelfTest.Replay." + Guid.NewGuid().ToString("N");
            Guid sub = Guid.Empty;
            try
            {
                for (int i = 1; i <= 3; i++) EventBus.Publish(name, i, "SelfTest", EventChannel, false, MessagePriority.Normal, null);
                sub = EventBus.SubscribePull(new EventBus.SubscribeOptions(name, EventChannel, null, 0, null, 0, 2, null), null, 0);
                EventBus.Publish(name, 4, "SelfTest", EventChannel, false, MessagePriority.Normal, null);
                List<ModuleEvent> got = Bus.Take(sub, 3, 2000, ItemReaders.Event).Cast<ModuleEvent>().ToList();
                Bus.Complete(sub, got.Count, 0, 0, null);
                string seen = string.Join(",", got.Select(e => e.Data));
                // A history smaller than two (MaxEventHistory 0 or 1) can replay only what it keeps;
                // a small one may also have let events go for newer ones of other publishers.
                long capacity = Bus.GetConfiguration().MaxEventHistory;
                long replayable = Math.Min(2, capacity);
                string expected = string.Join(",", Enumerable.Range(4 - (int)replayable, (int)replayable).Append(4));
                // A shortfall is accepted only for events the history no longer holds (pushed out
                // by newer events of other publishers); any event still there must have come.
                var stillKept = EventBus.History(new EventBus.Query(Name: name, Channel: EventChannel))
                    .Select(e => e.Data).OfType<int>().Where(n => n >= 4 - replayable && n <= 3).ToList();
                bool smallHistoryMovedOn = capacity < 100 && got.Count > 0 && got[^1].Data is 4
                    && "1,2,3,4".EndsWith(seen, StringComparison.Ordinal) && got.Count <= replayable + 1
                    && stillKept.All(n => got.Any(e => e.Data is int d && d == n));
                Expect(seen == expected || smallHistoryMovedOn,
                    $"received {seen}; expected the last {replayable} event(s) of the history, then the live one ({expected})");
                return seen == "2,3,4" ? "a replaying subscription got the newest two history events, then the live one"
                    : $"a replaying subscription got {seen}: the history events a MaxEventHistory of {capacity} still kept, then the live one";
            }
            finally
            {
                if (sub != Guid.Empty) Subscriptions.Remove(sub);
                EventBus.Clear(new EventBus.Query(Name: name, Channel: EventChannel));
            }
        }

        private static string RunAsyncHandler()
        {
            using var s = new Scratch("RunAsync");
            ScriptBlock handler = ScriptBlock.Create("param($Message) if ($Message.Data.N -ne 7) { throw 'wrong data' }");
            var options = new Subscriptions.Options(s.Channel, "*", 0, null, 0, null);
            Guid sub = Subscriptions.AddAsync(null, options, handler, null, Array.Empty<object>()).Id;
            s.Track(sub);
            Guid id = s.Publish("Handled", new Hashtable { ["N"] = 7 });
            Expect(Bus.WaitDelivered(id, 30000), "a -RunAsync handler did not handle the message within 30 s" + NotRunningHint());
            SubscriptionInfo info = Info(sub);
            Expect(info.Delivered == 1 && info.Failed == 0, $"the handler counted Delivered {info.Delivered}, Failed {info.Failed} ({info.LastError})");
            return "a script block handler ran on the -RunAsync pool with the message's data";
        }

        private static string ConcurrentPublishers()
        {
            StressOutcome o = Stress(TimeSpan.FromSeconds(1), 4, null, CancellationToken.None);
            Expect(o.Lost == 0 && o.OutOfOrder == 0, o.Summary);
            return o.Summary;
        }

        // ----- Stress --------------------------------------------------------------------

        /// <summary>What a stress run measured.</summary>
        public sealed record StressOutcome(long Published, long Received, long Lost, long OutOfOrder, TimeSpan Elapsed,
            LatencyPercentiles Latency, string Summary);

        /// <summary>Progress of a stress run: fraction done, messages so far, rate.</summary>
        public delegate void StressProgress(double fraction, long published, long received);

        /// <summary>
        /// <paramref name="publishers"/> threads publish as fast as they can for
        /// <paramref name="duration"/> to one private channel whose subscriber (a Block queue,
        /// so nothing is dropped) takes batches on its own thread and checks that each
        /// publisher's messages arrive once and in order. <paramref name="progress"/> is called
        /// on the calling thread about every 250 ms.
        /// </summary>
        public static StressOutcome Stress(TimeSpan duration, int publishers, StressProgress? progress, CancellationToken cancel)
        {
            using var s = new Scratch("Stress");
            Guid sub = s.Subscribe(capacity: 10_000, overflow: OverflowPolicy.Block, blockTimeoutMs: 30_000);
            long published = 0, received = 0, outOfOrder = 0;
            var next = new long[publishers];
            var stop = new ManualResetEventSlim(false);
            Exception? failure = null;
            var watch = Stopwatch.StartNew();
            var threads = new List<Thread>();
            for (int p = 0; p < publishers; p++)
            {
                int me = p;
                var t = new Thread(() =>
                {
                    try
                    {
                        string type = "P" + me.ToString(System.Globalization.CultureInfo.InvariantCulture);
                        for (long seq = 0; !stop.IsSet; seq++)
                        {
                            s.Publish(type, seq);
                            Interlocked.Increment(ref published);
                        }
                    }
                    catch (Exception e) { failure ??= e; }
                }) { IsBackground = true, Name = "mc-selftest-publisher-" + me };
                threads.Add(t);
            }
            bool publishing = true;
            var consumer = new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        List<object> batch = Bus.Take(sub, 1000, 100, ReadSequence);
                        if (batch.Count == 0)
                        {
                            if (!Volatile.Read(ref publishing) && Interlocked.Read(ref received) >= Interlocked.Read(ref published)) break;
                            continue;
                        }
                        foreach ((int publisher, long seq) in batch.Cast<(int, long)>())
                        {
                            if (seq != next[publisher]) outOfOrder++;
                            next[publisher] = seq + 1;
                        }
                        Bus.Complete(sub, batch.Count, 0, 0, null);
                        Interlocked.Add(ref received, batch.Count);
                    }
                }
                catch (Exception e) { failure ??= e; }
            }) { IsBackground = true, Name = "mc-selftest-consumer" };
            consumer.Start();
            foreach (Thread t in threads) t.Start();
            while (watch.Elapsed < duration && !cancel.IsCancellationRequested && failure == null)
            {
                TimeSpan left = duration - watch.Elapsed;
                if (left <= TimeSpan.Zero) break; // the duration ran out since the loop's check; Wait refuses a negative time
                if (stop.Wait(left < TimeSpan.FromMilliseconds(250) ? left : TimeSpan.FromMilliseconds(250))) break;
                progress?.Invoke(Math.Min(1.0, watch.Elapsed / duration), Interlocked.Read(ref published), Interlocked.Read(ref received));
            }
            stop.Set();
            foreach (Thread t in threads) t.Join();
            Volatile.Write(ref publishing, false);
            bool drained = consumer.Join(TimeSpan.FromSeconds(60));
            TimeSpan elapsed = watch.Elapsed;
            LatencyPercentiles latency = Observability.GetMetrics(s.Channel, false).Performance.DeliveryLatency;
            long lost = published - received;
            string summary = failure != null
                ? $"failed: {failure.Message}"
                : $"{publishers} publishers sent {published:N0} messages in {elapsed.TotalSeconds:F1} s ({published / Math.Max(elapsed.TotalSeconds, 1e-3):N0}/s); " +
                  $"{received:N0} received, {lost:N0} lost, {outOfOrder:N0} out of order; delivery latency p50 {latency.P50:F3} ms, p99 {latency.P99:F3} ms" +
                  (drained ? string.Empty : "; the consumer did not finish within 60 s");
            return new StressOutcome(published, received, failure != null ? Math.Max(lost, 1) : lost, outOfOrder, elapsed, latency, summary);
        }

        /// <summary>Reads only what the stress check needs: the publisher (message type "P3") and the sequence number (Data).</summary>
        private static object ReadSequence(ref Utf8JsonReader reader, byte[] json)
        {
            ItemReaders.Fields m = ItemReaders.Fields.Read(ref reader, json);
            int publisher = int.Parse(m.MessageType.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);
            long sequence = long.Parse(json.AsSpan(m.DataRange), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);
            return (publisher, sequence);
        }

        // ----- Test-MessageChannel -------------------------------------------------------

        /// <summary>
        /// A real round trip on a user's channel: a private subscription for a unique message type,
        /// one publish, one take. With a token, both go through the security check as the token's
        /// module (the publish then claims no source module of its own).
        /// </summary>
        public static unsafe ChannelTestResult TestChannel(string name, TimeSpan timeout, string? authenticationToken, nint cancel = 0)
        {
            var watch = Stopwatch.StartNew();
            var errors = new List<string>();
            Guid messageId = Guid.Empty;
            string channel = name;
            List<ChannelInfo> found = Bus.ListChannels(null).Where(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase)).ToList();
            if (found.Count == 0)
            {
                errors.Add(System.Management.Automation.WildcardPattern.ContainsWildcardCharacters(name)
                    ? $"Channel '{name}' does not exist: Test-MessageChannel takes one channel's name, not a pattern; list channels with Get-MessageChannels."
                    : $"Channel '{name}' does not exist; create it with New-MessageChannel -Name '{name}'.");
            }
            else
            {
                channel = found[0].Name;
                string type = "__ModuleCommunication.ChannelTest." + Guid.NewGuid().ToString("N");
                Guid sub = Guid.Empty;
                try
                {
                    sub = Bus.SubscribePull(channel, type, 1, null, 0, null, null, 0, authenticationToken);
                    string? source = authenticationToken == null ? "ModuleCommunication" : null;
                    (messageId, ModuleCommunicationException? rejected) = Bus.Publish(channel, type,
                        new Hashtable { ["Test"] = "Test-MessageChannel" }, source, MessagePriority.Normal, null, null, authenticationToken, cancel);
                    if (rejected != null) errors.Add($"A subscription of '{channel}' with the Reject policy refused the test message: its queue is full.");
                    uint ms = timeout <= TimeSpan.Zero ? 0u : (uint)Math.Min(timeout.TotalMilliseconds, uint.MaxValue - 1);
                    List<ModuleMessage> got = Take(sub, 1, ms);
                    if (got.Count == 1) Bus.Complete(sub, 1, 0, 0, null);
                    if (got.Count == 0)
                    {
                        errors.Add(Bus.IsRunning()
                            ? $"The test message did not come back within {timeout.TotalSeconds:0.###} s."
                            : "The test message did not come back: the message processor is stopped; run Start-MessageProcessor.");
                    }
                    else if (got[0].Id != messageId)
                    {
                        errors.Add($"Received message {got[0].Id} instead of the test message {messageId}.");
                    }
                }
                catch (ModuleCommunicationException e)
                {
                    errors.Add($"{e.StatusName}: {e.Message}");
                }
                finally
                {
                    if (sub != Guid.Empty) Bus.Unsubscribe(sub);
                }
            }
            return new ChannelTestResult
            {
                Success = errors.Count == 0,
                Channel = channel,
                Duration = watch.Elapsed,
                Errors = errors.ToArray(),
                MessageId = messageId,
            };
        }
    }
}
