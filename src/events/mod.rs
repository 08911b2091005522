//! Events: named messages on event channels, with a bounded in-memory history that may be
//! persisted to a file, queried, exported, imported, and replayed to new subscribers.
//!
//! Events reuse the bus: an event channel is a channel of kind [`ChannelKind::Event`]
//! (made by the first event published to it), the event name is the message type, and an
//! event subscription is a bus subscription of kind `Event` — same queues, priorities,
//! overflow policies, push workers, pull takes and delivery tracking.
//!
//! One lock (`Events::order`) is held around "append to history + route to subscribers"
//! and around "snapshot history + register a subscription", so a subscriber that asks for
//! a replay gets every matching event exactly once: those before its registration from
//! the history, those after it live. The history itself has a lock of its own
//! (`Events::state`), held only while it is read or changed, never while routing, so
//! reading the history does not wait for a publisher that waits for room in a full
//! `Block` queue. Lock order: `order`, then `state`.

mod csv;
mod file;
mod record;

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use record::{EventRequest, DEFAULT_EVENT_CHANNEL};

use crate::bus::{
    check_name, parse_object, Bus, ChannelKind, Envelope, OverflowPolicy, PullNotify, PushHandler, SubscriptionOptions,
};
use crate::clock::Clock;
use crate::error::Error;
use crate::id::{MessageId, SubscriptionId};
use crate::sync::{Arc, Mutex};
use crate::time_fmt::parse_iso_ms;
use crate::wildcard::{fold, has_wildcard_chars, Pattern};
use file::HistoryFile;
use record::{render, EventParts, Loaded};

/// What to subscribe to, and how the queue behaves. Unset values come from the hub's
/// [`Config`](crate::Config) at subscribe time.
///
/// ```
/// use module_communication::EventSubscriptionOptions;
/// let opts = EventSubscriptionOptions::new("Module*").source_module("Lab*").replay_last(10);
/// assert_eq!(opts.replay_last, Some(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventSubscriptionOptions {
    /// Event name or `-like` pattern; `None` means `*`.
    pub name: Option<String>,
    /// Event channel name or pattern; `None` means `*` (every event channel).
    pub channel: Option<String>,
    /// Only events from this source module (name or pattern).
    pub source_module: Option<String>,
    /// Queue capacity; `None` means the configuration's `max_message_queue_size`.
    pub capacity: Option<usize>,
    /// Overflow policy; `None` means the configuration's `default_overflow`.
    pub overflow: Option<OverflowPolicy>,
    /// How long a `Block` publisher waits, in ms; `None` means the configuration's.
    pub block_timeout_ms: Option<u64>,
    /// Replay the newest this-many matching events of the history first.
    pub replay_last: Option<usize>,
    /// Replay the matching events of the history published at or after this time (ms
    /// since the Unix epoch) first. With `replay_last`, the newest that many of those.
    pub replay_since_ms: Option<i64>,
    /// Token presented for the security check (`events:subscribe`); not kept.
    pub authentication_token: Option<crate::security::TokenText>,
}

/// A time given in JSON as an ISO 8601 string or as milliseconds since the Unix epoch. Read
/// as any value, so that anything else is an error naming the key and the value.
#[derive(Deserialize)]
#[serde(transparent)]
struct WireTime(serde_json::Value);

