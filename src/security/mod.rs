//! Security between modules of one process: authentication tokens with scopes, an allowed
//! module list, and the check every guarded operation passes (API calls, publishing and
//! subscribing).
//!
//! What it protects against: mistakes and over-reach between cooperating modules — a
//! module calling an API it was not meant to, a script publishing on a channel it should
//! only read, a token left in use after its holder is gone. Least privilege, enforced in
//! one place. What it cannot protect against: code running in the same process can read
//! that process's memory, patch the library, or call the handlers directly; a token is a
//! capability handed between modules, not a defence against a hostile one.
//!
//! ```
//! use std::sync::Arc;
//! use module_communication::{ManualClock, security::{Action, Security, SecuritySettings, TokenRequest}};
//!
//! let clock = Arc::new(ManualClock::new(0));
//! let sec = Security::new(clock.clone());
//! sec.set_settings(SecuritySettings { enabled: true, require_authentication: true, ..SecuritySettings::default() }).unwrap();
//! let t = sec.create_token(TokenRequest::new("LabRunner", ["api:call:LabRunner.*"])).unwrap();
//! assert!(sec.authorize(Some(t.token.expose()), Action::ApiCall, "LabRunner.ExecuteStep", None).is_ok());
//! assert!(sec.authorize(Some(t.token.expose()), Action::ApiCall, "Config.Update", None).is_err());
//! assert!(sec.authorize(None, Action::ApiCall, "LabRunner.ExecuteStep", None).is_err());
//! ```

mod scope;
mod token;

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

pub use scope::{Action, Scope};
pub use token::{SecretToken, TokenText, TOKEN_LEN, TOKEN_PREFIX};

use self::token::TokenDigest;
use crate::clock::Clock;
use crate::error::Error;
use crate::setting_values::{boolean, integer, object, unknown_key};
use crate::sync::{Arc, AtomicBool, AtomicI64, AtomicU64, Ordering, RwLock};
use crate::wildcard::{fold, has_wildcard_chars, with_folded, Pattern};

/// The longest a token may live: one year, in minutes.
pub const MAX_TOKEN_MINUTES: u64 = 525_600;

/// Security settings (the spec's `Security` configuration). JSON (camelCase, keys compare
/// case-insensitively): `{"enabled":false,"requireAuthentication":false,
/// "defaultTokenExpirationMinutes":60,"allowedModules":[]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecuritySettings {
    /// Whether guarded operations are checked at all. Default off. Setting
    /// `requireAuthentication` to true turns it on.
    pub enabled: bool,
    /// Whether guarded operations need a token. Without it, a token that is given is still
    /// checked (a bad one fails), and a call without one goes through.
    pub require_authentication: bool,
    /// Lifetime of tokens created without one, in minutes. 1 ..= 525,600; default 60.
    pub default_token_expiration_minutes: u64,
    /// Modules that may hold tokens (names or `-like` patterns, case-insensitive); empty
    /// allows every module.
    pub allowed_modules: Vec<String>,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            enabled: false,
            require_authentication: false,
            default_token_expiration_minutes: 60,
            allowed_modules: Vec::new(),
        }
    }
}

const SECURITY_KEYS: &str = "enabled, requireAuthentication, defaultTokenExpirationMinutes, allowedModules";

impl SecuritySettings {
    /// A copy with the keys of a JSON object applied; an unknown key or a bad value fails
    /// naming it, and nothing changes.
    pub fn merged_with(&self, map: &serde_json::Map<String, Value>) -> Result<SecuritySettings, Error> {
        let mut next = self.clone();
        for (key, value) in map {
            match key.to_ascii_lowercase().as_str() {
                "enabled" => next.enabled = boolean(key, value)?,
                "requireauthentication" => next.require_authentication = boolean(key, value)?,
                "defaulttokenexpirationminutes" => {
                    next.default_token_expiration_minutes = integer(key, value, 1, MAX_TOKEN_MINUTES)?
                }
                "allowedmodules" => {
                    let list = match value {
                        Value::Null => Vec::new(),
                        Value::String(s) => vec![s.clone()],
                        Value::Array(items) => items
                            .iter()
                            .map(|v| {
                                v.as_str().map(str::to_owned).ok_or_else(|| {
                                    Error::invalid(key, v, "give module names (or -like patterns) as strings")
                                })
                            })
                            .collect::<Result<_, _>>()?,
                        other => {
                            return Err(Error::invalid(key, other, "give an array of module names, or [] for all"))
                        }
                    };
                    for m in &list {
                        if m.trim().is_empty() {
                            return Err(Error::invalid(key, "\"\"", "a module name cannot be empty"));
                        }
                        Pattern::new(m).map_err(|reason| Error::invalid(key, m, reason))?;
                    }
                    next.allowed_modules = list;
                }
                _ => return Err(unknown_key("security", key, SECURITY_KEYS)),
            }
        }
        if next.require_authentication && map.keys().any(|k| k.eq_ignore_ascii_case("requireAuthentication")) {
            next.enabled = true;
        }
        Ok(next)
    }

