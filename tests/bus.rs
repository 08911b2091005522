//! Semantics of the bus, one behaviour per test (see docs/c-abi.md, "Semantics").

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{eventually, LONG};
use module_communication::registry::{json_value, ApiDefinition, ApiError, Call, InvokeRequest};
use module_communication::{
    Config, DeliveryReport, Error, Hub, ManualClock, MessageId, OverflowPolicy, Priority, PublishRequest,
    SubscriptionId, SubscriptionOptions,
};

fn hub_with(channels: &[&str]) -> Hub {
    let hub = Hub::new();
    for c in channels {
        hub.create_channel(c, None, 0).unwrap();
    }
    hub
}

fn msg(channel: &str, data: &str) -> PublishRequest {
    PublishRequest::new(channel, "Test").data_json(data).unwrap()
}

fn datas(batch: &[Arc<module_communication::Envelope>]) -> Vec<String> {
    batch.iter().map(|e| e.data_json().unwrap().to_owned()).collect()
}

// ----- channels and names ---------------------------------------------------------------

#[test]
fn publishing_to_a_missing_channel_names_it_and_says_how_to_create_it() {
    let hub = Hub::new();
    let err = hub.publish(PublishRequest::new("Foo", "Bar")).unwrap_err();
    assert_eq!(err, Error::ChannelNotFound { name: "Foo".into() });
    assert_eq!(
        err.to_string(),
        "channel 'Foo' does not exist; create it with New-MessageChannel (mc_channel_create) first"
    );
}

#[test]
fn channel_names_compare_case_insensitively_and_keep_their_display_name() {
    let hub = Hub::new();
    hub.create_channel("Configuration", Some("Configuration updates"), 1000).unwrap();
    let err = hub.create_channel("CONFIGURATION", None, 0).unwrap_err();
    assert!(matches!(err, Error::ChannelExists { .. }), "{err:?}");
    assert!(err.to_string().contains("'Configuration'"), "{err}");

    let sub = hub.subscribe_pull(SubscriptionOptions::new("configuration"), None).unwrap();
    hub.publish(PublishRequest::new("cOnFiGuRaTiOn", "x")).unwrap();
    let batch = hub.take(sub, 10, Duration::ZERO).unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].channel(), "Configuration");
    let list = hub.channels(None).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "Configuration");
    assert_eq!(list[0].description.as_deref(), Some("Configuration updates"));
    assert_eq!(list[0].max_messages, 1000);
}

#[test]
fn bad_channel_names_are_refused_with_the_reason() {
    let hub = Hub::new();
    let long = "x".repeat(257);
    for bad in ["", "   ", "Conf*", "a?b", "[x]", "a`b", "tab\there", long.as_str()] {
        let err = hub.create_channel(bad, None, 0).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{bad:?}: {err:?}");
    }
    hub.create_channel(&"x".repeat(256), None, 0).unwrap();
    hub.create_channel("Lab.Step-1 (ü)", None, 0).unwrap();
}

#[test]
fn subscription_patterns_no_name_could_match_are_refused() {
    let hub = Hub::new();
    let long = "x".repeat(257);
    for (channel, message_type) in [("   ", "*"), ("tab\t*", "*"), (long.as_str(), "*"), ("*", " "), ("*", "a\nb")] {
        let err = hub.subscribe_pull(SubscriptionOptions::new(channel).message_type(message_type), None).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{channel:?}/{message_type:?}: {err:?}");
    }
    assert!(hub.subscriptions(None).unwrap().is_empty());
}

#[test]
fn channels_are_listed_sorted_by_name_and_filtered_by_pattern() {
    let hub = hub_with(&["beta", "Alpha", "Gamma", "alphabet"]);
    let names: Vec<String> = hub.channels(None).unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["Alpha", "alphabet", "beta", "Gamma"]);
    let names: Vec<String> = hub.channels(Some("ALPHA*")).unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["Alpha", "alphabet"]);
    assert!(matches!(hub.channels(Some("[oops")), Err(Error::InvalidArgument { .. })));
}

// ----- routing ----------------------------------------------------------------------------

#[test]
fn wildcard_patterns_route_by_channel_message_type_and_source_module() {
    let hub = hub_with(&["Configuration", "ConfigBackup", "Logs"]);
    let all_config = hub.subscribe_pull(SubscriptionOptions::new("Config*"), None).unwrap();
    let changed = hub.subscribe_pull(SubscriptionOptions::new("*").message_type("*changed"), None).unwrap();
    let from_core =
        hub.subscribe_pull(SubscriptionOptions::new("*").source_module("configurationcore"), None).unwrap();
    let from_config_modules =
        hub.subscribe_pull(SubscriptionOptions::new("*").source_module("Config*"), None).unwrap();

    hub.publish(PublishRequest::new("Configuration", "ConfigChanged").source_module("ConfigurationCore")).unwrap();
    hub.publish(PublishRequest::new("ConfigBackup", "Saved")).unwrap();
    hub.publish(PublishRequest::new("Logs", "LineChanged").source_module("Other")).unwrap();

    let types = |id| -> Vec<String> {
        hub.take(id, 10, Duration::ZERO).unwrap().iter().map(|e| e.message_type().to_owned()).collect()
    };
    assert_eq!(types(all_config), ["ConfigChanged", "Saved"]);
    assert_eq!(types(changed), ["ConfigChanged", "LineChanged"]);
    assert_eq!(types(from_core), ["ConfigChanged"]);
    assert_eq!(types(from_config_modules), ["ConfigChanged"]);
}

#[test]
fn a_message_with_no_matching_subscription_is_delivered_at_once() {
    let hub = hub_with(&["Quiet"]);
    let id = hub.publish(PublishRequest::new("Quiet", "x")).unwrap();
    hub.wait_delivered(id, Duration::ZERO).unwrap();
    assert_eq!(hub.bus_stats().published, 1);
}

// ----- ordering ---------------------------------------------------------------------------

#[test]
fn takes_return_critical_before_high_before_normal_before_low_and_fifo_within_a_lane() {
    let hub = hub_with(&["P"]);
    let sub = hub.subscribe_pull(SubscriptionOptions::new("P"), None).unwrap();
    let plan = [
        (Priority::Low, "l1"),
        (Priority::Normal, "n1"),
        (Priority::Critical, "c1"),
        (Priority::High, "h1"),
        (Priority::Low, "l2"),
        (Priority::Normal, "n2"),
        (Priority::Critical, "c2"),
        (Priority::High, "h2"),
    ];
    for (p, d) in plan {
        hub.publish(msg("P", &format!("\"{d}\"")).priority(p)).unwrap();
    }
    let got = datas(&hub.take(sub, 100, Duration::ZERO).unwrap());
    assert_eq!(got, ["\"c1\"", "\"c2\"", "\"h1\"", "\"h2\"", "\"n1\"", "\"n2\"", "\"l1\"", "\"l2\""]);
}

#[test]
fn take_above_hands_out_only_what_outranks_the_rest_of_a_batch_and_keeps_the_rest() {
    let hub = hub_with(&["P"]);
    let sub = hub.subscribe_pull(SubscriptionOptions::new("P"), None).unwrap();
    hub.publish(msg("P", "\"n1\"")).unwrap();
    hub.publish(msg("P", "\"n2\"")).unwrap();
    assert_eq!(datas(&hub.take(sub, 1, Duration::ZERO).unwrap()), ["\"n1\""]);
    // While n1 is being handled, n2 waits; more arrives.
    hub.publish(msg("P", "\"h1\"").priority(Priority::High)).unwrap();
    hub.publish(msg("P", "\"n3\"")).unwrap();
    hub.publish(msg("P", "\"c1\"").priority(Priority::Critical)).unwrap();
    assert_eq!(datas(&hub.take_above(sub, 10, Priority::Normal).unwrap()), ["\"c1\"", "\"h1\""]);
    assert!(hub.take_above(sub, 10, Priority::Normal).unwrap().is_empty());
    assert!(hub.take_above(sub, 10, Priority::Critical).unwrap().is_empty());
    assert_eq!(datas(&hub.take(sub, 10, Duration::ZERO).unwrap()), ["\"n2\"", "\"n3\""]);
    // One report completes everything handed out by all three takes.
    hub.complete(sub, DeliveryReport { handled: 5, ..Default::default() }).unwrap();
    assert_eq!(hub.subscriptions(None).unwrap()[0].delivered, 5);
    hub.wait_idle(Duration::ZERO).unwrap();
}

