//! Events: wildcard subscriptions, broadcast, the history ring, persistence (round trip,
//! torn last line, corruption, rotation), export/import, and replay without a gap or a
//! duplicate at the seam.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, LONG};
use module_communication::{
    ChannelKind, Config, DeliveryReport, Envelope, Error, EventQuery, EventRequest, EventSubscriptionOptions,
    HistoryFormat, Hub, ManualClock, OverflowPolicy, Priority, PublishRequest, SubscriptionId, SubscriptionOptions,
};

/// A fresh, empty folder for one test's files.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mc-events-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn set_history_file(hub: &Hub, path: &Path) -> Result<(), Error> {
    hub.update_config_json(&serde_json::json!({ "eventHistoryPath": path.to_str().unwrap() }).to_string())
}

/// Sets the history file and the size at which it rotates.
fn set_rotating_history_file(hub: &Hub, path: &Path, max_bytes: u64) {
    let config = serde_json::json!({ "eventHistoryPath": path.to_str().unwrap(), "eventHistoryMaxBytes": max_bytes });
    hub.update_config_json(&config.to_string()).unwrap();
}

fn names(events: &[Arc<Envelope>]) -> Vec<String> {
    events.iter().map(|e| e.message_type().to_owned()).collect()
}

fn take_all(hub: &Hub, sub: SubscriptionId) -> Vec<Arc<Envelope>> {
    let batch = hub.take(sub, 100_000, Duration::ZERO).unwrap();
    hub.complete(sub, DeliveryReport { handled: batch.len(), ..Default::default() }).unwrap();
    batch
}

fn event(name: &str, data: &str) -> EventRequest {
    EventRequest::new(name).data_json(data).unwrap()
}

// ----- names and wildcards ----------------------------------------------------------------

#[test]
fn event_names_match_like_patterns_case_insensitively() {
    // (pattern, name, matches)
    let table: &[(&str, &str, bool)] = &[
        ("Module*", "ModuleInitialized", true),
        ("Module*", "moduleinitialized", true),
        ("MODULE*", "ModuleInitialized", true),
        ("Module*", "Module", true),
        ("Module*", "ModulInitialized", false),
        ("*Initialized", "ModuleInitialized", true),
        ("*Initialized", "ModuleInitializedLate", false),
        ("LabStep*", "LabStepStarted", true),
        ("LabStep*", "LabStep", true),
        ("LabStep*", "XLabStepStarted", false),
        ("Lab?tep", "LabStep", true),
        ("Lab?tep", "Labtep", false),
        ("Lab?tep", "LabXXtep", false),
        ("Step[a-c]", "StepA", true),
        ("Step[a-c]", "stepc", true),
        ("Step[a-c]", "StepD", false),
        ("Step[abc]1", "Stepb1", true),
        ("Lab.Step", "Lab.Step", true),
        ("Lab.Step", "LabXStep", false),
        ("Lab.*", "Lab.Started", true),
        ("Lab.*", "LabStarted", false),
        ("Größe*", "GRÖSSEÄnderung", false),
        ("Größe*", "GRÖßEÄnderung", true),
        ("*", "Anything.At-All", true),
        ("Exact", "exact", true),
        ("Exact", "Exactly", false),
        ("a`*b", "a*b", true),
        ("a`*b", "axb", false),
    ];
    let hub = Hub::new();
    let subs: Vec<SubscriptionId> = table
        .iter()
        .map(|(p, _, _)| hub.subscribe_events_pull(EventSubscriptionOptions::new(*p), None).unwrap())
        .collect();
    let distinct: HashSet<&str> = table.iter().map(|(_, n, _)| *n).collect();
    for n in &distinct {
        hub.publish_event(EventRequest::new(*n)).unwrap();
    }
    for (i, (pattern, name, expected)) in table.iter().enumerate() {
        let got = names(&hub.take(subs[i], 1000, Duration::ZERO).unwrap());
        assert_eq!(got.iter().any(|g| g == name), *expected, "pattern {pattern:?} against {name:?}; received {got:?}");
    }
}

#[test]
fn a_bad_event_pattern_is_refused_naming_it() {
    let hub = Hub::new();
    let err = hub.subscribe_events_pull(EventSubscriptionOptions::new("Lab[b-a]"), None).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { ref name, .. } if name == "event name"), "{err:?}");
    let err = hub.subscribe_events_pull(EventSubscriptionOptions::new(""), None).unwrap_err();
    assert!(err.to_string().contains("event name"), "{err}");
    let err = hub.events(&EventQuery::default().name("[x")).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
}

#[test]
fn a_blank_control_or_overlong_event_name_is_refused_naming_the_event_name() {
    let hub = Hub::new();
    for name in ["   ".to_owned(), "a\tb".to_owned(), "x".repeat(300)] {
        let err = hub.subscribe_events_pull(EventSubscriptionOptions::new(name.as_str()), None).unwrap_err();
        // Not "messageType", which event subscriptions do not have.
        assert!(matches!(err, Error::InvalidArgument { ref name, .. } if name == "event name"), "{err:?}");
    }
}

