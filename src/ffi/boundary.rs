//! The one boundary every exported function runs inside: panics become
//! `MC_STATUS_PANIC`, errors become a status plus a thread-local message, and pointer
//! arguments are checked and converted here.

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::mc_status;
use crate::bus::panic_message;
use crate::error::Error;

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A failure on its way out through the C ABI.
pub(crate) struct FfiError {
    pub status: mc_status,
    pub message: String,
}

impl FfiError {
    pub fn new(status: mc_status, message: impl Into<String>) -> Self {
        FfiError { status, message: message.into() }
    }

    pub fn null(param: &str) -> Self {
        FfiError::new(mc_status::NullArgument, format!("`{param}` is NULL; pass a valid pointer"))
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::InvalidJson { .. } => mc_status::InvalidJson,
            Error::InvalidArgument { .. } => mc_status::InvalidArgument,
            Error::ChannelNotFound { .. } => mc_status::ChannelNotFound,
            Error::ChannelExists { .. } => mc_status::ChannelExists,
            Error::SubscriptionNotFound { .. } => mc_status::SubscriptionNotFound,
            Error::QueueFull { .. } => mc_status::QueueFull,
            Error::Timeout { .. } => mc_status::Timeout,
            Error::Cancelled { .. } => mc_status::Cancelled,
            Error::Io { .. } => mc_status::Io,
            Error::CorruptFile { .. } => mc_status::CorruptFile,
            Error::AuthenticationFailed { .. } => mc_status::AuthenticationFailed,
            Error::AuthorizationFailed { .. } => mc_status::AuthorizationFailed,
            Error::Internal { .. } => mc_status::Panic,
        };
        FfiError { status, message: e.to_string() }
    }
}

impl From<crate::resilience::ResilienceError> for FfiError {
    fn from(e: crate::resilience::ResilienceError) -> Self {
        use crate::resilience::ResilienceError;
        match e {
            ResilienceError::Invalid(inner) => inner.into(),
            other @ ResilienceError::BreakerNotFound { .. } => FfiError::new(mc_status::BreakerNotFound, other.to_string()),
        }
    }
}

impl From<crate::security::SecurityError> for FfiError {
    fn from(e: crate::security::SecurityError) -> Self {
        use crate::security::{DenyKind, SecurityError};
        let status = match &e {
            SecurityError::Invalid(inner) => return inner.clone().into(),
            SecurityError::Denied { kind: DenyKind::Authentication, .. } => mc_status::AuthenticationFailed,
            SecurityError::Denied { kind: DenyKind::Authorization, .. } => mc_status::AuthorizationFailed,
            SecurityError::ModuleNotAllowed { .. } => mc_status::ModuleNotAllowed,
            SecurityError::TokenNotFound { .. } => mc_status::TokenNotFound,
        };
        FfiError::new(status, e.to_string())
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, FfiError>;

pub(crate) fn set_last_error(message: Option<String>) {
    // A NUL inside an offending value (JSON "\u0000") must not cost the caller the
    // explanation, since C reads the message as a NUL-terminated string.
    let message = message.map(|m| if m.contains('\0') { m.replace('\0', "\\u0000") } else { m });
    // `try_with`: during thread teardown the slot may be gone; then there is nowhere to
    // keep the message, and that is fine.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = message);
}

pub(crate) fn last_error() -> Option<String> {
    LAST_ERROR.try_with(|slot| slot.borrow().clone()).ok().flatten()
}

/// Runs `body` for the exported function `function`: clears the thread's last error,
/// catches panics, and turns the result into a status.
pub(crate) fn run(function: &'static str, body: impl FnOnce() -> FfiResult) -> mc_status {
    set_last_error(None);
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            // A call that failed inside this one (an API handler's own mc_ call) must not
            // leave its message behind a success.
            set_last_error(None);
            mc_status::Ok
        }
        Ok(Err(e)) => {
            set_last_error(Some(format!("{function}: {}", e.message)));
            e.status
        }
        Err(payload) => {
            set_last_error(Some(format!(
                "{function}: a bug inside the library was caught ({}); the hub is still usable, please report it",
                panic_message(payload.as_ref())
            )));
            mc_status::Panic
        }
    }
}

/// Borrows `*ptr`, or fails naming `param` when it is NULL.
///
/// # Safety
/// `ptr` must be NULL or valid for reads for `'a`.
pub(crate) unsafe fn arg_ref<'a, T>(ptr: *const T, param: &str) -> FfiResult<&'a T> {
    // SAFETY: the caller guarantees `ptr` is NULL or valid for `'a`; `as_ref` checks NULL.
    unsafe { ptr.as_ref() }.ok_or_else(|| FfiError::null(param))
}