#[test]
fn take_above_never_waits_takes_nothing_while_paused_and_refuses_what_take_refuses() {
    let hub = hub_with(&["P"]);
    let sub = hub.subscribe_pull(SubscriptionOptions::new("P"), None).unwrap();
    assert!(hub.take_above(sub, 1, Priority::Low).unwrap().is_empty());
    hub.pause();
    hub.publish(msg("P", "1").priority(Priority::Critical)).unwrap();
    assert!(hub.take_above(sub, 1, Priority::Low).unwrap().is_empty());
    hub.resume();
    assert_eq!(hub.take_above(sub, 1, Priority::Low).unwrap().len(), 1);
    assert!(matches!(hub.take_above(sub, 0, Priority::Low), Err(Error::InvalidArgument { .. })));
    let push = hub.subscribe_push(SubscriptionOptions::new("P"), |_| true).unwrap();
    assert!(matches!(hub.take_above(push, 1, Priority::Low), Err(Error::InvalidArgument { .. })));
    let unknown = module_communication::SubscriptionId::new_v4();
    assert_eq!(hub.take_above(unknown, 1, Priority::Low).unwrap_err(), Error::SubscriptionNotFound { id: unknown });
}

#[test]
fn take_above_counts_expired_messages_and_takes_one_with_a_time_to_live_only_first() {
    let clock = Arc::new(ManualClock::new(0));
    let hub = Hub::with_clock(clock.clone());
    hub.create_channel("E", None, 0).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("E"), None).unwrap();
    hub.publish(msg("E", "1").priority(Priority::High).ttl_ms(500)).unwrap();
    hub.publish(msg("E", "2").priority(Priority::High)).unwrap();
    hub.publish(msg("E", "3").priority(Priority::High).ttl_ms(5_000)).unwrap();
    clock.advance(1_000);
    assert_eq!(datas(&hub.take_above(sub, 10, Priority::Normal).unwrap()), ["2"]);
    assert_eq!(datas(&hub.take_above(sub, 10, Priority::Normal).unwrap()), ["3"]);
    assert_eq!(hub.subscriptions(None).unwrap()[0].expired, 1);
}