impl WireTime {
    fn to_ms(&self, key: &str) -> Result<i64, Error> {
        const USE: &str =
            "use an ISO 8601 time with a zone, such as 2026-11-27T06:00:00.000Z, or whole milliseconds since 1970";
        match &self.0 {
            serde_json::Value::Number(n) => n.as_i64().ok_or_else(|| Error::invalid(key, n, USE)),
            serde_json::Value::String(t) => parse_iso_ms(t).ok_or_else(|| Error::invalid(key, t, USE)),
            other => Err(Error::invalid(key, other, USE)),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireSubscription {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    source_module: Option<String>,
    #[serde(default)]
    capacity: Option<usize>,
    #[serde(default)]
    overflow: Option<String>,
    #[serde(default)]
    block_timeout_ms: Option<u64>,
    #[serde(default)]
    replay: Option<usize>,
    #[serde(default)]
    since: Option<WireTime>,
    #[serde(default)]
    authentication_token: Option<crate::security::TokenText>,
}

const SUBSCRIPTION_EXPECTED: &str = r#"{"name":"Module*","channel":"*","sourceModule":"Lab*","replay":10}"#;

impl EventSubscriptionOptions {
    /// Options for the event name or pattern `name`, everything else by default.
    pub fn new(name: impl Into<String>) -> Self {
        EventSubscriptionOptions { name: Some(name.into()), ..Default::default() }
    }

    /// Parses the C ABI's event subscription options: `{"name","channel","sourceModule",
    /// "capacity","overflow","blockTimeoutMs","replay","since"}`, all optional; `since` is
    /// an ISO 8601 string or milliseconds since the Unix epoch.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let w: WireSubscription = parse_object(json, "event subscription options", SUBSCRIPTION_EXPECTED)?;
        Ok(EventSubscriptionOptions {
            name: w.name,
            channel: w.channel,
            source_module: w.source_module,
            capacity: w.capacity,
            overflow: w.overflow.as_deref().map(str::parse).transpose()?,
            block_timeout_ms: w.block_timeout_ms,
            replay_last: w.replay,
            replay_since_ms: w.since.map(|t| t.to_ms("since")).transpose()?,
            authentication_token: w.authentication_token,
        })
    }

    /// Only events of these event channels (name or pattern).
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }

    /// Only events whose source module matches.
    pub fn source_module(mut self, module: impl Into<String>) -> Self {
        self.source_module = Some(module.into());
        self
    }

    /// Presents an authentication token for the security check; it is not kept.
    pub fn authentication_token(mut self, token: impl Into<String>) -> Self {
        self.authentication_token = Some(crate::security::TokenText::new(token));
        self
    }

    /// Sets the queue capacity (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Sets the overflow policy.
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = Some(policy);
        self
    }

    /// Replays the newest `n` matching events of the history before live ones.
    pub fn replay_last(mut self, n: usize) -> Self {
        self.replay_last = Some(n);
        self
    }

    /// Replays the matching events published at or after `ms` before live ones.
    pub fn replay_since_ms(mut self, ms: i64) -> Self {
        self.replay_since_ms = Some(ms);
        self
    }

    fn bus_options(&self) -> SubscriptionOptions {
        SubscriptionOptions {
            channel: self.channel.clone().unwrap_or_else(|| "*".to_owned()),
            message_type: Some(self.name.clone().unwrap_or_else(|| "*".to_owned())),
            capacity: self.capacity,
            overflow: self.overflow,
            block_timeout_ms: self.block_timeout_ms,
            source_module: self.source_module.clone(),
            authentication_token: None,
        }
    }
}

/// Which events of the history to read, clear or export. Every part is optional.
///
/// ```
/// use module_communication::EventQuery;
/// let q = EventQuery::default().name("LabStep*").last(20);
/// assert_eq!(q.last, Some(20));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventQuery {
    /// Event name or `-like` pattern.
    pub name: Option<String>,
    /// Event channel name or pattern.
    pub channel: Option<String>,
    /// Source module name or pattern; events without a source never match one.
    pub source_module: Option<String>,
    /// Only events published at or after this time (ms since the Unix epoch).
    pub since_ms: Option<i64>,
    /// Only the newest this-many of the matching events.
    pub last: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireQuery {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    source_module: Option<String>,
    #[serde(default)]
    since: Option<WireTime>,
    #[serde(default)]
    last: Option<usize>,
}

impl EventQuery {
    /// Parses the C ABI's query object `{"name","channel","sourceModule","since","last"}`.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let w: WireQuery =
            parse_object(json, "event query", r#"{"name":"LabStep*","since":"2026-11-27T06:00:00Z","last":20}"#)?;
        Ok(EventQuery {
            name: w.name,
            channel: w.channel,
            source_module: w.source_module,
            since_ms: w.since.map(|t| t.to_ms("since")).transpose()?,
            last: w.last,
        })
    }

