//! The event functions of the C ABI.

use std::os::raw::{c_char, c_void};
use std::path::Path;
use std::ptr;

use super::boundary::{arg_str, arg_text, into_c_string, out_arg, run, FfiError, FfiResult};
use super::bus::publish_json;
use super::{hub_ref, mc_hub, mc_id, mc_message_callback, mc_notify_callback, mc_status, pull_notifier, push_handler, write_id};
use crate::bus::Envelope;
use crate::error::Error;
use crate::hub::Hub;
use crate::events::{EventQuery, EventSubscriptionOptions, HistoryFormat};

/// `format` value of `mc_event_history_export` / `_import`: one JSON record per line.
pub const MC_HISTORY_FORMAT_JSON_LINES: u32 = 0;
/// `format` value of `mc_event_history_export` / `_import`: CSV with a header row.
pub const MC_HISTORY_FORMAT_CSV: u32 = 1;

fn format(value: u32) -> FfiResult<HistoryFormat> {
    match value {
        MC_HISTORY_FORMAT_JSON_LINES => Ok(HistoryFormat::JsonLines),
        MC_HISTORY_FORMAT_CSV => Ok(HistoryFormat::Csv),
        other => {
            Err(Error::invalid("format", other, "use MC_HISTORY_FORMAT_JSON_LINES (0) or MC_HISTORY_FORMAT_CSV (1)")
                .into())
        }
    }
}

/// Reads an optional query (NULL = every event).
///
/// # Safety
/// `ptr` must be NULL or valid for reads of `len` bytes.
unsafe fn query(ptr: *const c_char, len: usize) -> FfiResult<EventQuery> {
    if ptr.is_null() {
        return Ok(EventQuery::default());
    }
    // SAFETY: forwarded caller guarantee.
    let json = unsafe { arg_text(ptr, len, "query_json") }?;
    Ok(EventQuery::from_json(json)?)
}

/// Reads event subscription options.
///
/// # Safety
/// `ptr` must be NULL or valid for reads of `len` bytes.
unsafe fn options(ptr: *const c_char, len: usize) -> FfiResult<EventSubscriptionOptions> {
    // SAFETY: forwarded caller guarantee.
    let json = unsafe { arg_text(ptr, len, "options_json") }?;
    Ok(EventSubscriptionOptions::from_json(json)?)
}

fn json_array(events: &[std::sync::Arc<Envelope>]) -> String {
    let mut text = String::with_capacity(2 + events.iter().map(|e| e.to_json().len() + 1).sum::<usize>());
    text.push('[');
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(e.to_json());
    }
    text.push(']');
    text
}

/// Publishes an event: `event_json` is `len` bytes of UTF-8 JSON,
/// `{"name","data","sourceModule","channel","broadcast","priority","correlationId",
/// "typeHints"}` with only `name` required and unknown keys rejected. `priority` is a name
/// or the number of an `MC_PRIORITY_*` constant, as for `mc_publish`. `*out_id` receives
/// the event id.
///
/// The event goes to its event channel (`channel`, default `"Events"`, created on first
/// use), into the history (and, with a history file configured, onto its end as one JSON
/// line before this returns), and to every matching event subscription. With
/// `"broadcast":true` it is also published to every message channel as one message per
/// channel whose `messageType` is the event name and whose id, timestamp, data, type
/// hints, source module, priority and correlation id are the event's. When the history
/// file cannot be written the result is `MC_STATUS_IO` and nothing is published. When a
/// `Reject` subscription refuses the event (or a broadcast copy), the others still get
/// it, `*out_id` is still written, and the result is `MC_STATUS_QUEUE_FULL`. Called inside a
/// callback of `mc_api_invoke_cancellable`, it gives up a wait with that call's flag, as
/// `mc_publish` does.
///
/// `hub` is borrowed for the duration of the call. `event_json` is borrowed for the
/// duration of the call; the library copies what it keeps.
#[no_mangle]
pub unsafe extern "C" fn mc_event_publish(
    hub: *const mc_hub,
    event_json: *const c_char,
    len: usize,
    out_id: *mut mc_id,
) -> mc_status {
    let what = ("mc_event_publish", "event_json");
    // SAFETY: forwarded caller guarantees; no cancel flag of its own.
    unsafe { publish_json(what, hub, event_json, len, ptr::null(), out_id, Hub::publish_event_json) }
}

/// `mc_event_publish` that the caller can give up while it waits for room in a `Block`
/// queue (an event subscription's, or a broadcast copy's): `cancel` as for
/// `mc_publish_cancellable`. An event publish also waits while another event publisher waits
/// for room in a full `Block` queue; cancelled then, it returns `MC_STATUS_CANCELLED` and
/// publishes nothing.
///
/// `hub`, `event_json` and `cancel` are borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_event_publish_cancellable(
    hub: *const mc_hub,
    event_json: *const c_char,
    len: usize,
    cancel: *const u32,
    out_id: *mut mc_id,
) -> mc_status {
    let what = ("mc_event_publish_cancellable", "event_json");
    // SAFETY: forwarded caller guarantees.
    unsafe { publish_json(what, hub, event_json, len, cancel, out_id, Hub::publish_event_json) }
}