#[test]
fn bad_events_are_refused_and_nothing_is_published() {
    let hub = Hub::new();
    for req in [
        EventRequest::new(""),
        EventRequest::new("Tab\there"),
        EventRequest::new("Ok").channel("Bad*"),
        EventRequest::new("Ok").channel(""),
        EventRequest::new("Ok").source_module(""),
    ] {
        let err = hub.publish_event(req).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    }
    assert!(hub.events(&EventQuery::default()).unwrap().is_empty());
    for json in [r#"{"data":1}"#, "[]"] {
        assert!(matches!(hub.publish_event_json(json), Err(Error::InvalidJson { .. })), "{json}");
    }
    for json in [r#"{"name":"X","bogus":1}"#, r#"{"name":"X","priority":7}"#, r#"{"name":"X","broadcast":"yes"}"#] {
        assert!(matches!(hub.publish_event_json(json), Err(Error::InvalidArgument { .. })), "{json}");
    }
    let err = hub.publish_event_json(r#"{"name":"X","priority":"Urgent"}"#).unwrap_err();
    assert!(err.to_string().contains("Urgent"), "{err}");
}

// ----- channels, kinds and broadcast ------------------------------------------------------------

#[test]
fn events_go_to_the_events_channel_unless_another_is_named_and_are_not_message_channels() {
    let hub = Hub::new();
    let all = hub.subscribe_events_pull(EventSubscriptionOptions::default(), None).unwrap();
    let lab_only = hub.subscribe_events_pull(EventSubscriptionOptions::default().channel("lab"), None).unwrap();
    hub.publish_event(EventRequest::new("A")).unwrap();
    hub.publish_event(EventRequest::new("B").channel("Lab")).unwrap();

    let got = take_all(&hub, all);
    assert_eq!(names(&got), ["A", "B"]);
    assert_eq!(got[0].channel(), "Events");
    assert_eq!(got[1].channel(), "Lab");
    assert_eq!(names(&take_all(&hub, lab_only)), ["B"]);
    assert!(hub.channels(None).unwrap().is_empty(), "event channels are not listed as message channels");
    assert!(matches!(hub.publish(PublishRequest::new("Events", "A")), Err(Error::ChannelNotFound { .. })));
}

#[test]
fn message_and_event_subscriptions_never_see_each_other() {
    let hub = Hub::new();
    hub.create_channel("Events", None, 0).unwrap(); // same name as the default event channel
    let messages = hub.subscribe_pull(SubscriptionOptions::new("*"), None).unwrap();
    let events = hub.subscribe_events_pull(EventSubscriptionOptions::default(), None).unwrap();
    hub.publish(PublishRequest::new("Events", "AMessage")).unwrap();
    hub.publish_event(EventRequest::new("AnEvent")).unwrap();
    assert_eq!(names(&take_all(&hub, messages)), ["AMessage"]);
    assert_eq!(names(&take_all(&hub, events)), ["AnEvent"]);

    let kinds: Vec<(SubscriptionId, ChannelKind)> =
        hub.subscriptions(None).unwrap().into_iter().map(|s| (s.id, s.kind)).collect();
    assert_eq!(kinds, [(messages, ChannelKind::Message), (events, ChannelKind::Event)]);
}

#[test]
fn event_json_carries_the_name_and_the_data_as_given() {
    let hub = Hub::new();
    let sub = hub.subscribe_events_pull(EventSubscriptionOptions::new("ModuleInitialized"), None).unwrap();
    let req = EventRequest::new("ModuleInitialized")
        .data_json("{\"ModuleName\": \"LabRunner\",\n \"Ratio\": 1.10}")
        .unwrap()
        .source_module("LabRunner")
        .priority(Priority::High)
        .correlation_id("c-1")
        .type_hints_json(r#"[[["Ratio"],"decimal"]]"#)
        .unwrap();
    let id = hub.publish_event(req).unwrap();
    let got = take_all(&hub, sub);
    let e = &got[0];
    assert_eq!(e.id(), id);
    assert_eq!(e.message_type(), "ModuleInitialized");
    assert_eq!(e.data_json(), Some("{\"ModuleName\": \"LabRunner\", \"Ratio\": 1.10}"), "line breaks go, tokens stay");
    assert_eq!(e.type_hints_json(), Some(r#"[[["Ratio"],"decimal"]]"#));
    let v: serde_json::Value = serde_json::from_str(e.to_json()).unwrap();
    assert_eq!(v["name"], "ModuleInitialized");
    assert_eq!(v["channel"], "Events");
    assert_eq!(v["sourceModule"], "LabRunner");
    assert_eq!(v["priority"], "High");
    assert_eq!(v["correlationId"], "c-1");
    assert!(v.get("messageType").is_none());
    assert!(!e.to_json().contains('\n'));
}

#[test]
fn broadcast_sends_one_message_per_message_channel_with_the_events_id_and_data() {
    let hub = Hub::new();
    for c in ["Configuration", "Lab"] {
        hub.create_channel(c, None, 0).unwrap();
    }
    let messages = hub.subscribe_pull(SubscriptionOptions::new("*"), None).unwrap();
    let config_only =
        hub.subscribe_pull(SubscriptionOptions::new("Configuration").message_type("System*"), None).unwrap();
    let events = hub.subscribe_events_pull(EventSubscriptionOptions::new("SystemShutdown"), None).unwrap();
    let req = event("SystemShutdown", r#"{"Reason":"Maintenance"}"#).source_module("Ops").broadcast(true);
    let id = hub.publish_event(req).unwrap();

    let got = take_all(&hub, messages);
    let mut channels: Vec<&str> = got.iter().map(|m| m.channel()).collect();
    channels.sort_unstable();
    assert_eq!(channels, ["Configuration", "Lab"]);
    for m in &got {
        assert_eq!(m.id(), id);
        assert_eq!(m.message_type(), "SystemShutdown");
        assert_eq!(m.data_json(), Some(r#"{"Reason":"Maintenance"}"#));
        assert_eq!(m.source_module(), Some("Ops"));
    }
    assert_eq!(take_all(&hub, config_only).len(), 1);
    assert_eq!(take_all(&hub, events)[0].id(), id);
    assert_eq!(hub.events(&EventQuery::default()).unwrap().len(), 1, "copies are not history");
    hub.wait_delivered(id, LONG).unwrap();
}

#[test]
fn waiting_for_a_broadcast_event_waits_for_its_message_copies_too() {
    let hub = Hub::new();
    hub.create_channel("Lab", None, 0).unwrap();
    let messages = hub.subscribe_pull(SubscriptionOptions::new("Lab"), None).unwrap();
    let id = hub.publish_event(EventRequest::new("Shutdown").broadcast(true)).unwrap();
    assert!(matches!(hub.wait_delivered(id, Duration::from_millis(10)), Err(Error::Timeout { .. })));
    take_all(&hub, messages);
    hub.wait_delivered(id, LONG).unwrap();
}

#[test]
fn a_rejecting_event_subscriber_makes_publish_report_queue_full_and_others_still_get_it() {
    let hub = Hub::new();
    let strict = hub
        .subscribe_events_pull(EventSubscriptionOptions::default().capacity(1).overflow(OverflowPolicy::Reject), None)
        .unwrap();
    let relaxed = hub.subscribe_events_pull(EventSubscriptionOptions::default(), None).unwrap();
    hub.publish_event(EventRequest::new("one")).unwrap();
    let err = hub.publish_event(EventRequest::new("two")).unwrap_err();
    let Error::QueueFull { message_id, rejected: 1 } = err else { panic!("{err:?}") };
    assert_eq!(names(&take_all(&hub, relaxed)), ["one", "two"]);
    assert_eq!(take_all(&hub, strict).len(), 1);
    assert_eq!(hub.events(&EventQuery::default()).unwrap()[1].id(), message_id);
}

#[test]
fn push_event_handlers_run_on_a_worker_and_count_failures() {
    let hub = Hub::new();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&seen);
    let sub = hub
        .subscribe_events_push(EventSubscriptionOptions::new("Tick"), move |e| {
            s.fetch_add(1, Ordering::SeqCst);
            e.data_json() != Some("3")
        })
        .unwrap();
    let ids: Vec<_> = (1..=5).map(|i| hub.publish_event(event("Tick", &i.to_string())).unwrap()).collect();
    for id in ids {
        hub.wait_delivered(id, LONG).unwrap();
    }
    assert_eq!(seen.load(Ordering::SeqCst), 5);
    let info = hub.subscriptions(None).unwrap().into_iter().find(|s| s.id == sub).unwrap();
    assert_eq!((info.delivered, info.failed), (4, 1));
}

// ----- history ------------------------------------------------------------------------------

#[test]
fn after_ten_thousand_events_exactly_the_newest_thousand_remain_in_order() {
    let hub = Hub::new();
    assert_eq!(hub.config().max_event_history, 1000);
    for i in 0..10_000 {
        hub.publish_event(event("Tick", &i.to_string())).unwrap();
    }
    let history = hub.events(&EventQuery::default()).unwrap();
    assert_eq!(history.len(), 1000);
    let datas: Vec<u32> = history.iter().map(|e| e.data_json().unwrap().parse().unwrap()).collect();
    assert_eq!(datas, (9_000..10_000).collect::<Vec<u32>>());
    assert_eq!(hub.event_history_info().count, 1000);
}

#[test]
fn max_event_history_is_configurable_and_shrinking_drops_the_oldest() {
    let hub = Hub::new();
    hub.update_config_json(r#"{"maxEventHistory":5}"#).unwrap();
    for i in 0..8 {
        hub.publish_event(event("T", &i.to_string())).unwrap();
    }
    let datas = |hub: &Hub| -> Vec<String> {
        hub.events(&EventQuery::default()).unwrap().iter().map(|e| e.data_json().unwrap().to_owned()).collect()
    };
    assert_eq!(datas(&hub), ["3", "4", "5", "6", "7"]);
    hub.update_config_json(r#"{"maxEventHistory":2}"#).unwrap();
    assert_eq!(datas(&hub), ["6", "7"]);
    hub.update_config_json(r#"{"maxEventHistory":0}"#).unwrap();
    hub.publish_event(EventRequest::new("T")).unwrap();
    assert!(datas(&hub).is_empty(), "0 keeps no history");
}

#[test]
fn history_queries_filter_by_name_source_time_and_count() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let hub = Hub::with_clock(clock.clone());
    for (name, source) in
        [("LabStepStarted", "LabRunner"), ("ConfigChanged", "Config"), ("LabStepCompleted", "LabRunner")]
    {
        hub.publish_event(EventRequest::new(name).source_module(source)).unwrap();
        clock.advance(1_000);
    }
    hub.publish_event(EventRequest::new("LabStepFailed")).unwrap();
    let q = |q: EventQuery| names(&hub.events(&q).unwrap());
    assert_eq!(q(EventQuery::default().name("labstep*")), ["LabStepStarted", "LabStepCompleted", "LabStepFailed"]);
    assert_eq!(q(EventQuery::default().source_module("Lab*")), ["LabStepStarted", "LabStepCompleted"]);
    assert_eq!(q(EventQuery::default().since_ms(1_001_000)), ["ConfigChanged", "LabStepCompleted", "LabStepFailed"]);
    assert_eq!(q(EventQuery::default().name("LabStep*").last(2)), ["LabStepCompleted", "LabStepFailed"]);
    assert_eq!(q(EventQuery::default().last(0)), Vec::<String>::new());
    let json = EventQuery::from_json(r#"{"name":"Lab*","since":"1970-01-01T00:16:41.000Z","last":5}"#).unwrap();
    assert_eq!(json.since_ms, Some(1_001_000));
    assert!(matches!(EventQuery::from_json(r#"{"since":"yesterday"}"#), Err(Error::InvalidArgument { .. })));
    assert_eq!(EventQuery::from_json(r#"{"since":-5}"#).unwrap().since_ms, Some(-5));
    // Numbers that are not whole milliseconds, and other kinds, name the key and the value.
    for bad in ["18446744073709551615", "1e300", "1.5", "true", "[1]"] {
        let err = EventQuery::from_json(&format!(r#"{{"since":{bad}}}"#)).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { name, value, .. } if name == "since" && value == bad),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn clearing_removes_matching_events_and_reports_how_many() {
    let hub = Hub::new();
    for n in ["LabStepStarted", "ConfigChanged", "LabStepCompleted"] {
        hub.publish_event(EventRequest::new(n)).unwrap();
    }
    assert_eq!(hub.clear_events(&EventQuery::default().name("LabStep*")).unwrap(), 2);
    assert_eq!(names(&hub.events(&EventQuery::default()).unwrap()), ["ConfigChanged"]);
    assert_eq!(hub.clear_events(&EventQuery::default()).unwrap(), 1);
    assert_eq!(hub.clear_events(&EventQuery::default()).unwrap(), 0);
}

// ----- persistence --------------------------------------------------------------------------

#[test]
fn exporting_onto_the_live_history_file_is_refused_and_the_file_keeps_every_event() {
    let dir = temp_dir("export-live");
    let path = dir.join("history.jsonl");
    let hub = Hub::new();
    set_history_file(&hub, &path).unwrap();
    hub.publish_event(event("A", "1")).unwrap();
    hub.publish_event(event("B", "2")).unwrap();
    for target in [path.clone(), dir.join("history.jsonl.1"), dir.join(".").join("history.jsonl")] {
        let err = hub.export_events(&target, HistoryFormat::JsonLines, &EventQuery::default()).unwrap_err();
        assert!(err.to_string().contains("EventHistoryPath"), "{}: {err}", target.display());
    }
    hub.publish_event(event("C", "3")).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 3, "nothing was replaced, C was appended");
    hub.export_events(&dir.join("copy.jsonl"), HistoryFormat::JsonLines, &EventQuery::default()).unwrap();

    // An export is written through a new temporary file of its own: a history file named like
    // one (`<target>.partial`) is neither truncated nor refused.
    let partial = dir.join("events.jsonl.partial");
    set_history_file(&hub, &partial).unwrap();
    hub.publish_event(event("D", "4")).unwrap();
    hub.export_events(&dir.join("events.jsonl"), HistoryFormat::JsonLines, &EventQuery::default()).unwrap();
    assert_eq!(fs::read_to_string(&partial).unwrap().lines().count(), 1, "the history file keeps its event");
}

#[test]
fn concurrent_exports_to_one_path_each_write_a_whole_file() {
    const N: usize = 300;
    let dir = temp_dir("export-race");
    let path = dir.join("out.jsonl");
    // Two hubs with different events: the file must always be one hub's whole export.
    let hubs: Vec<Arc<Hub>> = ["A", "B"]
        .iter()
        .map(|name| {
            let hub = Arc::new(Hub::new());
            for n in 0..N {
                hub.publish_event(event(name, &n.to_string())).unwrap();
            }
            hub
        })
        .collect();
    let all = EventQuery::default();
    hubs[0].export_events(&path, HistoryFormat::JsonLines, &all).unwrap();
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let (hub, path) = (hubs[i % 2].clone(), path.clone());
            std::thread::spawn(move || {
                for _ in 0..150 {
                    assert_eq!(hub.export_events(&path, HistoryFormat::JsonLines, &EventQuery::default()).unwrap(), N);
                }
            })
        })
        .collect();
    while !writers.iter().all(|w| w.is_finished()) {
        let text = fs::read_to_string(&path).unwrap();
        let (a, b) = (text.matches("\"name\":\"A\"").count(), text.matches("\"name\":\"B\"").count());
        let whole = text.lines().count() == N && text.ends_with('\n');
        assert!(whole && ((a, b) == (N, 0) || (a, b) == (0, N)), "{} bytes: {a} A, {b} B", text.len());
    }
    for w in writers {
        w.join().unwrap();
    }
    let left: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("out.jsonl")], "no temporary file is left");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn every_event_is_in_the_history_file_when_publish_returns_and_a_new_hub_reloads_them() {
    let dir = temp_dir("roundtrip");
    let path = dir.join("history.jsonl");
    let hub = Hub::new();
    set_history_file(&hub, &path).unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let req = event("Saved", &format!(r#"{{"i":{i},"When":"2026-11-27T06:00:00.0000000Z"}}"#))
            .type_hints_json(r#"[[["When"],"datetime"]]"#)
            .unwrap()
            .source_module("Tester");
        let id = hub.publish_event(req).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), i + 1);
        assert!(text.lines().last().unwrap().contains(&id.to_string()), "the event is on disk before publish returns");
        ids.push(id);
    }
    let before: Vec<String> =
        hub.events(&EventQuery::default()).unwrap().iter().map(|e| e.to_json().to_owned()).collect();
    drop(hub);

    let again = Hub::new();
    set_history_file(&again, &path).unwrap();
    let after: Vec<String> =
        again.events(&EventQuery::default()).unwrap().iter().map(|e| e.to_json().to_owned()).collect();
    assert_eq!(after, before, "ids, names, data, type hints, sources and timestamps survive");
    assert!(again.event_history_info().load_warnings.is_empty());
    assert_eq!(again.event_history_info().path.as_deref(), path.to_str());
    // Appending continues in the same file.
    again.publish_event(EventRequest::new("Later")).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 6);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_torn_last_line_is_skipped_with_a_warning_and_the_complete_records_are_kept() {
    let dir = temp_dir("torn");
    let path = dir.join("history.jsonl");
    {
        let hub = Hub::new();
        set_history_file(&hub, &path).unwrap();
        for i in 0..3 {
            hub.publish_event(event("Kept", &i.to_string())).unwrap();
        }
    }
    let complete = fs::read(&path).unwrap();
    let mut torn = complete.clone();
    torn.extend_from_slice(br#"{"id":"6f1c3a0e-0000-4000-8000-00000000000a","name":"Lost","chan"#);
    fs::write(&path, &torn).unwrap();

    let hub = Hub::new();
    set_history_file(&hub, &path).unwrap();
    let info = hub.event_history_info();
    assert_eq!(info.count, 3);
    assert_eq!(info.load_warnings.len(), 1);
    assert!(info.load_warnings[0].contains("torn last line"), "{:?}", info.load_warnings);
    assert!(info.load_warnings[0].contains("line 4"), "{:?}", info.load_warnings);
    assert_eq!(fs::read(&path).unwrap(), complete, "the torn tail is cut off, nothing else changes");

    hub.publish_event(EventRequest::new("After")).unwrap();
    drop(hub);
    let reloaded = Hub::new();
    set_history_file(&reloaded, &path).unwrap();
    assert_eq!(names(&reloaded.events(&EventQuery::default()).unwrap()), ["Kept", "Kept", "Kept", "After"]);
    assert!(reloaded.event_history_info().load_warnings.is_empty());
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_file_that_is_not_a_history_file_is_corrupt_even_without_a_final_newline() {
    let dir = temp_dir("notes");
    let path = dir.join("notes.txt");
    fs::write(&path, "my notes").unwrap();
    let hub = Hub::new();
    let err = set_history_file(&hub, &path).unwrap_err();
    let Error::CorruptFile { line: 1, detail, .. } = &err else { panic!("{err:?}") };
    assert_eq!(detail, "it is not a JSON event record (the text is not valid JSON at column 1)");
    assert_eq!(fs::read_to_string(&path).unwrap(), "my notes", "left exactly as it was");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_corrupt_line_is_explained_in_plain_words_with_its_line_number() {
    let dir = temp_dir("plain-corrupt");
    let hub = Hub::new();
    for (text, line, why) in [
        ("not json\n", 1, "it is not a JSON event record (the text is not valid JSON at column 2)"),
        ("\n{\"bad\":1}\n{}\n", 2, "it is not a JSON event record (the key 'id' is missing)"),
    ] {
        let path = dir.join(format!("corrupt-{line}.jsonl"));
        fs::write(&path, text).unwrap();
        let err = hub.import_events(&path, HistoryFormat::JsonLines).unwrap_err();
        assert!(err.to_string().contains(&format!("is corrupt at line {line}: {why}")), "{err}");
        assert!(!err.to_string().contains('`') && !err.to_string().contains("ident"), "{err}");
    }
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn switching_back_to_an_earlier_history_file_keeps_the_history_oldest_first() {
    let dir = temp_dir("switchback");
    let (p, q) = (dir.join("p.jsonl"), dir.join("q.jsonl"));
    let clock = Arc::new(ManualClock::new(1_000));
    let hub = Hub::with_clock(clock.clone());
    hub.publish_event(EventRequest::new("First")).unwrap();
    set_history_file(&hub, &p).unwrap();
    clock.advance(10);
    hub.publish_event(EventRequest::new("Second")).unwrap();
    set_history_file(&hub, &q).unwrap();
    set_history_file(&hub, &p).unwrap();
    assert_eq!(names(&hub.events(&EventQuery::default()).unwrap()), ["First", "Second"]);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_history_file_starting_with_a_byte_order_mark_loads() {
    let dir = temp_dir("bom");
    let path = dir.join("history.jsonl");
    {
        let hub = Hub::new();
        set_history_file(&hub, &path).unwrap();
        hub.publish_event(event("Kept", "1")).unwrap();
    }
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend(fs::read(&path).unwrap());
    fs::write(&path, &with_bom).unwrap();
    let hub = Hub::new();
    set_history_file(&hub, &path).unwrap();
    assert_eq!(names(&hub.events(&EventQuery::default()).unwrap()), ["Kept"]);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_corrupt_history_file_is_reported_and_left_untouched() {
    let dir = temp_dir("corrupt");
    let path = dir.join("history.jsonl");
    {
        let hub = Hub::new();
        set_history_file(&hub, &path).unwrap();
        hub.publish_event(EventRequest::new("First")).unwrap();
        hub.publish_event(EventRequest::new("Second")).unwrap();
    }
    let mut text = fs::read_to_string(&path).unwrap();
    text.insert_str(text.find('\n').unwrap() + 1, "this is not an event\n");
    fs::write(&path, &text).unwrap();

    let hub = Hub::new();
    hub.publish_event(EventRequest::new("InMemory")).unwrap();
    let err = set_history_file(&hub, &path).unwrap_err();
    let Error::CorruptFile { line, .. } = &err else { panic!("{err:?}") };
    assert_eq!(*line, 2);
    assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), text, "the file is not replaced or repaired");
    assert_eq!(hub.config().event_history_path, None, "the setting did not change");
    assert_eq!(names(&hub.events(&EventQuery::default()).unwrap()), ["InMemory"]);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_history_file_in_a_missing_folder_is_an_io_error_naming_it() {
    let dir = temp_dir("missing");
    let path = dir.join("no/such/folder/history.jsonl");
    let err = set_history_file(&Hub::new(), &path).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("no/such/folder"), "{err}");
    let err = set_history_file(&Hub::new(), &dir).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "a folder is not a history file: {err:?}");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_history_file_in_a_missing_folder_is_refused_naming_the_folder_without_placeholders() {
    let dir = temp_dir("missing-folder-text");
    let folder = dir.join("no/such");
    let path = folder.join("h.jsonl");
    let err = set_history_file(&Hub::new(), &path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "could not use the event history file '{}': the folder '{}' does not exist; create it or choose another path",
            path.display(),
            folder.display()
        )
    );
    let _ = fs::remove_dir_all(dir);
}

#[cfg(unix)]
#[test]
fn a_refused_history_file_gets_no_stray_lock_file_and_keeps_one_it_had() {
    let dir = temp_dir("stray-lock");
    let path = dir.join("corrupt.jsonl");
    let lock = dir.join("corrupt.jsonl.lock");
    fs::write(&path, "garbage\n{}\n").unwrap();
    let err = set_history_file(&Hub::new(), &path).unwrap_err();
    assert!(matches!(err, Error::CorruptFile { .. }), "{err:?}");
    assert!(!lock.exists(), "the lock file this hub made is removed with the refusal");
    fs::write(&lock, "").unwrap();
    set_history_file(&Hub::new(), &path).unwrap_err();
    assert!(lock.exists(), "a lock file that was there before is not this hub's to remove");
    let good = dir.join("good.jsonl");
    let hub = Hub::new();
    set_history_file(&hub, &good).unwrap();
    assert!(dir.join("good.jsonl.lock").exists(), "a file in use keeps its lock file");
    drop(hub);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn file_errors_name_the_missing_folder_or_the_file_in_the_way_in_plain_words() {
    let dir = temp_dir("plain-io");
    let hub = Hub::new();
    let all = EventQuery::default();
    let missing = dir.join("no/such");
    let err = hub.export_events(&missing.join("h.jsonl"), HistoryFormat::JsonLines, &all).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    let want = format!("the folder '{}' does not exist; create it or choose another path", missing.display());
    assert!(err.to_string().contains(&want), "{err}");
    let plain = dir.join("plain.txt");
    fs::write(&plain, "x").unwrap();
    let err = hub.export_events(&plain.join("h.jsonl"), HistoryFormat::JsonLines, &all).unwrap_err();
    assert!(err.to_string().contains(&format!("'{}' is a file, not a folder", plain.display())), "{err}");
    let err = hub.import_events(&dir.join("none.jsonl"), HistoryFormat::JsonLines).unwrap_err();
    assert!(err.to_string().contains("none.jsonl': it does not exist"), "{err}");
    let err = set_history_file(&hub, &plain.join("h.jsonl")).unwrap_err();
    assert!(err.to_string().contains(&format!("'{}' is a file, not a folder", plain.display())), "{err}");
    for err in [
        hub.export_events(&missing.join("h.jsonl"), HistoryFormat::JsonLines, &all).unwrap_err(),
        hub.import_events(&missing.join("h.jsonl"), HistoryFormat::JsonLines).unwrap_err(),
        set_history_file(&hub, &missing.join("h.jsonl")).unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(!text.contains("os error") && !text.contains("temporary"), "{text}");
    }
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn the_history_file_rotates_at_its_size_and_reload_reads_both_files() {
    let dir = temp_dir("rotate");
    let path = dir.join("history.jsonl");
    let hub = Hub::new();
    set_rotating_history_file(&hub, &path, 1000);
    for i in 0..12 {
        hub.publish_event(event("Rotating", &i.to_string())).unwrap();
    }
    let rotated = PathBuf::from(format!("{}.1", path.display()));
    assert!(rotated.exists(), "rotated to <path>.1");
    assert!(fs::metadata(&path).unwrap().len() <= 1000);
    assert!(fs::metadata(&rotated).unwrap().len() <= 1000);
    let in_files =
        fs::read_to_string(&rotated).unwrap().lines().count() + fs::read_to_string(&path).unwrap().lines().count();
    drop(hub);

    let again = Hub::new();
    set_history_file(&again, &path).unwrap();
    let datas: Vec<u32> =
        again.events(&EventQuery::default()).unwrap().iter().map(|e| e.data_json().unwrap().parse().unwrap()).collect();
    assert_eq!(datas.len(), in_files);
    assert_eq!(datas, ((12 - in_files as u32)..12).collect::<Vec<_>>(), "the newest events, in order");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_message_channel_counts_only_message_subscriptions_as_its_subscribers() {
    // An event subscription to every event (pattern "*") receives no message, so it is no
    // subscriber of a message channel.
    let hub = Hub::new();
    hub.create_channel("Backup", None, 0).unwrap();
    hub.subscribe_events_pull(EventSubscriptionOptions::new("*"), None).unwrap();
    assert_eq!(hub.channels(None).unwrap()[0].subscriptions, 0);
    hub.subscribe_pull(SubscriptionOptions::new("Back*"), None).unwrap();
    assert_eq!(hub.channels(None).unwrap()[0].subscriptions, 1);
}

#[test]
fn a_history_rotation_that_fails_keeps_appending_and_is_tried_again_at_the_next_event() {
    // On Windows a program reading the file without sharing delete blocks the rename; here a
    // folder in the way of <path>.1 does. Publishing must not fail, nor lose events.
    let dir = temp_dir("rotate-blocked");
    let path = dir.join("history.jsonl");
    let rotated = PathBuf::from(format!("{}.1", path.display()));
    let hub = Hub::new();
    set_rotating_history_file(&hub, &path, 1000);
    fs::create_dir_all(rotated.join("in-the-way")).unwrap();
    for i in 0..12 {
        hub.publish_event(event("Rotating", &i.to_string())).unwrap();
    }
    assert!(fs::metadata(&path).unwrap().len() > 1000, "grew past its size while it could not rotate");
    assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 12);
    fs::remove_dir_all(&rotated).unwrap();
    hub.publish_event(event("Rotating", "12")).unwrap();
    assert_eq!(fs::read_to_string(&rotated).unwrap().lines().count(), 12, "rotated at the next event");
    assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 1);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn clearing_with_a_history_file_rewrites_it_so_a_reload_does_not_bring_events_back() {
    let dir = temp_dir("clear");
    let path = dir.join("history.jsonl");
    let hub = Hub::new();
    set_history_file(&hub, &path).unwrap();
    for n in ["Keep", "Drop", "Keep"] {
        hub.publish_event(EventRequest::new(n)).unwrap();
    }
    assert_eq!(hub.clear_events(&EventQuery::default().name("Drop")).unwrap(), 1);
    hub.publish_event(EventRequest::new("Keep")).unwrap();
    drop(hub);
    let again = Hub::new();
    set_history_file(&again, &path).unwrap();
    assert_eq!(names(&again.events(&EventQuery::default()).unwrap()), ["Keep", "Keep", "Keep"]);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn clearing_removes_matching_events_the_history_file_holds_beyond_memory_and_keeps_the_others() {
    let dir = temp_dir("clearfile");
    let path = dir.join("history.jsonl");
    let hub = Hub::new();
    set_history_file(&hub, &path).unwrap();
    for n in ["Old", "Other", "Old", "Other"] {
        hub.publish_event(EventRequest::new(n)).unwrap();
    }
    // Memory keeps only the newest event; the file keeps all four.
    hub.update_config_json(r#"{"maxEventHistory":1}"#).unwrap();
    assert_eq!(hub.clear_events(&EventQuery::default().name("Old")).unwrap(), 2);
    drop(hub);
    let again = Hub::new();
    set_history_file(&again, &path).unwrap();
    assert_eq!(names(&again.events(&EventQuery::default()).unwrap()), ["Other", "Other"]);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_history_file_and_a_larger_capacity_set_together_load_with_the_new_capacity() {
    let dir = temp_dir("capacity");
    let path = dir.join("history.jsonl");
    {
        let hub = Hub::new();
        hub.update_config_json(r#"{"maxEventHistory":10}"#).unwrap();
        set_history_file(&hub, &path).unwrap();
        for _ in 0..10 {
            hub.publish_event(EventRequest::new("E")).unwrap();
        }
    }
    let hub = Hub::new();
    hub.update_config_json(r#"{"maxEventHistory":5}"#).unwrap();
    let both = serde_json::json!({ "eventHistoryPath": path.to_str().unwrap(), "maxEventHistory": 10 });
    hub.update_config_json(&both.to_string()).unwrap();
    assert_eq!(hub.events(&EventQuery::default()).unwrap().len(), 10);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn turning_persistence_on_keeps_the_events_in_memory_after_the_files() {
    let dir = temp_dir("merge");
    let path = dir.join("history.jsonl");
    {
        let hub = Hub::new();
        set_history_file(&hub, &path).unwrap();
        hub.publish_event(EventRequest::new("FromFile")).unwrap();
    }
    let hub = Hub::new();
    hub.publish_event(EventRequest::new("InMemory")).unwrap();
    set_history_file(&hub, &path).unwrap();
    assert_eq!(names(&hub.events(&EventQuery::default()).unwrap()), ["FromFile", "InMemory"]);
    hub.update_config_json(r#"{"eventHistoryPath":null}"#).unwrap();
    hub.publish_event(EventRequest::new("NotSaved")).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 1);
    assert_eq!(hub.event_history_info().path, None);
    let _ = fs::remove_dir_all(dir);
}

// ----- export and import --------------------------------------------------------------------

fn export_import_round_trip(format: HistoryFormat, file: &str) {
    let dir = temp_dir(file);
    let path = dir.join(file);
    let hub = Hub::new();
    hub.publish_event(
        event("Fidelity", r#"{"Text":"comma, \"quote\"\nline","Ratio":1.10,"Nested":{"A":[1,2]}}"#)
            .type_hints_json(r#"[[["Ratio"],"decimal"]]"#)
            .unwrap()
            .source_module("Exporter")
            .correlation_id("c,1"),
    )
    .unwrap();
    hub.publish_event(EventRequest::new("Plain").channel("Lab")).unwrap();
    hub.publish_event(EventRequest::new("Other")).unwrap();
    assert_eq!(hub.export_events(&path, format, &EventQuery::default().name("[FP]*")).unwrap(), 2);
    let exported: Vec<String> =
        hub.events(&EventQuery::default().name("[FP]*")).unwrap().iter().map(|e| e.to_json().to_owned()).collect();

    let other = Hub::new();
    let report = other.import_events(&path, format).unwrap();
    assert_eq!((report.read, report.imported, report.duplicates), (2, 2, 0));
    let imported: Vec<String> =
        other.events(&EventQuery::default()).unwrap().iter().map(|e| e.to_json().to_owned()).collect();
    assert_eq!(imported, exported);
    let again = other.import_events(&path, format).unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 2), "ids already in the history are skipped");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn exported_json_lines_import_back_exactly() {
    export_import_round_trip(HistoryFormat::JsonLines, "export.jsonl");
}

#[test]
fn exported_csv_imports_back_exactly() {
    export_import_round_trip(HistoryFormat::Csv, "export.csv");
}

#[cfg(unix)]
#[test]
fn exporting_onto_a_named_pipe_is_refused_and_a_link_is_written_through() {
    use std::os::unix::fs::FileTypeExt;
    let dir = temp_dir("export-special");
    let hub = Hub::new();
    hub.publish_event(EventRequest::new("Exported")).unwrap();
    let all = EventQuery::default();
    let is_pipe = |p: &Path| fs::symlink_metadata(p).unwrap().file_type().is_fifo();

    // A named pipe is not replaced by a plain file (nor would a device be).
    let pipe = dir.join("pipe.jsonl");
    common::mkfifo(&pipe);
    let err = hub.export_events(&pipe, HistoryFormat::JsonLines, &all).unwrap_err();
    assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("not a regular file"), "{err}");
    assert!(err.to_string().contains(pipe.to_str().unwrap()), "{err}");
    assert!(is_pipe(&pipe), "the pipe is still a pipe");
    // Nor is a pipe at a `.partial` name beside it: the export makes a new temporary file, and
    // a link planted there is not followed (its target is not overwritten).
    let beside = dir.join("beside.jsonl");
    common::mkfifo(&dir.join("beside.jsonl.partial"));
    assert_eq!(hub.export_events(&beside, HistoryFormat::JsonLines, &all).unwrap(), 1);
    assert!(is_pipe(&dir.join("beside.jsonl.partial")) && beside.exists());
    let victim = dir.join("victim.txt");
    fs::write(&victim, "mine\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("planted.jsonl.partial")).unwrap();
    assert_eq!(hub.export_events(&dir.join("planted.jsonl"), HistoryFormat::JsonLines, &all).unwrap(), 1);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "mine\n", "the link's target is untouched");
    assert!(fs::symlink_metadata(dir.join("planted.jsonl")).unwrap().file_type().is_file(), "a file, not a link");

    // A symbolic link is followed: the file it names gets the export, and the link stays.
    let target = dir.join("target.jsonl");
    fs::write(&target, "before\n").unwrap();
    let link = dir.join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(hub.export_events(&link, HistoryFormat::JsonLines, &all).unwrap(), 1);
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is still a link");
    assert!(fs::read_to_string(&target).unwrap().contains("\"Exported\""));
    // A link to a file not made yet makes it; a link to a pipe is refused.
    let later = dir.join("later.jsonl");
    std::os::unix::fs::symlink(dir.join("made-later.jsonl"), &later).unwrap();
    hub.export_events(&later, HistoryFormat::JsonLines, &all).unwrap();
    assert!(fs::symlink_metadata(&later).unwrap().file_type().is_symlink());
    assert!(fs::read_to_string(dir.join("made-later.jsonl")).unwrap().contains("\"Exported\""));
    let to_pipe = dir.join("to-pipe.jsonl");
    std::os::unix::fs::symlink(&pipe, &to_pipe).unwrap();
    assert!(hub.export_events(&to_pipe, HistoryFormat::JsonLines, &all).is_err());
    assert!(is_pipe(&pipe) && fs::symlink_metadata(&to_pipe).unwrap().file_type().is_symlink());
    let _ = fs::remove_dir_all(dir);
}

#[cfg(unix)]
#[test]
fn importing_a_named_pipe_or_a_folder_fails_at_once_naming_it() {
    let dir = temp_dir("import-special");
    let pipe = dir.join("pipe.jsonl");
    common::mkfifo(&pipe);
    let hub = Arc::new(Hub::new());
    for path in [pipe, dir.clone()] {
        let h = Arc::clone(&hub);
        let p = path.clone();
        // A pipe without a writer would block the import for ever.
        let result = common::within(LONG, move || h.import_events(&p, HistoryFormat::JsonLines));
        let err = result.expect("the import returned").unwrap_err();
        assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("not a regular file"), "{err}");
        assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
    }
    assert!(hub.events(&EventQuery::default()).unwrap().is_empty());
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_bad_csv_row_fails_the_import_and_adds_nothing() {
    let dir = temp_dir("badcsv");
    let path = dir.join("bad.csv");
    let hub = Hub::new();
    hub.publish_event(EventRequest::new("Good")).unwrap();
    hub.export_events(&path, HistoryFormat::Csv, &EventQuery::default()).unwrap();
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str("not-a-uuid,Name,Events,,Normal,2026-11-27T06:00:00.000Z,,null,\r\n");
    text.push_str(&fs::read_to_string(&path).unwrap().lines().nth(1).unwrap().replace("Good", "AlsoGood"));
    fs::write(&path, text).unwrap();
    let fresh = Hub::new();
    let err = fresh.import_events(&path, HistoryFormat::Csv).unwrap_err();
    let Error::CorruptFile { line: 3, .. } = &err else { panic!("{err:?}") };
    assert!(fresh.events(&EventQuery::default()).unwrap().is_empty());
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_wildcard_channel_in_an_imported_file_is_corrupt_at_its_line() {
    let dir = temp_dir("wildchannel");
    let path = dir.join("events.jsonl");
    let hub = Hub::new();
    hub.publish_event(EventRequest::new("Good")).unwrap();
    hub.export_events(&path, HistoryFormat::JsonLines, &EventQuery::default()).unwrap();
    let good = fs::read_to_string(&path).unwrap();
    let bad = good.replace("Good", "Bad").replace("\"channel\":\"Events\"", "\"channel\":\"E*\"");
    assert_ne!(good, bad, "the channel was replaced");
    fs::write(&path, format!("{good}{bad}")).unwrap();
    let err = Hub::new().import_events(&path, HistoryFormat::JsonLines).unwrap_err();
    let Error::CorruptFile { line: 2, detail, .. } = &err else { panic!("{err:?}") };
    assert!(detail.contains("E*"), "{detail}");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn importing_with_persistence_on_writes_the_merged_history_to_the_file() {
    let dir = temp_dir("importpersist");
    let (export, history) = (dir.join("export.jsonl"), dir.join("history.jsonl"));
    let clock = Arc::new(ManualClock::new(5_000));
    let source = Hub::with_clock(clock.clone());
    source.publish_event(EventRequest::new("Old")).unwrap();
    source.export_events(&export, HistoryFormat::JsonLines, &EventQuery::default()).unwrap();

    clock.set(9_000);
    let hub = Hub::with_clock(clock);
    set_history_file(&hub, &history).unwrap();
    hub.publish_event(EventRequest::new("New")).unwrap();
    hub.import_events(&export, HistoryFormat::JsonLines).unwrap();
    assert_eq!(names(&hub.events(&EventQuery::default()).unwrap()), ["Old", "New"], "timestamp order");
    drop(hub);
    let reloaded = Hub::new();
    set_history_file(&reloaded, &history).unwrap();
    assert_eq!(names(&reloaded.events(&EventQuery::default()).unwrap()), ["Old", "New"]);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn importing_more_than_a_file_rotation_keeps_the_files_newest_events_within_the_rotation_size() {
    let dir = temp_dir("importrotate");
    let (export, history) = (dir.join("export.jsonl"), dir.join("history.jsonl"));
    let clock = Arc::new(ManualClock::new(1_000));
    let source = Hub::with_clock(clock.clone());
    for _ in 0..30 {
        source.publish_event(EventRequest::new("Imported")).unwrap();
    }
    source.export_events(&export, HistoryFormat::JsonLines, &EventQuery::default()).unwrap();
    clock.set(9_000);
    let hub = Hub::with_clock(clock);
    set_rotating_history_file(&hub, &history, 4000);
    for _ in 0..15 {
        hub.publish_event(EventRequest::new("Mine")).unwrap();
    }
    hub.import_events(&export, HistoryFormat::JsonLines).unwrap();
    drop(hub);
    let reloaded = Hub::new();
    set_rotating_history_file(&reloaded, &history, 4000);
    let got = names(&reloaded.events(&EventQuery::default()).unwrap());
    drop(reloaded);
    // The newest events (the file's own) are all kept; the older imported ones as far as the
    // file and its .1 hold, as publishing keeps them: at most two rotation sizes on disk.
    assert_eq!(got.iter().filter(|n| *n == "Mine").count(), 15, "{got:?}");
    let imported = got.iter().filter(|n| *n == "Imported").count();
    assert!((1..30).contains(&imported), "{imported} imported events kept");
    let on_disk = fs::metadata(&history).unwrap().len() + fs::metadata(dir.join("history.jsonl.1")).unwrap().len();
    assert!(on_disk <= 8000, "{on_disk} bytes on disk");
    // Importing again keeps the file set within the same size.
    let hub = Hub::new();
    set_rotating_history_file(&hub, &history, 4000);
    hub.import_events(&export, HistoryFormat::JsonLines).unwrap();
    let again = fs::metadata(&history).unwrap().len() + fs::metadata(dir.join("history.jsonl.1")).unwrap().len();
    assert!(again <= 8000, "{again} bytes on disk after a second import");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_rewrite_that_fails_half_way_loses_no_event() {
    let dir = temp_dir("halfway");
    let path = dir.join("history.jsonl");
    let hub = Hub::new();
    set_rotating_history_file(&hub, &path, 1000);
    for n in 0..12 {
        hub.publish_event(EventRequest::new(format!("E{n}"))).unwrap();
    }
    assert!(dir.join("history.jsonl.1").exists(), "the file has rotated");
    // What loading would find (the first record of each id, `.1` first), read while the hub
    // holds the file.
    let on_disk = || {
        let mut seen = HashSet::new();
        let mut names = Vec::new();
        for file in [dir.join("history.jsonl.1"), path.clone()] {
            for line in fs::read_to_string(file).unwrap_or_default().lines() {
                let record: serde_json::Value = serde_json::from_str(line).unwrap();
                if seen.insert(record["id"].as_str().unwrap().to_owned()) {
                    names.push(record["name"].as_str().unwrap().to_owned());
                }
            }
        }
        names
    };
    let before = on_disk();
    assert!(before.len() >= 6, "{before:?}");
    // The file's own rewrite fails (a folder is where the file was) after `.1` was written.
    let aside = dir.join("history.jsonl.aside");
    fs::rename(&path, &aside).unwrap();
    fs::create_dir_all(path.join("in-it")).unwrap();
    assert!(hub.clear_events(&EventQuery::default().name("E11")).is_err());
    fs::remove_dir_all(&path).unwrap();
    fs::rename(&aside, &path).unwrap();
    drop(hub);
    assert_eq!(on_disk(), before, "every event is still on disk, once");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_record_in_both_the_rotated_file_and_the_file_loads_once() {
    // What a crash between a rewrite's two renames can leave.
    let dir = temp_dir("dupes");
    let path = dir.join("history.jsonl");
    {
        let hub = Hub::new();
        set_history_file(&hub, &path).unwrap();
        hub.publish_event(EventRequest::new("A")).unwrap();
        hub.publish_event(EventRequest::new("B")).unwrap();
    }
    fs::copy(&path, dir.join("history.jsonl.1")).unwrap();
    let hub = Hub::new();
    set_history_file(&hub, &path).unwrap();
    assert_eq!(names(&hub.events(&EventQuery::default()).unwrap()), ["A", "B"]);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn clearing_refuses_last_which_would_pick_differently_in_memory_and_file() {
    let hub = Hub::new();
    hub.publish_event(EventRequest::new("A")).unwrap();
    let e = hub.clear_events(&EventQuery { last: Some(1), ..EventQuery::default() }).unwrap_err();
    assert!(e.to_string().contains("not by last"), "{e}");
    assert_eq!(hub.events(&EventQuery::default()).unwrap().len(), 1);
}

#[test]
fn importing_appends_to_the_history_file_and_keeps_what_it_held_beyond_memory() {
    let dir = temp_dir("importkeeps");
    let (export, history) = (dir.join("export.jsonl"), dir.join("history.jsonl"));
    let source = Hub::new();
    source.publish_event(EventRequest::new("Imported")).unwrap();
    source.export_events(&export, HistoryFormat::JsonLines, &EventQuery::default()).unwrap();

    let hub = Hub::new();
    set_history_file(&hub, &history).unwrap();
    hub.publish_event(EventRequest::new("OnFileOnly")).unwrap();
    hub.update_config_json(r#"{"maxEventHistory":0}"#).unwrap();
    hub.import_events(&export, HistoryFormat::JsonLines).unwrap();
    // Importing again finds the event in the file, not in memory: a duplicate, not a second line.
    let again = hub.import_events(&export, HistoryFormat::JsonLines).unwrap();
    assert_eq!(again.duplicates, 1);
    drop(hub);
    let reloaded = Hub::new();
    set_history_file(&reloaded, &history).unwrap();
    let mut got = names(&reloaded.events(&EventQuery::default()).unwrap());
    got.sort();
    assert_eq!(got, ["Imported", "OnFileOnly"]);
    let _ = fs::remove_dir_all(dir);
}

// ----- replay -------------------------------------------------------------------------------

#[test]
fn replay_delivers_the_matching_history_in_order_before_live_events() {
    let clock = Arc::new(ManualClock::new(0));
    let hub = Hub::with_clock(clock.clone());
    for (i, p) in [Priority::Low, Priority::Critical, Priority::Normal, Priority::High].into_iter().enumerate() {
        hub.publish_event(EventRequest::new("LabStep").data_value(&i.into()).priority(p)).unwrap();
        hub.publish_event(EventRequest::new("Noise")).unwrap();
        clock.advance(10);
    }
    let last_two = hub.subscribe_events_pull(EventSubscriptionOptions::new("Lab*").replay_last(2), None).unwrap();
    let since = hub.subscribe_events_pull(EventSubscriptionOptions::new("Lab*").replay_since_ms(10), None).unwrap();
    let none = hub.subscribe_events_pull(EventSubscriptionOptions::new("Lab*"), None).unwrap();
    hub.publish_event(EventRequest::new("LabStep").data_value(&"live".into()).priority(Priority::Critical)).unwrap();

    let datas =
        |sub| -> Vec<String> { take_all(&hub, sub).iter().map(|e| e.data_json().unwrap().to_owned()).collect() };
    assert_eq!(datas(last_two), ["2", "3", "\"live\""], "history order, whatever the priorities, then live");
    assert_eq!(datas(since), ["1", "2", "3", "\"live\""]);
    assert_eq!(datas(none), ["\"live\""]);
}

#[test]
fn replay_to_a_push_handler_and_a_replay_larger_than_the_queue_counts_the_rest_as_dropped() {
    let hub = Hub::new();
    for i in 0..10 {
        hub.publish_event(event("E", &i.to_string())).unwrap();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let sub = hub
        .subscribe_events_push(EventSubscriptionOptions::new("E").replay_last(10).capacity(4), move |e| {
            tx.send(e.data_json().unwrap().to_owned()).is_ok()
        })
        .unwrap();
    let got: Vec<String> = (0..4).map(|_| rx.recv_timeout(LONG).unwrap()).collect();
    assert_eq!(got, ["6", "7", "8", "9"]);
    let info = hub.subscriptions(None).unwrap().into_iter().find(|s| s.id == sub).unwrap();
    assert_eq!(info.dropped, 6);
    hub.wait_idle(LONG).unwrap();
}

#[test]
fn replay_seam_under_concurrent_publishing_has_no_gap_and_no_duplicate() {
    const PUBLISHERS: usize = 4;
    const PER_PUBLISHER: usize = 5_000;
    const SUBSCRIBERS: usize = 6;
    let hub = Hub::new();
    hub.set_config(Config { max_event_history: PUBLISHERS * PER_PUBLISHER, ..Config::default() }).unwrap();
    let started = AtomicUsize::new(0);

    let subs: Vec<SubscriptionId> = std::thread::scope(|scope| {
        for p in 0..PUBLISHERS {
            let (hub, started) = (&hub, &started);
            scope.spawn(move || {
                for s in 0..PER_PUBLISHER {
                    hub.publish_event(event("Seam", &format!("[{p},{s}]"))).unwrap();
                    if s == 0 {
                        started.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
        // Subscribe at different moments while every publisher is running, replaying the
        // whole history (since the epoch).
        while started.load(Ordering::SeqCst) < PUBLISHERS {
            std::thread::yield_now();
        }
        (0..SUBSCRIBERS)
            .map(|i| {
                for _ in 0..i * 50 {
                    std::thread::yield_now();
                }
                let opts =
                    EventSubscriptionOptions::new("Seam").replay_since_ms(0).capacity(PUBLISHERS * PER_PUBLISHER);
                hub.subscribe_events_pull(opts, None).unwrap()
            })
            .collect()
    });

    for sub in subs {
        let got = take_all(&hub, sub);
        let mut next = [0usize; PUBLISHERS];
        for e in &got {
            let v: (usize, usize) = serde_json::from_str(e.data_json().unwrap()).unwrap();
            assert_eq!(
                v.1, next[v.0],
                "publisher {}: expected sequence {}, got {} (gap or duplicate)",
                v.0, next[v.0], v.1
            );
            next[v.0] += 1;
        }
        assert_eq!(next, [PER_PUBLISHER; PUBLISHERS], "every event exactly once");
    }
}

#[test]
fn replay_of_the_newest_events_under_concurrent_publishing_joins_live_without_a_gap() {
    let hub = Hub::new();
    let (started, subscribed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let (sub, published) = std::thread::scope(|scope| {
        let (h, st, sb) = (&hub, &started, &subscribed);
        // Publishes until 500 events after the subscription exist; returns how many.
        let publisher = scope.spawn(move || {
            let (mut i, mut after) = (0usize, 0usize);
            while after < 500 {
                // Read before publishing: an event counted here is surely published after
                // the subscription was made.
                let live = sb.load(Ordering::SeqCst) == 1;
                h.publish_event(event("Seam", &i.to_string())).unwrap();
                i += 1;
                if i == 100 {
                    st.store(1, Ordering::SeqCst);
                }
                if live {
                    after += 1;
                }
            }
            i
        });
        while started.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let sub = hub
            .subscribe_events_pull(EventSubscriptionOptions::new("Seam").replay_last(50).capacity(1_000_000), None)
            .unwrap();
        subscribed.store(1, Ordering::SeqCst);
        (sub, publisher.join().unwrap())
    });
    let got: Vec<usize> = take_all(&hub, sub).iter().map(|e| e.data_json().unwrap().parse().unwrap()).collect();
    assert!(got.len() >= 550, "50 replayed plus at least 500 live ones; got {}", got.len());
    let first = got[0];
    assert_eq!(got, (first..published).collect::<Vec<_>>(), "consecutive from the replay into live");
}

#[test]
fn a_block_subscription_whose_handler_publishes_stalls_other_publishers_only_until_its_timeout() {
    let hub = Arc::new(Hub::new());
    let weak = Arc::downgrade(&hub);
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let go_rx = std::sync::Mutex::new(go_rx);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let opts = EventSubscriptionOptions::new("Work").capacity(1).overflow(OverflowPolicy::Block);
    let opts = EventSubscriptionOptions { block_timeout_ms: Some(200), ..opts };
    let sub = hub
        .subscribe_events_push(opts, move |_| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                let _ = entered_tx.send(());
                let _ = go_rx.lock().unwrap().recv();
            }
            // Needs the event lock, which a publisher blocked on this full queue holds until
            // the block timeout drops its event.
            weak.upgrade().expect("hub alive").publish_event(EventRequest::new("FromHandler")).is_ok()
        })
        .unwrap();
    hub.publish_event(EventRequest::new("Work")).unwrap(); // 1: taken by the worker, which waits
    entered_rx.recv_timeout(LONG).unwrap();
    hub.publish_event(EventRequest::new("Work")).unwrap(); // 2: fills the queue (capacity 1)
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        let h = &hub;
        // 3: finds the queue full and waits for room, holding the event lock.
        let third = scope.spawn(move || h.publish_event(EventRequest::new("Work")));
        // It is routing (the counter is bumped before the offer) and the worker cannot make
        // room, so it is, or is about to be, blocked: now let the handler publish.
        assert!(common::eventually(LONG, || hub.bus_stats().published == 3));
        go_tx.send(()).unwrap();
        third.join().unwrap().unwrap();
    });
    hub.wait_idle(LONG).unwrap();
    let stalled = started.elapsed();
    assert!(stalled >= Duration::from_millis(150), "the handler waited for the block timeout: {stalled:?}");
    assert!(stalled < Duration::from_secs(10), "bounded by the block timeout, never a hang: {stalled:?}");
    let info = hub.subscriptions(None).unwrap().into_iter().find(|s| s.id == sub).unwrap();
    assert_eq!((info.delivered, info.dropped), (2, 1), "the stalled event is dropped and counted: {info:?}");
    assert_eq!(names(&hub.events(&EventQuery::default().name("FromHandler")).unwrap()).len(), 2);
}

#[test]
fn the_trace_file_and_the_history_file_must_differ_either_way_round() {
    use module_communication::{TraceLevel, TraceOptions};
    let dir = temp_dir("trace-vs-history");
    let history = dir.join("events.jsonl");
    let hub = Hub::new();
    set_history_file(&hub, &history).unwrap();
    hub.publish_event(EventRequest::new("Kept")).unwrap();
    let tracing_to = |path: PathBuf| TraceOptions {
        level: TraceLevel::Basic,
        log_to_file: true,
        file_path: Some(path),
        ..Default::default()
    };
    // The history file, its rotated part, and the history file spelled another way.
    for trace in [history.clone(), dir.join("events.jsonl.1"), dir.join(".").join("events.jsonl")] {
        let err = hub.enable_tracing(tracing_to(trace.clone())).unwrap_err();
        let named = matches!(&err, Error::InvalidArgument { name, .. } if name == "filePath");
        assert!(named, "{}: {err}", trace.display());
    }
    assert_eq!(fs::read_to_string(&history).unwrap().lines().count(), 1, "the history file is untouched");

    // The other way round: the trace file as history file, or as the history file's rotated part.
    hub.enable_tracing(tracing_to(dir.join("trace.jsonl.1"))).unwrap();
    for path in [dir.join("trace.jsonl.1"), dir.join("trace.jsonl")] {
        let err = set_history_file(&hub, &path).unwrap_err();
        assert!(matches!(&err, Error::InvalidArgument { name, .. } if name == "eventHistoryPath"), "{err}");
    }
    assert_eq!(hub.config().event_history_path.as_deref(), history.to_str(), "nothing changed");
    set_history_file(&hub, &dir.join("other.jsonl")).unwrap();
}

#[test]
fn a_hub_is_refused_its_own_rotated_history_file_with_a_message_that_says_so() {
    let dir = temp_dir("own-rotated-part");
    let path = dir.join("a.jsonl");
    let hub = Hub::new();
    set_rotating_history_file(&hub, &path, 600);
    for n in 0..5 {
        hub.publish_event(EventRequest::new(format!("E{n}"))).unwrap();
    }
    let rotated = dir.join("a.jsonl.1");
    assert!(rotated.exists(), "the file rotated");
    // Not another hub's: the rotated part of this hub's own file, so choose another path.
    let err = set_history_file(&hub, &rotated).unwrap_err();
    let message = err.to_string();
    assert!(matches!(&err, Error::InvalidArgument { name, .. } if name == "eventHistoryPath"), "{message}");
    assert!(!message.contains("another hub"), "{message}");
    let own = format!("rotated part ('.1') of '{}', the event history file this hub writes to", path.display());
    assert!(message.contains(&own) && message.ends_with("choose another path"), "{message}");
    // The other way round: a file whose rotated part is the one this hub writes to.
    let other = Hub::new();
    let at_rotated = dir.join("b.jsonl.1");
    set_history_file(&other, &at_rotated).unwrap();
    let err = set_history_file(&other, &dir.join("b.jsonl")).unwrap_err();
    let message = err.to_string();
    assert!(matches!(&err, Error::InvalidArgument { name, .. } if name == "eventHistoryPath"), "{message}");
    assert!(message.contains(&format!("would be '{}'", at_rotated.display())), "{message}");
    assert_eq!(hub.config().event_history_path.as_deref(), path.to_str(), "nothing changed");
    assert_eq!(other.config().event_history_path.as_deref(), at_rotated.to_str(), "nothing changed");
    hub.publish_event(EventRequest::new("After")).unwrap();
    assert!(fs::read_to_string(&path).unwrap().contains("\"After\""), "the hub still writes to its file");
}

#[cfg(unix)]
#[test]
fn a_second_hub_given_the_same_history_file_is_refused_and_the_first_keeps_writing() {
    let dir = temp_dir("two-hubs");
    let path = dir.join("history.jsonl");
    let first = Hub::new();
    set_rotating_history_file(&first, &path, 300);
    first.publish_event(EventRequest::new("First1")).unwrap();
    let second = Hub::new();
    let err = set_history_file(&second, &path).unwrap_err();
    assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("another hub"), "{err}");
    assert_eq!(second.config().event_history_path, None, "nothing changed");
    // Still held after rotations and rewrites, which replace the file.
    for n in 2..10 {
        first.publish_event(EventRequest::new(format!("First{n}"))).unwrap();
    }
    first.clear_events(&EventQuery::default().name("First1")).unwrap();
    assert!(set_history_file(&second, &path).is_err());
    // Nor may the second use the first's rotated part, which the first renames over.
    assert!(set_history_file(&second, &dir.join("history.jsonl.1")).is_err());
    // Exporting onto the lock file would replace it and let the second in.
    let onto_lock =
        first.export_events(&dir.join("history.jsonl.lock"), HistoryFormat::JsonLines, &EventQuery::default());
    assert!(onto_lock.is_err());
    assert!(set_history_file(&second, &path).is_err());
    drop(first);
    set_history_file(&second, &path).unwrap();
    let names = names(&second.events(&EventQuery::default()).unwrap());
    assert_eq!(names.last().map(String::as_str), Some("First9"), "{names:?}");
    assert!(!names.contains(&"First1".to_owned()));
}

#[cfg(unix)]
#[test]
fn a_history_file_that_is_a_link_is_followed_and_the_link_stays() {
    let dir = temp_dir("link");
    fs::create_dir(dir.join("store")).unwrap();
    let target = dir.join("store").join("events.jsonl");
    fs::write(&target, "").unwrap();
    let link = dir.join("events.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let hub = Hub::new();
    set_history_file(&hub, &link).unwrap();
    for name in ["S1", "S2", "S3"] {
        hub.publish_event(EventRequest::new(name)).unwrap();
    }
    hub.clear_events(&EventQuery::default().name("S2")).unwrap();
    hub.publish_event(EventRequest::new("S4")).unwrap();
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is still a link");
    let on_target: Vec<String> = fs::read_to_string(&target)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(on_target, ["S1", "S3", "S4"]);
    // The link's own name, or the target's, is the file already in use.
    set_history_file(&hub, &link).unwrap();
    set_history_file(&hub, &target).unwrap();

    // A link to a file not made yet is followed too: rotating moves the target, not the link.
    let dangling = dir.join("later.jsonl");
    std::os::unix::fs::symlink(dir.join("store").join("later.jsonl"), &dangling).unwrap();
    set_rotating_history_file(&hub, &dangling, 300);
    for n in 0..6 {
        hub.publish_event(EventRequest::new(format!("Later{n}"))).unwrap();
    }
    assert!(dir.join("store").join("later.jsonl.1").exists(), "the target rotated");
    assert!(fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink(), "the link is still a link");
}

#[cfg(unix)]
#[test]
fn a_hub_may_not_take_a_file_whose_rotated_part_another_hub_uses() {
    let dir = temp_dir("rotated-part");
    let first = Hub::new();
    set_history_file(&first, &dir.join("h.jsonl.1")).unwrap();
    let second = Hub::new();
    let err = set_history_file(&second, &dir.join("h.jsonl")).unwrap_err();
    assert!(err.to_string().contains("another hub"), "{err}");
}

/// A hub with a history file whose second event's publisher waits for room in a full `Block`
/// queue (for up to 10 minutes): returns the hub, its folder, the subscription and that publisher.
fn hub_with_an_event_publisher_blocked_on_a_full_queue(
    test: &str,
) -> (Arc<Hub>, PathBuf, SubscriptionId, std::thread::JoinHandle<Result<module_communication::MessageId, Error>>) {
    let dir = temp_dir(test);
    let hub = Arc::new(Hub::new());
    set_history_file(&hub, &dir.join("events.jsonl")).unwrap();
    let opts = EventSubscriptionOptions {
        block_timeout_ms: Some(600_000),
        ..EventSubscriptionOptions::new("Full.*").capacity(1).overflow(OverflowPolicy::Block)
    };
    let sub = hub.subscribe_events_pull(opts, None).unwrap();
    hub.publish_event(EventRequest::new("Full.1")).unwrap();
    let h = Arc::clone(&hub);
    let blocked = std::thread::spawn(move || h.publish_event(EventRequest::new("Full.2")));
    assert!(eventually(LONG, || hub.bus_stats().published == 2), "the second publisher is at the full queue");
    (hub, dir, sub, blocked)
}

#[test]
fn reading_the_history_and_subscribing_without_replay_do_not_wait_for_a_blocked_event_publisher() {
    let (hub, dir, sub, blocked) = hub_with_an_event_publisher_blocked_on_a_full_queue("read-while-blocked");
    // The block timeout is 10 minutes: each call returning before it did not wait for it.
    let (done, finished) = std::sync::mpsc::channel();
    let h = Arc::clone(&hub);
    let export = dir.join("export.jsonl");
    std::thread::spawn(move || {
        let listed = names(&h.events(&EventQuery::default()).unwrap());
        let info = h.event_history_info();
        let exported = h.export_events(&export, HistoryFormat::JsonLines, &EventQuery::default()).unwrap();
        let live = h.subscribe_events_pull(EventSubscriptionOptions::new("Other"), None).unwrap();
        let _ = done.send((listed, info.count, exported, live));
    });
    let result = finished.recv_timeout(Duration::from_secs(60));
    hub.unsubscribe(sub).unwrap();
    blocked.join().unwrap().unwrap();
    let (listed, count, exported, _) = result.expect("a history read waited for the blocked publisher");
    // The blocked event is in the history already: it was appended before it was routed.
    assert_eq!(listed, ["Full.1", "Full.2"]);
    assert_eq!((count, exported), (2, 2));
}

#[test]
fn enabling_a_trace_file_does_not_wait_for_an_event_publisher_blocked_on_a_full_queue() {
    use module_communication::{TraceLevel, TraceOptions};
    let (hub, dir, sub, blocked) = hub_with_an_event_publisher_blocked_on_a_full_queue("trace-while-blocked");
    let (done, enabled) = std::sync::mpsc::channel();
    let h = Arc::clone(&hub);
    let trace = dir.join("trace.log");
    std::thread::spawn(move || {
        let options =
            TraceOptions { level: TraceLevel::Basic, log_to_file: true, file_path: Some(trace), ..Default::default() };
        let _ = done.send(h.enable_tracing(options));
    });
    // The block timeout is 10 minutes: returning before it means tracing did not wait for it.
    let result = enabled.recv_timeout(Duration::from_secs(60));
    hub.unsubscribe(sub).unwrap();
    blocked.join().unwrap().unwrap();
    result.expect("enabling tracing waited for the blocked publisher").unwrap();
}

#[test]
fn listing_the_subscriptions_of_a_channel_leaves_out_those_of_the_other_kind_that_cannot_receive_from_it() {
    let hub = Hub::new();
    hub.create_channel("B", None, 0).unwrap();
    let exact = hub.subscribe_pull(SubscriptionOptions::new("B"), None).unwrap();
    let wild = hub.subscribe_pull(SubscriptionOptions::new("B*"), None).unwrap();
    let _other = hub.subscribe_pull(SubscriptionOptions::new("C"), None).unwrap();
    let later = hub.subscribe_pull(SubscriptionOptions::new("New.*"), None).unwrap();
    let events = hub.subscribe_events_pull(EventSubscriptionOptions::new("Deploy*"), None).unwrap();
    let _on_b = hub.subscribe_events_pull(EventSubscriptionOptions::new("*").channel("B"), None).unwrap();
    let listed =
        |p: &str| -> HashSet<SubscriptionId> { hub.subscriptions(Some(p)).unwrap().iter().map(|s| s.id).collect() };
    // B is a message channel: the event subscription (on every event channel) is not listed.
    assert_eq!(listed("B"), HashSet::from([exact, wild]));
    // A name that is no channel yet lists whoever would receive from it, of either kind.
    assert_eq!(listed("New.Thing"), HashSet::from([later, events]));
    assert_eq!(listed("Events"), HashSet::from([events]));
    hub.publish_event(EventRequest::new("DeployStarted")).unwrap(); // makes the event channel
    assert_eq!(listed("Events"), HashSet::from([events]));
    assert_eq!(listed("*").len(), 6);
    assert_eq!(hub.subscriptions(Some("b")).unwrap().len(), 2, "names are case-insensitive");
}
