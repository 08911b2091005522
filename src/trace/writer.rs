//! The trace writer thread: drains the pending records into formatted chunks and, when
//! logging to a file, writes them, rotating the file at its size limit. Also the gzip
//! archive that `Disable-MessageTracing -ArchiveLogs` makes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::sink::{Chunk, Sink};
use crate::error::Error;
use crate::files;
use crate::sync::Arc;
use crate::time_fmt::format_ms;

pub(crate) struct WriterOutcome {
    pub files: Vec<PathBuf>,
    pub error: Option<String>,
}

/// The trace file of one session (one enable): rotates when the next line would take it
/// past `max` bytes — `trace.log` becomes `trace.log.N`, N one above the highest number
/// already on disk, so rotated parts sort by age and no earlier part is ever replaced.
pub(crate) struct TraceFile {
    path: PathBuf,
    file: File,
    size: u64,
    max: u64,
    next_part: u64,
    rotated: Vec<PathBuf>,
    error: Option<String>,
    /// Why the last rotation failed, while the file grows past `max` because of it.
    rotate_error: Option<String>,
    /// Tests: how many of the next rotations fail as a rename refused by the system would.
    #[cfg(test)]
    fail_rotations: u32,
}

/// One above the highest N of the `<path>.N` files on disk (1 when there are none). Names
/// compare case-insensitively where the file system does; numbers past u32 are ignored,
/// so the next one never overflows.
fn next_part_number(path: &Path) -> u64 {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else { return 1 };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!("{name}.");
    let number = |file: &str| -> Option<u64> {
        let head = file.get(..prefix.len())?;
        let same = if cfg!(any(windows, target_os = "macos")) { head.eq_ignore_ascii_case(&prefix) } else { head == prefix };
        let n = file[prefix.len()..].parse::<u32>().ok()?;
        same.then_some(u64::from(n))
    };
    let highest = fs::read_dir(dir).into_iter().flatten().filter_map(|entry| number(entry.ok()?.file_name().to_str()?)).max();
    highest.map_or(1, |n| n + 1)
}