/// Subscribes to events with a callback. `options_json` is `len` bytes of UTF-8 JSON,
/// every key optional: `{"name":"Module*","channel":"*","sourceModule":"Lab*",
/// "capacity":1000,"overflow":"DropOldest","blockTimeoutMs":1000,"replay":10,
/// "since":"2026-11-27T06:00:00Z"}`. `name`, `channel` and `sourceModule` are names or
/// `-like` patterns compared case-insensitively (`name` and `channel` default to `*`).
/// `replay` (the newest N) and/or `since` (an ISO 8601 time or milliseconds since 1970)
/// first deliver the matching events of the history, in history order, then live events:
/// none is missed or repeated at the seam. `*out_id` receives the subscription id.
///
/// The callback gets each event's JSON, `{"id","name","channel","data","sourceModule",
/// "priority","timestamp","correlationId","typeHints"}`. It is called on the subscription's
/// own library worker thread, never concurrently with itself, and never after
/// `mc_unsubscribe` of this id has returned. It may call any `mc_` function, including
/// `mc_event_publish` and `mc_unsubscribe` of its own id. Take, complete, unsubscribe and
/// the listings work on event subscriptions as on message subscriptions.
///
/// `hub` is borrowed for the duration of the call. `options_json` is borrowed for the
/// duration of the call. `user_data` is not dereferenced by the library; it is passed to
/// `callback` and must stay valid until `mc_unsubscribe` of this id (or `mc_hub_free`)
/// has returned; when `mc_unsubscribe` returns without waiting for the callback (see there),
/// until `mc_hub_free` has returned.
#[no_mangle]
pub unsafe extern "C" fn mc_event_subscribe(
    hub: *const mc_hub,
    options_json: *const c_char,
    len: usize,
    callback: mc_message_callback,
    user_data: *mut c_void,
    out_id: *mut mc_id,
) -> mc_status {
    run("mc_event_subscribe", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes `len` readable bytes at `options_json`.
        let opts = unsafe { options(options_json, len) }?;
        let handler = push_handler(callback, user_data)?;
        let out_id = out_arg(out_id, "out_id")?;
        let id = hub.subscribe_events_push(opts, handler)?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { write_id(out_id, id) };
        Ok(())
    })
}

/// Subscribes to events without a worker: take batches with `mc_subscription_take` and
/// report them with `mc_subscription_complete`. Options as for `mc_event_subscribe`.
/// Replayed events are queued before this returns and do not call `notify`: take right
/// after subscribing. `notify` (nullable) otherwise behaves as for `mc_subscribe_pull`:
/// called on the publishing thread, at most once between two takes; it must only signal
/// and return, and must not call `mc_` functions of this hub.
///
/// `hub` is borrowed for the duration of the call. `options_json` is borrowed for the
/// duration of the call. `user_data` is not dereferenced by the library; it is passed to
/// `notify` and must stay valid until `mc_unsubscribe` of this id (or `mc_hub_free`) has
/// returned.
#[no_mangle]
pub unsafe extern "C" fn mc_event_subscribe_pull(
    hub: *const mc_hub,
    options_json: *const c_char,
    len: usize,
    notify: mc_notify_callback,
    user_data: *mut c_void,
    out_id: *mut mc_id,
) -> mc_status {
    run("mc_event_subscribe_pull", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes `len` readable bytes at `options_json`.
        let opts = unsafe { options(options_json, len) }?;
        let out_id = out_arg(out_id, "out_id")?;
        let id = hub.subscribe_events_pull(opts, pull_notifier(notify, user_data))?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { write_id(out_id, id) };
        Ok(())
    })
}

/// Writes the events of the history that match a query, oldest first, as a JSON array of
/// event objects (as delivered to callbacks) to `*out_json`, and its length in bytes to
/// `*out_len`. `query_json` (nullable = every event) is `len` bytes of UTF-8 JSON, every
/// key optional: `{"name":"LabStep*","channel":"*","sourceModule":"Lab*",
/// "since":"2026-11-27T06:00:00Z","last":20}` (`last`: only the newest N of the matches).
///
/// `hub` is borrowed for the duration of the call. `query_json` (nullable) is borrowed for
/// the duration of the call. The caller owns the returned string and frees it with
/// `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_event_history(
    hub: *const mc_hub,
    query_json: *const c_char,
    len: usize,
    out_json: *mut *mut c_char,
    out_len: *mut usize,
) -> mc_status {
    run("mc_event_history", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes NULL or `len` readable bytes at `query_json`.
        let q = unsafe { query(query_json, len) }?;
        let out_json = out_arg(out_json, "out_json")?;
        let out_len = out_arg(out_len, "out_len")?;
        let text = json_array(&hub.events(&q)?);
        let n = text.len();
        let ptr = into_c_string(text)?;
        // SAFETY: both checked non-NULL; the caller guarantees they are writable.
        unsafe {
            out_json.write(ptr);
            out_len.write(n);
        }
        Ok(())
    })
}

