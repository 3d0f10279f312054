use curatore_domain::DomainError;
use sea_orm::{DbErr, SqlErr};

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
    /// A stored value breaks a domain rule: the data was written by something else.
    #[error("stored data breaks a domain rule: {0}")]
    Corrupt(#[from] DomainError),
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
            DbErr::ConnectionAcquire(e) => Self::Unavailable(e.to_string()),
            DbErr::Conn(e) => Self::Unavailable(unavailable_reason(&e.to_string())),
            DbErr::RecordNotFound(_) | DbErr::RecordNotUpdated => Self::NotFound,
            DbErr::Exec(e) | DbErr::Query(e) if is_connection_failure(&e.to_string()) => {
                Self::Unavailable(unavailable_reason(&e.to_string()))
            }
            _ => Self::Database(err),
        }
    }
}

impl PersistenceError {
    /// A failure to open the pool.
    pub(crate) fn from_connect(err: sqlx::Error) -> Self {
        let detail = err.to_string();
        // Keep the driver's words unless they could quote a URL.
        if detail.contains("://") {
            Self::Unavailable(unavailable_reason(&detail))
        } else {
            Self::Unavailable(detail)
        }
    }
}

fn is_connection_failure(msg: &str) -> bool {
    let msg = msg.to_ascii_lowercase();
    [
        "pool timed out",
        "connection refused",
        "connection reset",
        "broken pipe",
        "terminating connection",
        "error communicating with database",
        "unexpected eof",
        "pool was closed",
        "connection closed",
    ]
    .iter()
    .any(|needle| msg.contains(needle))
}

/// Driver messages may quote the URL; keep only the part that explains the failure.
fn unavailable_reason(msg: &str) -> String {
    let lower = msg.to_ascii_lowercase();
    for (needle, reason) in [
        (
            "pool timed out",
            "timed out waiting for a database connection",
        ),
        ("connection refused", "connection refused"),
        ("pool was closed", "the connection pool is closed"),
        (
            "terminating connection",
            "the server terminated the connection",
        ),
        ("password authentication failed", "authentication failed"),
        ("does not exist", "the database does not exist"),
    ] {
        if lower.contains(needle) {
            return reason.to_owned();
        }
    }
    "the database connection failed".to_owned()
}

/// Shorthand for this crate's results.
pub type Result<T, E = PersistenceError> = std::result::Result<T, E>;
