//! Every file and directory pgcopydb writes under `--dir` goes through here,
//! so that the work directory stays private to the user running it (it holds
//! the schema, role password verifiers and the run's state), whatever the
//! umask, and no write ever follows a symbolic link planted in it.
//!
//! Directories are 0700, files 0600. A directory owned by another user, or
//! that others may write into (where they could plant links or swap files),
//! is refused.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::Failure;

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;
/// Prefix of the temporary files [`write_private_file`] renames into place.
pub const TEMP_PREFIX: &str = ".pgcopydb-tmp-";

/// Create `path` (and its missing parents) with mode 0700, or check that the
/// existing directory is ours and closed to others, tightening it to 0700.
pub fn create_private_dir(path: &Path) -> Result<()> {
    match DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists || path.is_file() => {
            return Err(not_a_directory(path).into())
        }
        Err(e) => {
            return Err(e).with_context(|| format!("creating work directory {}", path.display()))
        }
    }
    check_ours(path)?;
    // A directory we own but that others may read (made by mkdir under the
    // usual umask, or by an earlier version): close it.
    fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE))
        .with_context(|| format!("setting the mode of {} to 0700", path.display()))
}

fn not_a_directory(path: &Path) -> Failure {
    Failure::state(format!(
        "--dir {} exists and is not a directory: give the path of a directory \
         (pgcopydb creates it when missing)",
        path.display()
    ))
}

/// Refuse a directory (or a link to one) that another user owns, or that
/// its group or others may write into.
fn check_ours(path: &Path) -> Result<()> {
    let me = unsafe { libc::geteuid() };
    let link = fs::symlink_metadata(path)
        .with_context(|| format!("reading work directory {}", path.display()))?;
    // A link someone else planted (say in a shared /tmp) would send us into
    // a directory of their choosing.
    if link.file_type().is_symlink() && link.uid() != me && link.uid() != 0 {
        return Err(Failure::state(format!(
            "work directory {} is a symbolic link owned by another user (uid {}): \
             give a directory of your own with --dir",
            path.display(),
            link.uid()
        ))
        .into());
    }
    let meta =
        fs::metadata(path).with_context(|| format!("reading work directory {}", path.display()))?;
    if !meta.is_dir() {
        return Err(not_a_directory(path).into());
    }
    if meta.uid() != me {
        return Err(Failure::state(format!(
            "work directory {} is owned by another user (uid {}): pgcopydb only works in a \
             directory of its own user; give another --dir",
            path.display(),
            meta.uid()
        ))
        .into());
    }
    if meta.mode() & 0o022 != 0 {
        return Err(Failure::state(format!(
            "work directory {} is writable by other users (mode {:04o}): run `chmod 700 {}` \
             or give another --dir",
            path.display(),
            meta.mode() & 0o7777,
            path.display()
        ))
        .into());
    }
    Ok(())
}

/// Write `contents` to `path` as a new 0600 file renamed over whatever was
/// there: a symbolic link at `path` is replaced, never followed, and a reader
/// never sees half a file.
/// A JSON record the work directory may hold (`snapshot.slot`,
/// `slot.intent`): `None` when absent.
pub fn read_json_record<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", path.display()))?,
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Remove a file of ours; already gone is not an error.
pub fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    write_private_file_with(path, |w| w.write_all(contents))
}

/// [`write_private_file`] with the contents written by `write` (through a
/// buffer), so that a large file need not be built in memory first.
pub fn write_private_file_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let temp = temp_path(path);
    let written = (|| {
        let mut out = io::BufWriter::new(create_new_private(&temp)?);
        write(&mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written.with_context(|| format!("writing {}", path.display()))
}

/// A new, empty 0600 file at `path` for writing, replacing (never following)
/// whatever entry was there.
pub fn open_private_file(path: &Path) -> io::Result<File> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is a directory", path.display()),
            ))
        }
        // remove_file removes a link itself, not what it points to.
        Ok(_) => fs::remove_file(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    create_new_private(path)
}

/// Create `path` exclusively (O_EXCL: fails if any entry, link included,
/// is there), mode 0600 whatever the umask.
pub fn create_new_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    // The umask can only have narrowed the mode; make it exact anyway.
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Open an existing file for reading and writing without following a link.
pub fn open_existing_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{TEMP_PREFIX}{}-{name}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn writes_replace_links_and_leave_their_targets_alone() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.conf");
        fs::write(&outside, "precious").unwrap();
        let work = dir.path().join("work");
        create_private_dir(&work).unwrap();
        for name in ["summary.json", "pre-filtered.list"] {
            symlink(&outside, work.join(name)).unwrap();
        }
        write_private_file(&work.join("summary.json"), b"{}").unwrap();
        open_private_file(&work.join("pre-filtered.list"))
            .unwrap()
            .write_all(b"x")
            .unwrap();
        assert_eq!(fs::read_to_string(&outside).unwrap(), "precious");
        for name in ["summary.json", "pre-filtered.list"] {
            let meta = fs::symlink_metadata(work.join(name)).unwrap();
            assert!(meta.is_file(), "{name} is a plain file now");
            assert_eq!(meta.mode() & 0o777, 0o600, "{name}");
        }
        assert!(create_new_private(&work.join("summary.json")).is_err());
    }

    #[test]
    fn directories_are_private_and_shared_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("a/b");
        create_private_dir(&work).unwrap();
        assert_eq!(fs::metadata(&work).unwrap().mode() & 0o777, 0o700);
        // An existing directory of ours, readable by others: closed.
        let open = dir.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&open).unwrap();
        assert_eq!(fs::metadata(&open).unwrap().mode() & 0o777, 0o700);
        // Writable by others: refused, left as it is.
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let err = create_private_dir(&open).unwrap_err();
        assert!(
            format!("{err:#}").contains("writable by other users"),
            "{err:#}"
        );
        assert_eq!(fs::metadata(&open).unwrap().mode() & 0o777, 0o777);
        // A file: one sentence, exit 3.
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let err = create_private_dir(&file).unwrap_err();
        assert!(format!("{err:#}").contains("is not a directory"), "{err:#}");
        assert_eq!(
            crate::error::exit_code_of(&err),
            crate::error::ExitCode::BadState
        );
    }
}
