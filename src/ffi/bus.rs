//! The bus functions of the C ABI.

use std::os::raw::{c_char, c_void};
use std::ptr;
use std::time::Duration;

use super::boundary::{arg_ref, arg_str, arg_text, into_c_string, json_out, opt_str, out_arg, run, write_opt, FfiResult};
use super::{hub_ref, mc_delivery_report, mc_hub, mc_id, mc_message_callback, mc_notify_callback, mc_status, pull_notifier, push_handler, write_id};
use crate::bus::{cancel, DeliveryReport, Envelope, Priority, SubscriptionOptions};
use crate::hub::Hub;
use crate::error::Error;
use crate::id::{MessageId, SubscriptionId};
use crate::sync::{Arc, AtomicU32};

/// Creates a channel. `max_messages` is the default queue capacity of subscriptions to
/// exactly this channel; 0 means the configuration's `maxMessageQueueSize`. Names compare
/// case-insensitively, are 1 to 256 characters, and may not contain control characters or
/// the wildcard characters `* ? [ ]` and backtick.
///
/// `hub` is borrowed for the duration of the call. `name` is borrowed for the duration of
/// the call. `description` (nullable) is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_channel_create(
    hub: *const mc_hub,
    name: *const c_char,
    description: *const c_char,
    max_messages: usize,
) -> mc_status {
    run("mc_channel_create", || {
        // SAFETY (all three): the caller passes a live hub and valid C strings or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: see above.
        let name = unsafe { arg_str(name, "name") }?;
        // SAFETY: see above.
        let description = unsafe { opt_str(description, "description") }?;
        hub.create_channel(name, description, max_messages)?;
        Ok(())
    })
}

/// Lists the channels whose name matches `pattern` (a `-like` pattern; NULL lists all),
/// sorted by name, as a JSON array of `{"name","description","maxMessages","createdAt",
/// "subscriptions","published","delivered","expired","dropped","failed","queueLength"}`.
///
/// `hub` is borrowed for the duration of the call. `pattern` (nullable) is borrowed for
/// the duration of the call. The caller owns the returned string and frees it with
/// `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_channel_list(hub: *const mc_hub, pattern: *const c_char, out_json: *mut *mut c_char) -> mc_status {
    run("mc_channel_list", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a valid C string or NULL.
        let pattern = unsafe { opt_str(pattern, "pattern") }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = json_out(&hub.channels(pattern)?)?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(text) };
        Ok(())
    })
}

/// Removes a channel and clears its queued messages from every subscription (they count
/// as delivered for `mc_wait_delivered`, and as `cleared`, not `dropped`). Subscriptions stay.
/// `*out_cleared` (if not NULL) receives how many queued copies were cleared.
///
/// `hub` is borrowed for the duration of the call. `name` is borrowed for the duration of
/// the call. `out_cleared` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn mc_channel_remove(hub: *const mc_hub, name: *const c_char, out_cleared: *mut usize) -> mc_status {
    run("mc_channel_remove", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a valid C string or NULL.
        let name = unsafe { arg_str(name, "name") }?;
        let cleared = hub.remove_channel(name)?;
        // SAFETY: the caller passes NULL or a writable pointer.
        unsafe { write_opt(out_cleared, cleared) };
        Ok(())
    })
}

/// Publishes a message: `message_json` is `len` bytes of UTF-8 JSON,
/// `{"channel","messageType","data","sourceModule","priority","ttlMs","correlationId",
/// "typeHints"}` with `channel` and `messageType` required and unknown keys rejected.
/// `priority` is a name (`"High"`, any case) or the number of an `MC_PRIORITY_*` constant.
/// The channel must exist. `*out_id` receives the message id.
///
/// Called inside a callback of `mc_api_invoke_cancellable` (on its thread), the publish gives
/// up a wait for room with that call's flag, as `mc_publish_cancellable` with it would.
///
/// Returns at once, except that a full subscription with the `Block` policy makes it wait
/// up to that subscription's `blockTimeoutMs`. When a `Reject` subscription refuses the
/// message, the others still get it, `*out_id` is still written, and the result is
/// `MC_STATUS_QUEUE_FULL`.
///
/// `hub` is borrowed for the duration of the call. `message_json` is borrowed for the
/// duration of the call; the library copies what it keeps.
#[no_mangle]
pub unsafe extern "C" fn mc_publish(hub: *const mc_hub, message_json: *const c_char, len: usize, out_id: *mut mc_id) -> mc_status {
    let what = ("mc_publish", "message_json");
    // SAFETY: forwarded caller guarantees; no cancel flag of its own.
    unsafe { publish_json(what, hub, message_json, len, ptr::null(), out_id, Hub::publish_json) }
}

