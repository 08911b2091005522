//! Where records go: a pending buffer that emitting threads push into, and the formatted
//! records — the in-memory ring that `Get-MessageTrace` reads, and the lines waiting for
//! the trace file.
//!
//! Emitting is a short lock, a copy of the message's texts into the pending arena and a move
//! of the record; nothing is formatted there. [`Sink::drain`] swaps the pending records and
//! texts for the empty spare pair (so neither side allocates) and formats them into one
//! [`Chunk`] of JSON lines, which the ring keeps and the file writer writes with one call.
//! The writer thread drains when [`BATCH`] records wait or every [`FLUSH_INTERVAL`]; readers
//! drain first, so they see every record made before.
//!
//! When the writer falls behind — `capacity` records pending, say while it waits for a
//! CPU — the emitting thread drains itself (unless the writer is draining at that moment,
//! which then takes them next), so the ring never misses a record: the cost comes back to
//! the caller as formatting, never as waiting for the writer or the disk. Formatted lines
//! the file has not taken are bounded by [`FILE_BACKLOG`] times `capacity`: past that, the
//! file misses them and they are counted as dropped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::record::{Recent, Record, Texts};
use crate::sync::{Arc, Condvar, Mutex};

/// The longest a record waits in the pending buffer while the writer has nothing else to
/// do (the trace file is at most this far behind).
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Formatted records: JSON lines, each followed by `\n`, in one text.
pub(crate) struct Chunk {
    pub text: String,
    /// Where each line ends (its `\n`'s offset).
    pub ends: Vec<usize>,
}

impl Chunk {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Line `i` without its newline.
    pub fn line(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        &self.text[start..self.ends[i]]
    }
}

/// The buffer length at which the writer is woken: half the capacity, but no more than
/// [`BATCH`], so that a large capacity does not make every batch large.
fn wake_at(capacity: usize) -> usize {
    capacity.div_ceil(2).min(BATCH)
}

/// Records formatted per drain when the writer keeps up.
const BATCH: usize = 1_024;

/// Pending texts at which the emitting thread formats them itself, whatever the record
/// count: records refer to their texts by `u32` offset, so the arena must stay far below 4 GiB
/// (only a stalled writer with a huge `queueCapacity` and long names comes near).
const TEXTS_DRAIN_AT: usize = 1 << 30;

/// Formatted lines may wait for the file up to this many times the pending capacity
/// (they are compact; a writer that waits for a CPU catches up when it gets one).
const FILE_BACKLOG: usize = 8;

struct Pending {
    records: Vec<Record>,
    /// The records' texts (see [`Texts`]).
    texts: Texts,
    /// [`TEXTS_DRAIN_AT`] (smaller in tests).
    texts_drain_at: usize,
    /// At this many pending records the emitting thread formats them itself.
    capacity: usize,
    /// Records made since tracing was enabled.
    made: u64,
    /// A drain outside the writer queued lines for the file: the writer should take them.
    file_ready: bool,
    /// Set when the writer should drain one last time and stop.
    stop: bool,
}

/// The newest records, in chunks; at least `cap` records are kept when there are that
/// many (whole chunks are let go), and reads return at most `cap`.
struct Ring {
    cap: usize,
    chunks: VecDeque<Arc<Chunk>>,
    len: usize,
}

impl Ring {
    fn push(&mut self, chunk: Arc<Chunk>) {
        self.len += chunk.len();
        self.chunks.push_back(chunk);
        self.trim();
    }

    fn trim(&mut self) {
        while let Some(front) = self.chunks.front() {
            if self.len - front.len() < self.cap {
                break;
            }
            self.len -= front.len();
            self.chunks.pop_front();
        }
    }
}

struct Formatted {
    ring: Ring,
    /// Chunks the file writer has not written yet (only when logging to a file).
    to_file: Vec<Arc<Chunk>>,
    to_file_on: bool,
    /// Records in `to_file`: at most [`FILE_BACKLOG`] × the pending capacity, or one chunk.
    to_file_len: usize,
    /// Records the file never got because the writer had fallen behind.
    dropped: u64,
    /// The pending buffer's other half, swapped in on every drain so neither reallocates.
    spare: Vec<Record>,
    spare_texts: Texts,
}

/// Lock order: `formatted`, then `pending`.
pub(crate) struct Sink {
    pending: Mutex<Pending>,
    /// Wakes the writer: records to format, lines for the file, or time to stop.
    wake: Condvar,
    formatted: Mutex<Formatted>,
}

