use crate::error::DomainError;
use std::fmt;
use std::path::{Path, PathBuf};

/// The database engines Curatore runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// A single SQLite file: the default, needs no other service.
    Sqlite,
    /// A PostgreSQL server.
    Postgresql,
}

impl DatabaseKind {
    /// The name used in health reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgresql => "postgresql",
        }
    }
}

impl fmt::Display for DatabaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed `DATABASE_URL`.
///
/// Accepts the forms sqlx uses and the SQLAlchemy forms an existing Curatore
/// deployment's `.env` holds, so a migration from the Python system needs no
/// edit. `Debug` and `Display` never show credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file.
    Sqlite {
        /// The file, as written in the URL (relative paths are relative to the working directory).
        path: PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// The normalised `postgres://` URL, credentials included: use only to connect.
        url: String,
        /// The same URL without user, password or query parameters, safe to show.
        display: String,
    },
}

/// The accepted forms, quoted in every parse error.
pub const ACCEPTED_DATABASE_URL_FORMS: &str = "sqlite://<path>, sqlite:<path>, \
sqlite+aiosqlite:///<relative path> or sqlite+aiosqlite:////<absolute path>, \
postgres://user:password@host:port/db, postgresql://…, postgresql+asyncpg://…";

impl DatabaseUrl {
    /// Parses a URL in any accepted form.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] for field `DATABASE_URL` when the scheme is unknown,
    /// the path is empty, or a PostgreSQL URL has no host.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        let invalid = |why: &str| {
            DomainError::invalid(
                "DATABASE_URL",
                format!("{why}; accepted forms: {ACCEPTED_DATABASE_URL_FORMS}"),
            )
        };
        let Some((scheme, rest)) = raw.split_once(':') else {
            return Err(invalid(
                "no scheme (expected e.g. `sqlite://` or `postgres://`)",
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        let (base, driver) = match scheme.split_once('+') {
            Some((b, d)) => (b.to_owned(), Some(d.to_owned())),
            None => (scheme.clone(), None),
        };
        match base.as_str() {
            "sqlite" => {
                let path = match driver {
                    // SQLAlchemy: `sqlite:///rel` is relative, `sqlite:////abs` absolute.
                    Some(_) => rest.strip_prefix("///").ok_or_else(|| {
                        invalid("SQLAlchemy SQLite URLs start with `sqlite+driver:///`")
                    })?,
                    // sqlx: `sqlite://path` and `sqlite:path`; `sqlite:///abs` is absolute.
                    None => rest.strip_prefix("//").unwrap_or(rest),
                };
                if path.contains('?') {
                    return Err(invalid(
                        "SQLite URLs take no query parameters (Curatore sets the pragmas itself)",
                    ));
                }
                if path.is_empty() {
                    return Err(invalid("the SQLite file path is empty"));
                }
                if path == ":memory:" {
                    return Err(invalid(
                        "in-memory SQLite is not supported (each pooled connection would see its own empty database); use a file",
                    ));
                }
                Ok(Self::Sqlite {
                    path: PathBuf::from(path),
                })
            }
            "postgres" | "postgresql" => {
                if let Some(d) = driver.as_deref()
                    && !matches!(d, "asyncpg" | "psycopg2" | "psycopg" | "pg8000")
                {
                    return Err(invalid(&format!("unknown PostgreSQL driver `{d}`")));
                }
                let Some(after) = rest.strip_prefix("//") else {
                    return Err(invalid("PostgreSQL URLs look like postgres://host/db"));
                };
                let (authority, tail) = match after.find(['/', '?']) {
                    Some(i) => after.split_at(i),
                    None => (after, ""),
                };
                let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                if hostport.is_empty() {
                    return Err(invalid("the PostgreSQL URL has no host"));
                }
                let path = tail.split('?').next().unwrap_or("");
                Ok(Self::Postgres {
                    url: format!("postgres://{after}"),
                    display: format!("postgresql://{hostport}{path}"),
                })
            }
            _ => Err(invalid(&format!("unknown scheme `{scheme}`"))),
        }
    }

    /// The engine this URL points at.
    pub fn kind(&self) -> DatabaseKind {
        match self {
            Self::Sqlite { .. } => DatabaseKind::Sqlite,
            Self::Postgres { .. } => DatabaseKind::Postgresql,
        }
    }

    /// The SQLite file, if this is a SQLite URL.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::Sqlite { path } => Some(path),
            Self::Postgres { .. } => None,
        }
    }

    /// The URL without credentials, for health reports and logs.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite { path } => path.display().to_string(),
            Self::Postgres { display, .. } => display.clone(),
        }
    }

    /// The URL to hand to the driver. Contains the password: never log it.
    pub fn connect_url(&self) -> String {
        match self {
            Self::Sqlite { path } => format!("sqlite://{}", path.display()),
            Self::Postgres { url, .. } => url.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(raw: &str) -> PathBuf {
        DatabaseUrl::parse(raw)
            .unwrap()
            .sqlite_path()
            .unwrap()
            .to_path_buf()
    }

    #[test]
    fn sqlx_sqlite_forms() {
        assert_eq!(
            sqlite("sqlite://./data/curatore.db"),
            PathBuf::from("./data/curatore.db")
        );
        assert_eq!(sqlite("sqlite:data/c.db"), PathBuf::from("data/c.db"));
        assert_eq!(
            sqlite("sqlite:///var/lib/c.db"),
            PathBuf::from("/var/lib/c.db")
        );
    }

    #[test]
    fn sqlalchemy_sqlite_slashes() {
        assert_eq!(
            sqlite("sqlite+aiosqlite:///./data/curatore.db"),
            PathBuf::from("./data/curatore.db")
        );
        assert_eq!(
            sqlite("sqlite+aiosqlite:///data.db"),
            PathBuf::from("data.db")
        );
        assert_eq!(
            sqlite("sqlite+aiosqlite:////var/lib/c.db"),
            PathBuf::from("/var/lib/c.db")
        );
    }

    #[test]
    fn postgres_forms_are_normalised_and_redacted() {
        for raw in [
            "postgres://user:pw@db.example:5432/curatore",
            "postgresql://user:pw@db.example:5432/curatore",
            "postgresql+asyncpg://user:pw@db.example:5432/curatore",
        ] {
            let url = DatabaseUrl::parse(raw).unwrap();
            assert_eq!(url.kind(), DatabaseKind::Postgresql);
            assert_eq!(
                url.connect_url(),
                "postgres://user:pw@db.example:5432/curatore"
            );
            assert_eq!(url.redacted(), "postgresql://db.example:5432/curatore");
            assert!(!format!("{url:?}").contains("pw"));
            assert!(!url.to_string().contains("pw"));
        }
    }

    #[test]
    fn password_in_query_is_not_shown() {
        let url = DatabaseUrl::parse("postgres://h/db?password=topsecret").unwrap();
        assert!(!url.redacted().contains("topsecret"));
    }

    #[test]
    fn unknown_forms_name_the_variable_and_the_accepted_forms() {
        for raw in [
            "mysql://x/y",
            "nonsense",
            "sqlite://",
            "postgresql+odbc://h/d",
            "sqlite::memory:",
        ] {
            let err = DatabaseUrl::parse(raw).unwrap_err().to_string();
            assert!(err.starts_with("DATABASE_URL:"), "{err}");
            assert!(err.contains("accepted forms"), "{err}");
        }
    }
}