#[test]
fn push_handler_sees_one_publishers_messages_in_publish_order() {
    let hub = hub_with(&["Seq"]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    hub.subscribe_push(SubscriptionOptions::new("Seq"), move |e| {
        s.lock().unwrap().push(e.data_json().unwrap().parse::<u32>().unwrap());
        true
    })
    .unwrap();
    for i in 0..1000 {
        hub.publish(msg("Seq", &i.to_string())).unwrap();
    }
    hub.wait_idle(LONG).unwrap();
    assert_eq!(*seen.lock().unwrap(), (0..1000).collect::<Vec<_>>());
}

#[test]
fn take_hands_out_at_most_max_and_keeps_the_rest() {
    let hub = hub_with(&["T"]);
    let sub = hub.subscribe_pull(SubscriptionOptions::new("T"), None).unwrap();
    for i in 0..5 {
        hub.publish(msg("T", &i.to_string())).unwrap();
    }
    assert_eq!(datas(&hub.take(sub, 2, Duration::ZERO).unwrap()), ["0", "1"]);
    assert_eq!(datas(&hub.take(sub, 10, Duration::ZERO).unwrap()), ["2", "3", "4"]);
    assert!(hub.take(sub, 10, Duration::ZERO).unwrap().is_empty());
    assert!(matches!(hub.take(sub, 0, Duration::ZERO), Err(Error::InvalidArgument { .. })));
}

#[test]
fn take_waits_for_a_message_published_by_another_thread() {
    let hub = Arc::new(hub_with(&["W"]));
    let sub = hub.subscribe_pull(SubscriptionOptions::new("W"), None).unwrap();
    let h = Arc::clone(&hub);
    let publisher = std::thread::spawn(move || h.publish(msg("W", "1")).unwrap());
    let batch = hub.take(sub, 10, LONG).unwrap();
    assert_eq!(datas(&batch), ["1"]);
    publisher.join().unwrap();
}

#[test]
fn two_takers_waiting_on_one_subscription_both_get_messages_published_back_to_back() {
    // A publisher signals only an empty queue becoming non-empty; the taker it wakes must
    // pass the signal on when it leaves messages behind, or the other taker sleeps on.
    let hub = Arc::new(hub_with(&["TT"]));
    let sub = hub.subscribe_pull(SubscriptionOptions::new("TT"), None).unwrap();
    let takers: Vec<_> = (0..2)
        .map(|_| {
            let h = Arc::clone(&hub);
            std::thread::spawn(move || h.take(sub, 1, Duration::from_secs(10)).unwrap().len())
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50)); // let both start waiting
    hub.publish(msg("TT", "1")).unwrap();
    hub.publish(msg("TT", "2")).unwrap();
    let started = std::time::Instant::now();
    let got: Vec<usize> = takers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(got, [1, 1]);
    // Taking at the timeout's last look would also give [1, 1]; it must not come to that.
    assert!(started.elapsed() < Duration::from_secs(5), "a taker waited for its timeout: {:?}", started.elapsed());
}

// ----- overflow ---------------------------------------------------------------------------

fn full_queue(policy: OverflowPolicy) -> (Hub, module_communication::SubscriptionId) {
    let hub = hub_with(&["Q"]);
    let sub = hub
        .subscribe_pull(SubscriptionOptions::new("Q").capacity(3).overflow(policy).block_timeout_ms(20), None)
        .unwrap();
    for i in 0..3 {
        hub.publish(msg("Q", &i.to_string())).unwrap();
    }
    (hub, sub)
}

fn dropped(hub: &Hub) -> u64 {
    hub.subscriptions(None).unwrap()[0].dropped
}

#[test]
fn full_queue_drops_oldest_and_counts_it() {
    let (hub, sub) = full_queue(OverflowPolicy::DropOldest);
    hub.publish(msg("Q", "3")).unwrap();
    hub.publish(msg("Q", "4")).unwrap();
    assert_eq!(dropped(&hub), 2);
    assert_eq!(datas(&hub.take(sub, 10, Duration::ZERO).unwrap()), ["2", "3", "4"]);
}

#[test]
fn drop_oldest_never_evicts_a_higher_priority_message_for_a_lower_one() {
    let hub = hub_with(&["Q"]);
    let sub = hub.subscribe_pull(SubscriptionOptions::new("Q").capacity(2), None).unwrap();
    hub.publish(msg("Q", "\"h\"").priority(Priority::High)).unwrap();
    hub.publish(msg("Q", "\"n\"")).unwrap();
    hub.publish(msg("Q", "\"l\"").priority(Priority::Low)).unwrap(); // everything outranks it: dropped
    hub.publish(msg("Q", "\"c\"").priority(Priority::Critical)).unwrap(); // evicts "n"
    assert_eq!(dropped(&hub), 2);
    assert_eq!(datas(&hub.take(sub, 10, Duration::ZERO).unwrap()), ["\"c\"", "\"h\""]);
}

#[test]
fn full_queue_drops_newest_and_counts_it() {
    let (hub, sub) = full_queue(OverflowPolicy::DropNewest);
    let id = hub.publish(msg("Q", "3")).unwrap();
    assert_eq!(dropped(&hub), 1);
    hub.wait_delivered(id, Duration::ZERO).unwrap();
    assert_eq!(datas(&hub.take(sub, 10, Duration::ZERO).unwrap()), ["0", "1", "2"]);
}

#[test]
fn full_reject_queue_reports_queue_full_with_the_id_and_others_still_receive() {
    let (hub, sub) = full_queue(OverflowPolicy::Reject);
    let other = hub.subscribe_pull(SubscriptionOptions::new("Q"), None).unwrap();
    let err = hub.publish(msg("Q", "3")).unwrap_err();
    let Error::QueueFull { message_id, rejected } = err else { panic!("{err:?}") };
    assert_eq!(rejected, 1);
    let got = hub.take(other, 10, Duration::ZERO).unwrap();
    assert_eq!(got[0].id(), message_id);
    assert_eq!(dropped(&hub), 1);
    assert_eq!(hub.take(sub, 10, Duration::ZERO).unwrap().len(), 3);
}

#[test]
fn full_block_queue_waits_its_timeout_then_drops_the_new_message() {
    let (hub, sub) = full_queue(OverflowPolicy::Block);
    let started = std::time::Instant::now();
    hub.publish(msg("Q", "3")).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert_eq!(dropped(&hub), 1);
    assert_eq!(datas(&hub.take(sub, 10, Duration::ZERO).unwrap()), ["0", "1", "2"]);
}

#[test]
fn full_block_queue_lets_the_publisher_continue_as_soon_as_there_is_room() {
    let hub = Arc::new(hub_with(&["Q"]));
    let sub = hub
        .subscribe_pull(
            SubscriptionOptions::new("Q").capacity(1).overflow(OverflowPolicy::Block).block_timeout_ms(60_000),
            None,
        )
        .unwrap();
    hub.publish(msg("Q", "0")).unwrap();
    let h = Arc::clone(&hub);
    let publisher = std::thread::spawn(move || h.publish(msg("Q", "1")).unwrap());
    assert_eq!(datas(&hub.take(sub, 1, LONG).unwrap()), ["0"]);
    assert_eq!(datas(&hub.take(sub, 1, LONG).unwrap()), ["1"]);
    publisher.join().unwrap();
    assert_eq!(dropped(&hub), 0);
}

#[test]
fn wait_idle_counts_a_publisher_blocked_on_a_full_block_queue() {
    // Taking the last message wakes the blocked publisher, but until it has queued its
    // message the queue is empty; the subscription must not look idle meanwhile.
    for round in 0..10 {
        let hub = Arc::new(hub_with(&["Q"]));
        let sub = hub
            .subscribe_pull(
                SubscriptionOptions::new("Q").capacity(1).overflow(OverflowPolicy::Block).block_timeout_ms(60_000),
                None,
            )
            .unwrap();
        hub.publish(msg("Q", "0")).unwrap();
        let h = Arc::clone(&hub);
        let publisher = std::thread::spawn(move || h.publish(msg("Q", "1")).unwrap());
        // The publisher counts the message before it offers it; then give it time to block.
        assert!(eventually(LONG, || hub.bus_stats().published == 2));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(datas(&hub.take(sub, 1, LONG).unwrap()), ["0"]);
        hub.complete(sub, DeliveryReport { handled: 1, ..Default::default() }).unwrap();
        assert!(
            matches!(hub.wait_idle(Duration::ZERO), Err(Error::Timeout { .. })),
            "round {round}: idle although message 1 is still being published"
        );
        publisher.join().unwrap();
        assert_eq!(datas(&hub.take(sub, 1, LONG).unwrap()), ["1"]);
        hub.complete(sub, DeliveryReport { handled: 1, ..Default::default() }).unwrap();
        hub.wait_idle(Duration::ZERO).unwrap();
    }
}

#[test]
fn wait_idle_waits_for_the_callback_of_a_subscription_being_unsubscribed() {
    // Unsubscribe takes the subscription off the table before it waits for the callback;
    // meanwhile that callback still runs, so the bus is not idle.
    let hub = Arc::new(hub_with(&["U"]));
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let sub = hub
        .subscribe_push(SubscriptionOptions::new("U"), move |_| {
            entered_tx.send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
            true
        })
        .unwrap();
    hub.publish(msg("U", "1")).unwrap();
    entered.recv_timeout(LONG).unwrap();
    let h = Arc::clone(&hub);
    let unsubscriber = std::thread::spawn(move || h.unsubscribe(sub).unwrap());
    assert!(eventually(LONG, || hub.subscriptions(None).unwrap().is_empty()));
    assert!(
        matches!(hub.wait_idle(Duration::from_millis(20)), Err(Error::Timeout { .. })),
        "idle while the callback of the subscription being removed still runs"
    );
    release.send(()).unwrap();
    hub.wait_idle(LONG).unwrap();
    // Idle means the subscription's counts are already in the bus totals.
    assert_eq!(hub.bus_stats().delivered, 1);
    unsubscriber.join().unwrap();
}

#[test]
fn wait_idle_waits_for_a_callback_that_unsubscribed_itself() {
    let hub = Arc::new(hub_with(&["S"]));
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let id_slot: Arc<OnceLock<module_communication::SubscriptionId>> = Arc::new(OnceLock::new());
    let (h, slot) = (Arc::clone(&hub), Arc::clone(&id_slot));
    let sub = hub
        .subscribe_push(SubscriptionOptions::new("S"), move |_| {
            h.unsubscribe(*slot.get().unwrap()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
            true
        })
        .unwrap();
    id_slot.set(sub).unwrap();
    hub.publish(msg("S", "1")).unwrap();
    assert!(eventually(LONG, || hub.subscriptions(None).unwrap().is_empty()));
    assert!(
        matches!(hub.wait_idle(Duration::from_millis(20)), Err(Error::Timeout { .. })),
        "idle while the callback that unsubscribed itself still runs"
    );
    release.send(()).unwrap();
    hub.wait_idle(LONG).unwrap();
    assert_eq!(hub.bus_stats().delivered, 1);
}

/// A pull subscription on `Q` whose `Block` queue of one is full, and a thread publishing one
/// more message to it (which waits for room, or has not started yet).
fn full_block_queue_and_a_publisher() -> (Arc<Hub>, SubscriptionId, std::thread::JoinHandle<Result<MessageId, Error>>) {
    let hub = Arc::new(hub_with(&["Q"]));
    let sub = hub
        .subscribe_pull(
            SubscriptionOptions::new("Q").capacity(1).overflow(OverflowPolicy::Block).block_timeout_ms(600_000),
            None,
        )
        .unwrap();
    hub.publish(msg("Q", "0")).unwrap();
    let h = Arc::clone(&hub);
    let publisher = std::thread::spawn(move || h.publish(msg("Q", "1")));
    (hub, sub, publisher)
}

#[test]
fn unsubscribing_releases_a_publisher_blocked_on_that_queue() {
    let (hub, sub, publisher) = full_block_queue_and_a_publisher();
    // The publisher blocks (or has not started yet); either way unsubscribe must free it.
    hub.unsubscribe(sub).unwrap();
    let id = publisher.join().unwrap().unwrap();
    hub.wait_delivered(id, Duration::ZERO).unwrap();
}

#[test]
fn the_copy_of_a_publisher_blocked_when_its_subscription_is_removed_is_counted_as_cleared() {
    // The unsubscribe discards it on purpose, as it does the queued one: cleared, in the bus
    // totals (which the removed subscription's counters are folded into) and on the channel.
    let (hub, sub, publisher) = full_block_queue_and_a_publisher();
    assert!(eventually(LONG, || hub.blocked_publishers() == 1), "the publisher waits for room");
    hub.unsubscribe(sub).unwrap();
    // In the totals as soon as unsubscribe returns, whether or not the publisher has woken yet.
    let stats = hub.bus_stats();
    assert_eq!((stats.published, stats.cleared, stats.dropped, stats.subscriptions), (2, 2, 0, 0), "{stats:?}");
    publisher.join().unwrap().unwrap();
    let channel = &hub.channels(Some("Q")).unwrap()[0];
    assert_eq!((channel.published, channel.cleared, channel.dropped), (2, 2, 0), "{channel:?}");
    assert_eq!(hub.blocked_publishers(), 0);
}

// ----- expiry -----------------------------------------------------------------------------

#[test]
fn expired_message_is_never_taken_and_is_counted() {
    let clock = Arc::new(ManualClock::new(1_795_759_200_000));
    let hub = Hub::with_clock(clock.clone());
    hub.create_channel("E", None, 0).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("E"), None).unwrap();
    let short = hub.publish(msg("E", "\"short\"").ttl_ms(1_000)).unwrap();
    hub.publish(msg("E", "\"long\"").ttl_ms(10_000)).unwrap();
    hub.publish(msg("E", "\"forever\"")).unwrap();
    clock.advance(1_000);
    let got = hub.take(sub, 10, Duration::ZERO).unwrap();
    assert_eq!(datas(&got), ["\"long\"", "\"forever\""]);
    assert_eq!(got[0].expires_at_ms(), Some(1_795_759_210_000));
    assert!(got[0].to_json().contains(r#""timestamp":"2026-11-27T06:00:00.000Z","expiresAt":"2026-11-27T06:00:10.000Z""#));
    let info = &hub.subscriptions(None).unwrap()[0];
    assert_eq!(info.expired, 1);
    assert_eq!(hub.channels(None).unwrap()[0].expired, 1);
    hub.wait_delivered(short, Duration::ZERO).unwrap();
}

#[test]
fn a_message_with_a_time_to_live_is_taken_only_at_the_head_of_a_batch() {
    // Further in, it would wait for the handlers before it and could expire there unseen.
    let clock = Arc::new(ManualClock::new(0));
    let hub = Hub::with_clock(clock.clone());
    hub.create_channel("E", None, 0).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("E"), None).unwrap();
    hub.publish(msg("E", "1")).unwrap();
    hub.publish(msg("E", "2").ttl_ms(500)).unwrap();
    hub.publish(msg("E", "3").ttl_ms(5_000)).unwrap();
    hub.publish(msg("E", "4")).unwrap();
    assert_eq!(datas(&hub.take(sub, 10, Duration::ZERO).unwrap()), ["1"]);
    hub.complete(sub, DeliveryReport { handled: 1, ..Default::default() }).unwrap();
    clock.advance(1_000); // the handler of 1 took a second: 2 expired meanwhile, in the queue
    assert_eq!(datas(&hub.take(sub, 10, Duration::ZERO).unwrap()), ["3", "4"]);
    assert_eq!(hub.subscriptions(None).unwrap()[0].expired, 1);
}

#[test]
fn expired_message_is_never_passed_to_a_push_handler_and_is_counted() {
    let clock = Arc::new(ManualClock::new(0));
    let hub = Hub::with_clock(clock.clone());
    hub.create_channel("E", None, 0).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    hub.subscribe_push(SubscriptionOptions::new("E"), move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        true
    })
    .unwrap();
    hub.pause();
    let id = hub.publish(msg("E", "1").ttl_ms(5)).unwrap();
    clock.advance(5);
    hub.resume();
    hub.wait_delivered(id, LONG).unwrap();
    hub.wait_idle(LONG).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let info = &hub.subscriptions(None).unwrap()[0];
    assert_eq!((info.expired, info.delivered), (1, 0));
    assert_eq!(hub.bus_stats().expired, 1);
}

#[test]
fn zero_ttl_is_refused() {
    let hub = hub_with(&["E"]);
    let err = hub.publish(msg("E", "1").ttl_ms(0)).unwrap_err();
    assert!(err.to_string().contains("ttlMs"), "{err}");
}

#[test]
fn a_ttl_that_would_expire_after_the_year_9999_is_refused_and_the_last_millisecond_is_not() {
    // Expiry times are ISO 8601 texts with four-digit years, which .NET reads as DateTime.
    let clock = Arc::new(ManualClock::new(1_795_759_200_000));
    let hub = Hub::with_clock(clock.clone());
    hub.create_channel("E", None, 0).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("E"), None).unwrap();
    let last_ms = 253_402_300_799_999 - 1_795_759_200_000;
    let err = hub.publish(msg("E", "1").ttl_ms(last_ms + 1)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }) && err.to_string().contains("year 9999"), "{err}");
    hub.publish(msg("E", "2").ttl_ms(last_ms)).unwrap();
    let batch = hub.take(sub, 10, Duration::ZERO).unwrap();
    assert_eq!(datas(&batch), ["2"]);
    assert!(batch[0].to_json().contains(r#""expiresAt":"9999-12-31T23:59:59.999Z""#), "{}", batch[0].to_json());
}

// ----- push handlers ----------------------------------------------------------------------

#[test]
fn panicking_handler_is_contained_counted_and_the_bus_keeps_working() {
    let hub = hub_with(&["P"]);
    let handled = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&handled);
    hub.subscribe_push(SubscriptionOptions::new("P"), move |e| {
        if e.data_json() == Some("\"boom\"") {
            panic!("boom");
        }
        h.fetch_add(1, Ordering::SeqCst);
        true
    })
    .unwrap();
    hub.publish(msg("P", "1")).unwrap();
    hub.publish(msg("P", "\"boom\"")).unwrap();
    let last = hub.publish(msg("P", "2")).unwrap();
    hub.wait_delivered(last, LONG).unwrap();
    assert_eq!(handled.load(Ordering::SeqCst), 2);
    let info = &hub.subscriptions(None).unwrap()[0];
    assert_eq!((info.delivered, info.failed), (2, 1));
    assert!(info.last_error.as_deref().unwrap().starts_with("handler panicked: boom"), "{:?}", info.last_error);
    assert_eq!(hub.channels(None).unwrap()[0].failed, 1);
}

