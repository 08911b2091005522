//! Message tracing (`Enable-MessageTracing`, `mc_trace_enable`): JSON-line records of
//! publishing, delivery, API calls and middleware stages, errors and slow operations.
//!
//! **Cost when off:** every hook first does one relaxed atomic load of the level
//! ([`Tracer::level`]) and returns when it is 0. Nothing else runs.
//!
//! **When on:** a record is built on the calling thread, pushed into a bounded in-memory
//! ring (newest `ringSize` kept, read by `Get-MessageTrace` / `mc_trace_read`), and, with
//! `logToFile`, offered to a bounded crossbeam channel that a background writer thread
//! drains into the file. The hot path never waits on disk: when the channel is full the
//! record is dropped from the file and counted (`droppedRecords`). The writer rotates the
//! file when the next line would take it past `maxFileBytes`: `trace.log` is renamed to
//! `trace.log.1` (then `.2`, …, numbered in order of rotation) and a new `trace.log` begins.
//!
//! **Levels.** `Basic`: publish, API call (one record per call), errors, slow operations.
//! `Verbose`: in addition, each delivery's outcome (push and pull) and each middleware stage.
//!
//! **Secrets.** Records never contain message data, API parameters, headers or user
//! objects; error texts go through the same redaction as the metrics (`token=…`,
//! `Bearer …`, … become `***`).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender, TrySendError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::sync::{Arc, AtomicU64, AtomicU8, Mutex, Ordering, RwLock};
use crate::time_fmt::format_ms;

/// Default size at which the trace file rotates: 10 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Default number of records the in-memory ring keeps.
pub const DEFAULT_RING_SIZE: usize = 10_000;
/// Default duration from which an API call or delivery counts as slow.
pub const DEFAULT_SLOW_MS: u64 = 1_000;
/// Default capacity of the channel to the writer thread.
pub const DEFAULT_QUEUE_CAPACITY: usize = 8_192;

/// How much is traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceLevel {
    /// Publish, API calls, errors, slow operations.
    Basic,
    /// Basic plus each delivery outcome and each middleware stage.
    Verbose,
}

impl TraceLevel {
    fn code(self) -> u8 {
        match self {
            TraceLevel::Basic => 1,
            TraceLevel::Verbose => 2,
        }
    }
}

/// Options of [`Tracer::enable`] (`mc_trace_enable`'s JSON, every key optional).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TraceOptions {
    /// `"Basic"` (default) or `"Verbose"`.
    #[serde(default = "default_level")]
    pub level: TraceLevel,
    /// Write records to `file_path` through the background writer.
    #[serde(default)]
    pub log_to_file: bool,
    /// The trace file (required with `log_to_file`); its folder is created.
    #[serde(default)]
    pub file_path: Option<PathBuf>,
    /// Size at which the file rotates (at least 1024).
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Records kept in memory for [`Tracer::read`] (at least 1).
    #[serde(default = "default_ring_size")]
    pub ring_size: usize,
    /// Operations that take at least this long also get a `slow` record.
    #[serde(default = "default_slow_ms")]
    pub slow_threshold_ms: u64,
    /// Capacity of the channel to the writer thread (at least 1).
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
}

fn default_level() -> TraceLevel {
    TraceLevel::Basic
}
fn default_max_file_bytes() -> u64 {
    DEFAULT_MAX_FILE_BYTES
}
fn default_ring_size() -> usize {
    DEFAULT_RING_SIZE
}
fn default_slow_ms() -> u64 {
    DEFAULT_SLOW_MS
}
fn default_queue_capacity() -> usize {
    DEFAULT_QUEUE_CAPACITY
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            level: TraceLevel::Basic,
            log_to_file: false,
            file_path: None,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            ring_size: DEFAULT_RING_SIZE,
            slow_threshold_ms: DEFAULT_SLOW_MS,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }
}

impl TraceOptions {
    /// Parses `mc_trace_enable`'s options: `{"level":"Verbose","logToFile":true,
    /// "filePath":"trace.log","maxFileBytes":10485760,"ringSize":10000,"slowThresholdMs":1000,
    /// "queueCapacity":8192}`.
    pub fn from_json(json: &str) -> Result<TraceOptions, Error> {
        crate::bus::parse_object(
            json,
            "trace options",
            r#"{"level":"Basic|Verbose","logToFile":true,"filePath":"trace.log","maxFileBytes":10485760,"ringSize":10000,"slowThresholdMs":1000,"queueCapacity":8192}"#,
        )
    }

