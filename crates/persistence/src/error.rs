use curatore_domain::DomainError;
use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, SqlErr};

/// Everything that can go wrong below the repositories, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    /// The database cannot be reached (down, pool exhausted, timed out).
    /// Callers answer 503 and retry later; nothing was written.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A unique rule was broken; `field` says which (`email`, `username`, `slug`, …).
    #[error("a record with this {field} already exists")]
    Conflict {
        /// The field whose value is taken.
        field: &'static str,
    },
    /// A referenced record does not exist.
    #[error("a referenced record does not exist")]
    MissingReference,
    /// No record matched.
    #[error("not found")]
    NotFound,
    /// The database cannot store a text value (PostgreSQL refuses U+0000
    /// and characters its encoding lacks). Callers answer 400.
    #[error("a text value holds a character the database cannot store")]
    InvalidText,
    /// A stored value breaks a domain rule: the data was written by something else.
    #[error("stored data breaks a domain rule: {0}")]
    Corrupt(#[from] DomainError),
    /// The operation does not exist for this database engine (an online
    /// file copy of PostgreSQL); the text says what to use instead.
    #[error("{0}")]
    Unsupported(&'static str),
    /// Anything else the database reported. The detail is for logs, not for users.
    #[error("database error")]
    Database(#[source] DbErr),
}

/// The constraint names (and SQLite's `table.column` forms) that map to a field.
const UNIQUE_FIELDS: &[(&str, &str)] = &[
    ("users.email", "email"),
    ("ix_users_email", "email"),
    ("users.username", "username"),
    ("ix_users_username", "username"),
    ("organizations.slug", "slug"),
    ("ix_organizations_slug", "slug"),
    ("organizations.name", "name"),
    ("ix_organizations_name", "name"),
    ("api_keys.key_hash", "key_hash"),
    ("ix_api_keys_key_hash", "key_hash"),
    ("system_settings.key", "key"),
    ("ix_system_settings_key", "key"),
    ("refresh_tokens.token_hash", "token_hash"),
    ("ix_refresh_tokens_token_hash", "token_hash"),
    ("ux_connections_org_type_default", "is_default"),
    (
        "connections.organization_id, connections.connection_type",
        "is_default",
    ),
];

impl From<DbErr> for PersistenceError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(msg)) => {
                let field = UNIQUE_FIELDS
                    .iter()
                    .find(|(needle, _)| msg.contains(needle))
                    .map_or("id", |(_, field)| field);
                return Self::Conflict { field };
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => return Self::MissingReference,
            _ => {}
        }
        match &err {
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => {
                Self::Unavailable("timed out waiting for a database connection".into())
            }
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed) => {
                Self::Unavailable("the connection pool is closed".into())
            }
            DbErr::RecordNotFound(_) | DbErr::RecordNotUpdated => Self::NotFound,
            // Whatever stopped a connection from being made (including a
            // server refusing this database for now) is an outage.
            DbErr::Conn(RuntimeErr::SqlxError(e)) => match classify(e) {
                Class::Unavailable(reason) => Self::Unavailable(reason),
                _ => Self::Unavailable("the database connection failed".into()),
            },
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
                match classify(e) {
                    Class::Unavailable(reason) => Self::Unavailable(reason),
                    Class::RejectedText => Self::InvalidText,
                    Class::Other => Self::Database(err),
                }
            }
            DbErr::Conn(_) => Self::Unavailable("the database connection failed".into()),
            _ => Self::Database(err),
        }
    }
}

/// What a driver error means for the caller.
enum Class {
    /// Retry later: nothing was written.
    Unavailable(String),
    /// The engine cannot store the text (PostgreSQL and U+0000).
    RejectedText,
    Other,
}

/// Sorts a driver error by its structured kind and code, never by its text.
fn classify(err: &sqlx::Error) -> Class {
    match err {
        sqlx::Error::Io(e) => {
            Class::Unavailable(format!("the database connection failed ({})", e.kind()))
        }
        sqlx::Error::Tls(_) => Class::Unavailable("the database connection's TLS failed".into()),
        sqlx::Error::Protocol(_) => Class::Unavailable("the database connection broke".into()),
        sqlx::Error::PoolTimedOut => {
            metrics::counter!(crate::metrics::POOL_TIMEOUTS).increment(1);
            Class::Unavailable("timed out waiting for a database connection".into())
        }
        sqlx::Error::PoolClosed => Class::Unavailable("the connection pool is closed".into()),
        sqlx::Error::WorkerCrashed => Class::Unavailable("the SQLite worker stopped".into()),
        sqlx::Error::BeginFailed => Class::Unavailable("the transaction could not start".into()),
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return Class::Other;
            };
            classify_code(db.as_ref(), &code)
        }
        _ => Class::Other,
    }
}