    /// Only events whose name matches.
    pub fn name(mut self, pattern: impl Into<String>) -> Self {
        self.name = Some(pattern.into());
        self
    }

    /// Only the newest `n` matching events.
    pub fn last(mut self, n: usize) -> Self {
        self.last = Some(n);
        self
    }

    /// Only events published at or after `ms`.
    pub fn since_ms(mut self, ms: i64) -> Self {
        self.since_ms = Some(ms);
        self
    }

    /// Only events from a matching source module.
    pub fn source_module(mut self, pattern: impl Into<String>) -> Self {
        self.source_module = Some(pattern.into());
        self
    }
}

/// Compiled patterns of a query or a replay.
struct Matcher {
    name: Option<Pattern>,
    channel: Option<Pattern>,
    /// The channel asked for by its exact name (folded), if it was: events of a private
    /// channel match only that, never a pattern or no channel at all.
    exact_channel: Option<String>,
    source: Option<Pattern>,
    since_ms: Option<i64>,
    last: Option<usize>,
}

fn pattern(param: &str, text: &Option<String>) -> Result<Option<Pattern>, Error> {
    match text {
        None => Ok(None),
        Some(t) if t.is_empty() => Err(Error::invalid(param, "", "give a name or a pattern such as 'Module*'")),
        Some(t) => Pattern::new(t).map(Some).map_err(|r| Error::invalid(param, t, r)),
    }
}

impl Matcher {
    fn new(q: &EventQuery) -> Result<Matcher, Error> {
        Ok(Matcher {
            name: pattern("event name", &q.name)?,
            channel: pattern("channel", &q.channel)?,
            exact_channel: q.channel.as_deref().filter(|c| !has_wildcard_chars(c)).map(fold),
            source: pattern("sourceModule", &q.source_module)?,
            since_ms: q.since_ms,
            last: q.last,
        })
    }

    fn is_match(&self, e: &Envelope) -> bool {
        self.name.as_ref().map_or(true, |p| p.is_match_folded(e.message_type_key()))
            && self.channel.as_ref().map_or(true, |p| p.is_match_folded(&e.channel.key))
            && (!e.channel.private || self.exact_channel.as_deref() == Some(e.channel.key.as_str()))
            && self.source.as_ref().map_or(true, |p| e.source_module_key().is_some_and(|m| p.is_match_folded(m)))
            && self.since_ms.map_or(true, |s| e.timestamp_ms() >= s)
    }

    /// The matching events of `ring`, oldest first, the newest `last` of them if set.
    fn select<'a>(&self, ring: impl DoubleEndedIterator<Item = &'a Arc<Envelope>>) -> Vec<Arc<Envelope>> {
        let mut out: Vec<Arc<Envelope>> = match self.last {
            Some(n) => ring.rev().filter(|e| self.is_match(e)).take(n).cloned().collect(),
            None => ring.filter(|e| self.is_match(e)).cloned().collect(),
        };
        if self.last.is_some() {
            out.reverse();
        }
        out
    }
}

/// The file formats of [`Hub::export_events`](crate::Hub::export_events) and
/// [`Hub::import_events`](crate::Hub::import_events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum HistoryFormat {
    /// One JSON record per line, the history file's own format.
    JsonLines,
    /// A header row and one row per event; `Data` and `TypeHints` hold JSON text.
    Csv,
}

/// The state of the event history, as returned by
/// [`Hub::event_history_info`](crate::Hub::event_history_info).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryInfo {
    /// Events in the history now.
    pub count: usize,
    /// The most it keeps (`maxEventHistory`).
    pub capacity: usize,
    /// The history file, if persistence is on.
    pub path: Option<String>,
    /// Its size in bytes (0 without a file).
    pub file_bytes: u64,
    /// The rotation size (0 = never).
    pub max_bytes: u64,
    /// Warnings of the last load of a history file (a skipped torn last line).
    pub load_warnings: Vec<String>,
}