    /// As [`SecuritySettings::merged_with`], from JSON text.
    pub fn merged_with_json(&self, json: &str) -> Result<SecuritySettings, Error> {
        let map =
            object(json, "security settings", r#"{"requireAuthentication":true,"allowedModules":["LabRunner"]}"#)?;
        self.merged_with(&map)
    }
}

/// What [`Security::create_token`] needs.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// The module that will present the token.
    pub module: String,
    /// Who it is for (free text, shown in listings and as the call's `User`).
    pub user: Option<String>,
    /// What it allows (see [`Scope`]); at least one.
    pub scopes: Vec<String>,
    /// Lifetime in minutes; `None` takes the settings' default.
    pub expiration_minutes: Option<u64>,
}

impl TokenRequest {
    /// A token request for `module` with `scopes` and the default lifetime.
    pub fn new<S: Into<String>>(module: impl Into<String>, scopes: impl IntoIterator<Item = S>) -> TokenRequest {
        TokenRequest {
            module: module.into(),
            user: None,
            scopes: scopes.into_iter().map(Into::into).collect(),
            expiration_minutes: None,
        }
    }

    /// Parses the C ABI's object `{"module","user","scopes":[…],"expirationMinutes"}`.
    pub fn from_json(json: &str) -> Result<TokenRequest, Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Wire {
            module: String,
            #[serde(default)]
            user: Option<String>,
            scopes: Vec<String>,
            #[serde(default)]
            expiration_minutes: Option<u64>,
        }
        const EXPECTED: &str =
            r#"{"module":"LabRunner","user":"SystemAccount","scopes":["api:call"],"expirationMinutes":120}"#;
        let w: Wire = crate::bus::parse_object(json, "token request", EXPECTED)?;
        Ok(TokenRequest { module: w.module, user: w.user, scopes: w.scopes, expiration_minutes: w.expiration_minutes })
    }
}

/// What a token is, without its secret: what listings and `mc_token_list` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// The token's id (a UUID): names it for revoking and in logs. Not a secret.
    pub token_id: String,
    /// The module that presents it.
    pub module: String,
    /// Who it is for.
    pub user: Option<String>,
    /// What it allows, canonically spelled.
    pub scopes: Vec<String>,
    /// When it was created.
    #[serde(serialize_with = "crate::time_fmt::serialize_ms")]
    pub created_at: i64,
    /// When it stops working.
    #[serde(serialize_with = "crate::time_fmt::serialize_ms")]
    pub expires_at: i64,
    /// How many checks it passed.
    pub uses: u64,
    /// When it last passed a check.
    #[serde(serialize_with = "crate::time_fmt::serialize_opt_ms")]
    pub last_used: Option<i64>,
}

/// A new token: the secret (shown this once) and what it is.
#[derive(Debug)]
pub struct NewToken {
    /// The token's text. Give it to the module; the library cannot show it again.
    pub token: SecretToken,
    /// Its metadata.
    pub info: TokenInfo,
}

/// Who passed a check: the token's holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's id.
    pub token_id: Arc<str>,
    /// Its module.
    pub module: Arc<str>,
    /// Its user.
    pub user: Option<Arc<str>>,
}

/// Whether a refusal is about who the caller is or what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyKind {
    /// No token where one is required, or a token that is unknown, expired or revoked
    /// (one message for all three, so a caller cannot tell them apart).
    Authentication,
    /// A valid token that does not allow this: a missing scope, a module outside the
    /// allowed list, or another module's token.
    Authorization,
}