#[test]
fn handler_returning_false_is_counted_as_failed() {
    let hub = hub_with(&["F"]);
    hub.subscribe_push(SubscriptionOptions::new("F"), |_| false).unwrap();
    let id = hub.publish(msg("F", "1")).unwrap();
    hub.wait_delivered(id, LONG).unwrap();
    hub.wait_idle(LONG).unwrap();
    let info = &hub.subscriptions(None).unwrap()[0];
    assert_eq!((info.delivered, info.failed), (0, 1));
    assert!(info.last_error.is_some());
}

#[test]
fn unsubscribe_returns_only_after_its_handler_can_no_longer_be_called() {
    let hub = Arc::new(hub_with(&["U"]));
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let unsubscribed = Arc::new(AtomicBool::new(false));
    let called_after_unsubscribe = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let (u, late, c) = (Arc::clone(&unsubscribed), Arc::clone(&called_after_unsubscribe), Arc::clone(&calls));
    let sub = hub
        .subscribe_push(SubscriptionOptions::new("U"), move |_| {
            if u.load(Ordering::SeqCst) {
                late.store(true, Ordering::SeqCst);
            }
            c.fetch_add(1, Ordering::SeqCst);
            let _ = entered_tx.send(());
            let _ = release_rx.lock().unwrap().recv();
            if u.load(Ordering::SeqCst) {
                late.store(true, Ordering::SeqCst);
            }
            true
        })
        .unwrap();
    hub.publish(msg("U", "1")).unwrap();
    hub.publish(msg("U", "2")).unwrap();
    entered_rx.recv().unwrap(); // the handler is inside its first call

    let h = Arc::clone(&hub);
    let u = Arc::clone(&unsubscribed);
    let unsubscriber = std::thread::spawn(move || {
        h.unsubscribe(sub).unwrap();
        u.store(true, Ordering::SeqCst);
    });
    // Give the unsubscriber a moment to start waiting; the assertions below hold for every
    // interleaving, the pause only makes the interesting one likely.
    std::thread::sleep(Duration::from_millis(20));
    assert!(!unsubscribed.load(Ordering::SeqCst), "unsubscribe returned while the handler was running");
    release_tx.send(()).unwrap();
    drop(release_tx); // a second call, if any, would not block
    unsubscriber.join().unwrap();

    hub.publish(msg("U", "3")).unwrap();
    assert!(!called_after_unsubscribe.load(Ordering::SeqCst));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the queued second message was cleared, not handled");
    assert!(matches!(hub.unsubscribe(sub), Err(Error::SubscriptionNotFound { .. })));
    hub.wait_idle(LONG).unwrap();
}

