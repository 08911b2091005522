//! Native throughput of the bus through its C ABI, against raw crossbeam-channel in the
//! same run.
//!
//! Run with `build/cargo.sh bench --bench native` (release profile). Settings:
//! `MC_BENCH_N` messages per case (default 200,000), `MC_BENCH_REPS` measured rounds
//! (default 5). Each round runs every case once, interleaved, after one warm-up round; the
//! best time of each case is reported, since load from other processes only slows a run.
//!
//! Cases, each timed from the first send until every receiver has counted every message:
//! - raw crossbeam 1 -> 1: one thread sends `String`s (the same JSON text the bus cases
//!   publish) over an unbounded channel to one receiving thread.
//! - raw crossbeam 1 -> 8: one thread sends an `Arc<String>` per message to eight channels,
//!   one receiving thread each.
//! - mc_* 1 -> 1 and 1 -> 8: `mc_publish` of that JSON to a hub with one (eight) push
//!   subscriptions whose C callbacks count, then `mc_wait_idle`. Everything a C program
//!   pays is included: the FFI boundary, JSON parsing, routing, the queue, the worker
//!   thread and the callback.
//! - mc_* 1 -> 0: the same publishes with no subscription, for reference (the publisher's
//!   own cost: FFI boundary, JSON parsing, id and envelope); no ratio.
//!
//! It prints a table and `ratio (ours / raw crossbeam): x.xx` per case (throughput ours
//! divided by throughput raw; the project's target is at least 0.10). It checks that
//! nothing is lost, never how long anything took.

use std::ffi::{c_void, CStr};
use std::hint::black_box;
use std::os::raw::c_char;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use module_communication::ffi::{
    mc_bus_stats, mc_channel_create, mc_hub, mc_hub_free, mc_hub_new, mc_id, mc_last_error, mc_publish, mc_status,
    mc_string_free, mc_subscribe, mc_wait_idle,
};

const FANOUT: usize = 8;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a positive integer, not '{v}'")),
        Err(_) => default,
    }
}

/// The message every case sends: a realistic bus message, about 200 bytes.
fn message_json() -> String {
    let json = r#"{"channel":"Bench","messageType":"ConfigChanged","sourceModule":"BenchModule","priority":"Normal","data":{"Setting":"MaxJobs","Value":42,"Payload":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}"#;
    json.to_owned()
}

// ----- raw crossbeam ---------------------------------------------------------------------------

fn raw_one_to_one(n: usize, payload: &str) -> Duration {
    let (tx, rx) = crossbeam_channel::unbounded::<String>();
    let consumer = thread::spawn(move || {
        let mut received = 0usize;
        while let Ok(msg) = rx.recv() {
            black_box(msg.len());
            received += 1;
        }
        received
    });
    let start = Instant::now();
    for _ in 0..n {
        tx.send(payload.to_owned())
            .expect("the receiver lives until the sender is dropped");
    }
    drop(tx);
    let received = consumer.join().expect("consumer thread");
    let elapsed = start.elapsed();
    assert_eq!(received, n, "raw 1 -> 1 lost messages");
    elapsed
}

fn raw_fan_out(n: usize, payload: &str) -> Duration {
    let mut senders = Vec::with_capacity(FANOUT);
    let mut consumers = Vec::with_capacity(FANOUT);
    for _ in 0..FANOUT {
        let (tx, rx) = crossbeam_channel::unbounded::<Arc<String>>();
        senders.push(tx);
        consumers.push(thread::spawn(move || {
            let mut received = 0usize;
            while let Ok(msg) = rx.recv() {
                black_box(msg.len());
                received += 1;
            }
            received
        }));
    }
    let start = Instant::now();
    for _ in 0..n {
        let msg = Arc::new(payload.to_owned());
        for tx in &senders {
            tx.send(Arc::clone(&msg))
                .expect("the receivers live until the senders are dropped");
        }
    }
    drop(senders);
    let received: usize = consumers.into_iter().map(|c| c.join().expect("consumer thread")).sum();
    let elapsed = start.elapsed();
    assert_eq!(received, n * FANOUT, "raw 1 -> {FANOUT} lost messages");
    elapsed
}

// ----- the bus through mc_* --------------------------------------------------------------------

/// Frees the hub on every path out of a case.
struct Hub(*mut mc_hub);

impl Drop for Hub {
    fn drop(&mut self) {
        // SAFETY: the pointer came from mc_hub_new, no other thread uses it any more, and it
        // is freed exactly once.
        unsafe { mc_hub_free(self.0) };
    }
}

fn last_error() -> String {
    let mut text: *mut c_char = ptr::null_mut();
    // SAFETY: a valid out-pointer; the returned string is freed below.
    if unsafe { mc_last_error(&mut text) } != mc_status::Ok || text.is_null() {
        return "(no last error)".to_owned();
    }
    // SAFETY: the library returned a NUL-terminated string that we own.
    let message = unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned();
    // SAFETY: freed exactly once.
    unsafe { mc_string_free(text) };
    message
}

fn check(status: mc_status, what: &str) {
    assert_eq!(status, mc_status::Ok, "{what} failed: {}", last_error());
}

/// The push callback: counts, like the raw consumers do.
unsafe extern "C" fn count_message(user_data: *mut c_void, message_json: *const c_char, len: usize) -> bool {
    // SAFETY: user_data is the AtomicU64 the case passed to mc_subscribe; it outlives the
    // subscription (the hub is freed before the counters are dropped).
    let counter = unsafe { &*(user_data as *const AtomicU64) };
    black_box((message_json, len));
    counter.fetch_add(1, Ordering::Relaxed);
    true
}

