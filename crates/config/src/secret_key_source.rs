//! Where the keys that seal connection secrets come from: the
//! `SECRETS_ENCRYPTION_KEY` variable, else (SQLite only) a key file beside
//! the database. The server and `curatore-migrate adopt` both resolve them
//! here, so they always seal and open with the same keys.

use crate::{DEFAULT_SECRET_KEY_ID, SECRET_KEY_BYTES, SecretKeys, Settings};
use curatore_domain::DatabaseUrl;
use rand::RngCore;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether a missing key file may be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileMode {
    /// Make it (mode 0600) with a fresh key when it is missing: what a
    /// process that will seal secrets does.
    CreateIfMissing,
    /// Only read it: a look that must change nothing (a dry run).
    ReadOnly,
}

/// Where the resolved keys came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretKeysOrigin {
    /// `SECRETS_ENCRYPTION_KEY`.
    Variable,
    /// The key file beside the SQLite database.
    KeyFile {
        /// Its path.
        path: PathBuf,
        /// Whether it was made just now (back it up with the database).
        created: bool,
    },
}

impl std::fmt::Display for SecretKeysOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Variable => f.write_str("SECRETS_ENCRYPTION_KEY"),
            Self::KeyFile { path, created } => {
                write!(f, "the key file {}", path.display())?;
                if *created {
                    f.write_str(" (created now: back it up with the database)")?;
                }
                Ok(())
            }
        }
    }
}

/// The keys and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSecretKeys {
    /// The keys, the sealing one first.
    pub keys: SecretKeys,
    /// Where they came from.
    pub origin: SecretKeysOrigin,
}

/// Why the keys could not be had. Never holds key material.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeysError {
    /// The key file is there but does not hold keys (a configuration problem).
    #[error("the secrets key file {} {problem}", path.display())]
    InvalidKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The key file could not be read, made or written.
    #[error("cannot {action} the secrets key file {}: {source}", path.display())]
    Io {
        /// `read`, `create` or `write`.
        action: &'static str,
        /// The file (or its folder).
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

/// The key file used when `SECRETS_ENCRYPTION_KEY` is unset with SQLite:
/// `<database file>.secrets-key`, beside it.
pub fn key_file_for(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push(".secrets-key");
    database.with_file_name(name)
}

/// The keys for `database`: `configured` (`SECRETS_ENCRYPTION_KEY`) when
/// set, else the key file beside a SQLite database (made when missing and
/// `mode` allows), else none (PostgreSQL without the variable, or a dry
/// look at SQLite before the file exists).
///
/// # Errors
/// [`SecretKeysError`] when the key file cannot be read or made, or does not
/// hold keys.
pub fn resolve_secret_keys(
    configured: Option<&SecretKeys>,
    database: &DatabaseUrl,
    mode: KeyFileMode,
) -> Result<Option<ResolvedSecretKeys>, SecretKeysError> {
    if let Some(keys) = configured {
        return Ok(Some(ResolvedSecretKeys {
            keys: keys.clone(),
            origin: SecretKeysOrigin::Variable,
        }));
    }
    let Some(database) = database.sqlite_path() else {
        return Ok(None);
    };
    let path = key_file_for(database);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let keys = SecretKeys::parse(text.trim()).map_err(|problem| {
                SecretKeysError::InvalidKeyFile {
                    path: path.clone(),
                    problem,
                }
            })?;
            Ok(Some(ResolvedSecretKeys {
                keys,
                origin: SecretKeysOrigin::KeyFile {
                    path,
                    created: false,
                },
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match mode {
            KeyFileMode::ReadOnly => Ok(None),
            KeyFileMode::CreateIfMissing => {
                let keys = create_key_file(&path)?;
                Ok(Some(ResolvedSecretKeys {
                    keys,
                    origin: SecretKeysOrigin::KeyFile {
                        path,
                        created: true,
                    },
                }))
            }
        },
        Err(source) => Err(SecretKeysError::Io {
            action: "read",
            path,
            source,
        }),
    }
}

impl Settings {
    /// The keys that seal connection secrets for this configuration's
    /// database (see [`resolve_secret_keys`]).
    ///
    /// # Errors
    /// As [`resolve_secret_keys`].
    pub fn secret_keys(
        &self,
        mode: KeyFileMode,
    ) -> Result<Option<ResolvedSecretKeys>, SecretKeysError> {
        resolve_secret_keys(
            self.secrets_encryption_key.as_ref(),
            &self.database_url,
            mode,
        )
    }
}

/// Makes the key file, readable by its owner only, with one fresh key.
/// `create_new`, so two processes racing cannot both write one.
fn create_key_file(path: &Path) -> Result<SecretKeys, SecretKeysError> {
    let mut key = [0u8; SECRET_KEY_BYTES];
    rand::rng().fill_bytes(&mut key);
    let keys = SecretKeys::from_keys(vec![(DEFAULT_SECRET_KEY_ID.to_owned(), key)]);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| SecretKeysError::Io {
            action: "create the folder of",
            path: path.to_owned(),
            source,
        })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| SecretKeysError::Io {
        action: "create",
        path: path.to_owned(),
        source,
    })?;
    writeln!(file, "{}", keys.to_text())
        .and_then(|()| file.sync_all())
        .map_err(|source| SecretKeysError::Io {
            action: "write",
            path: path.to_owned(),
            source,
        })?;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(path: &Path) -> DatabaseUrl {
        DatabaseUrl::Sqlite {
            path: path.to_owned(),
        }
    }

    #[test]
    fn the_key_file_sits_beside_the_database_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("curatore.db");
        let file = key_file_for(&db);
        assert_eq!(
            file,
            dir.path().join("data").join("curatore.db.secrets-key")
        );
        assert_eq!(
            resolve_secret_keys(None, &sqlite(&db), KeyFileMode::ReadOnly).unwrap(),
            None,
            "a dry look makes nothing"
        );
        assert!(!file.exists());
        let made = resolve_secret_keys(None, &sqlite(&db), KeyFileMode::CreateIfMissing)
            .unwrap()
            .unwrap();
        assert_eq!(
            made.origin,
            SecretKeysOrigin::KeyFile {
                path: file.clone(),
                created: true
            }
        );
        let again = resolve_secret_keys(None, &sqlite(&db), KeyFileMode::ReadOnly)
            .unwrap()
            .unwrap();
        assert_eq!(made.keys, again.keys, "read back, not made twice");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_variable_wins_and_postgres_has_no_key_file() {
        let keys = SecretKeys::from_keys(vec![("v".into(), [5u8; 32])]);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let got = resolve_secret_keys(Some(&keys), &sqlite(&db), KeyFileMode::CreateIfMissing)
            .unwrap()
            .unwrap();
        assert_eq!(got.origin, SecretKeysOrigin::Variable);
        assert!(!key_file_for(&db).exists());
        let pg = DatabaseUrl::parse("postgres://u@localhost/x").unwrap();
        assert_eq!(
            resolve_secret_keys(None, &pg, KeyFileMode::CreateIfMissing).unwrap(),
            None
        );
    }

    #[test]
    fn a_bad_key_file_is_named_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        std::fs::write(key_file_for(&db), "k1:c2hvcnQ=\n").unwrap();
        let err = resolve_secret_keys(None, &sqlite(&db), KeyFileMode::ReadOnly).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("x.db.secrets-key") && text.contains("5 bytes"),
            "{text}"
        );
        assert!(!text.contains("c2hvcnQ"), "{text}");
    }
}