#[test]
fn a_handler_may_unsubscribe_itself_and_is_not_called_again() {
    let hub = Arc::new(hub_with(&["S"]));
    let own_id = Arc::new(OnceLock::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let (h, id_slot, c) = (Arc::downgrade(&hub), Arc::clone(&own_id), Arc::clone(&calls));
    let sub = hub
        .subscribe_push(SubscriptionOptions::new("S"), move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            let hub = h.upgrade().expect("hub alive");
            hub.unsubscribe(*id_slot.get().expect("id set")).unwrap();
            true
        })
        .unwrap();
    own_id.set(sub).unwrap();
    hub.publish(msg("S", "1")).unwrap();
    hub.publish(msg("S", "2")).unwrap();
    assert!(eventually(LONG, || hub.subscriptions(None).unwrap().is_empty()));
    hub.wait_idle(LONG).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Its last call is still counted in the bus totals once the worker has exited.
    assert!(eventually(LONG, || hub.bus_stats().delivered == 1));
}

#[test]
fn two_handlers_may_unsubscribe_each_other_at_the_same_time() {
    let hub = Arc::new(hub_with(&["S"]));
    let ids: Arc<[OnceLock<module_communication::SubscriptionId>; 2]> = Arc::new([OnceLock::new(), OnceLock::new()]);
    let both_in_callbacks = Arc::new(std::sync::Barrier::new(2));
    let (done_tx, done_rx) = mpsc::channel();
    let subscribe = |me: usize| {
        let (h, ids, barrier, done) = (Arc::downgrade(&hub), Arc::clone(&ids), Arc::clone(&both_in_callbacks), done_tx.clone());
        hub.subscribe_push(SubscriptionOptions::new("S"), move |_| {
            barrier.wait(); // both callbacks run now: each waiting for the other would never end
            let other = *ids[1 - me].get().expect("ids set");
            let result = h.upgrade().expect("hub alive").unsubscribe(other).map_err(|e| e.to_string());
            done.send(result).unwrap();
            true
        })
        .unwrap()
    };
    let (a, b) = (subscribe(0), subscribe(1));
    ids[0].set(a).unwrap();
    ids[1].set(b).unwrap();
    hub.publish(msg("S", "1")).unwrap();
    for _ in 0..2 {
        assert_eq!(done_rx.recv_timeout(LONG).expect("an unsubscribe from a callback returned"), Ok(()));
    }
    assert!(hub.subscriptions(None).unwrap().is_empty());
    assert!(eventually(LONG, || hub.bus_stats().delivered == 2), "both calls are counted once the workers exit");
    drop(hub); // waits for both workers
}

#[test]
fn an_api_handler_that_a_callback_invoked_with_a_timeout_may_unsubscribe_that_callback() {
    // With a timeout the handler runs on a worker thread while the callback waits for it in
    // invoke: the unsubscribe waiting for the callback in turn would last until the timeout,
    // and make the call fail with it.
    let hub = Arc::new(hub_with(&["S"]));
    let own_id = Arc::new(OnceLock::new());
    let (h, id_slot) = (Arc::downgrade(&hub), Arc::clone(&own_id));
    hub.registry()
        .register(ApiDefinition::new("M", "EndIt"), move |_: &Call| {
            let result = h.upgrade().expect("hub alive").unsubscribe(*id_slot.get().expect("id set"));
            result.map_err(|e| ApiError::handler_failed(e.to_string()))?;
            Ok(json_value("null").unwrap())
        })
        .unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let (h, done) = (Arc::downgrade(&hub), Mutex::new(done_tx));
    let sub = hub
        .subscribe_push(SubscriptionOptions::new("S"), move |_| {
            let call = InvokeRequest::new("M", "EndIt").timeout(LONG).retry_attempts(0);
            let result = h.upgrade().expect("hub alive").registry().invoke(call).map(drop);
            done.lock().unwrap().send(result.map_err(|e| e.message)).unwrap();
            true
        })
        .unwrap();
    own_id.set(sub).unwrap();
    hub.publish(msg("S", "1")).unwrap();
    hub.publish(msg("S", "2")).unwrap();
    let result = done_rx.recv_timeout(LONG + LONG).expect("the callback's call returned");
    assert_eq!(result, Ok(()), "the handler's unsubscribe waited for the callback waiting for it");
    assert!(hub.subscriptions(None).unwrap().is_empty());
    hub.wait_idle(LONG).unwrap();
    assert!(done_rx.try_recv().is_err(), "the callback was not called again");
    assert!(eventually(LONG, || hub.bus_stats().delivered == 1), "its call is counted once the worker exits");
}

#[test]
fn dropping_the_hub_waits_for_a_callback_that_ended_its_own_subscription() {
    let hub = Arc::new(hub_with(&["S"]));
    let own_id = Arc::new(OnceLock::new());
    let (unsubscribed_tx, unsubscribed_rx) = mpsc::channel();
    let finished = Arc::new(AtomicBool::new(false));
    let (h, id_slot, done) = (Arc::downgrade(&hub), Arc::clone(&own_id), Arc::clone(&finished));
    let sub = hub
        .subscribe_push(SubscriptionOptions::new("S"), move |_| {
            h.upgrade().expect("hub alive").unsubscribe(*id_slot.get().expect("id set")).unwrap();
            unsubscribed_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(100)); // still running while the hub is dropped
            done.store(true, Ordering::SeqCst);
            true
        })
        .unwrap();
    own_id.set(sub).unwrap();
    hub.publish(msg("S", "1")).unwrap();
    unsubscribed_rx.recv_timeout(LONG).unwrap();
    drop(hub);
    assert!(finished.load(Ordering::SeqCst), "the hub was dropped while the callback still ran");
}

#[test]
fn a_handler_ending_another_subscription_waits_for_its_running_callback() {
    let hub = Arc::new(hub_with(&["A", "B"]));
    let (b_running_tx, b_running_rx) = mpsc::channel();
    let b_finished = Arc::new(AtomicBool::new(false));
    let b_done = Arc::clone(&b_finished);
    let b = hub
        .subscribe_push(SubscriptionOptions::new("B"), move |_| {
            b_running_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            b_done.store(true, Ordering::SeqCst);
            true
        })
        .unwrap();
    let (seen_tx, seen_rx) = mpsc::channel();
    let h = Arc::downgrade(&hub);
    hub.subscribe_push(SubscriptionOptions::new("A"), move |_| {
        b_running_rx.recv_timeout(LONG).unwrap();
        h.upgrade().unwrap().unsubscribe(b).unwrap();
        seen_tx.send(b_finished.load(Ordering::SeqCst)).unwrap();
        true
    })
    .unwrap();
    hub.publish(msg("B", "1")).unwrap();
    hub.publish(msg("A", "1")).unwrap();
    assert!(seen_rx.recv_timeout(LONG).unwrap(), "unsubscribe returned while B's callback still ran");
}

#[test]
fn a_handler_may_publish_to_the_bus() {
    let hub = Arc::new(hub_with(&["In", "Out"]));
    let h = Arc::downgrade(&hub);
    hub.subscribe_push(SubscriptionOptions::new("In"), move |e| {
        let hub = h.upgrade().unwrap();
        hub.publish(msg("Out", e.data_json().unwrap())).is_ok()
    })
    .unwrap();
    let out = hub.subscribe_pull(SubscriptionOptions::new("Out"), None).unwrap();
    hub.publish(msg("In", "42")).unwrap();
    assert_eq!(datas(&hub.take(out, 1, LONG).unwrap()), ["42"]);
}

#[test]
fn dropping_the_hub_stops_workers_and_discards_queued_messages() {
    let hub = hub_with(&["D"]);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    hub.subscribe_push(SubscriptionOptions::new("D"), move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        true
    })
    .unwrap();
    hub.pause();
    for i in 0..10 {
        hub.publish(msg("D", &i.to_string())).unwrap();
    }
    drop(hub);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

