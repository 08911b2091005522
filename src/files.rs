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
