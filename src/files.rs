//! Files at a path a caller gives (export, import, the trace file): only regular files are
//! read or written. Anything else would misbehave: a named pipe blocks until its other end
//! opens (maybe never), a device such as `/dev/zero` never ends, and a file written through
//! a temporary file and a rename would replace the pipe, the device or a symbolic link.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Why a path is refused, as the detail of an error naming it.
pub(crate) const NOT_REGULAR: &str = "it is not a regular file but a folder, a named pipe or a device";

/// `path`, or, when it is a symbolic link, the file the link names (read relative to the
/// link's folder when that file does not exist yet): the file to read, write or replace, so
/// that the link stays a link.
pub(crate) fn follow_link(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).ok().or_else(|| {
            let target = fs::read_link(path).ok()?;
            Some(path.parent().map_or(target.clone(), |dir| dir.join(&target)))
        }),
        _ => None,
    }
    .unwrap_or_else(|| path.to_path_buf())
}

/// Whether something other than a regular file is at `path` (links followed); a path with
/// nothing at it is not.
pub(crate) fn is_other_than_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| !m.is_file())
}

/// Opens `path` as `options` say, refusing anything but a regular file without waiting on
/// it: checked before opening, and again on the open handle, as the path may change between.
pub(crate) fn open_regular(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    let not_regular = || io::Error::new(io::ErrorKind::InvalidInput, NOT_REGULAR);
    if is_other_than_file(path) {
        return Err(not_regular());
    }
    #[cfg(unix)]
    {
        // Opening a named pipe would otherwise wait for its other end. No effect on a regular
        // file, whose reads and writes never wait anyway.
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

/// What went wrong at `path`, a file being read or written, in plain words with what to do:
/// the folder that does not exist, or the file that stands where a folder should be, named;
/// otherwise the operating system's explanation without its error number ("(os error 2)").
/// A message the library made itself (no OS error) is kept, with a remedy when it has none.
pub(crate) fn explain(path: &Path, e: &io::Error) -> String {
    explain_from(path, false, e)
}

/// As [`explain`], for `folder`, a folder being created or written into.
pub(crate) fn explain_folder(folder: &Path, e: &io::Error) -> String {
    explain_from(folder, true, e)
}

fn explain_from(path: &Path, is_folder: bool, e: &io::Error) -> String {
    const ELSEWHERE: &str = "choose another path";
    if e.raw_os_error().is_none() {
        let text = e.to_string();
        return if text.contains("; ") { text } else { format!("{text}; {ELSEWHERE}") };
    }
    // The folders the path needs: its parents, and the path itself when it is to be a folder.
    let folders = || path.ancestors().skip(usize::from(!is_folder)).filter(|p| !p.as_os_str().is_empty());
    let kind = e.kind();
    if matches!(kind, io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::AlreadyExists) {
        if let Some(file) = folders().find(|p| fs::metadata(p).is_ok_and(|m| !m.is_dir())) {
            return format!("'{}' is a file, not a folder; {ELSEWHERE}", file.display());
        }
        if kind == io::ErrorKind::NotFound {
            // The deepest folder that is missing: the one to create (with those above it).
            if let Some(missing) = folders().find(|p| fs::symlink_metadata(p).is_err()) {
                return format!("the folder '{}' does not exist; create it or {ELSEWHERE}", missing.display());
            }
            return format!("it does not exist; check the path or {ELSEWHERE}");
        }
    }
    let reason = match kind {
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::IsADirectory => return format!("it is a folder, not a file; {ELSEWHERE}"),
        io::ErrorKind::ReadOnlyFilesystem => "the file system is read-only".to_owned(),
        io::ErrorKind::StorageFull => return format!("the disk is full; free some space or {ELSEWHERE}"),
        _ => os_text(e),
    };
    format!("{reason}; check that you may read and write there, or {ELSEWHERE}")
}

/// The operating system's explanation of `e` without its error number, starting in lower
/// case to go after a colon: "no such file or directory".
pub(crate) fn os_text(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => &text[..i],
        _ => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        // "No such file", not an acronym such as "I/O error".
        Some(c) if c.is_uppercase() && chars.next().is_some_and(char::is_lowercase) => {
            c.to_lowercase().chain(text[c.len_utf8()..].chars()).collect()
        }
        _ => text.to_owned(),
    }
}