// ----- pull -------------------------------------------------------------------------------

/// A hub with channel "N" and a pull subscription to it whose notifier counts its calls.
fn pull_with_counted_notifier() -> (Hub, module_communication::SubscriptionId, Arc<AtomicUsize>) {
    let hub = hub_with(&["N"]);
    let fired = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&fired);
    let sub = hub
        .subscribe_pull(
            SubscriptionOptions::new("N"),
            Some(Box::new(move || {
                f.fetch_add(1, Ordering::SeqCst);
            })),
        )
        .unwrap();
    (hub, sub, fired)
}

#[test]
fn pull_notifier_fires_once_until_the_next_take() {
    let (hub, sub, fired) = pull_with_counted_notifier();
    hub.publish(msg("N", "1")).unwrap();
    hub.publish(msg("N", "2")).unwrap();
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    hub.take(sub, 10, Duration::ZERO).unwrap();
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    hub.publish(msg("N", "3")).unwrap();
    hub.publish(msg("N", "4")).unwrap();
    assert_eq!(fired.load(Ordering::SeqCst), 2);
}

#[test]
fn take_above_leaves_the_notifier_for_the_next_ordinary_take_to_arm() {
    // A handler loop takes above only in the middle of a batch; its next ordinary take
    // (which finds the rest) arms the notifier again.
    let (hub, sub, fired) = pull_with_counted_notifier();
    hub.publish(msg("N", "1").priority(Priority::High)).unwrap();
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    hub.take_above(sub, 10, Priority::Low).unwrap();
    hub.publish(msg("N", "2")).unwrap();
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    hub.take(sub, 10, Duration::ZERO).unwrap();
    hub.publish(msg("N", "3")).unwrap();
    assert_eq!(fired.load(Ordering::SeqCst), 2);
}

#[test]
fn messages_taken_and_let_go_without_a_report_are_counted_as_cleared() {
    let hub = hub_with(&["R"]);
    let sub = hub.subscribe_pull(SubscriptionOptions::new("R"), None).unwrap();
    for i in 0..5 {
        hub.publish(msg("R", &i.to_string())).unwrap();
    }
    assert_eq!(hub.take(sub, 10, Duration::ZERO).unwrap().len(), 5);
    // The subscriber handled two and stopped (its runspace ended mid-batch, say).
    hub.complete(sub, DeliveryReport { handled: 1, failed: 1, ..Default::default() }).unwrap();
    let info = &hub.subscriptions(None).unwrap()[0];
    assert_eq!((info.delivered, info.failed, info.cleared, info.in_flight), (1, 1, 3, 0));
    let ch = &hub.channels(None).unwrap()[0];
    assert_eq!((ch.published, ch.delivered, ch.failed, ch.cleared), (5, 1, 1, 3));
}

#[test]
fn complete_adds_the_report_and_finishes_delivery() {
    let hub = hub_with(&["C"]);
    let sub = hub.subscribe_pull(SubscriptionOptions::new("C"), None).unwrap();
    let ids: Vec<_> = (0..4).map(|i| hub.publish(msg("C", &i.to_string())).unwrap()).collect();
    assert_eq!(hub.take(sub, 10, Duration::ZERO).unwrap().len(), 4);
    assert!(matches!(hub.wait_delivered(ids[0], Duration::ZERO), Err(Error::Timeout { .. })));
    let too_many = DeliveryReport { handled: 5, ..Default::default() };
    assert!(matches!(hub.complete(sub, too_many), Err(Error::InvalidArgument { .. })));
    let last_error = Some("login failed: password=hunter2".into());
    hub.complete(sub, DeliveryReport { handled: 2, failed: 1, filtered: 1, last_error }).unwrap();
    for id in ids {
        hub.wait_delivered(id, Duration::ZERO).unwrap();
    }
    let info = &hub.subscriptions(None).unwrap()[0];
    assert_eq!((info.delivered, info.failed, info.filtered), (2, 1, 1));
    assert_eq!(info.last_error.as_deref(), Some("login failed: password=***"), "kept without the secret");
    let ch = &hub.channels(None).unwrap()[0];
    assert_eq!((ch.delivered, ch.failed), (2, 1));
    hub.wait_idle(Duration::ZERO).unwrap();
}

#[test]
fn take_and_complete_refuse_push_subscriptions_and_unknown_ids() {
    let hub = hub_with(&["X"]);
    let push = hub.subscribe_push(SubscriptionOptions::new("X"), |_| true).unwrap();
    assert!(matches!(hub.take(push, 1, Duration::ZERO), Err(Error::InvalidArgument { .. })));
    assert!(matches!(hub.complete(push, DeliveryReport::default()), Err(Error::InvalidArgument { .. })));
    let unknown = module_communication::SubscriptionId::new_v4();
    assert_eq!(hub.take(unknown, 1, Duration::ZERO).unwrap_err(), Error::SubscriptionNotFound { id: unknown });
    assert_eq!(hub.unsubscribe(unknown).unwrap_err(), Error::SubscriptionNotFound { id: unknown });
}

// ----- delivery tracking, pause, clear, remove ----------------------------------------------

#[test]
fn wait_delivered_waits_for_every_subscription_and_knows_unknown_ids() {
    let hub = hub_with(&["W"]);
    let a = hub.subscribe_pull(SubscriptionOptions::new("W"), None).unwrap();
    let b = hub.subscribe_pull(SubscriptionOptions::new("w*"), None).unwrap();
    let id = hub.publish(msg("W", "1")).unwrap();
    hub.take(a, 1, Duration::ZERO).unwrap();
    hub.complete(a, DeliveryReport { handled: 1, ..Default::default() }).unwrap();
    let err = hub.wait_delivered(id, Duration::from_millis(1)).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }));
    assert!(err.to_string().contains(&id.to_string()), "{err}");
    hub.take(b, 1, Duration::ZERO).unwrap();
    hub.complete(b, DeliveryReport { handled: 1, ..Default::default() }).unwrap();
    hub.wait_delivered(id, Duration::ZERO).unwrap();
    hub.wait_delivered(module_communication::MessageId::new_v4(), Duration::ZERO).unwrap();
}

#[test]
fn pause_stops_hand_outs_but_not_publishing_and_resume_restarts_them() {
    let hub = hub_with(&["P"]);
    let pull = hub.subscribe_pull(SubscriptionOptions::new("P"), None).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    hub.subscribe_push(SubscriptionOptions::new("P"), move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        true
    })
    .unwrap();
    hub.pause();
    assert!(!hub.is_running());
    assert!(!hub.bus_stats().running);
    let id = hub.publish(msg("P", "1")).unwrap();
    assert!(hub.take(pull, 10, Duration::from_millis(5)).unwrap().is_empty());
    assert!(matches!(hub.wait_delivered(id, Duration::from_millis(20)), Err(Error::Timeout { .. })));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(hub.bus_stats().queue_length, 2);
    hub.resume();
    assert!(hub.is_running());
    assert_eq!(hub.take(pull, 10, LONG).unwrap().len(), 1);
    assert!(eventually(LONG, || calls.load(Ordering::SeqCst) == 1));
}

