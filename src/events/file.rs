//! The event history file: one JSON record per line, appended before `publish_event`
//! returns, rotated at a size, reloaded when configured.
//!
//! Crash safety: a record is written with one `write` call. A crash can leave at most the
//! last line incomplete; loading skips such a torn last line with a warning, truncates
//! the file back to the end of the last complete record (so later appends start on a
//! fresh line) and keeps every complete record before it. Any other line that does not
//! parse makes the file corrupt: loading fails, naming the file and line, and the file is
//! left exactly as it was. Records are written to the operating system before publish
//! returns, not flushed to the disk (no `fsync`): they survive a crash of the process,
//! not a power failure.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::record::{Loaded, StoredEvent};
use crate::error::Error;
use crate::files;

/// An open history file.
pub(crate) struct HistoryFile {
    path: PathBuf,
    /// Open for appending; `None` only while `rewrite` replaces the file (or failed to reopen it).
    file: Option<File>,
    /// Bytes in the file (our own appends keep it exact).
    len: u64,
    max_bytes: u64,
    /// `<path>.lock`, locked while this hub uses the file (see [`HubLock`]).
    _lock: Option<HubLock>,
}

/// What reading a file gave: its records, in file order, and warnings for skipped torn
/// last lines.
pub(crate) struct ReadOutcome {
    pub records: Vec<Loaded>,
    pub warnings: Vec<String>,
}

/// `<path>.1`: where the file goes when it is rotated.
pub(crate) fn rotated_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Splits `bytes` into JSON-line records. Returns the records, the length of the complete
/// part (everything up to and including the last good line), and a warning when a torn
/// last line was skipped. A bad line that is not the last is corruption, and so is a bad last
/// line that does not even start a record (`{`): that file was never a history file. A UTF-8
/// byte order mark at the start (as some editors write) is skipped.
pub(crate) fn parse_lines(path: &Path, bytes: &[u8]) -> Result<(Vec<Loaded>, u64, Option<String>), Error> {
    let mut records = Vec::new();
    let mut start = if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let mut line_no = 0usize;
    while start < bytes.len() {
        line_no += 1;
        let (end, terminated) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (start + i, true),
            None => (bytes.len(), false),
        };
        let raw = &bytes[start..end];
        let next = if terminated { end + 1 } else { end };
        let parsed = std::str::from_utf8(raw)
            .map_err(|e| format!("the line is not UTF-8 (bad byte at offset {})", e.valid_up_to()))
            .and_then(|text| {
                let text = text.trim_end_matches('\r');
                if text.trim().is_empty() {
                    Ok(None)
                } else {
                    StoredEvent::from_line(text).map(Some)
                }
            });
        match parsed {
            Ok(Some(record)) => records.push(record),
            Ok(None) => {}
            Err(detail) if !terminated && raw.first() == Some(&b'{') => {
                let warning = format!(
                    "skipped a torn last line in '{}' (line {line_no}, {} bytes, probably cut off by a crash while \
                     it was written: {detail}); the {} complete record(s) before it were kept",
                    display(path),
                    raw.len(),
                    records.len()
                );
                return Ok((records, start as u64, Some(warning)));
            }
            Err(detail) => return Err(Error::CorruptFile { path: display(path), line: line_no, detail }),
        }
        start = next;
    }
    Ok((records, bytes.len() as u64, None))
}

fn read_all(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match File::open(path) {
        Ok(mut f) => {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).map_err(|e| Error::io(display(path), "read", &e))?;
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(display(path), "open", &e)),
    }
}

impl HistoryFile {
    /// Opens (creating if needed) the history file and reads its records: those of the
    /// rotated file `<path>.1` first, then the file's own. A torn last line is skipped
    /// with a warning and cut off the file. Nothing is written when this fails (a lock file
    /// `<path>.lock` made on Unix is removed again).
    pub fn open(path: &Path, max_bytes: u64) -> Result<(HistoryFile, ReadOutcome), Error> {
        if let Ok(meta) = fs::metadata(path) {
            if !meta.is_file() {
                return Err(Error::Io {
                    path: display(path),
                    operation: "use as the event history file".to_owned(),
                    detail: "it is not a regular file (a folder or a device); choose another path".to_owned(),
                });
            }
        }
        // A symbolic link is followed: the file it names is rotated and rewritten, and the link
        // stays (replacing the path would replace the link with a plain file).
        let path = &files::follow_link(path);
        let lock = lock_for_this_hub(path)?;
        match Self::load(path) {
            Ok((file, len, outcome)) => {
                Ok((HistoryFile { path: path.to_owned(), file: Some(file), len, max_bytes, _lock: lock }, outcome))
            }
            Err(e) => {
                if let Some(lock) = lock {
                    lock.remove_if_made();
                }
                Err(e)
            }
        }
    }