/// `mc_publish` that the caller can give up while it waits for room in a `Block` queue:
/// `cancel` points to a 4-byte aligned `uint32_t` that the caller keeps valid for the
/// duration of the call (NULL: as `mc_publish`, so a cancellable call running on this thread
/// still stops it). Once it is non-zero and `mc_wake_blocked_publishers` has been
/// called (from another thread), the publish stops waiting as at the block timeout: the copy
/// for that queue is dropped (counted as `Dropped`), and the other subscriptions get theirs
/// without waiting. The result is that of `mc_publish` (`MC_STATUS_OK` and the id).
///
/// `hub`, `message_json` and `cancel` are borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_publish_cancellable(
    hub: *const mc_hub,
    message_json: *const c_char,
    len: usize,
    cancel: *const u32,
    out_id: *mut mc_id,
) -> mc_status {
    let what = ("mc_publish_cancellable", "message_json");
    // SAFETY: forwarded caller guarantees.
    unsafe { publish_json(what, hub, message_json, len, cancel, out_id, Hub::publish_json) }
}

/// Wakes every publisher waiting for room in a `Block` queue, so that those whose `cancel`
/// flag (`mc_publish_cancellable`, `mc_event_publish_cancellable`) is set give up; the others
/// wait on until their block timeout. Set the flag first, then call this.
///
/// `hub` is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_wake_blocked_publishers(hub: *const mc_hub) -> mc_status {
    run("mc_wake_blocked_publishers", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        hub.wake_blocked_publishers();
        Ok(())
    })
}

/// The body of the message and event publishes (`function` and the name of its JSON
/// argument, for errors): reads the JSON, publishes it with `cancel` as the thread's cancel
/// flag (NULL: the thread's flag stays as it is), and writes the id (also when a `Reject` queue refused it).
///
/// # Safety
/// `hub`: a live hub or NULL; `len` readable bytes at `json`; `cancel`: NULL or valid for
/// the call; `out_id`: NULL or writable.
pub(crate) unsafe fn publish_json(
    (function, json_arg): (&'static str, &'static str),
    hub: *const mc_hub,
    json: *const c_char,
    len: usize,
    cancel: *const u32,
    out_id: *mut mc_id,
    publish: fn(&Hub, &str) -> Result<MessageId, Error>,
) -> mc_status {
    run(function, || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes `len` readable bytes at `json`.
        let json = unsafe { arg_text(json, len, json_arg) }?;
        let out_id = out_arg(out_id, "out_id")?;
        if !cancel.is_aligned() {
            let detail = "it must point to a 4-byte aligned uint32_t";
            return Err(Error::invalid("cancel", format!("{cancel:p}"), detail).into());
        }
        let published = if cancel.is_null() {
            // No flag of its own: an outer cancellable API call's flag on this thread still
            // stops the wait (replacing it with none would leave the wait unstoppable).
            publish(hub, json)
        } else {
            // SAFETY: aligned (checked), and the caller keeps it valid for the call; AtomicU32
            // has the layout of u32.
            unsafe { cancel::with_flag(cancel.cast::<AtomicU32>(), || publish(hub, json)) }
        };
        let (id, result) = match published {
            Ok(id) => (id, Ok(())),
            Err(Error::QueueFull { message_id, rejected }) => {
                (message_id, Err(Error::QueueFull { message_id, rejected }.into()))
            }
            Err(e) => return Err(e.into()),
        };
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_id.write(mc_id { bytes: *id.as_bytes() }) };
        result
    })
}

/// Reads and parses subscription options.
///
/// # Safety
/// `ptr` must be NULL or valid for reads of `len` bytes.
unsafe fn options(ptr: *const c_char, len: usize) -> FfiResult<SubscriptionOptions> {
    // SAFETY: forwarded caller guarantee.
    let json = unsafe { arg_text(ptr, len, "options_json") }?;
    Ok(SubscriptionOptions::from_json(json)?)
}