impl TraceFile {
    /// Opens (appends to) `path`, creating its folder. Only a regular file (or none yet): a
    /// named pipe would block the open, and rotating would move a device aside.
    pub fn open(path: &Path, max: u64) -> Result<TraceFile, Error> {
        // A symbolic link is followed: parts are made beside its target, and the link stays
        // (moving the path aside would move the link and leave a plain file in its place).
        let path = &files::follow_link(path);
        let not_regular =
            || Error::invalid("filePath", path.display(), format!("{}; choose a file", files::NOT_REGULAR));
        if files::is_other_than_file(path) {
            return Err(not_regular());
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| {
                Error::invalid(
                    "filePath",
                    path.display(),
                    format!("could not create its folder: {}", files::explain(path, &e)),
                )
            })?;
        }
        let file = files::open_regular(path, OpenOptions::new().create(true).append(true)).map_err(|e| {
            // Made something other than a file since the check above.
            if files::is_other_than_file(path) {
                return not_regular();
            }
            Error::invalid(
                "filePath",
                path.display(),
                format!("could not open it for writing: {}", files::explain(path, &e)),
            )
        })?;
        Ok(TraceFile {
            path: path.to_path_buf(),
            file,
            size: 0,
            max,
            next_part: 1,
            rotated: Vec::new(),
            error: None,
            rotate_error: None,
            #[cfg(test)]
            fail_rotations: 0,
        })
    }

    /// Goes on with the file as it is (tracing re-enabled with the same file: the trace goes
    /// on), counting what it holds towards its size.
    pub fn resume(&mut self) {
        self.next_part = next_part_number(&self.path);
        self.size = fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
    }

    /// Starts the session's own file, once the previous session (which may have written to
    /// the same path) has finished: what the file holds is moved aside as the next rotated
    /// part, so this session's files, and its archive, hold its records only. Should that
    /// fail, the session appends to the file as it is rather than not start.
    pub fn start(&mut self) {
        self.next_part = next_part_number(&self.path);
        self.size = fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if self.size > 0 {
            let aside = self.part_path();
            if fs::rename(&self.path, &aside).is_err() {
                return;
            }
            match OpenOptions::new().create(true).write(true).truncate(true).open(&self.path) {
                Ok(f) => {
                    self.file = f;
                    self.size = 0;
                    self.next_part += 1;
                }
                // The open handle now names the part: put it back, so the files listed are right.
                Err(_) => {
                    let _ = fs::rename(&aside, &self.path);
                }
            }
        }
    }

    /// The next rotated part's name: never one that exists (a rename would replace it).
    fn part_path(&mut self) -> PathBuf {
        loop {
            let part = PathBuf::from(format!("{}.{}", self.path.display(), self.next_part));
            if !part.exists() {
                return part;
            }
            self.next_part += 1;
        }
    }

    /// Writes a chunk's lines: as many as fit in one call, then rotates. After a write
    /// error nothing more is written (the error is reported when tracing is disabled). A
    /// rotation that fails (on Windows, while another program has the file open without
    /// sharing delete) is tried again with the next chunk; meanwhile the file grows past its
    /// size rather than lose records.
    fn write_chunk(&mut self, chunk: &Chunk) {
        let mut line = 0;
        let mut may_rotate = true;
        while line < chunk.len() && self.error.is_none() {
            let start = if line == 0 { 0 } else { chunk.ends[line - 1] + 1 };
            // The lines that still fit (a first line always goes in, even a long one).
            let mut end = line;
            while end < chunk.len() {
                let bytes = (chunk.ends[end] + 1 - start) as u64;
                if self.size + bytes > self.max && (self.size > 0 || end > line) {
                    break;
                }
                end += 1;
            }
            if end == line {
                if may_rotate && self.rotate() {
                    continue;
                }
                may_rotate = false;
                end = chunk.len();
            }
            let slice = &chunk.text.as_bytes()[start..chunk.ends[end - 1] + 1];
            match self.file.write_all(slice) {
                Ok(()) => self.size += slice.len() as u64,
                Err(e) => self.error = Some(format!("could not write {}: {}", self.path.display(), files::os_text(&e))),
            }
            line = end;
        }
    }

    /// Renames the file to the next part and starts a new one; false when the rename failed
    /// (the file stays as it was).
    fn rotate(&mut self) -> bool {
        let next = self.part_path();
        if let Err(e) = self.rename_to(&next) {
            self.rotate_error = Some(format!(
                "could not rotate {}, so it grew past its size: {}",
                self.path.display(),
                files::os_text(&e)
            ));
            return false;
        }
        self.rotate_error = None;
        match OpenOptions::new().create(true).write(true).truncate(true).open(&self.path) {
            Ok(f) => {
                self.next_part += 1;
                self.rotated.push(next);
                self.file = f;
                self.size = 0;
            }
            Err(e) => {
                self.error = Some(format!("could not start a new {}: {}", self.path.display(), files::os_text(&e)))
            }
        }
        true
    }

    fn rename_to(&mut self, next: &Path) -> io::Result<()> {
        #[cfg(test)]
        if self.fail_rotations > 0 {
            self.fail_rotations -= 1;
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "held open by another program"));
        }
        fs::rename(&self.path, next)
    }

    fn finish(mut self) -> WriterOutcome {
        if let Err(e) = self.file.flush() {
            self.error.get_or_insert(format!("could not write {}: {}", self.path.display(), files::os_text(&e)));
        }
        if let Some(e) = self.rotate_error.take() {
            self.error.get_or_insert(e);
        }
        self.rotated.push(self.path);
        WriterOutcome { files: self.rotated, error: self.error }
    }
}

/// The writer thread's loop: drain and write until told to stop, then once more.
pub(crate) fn run(sink: Arc<Sink>, mut file: Option<TraceFile>) -> WriterOutcome {
    loop {
        let stop = sink.wait();
        sink.drain();
        if let Some(f) = file.as_mut() {
            for chunk in sink.take_for_file() {
                f.write_chunk(&chunk);
            }
        }
        if stop {
            break;
        }
    }
    match file {
        Some(f) => f.finish(),
        None => WriterOutcome { files: Vec::new(), error: None },
    }
}

/// The archive `Disable-MessageTracing -ArchiveLogs` writes: made (empty) before tracing
/// is turned off, so a folder that takes no file fails the call while tracing is still on.
pub(crate) struct Archive {
    target: PathBuf,
    folder: PathBuf,
    out: File,
}

fn archive_error(folder: &Path, e: io::Error) -> Error {
    Error::invalid(
        "archivePath",
        folder.display(),
        format!("could not write the archive: {}", files::explain_folder(folder, &e)),
    )
}