    /// [`HistoryFile::open`]'s reading, under the lock: the file open for appending, its
    /// length, and what it held.
    fn load(path: &Path) -> Result<(File, u64, ReadOutcome), Error> {
        let mut records = Vec::new();
        let mut warnings = Vec::new();
        let rotated = rotated_path(path);
        if let Some(bytes) = read_all(&rotated)? {
            let (mut older, _, warning) = parse_lines(&rotated, &bytes)?;
            records.append(&mut older);
            warnings.extend(warning);
        }
        let mut complete_len = 0u64;
        let mut needs_newline = false;
        if let Some(bytes) = read_all(path)? {
            let (mut own, good, warning) = parse_lines(path, &bytes)?;
            records.append(&mut own);
            warnings.extend(warning);
            complete_len = good;
            // A last record that parsed but lost its newline gets one, so the next append
            // starts a line of its own.
            needs_newline = good > 0 && good == bytes.len() as u64 && bytes.last() != Some(&b'\n');
        }
        keep_first_of_each_id(&mut records);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(display(path), "open the event history file", &e))?;
        let actual = file.metadata().map_err(|e| Error::io(display(path), "read the size of", &e))?.len();
        if actual != complete_len {
            file.set_len(complete_len).map_err(|e| Error::io(display(path), "cut the torn last line off", &e))?;
        }
        let mut len = complete_len;
        // Appends go to the end: reopen in append mode now that the length is settled.
        drop(file);
        file = open_for_append(path)?;
        if needs_newline {
            file.write_all(b"\n").map_err(|e| Error::io(display(path), "append to", &e))?;
            len += 1;
        }
        Ok((file, len, ReadOutcome { records, warnings }))
    }

    /// The records the file set holds now: the rotated file's, then the file's own.
    pub fn read_records(&self) -> Result<Vec<Loaded>, Error> {
        let mut records = Vec::new();
        for path in [rotated_path(&self.path), self.path.clone()] {
            if let Some(bytes) = read_all(&path)? {
                records.append(&mut parse_lines(&path, &bytes)?.0);
            }
        }
        keep_first_of_each_id(&mut records);
        Ok(records)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn set_max_bytes(&mut self, max_bytes: u64) {
        self.max_bytes = max_bytes;
    }

    /// Appends one record as a line (rotating first when it would pass `max_bytes`). On a
    /// failure the file is cut back to its previous length, so it never keeps half a line.
    pub fn append(&mut self, record_json: &str) -> Result<(), Error> {
        let line_len = record_json.len() as u64 + 1;
        if self.max_bytes > 0 && self.len > 0 && self.len + line_len > self.max_bytes {
            // A rotation that fails (on Windows, while another program has the file open
            // without sharing delete) is tried again at the next append; meanwhile the file
            // grows past its size rather than lose events or fail the publisher.
            let _ = self.rotate();
        }
        let mut line = Vec::with_capacity(record_json.len() + 1);
        line.extend_from_slice(record_json.as_bytes());
        line.push(b'\n');
        if let Err(e) = self.file()?.write_all(&line) {
            // Through a handle of its own: Windows refuses set_len on an append-only handle.
            let _ = OpenOptions::new().write(true).open(&self.path).and_then(|f| f.set_len(self.len));
            return Err(Error::io(display(&self.path), "append to the event history file", &e));
        }
        self.len += line_len;
        Ok(())
    }

    /// The open file, reopened (and measured) if a rewrite or rotation could not reopen it.
    fn file(&mut self) -> Result<&mut File, Error> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| Error::io(display(&self.path), "open the event history file for appending", &e))?;
            self.len = file.metadata().map_err(|e| Error::io(display(&self.path), "read the size of", &e))?.len();
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Renames the file to `<path>.1` (replacing an older one) and starts a new one.
    fn rotate(&mut self) -> Result<(), Error> {
        let rotated = rotated_path(&self.path);
        fs::rename(&self.path, &rotated)
            .map_err(|e| Error::io(display(&self.path), format!("rotate (rename to '{}')", display(&rotated)), &e))?;
        // The handle now names `<path>.1`: never append through it again. The next append
        // starts the new file (here, or again later if it cannot be created now).
        self.file = None;
        self.len = 0;
        self.file().map(drop)
    }

    /// Replaces the file set's content with `records` (JSON texts, oldest first), kept as
    /// publishing keeps it: the newest that fit `max_bytes` in the file, the older ones that
    /// fit another `max_bytes` in `<path>.1`, anything older dropped (with `max_bytes` 0, all
    /// in the file). Every state on the way holds every record kept, so a failure or a crash
    /// leaves at worst records in both files, which loading drops: `.1` first gets all of
    /// them, then the file its part, then `.1` its own; each through a temporary file and a
    /// rename. The file is reopened right after its rename, so appends never go to the
    /// replaced one.
    pub fn rewrite(&mut self, records: &[&str]) -> Result<(), Error> {
        let (older, newer) = split_for_rotation(records, self.max_bytes);
        let rotated = rotated_path(&self.path);
        fn lines<'a, 'b>(part: &'b [&'a str]) -> impl Iterator<Item = (&'a str, &'a str)> + 'b
        where
            'a: 'b,
        {
            part.iter().map(|r| (*r, "\n"))
        }
        write_atomically(&rotated, lines(records))?;
        // Closed while it is replaced: Windows refuses to replace a file that is open.
        self.file = None;
        let written = write_atomically(&self.path, lines(newer));
        self.file = Some(open_for_append(&self.path)?);
        self.len = written?;
        if older.is_empty() {
            match fs::remove_file(&rotated) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(display(&rotated), "remove", &e)),
            }
        } else {
            write_atomically(&rotated, lines(older))?;
        }
        Ok(())
    }
}