/// A database error's code, read as the engine that raised it means it.
fn classify_code(db: &dyn sqlx::error::DatabaseError, code: &str) -> Class {
    if raised_by_postgres(db) {
        classify_postgres(code)
    } else if cfg!(feature = "sqlite") {
        code.parse().map_or(Class::Other, classify_sqlite)
    } else {
        Class::Other
    }
}

#[cfg(feature = "postgres")]
fn raised_by_postgres(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
}

#[cfg(not(feature = "postgres"))]
fn raised_by_postgres(_: &dyn sqlx::error::DatabaseError) -> bool {
    false
}

/// SQLite's extended result codes: the primary code is the low byte.
fn classify_sqlite(extended: i64) -> Class {
    match extended & 0xff {
        5 | 6 => Class::Unavailable("the SQLite database is locked".into()),
        7 => Class::Unavailable("SQLite ran out of memory".into()),
        8 => Class::Unavailable("the SQLite database is read-only".into()),
        10 => Class::Unavailable("SQLite could not read or write its file".into()),
        11 | 26 => Class::Unavailable("the SQLite file is damaged or not a database".into()),
        13 => Class::Unavailable("the SQLite database or its disk is full".into()),
        14 => Class::Unavailable("SQLite cannot open its file".into()),
        15 => Class::Unavailable("the SQLite file's locks are inconsistent".into()),
        _ => Class::Other,
    }
}

/// PostgreSQL's SQLSTATEs.
fn classify_postgres(code: &str) -> Class {
    match code {
        "22021" | "22P05" => Class::RejectedText,
        "25006" => Class::Unavailable("the PostgreSQL server is read-only".into()),
        "40001" | "40P01" => Class::Unavailable("a concurrent change conflicted; try again".into()),
        "53100" => Class::Unavailable("the PostgreSQL server's disk is full".into()),
        "53200" => Class::Unavailable("the PostgreSQL server is out of memory".into()),
        "53300" => Class::Unavailable("the PostgreSQL server has too many connections".into()),
        "3D000" => Class::Unavailable("the database does not exist".into()),
        "28000" | "28P01" => Class::Unavailable("authentication failed".into()),
        _ if code.starts_with("08") => Class::Unavailable("the database connection failed".into()),
        _ if code.starts_with("57P") => {
            Class::Unavailable("the server terminated the connection".into())
        }
        _ if code.starts_with("58") => {
            Class::Unavailable("the PostgreSQL server had an I/O error".into())
        }
        _ => Class::Other,
    }
}

impl PersistenceError {
    /// A failure to open the pool.
    pub(crate) fn from_connect(err: sqlx::Error) -> Self {
        let reason = match classify(&err) {
            Class::Unavailable(reason) => reason,
            _ => match &err {
                sqlx::Error::Configuration(_) => "the database settings are not valid".into(),
                _ => "the database connection failed".into(),
            },
        };
        // The driver's own words may quote the URL: log them, do not return them.
        tracing::debug!(error = %err, "database connection failed");
        Self::Unavailable(reason)
    }

    /// Whether this failure means the database could not be reached or
    /// written at all, as opposed to a refused request.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = PersistenceError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_failures_are_outages_not_internal_errors() {
        // SQLITE_FULL, SQLITE_IOERR_WRITE (778), SQLITE_READONLY_DBMOVED (1032), SQLITE_BUSY.
        for code in ["13", "778", "1032", "5"] {
            let code: i64 = code.parse().unwrap();
            assert!(
                matches!(classify_sqlite(code), Class::Unavailable(_)),
                "{code}"
            );
        }
        for code in ["53100", "08006", "57P01", "25006"] {
            assert!(
                matches!(classify_postgres(code), Class::Unavailable(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn text_the_engine_cannot_store_is_bad_input() {
        assert!(matches!(classify_postgres("22021"), Class::RejectedText));
        assert!(matches!(classify_postgres("22P05"), Class::RejectedText));
        // A unique violation is not decided here.
        assert!(matches!(classify_postgres("23505"), Class::Other));
        assert!(matches!(classify_sqlite(2067), Class::Other));
    }
}