/// What an import did, as returned by [`Hub::import_events`](crate::Hub::import_events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// Complete records read from the file.
    pub read: usize,
    /// Events added to the history (and kept: the history holds at most its capacity).
    pub imported: usize,
    /// Records skipped because an event with that id is in the history already.
    pub duplicates: usize,
    /// New events that did not fit (older than everything the full history keeps).
    pub over_capacity: usize,
    /// Warnings (a skipped torn last record).
    pub warnings: Vec<String>,
}

struct State {
    ring: VecDeque<Arc<Envelope>>,
    capacity: usize,
    file: Option<HistoryFile>,
    load_warnings: Vec<String>,
}

impl State {
    fn push(&mut self, env: Arc<Envelope>) {
        if self.capacity == 0 {
            return;
        }
        while self.ring.len() >= self.capacity {
            self.ring.pop_front();
        }
        self.ring.push_back(env);
    }

    fn trim(&mut self) {
        while self.ring.len() > self.capacity {
            self.ring.pop_front();
        }
    }
}

/// The event system of one hub.
pub(crate) struct Events {
    /// Serializes publishing and replaying subscribes (see the module documentation).
    order: Mutex<()>,
    state: Mutex<State>,
}

/// Whether two paths name one file: resolved through links and `.`/`..` as far as they exist
/// (a file not made yet is resolved through its folder).
fn same_file(a: &Path, b: &Path) -> bool {
    fn resolved(p: &Path) -> PathBuf {
        if let Ok(full) = std::fs::canonicalize(p) {
            return full;
        }
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        match (std::fs::canonicalize(dir), p.file_name()) {
            (Ok(dir), Some(name)) => dir.join(name),
            _ => p.to_path_buf(),
        }
    }
    resolved(a) == resolved(b)
}

/// Whether `path` is the event history file `history` or its rotated part (`.1`).
pub(crate) fn is_history_file(history: &Path, path: &Path) -> bool {
    [history.to_path_buf(), file::rotated_path(history)].iter().any(|p| same_file(p, path))
}

