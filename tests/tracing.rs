//! Message tracing: record content at Basic and Verbose, correlation ids, API stages,
//! secrets redacted, the in-memory ring, rotation, drop-and-count, and the gzip archive.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use module_communication::registry::{ApiDefinition, ApiError, Call, InvokeRequest, Json, MiddlewareDefinition, Next};
use module_communication::{DeliveryReport, DisableOptions, Hub, PublishRequest, SubscriptionOptions, TraceLevel, TraceOptions};
use serde_json::Value;

fn records(hub: &Hub) -> Vec<Value> {
    serde_json::from_str::<Vec<Value>>(&hub.trace_records_json(None)).unwrap()
}

fn events(recs: &[Value]) -> Vec<String> {
    recs.iter().map(|r| r["event"].as_str().unwrap().to_owned()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn level(level: TraceLevel) -> TraceOptions {
    TraceOptions { level, ..TraceOptions::default() }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mc-trace-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn json(text: &str) -> Json {
    module_communication::registry::json_value(text).unwrap()
}

/// A pull round trip: publish one message with a correlation id, take and handle it.
fn round_trip(hub: &Hub) -> String {
    hub.create_channel("Orders", None, 100).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("Orders"), None).unwrap();
    let id = hub.publish(PublishRequest::new("orders", "Created").correlation_id("corr-1")).unwrap();
    let batch = hub.take(sub, 10, Duration::ZERO).unwrap();
    assert_eq!(batch.len(), 1);
    hub.complete(sub, DeliveryReport { handled: 1, ..Default::default() }).unwrap();
    id.to_string()
}

#[test]
fn tracing_off_records_nothing() {
    let hub = Hub::new();
    round_trip(&hub);
    assert!(records(&hub).is_empty());
}

#[test]
fn basic_records_the_publish_with_ids_and_not_the_delivery() {
    let hub = Hub::new();
    hub.enable_tracing(level(TraceLevel::Basic)).unwrap();
    let id = round_trip(&hub);
    let recs = records(&hub);
    assert_eq!(events(&recs), ["publish"]);
    let r = &recs[0];
    assert_eq!(r["level"], "Basic");
    assert_eq!(r["messageId"], id.as_str());
    assert_eq!(r["correlationId"], "corr-1");
    assert_eq!(r["channel"], "Orders");
    assert_eq!(r["messageType"], "Created");
    assert_eq!(r["subscribers"], 1);
    assert!(r["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn the_largest_queue_capacity_traces_like_any_other() {
    let hub = Hub::new();
    hub.enable_tracing(TraceOptions { queue_capacity: usize::MAX, ..level(TraceLevel::Verbose) }).unwrap();
    round_trip(&hub);
    assert_eq!(sorted(events(&records(&hub))), ["deliver", "publish"]);
}

#[test]
fn verbose_adds_each_delivery_outcome_with_the_subscription() {
    let hub = Hub::new();
    hub.enable_tracing(level(TraceLevel::Verbose)).unwrap();
    let id = round_trip(&hub);
    let recs = records(&hub);
    assert_eq!(events(&recs), ["publish", "deliver"]);
    assert_eq!(recs[1]["messageId"], id.as_str());
    assert_eq!(recs[1]["outcome"], "Handled");
    assert_eq!(recs[1]["correlationId"], "corr-1");
    assert!(recs[1]["subscriptionId"].is_string());
}

#[test]
fn every_record_names_its_own_message_across_many_batches() {
    // Records copy their message's names into a shared text arena; each must still read its
    // own, across drains by the writer thread while records are being made.
    let hub = Hub::new();
    hub.enable_tracing(level(TraceLevel::Verbose)).unwrap();
    for name in ["Alpha", "Beta.Ünïcode"] {
        hub.create_channel(name, None, 0).unwrap();
    }
    let sub = hub.subscribe_pull(SubscriptionOptions::new("*"), None).unwrap();
    let mut expected = std::collections::HashMap::new();
    for i in 0..3_000usize {
        let channel = if i % 2 == 0 { "Alpha" } else { "Beta.Ünïcode" };
        let mut req = PublishRequest::new(channel, format!("Type{i}"));
        let source = (i % 4 == 0).then(|| format!("Module{i}"));
        let correlation = (i % 3 == 0).then(|| format!("corr-{i}-{}", "x".repeat(i % 50)));
        if let Some(s) = &source {
            req = req.source_module(s.clone());
        }
        if let Some(c) = &correlation {
            req = req.correlation_id(c.clone());
        }
        let id = hub.publish(req).unwrap();
        expected.insert(id.to_string(), (channel, format!("Type{i}"), source, correlation));
        if i % 100 == 99 {
            let taken = hub.take(sub, 100, Duration::ZERO).unwrap();
            hub.complete(sub, DeliveryReport { handled: taken.len(), ..Default::default() }).unwrap();
        }
    }
    let recs = records(&hub);
    assert_eq!(recs.len(), 6_000);
    for r in &recs {
        let (channel, message_type, source, correlation) = &expected[r["messageId"].as_str().unwrap()];
        assert_eq!(r["channel"], *channel, "{r}");
        assert_eq!(r["messageType"], message_type.as_str(), "{r}");
        assert_eq!(r["correlationId"].as_str(), correlation.as_deref(), "{r}");
        if r["event"] == "publish" {
            assert_eq!(r["sourceModule"].as_str(), source.as_deref(), "{r}");
        }
    }
}

#[test]
fn pull_delivery_failure_is_an_error_record_even_at_basic() {
    let hub = Hub::new();
    hub.enable_tracing(level(TraceLevel::Basic)).unwrap();
    hub.create_channel("Jobs", None, 100).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("Jobs"), None).unwrap();
    hub.publish(PublishRequest::new("Jobs", "Run")).unwrap();
    hub.publish(PublishRequest::new("Jobs", "Run")).unwrap();
    assert_eq!(hub.take(sub, 10, Duration::ZERO).unwrap().len(), 2);
    hub.complete(sub, DeliveryReport { handled: 1, failed: 1, ..Default::default() }).unwrap();
    let recs = records(&hub);
    assert_eq!(events(&recs), ["publish", "publish", "deliveryError"], "the handled one is Verbose only");
    assert_eq!(recs[2]["outcome"], "Failed");
    assert_eq!(recs[2]["level"], "Basic");
}

#[test]
fn push_delivery_failure_is_an_error_record_even_at_basic() {
    let hub = Hub::new();
    hub.enable_tracing(level(TraceLevel::Basic)).unwrap();
    hub.create_channel("Jobs", None, 100).unwrap();
    hub.subscribe_push(SubscriptionOptions::new("Jobs"), Box::new(|_: &module_communication::Envelope| false)).unwrap();
    hub.publish(PublishRequest::new("Jobs", "Run")).unwrap();
    assert!(common::eventually(Duration::from_secs(5), || events(&records(&hub)).len() == 2));
    let recs = records(&hub);
    // The worker may record its delivery before the publisher records the publish.
    assert_eq!(sorted(events(&recs)), ["deliveryError", "publish"]);
    let failed = recs.iter().find(|r| r["event"] == "deliveryError").unwrap();
    assert_eq!(failed["outcome"], "Failed");
    assert!(failed["durationMs"].is_number());
}

fn api_hub() -> Hub {
    let hub = Hub::new();
    hub.registry()
        .register(ApiDefinition::new("Lab", "Run"), |_: &Call| Ok(json("1")))
        .unwrap();
    hub.registry()
        .register(ApiDefinition::new("Lab", "Fail"), |_: &Call| {
            Err(ApiError::handler_failed("login \"refused\":\n\ttoken=qwerty42 Authorization: Bearer s3cr3t"))
        })
        .unwrap();
    hub.registry()
        .add_middleware(MiddlewareDefinition::new("audit"), |_: &Call, next: &Next| next.run())
        .unwrap();
    hub
}

#[test]
fn basic_records_one_api_call_with_its_request_id() {
    let hub = api_hub();
    hub.enable_tracing(level(TraceLevel::Basic)).unwrap();
    hub.registry().invoke(InvokeRequest::new("lab", "run")).unwrap();
    let recs = records(&hub);
    assert_eq!(events(&recs), ["apiCall"]);
    assert_eq!(recs[0]["api"], "Lab.Run");
    assert_eq!(recs[0]["success"], true);
    assert_eq!(recs[0]["requestId"].as_str().unwrap().len(), 36);
}

#[test]
fn verbose_records_each_pipeline_stage_innermost_first_with_the_same_request_id() {
    let hub = api_hub();
    hub.enable_tracing(level(TraceLevel::Verbose)).unwrap();
    hub.registry().invoke(InvokeRequest::new("Lab", "Run")).unwrap();
    let recs = records(&hub);
    // Innermost first: handler, validation, middleware, the retry stage's attempt, the
    // circuit breaker (security is off, so it has no stage), then the call.
    assert_eq!(events(&recs), ["apiStage", "apiStage", "apiStage", "apiAttempt", "apiStage", "apiCall"]);
    let stages: Vec<&str> = recs[..5].iter().map(|r| r["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["handler", "validate", "middleware", "retry", "circuitBreaker"]);
    assert_eq!(recs[2]["middleware"], "audit");
    assert_eq!(recs[3]["attempt"], 0);
    let rid = recs[5]["requestId"].clone();
    assert!(recs.iter().all(|r| r["requestId"] == rid));
}

#[test]
fn a_failed_api_call_is_an_error_record_without_the_secrets_and_stays_valid_json() {
    let hub = api_hub();
    hub.enable_tracing(level(TraceLevel::Verbose)).unwrap();
    hub.registry().invoke(InvokeRequest::new("Lab", "Fail")).unwrap_err();
    let text = hub.trace_records_json(None);
    assert!(!text.contains("qwerty42"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    let recs = records(&hub);
    let err = recs.iter().find(|r| r["event"] == "apiError").unwrap();
    assert_eq!(err["success"], false);
    assert!(err["error"].as_str().unwrap().contains("token=***"));
}

#[test]
fn a_publish_inside_an_api_handler_carries_the_calls_request_id() {
    let hub = std::sync::Arc::new(Hub::new());
    hub.create_channel("Audit", None, 10).unwrap();
    let h = std::sync::Arc::downgrade(&hub);
    hub.registry()
        .register(ApiDefinition::new("Lab", "Pub"), move |_: &Call| {
            h.upgrade().unwrap().publish(PublishRequest::new("Audit", "Did")).unwrap();
            Ok(json("null"))
        })
        .unwrap();
    hub.enable_tracing(level(TraceLevel::Basic)).unwrap();
    hub.registry().invoke(InvokeRequest::new("Lab", "Pub")).unwrap();
    let recs = records(&hub);
    assert_eq!(events(&recs), ["publish", "apiCall"]);
    assert_eq!(recs[0]["requestId"], recs[1]["requestId"]);
}

#[test]
fn slow_operations_get_a_slow_record() {
    let hub = api_hub();
    hub.enable_tracing(TraceOptions { slow_threshold_ms: 0, ..TraceOptions::default() }).unwrap();
    hub.registry().invoke(InvokeRequest::new("Lab", "Run")).unwrap();
    let recs = records(&hub);
    assert_eq!(events(&recs), ["apiCall", "slow"]);
    assert_eq!(recs[1]["operation"], "apiCall");
}

#[test]
fn a_slow_push_delivery_gets_a_basic_slow_record_naming_the_delivery() {
    let cases = [(TraceLevel::Basic, vec!["publish", "slow"]), (TraceLevel::Verbose, vec!["publish", "deliver", "slow"])];
    for (trace_level, expected) in cases {
        let hub = Hub::new();
        hub.enable_tracing(TraceOptions { level: trace_level, slow_threshold_ms: 0, ..TraceOptions::default() }).unwrap();
        hub.create_channel("Jobs", None, 100).unwrap();
        hub.subscribe_push(SubscriptionOptions::new("Jobs"), Box::new(|_: &module_communication::Envelope| true)).unwrap();
        let id = hub.publish(PublishRequest::new("Jobs", "Run").correlation_id("corr-slow")).unwrap();
        assert!(common::eventually(Duration::from_secs(5), || events(&records(&hub)).len() == expected.len()));
        let recs = records(&hub);
        // The worker may record its delivery before the publisher records the publish.
        assert_eq!(sorted(events(&recs)), sorted(expected.iter().map(|e| e.to_string()).collect()));
        let slow = recs.iter().find(|r| r["event"] == "slow").unwrap();
        assert_eq!(slow["level"], "Basic");
        assert_eq!(slow["operation"], "delivery");
        assert_eq!(slow["outcome"], "Handled");
        assert_eq!(slow["messageId"], id.to_string().as_str());
        assert_eq!(slow["correlationId"], "corr-slow");
        assert_eq!(slow["channel"], "Jobs");
        assert_eq!(slow["messageType"], "Run");
        assert!(slow["durationMs"].is_number());
    }
}

#[test]
fn the_ring_keeps_the_newest_records_and_last_n_reads_the_tail() {
    let hub = Hub::new();
    hub.create_channel("C", None, 100).unwrap();
    hub.enable_tracing(TraceOptions { ring_size: 3, ..TraceOptions::default() }).unwrap();
    for t in ["a", "b", "c", "d", "e"] {
        hub.publish(PublishRequest::new("C", t)).unwrap();
    }
    let types = |json: String| -> Vec<String> {
        serde_json::from_str::<Vec<Value>>(&json).unwrap().iter().map(|r| r["messageType"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(types(hub.trace_records_json(None)), ["c", "d", "e"]);
    assert_eq!(types(hub.trace_records_json(Some(2))), ["d", "e"]);
    // Records stay readable after tracing is disabled.
    hub.disable_tracing(&DisableOptions::default()).unwrap();
    assert_eq!(types(hub.trace_records_json(Some(1))), ["e"]);
}

fn file_options(path: &Path, max: u64) -> TraceOptions {
    TraceOptions {
        level: TraceLevel::Verbose,
        log_to_file: true,
        file_path: Some(path.to_path_buf()),
        max_file_bytes: max,
        ..TraceOptions::default()
    }
}

#[test]
fn the_file_gets_one_json_line_per_record_and_rotates_at_the_size() {
    let dir = temp_dir("rotate");
    let path = dir.join("trace.log");
    let hub = Hub::new();
    hub.create_channel("C", None, 1000).unwrap();
    hub.enable_tracing(file_options(&path, 1024)).unwrap();
    for _ in 0..40 {
        hub.publish(PublishRequest::new("C", "T")).unwrap();
    }
    let summary = hub.disable_tracing(&DisableOptions::default()).unwrap();
    assert_eq!(summary.records, 40);
    assert_eq!(summary.dropped_records, 0);
    assert!(summary.files.len() >= 2, "{summary:?}");
    assert_eq!(summary.files.last().unwrap(), &path.display().to_string());
    let mut lines = 0;
    for f in &summary.files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(text.len() <= 1024, "{f} has {} bytes", text.len());
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["event"], "publish");
            lines += 1;
        }
    }
    assert_eq!(lines, 40);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_writer_that_falls_behind_accounts_for_every_record_written_or_dropped() {
    // Not blocking the caller is the sink's unit test (a full buffer is formatted by the
    // caller); here a one-record queue makes the file fall behind, and every record must be
    // either in the file or counted as dropped.
    let dir = temp_dir("drop");
    let hub = Hub::new();
    hub.create_channel("C", None, 10_000).unwrap();
    let opts = TraceOptions { queue_capacity: 1, ..file_options(&dir.join("t.log"), 1 << 20) };
    hub.enable_tracing(opts).unwrap();
    for _ in 0..2000 {
        hub.publish(PublishRequest::new("C", "T")).unwrap();
    }
    let summary = hub.disable_tracing(&DisableOptions::default()).unwrap();
    assert_eq!(summary.records, 2000);
    let written = std::fs::read_to_string(dir.join("t.log")).unwrap().lines().count() as u64;
    assert_eq!(written + summary.dropped_records, 2000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn disable_with_archive_writes_a_gzip_that_decompresses_to_the_trace() {
    let dir = temp_dir("archive");
    let path = dir.join("communication-trace.log");
    let hub = Hub::new();
    hub.create_channel("C", None, 1000).unwrap();
    hub.enable_tracing(file_options(&path, 1024)).unwrap();
    for _ in 0..30 {
        hub.publish(PublishRequest::new("C", "T")).unwrap();
    }
    let archive_dir = dir.join("trace-archive");
    let summary = hub
        .disable_tracing(&DisableOptions { archive_logs: true, archive_path: Some(archive_dir.clone()) })
        .unwrap();
    let archive = PathBuf::from(summary.archive.unwrap());
    assert_eq!(archive.parent().unwrap(), archive_dir);
    assert!(archive.file_name().unwrap().to_str().unwrap().starts_with("communication-trace-"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&archive).unwrap()).read_to_string(&mut text).unwrap();
    assert_eq!(text.lines().count(), 30);
    let expected: String = summary.files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    assert_eq!(text, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every record of every trace file in `dir` whose name starts with `stem`.
fn lines_on_disk(dir: &Path, stem: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(stem))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum()
}

#[test]
fn each_enable_starts_a_file_of_its_own_and_no_earlier_record_is_overwritten() {
    let dir = temp_dir("reenable");
    let path = dir.join("t.log");
    let hub = Hub::new();
    hub.create_channel("C", None, 1000).unwrap();
    let mut sessions = Vec::new();
    for _ in 0..3 {
        hub.enable_tracing(file_options(&path, 1024)).unwrap();
        for _ in 0..30 {
            hub.publish(PublishRequest::new("C", "T")).unwrap();
        }
        sessions.push(hub.disable_tracing(&DisableOptions::default()).unwrap());
    }
    assert_eq!(lines_on_disk(&dir, "t.log"), 90, "every record of the three sessions is still on disk");
    for s in &sessions {
        let lines: usize = s.files.iter().map(|f| std::fs::read_to_string(f).unwrap().lines().count()).sum();
        assert_eq!(lines, 30, "a session's files hold its records only: {s:?}");
        for f in &s.files {
            assert!(std::fs::metadata(f).unwrap().len() <= 1024, "{f}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_enables_of_one_file_at_once_move_the_old_content_aside_once_and_trace_into_the_new_file() {
    let dir = temp_dir("enable-race");
    let path = dir.join("t.log");
    for round in 0..60 {
        std::fs::write(&path, "OLD\n").unwrap();
        let _ = std::fs::remove_file(dir.join("t.log.1"));
        let hub = std::sync::Arc::new(Hub::new());
        hub.create_channel("C", None, 1000).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let enables: Vec<_> = (0..2)
            .map(|_| {
                let (hub, barrier, path) = (hub.clone(), barrier.clone(), path.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    hub.enable_tracing(file_options(&path, 1 << 20)).unwrap();
                })
            })
            .collect();
        enables.into_iter().for_each(|t| t.join().unwrap());
        hub.publish(PublishRequest::new("C", "T")).unwrap();
        hub.disable_tracing(&DisableOptions::default()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("t.log.1")).unwrap(), "OLD\n", "round {round}: the old part");
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"publish\""), "round {round}: the new records");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Records in an archive made by `disable_tracing` with archiving into `dir`.
fn archived_lines(hub: &Hub, dir: &Path) -> (usize, Vec<String>) {
    let summary =
        hub.disable_tracing(&DisableOptions { archive_logs: true, archive_path: Some(dir.to_path_buf()) }).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(summary.archive.unwrap()).unwrap()).read_to_string(&mut text).unwrap();
    (text.lines().count(), summary.files)
}

#[test]
fn a_trace_enabled_again_keeps_its_earlier_files_in_its_list_and_archive() {
    let dir = temp_dir("reenable-archive");
    let hub = Hub::new();
    hub.create_channel("C", None, 1000).unwrap();
    let publish = |n: usize| {
        for _ in 0..n {
            hub.publish(PublishRequest::new("C", "T")).unwrap();
        }
    };

    // Another file: both are the trace's.
    hub.enable_tracing(file_options(&dir.join("a.log"), 1 << 20)).unwrap();
    publish(5);
    hub.enable_tracing(file_options(&dir.join("b.log"), 1 << 20)).unwrap();
    publish(7);
    let (lines, files) = archived_lines(&hub, &dir.join("archive1"));
    assert_eq!(lines, 12);
    assert_eq!(files.len(), 2, "{files:?}");

    // The same file with other options: it goes on in that file, not moved aside.
    hub.enable_tracing(file_options(&dir.join("c.log"), 1 << 20)).unwrap();
    publish(5);
    hub.enable_tracing(TraceOptions { level: TraceLevel::Basic, ..file_options(&dir.join("c.log"), 1 << 20) }).unwrap();
    publish(7);
    let (lines, files) = archived_lines(&hub, &dir.join("archive2"));
    assert_eq!(lines, 12);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(!dir.join("c.log.1").exists(), "the trace went on in its file");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A trace enabled again with its own file goes on in that file counting what it holds
/// already: the file still rotates at its size, as it would had the options not changed.
#[test]
fn a_trace_enabled_again_with_its_file_counts_what_the_file_holds_towards_its_size() {
    let dir = temp_dir("reenable-size");
    let path = dir.join("t.log");
    let hub = Hub::new();
    hub.create_channel("C", None, 1000).unwrap();
    hub.enable_tracing(file_options(&path, 1024)).unwrap();
    for _ in 0..3 {
        hub.publish(PublishRequest::new("C", "T")).unwrap();
    }
    hub.enable_tracing(TraceOptions { level: TraceLevel::Basic, ..file_options(&path, 1024) }).unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    assert!(before > 0 && before < 1024, "the first part of the trace fits in the file: {before} bytes");
    for _ in 0..20 {
        hub.publish(PublishRequest::new("C", "T")).unwrap();
    }
    let summary = hub.disable_tracing(&DisableOptions::default()).unwrap();
    assert!(summary.files.len() >= 2, "{summary:?}");
    let mut lines = 0;
    for f in &summary.files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(text.len() <= 1024, "{f} has {} bytes", text.len());
        lines += text.lines().count();
    }
    assert_eq!(lines, 23);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_symlinked_trace_file_is_followed_and_the_link_kept() {
    let dir = temp_dir("symlink");
    let real = dir.join("real");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::write(real.join("target.log"), "old line\n").unwrap();
    let link = dir.join("trace.log");
    std::os::unix::fs::symlink(real.join("target.log"), &link).unwrap();
    let hub = Hub::new();
    hub.create_channel("C", None, 1000).unwrap();
    hub.enable_tracing(file_options(&link, 1 << 20)).unwrap();
    hub.publish(PublishRequest::new("C", "T")).unwrap();
    hub.disable_tracing(&DisableOptions::default()).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is still there");
    assert_eq!(std::fs::read_to_string(real.join("target.log.1")).unwrap(), "old line\n", "the old trace moved aside");
    assert_eq!(std::fs::read_to_string(&link).unwrap().lines().count(), 1, "the new trace went to the target");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_archive_holds_the_records_of_its_own_session_only() {
    let dir = temp_dir("archive2");
    let path = dir.join("t.log");
    let archive_dir = dir.join("archive");
    let hub = Hub::new();
    hub.create_channel("C", None, 1000).unwrap();
    hub.enable_tracing(file_options(&path, 1 << 20)).unwrap();
    hub.publish(PublishRequest::new("C", "First")).unwrap();
    hub.disable_tracing(&DisableOptions::default()).unwrap();
    hub.enable_tracing(file_options(&path, 1 << 20)).unwrap();
    hub.publish(PublishRequest::new("C", "Second")).unwrap();
    let summary = hub
        .disable_tracing(&DisableOptions { archive_logs: true, archive_path: Some(archive_dir.clone()) })
        .unwrap();
    let mut text = String::new();
    let archive = std::fs::File::open(summary.archive.unwrap()).unwrap();
    flate2::read::GzDecoder::new(archive).read_to_string(&mut text).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("Second"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_trace_file_that_is_a_named_pipe_or_a_folder_is_refused_at_once_and_tracing_stays_as_it_was() {
    use std::os::unix::fs::FileTypeExt;
    let dir = temp_dir("pipe");
    let pipe = dir.join("trace.pipe");
    common::mkfifo(&pipe);
    let hub = std::sync::Arc::new(Hub::new());
    hub.enable_tracing(level(TraceLevel::Verbose)).unwrap();
    for path in [pipe.clone(), dir.clone()] {
        let (h, options) = (std::sync::Arc::clone(&hub), file_options(&path, 1 << 20));
        // Opening a pipe that no one reads would block (and, under the tracer's lock, every
        // other tracing call with it).
        let result = common::within(common::LONG, move || h.enable_tracing(options));
        let e = result.expect("enabling returned").unwrap_err().to_string();
        assert!(e.contains("filePath") && e.contains(path.to_str().unwrap()), "{e}");
        assert!(e.contains("not a regular file"), "{e}");
    }
    let status: Value = serde_json::from_str(&hub.trace_status_json()).unwrap();
    assert_eq!((&status["level"], &status["logToFile"]), (&Value::from("Verbose"), &Value::Bool(false)));
    assert!(std::fs::symlink_metadata(&pipe).unwrap().file_type().is_fifo(), "the pipe is untouched");
    hub.disable_tracing(&DisableOptions::default()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_trace_file_under_a_file_or_a_missing_folder_is_refused_saying_why_in_plain_words() {
    let dir = temp_dir("under-a-file");
    let plain = dir.join("plain.txt");
    std::fs::write(&plain, "x").unwrap();
    let hub = Hub::new();
    let e = hub.enable_tracing(file_options(&plain.join("t.log"), 1 << 20)).unwrap_err().to_string();
    assert!(e.contains(&format!("could not create its folder: '{}' is a file, not a folder", plain.display())), "{e}");
    assert!(!e.contains("File exists"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_options_fail_naming_the_value_and_leave_tracing_as_it_was() {
    let hub = Hub::new();
    hub.enable_tracing(level(TraceLevel::Verbose)).unwrap();
    let e = hub.enable_tracing_json(Some(r#"{"level":"Loud"}"#)).unwrap_err().to_string();
    assert!(e.contains("Loud"), "{e}");
    let e = hub.enable_tracing_json(Some(r#"{"logToFile":true}"#)).unwrap_err().to_string();
    assert!(e.contains("filePath"), "{e}");
    let e = hub
        .enable_tracing(file_options(Path::new("/proc/no-such-dir/t.log"), 1 << 20))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/proc/no-such-dir/t.log"), "{e}");
    assert!(hub.trace_status_json().contains(r#""level":"Verbose""#));
    let e = hub.disable_tracing_json(Some(r#"{"archiveLogs":true}"#)).unwrap_err().to_string();
    assert!(e.contains("Get-MessageTrace"), "{e}");
    assert!(hub.trace_status_json().contains(r#""enabled":true"#), "a refused disable leaves tracing on");
}

#[test]
fn an_empty_archive_path_archives_beside_the_trace_file_as_none_does() {
    let dir = temp_dir("archive-empty-path");
    let hub = Hub::new();
    hub.create_channel("C", None, 100).unwrap();
    hub.enable_tracing(file_options(&dir.join("trace.log"), 1 << 20)).unwrap();
    hub.publish(PublishRequest::new("C", "T")).unwrap();
    let options = DisableOptions { archive_logs: true, archive_path: Some(PathBuf::new()) };
    let archive = PathBuf::from(hub.disable_tracing(&options).unwrap().archive.unwrap());
    let beside = archive.parent() == Some(dir.as_path());
    if !beside {
        let _ = std::fs::remove_file(&archive); // not left in the folder the test runs in
    }
    assert!(beside, "the archive is in the trace file's folder: {}", archive.display());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_archive_that_cannot_be_made_leaves_tracing_on_and_a_retry_archives_the_whole_trace() {
    let dir = temp_dir("archive-retry");
    let hub = Hub::new();
    hub.create_channel("C", None, 100).unwrap();
    hub.enable_tracing(file_options(&dir.join("trace.log"), 1 << 20)).unwrap();
    hub.publish(PublishRequest::new("C", "Before")).unwrap();
    // A file where the archive folder should be: no folder can be made there.
    let blocked = dir.join("not-a-folder");
    std::fs::write(&blocked, "").unwrap();
    let bad = DisableOptions { archive_logs: true, archive_path: Some(blocked.join("archive")) };
    let e = hub.disable_tracing(&bad).unwrap_err().to_string();
    assert!(e.contains("archivePath") && e.contains("not-a-folder"), "{e}");
    let status: Value = serde_json::from_str(&hub.trace_status_json()).unwrap();
    assert_eq!((&status["enabled"], &status["logToFile"]), (&Value::Bool(true), &Value::Bool(true)));
    hub.publish(PublishRequest::new("C", "After")).unwrap();

    let good = DisableOptions { archive_logs: true, archive_path: Some(dir.join("archive")) };
    let summary = hub.disable_tracing(&good).unwrap();
    let mut text = String::new();
    let archive = std::fs::File::open(summary.archive.unwrap()).unwrap();
    flate2::read::GzDecoder::new(archive).read_to_string(&mut text).unwrap();
    assert!(text.contains("Before") && text.contains("After"), "the trace went on: {text}");
    assert!(hub.trace_status_json().contains(r#""enabled":false"#));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn enable_tracing_in_the_configuration_switches_tracing_and_is_reported() {
    let hub = Hub::new();
    let enabled = |hub: &Hub| serde_json::from_str::<Value>(&hub.config_json()).unwrap()["enableTracing"].clone();
    assert_eq!(enabled(&hub), Value::Bool(false));

    hub.update_config_json(r#"{"EnableTracing":true,"maxEventHistory":2000}"#).unwrap();
    assert_eq!(enabled(&hub), Value::Bool(true));
    round_trip(&hub);
    assert!(events(&records(&hub)).contains(&"publish".to_owned()), "a Basic trace records publishes");

    // Already on: a Verbose trace keeps its level.
    hub.enable_tracing(level(TraceLevel::Verbose)).unwrap();
    hub.update_config_json(r#"{"enableTracing":true}"#).unwrap();
    let status: Value = serde_json::from_str(&hub.trace_status_json()).unwrap();
    assert_eq!(status["level"], "Verbose");

    hub.update_config_json(r#"{"enableTracing":false}"#).unwrap();
    assert_eq!(enabled(&hub), Value::Bool(false));
    assert_eq!(serde_json::from_str::<Value>(&hub.trace_status_json()).unwrap()["enabled"], false);
}

#[test]
fn a_bad_enable_tracing_value_changes_nothing() {
    let hub = Hub::new();
    let err = hub.update_config_json(r#"{"enableTracing":"yes","maxEventHistory":2000}"#).unwrap_err();
    assert!(err.to_string().contains("enableTracing"), "{err}");
    assert_eq!(hub.config().max_event_history, 1000);
    // A bad value elsewhere leaves tracing off too.
    assert!(hub.update_config_json(r#"{"enableTracing":true,"maxEventHistory":-1}"#).is_err());
    assert_eq!(serde_json::from_str::<Value>(&hub.trace_status_json()).unwrap()["enabled"], false);
}

#[test]
fn changing_the_options_of_a_running_trace_keeps_its_records_and_counts_and_enabling_after_disable_starts_anew() {
    let hub = Hub::new();
    hub.create_channel("C", None, 100).unwrap();
    let types = |hub: &Hub| -> Vec<String> {
        let json = hub.trace_records_json(None);
        serde_json::from_str::<Vec<Value>>(&json)
            .unwrap()
            .iter()
            .map(|r| r["messageType"].as_str().unwrap().to_owned())
            .collect()
    };
    hub.enable_tracing(level(TraceLevel::Basic)).unwrap();
    for t in ["a", "b"] {
        hub.publish(PublishRequest::new("C", t)).unwrap();
    }
    hub.enable_tracing(TraceOptions { ring_size: 3, ..level(TraceLevel::Verbose) }).unwrap();
    assert_eq!(types(&hub), ["a", "b"], "the records of the trace before its options changed");
    for t in ["c", "d"] {
        hub.publish(PublishRequest::new("C", t)).unwrap();
    }
    assert_eq!(types(&hub), ["b", "c", "d"], "the new ring size holds the newest");
    assert_eq!(hub.disable_tracing(&DisableOptions::default()).unwrap().records, 4);
    hub.enable_tracing(level(TraceLevel::Basic)).unwrap();
    assert!(types(&hub).is_empty(), "a trace enabled after Disable is a new one");
}
