//! The security functions of the C ABI: settings, tokens, and the check itself.

use std::os::raw::c_char;

use serde::Serialize;

use super::boundary::{arg_str, arg_text, into_c_string, json_out, opt_str, out_arg, run, write_opt, FfiError};
use super::{hub_ref, mc_hub, mc_status};
use crate::json::push_str_literal;
use crate::security::{Action, SecuritySettings, SecurityStats, TokenRequest};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecurityState {
    #[serde(flatten)]
    settings: SecuritySettings,
    #[serde(flatten)]
    stats: SecurityStats,
}

/// Turns security on. `settings_json` (nullable) is `len` bytes of UTF-8 JSON, a partial
/// settings object applied first: `{"requireAuthentication":true,
/// "defaultTokenExpirationMinutes":60,"allowedModules":["LabRunner","BackupManager"]}`
/// (keys compare case-insensitively; `allowedModules` takes names or `-like` patterns, `[]`
/// allows every module). A bad value fails naming it, and nothing changes.
///
/// While on, every guarded operation is checked: `mc_api_invoke`, `mc_publish`,
/// `mc_subscribe`/`mc_subscribe_pull`, `mc_event_publish` and `mc_event_subscribe`/
/// `mc_event_subscribe_pull` take the token in their JSON (`"authenticationToken"`).
///
/// `hub` is borrowed for the duration of the call. `settings_json` (nullable) is borrowed
/// for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_security_enable(hub: *const mc_hub, settings_json: *const c_char, len: usize) -> mc_status {
    run("mc_security_enable", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        let json = if settings_json.is_null() {
            None
        } else {
            // SAFETY: the caller passes `len` readable bytes at `settings_json`.
            Some(unsafe { arg_text(settings_json, len, "settings_json") }?)
        };
        hub.security().update_settings(|current| {
            let mut next = match json {
                Some(json) => current.merged_with_json(json)?,
                None => current,
            };
            next.enabled = true;
            Ok(next)
        })?;
        Ok(())
    })
}

/// Turns security off: guarded operations are no longer checked. Settings and tokens stay,
/// for the next `mc_security_enable`.
///
/// `hub` is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_security_disable(hub: *const mc_hub) -> mc_status {
    run("mc_security_disable", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        hub.security().update_settings(|current| Ok(SecuritySettings { enabled: false, ..current }))?;
        Ok(())
    })
}

/// Writes the security settings and counters as JSON to `*out_json`:
/// `{"enabled","requireAuthentication","defaultTokenExpirationMinutes","allowedModules",
/// "allowed","authenticationFailures","authorizationFailures","activeTokens"}`.
///
/// `hub` is borrowed for the duration of the call. The caller owns the returned string
/// and frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_security_get(hub: *const mc_hub, out_json: *mut *mut c_char) -> mc_status {
    run("mc_security_get", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        let out_json = out_arg(out_json, "out_json")?;
        let sec = hub.security();
        let text = json_out(&SecurityState { settings: sec.settings(), stats: sec.stats() })?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(text) };
        Ok(())
    })
}

/// Creates an authentication token. `request_json` is `len` bytes of UTF-8 JSON:
/// `{"module":"LabRunner","user":"SystemAccount","scopes":["api:call","events:publish"],
/// "expirationMinutes":120}` (`module` and at least one scope required; lifetime 1 to
/// 525,600 minutes, default the settings' `defaultTokenExpirationMinutes`). Scopes:
/// `api:call`, `events:publish`, `events:subscribe`, `messages:publish`,
/// `messages:subscribe`, each optionally followed by `:` and a `-like` pattern of the
/// targets it allows (`api:call:LabRunner.*`). A module outside the allowed modules is
/// `MC_STATUS_MODULE_NOT_ALLOWED`.
///
/// `*out_json` receives `{"token":"mct_…","tokenId","module","user","scopes","createdAt",
/// "expiresAt","uses":0,"lastUsed":null}`. This is the only time the token's text is
/// shown: the library keeps only its SHA-256 digest. Give the token to the module that
/// will present it, and overwrite the string before freeing it.
///
/// `hub` is borrowed for the duration of the call. `request_json` is borrowed for the
/// duration of the call. The caller owns the returned string and frees it with
/// `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_token_create(
    hub: *const mc_hub,
    request_json: *const c_char,
    len: usize,
    out_json: *mut *mut c_char,
) -> mc_status {
    run("mc_token_create", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes `len` readable bytes at `request_json`.
        let json = unsafe { arg_text(request_json, len, "request_json") }?;
        let out_json = out_arg(out_json, "out_json")?;
        let created = hub.security().create_token(TokenRequest::from_json(json)?)?;
        let info = serde_json::to_string(&created.info)
            .map_err(|e| FfiError::new(mc_status::Panic, format!("could not serialize the token: {e}")))?;
        let mut text = String::with_capacity(info.len() + 64);
        text.push_str("{\"token\":");
        push_str_literal(&mut text, created.token.expose());
        text.push(',');
        text.push_str(&info[1..]);
        let ptr = into_c_string(text)?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(ptr) };
        Ok(())
    })
}

