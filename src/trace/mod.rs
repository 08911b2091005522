//! Message tracing (`Enable-MessageTracing`, `mc_trace_enable`): JSON-line records of
//! publishing, delivery, API calls and middleware stages, errors and slow operations.
//!
//! **Cost when off:** every hook first does one relaxed atomic load of the level
//! ([`Tracer::level`]) and returns when it is 0. Nothing else runs.
//!
//! **When on:** the calling thread makes a small record — the message's id, names and
//! timestamp copied from its envelope, outcome, duration; nothing formatted — and moves it
//! into a pending buffer (one short lock). A background writer thread formats the pending
//! records into JSON lines (about a thousand at a time, or every 50 ms), keeps them in an
//! in-memory ring (newest `ringSize`, read by `Get-MessageTrace` / `mc_trace_read`, which
//! first formats what is still pending) and, with `logToFile`, writes them to the file in
//! one call per batch. The hot path never waits on the writer or on disk. If the writer falls
//! `queueCapacity` records behind, the emitting thread formats the pending records itself
//! (the ring misses nothing); formatted lines the file has not taken are bounded by 8 ×
//! `queueCapacity`, and those beyond are dropped from the file and counted
//! (`droppedRecords`). Each enable starts a file of its own (what the file held is moved
//! aside as the next rotated part). The writer rotates the file when the next line would
//! take it past `maxFileBytes`: `trace.log` is renamed to `trace.log.N`, N one above the
//! highest part on disk, and a new `trace.log` begins.
//!
//! **Levels.** `Basic`: publish, API call (one record per call), errors, slow operations.
//! `Verbose`: in addition, each delivery's outcome (push and pull) and each middleware stage.
//!
//! **Secrets.** Records never contain message data, API parameters, headers or user
//! objects; error texts go through the same redaction as the metrics (`token=…`,
//! `Bearer …`, … become `***`).

mod record;
mod sink;
mod writer;

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::bus::Envelope;
use crate::error::Error;
use crate::id::SubscriptionId;
use crate::sync::{Arc, AtomicU64, AtomicU8, Mutex, Ordering};
use record::{MessageFacts, Record};
use sink::Sink;
use writer::{TraceFile, WriterOutcome};

/// Default size at which the trace file rotates: 10 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Default number of records the in-memory ring keeps.
pub const DEFAULT_RING_SIZE: usize = 10_000;
/// Default duration from which an API call or delivery counts as slow.
pub const DEFAULT_SLOW_MS: u64 = 1_000;
/// Default number of records that may wait for the writer thread.
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
    /// Records that may wait for the writer thread (at least 1), unformatted and again
    /// formatted for the file (see the module documentation).
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
    /// The archive folder (created if missing); default (also for an empty path): the trace
    /// file's folder.
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
    /// Records the file never got because the writer had fallen behind.
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
    /// Pending records, the ring and the lines for the file; shared with the writer.
    sink: Arc<Sink>,
    state: Mutex<Option<Active>>,
}

struct Active {
    options: TraceOptions,
    writer: Option<JoinHandle<WriterOutcome>>,
    /// Files written earlier in this trace, before an enable changed its options (another
    /// file, say): the trace goes on, so `disable` lists and archives them too.
    earlier_files: Vec<PathBuf>,
}

/// Appends the files of `more` that `files` does not hold yet (an enable may keep the file).
fn add_new(files: &mut Vec<PathBuf>, more: Vec<PathBuf>) {
    for f in more {
        if !files.contains(&f) {
            files.push(f);
        }
    }
}

