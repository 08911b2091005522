//! The C ABI called from Rust: statuses, out-parameters, last-error text, callbacks.

use std::ffi::{c_void, CStr, CString};
use std::os::raw::c_char;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use module_communication::ffi::*;

struct Guard(*mut mc_hub);

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: the pointer came from mc_hub_new and is freed once.
        unsafe { mc_hub_free(self.0) };
    }
}

fn new_hub() -> Guard {
    let mut hub = ptr::null_mut();
    // SAFETY: valid out-pointer; NULL config means defaults.
    assert_eq!(unsafe { mc_hub_new(ptr::null(), 0, &mut hub) }, mc_status::Ok);
    assert!(!hub.is_null());
    Guard(hub)
}

fn last_error() -> Option<String> {
    let mut p = ptr::null_mut();
    // SAFETY: valid out-pointer; the string is freed below.
    assert_eq!(unsafe { mc_last_error(&mut p) }, mc_status::Ok);
    if p.is_null() {
        return None;
    }
    // SAFETY: the library returned a NUL-terminated string that we own.
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned();
    // SAFETY: freed once.
    unsafe { mc_string_free(p) };
    Some(s)
}

/// Takes a returned string and frees it.
fn take_string(p: *mut c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: returned by the library, NUL-terminated, owned by us.
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned();
    // SAFETY: freed once.
    unsafe { mc_string_free(p) };
    s
}

fn create_channel(hub: &Guard, name: &str) {
    let name = CString::new(name).unwrap();
    // SAFETY: live hub, valid C strings.
    assert_eq!(unsafe { mc_channel_create(hub.0, name.as_ptr(), ptr::null(), 0) }, mc_status::Ok);
}

fn publish(hub: &Guard, json: &str) -> (mc_status, mc_id) {
    let mut id = mc_id { bytes: [0xAA; 16] };
    // SAFETY: live hub, `json.len()` readable bytes, valid out-pointer.
    let st = unsafe { mc_publish(hub.0, json.as_ptr().cast(), json.len(), &mut id) };
    (st, id)
}

fn subscribe_pull(hub: &Guard, options: &str) -> mc_id {
    let mut id = mc_id::default();
    // SAFETY: live hub, readable options, no notifier, valid out-pointer.
    let st = unsafe { mc_subscribe_pull(hub.0, options.as_ptr().cast(), options.len(), None, ptr::null_mut(), &mut id) };
    assert_eq!(st, mc_status::Ok, "{:?}", last_error());
    id
}

fn take(hub: &Guard, id: mc_id, max: usize, timeout_ms: u32) -> (mc_status, Option<String>) {
    let mut out = ptr::null_mut();
    let mut len = usize::MAX;
    // SAFETY: live hub, valid out-pointers.
    let st = unsafe { mc_subscription_take(hub.0, id, max, timeout_ms, &mut out, &mut len) };
    if st != mc_status::Ok {
        assert!(out.is_null(), "out-parameters are written only on success");
        assert_eq!(len, usize::MAX);
        return (st, None);
    }
    let text = take_string(out);
    assert_eq!(text.len(), len);
    (st, Some(text))
}

#[test]
fn null_arguments_give_null_argument_and_name_the_parameter() {
    let hub = new_hub();
    let mut out = ptr::null_mut();
    // SAFETY: deliberately NULL hub.
    assert_eq!(unsafe { mc_config_get(ptr::null(), &mut out) }, mc_status::NullArgument);
    assert!(out.is_null());
    assert!(last_error().unwrap().contains("`hub` is NULL"));
    // SAFETY: deliberately NULL out-parameter.
    assert_eq!(unsafe { mc_config_get(hub.0, ptr::null_mut()) }, mc_status::NullArgument);
    assert!(last_error().unwrap().contains("`out_json`"));
    // SAFETY: deliberately NULL name.
    assert_eq!(unsafe { mc_channel_create(hub.0, ptr::null(), ptr::null(), 0) }, mc_status::NullArgument);
    assert!(last_error().unwrap().contains("`name`"));
    // SAFETY: deliberately NULL callback.
    let opts = r#"{"channel":"x"}"#;
    let mut id = mc_id::default();
    let st = unsafe { mc_subscribe(hub.0, opts.as_ptr().cast(), opts.len(), None, ptr::null_mut(), &mut id) };
    assert_eq!(st, mc_status::NullArgument);
    assert!(last_error().unwrap().contains("`callback`"));
    // SAFETY: deliberately NULL out-pointer.
    assert_eq!(unsafe { mc_last_error(ptr::null_mut()) }, mc_status::NullArgument);
    // SAFETY: NULL is documented as a no-op for both.
    unsafe {
        mc_hub_free(ptr::null_mut());
        mc_string_free(ptr::null_mut());
    }
}