#[test]
fn resume_calls_the_armed_notifier_of_pull_subscriptions_with_queued_messages() {
    // A dispatcher drains only when notified. Its notifier fired for a message published
    // while paused, its take found nothing (paused) and re-armed it: resume must call it
    // again, or the message waits for the next publish.
    let hub = hub_with(&["R", "Other"]);
    let counter = |n: &Arc<AtomicUsize>| {
        let n = Arc::clone(n);
        Some(Box::new(move || {
            n.fetch_add(1, Ordering::SeqCst);
        }) as Box<dyn Fn() + Send + Sync>)
    };
    let (fired, idle_fired) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let sub = hub.subscribe_pull(SubscriptionOptions::new("R"), counter(&fired)).unwrap();
    hub.subscribe_pull(SubscriptionOptions::new("Other"), counter(&idle_fired)).unwrap();

    hub.pause();
    hub.publish(msg("R", "1")).unwrap();
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert!(hub.take(sub, 10, Duration::ZERO).unwrap().is_empty()); // paused; re-arms
    hub.resume();
    assert_eq!(fired.load(Ordering::SeqCst), 2, "resume must notify: a message is queued");
    assert_eq!(idle_fired.load(Ordering::SeqCst), 0, "nothing queued, no notification");

    // Disarmed (notified, not yet taken): resume does not call it again.
    hub.resume();
    assert_eq!(fired.load(Ordering::SeqCst), 2);
    assert_eq!(datas(&hub.take(sub, 10, Duration::ZERO).unwrap()), ["1"]);

    // Armed but nothing queued: no call.
    hub.pause();
    hub.resume();
    assert_eq!(fired.load(Ordering::SeqCst), 2);
}

#[test]
fn clear_queue_removes_matching_channels_messages_without_counting_them_as_dropped() {
    let hub = hub_with(&["Alpha", "Beta"]);
    let a = hub.subscribe_pull(SubscriptionOptions::new("*"), None).unwrap();
    let b = hub.subscribe_pull(SubscriptionOptions::new("Alpha"), None).unwrap();
    let first = hub.publish(msg("Alpha", "1")).unwrap();
    hub.publish(msg("Alpha", "2")).unwrap();
    hub.publish(msg("Beta", "3")).unwrap();
    assert_eq!(hub.clear_queue("al*").unwrap(), 4);
    hub.wait_delivered(first, Duration::ZERO).unwrap();
    assert_eq!(datas(&hub.take(a, 10, Duration::ZERO).unwrap()), ["3"]);
    assert!(hub.take(b, 10, Duration::ZERO).unwrap().is_empty());
    assert_eq!(hub.bus_stats().dropped, 0);
    // Counted as cleared instead, per subscription, per channel and on the bus.
    let cleared = |id| hub.subscriptions(None).unwrap().into_iter().find(|s| s.id == id).unwrap().cleared;
    assert_eq!((cleared(a), cleared(b)), (2, 2));
    let channel = |name: &str| hub.channels(Some(name)).unwrap()[0].cleared;
    assert_eq!((channel("Alpha"), channel("Beta")), (4, 0));
    assert_eq!(hub.bus_stats().cleared, 4);
}

#[test]
fn remove_channel_clears_its_messages_and_later_publishes_fail() {
    let hub = hub_with(&["Gone", "Stays"]);
    let sub = hub.subscribe_pull(SubscriptionOptions::new("*"), None).unwrap();
    hub.publish(msg("Gone", "1")).unwrap();
    hub.publish(msg("Stays", "2")).unwrap();
    assert_eq!(hub.remove_channel("GONE").unwrap(), 1);
    assert_eq!(hub.subscriptions(None).unwrap()[0].cleared, 1);
    assert!(matches!(hub.publish(msg("Gone", "3")), Err(Error::ChannelNotFound { .. })));
    assert!(matches!(hub.remove_channel("Gone"), Err(Error::ChannelNotFound { .. })));
    assert_eq!(datas(&hub.take(sub, 10, Duration::ZERO).unwrap()), ["2"]);
    assert_eq!(hub.subscriptions(None).unwrap().len(), 1, "subscriptions stay");
}

#[test]
fn unsubscribe_clears_queued_messages_for_delivery_tracking() {
    let hub = hub_with(&["U"]);
    let sub = hub.subscribe_pull(SubscriptionOptions::new("U"), None).unwrap();
    let id = hub.publish(msg("U", "1")).unwrap();
    let handed = hub.publish(msg("U", "2")).unwrap();
    hub.take(sub, 1, Duration::ZERO).unwrap();
    hub.unsubscribe(sub).unwrap();
    hub.wait_delivered(id, Duration::ZERO).unwrap();
    hub.wait_delivered(handed, Duration::ZERO).unwrap();
    hub.wait_idle(Duration::ZERO).unwrap();
    assert_eq!(hub.in_flight(), 0);
    // The queued one and the one taken but never reported: every message is accounted for.
    let stats = hub.bus_stats();
    assert_eq!((stats.published, stats.delivered, stats.cleared), (2, 0, 2));
    assert_eq!(hub.channels(Some("U")).unwrap()[0].cleared, 2);
}

// ----- capacity and configuration -----------------------------------------------------------