/// Splits records (oldest first) into what `<path>.1` and the file keep under `max_bytes`
/// each: the newest that fit go to the file (at least one), the older ones that fit to `.1`.
fn split_for_rotation<'a, 'b>(records: &'b [&'a str], max_bytes: u64) -> (&'b [&'a str], &'b [&'a str]) {
    if max_bytes == 0 {
        return (&[], records);
    }
    let fit_from = |end: usize| {
        let mut start = end;
        let mut bytes = 0u64;
        while start > 0 {
            let line = records[start - 1].len() as u64 + 1;
            if bytes > 0 && bytes + line > max_bytes {
                break;
            }
            bytes += line;
            start -= 1;
        }
        start
    };
    let newer_from = fit_from(records.len());
    let older_from = fit_from(newer_from);
    (&records[older_from..newer_from], &records[newer_from..])
}

/// Keeps the first record of each id (a crash in the middle of a rewrite can leave one in
/// both `.1` and the file).
fn keep_first_of_each_id(records: &mut Vec<Loaded>) {
    let mut seen = std::collections::HashSet::new();
    records.retain(|r| seen.insert(r.id));
}

/// `<path>.lock`, locked for as long as it is kept: a second hub (in this process or another)
/// given the same history file is refused, instead of rewriting and rotating the file under
/// the first, which would then append to a replaced file and lose its later events. A file of
/// its own, so that the history file itself stays readable by other programs (.NET, for one,
/// cannot open a file another process holds locked). An advisory lock, on Unix only: Windows
/// already refuses to replace a file another process has open.
pub(crate) struct HubLock {
    _file: File,
    /// The lock file, when this hub made it: removed again should the history file be refused,
    /// so that a refused file gets no stray `.lock` beside it.
    made: Option<PathBuf>,
}

impl HubLock {
    /// Gives the lock up, removing the lock file when this hub made it.
    fn remove_if_made(self) {
        if let Some(made) = &self.made {
            // Removed while still locked: a hub that opened it meanwhile finds it locked and
            // is refused; one that comes later makes a new one.
            let _ = fs::remove_file(made);
        }
    }
}