/// Checks that an out-parameter is not NULL; the pointer is written later, on success.
pub(crate) fn out_arg<T>(ptr: *mut T, param: &str) -> FfiResult<*mut T> {
    if ptr.is_null() {
        Err(FfiError::null(param))
    } else {
        Ok(ptr)
    }
}

fn utf8_error(param: &str, e: std::str::Utf8Error) -> FfiError {
    FfiError::new(
        mc_status::InvalidUtf8,
        format!(
            "`{param}` is not valid UTF-8 (bad byte at offset {}); pass UTF-8 text",
            e.valid_up_to()
        ),
    )
}

/// Reads a required NUL-terminated UTF-8 string.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn arg_str<'a>(ptr: *const c_char, param: &str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(FfiError::null(param));
    }
    // SAFETY: not NULL, and the caller guarantees a NUL-terminated string valid for `'a`.
    let cstr = unsafe { CStr::from_ptr(ptr) };
    cstr.to_str().map_err(|e| utf8_error(param, e))
}

/// Reads an optional NUL-terminated UTF-8 string (NULL gives `None`).
///
/// # Safety
/// As [`arg_str`].
pub(crate) unsafe fn opt_str<'a>(ptr: *const c_char, param: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded caller guarantee.
        unsafe { arg_str(ptr, param) }.map(Some)
    }
}

/// Reads `len` bytes of UTF-8 text (JSON) at `ptr`.
///
/// # Safety
/// `ptr` must be NULL or valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn arg_text<'a>(ptr: *const c_char, len: usize, param: &str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(FfiError::null(param));
    }
    if len > isize::MAX as usize {
        return Err(FfiError::new(mc_status::InvalidArgument, format!("`{param}` length {len} is too large")));
    }
    // SAFETY: not NULL, length checked against isize::MAX, and the caller guarantees
    // `len` readable bytes that stay valid and unmodified for `'a`.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|e| utf8_error(param, e))
}

/// Reads an optional `len`-byte UTF-8 text (JSON options): NULL gives `None`.
///
/// # Safety
/// `ptr` must be NULL or valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn opt_text<'a>(ptr: *const c_char, len: usize, param: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded caller guarantee.
        unsafe { arg_text(ptr, len, param) }.map(Some)
    }
}

/// Writes `value` through `out` if it is not NULL (an optional out-parameter).
///
/// # Safety
/// `out` must be NULL or valid for writes.
pub(crate) unsafe fn write_opt<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: not NULL, and the caller guarantees it is writable.
        unsafe { out.write(value) };
    }
}

/// `value` as JSON text; failing to serialize is a bug of the library (`MC_STATUS_PANIC`).
pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> FfiResult<String> {
    serde_json::to_string(value)
        .map_err(|e| FfiError::new(mc_status::Panic, format!("could not serialize the result: {e}")))
}

/// `value` as JSON text that the caller frees with `mc_string_free`.
pub(crate) fn json_out<T: serde::Serialize>(value: &T) -> FfiResult<*mut c_char> {
    into_c_string(json_text(value)?)
}

/// Hands a string to the caller, who frees it with `mc_string_free`.
pub(crate) fn into_c_string(text: String) -> FfiResult<*mut c_char> {
    CString::new(text)
        .map(CString::into_raw)
        .map_err(|_| FfiError::new(mc_status::Panic, "the library produced text with a NUL byte; please report it"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_mc_status_panic_with_a_message() {
        let status = run("mc_test", || panic!("deliberate"));
        assert_eq!(status, mc_status::Panic);
        let msg = last_error().unwrap();
        assert!(msg.starts_with("mc_test: a bug inside the library was caught (deliberate)"), "{msg}");
        assert_eq!(run("mc_test", || Ok(())), mc_status::Ok);
        assert_eq!(last_error(), None);
    }

    #[test]
    fn a_nul_in_the_message_is_escaped_so_c_can_read_it() {
        let status = run("mc_test", || Err(Error::ChannelNotFound { name: "a\0b".into() }.into()));
        assert_eq!(status, mc_status::ChannelNotFound);
        assert!(last_error().unwrap().contains("channel 'a\\u0000b'"));
    }

    #[test]
    fn errors_map_to_their_status_and_keep_the_text() {
        let status = run("mc_test", || Err(Error::ChannelNotFound { name: "X".into() }.into()));
        assert_eq!(status, mc_status::ChannelNotFound);
        assert!(last_error().unwrap().contains("channel 'X' does not exist"));
    }
}