#[test]
fn a_successful_call_clears_the_last_error() {
    let hub = new_hub();
    let (st, _) = publish(&hub, r#"{"channel":"Nope","messageType":"T"}"#);
    assert_eq!(st, mc_status::ChannelNotFound);
    assert_eq!(
        last_error().unwrap(),
        "mc_publish: channel 'Nope' does not exist; create it with New-MessageChannel (mc_channel_create) first"
    );
    let mut running = false;
    // SAFETY: live hub, valid out-pointer.
    assert_eq!(unsafe { mc_processor_state(hub.0, &mut running) }, mc_status::Ok);
    assert!(running);
    assert_eq!(last_error(), None);
}

#[test]
fn invalid_utf8_gives_invalid_utf8() {
    let hub = new_hub();
    let bad = b"Bad\xff\xfeName\0";
    // SAFETY: NUL-terminated bytes.
    let st = unsafe { mc_channel_create(hub.0, bad.as_ptr().cast(), ptr::null(), 0) };
    assert_eq!(st, mc_status::InvalidUtf8);
    assert!(last_error().unwrap().contains("`name` is not valid UTF-8"));
    let json = b"{\"channel\":\"\xc3\x28\",\"messageType\":\"T\"}";
    let mut id = mc_id::default();
    // SAFETY: `json.len()` readable bytes.
    let st = unsafe { mc_publish(hub.0, json.as_ptr().cast(), json.len(), &mut id) };
    assert_eq!(st, mc_status::InvalidUtf8);
}

#[test]
fn invalid_json_gives_invalid_json_and_bad_values_invalid_argument() {
    let hub = new_hub();
    create_channel(&hub, "C");
    for bad in ["", "{", "null", r#"{"channel":"C"}"#] {
        let (st, id) = publish(&hub, bad);
        assert_eq!(st, mc_status::InvalidJson, "{bad}");
        assert_eq!(id.bytes, [0xAA; 16], "out_id untouched on failure");
    }
    // As the header's mc_status says: a bad priority, an unknown key, a bad value.
    for bad in [
        r#"{"channel":"C","messageType":"T","priority":"Soon"}"#,
        r#"{"channel":"C","messageType":"T","nope":1}"#,
        r#"{"channel":"C","messageType":"T","ttlMs":-5}"#,
        r#"{"channel":"C","messageType":"T","ttlMs":"soon"}"#,
    ] {
        let (st, _) = publish(&hub, bad);
        assert_eq!(st, mc_status::InvalidArgument, "{bad}");
    }
    let cfg = r#"{"maxMessageQueueSize":0}"#;
    // SAFETY: live hub, readable bytes.
    assert_eq!(unsafe { mc_config_set(hub.0, cfg.as_ptr().cast(), cfg.len()) }, mc_status::InvalidArgument);
    assert!(last_error().unwrap().contains("maxMessageQueueSize"));
    let cfg = "[1,2]";
    // SAFETY: live hub, readable bytes.
    assert_eq!(unsafe { mc_config_set(hub.0, cfg.as_ptr().cast(), cfg.len()) }, mc_status::InvalidJson);
    let opts = r#"{"channel":"C","overflow":"Sometimes"}"#;
    let mut id = mc_id::default();
    // SAFETY: live hub, readable options.
    let st = unsafe { mc_subscribe_pull(hub.0, opts.as_ptr().cast(), opts.len(), None, ptr::null_mut(), &mut id) };
    assert_eq!(st, mc_status::InvalidArgument);
}

#[test]
fn hub_new_applies_the_configuration_and_config_get_returns_it() {
    let cfg = r#"{"maxMessageQueueSize":123}"#;
    let mut hub = ptr::null_mut();
    // SAFETY: readable config, valid out-pointer.
    assert_eq!(unsafe { mc_hub_new(cfg.as_ptr().cast(), cfg.len(), &mut hub) }, mc_status::Ok);
    let hub = Guard(hub);
    let mut out = ptr::null_mut();
    // SAFETY: live hub, valid out-pointer.
    assert_eq!(unsafe { mc_config_get(hub.0, &mut out) }, mc_status::Ok);
    assert!(take_string(out).contains(r#""maxMessageQueueSize":123"#));

    let bad = r#"{"bogus":1}"#;
    let mut never = ptr::null_mut();
    // SAFETY: readable config, valid out-pointer.
    assert_eq!(unsafe { mc_hub_new(bad.as_ptr().cast(), bad.len(), &mut never) }, mc_status::InvalidArgument);
    assert!(never.is_null());
}

#[test]
fn unknown_subscription_id_gives_subscription_not_found() {
    let hub = new_hub();
    let unknown = mc_id { bytes: [7; 16] };
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_unsubscribe(hub.0, unknown) }, mc_status::SubscriptionNotFound);
    assert!(last_error().unwrap().contains("07070707-0707-0707-0707-070707070707"));
    assert_eq!(take(&hub, unknown, 1, 0).0, mc_status::SubscriptionNotFound);
    let report = mc_delivery_report { handled: 0, failed: 0, filtered: 0, last_error: ptr::null() };
    // SAFETY: live hub, readable report.
    assert_eq!(unsafe { mc_subscription_complete(hub.0, unknown, &report) }, mc_status::SubscriptionNotFound);
}

#[test]
fn pull_round_trip_take_complete_and_wait_delivered() {
    let hub = new_hub();
    create_channel(&hub, "Configuration");
    let sub = subscribe_pull(&hub, r#"{"channel":"config*","capacity":10}"#);
    let (st, id) = publish(&hub, r#"{"channel":"Configuration","messageType":"ConfigChanged","data":{"Setting":"MaxJobs"},"priority":"High"}"#);
    assert_eq!(st, mc_status::Ok);
    let (st, json) = take(&hub, sub, 10, 1000);
    assert_eq!(st, mc_status::Ok);
    let v: serde_json::Value = serde_json::from_str(&json.unwrap()).unwrap();
    let expected_id = uuid_text(&id);
    assert_eq!(v[0]["id"], expected_id);
    assert_eq!(v[0]["data"]["Setting"], "MaxJobs");
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_wait_delivered(hub.0, id, 0) }, mc_status::Timeout);
    let err = CString::new("oops").unwrap();
    let report = mc_delivery_report { handled: 0, failed: 1, filtered: 0, last_error: err.as_ptr() };
    // SAFETY: live hub, readable report.
    assert_eq!(unsafe { mc_subscription_complete(hub.0, sub, &report) }, mc_status::Ok);
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_wait_delivered(hub.0, id, 0) }, mc_status::Ok);
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_wait_idle(hub.0, 0) }, mc_status::Ok);
    let (st, json) = take(&hub, sub, 10, 0);
    assert_eq!((st, json.as_deref()), (mc_status::Ok, Some("[]")));

    let mut out = ptr::null_mut();
    // SAFETY: live hub, NULL pattern lists all, valid out-pointer.
    assert_eq!(unsafe { mc_subscription_list(hub.0, ptr::null(), &mut out) }, mc_status::Ok);
    let subs: serde_json::Value = serde_json::from_str(&take_string(out)).unwrap();
    assert_eq!(subs[0]["id"], uuid_text(&sub));
    assert_eq!(subs[0]["failed"], 1);
    assert_eq!(subs[0]["lastError"], "oops");
    // SAFETY: live hub, valid out-pointer.
    assert_eq!(unsafe { mc_bus_stats(hub.0, &mut out) }, mc_status::Ok);
    let stats: serde_json::Value = serde_json::from_str(&take_string(out)).unwrap();
    assert_eq!(stats["published"], 1);
    // SAFETY: live hub, NULL pattern, valid out-pointer.
    assert_eq!(unsafe { mc_channel_list(hub.0, ptr::null(), &mut out) }, mc_status::Ok);
    let chans: serde_json::Value = serde_json::from_str(&take_string(out)).unwrap();
    assert_eq!(chans[0]["name"], "Configuration");
}