    fn validate(&self) -> Result<(), Error> {
        if self.log_to_file && self.file_path.as_ref().map_or(true, |p| p.as_os_str().is_empty()) {
            return Err(Error::invalid("filePath", "(none)", "give a trace file path when logging to a file"));
        }
        if self.max_file_bytes < 1024 {
            return Err(Error::invalid("maxFileBytes", self.max_file_bytes, "use at least 1024 bytes"));
        }
        if self.ring_size == 0 {
            return Err(Error::invalid("ringSize", 0, "keep at least 1 record in memory"));
        }
        if self.queue_capacity == 0 {
            return Err(Error::invalid("queueCapacity", 0, "use a capacity of at least 1"));
        }
        Ok(())
    }
}

/// Options of [`Tracer::disable`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisableOptions {
    /// Compress the trace file(s) into one `.log.gz` in `archive_path`.
    #[serde(default)]
    pub archive_logs: bool,
    /// The archive folder (created if missing); default: the trace file's folder.
    #[serde(default)]
    pub archive_path: Option<PathBuf>,
}

impl DisableOptions {
    /// Parses `{"archiveLogs":true,"archivePath":"trace-archive"}`.
    pub fn from_json(json: &str) -> Result<DisableOptions, Error> {
        crate::bus::parse_object(json, "trace disable options", r#"{"archiveLogs":true,"archivePath":"trace-archive"}"#)
    }
}

/// What [`Tracer::disable`] reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceSummary {
    /// Whether tracing was on before the call.
    pub was_enabled: bool,
    /// Records made since tracing was enabled.
    pub records: u64,
    /// Records the file never got because the writer's channel was full.
    pub dropped_records: u64,
    /// Trace files written, oldest first.
    pub files: Vec<String>,
    /// The compressed archive, when asked for.
    pub archive: Option<String>,
    /// A write error of the writer thread, if any (the trace file may be incomplete).
    pub write_error: Option<String>,
}

/// The tracing state: whether it is on, what it is doing, and what it kept.
pub(crate) struct Tracer {
    /// 0 off, 1 Basic, 2 Verbose: the one load the hot path makes.
    level: AtomicU8,
    slow_ns: AtomicU64,
    records: AtomicU64,
    dropped: AtomicU64,
    state: Mutex<Option<Active>>,
    /// The writer's channel, apart from `state` so that emitting threads share a read lock
    /// (only enable and disable take it for writing, to swap it).
    sender: RwLock<Option<Sender<Arc<str>>>>,
    ring: Mutex<Ring>,
}

struct Ring {
    cap: usize,
    items: VecDeque<Arc<str>>,
}

struct Active {
    options: TraceOptions,
    writer: Option<JoinHandle<WriterOutcome>>,
}

struct WriterOutcome {
    files: Vec<PathBuf>,
    error: Option<String>,
}

impl Default for Tracer {
    fn default() -> Self {
        Tracer {
            level: AtomicU8::new(0),
            slow_ns: AtomicU64::new(DEFAULT_SLOW_MS * 1_000_000),
            records: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            state: Mutex::new(None),
            sender: RwLock::new(None),
            ring: Mutex::new(Ring { cap: DEFAULT_RING_SIZE, items: VecDeque::new() }),
        }
    }
}

impl Tracer {
    /// 0 when off, 1 Basic, 2 Verbose. One relaxed load: the whole cost of tracing when off.
    #[inline]
    pub fn level(&self) -> u8 {
        self.level.load(Ordering::Relaxed)
    }

    /// Whether an operation of `ns` counts as slow.
    pub fn is_slow(&self, ns: u64) -> bool {
        ns >= self.slow_ns.load(Ordering::Relaxed)
    }

    /// Turns tracing on (or changes its options: a running file writer is closed first).
    pub fn enable(&self, options: TraceOptions) -> Result<(), Error> {
        options.validate()?;
        let mut state = self.state.lock();
        // Open the new file before touching the current state, so a bad path changes nothing.
        let file = match (&options.file_path, options.log_to_file) {
            (Some(p), true) => Some(open_trace_file(p)?),
            _ => None,
        };
        if let Some(old) = state.take() {
            self.level.store(0, Ordering::Relaxed);
            drop(self.sender.write().take());
            finish(old);
        }
        let (sender, writer) = match file {
            Some(file) => {
                let (tx, rx) = bounded::<Arc<str>>(options.queue_capacity);
                let path = options.file_path.clone().expect("checked above");
                let max = options.max_file_bytes;
                let handle = std::thread::Builder::new()
                    .name("mc-trace-writer".into())
                    .spawn(move || write_loop(rx, path, file, max))
                    .map_err(|e| Error::invalid("trace writer", "thread", format!("could not start it: {e}")))?;
                (Some(tx), Some(handle))
            }
            None => (None, None),
        };
        {
            let mut ring = self.ring.lock();
            // A new trace starts with an empty buffer.
            ring.cap = options.ring_size;
            ring.items.clear();
        }
        self.records.store(0, Ordering::Relaxed);
        self.dropped.store(0, Ordering::Relaxed);
        self.slow_ns.store(options.slow_threshold_ms.saturating_mul(1_000_000), Ordering::Relaxed);
        let level = options.level.code();
        *self.sender.write() = sender;
        *state = Some(Active { options, writer });
        self.level.store(level, Ordering::Relaxed);
        Ok(())
    }