impl Default for Sink {
    fn default() -> Self {
        Sink {
            pending: Mutex::new(Pending {
                records: Vec::new(),
                texts: Texts::new(),
                texts_drain_at: TEXTS_DRAIN_AT,
                capacity: 1,
                made: 0,
                file_ready: false,
                stop: false,
            }),
            wake: Condvar::new(),
            formatted: Mutex::new(Formatted {
                ring: Ring { cap: super::DEFAULT_RING_SIZE, chunks: VecDeque::new(), len: 0 },
                to_file: Vec::new(),
                to_file_on: false,
                to_file_len: 0,
                dropped: 0,
                spare: Vec::new(),
                spare_texts: Texts::new(),
            }),
        }
    }
}

impl Sink {
    /// Starts the sink again with new sizes: a new trace (empty ring and buffer, counters at
    /// zero), or with `keep` one whose options changed: the ring keeps its newest records (as
    /// many as `ring_size` holds) and the counts go on.
    pub fn restart(&self, ring_size: usize, capacity: usize, to_file: bool, keep: bool) {
        let mut f = self.formatted.lock();
        if keep {
            // Records pushed after the old writer's last drain (their thread read the level
            // just before it went to 0) are counted in `made`: keep them too, in memory.
            f.to_file_on = false;
            self.drain_locked(&mut f);
            f.ring.cap = ring_size;
            f.ring.trim();
        } else {
            f.ring = Ring { cap: ring_size, chunks: VecDeque::new(), len: 0 };
            f.dropped = 0;
        }
        f.to_file.clear();
        f.to_file_on = to_file;
        f.to_file_len = 0;
        let mut p = self.pending.lock();
        p.records.clear();
        p.texts.clear();
        p.capacity = capacity;
        if !keep {
            p.made = 0;
        }
        p.file_ready = false;
        p.stop = false;
    }

    /// Queues the record `make` makes (its texts copied into the pending arena); formats
    /// everything pending when the writer has fallen `capacity` records behind.
    pub fn push(&self, make: impl FnOnce(&mut Texts) -> Record) {
        let mut p = self.pending.lock();
        p.made += 1;
        let record = make(&mut p.texts);
        p.records.push(record);
        let waiting = p.records.len();
        let behind = waiting >= p.capacity || p.texts.len() >= p.texts_drain_at;
        let wake = waiting == wake_at(p.capacity);
        drop(p);
        // Woken after the unlock, the writer does not block on the lock this thread holds.
        if wake {
            self.wake.notify_one();
        }
        if behind {
            // Unless the writer is formatting right now (then it takes these next): the
            // caller never waits for it.
            if let Some(mut f) = self.formatted.try_lock() {
                self.drain_locked(&mut f);
                drop(f);
                self.wake_for_file();
            }
        }
    }

    /// (records made, records the file never got) since tracing was enabled.
    pub fn counts(&self) -> (u64, u64) {
        let dropped = self.formatted.lock().dropped;
        (self.pending.lock().made, dropped)
    }

    /// Formats every pending record into one chunk for the ring and the file.
    pub fn drain(&self) {
        self.drain_locked(&mut self.formatted.lock());
    }

    fn drain_locked(&self, f: &mut Formatted) {
        let capacity = {
            let mut p = self.pending.lock();
            if p.records.is_empty() {
                return;
            }
            std::mem::swap(&mut p.records, &mut f.spare);
            std::mem::swap(&mut p.texts, &mut f.spare_texts);
            p.capacity
        };
        let mut chunk = Chunk { text: String::with_capacity(f.spare.len() * 256), ends: Vec::with_capacity(f.spare.len()) };
        let mut recent = Recent::default();
        for r in &f.spare {
            r.write_json(&f.spare_texts, &mut chunk.text, &mut recent);
            chunk.ends.push(chunk.text.len());
            chunk.text.push('\n');
        }
        f.spare.clear();
        f.spare_texts.clear();
        let chunk = Arc::new(chunk);
        if f.to_file_on {
            // One chunk may always wait, however large.
            if f.to_file_len > 0 && f.to_file_len + chunk.len() > capacity.saturating_mul(FILE_BACKLOG) {
                f.dropped += chunk.len() as u64;
            } else {
                f.to_file_len += chunk.len();
                f.to_file.push(Arc::clone(&chunk));
            }
        }
        f.ring.push(chunk);
    }

    /// After a drain on another thread: wakes the writer to take the lines for the file.
    fn wake_for_file(&self) {
        self.pending.lock().file_ready = true;
        self.wake.notify_one();
    }

    /// The writer's wait: until [`wake_at`] records wait, lines formatted by another thread
    /// wait for the file, [`FLUSH_INTERVAL`] has passed, or it is told to stop (`true`).
    pub fn wait(&self) -> bool {
        let deadline = Instant::now() + FLUSH_INTERVAL;
        let mut p = self.pending.lock();
        while !p.stop && !p.file_ready && p.records.len() < wake_at(p.capacity) {
            if self.wake.wait_until(&mut p, deadline).timed_out() {
                break;
            }
        }
        p.file_ready = false;
        p.stop
    }