fn uuid_text(id: &mc_id) -> String {
    let h: String = id.bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[test]
fn reject_policy_returns_queue_full_and_still_writes_the_id() {
    let hub = new_hub();
    create_channel(&hub, "R");
    let sub = subscribe_pull(&hub, r#"{"channel":"R","capacity":1,"overflow":"Reject"}"#);
    assert_eq!(publish(&hub, r#"{"channel":"R","messageType":"T"}"#).0, mc_status::Ok);
    let (st, id) = publish(&hub, r#"{"channel":"R","messageType":"T"}"#);
    assert_eq!(st, mc_status::QueueFull);
    assert_ne!(id.bytes, [0xAA; 16]);
    assert!(last_error().unwrap().contains(&uuid_text(&id)));
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_wait_delivered(hub.0, id, 0) }, mc_status::Ok);
    let _ = sub;
}

struct Counter {
    calls: AtomicUsize,
    bytes_ok: AtomicUsize,
}

unsafe extern "C" fn on_message(user_data: *mut c_void, json: *const c_char, len: usize) -> bool {
    // SAFETY: user_data is the &Counter passed at subscribe, alive for the test.
    let counter = unsafe { &*(user_data as *const Counter) };
    // SAFETY: the library passes `len` readable bytes followed by a NUL.
    let text = unsafe { std::slice::from_raw_parts(json.cast::<u8>(), len + 1) };
    if text[len] == 0 && serde_json::from_slice::<serde_json::Value>(&text[..len]).is_ok() {
        counter.bytes_ok.fetch_add(1, Ordering::SeqCst);
    }
    counter.calls.fetch_add(1, Ordering::SeqCst) % 2 == 0
}

unsafe extern "C" fn on_notify(user_data: *mut c_void) {
    // SAFETY: user_data is the &AtomicUsize passed at subscribe.
    unsafe { &*(user_data as *const AtomicUsize) }.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn push_callback_gets_nul_terminated_json_and_user_data_and_false_counts_as_failed() {
    let hub = new_hub();
    create_channel(&hub, "Push");
    let counter = Counter { calls: AtomicUsize::new(0), bytes_ok: AtomicUsize::new(0) };
    let opts = r#"{"channel":"Push"}"#;
    let mut sub = mc_id::default();
    // SAFETY: live hub, readable options, callback and user_data valid until unsubscribe.
    let st = unsafe {
        mc_subscribe(hub.0, opts.as_ptr().cast(), opts.len(), Some(on_message), &counter as *const Counter as *mut c_void, &mut sub)
    };
    assert_eq!(st, mc_status::Ok);
    let mut last = mc_id::default();
    for _ in 0..4 {
        last = publish(&hub, r#"{"channel":"Push","messageType":"T","data":[1,2]}"#).1;
    }
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_wait_delivered(hub.0, last, 30_000) }, mc_status::Ok);
    // SAFETY: live hub; after this returns the callback is never called again.
    assert_eq!(unsafe { mc_unsubscribe(hub.0, sub) }, mc_status::Ok);
    assert_eq!(counter.calls.load(Ordering::SeqCst), 4);
    assert_eq!(counter.bytes_ok.load(Ordering::SeqCst), 4);
    let mut out = ptr::null_mut();
    // SAFETY: live hub, valid out-pointer.
    assert_eq!(unsafe { mc_bus_stats(hub.0, &mut out) }, mc_status::Ok);
    let stats: serde_json::Value = serde_json::from_str(&take_string(out)).unwrap();
    assert_eq!((stats["delivered"].as_u64(), stats["failed"].as_u64()), (Some(2), Some(2)));
}

#[test]
fn pull_notify_is_called_with_user_data() {
    let hub = new_hub();
    create_channel(&hub, "N");
    let fired = AtomicUsize::new(0);
    let opts = r#"{"channel":"N"}"#;
    let mut sub = mc_id::default();
    // SAFETY: live hub, readable options, notify and user_data valid until the hub is freed.
    let st = unsafe {
        mc_subscribe_pull(hub.0, opts.as_ptr().cast(), opts.len(), Some(on_notify), &fired as *const AtomicUsize as *mut c_void, &mut sub)
    };
    assert_eq!(st, mc_status::Ok);
    publish(&hub, r#"{"channel":"N","messageType":"T"}"#);
    publish(&hub, r#"{"channel":"N","messageType":"T"}"#);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    take(&hub, sub, 10, 0);
    publish(&hub, r#"{"channel":"N","messageType":"T"}"#);
    assert_eq!(fired.load(Ordering::SeqCst), 2);
    drop(hub); // frees the hub before `fired` goes away
}

#[test]
fn processor_resume_notifies_pull_subscribers_with_queued_messages() {
    let hub = new_hub();
    create_channel(&hub, "N");
    let fired = AtomicUsize::new(0);
    let opts = r#"{"channel":"N"}"#;
    let mut sub = mc_id::default();
    // SAFETY: live hub, readable options, notify and user_data valid until the hub is freed.
    let st = unsafe {
        mc_subscribe_pull(hub.0, opts.as_ptr().cast(), opts.len(), Some(on_notify), &fired as *const AtomicUsize as *mut c_void, &mut sub)
    };
    assert_eq!(st, mc_status::Ok);
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_processor_pause(hub.0) }, mc_status::Ok);
    publish(&hub, r#"{"channel":"N","messageType":"T"}"#);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert_eq!(take(&hub, sub, 10, 0).1.as_deref(), Some("[]"), "paused: nothing handed out, notifier re-armed");
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_processor_resume(hub.0) }, mc_status::Ok);
    assert_eq!(fired.load(Ordering::SeqCst), 2, "called before mc_processor_resume returns");
    let (st, batch) = take(&hub, sub, 10, 0);
    assert_eq!(st, mc_status::Ok);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&batch.unwrap()).unwrap().as_array().unwrap().len(), 1);
    drop(hub); // frees the hub before `fired` goes away
}

#[test]
fn channel_remove_and_queue_clear_report_counts_and_accept_null_out() {
    let hub = new_hub();
    create_channel(&hub, "A");
    create_channel(&hub, "B");
    subscribe_pull(&hub, r#"{"channel":"*"}"#);
    publish(&hub, r#"{"channel":"A","messageType":"T"}"#);
    publish(&hub, r#"{"channel":"B","messageType":"T"}"#);
    publish(&hub, r#"{"channel":"B","messageType":"T"}"#);
    let a = CString::new("a").unwrap();
    let b = CString::new("B*").unwrap();
    let mut cleared = 99usize;
    // SAFETY: live hub, valid strings and out-pointer.
    assert_eq!(unsafe { mc_queue_clear(hub.0, b.as_ptr(), &mut cleared) }, mc_status::Ok);
    assert_eq!(cleared, 2);
    // SAFETY: live hub, valid string, NULL out allowed.
    assert_eq!(unsafe { mc_channel_remove(hub.0, a.as_ptr(), ptr::null_mut()) }, mc_status::Ok);
    // SAFETY: live hub, valid string and out-pointer.
    assert_eq!(unsafe { mc_channel_remove(hub.0, a.as_ptr(), &mut cleared) }, mc_status::ChannelNotFound);
    assert_eq!(cleared, 2, "untouched on failure");
}

#[test]
fn pause_and_resume_are_reported_by_processor_state() {
    let hub = new_hub();
    let mut running = true;
    // SAFETY: live hub, valid out-pointers.
    unsafe {
        assert_eq!(mc_processor_pause(hub.0), mc_status::Ok);
        assert_eq!(mc_processor_state(hub.0, &mut running), mc_status::Ok);
        assert!(!running);
        assert_eq!(mc_processor_resume(hub.0), mc_status::Ok);
        assert_eq!(mc_processor_state(hub.0, &mut running), mc_status::Ok);
        assert!(running);
    }
}

#[test]
fn status_values_are_the_documented_numbers() {
    let table = [
        (mc_status::Ok, 0),
        (mc_status::NullArgument, 1),
        (mc_status::InvalidUtf8, 2),
        (mc_status::InvalidJson, 3),
        (mc_status::InvalidArgument, 4),
        (mc_status::ChannelNotFound, 5),
        (mc_status::ChannelExists, 6),
        (mc_status::SubscriptionNotFound, 7),
        (mc_status::QueueFull, 8),
        (mc_status::Timeout, 9),
        (mc_status::Panic, 10),
        (mc_status::BufferTooSmall, 11),
        (mc_status::Io, 12),
        (mc_status::CorruptFile, 13),
        (mc_status::Cancelled, 14),
    ];
    for (status, value) in table {
        assert_eq!(status as u32, value);
    }
    assert_eq!(std::mem::size_of::<mc_status>(), 4);
    assert_eq!(std::mem::size_of::<mc_id>(), 16);
}

struct SelfUnsubscribe {
    hub: *const mc_hub,
    id: std::sync::Mutex<Option<mc_id>>,
    calls: AtomicUsize,
    status: std::sync::Mutex<Option<mc_status>>,
}

unsafe extern "C" fn unsubscribe_myself(user_data: *mut c_void, _json: *const c_char, _len: usize) -> bool {
    // SAFETY: user_data is the &SelfUnsubscribe passed at subscribe, alive for the test.
    let state = unsafe { &*(user_data as *const SelfUnsubscribe) };
    state.calls.fetch_add(1, Ordering::SeqCst);
    if let Some(id) = *state.id.lock().unwrap() {
        // SAFETY: the hub outlives the subscription; unsubscribing from the callback is allowed.
        let st = unsafe { mc_unsubscribe(state.hub, id) };
        *state.status.lock().unwrap() = Some(st);
    }
    true
}

#[test]
fn a_callback_may_unsubscribe_its_own_id() {
    let hub = new_hub();
    create_channel(&hub, "Self");
    let state = SelfUnsubscribe {
        hub: hub.0,
        id: std::sync::Mutex::new(None),
        calls: AtomicUsize::new(0),
        status: std::sync::Mutex::new(None),
    };
    // Pause so the id is known before the first call.
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_processor_pause(hub.0) }, mc_status::Ok);
    let opts = r#"{"channel":"Self"}"#;
    let mut sub = mc_id::default();
    // SAFETY: live hub, readable options, callback and user_data valid until the hub is freed.
    let st = unsafe {
        mc_subscribe(hub.0, opts.as_ptr().cast(), opts.len(), Some(unsubscribe_myself), &state as *const SelfUnsubscribe as *mut c_void, &mut sub)
    };
    assert_eq!(st, mc_status::Ok);
    *state.id.lock().unwrap() = Some(sub);
    publish(&hub, r#"{"channel":"Self","messageType":"T"}"#);
    publish(&hub, r#"{"channel":"Self","messageType":"T"}"#);
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_processor_resume(hub.0) }, mc_status::Ok);
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_wait_idle(hub.0, 30_000) }, mc_status::Ok);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while state.status.lock().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(*state.status.lock().unwrap(), Some(mc_status::Ok));
    assert_eq!(state.calls.load(Ordering::SeqCst), 1, "not called again after unsubscribing itself");
    drop(hub); // joins nothing: the worker has detached and exits on its own
}

#[test]
fn a_cancelled_publish_stops_waiting_for_a_full_block_queue_and_counts_the_drop() {
    let hub = new_hub();
    create_channel(&hub, "B");
    subscribe_pull(&hub, r#"{"channel":"B","capacity":1,"overflow":"Block","blockTimeoutMs":600000}"#);
    let roomy = subscribe_pull(&hub, r#"{"channel":"B","capacity":10}"#);
    assert_eq!(publish(&hub, r#"{"channel":"B","messageType":"First"}"#).0, mc_status::Ok);

    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let (hub_addr, flag) = (hub.0 as usize, std::sync::Arc::clone(&cancel));
    let (done, returned) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let json = r#"{"channel":"B","messageType":"Second"}"#;
        let mut id = mc_id::default();
        // SAFETY: the hub outlives the call (freeing it would release the wait); the flag is
        // an aligned u32 kept alive by the Arc for the call.
        let st = unsafe {
            mc_publish_cancellable(hub_addr as *const mc_hub, json.as_ptr().cast(), json.len(), flag.as_ptr(), &mut id)
        };
        done.send(st).unwrap();
    });
    // Let the publisher reach its wait (it counts the message first), so that the wake, not
    // the check before waiting, is what ends it; either way it must end.
    let mut out = ptr::null_mut();
    for _ in 0..3000 {
        // SAFETY: live hub, valid out-pointer.
        assert_eq!(unsafe { mc_bus_stats(hub.0, &mut out) }, mc_status::Ok);
        let stats: serde_json::Value = serde_json::from_str(&take_string(out)).unwrap();
        if stats["published"] == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    cancel.store(1, Ordering::Release);
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_wake_blocked_publishers(hub.0) }, mc_status::Ok);
    // The block timeout is 10 minutes: returning well before it means the cancel ended the wait.
    let st = returned.recv_timeout(std::time::Duration::from_secs(60)).expect("the cancelled publisher still waits");
    assert_eq!(st, mc_status::Ok);

    // SAFETY: live hub, NULL pattern lists all, valid out-pointer.
    assert_eq!(unsafe { mc_subscription_list(hub.0, ptr::null(), &mut out) }, mc_status::Ok);
    let subs: serde_json::Value = serde_json::from_str(&take_string(out)).unwrap();
    let blocked = subs.as_array().unwrap().iter().find(|s| s["overflow"] == "Block").unwrap();
    assert_eq!((blocked["dropped"].as_u64(), blocked["queueLength"].as_u64()), (Some(1), Some(1)));
    let (_, json) = take(&hub, roomy, 10, 0);
    let batch: serde_json::Value = serde_json::from_str(&json.unwrap()).unwrap();
    let types: Vec<&str> = batch.as_array().unwrap().iter().map(|m| m["messageType"].as_str().unwrap()).collect();
    assert_eq!(types, ["First", "Second"], "the other subscription still gets the message");
}

#[test]
fn publish_cancellable_with_a_null_flag_is_publish_and_a_misaligned_flag_is_refused() {
    let hub = new_hub();
    create_channel(&hub, "B");
    let json = r#"{"channel":"B","messageType":"T"}"#;
    let mut id = mc_id::default();
    // SAFETY: live hub, readable JSON, NULL flag, valid out-pointer.
    let st = unsafe { mc_publish_cancellable(hub.0, json.as_ptr().cast(), json.len(), ptr::null(), &mut id) };
    assert_eq!(st, mc_status::Ok);
    let words = [0u32; 2];
    let misaligned = words.as_ptr().cast::<u8>().wrapping_add(1).cast::<u32>();
    // SAFETY: the library checks the alignment before reading the flag.
    let st = unsafe { mc_event_publish_cancellable(hub.0, r#"{"name":"E"}"#.as_ptr().cast(), 12, misaligned, &mut id) };
    assert_eq!(st, mc_status::InvalidArgument);
    assert!(last_error().unwrap().contains("cancel"));
}

/// Publishes an event from another thread with `flag` as its cancel flag; its status arrives on
/// the returned channel.
fn publish_event_on_a_thread(
    hub: &Guard,
    json: &'static str,
    flag: std::sync::Arc<std::sync::atomic::AtomicU32>,
) -> std::sync::mpsc::Receiver<mc_status> {
    let hub_addr = hub.0 as usize;
    let (done, returned) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut id = mc_id::default();
        // SAFETY: the hub outlives the call (the test releases the waits before freeing it);
        // the flag is an aligned u32 kept alive by the Arc.
        let st = unsafe {
            mc_event_publish_cancellable(hub_addr as *const mc_hub, json.as_ptr().cast(), json.len(), flag.as_ptr(), &mut id)
        };
        let _ = done.send(st);
    });
    returned
}

#[test]
fn an_event_publish_waiting_behind_a_blocked_publisher_can_be_cancelled_and_publishes_nothing() {
    let hub = new_hub();
    let options = r#"{"name":"Full.*","capacity":1,"overflow":"Block","blockTimeoutMs":600000}"#;
    let mut sub = mc_id::default();
    // SAFETY: live hub, readable options, valid out-pointer.
    assert_eq!(
        unsafe { mc_event_subscribe_pull(hub.0, options.as_ptr().cast(), options.len(), None, ptr::null_mut(), &mut sub) },
        mc_status::Ok
    );
    let never = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    assert_eq!(publish_event_on_a_thread(&hub, r#"{"name":"Full.1"}"#, never.clone()).recv().unwrap(), mc_status::Ok);
    // The second waits for room in the full queue, holding the history (it is counted as
    // published once it is routed); the third, which no Block queue wants, waits behind it.
    let blocked = publish_event_on_a_thread(&hub, r#"{"name":"Full.2"}"#, never);
    let mut out = ptr::null_mut();
    let mut published_twice = || {
        // SAFETY: live hub, valid out-pointer.
        assert_eq!(unsafe { mc_bus_stats(hub.0, &mut out) }, mc_status::Ok);
        serde_json::from_str::<serde_json::Value>(&take_string(out)).unwrap()["published"] == 2
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !published_twice() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let behind_flag = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let behind = publish_event_on_a_thread(&hub, r#"{"name":"Other"}"#, behind_flag.clone());
    behind_flag.store(1, Ordering::Release);
    // The block timeout is 10 minutes: returning well before it means the cancel ended the wait.
    let st = behind.recv_timeout(std::time::Duration::from_secs(60)).expect("the cancelled publisher still waits");
    assert_eq!(st, mc_status::Cancelled);
    // SAFETY: live hub; unsubscribing releases the blocked publisher.
    assert_eq!(unsafe { mc_unsubscribe(hub.0, sub) }, mc_status::Ok);
    assert_eq!(blocked.recv_timeout(std::time::Duration::from_secs(60)).unwrap(), mc_status::Ok);
    let mut len = 0;
    // SAFETY: live hub, no query, valid out-pointers.
    assert_eq!(unsafe { mc_event_history(hub.0, ptr::null(), 0, &mut out, &mut len) }, mc_status::Ok);
    let history = take_string(out);
    assert!(history.contains("Full.2") && !history.contains("Other"), "{history}");
}

// ----- work handed to another thread --------------------------------------------------------

/// What `hand_off` saw on its helper thread: the depth of the API it invoked there, and the
/// statuses of a leave in the wrong order and of the right one.
#[derive(Default)]
struct HandOff {
    hub: usize,
    depth: u32,
    wrong_leave: Option<mc_status>,
    leave: Option<mc_status>,
}

unsafe extern "C" fn report_depth(_: *mut c_void, call: mc_call) -> u32 {
    let mut depth = 0u32;
    // SAFETY: the call id this callback got; a writable out-pointer.
    assert_eq!(unsafe { mc_api_call_depth(call, &mut depth) }, mc_status::Ok);
    let json = depth.to_string();
    // SAFETY: `len` readable bytes at `json`.
    unsafe { mc_api_call_set_result(call, json.as_ptr().cast(), json.len()) as u32 }
}

unsafe extern "C" fn hand_off(user_data: *mut c_void, call: mc_call) -> u32 {
    // SAFETY: the test passes a HandOff that outlives the call.
    let seen = unsafe { &mut *user_data.cast::<HandOff>() };
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: `call` is active: this callback waits for the thread.
            assert_eq!(unsafe { mc_api_call_enter(call) }, mc_status::Ok);
            let req = r#"{"module":"M","operation":"Depth"}"#;
            let mut out = ptr::null_mut();
            // SAFETY: a live hub; `len` readable bytes; valid out-pointers.
            let st = unsafe {
                mc_api_invoke(seen.hub as *const mc_hub, req.as_ptr().cast(), req.len(), &mut out, ptr::null_mut())
            };
            assert_eq!(st, mc_status::Ok);
            seen.depth = take_string(out).parse().unwrap();
            // SAFETY: plain ids.
            seen.wrong_leave = Some(unsafe { mc_api_call_leave(call + 1) });
            seen.leave = Some(unsafe { mc_api_call_leave(call) });
        });
    });
    mc_status::Ok as u32
}

#[test]
fn a_thread_that_entered_a_call_nests_the_apis_it_invokes_in_that_call() {
    let hub = new_hub();
    let mut seen = HandOff { hub: hub.0 as usize, ..HandOff::default() };
    for (op, cb, data) in [
        ("Depth", report_depth as unsafe extern "C" fn(*mut c_void, mc_call) -> u32, ptr::null_mut()),
        ("HandOff", hand_off, (&mut seen as *mut HandOff).cast::<c_void>()),
    ] {
        let def = format!(r#"{{"module":"M","operation":"{op}"}}"#);
        // SAFETY: a live hub; `len` readable bytes; `data` outlives the hub's use of it.
        let st = unsafe { mc_api_register(hub.0, def.as_ptr().cast(), def.len(), Some(cb), None, data, 0) };
        assert_eq!(st, mc_status::Ok);
    }
    let req = r#"{"module":"M","operation":"HandOff"}"#;
    let mut out = ptr::null_mut();
    // SAFETY: a live hub; `len` readable bytes; valid out-pointers.
    let st = unsafe { mc_api_invoke(hub.0, req.as_ptr().cast(), req.len(), &mut out, ptr::null_mut()) };
    assert_eq!(st, mc_status::Ok);
    take_string(out);
    assert_eq!(seen.depth, 2, "the helper thread's call is the handler's child");
    assert_eq!(seen.wrong_leave, Some(mc_status::InvalidArgument));
    assert_eq!(seen.leave, Some(mc_status::Ok));
    // SAFETY: a plain id, never given to a callback.
    assert_eq!(unsafe { mc_api_call_enter(u64::MAX) }, mc_status::CallNotActive);
}

// ----- stopping a call during its retry delay -------------------------------------------------

unsafe extern "C" fn busy(user_data: *mut c_void, call: mc_call) -> u32 {
    // SAFETY: the test passes an AtomicUsize that outlives the hub.
    unsafe { &*user_data.cast::<AtomicUsize>() }.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the call id this callback got; a NUL-terminated message.
    unsafe { mc_api_call_set_error(call, mc_status::Unavailable as u32, b"the service is busy\0".as_ptr().cast()) };
    mc_status::Unavailable as u32
}

/// Calls `req` through `mc_api_invoke_cancellable` from another thread with `cancel` as its flag;
/// its status and last-error text arrive on the returned channel.
fn invoke_cancellable_on_a_thread(
    hub: &Guard,
    req: &'static str,
    cancel: &std::sync::Arc<std::sync::atomic::AtomicU32>,
) -> std::sync::mpsc::Receiver<(mc_status, Option<String>)> {
    let (hub_addr, flag) = (hub.0 as usize, std::sync::Arc::clone(cancel));
    let (done, returned) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = ptr::null_mut();
        // SAFETY: the hub outlives the call (each test ends the wait before freeing it); the flag
        // is an aligned u32 kept alive by the Arc for the call.
        let st = unsafe {
            mc_api_invoke_cancellable(
                hub_addr as *const mc_hub,
                req.as_ptr().cast(),
                req.len(),
                flag.as_ptr(),
                &mut out,
                ptr::null_mut(),
            )
        };
        let _ = done.send((st, last_error()));
    });
    returned
}

#[test]
fn a_cancelled_call_stops_waiting_to_retry_at_once_and_counts_only_the_attempt_that_ran() {
    let config = r#"{"retryPolicy":{"retryDelayMs":600000,"jitter":false,"maxDelayMs":600000}}"#;
    let mut raw = ptr::null_mut();
    // SAFETY: `len` readable bytes; a valid out-pointer.
    assert_eq!(unsafe { mc_hub_new(config.as_ptr().cast(), config.len(), &mut raw) }, mc_status::Ok);
    let hub = Guard(raw);
    let calls = Box::leak(Box::new(AtomicUsize::new(0)));
    let def = r#"{"module":"Svc","operation":"Op"}"#;
    let data = (calls as *const AtomicUsize).cast_mut().cast::<c_void>();
    // SAFETY: a live hub; `len` readable bytes; `data` lives for the rest of the process.
    let st = unsafe { mc_api_register(hub.0, def.as_ptr().cast(), def.len(), Some(busy), None, data, 0) };
    assert_eq!(st, mc_status::Ok);

    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let returned =
        invoke_cancellable_on_a_thread(&hub, r#"{"module":"Svc","operation":"Op","retryAttempts":3}"#, &cancel);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while calls.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "the first attempt never ran");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    cancel.store(1, Ordering::Release);
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_api_wake_cancelled(hub.0) }, mc_status::Ok);
    // The delay is 10 minutes: returning well before it means the cancel ended the wait.
    let (st, error) = returned.recv_timeout(std::time::Duration::from_secs(60)).expect("the call still waits to retry");
    assert_eq!(st, mc_status::Cancelled);
    let error = error.unwrap();
    assert!(
        error.contains("stopped while it waited to retry; attempt 1 of 4 had failed: the service is busy"),
        "{error}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let mut out = ptr::null_mut();
    // SAFETY: live hub, NULL patterns list all, valid out-pointer.
    assert_eq!(unsafe { mc_api_list(hub.0, ptr::null(), ptr::null(), &mut out) }, mc_status::Ok);
    let list = take_string(out);
    assert!(list.contains(r#""attempts":1,"retries":0"#), "only the attempt that ran counts: {list}");
}

/// What `publishes_into_a_full_queue` needs: the hub, and where it leaves its publish's status.
struct NestedPublish {
    hub: usize,
    status: std::sync::Mutex<Option<mc_status>>,
}

unsafe extern "C" fn publishes_into_a_full_queue(user_data: *mut c_void, call: mc_call) -> u32 {
    // SAFETY: the test passes a NestedPublish that outlives the hub.
    let nested = unsafe { &*user_data.cast::<NestedPublish>() };
    let json = r#"{"channel":"B","messageType":"Nested"}"#;
    let mut id = mc_id::default();
    // SAFETY: a live hub; `len` readable bytes; a valid out-pointer.
    let st = unsafe { mc_publish(nested.hub as *const mc_hub, json.as_ptr().cast(), json.len(), &mut id) };
    *nested.status.lock().unwrap() = Some(st);
    // SAFETY: `len` readable bytes at the result.
    unsafe { mc_api_call_set_result(call, b"1".as_ptr().cast(), 1) as u32 }
}

#[test]
fn a_publish_inside_a_cancellable_call_gives_up_its_wait_with_that_calls_flag() {
    let hub = new_hub();
    create_channel(&hub, "B");
    subscribe_pull(&hub, r#"{"channel":"B","capacity":1,"overflow":"Block","blockTimeoutMs":600000}"#);
    assert_eq!(publish(&hub, r#"{"channel":"B","messageType":"First"}"#).0, mc_status::Ok);
    let nested = Box::leak(Box::new(NestedPublish { hub: hub.0 as usize, status: std::sync::Mutex::new(None) }));
    let def = r#"{"module":"Svc","operation":"Publish"}"#;
    let data = (nested as *const NestedPublish).cast_mut().cast::<c_void>();
    // SAFETY: a live hub; `len` readable bytes; `data` lives for the rest of the process.
    let st = unsafe {
        mc_api_register(hub.0, def.as_ptr().cast(), def.len(), Some(publishes_into_a_full_queue), None, data, 0)
    };
    assert_eq!(st, mc_status::Ok);

    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let returned = invoke_cancellable_on_a_thread(&hub, r#"{"module":"Svc","operation":"Publish"}"#, &cancel);
    // The nested publish is counted before it waits for room.
    let mut out = ptr::null_mut();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // SAFETY: live hub, valid out-pointer.
        assert_eq!(unsafe { mc_bus_stats(hub.0, &mut out) }, mc_status::Ok);
        let stats: serde_json::Value = serde_json::from_str(&take_string(out)).unwrap();
        if stats["published"] == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the handler never published");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    cancel.store(1, Ordering::Release);
    // SAFETY: live hub.
    assert_eq!(unsafe { mc_wake_blocked_publishers(hub.0) }, mc_status::Ok);
    // The block timeout is 10 minutes: returning well before it means the outer flag ended the wait.
    let (st, _) = returned.recv_timeout(std::time::Duration::from_secs(60)).expect("the nested publish still waits");
    assert_eq!(st, mc_status::Ok);
    assert_eq!(*nested.status.lock().unwrap(), Some(mc_status::Ok), "a given-up copy is dropped, not an error");
    // SAFETY: live hub, NULL pattern lists all, valid out-pointer.
    assert_eq!(unsafe { mc_subscription_list(hub.0, ptr::null(), &mut out) }, mc_status::Ok);
    let subs: serde_json::Value = serde_json::from_str(&take_string(out)).unwrap();
    assert_eq!(subs[0]["dropped"].as_u64(), Some(1), "{subs}");
}

/// One kind of mistake, one status, as the header's `mc_status` says: text that is not JSON,
/// not an object, or lacks a required key is `INVALID_JSON`; an unknown key or a bad value of
/// a known one (wrong type, out of range, unknown name) is `INVALID_ARGUMENT` naming the key.
/// The texts are plain: no Rust type names, no backticks.
#[test]
fn json_mistakes_get_one_status_each_and_plain_words() {
    let hub = new_hub();
    create_channel(&hub, "C");
    let plain = |text: &str| {
        for jargon in ["u64", "usize", "u32", "ident", "`", "struct ", "variant", "line 1 column"] {
            assert!(!text.contains(jargon), "'{jargon}' in: {text}");
        }
    };
    let cases: &[(&str, mc_status, &str)] = &[
        (
            r#"{"channel":"C","messageType":"T","ttl":5}"#,
            mc_status::InvalidArgument,
            "invalid message key 'ttl': unknown key; the keys are channel, messageType",
        ),
        (
            r#"{"channel":"C","messageType":"T","priority":"Urgent"}"#,
            mc_status::InvalidArgument,
            "use Low, Normal, High or Critical",
        ),
        (
            r#"{"channel":"C","messageType":"T","priority":9}"#,
            mc_status::InvalidArgument,
            "invalid priority '9': use Low, Normal, High or Critical",
        ),
        (
            r#"{"channel":"C","messageType":"T","ttlMs":-5}"#,
            mc_status::InvalidArgument,
            "invalid ttlMs '-5': use a whole number of 0 or more",
        ),
        (r#"{"channel":"C","messageType":"T","ttlMs":0}"#, mc_status::InvalidArgument, "invalid ttlMs '0'"),
        (r#"{"channel":"C","messageType":"T","ttlMs":"soon"}"#, mc_status::InvalidArgument, "invalid ttlMs 'soon'"),
        (r#"{"channel":"C"}"#, mc_status::InvalidJson, "the key 'messageType' is missing"),
        (r#"{"channel":"C""#, mc_status::InvalidJson, "the text ends too early, at column 14"),
        ("not json", mc_status::InvalidJson, "the text is not valid JSON at column 2"),
    ];
    for (json, want, fragment) in cases {
        let (st, _) = publish(&hub, json);
        let text = last_error().unwrap_or_default();
        assert_eq!(st, *want, "{json}: {text}");
        assert!(text.contains(fragment), "{json}: {text}");
        plain(&text);
    }
    // The integers of the header's MC_PRIORITY_* constants name priorities too.
    let (st, _) = publish(&hub, r#"{"channel":"C","messageType":"T","priority":2}"#);
    assert_eq!(st, mc_status::Ok);

    let level = r#"{"level":"Loud"}"#;
    // SAFETY: live hub, readable bytes.
    let st = unsafe { mc_trace_enable(hub.0, level.as_ptr().cast(), level.len()) };
    let text = last_error().unwrap_or_default();
    assert_eq!(st, mc_status::InvalidArgument, "{text}");
    assert!(text.contains("invalid level 'Loud': use Basic or Verbose"), "{text}");
    plain(&text);

    let replay = r#"{"replay":-1}"#;
    let mut id = mc_id::default();
    // SAFETY: live hub, readable options; no callback.
    let st =
        unsafe { mc_event_subscribe_pull(hub.0, replay.as_ptr().cast(), replay.len(), None, ptr::null_mut(), &mut id) };
    let text = last_error().unwrap_or_default();
    assert_eq!(st, mc_status::InvalidArgument, "{text}");
    assert!(text.contains("invalid replay '-1'"), "{text}");
    plain(&text);
}

/// What `busy_then_stopped` counts and the cancel flag it sets on its second attempt.
struct StopOnSecond {
    calls: AtomicUsize,
    cancel: std::sync::atomic::AtomicU32,
}

unsafe extern "C" fn busy_then_stopped(user_data: *mut c_void, call: mc_call) -> u32 {
    // SAFETY: the test passes a StopOnSecond that outlives the hub.
    let state = unsafe { &*user_data.cast::<StopOnSecond>() };
    if state.calls.fetch_add(1, Ordering::SeqCst) == 1 {
        // The caller stops the call while its second attempt runs.
        state.cancel.store(1, Ordering::Release);
    }
    // SAFETY: the call id this callback got; a NUL-terminated message.
    unsafe { mc_api_call_set_error(call, mc_status::Unavailable as u32, b"the service is busy\0".as_ptr().cast()) };
    mc_status::Unavailable as u32
}

/// A call stopped after a retry says how far it got, and only that: not also that it failed
/// after its attempts, as a call that ran out of retries does.
#[test]
fn a_call_stopped_after_a_retry_ends_its_error_with_the_attempt_that_failed() {
    let config = r#"{"retryPolicy":{"retryDelayMs":1,"jitter":false}}"#;
    let mut raw = ptr::null_mut();
    // SAFETY: `len` readable bytes; a valid out-pointer.
    assert_eq!(unsafe { mc_hub_new(config.as_ptr().cast(), config.len(), &mut raw) }, mc_status::Ok);
    let hub = Guard(raw);
    let state = Box::leak(Box::new(StopOnSecond { calls: AtomicUsize::new(0), cancel: 0.into() }));
    let def = r#"{"module":"Svc","operation":"Op"}"#;
    let data = (state as *const StopOnSecond).cast_mut().cast::<c_void>();
    // SAFETY: a live hub; `len` readable bytes; `data` lives for the rest of the process.
    let st = unsafe { mc_api_register(hub.0, def.as_ptr().cast(), def.len(), Some(busy_then_stopped), None, data, 0) };
    assert_eq!(st, mc_status::Ok);
    let req = r#"{"module":"Svc","operation":"Op","retryAttempts":3}"#;
    let mut out = ptr::null_mut();
    // SAFETY: a live hub; `len` readable bytes; the flag is an aligned u32 that lives on.
    let flag = state.cancel.as_ptr();
    let st =
        unsafe { mc_api_invoke_cancellable(hub.0, req.as_ptr().cast(), req.len(), flag, &mut out, ptr::null_mut()) };
    assert_eq!(st, mc_status::Cancelled);
    let error = last_error().unwrap();
    assert!(error.ends_with("attempt 2 of 4 had failed: the service is busy"), "{error}");
    assert_eq!(state.calls.load(Ordering::SeqCst), 2);
}
