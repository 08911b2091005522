//! C ABI for message tracing (`src/trace/`). Contract: `docs/c-abi.md`, "Message tracing".

use std::os::raw::c_char;

use super::boundary::{into_c_string, opt_text, out_arg, run};
use super::{hub_ref, mc_hub, mc_status};

/// Turns message tracing on (or changes its options; a trace file already open is
/// flushed and closed first).
///
/// `options_json` (nullable = defaults: Basic, in memory only) is `len` bytes of UTF-8 JSON,
/// every key optional: `{"level":"Basic|Verbose","logToFile":false,"filePath":"trace.log",
/// "maxFileBytes":10485760,"ringSize":10000,"slowThresholdMs":1000,"queueCapacity":8192}`.
/// With `logToFile`, `filePath` is required; its folder is created and the file is opened
/// before anything changes, so a bad path (also one that is not a regular file: a folder, a
/// named pipe, a device) fails with `MC_STATUS_INVALID_ARGUMENT` and leaves the current
/// tracing as it was. Each enable starts a file of its own: what the file held is
/// moved aside as the next rotated part (`<filePath>.N`, N above every part on disk; parts
/// are never replaced). Records are written by a background thread; the calling thread never
/// waits on disk. Enabling while tracing is on changes the options of the running trace:
/// its records in memory (as many as the new `ringSize` holds) and its counts go on; a
/// trace enabled after `mc_trace_disable` starts empty.
///
/// `hub` is borrowed for the duration of the call. `options_json` (nullable) is borrowed
/// for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_trace_enable(hub: *const mc_hub, options_json: *const c_char, len: usize) -> mc_status {
    run("mc_trace_enable", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes NULL or `len` readable bytes at `options_json`.
        let options = unsafe { opt_text(options_json, len, "options_json") }?;
        hub.enable_tracing_json(options)?;
        Ok(())
    })
}

/// Turns message tracing off: the writer thread writes every record it has, the file is
/// closed, and with `archiveLogs` this trace's file and rotated parts are compressed
/// (gzip) into one `<name>-<timestamp>.log.gz` in `archivePath` (created if missing;
/// default, also for `""`: the trace file's folder; an archive that fails is removed). The trace files
/// themselves are kept.
///
/// `options_json` (nullable = no archive) is `len` bytes of UTF-8 JSON:
/// `{"archiveLogs":true,"archivePath":"trace-archive"}`. Writes to `*out_json`:
/// `{"wasEnabled","records","droppedRecords","files":[…],"archive":"…"|null,
/// "writeError":"…"|null}`. `archiveLogs` when tracing is off or this trace never wrote a file, or with an
/// `archivePath` where the archive cannot be made, fails with `MC_STATUS_INVALID_ARGUMENT`
/// and changes nothing (tracing stays on, to be tried again): the archive is made, empty,
/// before tracing is turned off. Only a failure while compressing comes after it (tracing is
/// then off; the archive is removed, the trace files are kept).
///
/// `hub` is borrowed for the duration of the call. `options_json` (nullable) is borrowed
/// for the duration of the call. The caller owns the returned string and frees it with
/// `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_trace_disable(
    hub: *const mc_hub,
    options_json: *const c_char,
    len: usize,
    out_json: *mut *mut c_char,
) -> mc_status {
    run("mc_trace_disable", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes NULL or `len` readable bytes at `options_json`.
        let options = unsafe { opt_text(options_json, len, "options_json") }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = into_c_string(hub.disable_tracing_json(options)?)?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(text) };
        Ok(())
    })
}

/// Writes the newest `last` trace records kept in memory (0 = all of them), oldest first,
/// to `*out_json` as a JSON array of record objects (`{"timestamp","level","event",…}`,
/// see `docs/c-abi.md`). The records stay in memory after tracing is disabled, until it
/// is enabled again (which starts with an empty buffer) or the hub is freed.
///
/// `hub` is borrowed for the duration of the call. The caller owns the returned string and
/// frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_trace_read(hub: *const mc_hub, last: usize, out_json: *mut *mut c_char) -> mc_status {
    run("mc_trace_read", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = into_c_string(hub.trace_records_json((last != 0).then_some(last)))?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(text) };
        Ok(())
    })
}
