use curatore_persistence::PersistenceError;
use std::io;

/// Why a backup, a verification or a restore did not happen. Every message
/// says what was being done and to which file; none holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Not done on purpose: the database is PostgreSQL, in use, missing, or
    /// the archive asks for something this server cannot give (a newer
    /// schema, a key it does not have). The message says what to do.
    #[error("{0}")]
    Refused(String),
    /// The archive is not a Curatore backup, or not intact: a checksum, a
    /// size, an entry or SQLite's integrity check disagrees.
    #[error("{0}")]
    Damaged(String),
    /// A file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The service layer failed (reading a copy's connections).
    #[error("{context}: {source}")]
    Service {
        /// What was being done.
        context: String,
        /// The service layer's error.
        #[source]
        source: curatore_service::ServiceError,
    },
    /// The database failed.
    #[error("{context}: {source}")]
    Database {
        /// What was being done.
        context: String,
        /// The persistence layer's error.
        #[source]
        source: PersistenceError,
    },
}

impl BackupError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }

    pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(PersistenceError) -> Self {
        let context = context.into();
        move |source| Self::Database { context, source }
    }

    /// In one word, for metrics and the audit trail: `disk_full` (no space,
    /// or a file-size limit), `permission` (not allowed, read-only), or
    /// `error` (anything else).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Io { source, .. } => io_reason(source),
            Self::Database { source, .. } => {
                // The persistence layer names SQLite's result codes in words.
                // SQLite reports a disk that fills while it extends a file
                // (fallocate, ftruncate, a file-size limit) as a write error,
                // not as "full": both mean no room for the copy.
                let text = source.to_string();
                if text.contains("full") || text.contains("could not read or write") {
                    "disk_full"
                } else if text.contains("read-only") || text.contains("cannot open") {
                    "permission"
                } else {
                    "error"
                }
            }
            Self::Refused(_) | Self::Damaged(_) | Self::Service { .. } => "error",
        }
    }
}

/// EFBIG: a file grew past the process's size limit (`RLIMIT_FSIZE`, a quota).
const EFBIG: i32 = 27;

fn io_reason(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
            "disk_full"
        }
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => "permission",
        _ if err.raw_os_error() == Some(EFBIG) => "disk_full",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_sorted_into_a_few_reasons() {
        let io = |kind| BackupError::io("writing x")(io::Error::from(kind));
        assert_eq!(io(io::ErrorKind::StorageFull).reason(), "disk_full");
        assert_eq!(
            BackupError::io("x")(io::Error::from_raw_os_error(EFBIG)).reason(),
            "disk_full"
        );
        assert_eq!(io(io::ErrorKind::PermissionDenied).reason(), "permission");
        assert_eq!(io(io::ErrorKind::NotFound).reason(), "error");
        let full = PersistenceError::Unavailable("the SQLite database or its disk is full".into());
        assert_eq!(BackupError::db("copying")(full).reason(), "disk_full");
        assert_eq!(BackupError::Refused("in use".into()).reason(), "error");
        assert_eq!(
            io(io::ErrorKind::StorageFull).to_string(),
            "writing x: no storage space"
        );
    }
}
