//! The folder archives go to: created private, held by one backup at a
//! time (a lock file, so of several processes writing there one does the
//! work), cleaned of what an interrupted backup left, and pruned to the
//! newest archives.

use crate::error::BackupError;
use chrono::{DateTime, NaiveDateTime, Utc};
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// Every archive's name starts so: `curatore-backup-<UTC time>.tar`.
pub const ARCHIVE_PREFIX: &str = "curatore-backup-";
const ARCHIVE_SUFFIX: &str = ".tar";
/// Millisecond precision, fixed width: names sort as their times do.
const TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";
const LOCK_FILE: &str = ".curatore-backup.lock";
/// A backup's work folder starts so; only a lock holder makes one.
const SCRATCH_PREFIX: &str = ".curatore-backup-work-";
const PARTIAL_SUFFIX: &str = ".partial";

/// The archive name for a backup taken at `at`.
pub fn archive_name(at: DateTime<Utc>) -> String {
    format!("{ARCHIVE_PREFIX}{}{ARCHIVE_SUFFIX}", at.format(TIME_FORMAT))
}

/// When the archive named `name` was taken, if it is one of ours.
fn archive_time(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name
        .strip_prefix(ARCHIVE_PREFIX)?
        .strip_suffix(ARCHIVE_SUFFIX)?;
    NaiveDateTime::parse_from_str(stamp, TIME_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// An archive found in a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundArchive {
    /// When it was taken (from its name).
    pub taken_at: DateTime<Utc>,
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// Our archives in `dir`, newest first; other files are not looked at.
///
/// # Errors
/// When the folder cannot be listed.
pub fn archives_in(dir: &Path) -> io::Result<Vec<FoundArchive>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(taken_at) = name.to_str().and_then(archive_time) else {
            continue;
        };
        let meta = entry.metadata()?;
        if meta.is_file() {
            found.push(FoundArchive {
                taken_at,
                path: entry.path(),
                bytes: meta.len(),
            });
        }
    }
    found.sort_by_key(|a| std::cmp::Reverse(a.taken_at));
    Ok(found)
}

/// Creates `dir` (mode 0700) when missing and checks that files can be
/// made in it: what the server does at start with `BACKUP_DIR`.
///
/// # Errors
/// When it is not a folder, cannot be created, or cannot be written to.
pub fn prepare(dir: &Path) -> Result<(), BackupError> {
    let shown = dir.display();
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .map_err(BackupError::io(format!("cannot create the folder {shown}")))?;
    }
    if !dir.is_dir() {
        return Err(BackupError::Refused(format!("{shown} is not a folder")));
    }
    let probe = tempfile::Builder::new()
        .prefix(".curatore-probe-")
        .tempfile_in(dir)
        .map_err(BackupError::io(format!("cannot write in {shown}")))?;
    drop(probe);
    Ok(())
}

/// A folder held for writing archives: while a value lives, no other
/// backup (in this process or another) writes there.
#[derive(Debug)]
pub struct BackupDir {
    path: PathBuf,
    _lock: File,
}

impl BackupDir {
    fn lock_file(path: &Path) -> Result<File, BackupError> {
        prepare(path)?;
        let lock = path.join(LOCK_FILE);
        let mut options = OpenOptions::new();
        options.create(true).write(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options
            .open(&lock)
            .map_err(BackupError::io(format!("cannot open {}", lock.display())))
    }

    fn held(path: &Path, file: File) -> Self {
        let held = Self {
            path: path.to_owned(),
            _lock: file,
        };
        held.remove_leftovers();
        held
    }

    /// Holds `path` (created when missing), waiting while another backup
    /// writes there.
    ///
    /// # Errors
    /// When the folder cannot be created, written or locked.
    pub async fn lock(path: &Path) -> Result<Self, BackupError> {
        if let Some(held) = Self::try_lock(path)? {
            return Ok(held);
        }
        tracing::info!(dir = %path.display(), "another backup is writing into {}; waiting for it", path.display());
        let file = Self::lock_file(path)?;
        let path = path.to_owned();
        crate::blocking(move || {
            file.lock()
                .map_err(BackupError::io(format!("cannot lock {}", path.display())))?;
            Ok(Self::held(&path, file))
        })
        .await
    }

    /// Holds `path` unless another backup writes there now (`None`).
    ///
    /// # Errors
    /// When the folder cannot be created, written or locked.
    pub fn try_lock(path: &Path) -> Result<Option<Self>, BackupError> {
        let file = Self::lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self::held(path, file))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(BackupError::io(format!(
                "cannot lock {}",
                path.display()
            ))(e)),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A private work folder inside, removed when dropped.
    pub(crate) fn scratch(&self) -> Result<tempfile::TempDir, BackupError> {
        tempfile::Builder::new()
            .prefix(SCRATCH_PREFIX)
            .tempdir_in(&self.path)
            .map_err(BackupError::io(format!(
                "cannot make a work folder in {}",
                self.path.display()
            )))
    }

    /// Work folders and partial archives an interrupted backup (a crash, a
    /// kill) left: only a holder of the lock makes them, so any found now
    /// are leftovers.
    fn remove_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.path) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            let removed = if name.starts_with(SCRATCH_PREFIX)
                && entry.file_type().is_ok_and(|t| t.is_dir())
            {
                std::fs::remove_dir_all(&path)
            } else if name.starts_with(&format!(".{ARCHIVE_PREFIX}"))
                && name.ends_with(PARTIAL_SUFFIX)
            {
                std::fs::remove_file(&path)
            } else {
                continue;
            };
            match removed {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed what an interrupted backup left")
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "cannot remove what an interrupted backup left: {e}")
                }
            }
        }
    }

    /// Deletes the oldest of our archives beyond the newest `keep`; other
    /// files are never touched. Returns what it deleted.
    ///
    /// # Errors
    /// When the folder cannot be listed or an archive cannot be deleted.
    pub fn prune(&self, keep: u32) -> Result<Vec<PathBuf>, BackupError> {
        let shown = self.path.display();
        let found =
            archives_in(&self.path).map_err(BackupError::io(format!("cannot list {shown}")))?;
        let mut deleted = Vec::new();
        for old in found.into_iter().skip(keep.max(1) as usize) {
            std::fs::remove_file(&old.path).map_err(BackupError::io(format!(
                "cannot delete the old archive {}",
                old.path.display()
            )))?;
            tracing::info!(archive = %old.path.display(), "Old backup deleted (BACKUP_KEEP)");
            deleted.push(old.path);
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_sort_as_their_times_and_read_back() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T04:05:06.789Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let name = archive_name(at);
        assert_eq!(name, "curatore-backup-20260301T040506.789Z.tar");
        assert_eq!(archive_time(&name), Some(at));
        let later = archive_name(at + chrono::Duration::milliseconds(1));
        assert!(later > name);
        for other in [
            "curatore-backup-latest.tar",
            "notes.txt",
            ".curatore-backup-20260301T040506.789Z.tar.partial",
            "curatore-backup-20260301T040506.789Z.tar.gz",
        ] {
            assert_eq!(archive_time(other), None, "{other}");
        }
    }
}