/// An export or import path: an empty one names no file.
fn check_path(path: &Path) -> Result<(), Error> {
    if path.as_os_str().is_empty() {
        return Err(Error::invalid("path", "", "the path is empty; give the file to write or read"));
    }
    Ok(())
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

impl Events {
    pub fn new(capacity: usize) -> Events {
        Events {
            order: Mutex::new(()),
            state: Mutex::new(State { ring: VecDeque::new(), capacity, file: None, load_warnings: Vec::new() }),
        }
    }

    /// Renders records read from a file, creating their event channels.
    fn materialize(bus: &Bus, records: Vec<Loaded>) -> Result<Vec<Arc<Envelope>>, Error> {
        records.into_iter().map(|r| Ok(Arc::new(render(bus.event_channel(&r.channel)?, r.parts())))).collect()
    }

    /// The publishing order lock. Another publisher may hold it for as long as a full
    /// `Block` queue makes it wait; a publish that can be cancelled (see [`crate::bus::cancel`])
    /// looks at its flag while it waits, and gives up, having done nothing, once it is set.
    fn lock_to_publish(&self) -> Result<crate::sync::MutexGuard<'_, ()>, Error> {
        if !crate::bus::cancel::has_flag() {
            return Ok(self.order.lock());
        }
        loop {
            if let Some(order) = self.order.try_lock_for(std::time::Duration::from_millis(20)) {
                return Ok(order);
            }
            if crate::bus::cancel::cancelled() {
                let operation = "publishing the event, which waited for another publisher (itself waiting for room in a full Block queue),";
                return Err(Error::Cancelled { operation: operation.to_owned() });
            }
        }
    }

    pub fn publish(&self, bus: &Bus, clock: &dyn Clock, req: EventRequest) -> Result<MessageId, Error> {
        req.validate()?;
        let channel = bus.event_channel(req.channel_name())?;
        let id = MessageId::new_v4();
        let (rejected, timestamp_ms) = {
            let _order = self.lock_to_publish()?;
            // Read under the lock, so history order and timestamps agree.
            let now_ns = clock.now_ns();
            let timestamp_ms = now_ns.div_euclid(1_000_000);
            let env = Arc::new(render(
                channel,
                EventParts {
                    id,
                    name: &req.name,
                    data: req.data.as_deref().map(|d| d.get()),
                    source_module: req.source_module.as_deref(),
                    priority: req.priority,
                    timestamp_ms,
                    correlation_id: req.correlation_id.as_deref(),
                    type_hints: req.type_hints.as_deref().map(|h| h.get()),
                },
            )
            .published_at_ns(now_ns));
            {
                let mut st = self.state.lock();
                // Persist first: if the file cannot take it, the event is not published at all.
                if let Some(file) = &mut st.file {
                    file.append(env.to_json())?;
                }
                st.push(Arc::clone(&env));
            }
            (bus.route(&env), timestamp_ms)
        };
        let broadcast_rejected = if req.broadcast { broadcast(bus, &req, id, timestamp_ms)? } else { 0 };
        finish(id, rejected + broadcast_rejected)
    }

    /// Subscribes; with a replay, the matching history is queued first, atomically with
    /// the registration (see the module documentation).
    pub fn subscribe(&self, bus: &Bus, opts: EventSubscriptionOptions, how: Delivery) -> Result<SubscriptionId, Error> {
        let bus_opts = opts.bus_options();
        // Checks the patterns under the names users know (the bus would say "messageType"):
        // a blank, over-long or control-character name, as publishing does, then the pattern.
        if let Some(name) = bus_opts.message_type.as_deref().filter(|n| !n.is_empty()) {
            check_name("event name", name)?;
        }
        let matcher = Matcher::new(&EventQuery {
            name: bus_opts.message_type.clone(),
            channel: Some(bus_opts.channel.clone()),
            source_module: opts.source_module.clone(),
            since_ms: opts.replay_since_ms,
            last: opts.replay_last,
        })?;
        let replay = opts.replay_last.is_some() || opts.replay_since_ms.is_some();
        let order = replay.then(|| self.order.lock());
        let preload: Vec<Arc<Envelope>> = if replay {
            matcher.select(self.state.lock().ring.iter()).iter().map(|e| Arc::new(e.replay_copy())).collect()
        } else {
            Vec::new()
        };
        let id = match how {
            Delivery::Push(handler) => bus.subscribe_push_as(bus_opts, ChannelKind::Event, preload, handler),
            Delivery::Pull(notify) => bus.subscribe_pull_as(bus_opts, ChannelKind::Event, preload, notify),
        };
        drop(order);
        id
    }

    pub fn query(&self, q: &EventQuery) -> Result<Vec<Arc<Envelope>>, Error> {
        let m = Matcher::new(q)?;
        Ok(m.select(self.state.lock().ring.iter()))
    }

    /// Removes matching events from the history and from the history file, which may hold
    /// events memory no longer does (a smaller MaxEventHistory, or 0); the file is rewritten
    /// to the events it held that do not match. Returns how many distinct events were
    /// removed. On an error nothing changes.
    pub fn clear(&self, bus: &Bus, q: &EventQuery) -> Result<usize, Error> {
        if let Some(n) = q.last {
            // "The newest n" differs between memory and the file (imports append older events).
            return Err(Error::invalid("last", n, "clearing selects by name, channel, source module and since; not by last"));
        }
        let m = Matcher::new(q)?;
        let mut st = self.state.lock();
        let mut removed: HashSet<MessageId> = m.select(st.ring.iter()).iter().map(|e| e.id()).collect();
        if let Some(f) = &mut st.file {
            let on_file = Self::materialize(bus, f.read_records()?)?;
            let matching: HashSet<MessageId> = m.select(on_file.iter()).iter().map(|e| e.id()).collect();
            if !matching.is_empty() {
                let kept: Vec<&str> =
                    on_file.iter().filter(|e| !matching.contains(&e.id())).map(|e| e.to_json()).collect();
                f.rewrite(&kept)?;
                removed.extend(matching);
            }
        }
        st.ring.retain(|e| !removed.contains(&e.id()));
        Ok(removed.len())
    }

    pub fn export(&self, path: &Path, format: HistoryFormat, q: &EventQuery) -> Result<usize, Error> {
        check_path(path)?;
        // Through a symbolic link to the file it names, which is replaced; the link stays.
        let path = &crate::files::follow_link(path);
        if let Some(live) = self.state.lock().file.as_ref().map(|f| f.path().to_owned()) {
            // Replacing the live history file (or its rotated part) would lose what it holds
            // and every event appended afterwards, which would go to the replaced file, and
            // replacing its lock file would let another hub in. (The temporary file the export
            // is written through is always a new one: it never is the history file.)
            let lock = file::lock_path(&live);
            if is_history_file(&live, path) || same_file(&lock, path) {
                return Err(Error::invalid(
                    "path",
                    display(path),
                    "it is the event history file the hub writes to (EventHistoryPath); export to another file",
                ));
            }
        }
        let events = self.query(q)?;
        let rows: Vec<String> = match format {
            HistoryFormat::JsonLines => events.iter().map(|e| e.to_json().to_owned()).collect(),
            HistoryFormat::Csv => {
                std::iter::once(csv::header()).chain(events.iter().map(|e| csv::row(e.to_json()))).collect()
            }
        };
        let end = if format == HistoryFormat::JsonLines { "\n" } else { "" };
        file::write_atomically(path, rows.iter().map(|r| (r.as_str(), end)))?;
        Ok(events.len())
    }

    pub fn import(&self, bus: &Bus, path: &Path, format: HistoryFormat) -> Result<ImportReport, Error> {
        check_path(path)?;
        // Only a regular file: a named pipe would block and a device such as /dev/zero never end.
        let bytes = crate::files::open_regular(path, std::fs::OpenOptions::new().read(true))
            .and_then(|mut f| {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut f, &mut bytes).map(|_| bytes)
            })
            .map_err(|e| Error::io(display(path), "read", &e))?;
        let (records, warnings) = match format {
            HistoryFormat::JsonLines => {
                let (records, _, warning) = file::parse_lines(path, &bytes)?;
                (records, warning.into_iter().collect())
            }
            HistoryFormat::Csv => {
                let text = std::str::from_utf8(&bytes).map_err(|e| Error::CorruptFile {
                    path: display(path),
                    line: 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count(),
                    detail: "the file is not UTF-8 text".to_owned(),
                })?;
                csv::parse(&display(path), text)?
            }
        };
        let read = records.len();
        let events = Self::materialize(bus, records)?;
        let mut st = self.state.lock();
        let mut known: HashSet<MessageId> = st.ring.iter().map(|e| e.id()).collect();
        let on_file = match &st.file {
            Some(f) => Self::materialize(bus, f.read_records()?)?,
            None => Vec::new(),
        };
        known.extend(on_file.iter().map(|e| e.id()));
        let mut fresh = Vec::new();
        let mut duplicates = 0;
        for e in events {
            if known.insert(e.id()) {
                fresh.push(e);
            } else {
                duplicates += 1;
            }
        }
        fresh.sort_by_key(|e| e.timestamp_ms()); // stable: equal times keep their order
        let fresh_ids: HashSet<MessageId> = fresh.iter().map(|e| e.id()).collect();
        // The file gets every new event, as it gets every published one (also with a history
        // of 0): it is rewritten to what it held plus the new events, in time order, its .1
        // folded in. Appending would rotate on the way and push the file's own events out.
        if let (Some(f), false) = (&mut st.file, fresh.is_empty()) {
            let mut all: Vec<&Arc<Envelope>> = on_file.iter().chain(fresh.iter()).collect();
            all.sort_by_key(|e| e.timestamp_ms());
            f.rewrite(&all.into_iter().map(|e| e.to_json()).collect::<Vec<_>>())?;
        }
        let mut merged: Vec<Arc<Envelope>> = st.ring.drain(..).chain(fresh).collect();
        merged.sort_by_key(|e| e.timestamp_ms());
        st.ring = merged.into();
        st.trim();
        let imported = st.ring.iter().filter(|e| fresh_ids.contains(&e.id())).count();
        Ok(ImportReport { read, imported, duplicates, over_capacity: fresh_ids.len() - imported, warnings })
    }

    /// Sets how many events the history keeps, dropping the oldest beyond it.
    pub fn set_capacity(&self, capacity: usize) {
        let mut st = self.state.lock();
        st.capacity = capacity;
        st.trim();
    }

    /// Turns persistence on (merging the file's events with those in memory in time order),
    /// moves it to another file, changes the rotation size, or turns it off. On an error
    /// nothing changes.
    pub fn configure_file(&self, bus: &Bus, path: Option<&str>, max_bytes: u64, capacity: usize) -> Result<(), Error> {
        let mut st = self.state.lock();
        let Some(path) = path else {
            st.file = None;
            st.load_warnings.clear();
            return Ok(());
        };
        let path = Path::new(path);
        if let Some(f) = &mut st.file {
            // The same file by another name (or a link to it) is the file in use, not a new one.
            if same_file(f.path(), path) {
                f.set_max_bytes(max_bytes);
                return Ok(());
            }
            // The file in use and the new one would rotate one onto the other. Said here: the
            // lock check further on would blame another hub, as this hub still holds the file.
            let current = display(f.path());
            let reason = if is_history_file(f.path(), path) {
                Some(format!(
                    "it is the rotated part ('.1') of '{current}', the event history file this hub writes to \
                     (its older events move there when it rotates); choose another path"
                ))
            } else if is_history_file(path, f.path()) {
                Some(format!(
                    "its rotated part ('.1') would be '{current}', the event history file this hub writes to; \
                     choose another path"
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::invalid("eventHistoryPath", display(path), reason));
            }
        }
        let (file, outcome) = HistoryFile::open(path, max_bytes)?;
        let loaded = Self::materialize(bus, outcome.records)?;
        let from_file: HashSet<MessageId> = loaded.iter().map(|e| e.id()).collect();
        let mut ring: VecDeque<Arc<Envelope>> = loaded.into();
        let kept: Vec<Arc<Envelope>> = st.ring.iter().filter(|e| !from_file.contains(&e.id())).cloned().collect();
        ring.extend(kept);
        // Oldest first, whatever came from where: switching back to an earlier file must not
        // put its events after newer ones (replay takes the newest). Stable, and at the file's
        // millisecond precision, so events of one millisecond keep the file's order.
        ring.make_contiguous().sort_by_key(|e| e.published_ns.div_euclid(1_000_000));
        st.ring = ring;
        st.capacity = capacity; // the capacity set with the path, so a larger one loads more
        st.trim();
        st.file = Some(file);
        st.load_warnings = outcome.warnings;
        Ok(())
    }

    pub fn info(&self) -> HistoryInfo {
        let st = self.state.lock();
        HistoryInfo {
            count: st.ring.len(),
            capacity: st.capacity,
            path: st.file.as_ref().map(|f| display(f.path())),
            file_bytes: st.file.as_ref().map_or(0, HistoryFile::len),
            max_bytes: st.file.as_ref().map_or(0, HistoryFile::max_bytes),
            load_warnings: st.load_warnings.clone(),
        }
    }
}

/// How an event subscription receives its events.
pub(crate) enum Delivery {
    Push(PushHandler),
    Pull(Option<PullNotify>),
}

fn finish(id: MessageId, rejected: usize) -> Result<MessageId, Error> {
    match rejected {
        0 => Ok(id),
        rejected => Err(Error::QueueFull { message_id: id, rejected }),
    }
}

/// Delivers the event to every message channel as a message (same id, time, data, source,
/// priority and correlation id; the event name as message type). Returns the rejections.
fn broadcast(bus: &Bus, req: &EventRequest, id: MessageId, timestamp_ms: i64) -> Result<usize, Error> {
    let mut rejected = 0;
    for channel in bus.message_channels() {
        match bus.publish_as(&req.to_message(&channel.name), id, Some(timestamp_ms)) {
            Ok(_) => {}
            Err(Error::QueueFull { rejected: r, .. }) => rejected += r,
            // Removed since the list was taken: it no longer exists to broadcast to.
            Err(Error::ChannelNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(rejected)
}