/// Why a security operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityError {
    /// A bad argument (bad scope, empty module name, bad lifetime, malformed JSON…).
    Invalid(Error),
    /// A guarded operation was refused.
    Denied {
        /// Authentication or authorization.
        kind: DenyKind,
        /// What was refused and what to do; never contains token text.
        message: String,
    },
    /// A token cannot be created for a module outside the allowed list.
    ModuleNotAllowed {
        /// The module as given.
        module: String,
        /// The allowed list.
        allowed: Vec<String>,
    },
    /// No token has that id (never created, revoked, or expired and purged).
    TokenNotFound {
        /// The id as given.
        token_id: String,
    },
}

impl From<Error> for SecurityError {
    fn from(e: Error) -> Self {
        SecurityError::Invalid(e)
    }
}

impl fmt::Display for SecurityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecurityError::Invalid(e) => fmt::Display::fmt(e, f),
            SecurityError::Denied { message, .. } => f.write_str(message),
            SecurityError::ModuleNotAllowed { module, allowed } => write!(
                f,
                "module '{module}' is not in the allowed modules ({}); add it with Enable-CommunicationSecurity \
                 -AllowedModules, or create the token for an allowed module",
                allowed.join(", ")
            ),
            SecurityError::TokenNotFound { token_id } => write!(
                f,
                "no token has the id '{token_id}' (never created, already revoked, or expired); list tokens with \
                 Get-AuthenticationTokens (mc_token_list)"
            ),
        }
    }
}

impl std::error::Error for SecurityError {}

impl From<SecurityError> for Error {
    /// The hub's error for a refusal (and for a bad argument); the others cannot come
    /// from a check.
    fn from(e: SecurityError) -> Self {
        match e {
            SecurityError::Invalid(inner) => inner,
            SecurityError::Denied { kind: DenyKind::Authentication, message } => {
                Error::AuthenticationFailed { message }
            }
            SecurityError::Denied { kind: DenyKind::Authorization, message } => Error::AuthorizationFailed { message },
            other => Error::AuthorizationFailed { message: other.to_string() },
        }
    }
}

struct TokenRecord {
    id: Arc<str>,
    module: Arc<str>,
    user: Option<Arc<str>>,
    scopes: Vec<Scope>,
    digest: TokenDigest,
    created_ms: i64,
    expires_ms: i64,
    uses: AtomicU64,
    last_used_ms: AtomicI64,
}

impl TokenRecord {
    fn info(&self) -> TokenInfo {
        let uses = self.uses.load(Ordering::Relaxed);
        TokenInfo {
            token_id: self.id.to_string(),
            module: self.module.to_string(),
            user: self.user.as_deref().map(str::to_owned),
            scopes: self.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: self.created_ms,
            expires_at: self.expires_ms,
            uses,
            last_used: (uses > 0).then(|| self.last_used_ms.load(Ordering::Relaxed)),
        }
    }
}

struct State {
    settings: SecuritySettings,
    allowed: Vec<Pattern>,
    tokens: HashMap<[u8; 16], Arc<TokenRecord>>,
}

impl State {
    fn module_allowed(&self, module: &str) -> bool {
        self.allowed.is_empty() || self.allowed.iter().any(|p| p.is_match(module))
    }
}

/// Counters of the security check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityStats {
    /// Checks passed.
    pub allowed: u64,
    /// Checks refused for authentication.
    pub authentication_failures: u64,
    /// Checks refused for authorization.
    pub authorization_failures: u64,
    /// Tokens alive now.
    pub active_tokens: u64,
}

/// The hub's security: settings, tokens, and the check.
pub struct Security {
    clock: Arc<dyn Clock>,
    enabled: AtomicBool,
    state: RwLock<State>,
    next_expiry_ms: AtomicI64,
    allowed_count: AtomicU64,
    authn_failures: AtomicU64,
    authz_failures: AtomicU64,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.read();
        f.debug_struct("Security").field("settings", &s.settings).field("tokens", &s.tokens.len()).finish()
    }
}

const INVALID_TOKEN: &str = "the authentication token is not valid: it is unknown, expired or revoked. Create a new \
                             one with New-AuthenticationToken (mc_token_create) and pass its Token";

fn compile_allowed(list: &[String]) -> Result<Vec<Pattern>, Error> {
    list.iter().map(|m| Pattern::new(m).map_err(|reason| Error::invalid("allowedModules", m, reason))).collect()
}

/// Checks settings; the allowed modules compiled, for applying them.
fn validated(settings: &SecuritySettings) -> Result<Vec<Pattern>, Error> {
    let minutes = settings.default_token_expiration_minutes;
    if minutes == 0 || minutes > MAX_TOKEN_MINUTES {
        return Err(Error::invalid("defaultTokenExpirationMinutes", minutes, format!("use 1 to {MAX_TOKEN_MINUTES} minutes")));
    }
    compile_allowed(&settings.allowed_modules)
}