impl Default for Tracer {
    fn default() -> Self {
        Tracer {
            level: AtomicU8::new(0),
            slow_ns: AtomicU64::new(DEFAULT_SLOW_MS * 1_000_000),
            sink: Arc::new(Sink::default()),
            state: Mutex::new(None),
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

    /// Turns tracing on (or changes its options: a running writer finishes its file first).
    pub fn enable(&self, options: TraceOptions) -> Result<(), Error> {
        options.validate()?;
        // Open the new file before touching the current state, so a bad path changes nothing;
        // under the lock, so that of two enables of one file the second opens it only after the
        // first moved the old content aside (opened before, both would hold the same file, and
        // the second would resume into the part moved aside). The open does not wait on a named
        // pipe (see `files::open_regular`).
        let mut state = self.state.lock();
        let mut file = match (&options.file_path, options.log_to_file) {
            (Some(p), true) => Some(TraceFile::open(p, options.max_file_bytes)?),
            _ => None,
        };
        // Tracing already on: the options change, the trace goes on (its records and counts).
        let continuing = state.is_some();
        let same_file = file.is_some()
            && state.as_ref().is_some_and(|old| old.options.log_to_file && old.options.file_path == options.file_path);
        let mut earlier_files = Vec::new();
        if let Some(mut old) = state.take() {
            self.level.store(0, Ordering::Relaxed);
            earlier_files = std::mem::take(&mut old.earlier_files);
            add_new(&mut earlier_files, self.finish(old).files);
        }
        // After the old writer finished: it may have been writing to the same file, which a
        // trace that goes on keeps; a new trace starts a file of its own.
        if let Some(f) = file.as_mut() {
            if same_file {
                f.resume();
            } else {
                f.start();
            }
        }
        // A new trace starts with an empty ring and buffer.
        self.sink.restart(options.ring_size, options.queue_capacity, file.is_some(), continuing);
        let sink = Arc::clone(&self.sink);
        let writer = std::thread::Builder::new()
            .name("mc-trace-writer".into())
            .spawn(move || writer::run(sink, file))
            .map_err(|e| Error::invalid("trace writer", "thread", format!("could not start it: {e}")))?;
        self.slow_ns.store(options.slow_threshold_ms.saturating_mul(1_000_000), Ordering::Relaxed);
        let level = options.level.code();
        *state = Some(Active { options, writer: Some(writer), earlier_files });
        self.level.store(level, Ordering::Relaxed);
        Ok(())
    }

    /// Stops the writer after it has formatted and written everything pending.
    fn finish(&self, mut active: Active) -> WriterOutcome {
        self.sink.stop();
        match active.writer.take() {
            Some(h) => h.join().unwrap_or_else(|_| WriterOutcome {
                files: Vec::new(),
                error: Some("the trace writer thread panicked".into()),
            }),
            None => WriterOutcome { files: Vec::new(), error: None },
        }
    }

    /// Turns tracing off: waits for the writer to write what it has, closes the file, and
    /// with `archive_logs` compresses the trace file(s) into one `.log.gz`. The in-memory
    /// ring keeps its records for [`Tracer::read`]. The archive is checked and made (empty)
    /// first: a call refused for it (no file to archive, a folder that takes no file) leaves
    /// tracing on, so it can be tried again.
    pub fn disable(&self, options: &DisableOptions, now_ms: i64) -> Result<TraceSummary, Error> {
        let mut state = self.state.lock();
        let Some(active) = state.as_ref() else {
            if options.archive_logs {
                return Err(Error::invalid(
                    "archiveLogs",
                    true,
                    "tracing is not on, so there is no trace to archive; enable it with a file first",
                ));
            }
            return Ok(TraceSummary::default());
        };
        let archive = if options.archive_logs {
            // Named after the file written last, when the last options wrote to memory only.
            let log_path = active.options.file_path.clone().filter(|_| active.options.log_to_file);
            let Some(log_path) = log_path.or_else(|| active.earlier_files.last().cloned()) else {
                return Err(Error::invalid(
                    "archiveLogs",
                    true,
                    "tracing writes to memory only (no -LogToFile), so there is no file to archive; \
                     read the records with Get-MessageTrace, or disable tracing without archiving",
                ));
            };
            // An empty archivePath is no archivePath (it would otherwise mean the process's
            // current folder, which the caller did not name).
            let folder = match options.archive_path.as_ref().filter(|p| !p.as_os_str().is_empty()) {
                Some(p) => p.clone(),
                None => log_path.parent().map(Path::to_path_buf).unwrap_or_default(),
            };
            Some(writer::Archive::create(&log_path, &folder, now_ms)?)
        } else {
            None
        };
        self.level.store(0, Ordering::Relaxed);
        let mut active = state.take().expect("checked above");
        let mut files = std::mem::take(&mut active.earlier_files);
        let outcome = self.finish(active);
        add_new(&mut files, outcome.files);
        let (records, dropped_records) = self.sink.counts();
        let mut summary = TraceSummary {
            was_enabled: true,
            records,
            dropped_records,
            files: files.iter().map(|p| p.display().to_string()).collect(),
            archive: None,
            write_error: outcome.error,
        };
        if let Some(archive) = archive {
            summary.archive = Some(archive.write(&files)?.display().to_string());
        }
        Ok(summary)
    }

    /// The newest `last` records of the ring (all with `None`), oldest first, as a JSON array.
    pub fn read(&self, last: Option<usize>) -> String {
        self.sink.read(last)
    }

    /// The file tracing writes to, while it does.
    pub fn file_path(&self) -> Option<PathBuf> {
        self.state.lock().as_ref().and_then(|a| a.options.file_path.clone().filter(|_| a.options.log_to_file))
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
        let (records, dropped) = self.sink.counts();
        m.insert("records".into(), records.into());
        m.insert("droppedRecords".into(), dropped.into());
        Value::Object(m).to_string()
    }

    /// Hands a record to the writer if tracing is on at `min_level` (1 Basic, 2 Verbose).
    /// `record` makes it, copying its texts into the pending buffer's arena.
    fn push(&self, min_level: u8, record: impl FnOnce(&mut record::Texts) -> Record) {
        if self.level() < min_level {
            return;
        }
        self.sink.push(record);
    }

    /// Makes a record: `{"timestamp","level","event",…fields}`, fields in the order given
    /// (`null` ones left out). Call only after checking [`Tracer::level`]; `min_level` is
    /// the level the record belongs to.
    pub fn emit(&self, now_ms: i64, min_level: u8, event: &'static str, fields: Vec<(&'static str, Value)>) {
        self.push(min_level, |_| Record::Fields { at_ms: now_ms, min_level, event, fields });
    }
}

/// Text for a record: redacted, as the metrics do.
pub(crate) fn text(s: &str) -> Value {
    Value::String(crate::metrics::redact(s).into_owned())
}

/// An optional text for a record (`null` fields are left out).
pub(crate) fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

/// An error text for a record, as the metrics keep it (see `metrics::for_record`).
pub(crate) fn error_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(crate::metrics::for_record(s).into_owned()))
}