impl Archive {
    /// Creates `folder` and the empty `<folder>/<stem>-<timestamp>.log.gz` (a name not taken).
    pub fn create(log_path: &Path, folder: &Path, now_ms: i64) -> Result<Archive, Error> {
        let bad = |e| archive_error(folder, e);
        if !folder.as_os_str().is_empty() {
            fs::create_dir_all(folder).map_err(bad)?;
        }
        let stem = log_path.file_stem().map_or_else(|| "trace".into(), |s| s.to_string_lossy().into_owned());
        let stamp = format_ms(now_ms).replace([':', '.'], "-");
        let mut target = folder.join(format!("{stem}-{stamp}.log.gz"));
        let mut k = 1;
        loop {
            // create_new: never replaces a file, even one made since the name was chosen.
            match OpenOptions::new().write(true).create_new(true).open(&target) {
                Ok(out) => return Ok(Archive { target, folder: folder.to_path_buf(), out }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    target = folder.join(format!("{stem}-{stamp}-{k}.log.gz"));
                    k += 1;
                }
                Err(e) => return Err(bad(e)),
            }
        }
    }

    /// Concatenates `files` (oldest first) into the archive. One that cannot be completed is
    /// removed again.
    pub fn write(self, files: &[PathBuf]) -> Result<PathBuf, Error> {
        let Archive { target, folder, out } = self;
        let bad = |e| archive_error(&folder, e);
        let written = (|| {
            let mut gz = flate2::write::GzEncoder::new(BufWriter::new(out), flate2::Compression::default());
            for f in files {
                // Streamed: a trace file may be as large as maxFileBytes, which has no upper bound.
                let mut h = File::open(f).map_err(|e| {
                    Error::invalid(
                        "trace file",
                        f.display(),
                        format!("could not read it for the archive: {}", files::explain(f, &e)),
                    )
                })?;
                io::copy(&mut h, &mut gz).map_err(bad)?;
            }
            gz.finish().and_then(|mut w| w.flush()).map_err(bad)
        })();
        match written {
            Ok(()) => Ok(target),
            Err(e) => {
                // No half archive left behind to be taken for a whole one.
                let _ = fs::remove_file(&target);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty folder of this test's own under the temp folder.
    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mc-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn rotated_parts_are_numbered_above_those_on_disk_and_absurd_numbers_are_ignored() {
        let dir = fresh_dir("parts");
        let path = dir.join("t.log");
        assert_eq!(next_part_number(&path), 1);
        for name in ["t.log.3", "t.log.x", "t.log.bak", "t.log.18446744073709551615", "other.log.9"] {
            fs::write(dir.join(name), "").unwrap();
        }
        assert_eq!(next_part_number(&path), 4);
        let _ = fs::remove_dir_all(&dir);
    }

    fn chunk(lines: &[&str]) -> Chunk {
        let mut text = String::new();
        let mut ends = Vec::new();
        for l in lines {
            text.push_str(l);
            ends.push(text.len());
            text.push('\n');
        }
        Chunk { text, ends }
    }

    #[test]
    fn a_rotation_that_fails_keeps_writing_past_the_size_and_is_tried_again_with_the_next_chunk() {
        let dir = fresh_dir("rotate-blocked");
        let path = dir.join("t.log");
        let mut file = TraceFile::open(&path, 20).unwrap();
        file.start();
        file.fail_rotations = 1;
        file.write_chunk(&chunk(&["0123456789", "0123456789", "0123456789"]));
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 3, "nothing lost while it could not rotate");
        assert!(file.error.is_none(), "{:?}", file.error);
        file.write_chunk(&chunk(&["abc"]));
        assert_eq!(fs::read_to_string(dir.join("t.log.1")).unwrap().lines().count(), 3, "rotated with the next chunk");
        assert_eq!(fs::read_to_string(&path).unwrap(), "abc\n");
        let outcome = file.finish();
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert_eq!(outcome.files, [dir.join("t.log.1"), path.clone()]);

        // Still failing when tracing stops: the summary says why the file is too large.
        let mut file = TraceFile::open(&path, 5).unwrap();
        file.start();
        file.fail_rotations = u32::MAX;
        file.write_chunk(&chunk(&["0123456789", "0123456789"]));
        let outcome = file.finish();
        assert!(outcome.error.as_deref().is_some_and(|e| e.contains("could not rotate")), "{:?}", outcome.error);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_archive_that_cannot_be_completed_leaves_no_file() {
        let dir = fresh_dir("archive-fail");
        let present = dir.join("t.log");
        fs::write(&present, "{}\n").unwrap();
        let missing = dir.join("t.log.1");
        let out = dir.join("archive");
        let archive = |files: &[PathBuf]| Archive::create(&present, &out, 0).and_then(|a| a.write(files));
        assert!(archive(&[present.clone(), missing]).is_err());
        assert_eq!(fs::read_dir(&out).unwrap().count(), 0, "no partial archive left");
        assert!(archive(&[present.clone()]).is_ok());
        let _ = fs::remove_dir_all(&dir);
    }
}