fn check_module_name(module: &str) -> Result<(), Error> {
    if module.trim().is_empty() {
        return Err(Error::invalid("module name", module, "give the name of the module that will present the token"));
    }
    if has_wildcard_chars(module) || module.chars().any(char::is_control) || module.chars().count() > 256 {
        return Err(Error::invalid(
            "module name",
            module.escape_debug(),
            "give one module name (1 to 256 characters, no wildcards or control characters)",
        ));
    }
    Ok(())
}

impl Security {
    /// Security off, no tokens, times from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Security {
        Security {
            clock,
            enabled: AtomicBool::new(false),
            state: RwLock::new(State {
                settings: SecuritySettings::default(),
                allowed: Vec::new(),
                tokens: HashMap::new(),
            }),
            next_expiry_ms: AtomicI64::new(i64::MAX),
            allowed_count: AtomicU64::new(0),
            authn_failures: AtomicU64::new(0),
            authz_failures: AtomicU64::new(0),
        }
    }

    /// The settings.
    pub fn settings(&self) -> SecuritySettings {
        self.state.read().settings.clone()
    }

    /// Checks settings without applying them.
    pub fn check_settings(&self, settings: &SecuritySettings) -> Result<(), Error> {
        validated(settings).map(|_| ())
    }

    /// Replaces the settings after checking them. Tokens already created stay; a module
    /// that left the allowed list can no longer use its tokens.
    pub fn set_settings(&self, settings: SecuritySettings) -> Result<(), Error> {
        self.update_settings(|_| Ok(settings)).map(|_| ())
    }

    /// Applies a partial settings object (see [`SecuritySettings`]); all or nothing.
    pub fn update_settings_json(&self, json: &str) -> Result<SecuritySettings, Error> {
        self.update_settings(|current| current.merged_with_json(json))
    }

    /// Changes the settings under one lock: `change` gets the current settings and returns
    /// the next, which are checked before they apply. Two concurrent changes (say
    /// `mc_security_enable` and `mc_config_set`) never lose one another.
    pub fn update_settings(
        &self,
        change: impl FnOnce(SecuritySettings) -> Result<SecuritySettings, Error>,
    ) -> Result<SecuritySettings, Error> {
        let mut s = self.state.write();
        let next = change(s.settings.clone())?;
        let allowed = validated(&next)?;
        self.enabled.store(next.enabled, Ordering::Release);
        s.settings = next.clone();
        s.allowed = allowed;
        Ok(next)
    }

    /// Whether checks run.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Creates a token. Fails for a module outside the allowed list, an unknown scope, no
    /// scope, or a lifetime outside 1 ..= 525,600 minutes.
    pub fn create_token(&self, req: TokenRequest) -> Result<NewToken, SecurityError> {
        check_module_name(&req.module)?;
        if req.scopes.is_empty() {
            return Err(Error::invalid(
                "scopes",
                "(none)",
                "give at least one scope, such as api:call, api:call:LabRunner.*, events:publish or messages:subscribe",
            )
            .into());
        }
        let mut scopes: Vec<Scope> = Vec::with_capacity(req.scopes.len());
        for text in &req.scopes {
            let scope = Scope::parse(text)?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if let Some(u) = &req.user {
            if u.chars().any(char::is_control) || u.chars().count() > 256 {
                return Err(Error::invalid(
                    "user",
                    u.escape_debug(),
                    "use 1 to 256 characters without control characters",
                )
                .into());
            }
        }
        let now = self.clock.now_ms();
        let mut state = self.state.write();
        if !state.module_allowed(&req.module) {
            return Err(SecurityError::ModuleNotAllowed {
                module: req.module,
                allowed: state.settings.allowed_modules.clone(),
            });
        }
        let minutes = req.expiration_minutes.unwrap_or(state.settings.default_token_expiration_minutes);
        if minutes == 0 || minutes > MAX_TOKEN_MINUTES {
            return Err(
                Error::invalid("expirationMinutes", minutes, format!("use 1 to {MAX_TOKEN_MINUTES} minutes")).into()
            );
        }
        self.purge_locked(&mut state, now);
        let (secret, digest) = loop {
            let (secret, digest) = token::generate()?;
            // 2^-128 per existing token; regenerate rather than ever shadow one.
            if !state.tokens.contains_key(&digest.index()) {
                break (secret, digest);
            }
        };
        let expires_ms = now.saturating_add(minutes as i64 * 60_000);
        let record = Arc::new(TokenRecord {
            id: Arc::from(uuid::Uuid::new_v4().hyphenated().to_string()),
            module: Arc::from(req.module),
            user: req.user.filter(|u| !u.is_empty()).map(Arc::from),
            scopes,
            digest,
            created_ms: now,
            expires_ms,
            uses: AtomicU64::new(0),
            last_used_ms: AtomicI64::new(0),
        });
        let info = record.info();
        state.tokens.insert(digest.index(), record);
        self.next_expiry_ms.fetch_min(expires_ms, Ordering::Relaxed);
        Ok(NewToken { token: secret, info })
    }

    fn purge_locked(&self, state: &mut State, now: i64) {
        if now < self.next_expiry_ms.load(Ordering::Relaxed) {
            return;
        }
        state.tokens.retain(|_, t| t.expires_ms > now);
        let next = state.tokens.values().map(|t| t.expires_ms).min().unwrap_or(i64::MAX);
        self.next_expiry_ms.store(next, Ordering::Relaxed);
    }

    /// Removes expired tokens now (they are also removed as they are met). Returns how
    /// many were removed.
    pub fn purge_expired(&self) -> usize {
        let now = self.clock.now_ms();
        let mut s = self.state.write();
        let before = s.tokens.len();
        self.next_expiry_ms.store(i64::MIN, Ordering::Relaxed);
        self.purge_locked(&mut s, now);
        before - s.tokens.len()
    }

    /// Tokens of modules matching the `-like` pattern (all when `None`), without their
    /// secrets, sorted by module then creation time.
    pub fn tokens(&self, module_pattern: Option<&str>) -> Result<Vec<TokenInfo>, SecurityError> {
        let p = module_pattern
            .map(|p| Pattern::new(p).map_err(|reason| Error::invalid("module pattern", p, reason)))
            .transpose()?;
        let now = self.clock.now_ms();
        let mut s = self.state.write();
        self.purge_locked(&mut s, now);
        let mut list: Vec<TokenInfo> = s
            .tokens
            .values()
            .filter(|t| p.as_ref().map_or(true, |p| p.is_match(&t.module)))
            .map(|t| t.info())
            .collect();
        list.sort_by_cached_key(|t| (fold(&t.module), t.created_at, t.token_id.clone()));
        Ok(list)
    }

    /// Revokes every token of the modules matching the `-like` pattern; returns how many.
    pub fn revoke_module(&self, module_pattern: &str) -> Result<usize, SecurityError> {
        let p =
            Pattern::new(module_pattern).map_err(|reason| Error::invalid("module pattern", module_pattern, reason))?;
        let mut s = self.state.write();
        let before = s.tokens.len();
        s.tokens.retain(|_, t| !p.is_match(&t.module));
        Ok(before - s.tokens.len())
    }

    /// Revokes one token by id (case-insensitive). An id that is not a GUID is `Invalid`.
    pub fn revoke_id(&self, token_id: &str) -> Result<(), SecurityError> {
        if uuid::Uuid::parse_str(token_id.trim()).is_err() {
            return Err(SecurityError::Invalid(Error::invalid(
                "token id",
                token_id,
                "a token id is a GUID such as 0f8fad5b-d9cb-469f-a165-70867728950e; list tokens with \
                 Get-AuthenticationTokens (mc_token_list)",
            )));
        }
        let mut s = self.state.write();
        let key = s.tokens.iter().find(|(_, t)| t.id.eq_ignore_ascii_case(token_id.trim())).map(|(k, _)| *k);
        match key {
            Some(k) => {
                s.tokens.remove(&k);
                Ok(())
            }
            None => Err(SecurityError::TokenNotFound { token_id: token_id.to_owned() }),
        }
    }

    /// Revokes every token; returns how many.
    pub fn revoke_all(&self) -> usize {
        let mut s = self.state.write();
        let n = s.tokens.len();
        s.tokens.clear();
        n
    }

    /// Counters.
    pub fn stats(&self) -> SecurityStats {
        SecurityStats {
            allowed: self.allowed_count.load(Ordering::Relaxed),
            authentication_failures: self.authn_failures.load(Ordering::Relaxed),
            authorization_failures: self.authz_failures.load(Ordering::Relaxed),
            active_tokens: {
                let now = self.clock.now_ms();
                self.state.read().tokens.values().filter(|t| t.expires_ms > now).count() as u64
            },
        }
    }

    fn deny(&self, kind: DenyKind, message: String) -> SecurityError {
        match kind {
            DenyKind::Authentication => self.authn_failures.fetch_add(1, Ordering::Relaxed),
            DenyKind::Authorization => self.authz_failures.fetch_add(1, Ordering::Relaxed),
        };
        SecurityError::Denied { kind, message }
    }

    /// Finds the live token whose text is `token`, whatever security's state.
    fn lookup(&self, token: &str, now: i64) -> Option<Arc<TokenRecord>> {
        let digest = TokenDigest::of(token);
        let found = self.state.read().tokens.get(&digest.index()).cloned();
        let record = found.filter(|t| t.digest.matches(&digest))?;
        if now >= record.expires_ms {
            let mut s = self.state.write();
            self.purge_locked(&mut s, now);
            return None;
        }
        Some(record)
    }

    /// Checks a guarded operation: `action` on `target`, by the holder of `token`, which
    /// claims to be `source_module` when given (a publisher's `SourceModule`).
    ///
    /// Security off: always `Ok(None)`, without looking at the token. On: a missing token
    /// fails when authentication is required and passes otherwise; a given token must be
    /// live, its module allowed and equal to `source_module`, and one of its scopes must
    /// allow the action on the target.
    pub fn authorize(
        &self,
        token: Option<&str>,
        action: Action,
        target: &str,
        source_module: Option<&str>,
    ) -> Result<Option<Principal>, SecurityError> {
        if !self.is_enabled() {
            return Ok(None);
        }
        let now = self.clock.now_ms();
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            if self.state.read().settings.require_authentication {
                return Err(self.deny(
                    DenyKind::Authentication,
                    format!(
                        "{action} on '{target}' requires an authentication token, and none was given; create one with \
                         New-AuthenticationToken (mc_token_create) and pass it with -AuthenticationToken"
                    ),
                ));
            }
            self.allowed_count.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        };
        let Some(record) = self.lookup(token, now) else {
            return Err(
                self.deny(DenyKind::Authentication, format!("{action} on '{target}' was refused: {INVALID_TOKEN}"))
            );
        };
        let allowed = self.state.read().module_allowed(&record.module);
        if !allowed {
            return Err(self.deny(
                DenyKind::Authorization,
                format!(
                    "{action} on '{target}' was refused: token {} belongs to module '{}', which is not in the allowed \
                     modules; add it with Enable-CommunicationSecurity -AllowedModules",
                    record.id, record.module
                ),
            ));
        }
        if let Some(claimed) = source_module.filter(|m| !m.is_empty()) {
            if !with_folded(claimed, |c| with_folded(&record.module, |m| c == m)) {
                return Err(self.deny(
                    DenyKind::Authorization,
                    format!(
                        "{action} on '{target}' was refused: it claims to come from module '{claimed}', but token {} \
                         belongs to module '{}'; use that module's own token",
                        record.id, record.module
                    ),
                ));
            }
        }
        if !record.scopes.iter().any(|s| s.allows(action, target)) {
            let have = record.scopes.iter().map(Scope::as_str).collect::<Vec<_>>().join(", ");
            return Err(self.deny(
                DenyKind::Authorization,
                format!(
                    "{action} on '{target}' was refused: token {} of module '{}' has the scopes [{have}], none of \
                     which allows it; create a token with the scope '{action}' or '{action}:{target}'",
                    record.id, record.module
                ),
            ));
        }
        record.uses.fetch_add(1, Ordering::Relaxed);
        record.last_used_ms.store(now, Ordering::Relaxed);
        self.allowed_count.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Principal {
            token_id: Arc::clone(&record.id),
            module: Arc::clone(&record.module),
            user: record.user.clone(),
        }))
    }

    /// Checks a token's text without an operation: its metadata when it is live, else the
    /// same authentication error for unknown, expired and revoked tokens. Works whether
    /// security is on or off.
    pub fn verify(&self, token: &str) -> Result<TokenInfo, SecurityError> {
        let now = self.clock.now_ms();
        match self.lookup(token, now) {
            Some(r) => Ok(r.info()),
            // Not through `deny`: a check of a token is not a refused operation.
            None => Err(SecurityError::Denied { kind: DenyKind::Authentication, message: INVALID_TOKEN.to_owned() }),
        }
    }
}