/// Creates a push subscription. `options_json` is `len` bytes of UTF-8 JSON:
/// `{"channel":"Config*","messageType":"*","capacity":1000,"overflow":"DropOldest",
/// "blockTimeoutMs":1000,"sourceModule":"X"}`; only `channel` is required. `*out_id`
/// receives the subscription id.
///
/// A library worker thread (one per subscription) calls `callback` with each message,
/// highest priority first, never concurrently with itself, and never after
/// `mc_unsubscribe` of this id has returned. While the processor is paused it waits.
/// The callback may call any `mc_` function, including publish and unsubscribe of its own
/// id (that unsubscribe returns at once; the callback is not called again).
///
/// `hub` is borrowed for the duration of the call. `options_json` is borrowed for the
/// duration of the call. `user_data` is not dereferenced by the library; it is passed to
/// `callback` and must stay valid until `mc_unsubscribe` of this id (or `mc_hub_free`)
/// has returned; when `mc_unsubscribe` returns without waiting for the callback (see there),
/// until `mc_hub_free` has returned.
#[no_mangle]
pub unsafe extern "C" fn mc_subscribe(
    hub: *const mc_hub,
    options_json: *const c_char,
    len: usize,
    callback: mc_message_callback,
    user_data: *mut c_void,
    out_id: *mut mc_id,
) -> mc_status {
    run("mc_subscribe", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes `len` readable bytes at `options_json`.
        let opts = unsafe { options(options_json, len) }?;
        let handler = push_handler(callback, user_data)?;
        let out_id = out_arg(out_id, "out_id")?;
        let id = hub.subscribe_push(opts, handler)?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { write_id(out_id, id) };
        Ok(())
    })
}

/// Creates a pull subscription: the caller takes batches with `mc_subscription_take` and
/// reports them with `mc_subscription_complete`. Options as for `mc_subscribe`. `*out_id`
/// receives the subscription id.
///
/// `notify` (nullable) is called on the publishing thread, inside `mc_publish`, when a
/// message is queued and the notifier is armed, and inside `mc_processor_resume` when it
/// is armed and messages are queued. It starts armed, each call disarms it, and each
/// take re-arms it, so it is called at most once between two takes. After a
/// notification, take until a take returns fewer messages than asked for. It must only
/// signal and return, and must not call `mc_` functions of this hub. Once
/// `mc_unsubscribe` of this id (or `mc_hub_free`) has returned, `notify` is not running
/// and is never called again.
///
/// `hub` is borrowed for the duration of the call. `options_json` is borrowed for the
/// duration of the call. `user_data` is not dereferenced by the library; it is passed to
/// `notify` and must stay valid until `mc_unsubscribe` of this id (or `mc_hub_free`) has
/// returned.
#[no_mangle]
pub unsafe extern "C" fn mc_subscribe_pull(
    hub: *const mc_hub,
    options_json: *const c_char,
    len: usize,
    notify: mc_notify_callback,
    user_data: *mut c_void,
    out_id: *mut mc_id,
) -> mc_status {
    run("mc_subscribe_pull", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes `len` readable bytes at `options_json`.
        let opts = unsafe { options(options_json, len) }?;
        let out_id = out_arg(out_id, "out_id")?;
        let id = hub.subscribe_pull(opts, pull_notifier(notify, user_data))?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { write_id(out_id, id) };
        Ok(())
    })
}

/// Takes up to `max_messages` (at least 1) messages from a pull subscription, highest
/// priority first, waiting up to `timeout_ms` when none is queued or the processor is
/// paused. Expired messages are counted and skipped. `*out_json` receives a JSON array of
/// messages (possibly `[]`) and `*out_len` its length in bytes. Taken messages stay in
/// flight until `mc_subscription_complete`.
///
/// `hub` is borrowed for the duration of the call. The caller owns the returned string
/// and frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_subscription_take(
    hub: *const mc_hub,
    id: mc_id,
    max_messages: usize,
    timeout_ms: u32,
    out_json: *mut *mut c_char,
    out_len: *mut usize,
) -> mc_status {
    run("mc_subscription_take", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        let out_json = out_arg(out_json, "out_json")?;
        let out_len = out_arg(out_len, "out_len")?;
        let batch = hub.take(SubscriptionId::from_bytes(id.bytes), max_messages, Duration::from_millis(timeout_ms.into()))?;
        write_batch(&batch, out_json, out_len)
    })
}

/// `Low`, for `mc_subscription_take_above`: every message above it is `Normal` or higher.
pub const MC_PRIORITY_LOW: u32 = 0;
/// `Normal`, the default priority of a message.
pub const MC_PRIORITY_NORMAL: u32 = 1;
/// `High`.
pub const MC_PRIORITY_HIGH: u32 = 2;
/// `Critical`, the highest: nothing is above it.
pub const MC_PRIORITY_CRITICAL: u32 = 3;