/// Revokes tokens: every token of the modules matching `module_pattern` (a `-like`
/// pattern; `"*"` revokes all), or the one token whose id is `token_id`. Exactly one of
/// the two must be given. `*out_count` (if not NULL) receives how many were revoked. An
/// unknown id is `MC_STATUS_TOKEN_NOT_FOUND`, one that is not a GUID
/// `MC_STATUS_INVALID_ARGUMENT`; a pattern that matches no token revokes none.
/// A revoked token fails every later check exactly as an unknown one does.
///
/// `hub` is borrowed for the duration of the call. `module_pattern` and `token_id` (both
/// nullable) are borrowed for the duration of the call. `out_count` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn mc_token_revoke(
    hub: *const mc_hub,
    module_pattern: *const c_char,
    token_id: *const c_char,
    out_count: *mut usize,
) -> mc_status {
    run("mc_token_revoke", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes valid C strings or NULL.
        let module_pattern = unsafe { opt_str(module_pattern, "module_pattern") }?;
        // SAFETY: as above.
        let token_id = unsafe { opt_str(token_id, "token_id") }?;
        let n = match (module_pattern, token_id) {
            (Some(p), None) => hub.security().revoke_module(p)?,
            (None, Some(id)) => {
                hub.security().revoke_id(id)?;
                1
            }
            _ => {
                return Err(FfiError::new(
                    mc_status::InvalidArgument,
                    "give exactly one of module_pattern (\"*\" for every token) and token_id",
                ))
            }
        };
        // SAFETY: the caller passes NULL or a writable pointer.
        unsafe { write_opt(out_count, n) };
        Ok(())
    })
}

/// Lists tokens of modules matching `module_pattern` (NULL lists all), without their
/// secrets, as a JSON array of `{"tokenId","module","user","scopes","createdAt",
/// "expiresAt","uses","lastUsed"}` sorted by module and creation time. Expired tokens are
/// purged first.
///
/// `hub` is borrowed for the duration of the call. `module_pattern` (nullable) is borrowed
/// for the duration of the call. The caller owns the returned string and frees it with
/// `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_token_list(
    hub: *const mc_hub,
    module_pattern: *const c_char,
    out_json: *mut *mut c_char,
) -> mc_status {
    run("mc_token_list", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a valid C string or NULL.
        let pattern = unsafe { opt_str(module_pattern, "module_pattern") }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = json_out(&hub.security().tokens(pattern)?)?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(text) };
        Ok(())
    })
}

/// Checks a token's text: when it is live, `*out_json` (if not NULL) receives its
/// metadata as in `mc_token_list`; an unknown, expired or revoked token is
/// `MC_STATUS_AUTHENTICATION_FAILED` with one message for all three. Works whether
/// security is on or off, and counts as neither a use nor a failure of the token.
///
/// `hub` is borrowed for the duration of the call. `token` is borrowed for the duration
/// of the call and never copied or shown. `out_json` may be NULL; otherwise the caller
/// owns the returned string and frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_token_verify(
    hub: *const mc_hub,
    token: *const c_char,
    out_json: *mut *mut c_char,
) -> mc_status {
    run("mc_token_verify", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a valid C string or NULL.
        let token = unsafe { arg_str(token, "token") }?;
        let info = hub.security().verify(token)?;
        if !out_json.is_null() {
            let text = json_out(&info)?;
            // SAFETY: not NULL; the caller guarantees it is writable.
            unsafe { out_json.write(text) };
        }
        Ok(())
    })
}

/// Runs the security check of a guarded operation without performing it: may the holder
/// of `token` (NULL for none) do `action` (`"api:call"`, `"events:publish"`,
/// `"events:subscribe"`, `"messages:publish"`, `"messages:subscribe"`) on `target` (the
/// `Module.Operation`, event name or pattern, channel or pattern), claiming to be
/// `source_module` (NULL for no claim)? `MC_STATUS_OK` when allowed (always, while
/// security is off); `MC_STATUS_AUTHENTICATION_FAILED` or `MC_STATUS_AUTHORIZATION_FAILED`
/// otherwise. For bridges that guard operations of their own with the hub's tokens.
///
/// `hub` is borrowed for the duration of the call. `token`, `source_module` (both
/// nullable), `action` and `target` are borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_security_check(
    hub: *const mc_hub,
    token: *const c_char,
    action: *const c_char,
    target: *const c_char,
    source_module: *const c_char,
) -> mc_status {
    run("mc_security_check", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes valid C strings or NULL.
        let token = unsafe { opt_str(token, "token") }?;
        // SAFETY: as above.
        let action_text = unsafe { arg_str(action, "action") }?;
        // SAFETY: as above.
        let target = unsafe { arg_str(target, "target") }?;
        // SAFETY: as above.
        let source_module = unsafe { opt_str(source_module, "source_module") }?;
        let action = Action::parse(action_text).ok_or_else(|| {
            FfiError::new(
                mc_status::InvalidArgument,
                format!(
                    "invalid action '{}': use api:call, events:publish, events:subscribe, messages:publish or \
                     messages:subscribe",
                    action_text.escape_debug()
                ),
            )
        })?;
        hub.ctx().authorize(token, action, target, source_module)?;
        Ok(())
    })
}