/// Removes the events that match a query (as for `mc_event_history`, but without `last`;
/// NULL = all) from the history and from the history file, which may hold more than memory
/// keeps: when the file holds a matching event, the file and its `.1` are rewritten to the
/// events they held that do not match (through temporary files, so a crash leaves the old
/// or the new content). `*out_cleared` (if not NULL) receives how many distinct events were
/// removed.
///
/// `hub` is borrowed for the duration of the call. `query_json` (nullable) is borrowed for
/// the duration of the call. `out_cleared` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn mc_event_history_clear(
    hub: *const mc_hub,
    query_json: *const c_char,
    len: usize,
    out_cleared: *mut usize,
) -> mc_status {
    run("mc_event_history_clear", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes NULL or `len` readable bytes at `query_json`.
        let q = unsafe { query(query_json, len) }?;
        let cleared = hub.clear_events(&q)?;
        if !out_cleared.is_null() {
            // SAFETY: not NULL; the caller guarantees it is writable.
            unsafe { out_cleared.write(cleared) };
        }
        Ok(())
    })
}

/// Writes the events that match a query (NULL = all) to the file `path`, replacing it, in
/// `format` (`MC_HISTORY_FORMAT_JSON_LINES` or `MC_HISTORY_FORMAT_CSV`). The file appears
/// complete or not at all. A symbolic link is followed (the file it names is replaced, the
/// link stays); a path that is not a regular file (a folder, a named pipe, a device) fails with
/// `MC_STATUS_IO` and is left as it is; an empty path is `MC_STATUS_INVALID_ARGUMENT`. CSV columns: `Id,Name,Channel,SourceModule,Priority,Timestamp,
/// CorrelationId,Data,TypeHints`, with `Data` and `TypeHints` as JSON text.
/// `*out_count` (if not NULL) receives how many events were written.
///
/// `hub` is borrowed for the duration of the call. `path` and `query_json` (nullable) are
/// borrowed for the duration of the call. `out_count` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn mc_event_history_export(
    hub: *const mc_hub,
    path: *const c_char,
    format: u32,
    query_json: *const c_char,
    len: usize,
    out_count: *mut usize,
) -> mc_status {
    run("mc_event_history_export", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a valid C string or NULL.
        let path = unsafe { arg_str(path, "path") }?;
        let format = self::format(format)?;
        // SAFETY: the caller passes NULL or `len` readable bytes at `query_json`.
        let q = unsafe { query(query_json, len) }?;
        let n = hub.export_events(Path::new(path), format, &q)?;
        if !out_count.is_null() {
            // SAFETY: not NULL; the caller guarantees it is writable.
            unsafe { out_count.write(n) };
        }
        Ok(())
    })
}

/// Adds the events of an exported file (`format` as for `mc_event_history_export`) to the
/// history, in timestamp order, skipping ids the history holds already; they are not
/// delivered to subscribers. A torn last record is skipped with a warning; any other bad
/// record fails with `MC_STATUS_CORRUPT_FILE` naming it, and nothing is added. A path that
/// is not a regular file (a folder, a named pipe, a device) fails at once with `MC_STATUS_IO`.
/// `*out_json` receives the report `{"read","imported","duplicates","overCapacity",
/// "warnings":[…]}`.
///
/// `hub` is borrowed for the duration of the call. `path` is borrowed for the duration of
/// the call. The caller owns the returned string and frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_event_history_import(
    hub: *const mc_hub,
    path: *const c_char,
    format: u32,
    out_json: *mut *mut c_char,
) -> mc_status {
    run("mc_event_history_import", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a valid C string or NULL.
        let path = unsafe { arg_str(path, "path") }?;
        let format = self::format(format)?;
        let out_json = out_arg(out_json, "out_json")?;
        let report = hub.import_events(Path::new(path), format)?;
        let text = serde_json::to_string(&report)
            .map_err(|e| FfiError::new(mc_status::Panic, format!("could not serialize the report: {e}")))?;
        let ptr = into_c_string(text)?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(ptr) };
        Ok(())
    })
}

/// Writes the state of the event history as JSON to `*out_json`: `{"count","capacity",
/// "path","fileBytes","maxBytes","loadWarnings":[…]}`. `path` is null without a history
/// file; `loadWarnings` lists what the last load of a history file skipped (a torn last
/// line), so a program that sets `eventHistoryPath` (with `mc_hub_new` or
/// `mc_config_set`) can report it.
///
/// `hub` is borrowed for the duration of the call. The caller owns the returned string
/// and frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_event_history_info(hub: *const mc_hub, out_json: *mut *mut c_char) -> mc_status {
    run("mc_event_history_info", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = serde_json::to_string(&hub.event_history_info())
            .map_err(|e| FfiError::new(mc_status::Panic, format!("could not serialize the history state: {e}")))?;
        let ptr = into_c_string(text)?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(ptr) };
        Ok(())
    })
}