/// Takes, without waiting, up to `max_messages` (at least 1) messages from a pull
/// subscription whose priority is above `above_priority` (`MC_PRIORITY_LOW` to
/// `MC_PRIORITY_CRITICAL`), highest first, in the JSON of `mc_subscription_take` (`[]`
/// when none waits or the processor is paused). For a handler loop in the middle of a
/// batch: run what arrived that is more urgent than the batch's next message before the
/// rest. The messages join those handed out by earlier takes; one
/// `mc_subscription_complete` reports them all. It leaves the notifier alone: the next
/// `mc_subscription_take` arms it again, as after any take.
///
/// `hub` is borrowed for the duration of the call. The caller owns the returned string
/// and frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_subscription_take_above(
    hub: *const mc_hub,
    id: mc_id,
    max_messages: usize,
    above_priority: u32,
    out_json: *mut *mut c_char,
    out_len: *mut usize,
) -> mc_status {
    run("mc_subscription_take_above", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        let out_json = out_arg(out_json, "out_json")?;
        let out_len = out_arg(out_len, "out_len")?;
        let above = Priority::ALL.get(above_priority as usize).copied().ok_or_else(|| {
            Error::invalid("above_priority", above_priority, "give 0 (Low), 1 (Normal), 2 (High) or 3 (Critical)")
        })?;
        let batch = hub.take_above(SubscriptionId::from_bytes(id.bytes), max_messages, above)?;
        write_batch(&batch, out_json, out_len)
    })
}

/// Writes taken messages as one JSON array to the caller's out-parameters.
fn write_batch(batch: &[Arc<Envelope>], out_json: *mut *mut c_char, out_len: *mut usize) -> FfiResult<()> {
    let mut text = String::with_capacity(2 + batch.iter().map(|e| e.to_json().len() + 1).sum::<usize>());
    text.push('[');
    for (i, env) in batch.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(env.to_json());
    }
    text.push(']');
    let len = text.len();
    let ptr = into_c_string(text)?;
    // SAFETY: both checked non-NULL by the caller's out_arg; the C caller guarantees they are writable.
    unsafe {
        out_json.write(ptr);
        out_len.write(len);
    }
    Ok(())
}

/// Completes every message handed out by earlier takes of a pull subscription, adding
/// the report's counts to its counters. `handled + failed + filtered` may not exceed the
/// number handed out; the rest complete as `cleared` (let go without being handled).
///
/// `hub` is borrowed for the duration of the call. `report` is borrowed for the duration
/// of the call; its `last_error` (nullable) is copied.
#[no_mangle]
pub unsafe extern "C" fn mc_subscription_complete(hub: *const mc_hub, id: mc_id, report: *const mc_delivery_report) -> mc_status {
    run("mc_subscription_complete", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a readable report or NULL.
        let report = unsafe { arg_ref(report, "report") }?;
        // SAFETY: the caller passes a valid C string or NULL in the report.
        let last_error = unsafe { opt_str(report.last_error, "report->last_error") }?;
        hub.complete(
            SubscriptionId::from_bytes(id.bytes),
            DeliveryReport {
                handled: report.handled,
                failed: report.failed,
                filtered: report.filtered,
                last_error: last_error.map(str::to_owned),
            },
        )?;
        Ok(())
    })
}

/// Removes a subscription; its queued messages are cleared (counted as `cleared`, not lost), and so
/// is the message of a publisher waiting for room in its `Block` queue, which returns OK. For a
/// push subscription this returns only once the callback can no longer be called, except
/// where waiting would never end: called from that very callback, from a callback that
/// the other callback is itself waiting for (two callbacks removing each other's
/// subscriptions; the first to ask waits, the other does not), or from an API handler or
/// middleware that the callback invoked with a timeout (it runs on a library worker thread
/// while the callback waits for it in `mc_api_invoke`). Then it returns at once, the
/// callback is not called again after the call it may be making, and `mc_hub_free` waits
/// for that call.
///
/// `hub` is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_unsubscribe(hub: *const mc_hub, id: mc_id) -> mc_status {
    run("mc_unsubscribe", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        hub.unsubscribe(SubscriptionId::from_bytes(id.bytes))?;
        Ok(())
    })
}