    /// Turns tracing off: waits for the writer to write what it has, closes the file, and
    /// with `archive_logs` compresses the trace file(s) into one `.log.gz`. The in-memory
    /// ring keeps its records for [`Tracer::read`].
    pub fn disable(&self, options: &DisableOptions, now_ms: i64) -> Result<TraceSummary, Error> {
        let mut state = self.state.lock();
        self.level.store(0, Ordering::Relaxed);
        let Some(active) = state.take() else {
            if options.archive_logs {
                return Err(Error::invalid(
                    "archiveLogs",
                    true,
                    "tracing is not on, so there is no trace to archive; enable it with a file first",
                ));
            }
            return Ok(TraceSummary::default());
        };
        let log_path = active.options.file_path.clone().filter(|_| active.options.log_to_file);
        drop(self.sender.write().take());
        let outcome = finish(active);
        let mut summary = TraceSummary {
            was_enabled: true,
            records: self.records.load(Ordering::Relaxed),
            dropped_records: self.dropped.load(Ordering::Relaxed),
            files: outcome.files.iter().map(|p| p.display().to_string()).collect(),
            archive: None,
            write_error: outcome.error,
        };
        if options.archive_logs {
            let Some(log_path) = log_path else {
                return Err(Error::invalid(
                    "archiveLogs",
                    true,
                    "tracing wrote to memory only (no -LogToFile), so there is no file to archive; \
                     read the records with Get-MessageTrace",
                ));
            };
            let folder = match &options.archive_path {
                Some(p) => p.clone(),
                None => log_path.parent().map(Path::to_path_buf).unwrap_or_default(),
            };
            summary.archive = Some(archive(&outcome.files, &log_path, &folder, now_ms)?.display().to_string());
        }
        Ok(summary)
    }

    /// The newest `last` records of the ring (all with `None`), oldest first, as a JSON array.
    pub fn read(&self, last: Option<usize>) -> String {
        let ring = self.ring.lock();
        let n = last.unwrap_or(ring.items.len()).min(ring.items.len());
        let mut out = String::from("[");
        for (i, r) in ring.items.iter().skip(ring.items.len() - n).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r);
        }
        out.push(']');
        out
    }

    /// The state as JSON: `{"enabled","level","logToFile","filePath","records","droppedRecords"}`.
    pub fn status_json(&self) -> String {
        let state = self.state.lock();
        let mut m = Map::new();
        m.insert("enabled".into(), Value::Bool(state.is_some()));
        if let Some(a) = state.as_ref() {
            m.insert("level".into(), serde_json::to_value(a.options.level).unwrap_or(Value::Null));
            m.insert("logToFile".into(), Value::Bool(a.options.log_to_file));
            m.insert(
                "filePath".into(),
                a.options.file_path.as_ref().map_or(Value::Null, |p| Value::String(p.display().to_string())),
            );
        }
        m.insert("records".into(), self.records.load(Ordering::Relaxed).into());
        m.insert("droppedRecords".into(), self.dropped.load(Ordering::Relaxed).into());
        Value::Object(m).to_string()
    }

    /// Makes a record: `{"timestamp","level","event",…fields}`. Call only after checking
    /// [`Tracer::level`]; `min_level` is the level the record belongs to.
    pub fn emit(&self, now_ms: i64, min_level: u8, event: &str, fields: Vec<(&str, Value)>) {
        let level = self.level();
        if level < min_level || level == 0 {
            return;
        }
        // Written directly (no intermediate map), fields in the order given.
        let mut line = String::with_capacity(320);
        line.push_str("{\"timestamp\":\"");
        line.push_str(&format_ms(now_ms));
        line.push_str(if min_level >= 2 { "\",\"level\":\"Verbose\",\"event\":" } else { "\",\"level\":\"Basic\",\"event\":" });
        push_json_str(&mut line, event);
        for (k, v) in fields {
            if v.is_null() {
                continue;
            }
            line.push_str(",\"");
            line.push_str(k);
            line.push_str("\":");
            match &v {
                Value::String(s) => push_json_str(&mut line, s),
                other => line.push_str(&other.to_string()),
            }
        }
        line.push('}');
        let line: Arc<str> = Arc::from(line);
        self.records.fetch_add(1, Ordering::Relaxed);
        // The file first (a clone), then the ring keeps the original.
        if let Some(tx) = self.sender.read().as_ref() {
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(Arc::clone(&line)) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut ring = self.ring.lock();
        if ring.items.len() >= ring.cap {
            ring.items.pop_front();
        }
        ring.items.push_back(line);
    }
}