/// Takes the lock of [`HubLock`] for `path`; `None` where no lock file can be made (a folder
/// that takes no new file: the history file in it may still be writable, and is used, as
/// before there was a lock).
fn lock_for_this_hub(path: &Path) -> Result<Option<HubLock>, Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let in_use = || {
            let detail =
                io::Error::other("another hub (in this or another process) writes to it; give each its own file");
            Err(Error::io(display(path), "use the event history file", &detail))
        };
        // The file may also be another hub's rotated part (`<its path>.1`), or this file's
        // rotated part another hub's file: either would rename over the other's records.
        let rotated = rotated_path(path);
        let rotated_of = path.to_str().and_then(|p| p.strip_suffix(".1")).map(PathBuf::from);
        if [Some(rotated), rotated_of].iter().flatten().any(|other| locked_elsewhere(&lock_path(other))) {
            return in_use();
        }
        let lock_path = lock_path(path);
        let refused = |e: io::Error| match e.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => Ok(None),
            // A missing folder, or a file where one should be: the history file's own trouble.
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
                Err(Error::io(path, "use the event history file", &e))
            }
            _ => Err(Error::io(&lock_path, "create the lock file of the event history file", &e)),
        };
        // A few tries: another hub may remove the lock file it made (refusing its file) between
        // this one finding it and locking it.
        for _ in 0..3 {
            let (file, made) = match OpenOptions::new().write(true).create_new(true).open(&lock_path) {
                Ok(file) => (file, true),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    match OpenOptions::new().write(true).open(&lock_path) {
                        Ok(file) => (file, false),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return refused(e),
                    }
                }
                Err(e) => return refused(e),
            };
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return in_use(),
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::io(&lock_path, "lock the lock file of the event history file", &e))
                }
            }
            // Still the file at the path (not one removed since it was opened)?
            let held = file.metadata().map(|m| (m.dev(), m.ino())).ok();
            if held.is_some() && held == fs::metadata(&lock_path).map(|m| (m.dev(), m.ino())).ok() {
                return Ok(Some(HubLock { _file: file, made: made.then(|| lock_path.clone()) }));
            }
        }
        in_use()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

/// `<path>.lock`: see [`lock_for_this_hub`].
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Whether another hub holds the lock file `lock` (one that does not exist is held by none:
/// a hub using it would have made it). Looked at without making it.
#[cfg(unix)]
fn locked_elsewhere(lock: &Path) -> bool {
    match OpenOptions::new().write(true).open(lock) {
        Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

fn open_for_append(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| Error::io(display(path), "open the event history file for appending", &e))
}

/// A new temporary file beside `path` for [`write_atomically`]: `<path>.<pid>-<n>.partial`,
/// made with `create_new` (`O_CREAT|O_EXCL`), which fails on anything already there, a
/// symbolic link included, instead of opening or following it. Each writer gets a file of its
/// own, so concurrent writes to one path never write into each other's; a name that is taken
/// (another process's, a leftover, a planted link or pipe) is skipped for the next one.
fn create_temporary(path: &Path) -> io::Result<(PathBuf, File)> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut last = None;
    for _ in 0..100 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{}-{n}.partial", std::process::id()));
        let tmp = PathBuf::from(name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("tried at least once"))
}

/// Writes the pieces to a new temporary file beside `path` (see [`create_temporary`]) and
/// renames it to `path`. Returns the bytes written. On failure the temporary file is removed
/// and `path` is untouched. Something other than a regular file at `path` is refused: the
/// rename would replace it (a named pipe, a device); callers follow a symbolic link to its
/// file first (see [`files::follow_link`]).
pub(crate) fn write_atomically<'a>(
    path: &Path,
    pieces: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<u64, Error> {
    if files::is_other_than_file(path) {
        let detail = io::Error::new(io::ErrorKind::InvalidInput, files::NOT_REGULAR);
        return Err(Error::io(display(path), "write", &detail));
    }
    // Made beside the file, so the reason (a missing folder, …) is the file's too.
    let (tmp, file) = create_temporary(path).map_err(|e| Error::io(path, "write", &e))?;
    let result = (|| -> io::Result<u64> {
        let mut out = io::BufWriter::new(file);
        let mut n = 0u64;
        for (a, b) in pieces {
            out.write_all(a.as_bytes())?;
            out.write_all(b.as_bytes())?;
            n += (a.len() + b.len()) as u64;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(n)
    })();
    result.map_err(|e| {
        // Ours alone (made by create_new above): nothing else is removed.
        let _ = fs::remove_file(&tmp);
        Error::io(display(path), format!("write (through the temporary file '{}')", display(&tmp)), &e)
    })
}