/// Lists subscriptions in creation order as a JSON array of `{"id","kind","channel",
/// "messageType","mode","capacity","overflow","blockTimeoutMs","sourceModule","createdAt",
/// "queueLength","inFlight","delivered","failed","filtered","expired","dropped","lastError"}`;
/// `kind` is `Message`, or `Event` for an event subscription. With `channel_pattern`, only subscriptions whose channel pattern matches it as text,
/// or (for a plain name) that receive that channel's messages.
///
/// `hub` is borrowed for the duration of the call. `channel_pattern` (nullable) is
/// borrowed for the duration of the call. The caller owns the returned string and frees
/// it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_subscription_list(
    hub: *const mc_hub,
    channel_pattern: *const c_char,
    out_json: *mut *mut c_char,
) -> mc_status {
    run("mc_subscription_list", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a valid C string or NULL.
        let pattern = unsafe { opt_str(channel_pattern, "channel_pattern") }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = json_out(&hub.subscriptions(pattern)?)?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(text) };
        Ok(())
    })
}

/// Removes the queued messages of channels matching `channel_pattern` from every
/// subscription (they count as delivered for `mc_wait_delivered`, and as `cleared`, not
/// `dropped`).
/// `*out_cleared` (if not NULL) receives how many queued copies were removed.
///
/// `hub` is borrowed for the duration of the call. `channel_pattern` is borrowed for the
/// duration of the call. `out_cleared` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn mc_queue_clear(hub: *const mc_hub, channel_pattern: *const c_char, out_cleared: *mut usize) -> mc_status {
    run("mc_queue_clear", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a valid C string or NULL.
        let pattern = unsafe { arg_str(channel_pattern, "channel_pattern") }?;
        let cleared = hub.clear_queue(pattern)?;
        // SAFETY: the caller passes NULL or a writable pointer.
        unsafe { write_opt(out_cleared, cleared) };
        Ok(())
    })
}

/// Pauses hand-outs: takes return `[]` (after waiting their timeout) and push workers
/// wait. Publishing still queues.
///
/// `hub` is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_processor_pause(hub: *const mc_hub) -> mc_status {
    run("mc_processor_pause", || {
        // SAFETY: the caller passes a live hub or NULL.
        unsafe { hub_ref(hub) }?.pause();
        Ok(())
    })
}

/// Resumes hand-outs after `mc_processor_pause`: push workers and waiting takes go on,
/// and the armed `notify` of every pull subscription with queued messages is called, on
/// this thread, before this returns (each call disarms it, as for a publish).
///
/// `hub` is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_processor_resume(hub: *const mc_hub) -> mc_status {
    run("mc_processor_resume", || {
        // SAFETY: the caller passes a live hub or NULL.
        unsafe { hub_ref(hub) }?.resume();
        Ok(())
    })
}

/// Writes whether hand-outs run (`false` while paused) to `*out_running`.
///
/// `hub` is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_processor_state(hub: *const mc_hub, out_running: *mut bool) -> mc_status {
    run("mc_processor_state", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        let out_running = out_arg(out_running, "out_running")?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_running.write(hub.is_running()) };
        Ok(())
    })
}

/// Waits up to `timeout_ms` until every subscription the message `id` was queued for has
/// completed it (handled, failed, filtered, expired, dropped or cleared). Returns
/// `MC_STATUS_OK` at once for an id that is not in flight, else `MC_STATUS_TIMEOUT`.
///
/// `hub` is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_wait_delivered(hub: *const mc_hub, id: mc_id, timeout_ms: u32) -> mc_status {
    run("mc_wait_delivered", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        hub.wait_delivered(MessageId::from_bytes(id.bytes), Duration::from_millis(timeout_ms.into()))?;
        Ok(())
    })
}

/// Waits up to `timeout_ms` until every subscription queue is empty, nothing is handed
/// out (push callbacks returned, pull takes completed) and no publisher waits for room in
/// a `Block` queue. `MC_STATUS_OK` or `MC_STATUS_TIMEOUT`.
///
/// `hub` is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_wait_idle(hub: *const mc_hub, timeout_ms: u32) -> mc_status {
    run("mc_wait_idle", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        hub.wait_idle(Duration::from_millis(timeout_ms.into()))?;
        Ok(())
    })
}

/// Writes the bus totals as JSON to `*out_json`: `{"channels","subscriptions","published",
/// "delivered","failed","filtered","expired","dropped","queueLength","inFlight","running"}`:
/// `inFlight` counts messages handed to handlers and not yet reported.
///
/// `hub` is borrowed for the duration of the call. The caller owns the returned string
/// and frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_bus_stats(hub: *const mc_hub, out_json: *mut *mut c_char) -> mc_status {
    run("mc_bus_stats", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = json_out(&hub.bus_stats())?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(text) };
        Ok(())
    })
}