/// Appends `s` as a JSON string literal.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Text for a record: redacted, as the metrics do.
pub(crate) fn text(s: &str) -> Value {
    Value::String(crate::metrics::redact(s))
}

/// An optional text for a record (`null` fields are left out).
pub(crate) fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

fn open_trace_file(path: &Path) -> Result<File, Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| {
            Error::invalid("filePath", path.display(), format!("could not create its folder: {e}; choose a writable path"))
        })?;
    }
    OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
        Error::invalid("filePath", path.display(), format!("could not open it for writing: {e}; choose a writable path"))
    })
}

/// Waits for the writer to write what it has (its channel's sender is already dropped).
fn finish(mut active: Active) -> WriterOutcome {
    match active.writer.take() {
        Some(h) => h.join().unwrap_or_else(|_| WriterOutcome {
            files: Vec::new(),
            error: Some("the trace writer thread panicked".into()),
        }),
        None => WriterOutcome { files: Vec::new(), error: None },
    }
}

fn write_loop(rx: crossbeam_channel::Receiver<Arc<str>>, path: PathBuf, file: File, max: u64) -> WriterOutcome {
    let mut size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut out = BufWriter::new(file);
    let mut rotated: Vec<PathBuf> = Vec::new();
    let mut error: Option<String> = None;
    for line in rx.iter() {
        if error.is_some() {
            continue;
        }
        let n = line.len() as u64 + 1;
        if size > 0 && size + n > max {
            let next = PathBuf::from(format!("{}.{}", path.display(), rotated.len() + 1));
            let step = out
                .flush()
                .and_then(|()| fs::rename(&path, &next))
                .and_then(|()| OpenOptions::new().create(true).write(true).truncate(true).open(&path));
            match step {
                Ok(f) => {
                    rotated.push(next);
                    out = BufWriter::new(f);
                    size = 0;
                }
                Err(e) => {
                    error = Some(format!("could not rotate {}: {e}", path.display()));
                    continue;
                }
            }
        }
        if let Err(e) = out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n")) {
            error = Some(format!("could not write {}: {e}", path.display()));
            continue;
        }
        size += n;
    }
    if let Err(e) = out.flush() {
        error.get_or_insert(format!("could not write {}: {e}", path.display()));
    }
    rotated.push(path);
    WriterOutcome { files: rotated, error }
}

/// Concatenates `files` (oldest first) into `<folder>/<stem>-<timestamp>.log.gz`.
fn archive(files: &[PathBuf], log_path: &Path, folder: &Path, now_ms: i64) -> Result<PathBuf, Error> {
    let bad = |e: io::Error| {
        Error::invalid("archivePath", folder.display(), format!("could not write the archive: {e}; choose a writable folder"))
    };
    if !folder.as_os_str().is_empty() {
        fs::create_dir_all(folder).map_err(bad)?;
    }
    let stem = log_path.file_stem().map_or_else(|| "trace".into(), |s| s.to_string_lossy().into_owned());
    let stamp = format_ms(now_ms).replace([':', '.'], "-");
    let mut target = folder.join(format!("{stem}-{stamp}.log.gz"));
    let mut k = 1;
    while target.exists() {
        target = folder.join(format!("{stem}-{stamp}-{k}.log.gz"));
        k += 1;
    }
    let out = File::create(&target).map_err(bad)?;
    let mut gz = flate2::write::GzEncoder::new(BufWriter::new(out), flate2::Compression::default());
    let mut buf = Vec::new();
    for f in files {
        buf.clear();
        File::open(f).and_then(|mut h| h.read_to_end(&mut buf)).map_err(|e| {
            Error::invalid("trace file", f.display(), format!("could not read it for the archive: {e}"))
        })?;
        gz.write_all(&buf).map_err(bad)?;
    }
    gz.finish().and_then(|mut w| w.flush()).map_err(bad)?;
    Ok(target)
}