fn ours(n: usize, payload: &str, subscribers: usize) -> Duration {
    let mut raw = ptr::null_mut();
    // SAFETY: NULL configuration (defaults) and a valid out-pointer.
    check(unsafe { mc_hub_new(ptr::null(), 0, &mut raw) }, "mc_hub_new");
    let hub = Hub(raw);
    // SAFETY: a live hub and NUL-terminated names.
    check(
        unsafe { mc_channel_create(hub.0, b"Bench\0".as_ptr().cast(), ptr::null(), 0) },
        "mc_channel_create",
    );

    // Room for every message: the bench measures delivery, not the overflow policy.
    let options = format!(r#"{{"channel":"Bench","capacity":{}}}"#, n.max(1));
    let counters: Vec<Box<AtomicU64>> = (0..subscribers).map(|_| Box::new(AtomicU64::new(0))).collect();
    for counter in &counters {
        let mut id = mc_id::default();
        let user_data = &**counter as *const AtomicU64 as *mut c_void;
        // SAFETY: a live hub, `options.len()` readable bytes, a callback with the documented
        // signature, user_data valid until the hub is freed, and a valid out-pointer.
        check(
            unsafe {
                mc_subscribe(
                    hub.0,
                    options.as_ptr().cast(),
                    options.len(),
                    Some(count_message),
                    user_data,
                    &mut id,
                )
            },
            "mc_subscribe",
        );
    }

    let start = Instant::now();
    for _ in 0..n {
        let mut id = mc_id::default();
        // SAFETY: a live hub, `payload.len()` readable bytes and a valid out-pointer.
        let status = unsafe { mc_publish(hub.0, payload.as_ptr().cast(), payload.len(), &mut id) };
        if status != mc_status::Ok {
            check(status, "mc_publish");
        }
    }
    // SAFETY: a live hub.
    check(unsafe { mc_wait_idle(hub.0, 120_000) }, "mc_wait_idle");
    let elapsed = start.elapsed();

    for (i, counter) in counters.iter().enumerate() {
        assert_eq!(
            counter.load(Ordering::Relaxed),
            n as u64,
            "subscriber {i} of {subscribers} lost messages"
        );
    }
    let mut stats: *mut c_char = ptr::null_mut();
    // SAFETY: a live hub and a valid out-pointer; the string is freed below.
    check(unsafe { mc_bus_stats(hub.0, &mut stats) }, "mc_bus_stats");
    // SAFETY: the library returned a NUL-terminated string that we own.
    let text = unsafe { CStr::from_ptr(stats) }.to_string_lossy().into_owned();
    // SAFETY: freed exactly once.
    unsafe { mc_string_free(stats) };
    assert!(text.contains(r#""dropped":0,"#), "the bus dropped messages: {text}");
    drop(hub); // before `counters`, which the callbacks use
    elapsed
}

// ----- measuring and reporting -----------------------------------------------------------------

/// Runs every case once per round, interleaved so that load from other processes falls on
/// all of them alike, after one warm-up round; returns each case's best time.
fn best_of(rounds: usize, cases: &mut [&mut dyn FnMut() -> Duration]) -> Vec<Duration> {
    for case in cases.iter_mut() {
        black_box(case()); // warm-up: thread start-up, allocator, page faults
    }
    let mut best = vec![Duration::MAX; cases.len()];
    for _ in 0..rounds {
        for (case, best) in cases.iter_mut().zip(best.iter_mut()) {
            *best = (*best).min(case());
        }
    }
    best
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn row(case: &str, n: usize, receivers: usize, d: Duration) {
    println!(
        "{case:<32} {n:>9} {:>10.1} {:>14.0} {:>14.0}",
        d.as_secs_f64() * 1000.0,
        per_second(n, d),
        per_second(n * receivers, d)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let n = env_usize("MC_BENCH_N", 200_000);
    let reps = env_usize("MC_BENCH_REPS", 5).max(1);
    let payload = message_json();
    let cores = thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "native bench: {n} messages of {} bytes per case, best of {reps} interleaved rounds after a warm-up, {cores} cores",
        payload.len()
    );
    println!();
    println!(
        "{:<32} {:>9} {:>10} {:>14} {:>14}",
        "case", "messages", "ms", "messages/s", "deliveries/s"
    );

    let times = best_of(
        reps,
        &mut [
            &mut || raw_one_to_one(n, &payload),
            &mut || ours(n, &payload, 1),
            &mut || ours(n, &payload, 0),
            &mut || raw_fan_out(n, &payload),
            &mut || ours(n, &payload, FANOUT),
        ],
    );
    let [raw_1, ours_1, ours_0, raw_8, ours_8] = times[..] else {
        unreachable!("five cases")
    };
    row("raw crossbeam 1 -> 1", n, 1, raw_1);
    row("mc_publish 1 -> 1 push", n, 1, ours_1);
    row("mc_publish 1 -> 0 (reference)", n, 0, ours_0);
    row(&format!("raw crossbeam 1 -> {FANOUT}"), n, FANOUT, raw_8);
    row(&format!("mc_publish 1 -> {FANOUT} push"), n, FANOUT, ours_8);

    println!();
    for (case, raw, ours) in [("1 -> 1", raw_1, ours_1), ("1 -> 8 fan-out", raw_8, ours_8)] {
        // Same message count, so the throughput ratio is the inverse ratio of the times.
        let ratio = raw.as_secs_f64() / ours.as_secs_f64();
        println!("{case:<16} ratio (ours / raw crossbeam): {ratio:.2}  (target >= 0.10)");
    }
}