// ----- hooks: called by the bus and the registry after checking `level() != 0` ------------

/// Basic: a message was routed.
pub(crate) fn publish(t: &Tracer, env: &Arc<Envelope>, matched: usize, rejected: usize) {
    // The API call running on this thread, if any: its request id ties a publish from
    // inside a handler to the call.
    let request_id = crate::registry::current_request_id();
    t.push(1, |texts| Record::Publish {
        msg: MessageFacts::of(env, texts),
        request_id: request_id.map(String::into_boxed_str),
        matched: saturate(matched),
        rejected: saturate(rejected),
    });
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// How a delivery ended, as its trace record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeliveryOutcome {
    Handled,
    Failed,
    Filtered,
    /// Handed out by a take and given back unreported.
    Released,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Handled => "Handled",
            DeliveryOutcome::Failed => "Failed",
            DeliveryOutcome::Filtered => "Filtered",
            DeliveryOutcome::Released => "Released",
        }
    }

    /// The level its record belongs to (a slow delivery's `slow` record is Basic anyway),
    /// and the record's event: a failure is an error, recorded at Basic.
    fn record(self) -> (u8, &'static str) {
        match self {
            DeliveryOutcome::Failed => (1, "deliveryError"),
            _ => (2, "deliver"),
        }
    }
}

/// Verbose: one delivery's outcome (`Handled`, `Failed`, `Filtered`, `Released`). A failed
/// one is also recorded at Basic (as an error), and a slow one gets a `slow` record.
pub(crate) fn delivery(
    t: &Tracer,
    now_ms: i64,
    env: &Arc<Envelope>,
    subscription: SubscriptionId,
    outcome: DeliveryOutcome,
    ns: Option<u64>,
    error: Option<&str>,
) {
    let record = |texts: &mut record::Texts, slow| Record::Delivery {
        at_ms: now_ms,
        msg: MessageFacts::of(env, texts),
        subscription,
        outcome,
        ns,
        error: error.map(Box::from),
        slow,
    };
    t.push(outcome.record().0, |texts| record(texts, false));
    if ns.map_or(false, |n| t.is_slow(n)) {
        t.push(1, |texts| record(texts, true));
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
            ("error", error_text(error)),
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
            ("error", error_text(error)),
        ],
    );
}

impl Drop for Tracer {
    fn drop(&mut self) {
        // The hub is going away: the writer writes what it has and closes the file.
        if let Some(active) = self.state.get_mut().take() {
            self.finish(active);
        }
    }
}