// ----- hooks: called by the bus and the registry after checking `level() != 0` ------------

/// The API call running on this thread, if any: its request id ties a publish from inside
/// a handler to the call.
fn current_request_id() -> Value {
    crate::registry::current_request_id().map_or(Value::Null, Value::String)
}

/// Basic: a message was routed.
pub(crate) fn publish(t: &Tracer, env: &crate::bus::Envelope, matched: usize, rejected: usize) {
    t.emit(
        env.timestamp_ms(),
        1,
        "publish",
        vec![
            ("messageId", Value::String(env.id().to_string())),
            ("correlationId", opt_text(env.correlation_id())),
            ("requestId", current_request_id()),
            ("channel", Value::String(env.channel().to_owned())),
            ("messageType", text(env.message_type())),
            ("sourceModule", opt_text(env.source_module())),
            ("priority", Value::String(format!("{:?}", env.priority()))),
            ("subscribers", matched.into()),
            ("rejected", rejected.into()),
        ],
    );
}

/// Verbose: one delivery's outcome (`Handled`, `Failed`, `Filtered`, `Released`). A failed
/// one is also recorded at Basic (as an error), and a slow one gets a `slow` record.
pub(crate) fn delivery(
    t: &Tracer,
    now_ms: i64,
    env: &crate::bus::Envelope,
    subscription: crate::id::SubscriptionId,
    outcome: &str,
    ns: Option<u64>,
    error: Option<&str>,
) {
    let failed = outcome == "Failed";
    let fields = |extra: Vec<(&'static str, Value)>| {
        let mut v = vec![
            ("messageId", Value::String(env.id().to_string())),
            ("correlationId", opt_text(env.correlation_id())),
            ("channel", Value::String(env.channel().to_owned())),
            ("messageType", text(env.message_type())),
            ("subscriptionId", Value::String(subscription.to_string())),
            ("outcome", Value::String(outcome.to_owned())),
            ("durationMs", ns.map_or(Value::Null, |n| Value::from(n as f64 / 1e6))),
            ("error", opt_text(error)),
        ];
        v.extend(extra);
        v
    };
    t.emit(now_ms, if failed { 1 } else { 2 }, if failed { "deliveryError" } else { "deliver" }, fields(vec![]));
    if ns.map_or(false, |n| t.is_slow(n)) {
        t.emit(now_ms, 1, "slow", fields(vec![("operation", Value::String("delivery".into()))]));
    }
}

/// Basic: an API call finished (`apiCall`, or `apiError` when it failed), plus `slow`.
pub(crate) fn api_call(t: &Tracer, now_ms: i64, api: &str, request_id: Option<&str>, ns: u64, error: Option<&str>) {
    let fields = |extra: Option<(&'static str, Value)>| {
        let mut v = vec![
            ("api", Value::String(api.to_owned())),
            ("requestId", opt_text(request_id)),
            ("success", Value::Bool(error.is_none())),
            ("durationMs", Value::from(ns as f64 / 1e6)),
            ("error", opt_text(error)),
        ];
        v.extend(extra);
        v
    };
    t.emit(now_ms, 1, if error.is_some() { "apiError" } else { "apiCall" }, fields(None));
    if t.is_slow(ns) {
        t.emit(now_ms, 1, "slow", fields(Some(("operation", Value::String("apiCall".into())))));
    }
}

/// Verbose: one pipeline stage of an API call (`middleware`, `validate`, `handler`).
pub(crate) fn stage(
    t: &Tracer,
    now_ms: i64,
    api: &str,
    request_id: &str,
    stage: &str,
    name: Option<&str>,
    ns: u64,
    error: Option<&str>,
) {
    t.emit(
        now_ms,
        2,
        "apiStage",
        vec![
            ("api", Value::String(api.to_owned())),
            ("requestId", text(request_id)),
            ("stage", Value::String(stage.to_owned())),
            ("middleware", opt_text(name)),
            ("success", Value::Bool(error.is_none())),
            ("durationMs", Value::from(ns as f64 / 1e6)),
            ("error", opt_text(error)),
        ],
    );
}

impl Drop for Tracer {
    fn drop(&mut self) {
        // The hub is going away: the writer writes what it has and closes the file.
        if let Some(active) = self.state.get_mut().take() {
            drop(self.sender.get_mut().take());
            finish(active);
        }
    }
}