    /// Tells the writer to drain one last time and stop.
    pub fn stop(&self) {
        self.pending.lock().stop = true;
        self.wake.notify_all();
    }

    /// The chunks the file has not got yet.
    pub fn take_for_file(&self) -> Vec<Arc<Chunk>> {
        let mut f = self.formatted.lock();
        f.to_file_len = 0;
        std::mem::take(&mut f.to_file)
    }

    /// The newest `last` records (all kept with `None`), oldest first, as a JSON array.
    pub fn read(&self, last: Option<usize>) -> String {
        self.drain();
        self.wake_for_file();
        let f = self.formatted.lock();
        let kept = f.ring.len.min(f.ring.cap);
        let n = last.unwrap_or(kept).min(kept);
        let mut skip = f.ring.len - n;
        let mut out = String::from("[");
        let mut first = true;
        for chunk in &f.ring.chunks {
            if skip >= chunk.len() {
                skip -= chunk.len();
                continue;
            }
            for i in skip..chunk.len() {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(chunk.line(i));
            }
            skip = 0;
        }
        out.push(']');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> Record {
        Record::Fields { at_ms: 0, min_level: 1, event: "e", fields: vec![("i", i.into())] }
    }

    fn ids(json: &str) -> Vec<u64> {
        let v: Vec<serde_json::Value> = serde_json::from_str(json).unwrap();
        v.iter().map(|r| r["i"].as_u64().unwrap()).collect()
    }

    #[test]
    fn the_ring_reads_the_newest_records_across_chunks() {
        let sink = Sink::default();
        sink.restart(4, 100, false, false);
        for i in 0..3 {
            sink.push(|_| record(i));
        }
        sink.drain();
        for i in 3..6 {
            sink.push(|_| record(i));
        }
        assert_eq!(ids(&sink.read(None)), [2, 3, 4, 5]);
        assert_eq!(ids(&sink.read(Some(2))), [4, 5]);
        sink.push(|_| record(6));
        assert_eq!(ids(&sink.read(Some(10))), [3, 4, 5, 6]);
    }

    #[test]
    fn a_kept_restart_keeps_records_still_pending_with_their_count() {
        let sink = Sink::default();
        sink.restart(10, 100, true, false);
        sink.push(|_| record(0));
        sink.drain();
        sink.push(|_| record(1)); // after the last drain of the old writer
        sink.restart(10, 100, false, true);
        assert_eq!(ids(&sink.read(None)), [0, 1]);
        assert_eq!(sink.counts().0, 2);
        assert!(sink.formatted.lock().to_file.is_empty(), "the new trace's file gets none of them");
    }

    #[test]
    fn long_pending_texts_are_formatted_by_the_caller_before_their_offsets_could_overflow() {
        let sink = Sink::default();
        sink.restart(10, 100, false, false);
        sink.pending.lock().texts_drain_at = 8;
        let with_text = |i: usize| {
            move |texts: &mut Texts| {
                texts.push_str("abcde");
                record(i)
            }
        };
        sink.push(with_text(0));
        assert_eq!(sink.pending.lock().records.len(), 1, "5 bytes of text: still pending");
        sink.push(with_text(1));
        let p = sink.pending.lock();
        assert!(p.records.is_empty() && p.texts.is_empty(), "10 bytes: formatted by the caller");
        drop(p);
        assert_eq!(ids(&sink.read(None)), [0, 1]);
    }

    #[test]
    fn a_full_buffer_is_formatted_by_the_caller_and_the_file_backlog_is_bounded() {
        let sink = Sink::default();
        sink.restart(10, 2, true, false);
        let lens = |chunks: Vec<Arc<Chunk>>| chunks.iter().map(|c| c.len()).collect::<Vec<_>>();
        // No writer thread here: the caller formats at 2 and 4 pending records.
        for i in 0..5 {
            sink.push(|_| record(i));
        }
        // The ring has every record (the read formats the last one).
        assert_eq!(ids(&sink.read(None)), [0, 1, 2, 3, 4]);
        assert_eq!(lens(sink.take_for_file()), [2, 2, 1]);
        assert_eq!(sink.counts(), (5, 0));
        // While the file takes nothing, at most FILE_BACKLOG × capacity lines wait for it.
        for i in 5..25 {
            sink.push(|_| record(i));
        }
        assert_eq!(lens(sink.take_for_file()).iter().sum::<usize>(), FILE_BACKLOG * 2);
        assert_eq!(sink.counts(), (25, 20 - FILE_BACKLOG as u64 * 2));
        assert_eq!(ids(&sink.read(Some(3))), [22, 23, 24]);
    }
}
