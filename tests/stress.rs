//! Volume tests: many publishers, many subscribers, exact accounting.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use module_communication::{Hub, OverflowPolicy, PublishRequest, SubscriptionOptions};

const PUBLISHERS: usize = 8;
const PER_PUBLISHER: u64 = 125_000;
const SUBSCRIBERS: usize = 8;

/// Parses the `[publisher,sequence]` data of a stress message.
fn parse_pair(data: &str) -> (usize, u64) {
    let inner = &data[1..data.len() - 1];
    let (p, s) = inner.split_once(',').expect("data is [p,s]");
    (p.parse().unwrap(), s.parse().unwrap())
}

#[test]
fn eight_publishers_to_eight_blocking_push_subscribers_lose_and_duplicate_nothing_and_keep_order() {
    let hub = Hub::new();
    hub.create_channel("Stress", None, 0).unwrap();

    // Per subscriber: the next sequence number expected from each publisher.
    let mut expected: Vec<Arc<Mutex<Vec<u64>>>> = Vec::new();
    let errors = Arc::new(AtomicU64::new(0));
    for _ in 0..SUBSCRIBERS {
        let next = Arc::new(Mutex::new(vec![0u64; PUBLISHERS]));
        expected.push(Arc::clone(&next));
        let errors = Arc::clone(&errors);
        hub.subscribe_push(
            SubscriptionOptions::new("Stress").overflow(OverflowPolicy::Block).block_timeout_ms(600_000),
            move |env| {
                let (p, s) = parse_pair(env.data_json().unwrap());
                let mut next = next.lock().unwrap();
                if next[p] != s {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                next[p] = s + 1;
                true
            },
        )
        .unwrap();
    }

    std::thread::scope(|scope| {
        for p in 0..PUBLISHERS {
            let hub = &hub;
            scope.spawn(move || {
                for s in 0..PER_PUBLISHER {
                    let req = PublishRequest::new("Stress", "Tick").data_json(&format!("[{p},{s}]")).unwrap();
                    hub.publish(req).unwrap();
                }
            });
        }
    });

    hub.wait_idle(Duration::from_secs(300)).expect("all queues drain");
    assert_eq!(errors.load(Ordering::Relaxed), 0, "a message arrived out of order, twice, or after a gap");
    for next in &expected {
        assert_eq!(*next.lock().unwrap(), vec![PER_PUBLISHER; PUBLISHERS], "every message arrived exactly once");
    }
    let stats = hub.bus_stats();
    let total = PUBLISHERS as u64 * PER_PUBLISHER;
    assert_eq!(stats.published, total);
    assert_eq!(stats.delivered, total * SUBSCRIBERS as u64);
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.failed, 0);
    assert_eq!(stats.queue_length, 0);
    assert_eq!(hub.in_flight(), 0);
}

#[test]
fn stalled_pull_subscriber_is_capped_counts_exact_drops_and_does_not_slow_others() {
    const CAP: usize = 10_000;
    const TOTAL: u64 = 50_000;
    let hub = Hub::new();
    hub.create_channel("Busy", None, 0).unwrap();
    let stalled = hub
        .subscribe_pull(SubscriptionOptions::new("Busy").capacity(CAP).overflow(OverflowPolicy::DropOldest), None)
        .unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let r = Arc::clone(&received);
    hub.subscribe_push(SubscriptionOptions::new("Busy").capacity(TOTAL as usize), move |_| {
        r.fetch_add(1, Ordering::Relaxed);
        true
    })
    .unwrap();

    let mut max_seen = 0;
    for i in 0..TOTAL {
        hub.publish(PublishRequest::new("Busy", "Work").data_json(&i.to_string()).unwrap()).unwrap();
        if i % 1_000 == 0 {
            let subs = hub.subscriptions(None).unwrap();
            max_seen = max_seen.max(subs[0].queue_length);
        }
    }
    assert!(common::eventually(common::LONG, || received.load(Ordering::Relaxed) == TOTAL));

    let subs = hub.subscriptions(None).unwrap();
    let s = &subs[0];
    assert_eq!(s.id, stalled);
    assert!(max_seen <= CAP, "queue grew to {max_seen}");
    assert_eq!(s.queue_length, CAP);
    assert_eq!(s.dropped, TOTAL - CAP as u64);
    assert_eq!(subs[1].delivered, TOTAL);
    assert_eq!(subs[1].dropped, 0);

    // The oldest were dropped: what is left is the newest CAP messages, in order.
    let batch = hub.take(stalled, CAP, Duration::ZERO).unwrap();
    let first: u64 = batch[0].data_json().unwrap().parse().unwrap();
    let last: u64 = batch[CAP - 1].data_json().unwrap().parse().unwrap();
    assert_eq!((first, last), (TOTAL - CAP as u64, TOTAL - 1));
    let channel = &hub.channels(Some("busy")).unwrap()[0];
    assert_eq!(channel.dropped, TOTAL - CAP as u64);
}