#[test]
fn capacity_defaults_to_the_literal_channels_max_messages_else_the_configuration() {
    let hub = Hub::new();
    hub.create_channel("Small", None, 5).unwrap();
    hub.create_channel("Default", None, 0).unwrap();
    hub.subscribe_pull(SubscriptionOptions::new("small"), None).unwrap();
    hub.subscribe_pull(SubscriptionOptions::new("Default"), None).unwrap();
    hub.subscribe_pull(SubscriptionOptions::new("Sm*"), None).unwrap();
    hub.subscribe_pull(SubscriptionOptions::new("NotYetCreated"), None).unwrap();
    hub.subscribe_pull(SubscriptionOptions::new("Small").capacity(7), None).unwrap();
    let caps: Vec<usize> = hub.subscriptions(None).unwrap().iter().map(|s| s.capacity).collect();
    assert_eq!(caps, [5, 10_000, 10_000, 10_000, 7]);
    assert!(matches!(
        hub.subscribe_pull(SubscriptionOptions::new("Small").capacity(0), None),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn a_configuration_key_given_twice_in_any_case_is_refused_and_nothing_changes() {
    let hub = Hub::new();
    let before = hub.config_json();
    for json in [
        r#"{"maxMessageQueueSize":6,"MaxMessageQueueSize":0}"#,
        r#"{"MaxMessageQueueSize":0,"maxMessageQueueSize":5}"#,
        r#"{"blockTimeoutMs":5,"blockTimeoutMs":6}"#,
        r#"{"retryPolicy":{"maxRetries":1,"MaxRetries":2}}"#,
    ] {
        let err = hub.update_config_json(json).unwrap_err();
        assert!(matches!(err, Error::InvalidJson { .. }) && err.to_string().contains("given twice"), "{json}: {err}");
    }
    assert_eq!(hub.config_json(), before);
}

#[test]
fn configuration_changes_apply_to_subscriptions_created_afterwards() {
    let hub = hub_with(&["C"]);
    hub.subscribe_pull(SubscriptionOptions::new("C"), None).unwrap();
    hub.update_config_json(r#"{"maxMessageQueueSize":20000,"defaultOverflow":"Reject","blockTimeoutMs":5}"#)
        .unwrap();
    hub.subscribe_pull(SubscriptionOptions::new("C"), None).unwrap();
    let subs = hub.subscriptions(None).unwrap();
    assert_eq!((subs[0].capacity, subs[0].overflow, subs[0].block_timeout_ms), (10_000, OverflowPolicy::DropOldest, 1_000));
    assert_eq!((subs[1].capacity, subs[1].overflow, subs[1].block_timeout_ms), (20_000, OverflowPolicy::Reject, 5));
    assert_eq!(hub.channels(None).unwrap()[0].max_messages, 20_000);

    let before = hub.config();
    let err = hub.update_config_json(r#"{"maxEventHistory":5,"nope":1}"#).unwrap_err();
    assert!(err.to_string().contains("'nope'"), "{err}");
    assert_eq!(hub.config(), before, "nothing changed");
    assert!(hub.set_config(Config { max_message_queue_size: 0, ..Config::default() }).is_err());
}

// ----- JSON -------------------------------------------------------------------------------

#[test]
fn published_json_is_parsed_strictly_and_data_is_delivered_verbatim() {
    let hub = hub_with(&["J"]);
    let sub = hub.subscribe_pull(SubscriptionOptions::new("J"), None).unwrap();
    let data = r#"{"b" : [1, 2.50, "x"],"a":{"nested":true}, "big":12345678901234567890}"#;
    let json = format!(
        r#"{{"channel":"j","messageType":"ConfigChanged","data":{data},"sourceModule":"Core","priority":"high","ttlMs":60000,"correlationId":"c-1","typeHints":{{"a":"Hashtable"}}}}"#
    );
    let id = hub.publish_json(&json).unwrap();
    let got = hub.take(sub, 1, Duration::ZERO).unwrap();
    let e = &got[0];
    assert_eq!(e.data_json(), Some(data));
    assert_eq!(e.priority(), Priority::High);
    assert_eq!(e.source_module(), Some("Core"));
    assert_eq!(e.correlation_id(), Some("c-1"));
    assert_eq!(e.type_hints_json(), Some(r#"{"a":"Hashtable"}"#));
    let v: serde_json::Value = serde_json::from_str(e.to_json()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = ["id", "channel", "messageType", "data", "sourceModule", "priority", "timestamp", "expiresAt", "correlationId", "typeHints"];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(v["id"], id.to_string());
    assert_eq!(v["channel"], "J");
    assert_eq!(v["priority"], "High");
    assert!(e.to_json().contains(data), "data is embedded byte for byte");

    for bad in ["", "  ", "{", "[]", r#"["J","T"]"#, "\"J\"", r#"{"channel":"J"}"#] {
        assert!(matches!(hub.publish_json(bad), Err(Error::InvalidJson { .. })), "{bad}");
    }
    // An unknown key or a bad value of a known one: InvalidArgument naming the key.
    for (bad, key) in [
        (r#"{"channel":"J","messageType":"T","extra":1}"#, "'extra'"),
        (r#"{"channel":1,"messageType":"T"}"#, "channel"),
        (r#"{"channel":"J","messageType":"T","ttlMs":-5}"#, "ttlMs"),
        (r#"{"channel":"J","messageType":"T","priority":9}"#, "priority"),
    ] {
        let err = hub.publish_json(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }) && err.to_string().contains(key), "{bad}: {err}");
    }
    let err = hub.publish_json(r#"{"channel":"J","messageType":"T","priority":"Urgent"}"#).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }));
    assert!(err.to_string().contains("'Urgent'"));
    assert!(matches!(hub.publish_json(r#"{"channel":"J","messageType":""}"#), Err(Error::InvalidArgument { .. })));
}

#[test]
fn subscription_options_json_must_be_an_object_with_known_keys() {
    for bad in [r#"["J"]"#, r#"["J","*"]"#, "null", r#"{"messageType":"*"}"#] {
        let err = SubscriptionOptions::from_json(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidJson { .. }), "{bad}: {err:?}");
    }
    for bad in [r#"{"channel":"J","extra":1}"#, r#"{"channel":"J","capacity":-1}"#] {
        let err = SubscriptionOptions::from_json(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{bad}: {err:?}");
    }
    let err = SubscriptionOptions::from_json(r#"{"channel":"J","overflow":"Sometimes"}"#).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    let opts = SubscriptionOptions::from_json(r#" {"channel":"J","overflow":"block","blockTimeoutMs":5}"#).unwrap();
    assert_eq!(opts.overflow, Some(OverflowPolicy::Block));
}

#[test]
fn messages_taken_but_not_reported_count_as_in_flight() {
    let hub = hub_with(&["F"]);
    let sub = hub.subscribe_pull(SubscriptionOptions::new("F"), None).unwrap();
    for i in 0..3 {
        hub.publish(msg("F", &i.to_string())).unwrap();
    }
    assert_eq!(hub.take(sub, 2, Duration::ZERO).unwrap().len(), 2);
    let stats = hub.bus_stats();
    assert_eq!((stats.queue_length, stats.in_flight), (1, 2));
    assert_eq!(hub.subscriptions(None).unwrap()[0].in_flight, 2);
    hub.complete(sub, DeliveryReport { handled: 2, ..Default::default() }).unwrap();
    assert_eq!(hub.bus_stats().in_flight, 0);
}

#[test]
fn listings_have_exactly_the_documented_keys() {
    let hub = hub_with(&["K"]);
    hub.subscribe_pull(SubscriptionOptions::new("K"), None).unwrap();
    let keys = |v: serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let sorted = |k: &[&str]| -> Vec<String> {
        let mut k: Vec<String> = k.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    };
    let ch = serde_json::to_value(&hub.channels(None).unwrap()[0]).unwrap();
    assert_eq!(
        keys(ch.clone()),
        sorted(&["name", "description", "maxMessages", "createdAt", "subscriptions", "published", "delivered", "expired", "dropped", "cleared", "failed", "queueLength"])
    );
    assert!(ch["createdAt"].as_str().unwrap().ends_with('Z'));
    let sub = serde_json::to_value(&hub.subscriptions(None).unwrap()[0]).unwrap();
    assert_eq!(
        keys(sub.clone()),
        sorted(&["id", "kind", "channel", "messageType", "mode", "capacity", "overflow", "blockTimeoutMs", "sourceModule", "createdAt", "queueLength", "inFlight", "delivered", "failed", "filtered", "expired", "dropped", "cleared", "lastError"])
    );
    assert_eq!(sub["mode"], "Pull");
    assert_eq!(sub["kind"], "Message");
    assert_eq!(sub["overflow"], "DropOldest");
    assert_eq!(sub["messageType"], "*");
    let stats = serde_json::to_value(hub.bus_stats()).unwrap();
    assert_eq!(
        keys(stats),
        sorted(&["channels", "subscriptions", "published", "delivered", "failed", "filtered", "expired", "dropped", "cleared", "queueLength", "inFlight", "running"])
    );
}

#[test]
fn hubs_in_one_process_are_independent() {
    let a = hub_with(&["Same"]);
    let b = hub_with(&["Same"]);
    let sa = a.subscribe_pull(SubscriptionOptions::new("Same"), None).unwrap();
    let sb = b.subscribe_pull(SubscriptionOptions::new("Same"), None).unwrap();
    a.publish(msg("Same", "1")).unwrap();
    assert_eq!(a.take(sa, 10, Duration::ZERO).unwrap().len(), 1);
    assert!(b.take(sb, 10, Duration::ZERO).unwrap().is_empty());
    assert!(matches!(b.take(sa, 1, Duration::ZERO), Err(Error::SubscriptionNotFound { .. })));
}

#[test]
fn unsubscribe_returns_only_after_a_running_pull_notifier_has_returned() {
    let hub = Arc::new(hub_with(&["N"]));
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let unsubscribed = Arc::new(AtomicBool::new(false));
    let ran_after = Arc::new(AtomicBool::new(false));
    let (u, late) = (Arc::clone(&unsubscribed), Arc::clone(&ran_after));
    let entered_tx = Mutex::new(entered_tx);
    let sub = hub
        .subscribe_pull(
            SubscriptionOptions::new("N"),
            Some(Box::new(move || {
                let _ = entered_tx.lock().unwrap().send(());
                let _ = release_rx.lock().unwrap().recv();
                if u.load(Ordering::SeqCst) {
                    late.store(true, Ordering::SeqCst);
                }
            })),
        )
        .unwrap();
    let h = Arc::clone(&hub);
    let publisher = std::thread::spawn(move || h.publish(msg("N", "1")).unwrap());
    entered_rx.recv().unwrap(); // the notifier runs on the publishing thread
    let h = Arc::clone(&hub);
    let u = Arc::clone(&unsubscribed);
    let unsubscriber = std::thread::spawn(move || {
        h.unsubscribe(sub).unwrap();
        u.store(true, Ordering::SeqCst);
    });
    // As above: the pause only makes the interesting interleaving likely.
    std::thread::sleep(Duration::from_millis(20));
    assert!(!unsubscribed.load(Ordering::SeqCst), "unsubscribe returned while the notifier ran");
    release_tx.send(()).unwrap();
    unsubscriber.join().unwrap();
    publisher.join().unwrap();
    assert!(!ran_after.load(Ordering::SeqCst));
}
