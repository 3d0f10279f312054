//! The manifest: the first entry of every archive, saying what the archive
//! holds and how to check it.

use chrono::{DateTime, Utc};
use curatore_config::SecretKeys;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The `format` of every manifest.
pub const FORMAT: &str = "curatore-backup";
/// The manifest layout this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's entry in the archive (always the first).
pub const MANIFEST_ENTRY: &str = "manifest.json";
/// The database's entry: a SQLite file.
pub const DATABASE_ENTRY: &str = "curatore.db";
/// The secrets key file's entry, when the key lived beside the database;
/// named so that the two, extracted together, are a working pair.
pub const KEY_ENTRY: &str = "curatore.db.secrets-key";
/// The largest manifest read back (it lists a few dozen tables).
pub(crate) const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// What an archive holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written by this code.
    pub format_version: u32,
    /// This backup's id (also in its `backup_created` audit entry).
    pub backup_id: Uuid,
    /// When the copy was taken: it holds every write committed before.
    pub created_at: DateTime<Utc>,
    /// The Curatore version that wrote it.
    pub curatore_version: String,
    /// `sqlite`.
    pub engine: String,
    /// The database file that was copied.
    pub source_database: String,
    /// The newest migration applied to the copy.
    pub newest_migration: Option<String>,
    /// Every migration applied to the copy, oldest first.
    pub migrations: Vec<String>,
    /// Exact row counts of every table in the copy.
    pub tables: BTreeMap<String, u64>,
    /// Where the key that opens the connection secrets is.
    pub secrets_key: KeyRecord,
    /// The connection secrets in the copy, tried with that key when the
    /// backup was made; `None` when they could not be read (a copy whose
    /// schema this build does not know).
    pub sealed_secrets: Option<SealedRecord>,
    /// Every other entry of the archive, in order, with its size and SHA-256.
    pub files: Vec<FileRecord>,
}

/// One archived file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The entry's name.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its content, lower-case hex.
    pub sha256: String,
}

/// Where the secrets key is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum KeyRecord {
    /// The key file beside the database, archived as [`KEY_ENTRY`].
    KeyFile {
        /// The archive entry.
        file: String,
        /// The key ids in it, the sealing one first.
        key_ids: Vec<String>,
        /// A fingerprint of each key (see [`fingerprint`]), to recognise it.
        fingerprints: BTreeMap<String, String>,
    },
    /// `SECRETS_ENCRYPTION_KEY`: not in the archive; the same key must be
    /// configured wherever it is restored.
    Environment {
        /// The variable.
        variable: String,
        /// The key ids, the sealing one first.
        key_ids: Vec<String>,
        /// A fingerprint of each key, to recognise the right one.
        fingerprints: BTreeMap<String, String>,
    },
    /// Neither: the key file the database should have beside it was missing.
    Missing {
        /// The file that was looked for.
        expected: String,
    },
}

/// The connection secrets found in the copy, and how many opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedRecord {
    /// Sealed secrets in the copy.
    pub count: u64,
    /// Those that opened with the key recorded in `secrets_key`.
    pub opened: u64,
}

/// A short, one-way fingerprint of a 32-byte key: the first 16 hex digits
/// of SHA-256 over a fixed label and the key. It tells keys apart without
/// revealing them (the key is 256 random bits).
pub fn fingerprint(key: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"curatore secrets key fingerprint\0");
    hasher.update(key);
    hex(&hasher.finalize())[..16].to_owned()
}

/// Every key's fingerprint, by id.
pub(crate) fn fingerprints(keys: &SecretKeys) -> BTreeMap<String, String> {
    keys.keys()
        .iter()
        .map(|(id, key)| (id.clone(), fingerprint(key)))
        .collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Manifest {
    /// The record of the archive entry `name`.
    pub fn file(&self, name: &str) -> Option<&FileRecord> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Whether this code can read the manifest's layout.
    pub(crate) fn check_format(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "its manifest is not a Curatore backup's (format `{}`)",
                self.format
            ));
        }
        if self.format_version != FORMAT_VERSION {
            return Err(format!(
                "it was written in backup format {} by Curatore {}; this is Curatore {} (format {FORMAT_VERSION}): \
                 verify or restore it with that version",
                self.format_version,
                self.curatore_version,
                env!("CARGO_PKG_VERSION")
            ));
        }
        if self.engine != "sqlite" {
            return Err(format!("it holds a `{}` database", self.engine));
        }
        let expected_key = matches!(self.secrets_key, KeyRecord::KeyFile { .. });
        for f in &self.files {
            let known = f.name == DATABASE_ENTRY || (f.name == KEY_ENTRY && expected_key);
            if !known {
                return Err(format!(
                    "its manifest lists an unexpected entry `{}`",
                    f.name
                ));
            }
        }
        if self.file(DATABASE_ENTRY).is_none() {
            return Err(format!("its manifest lists no `{DATABASE_ENTRY}`"));
        }
        if expected_key && self.file(KEY_ENTRY).is_none() {
            return Err(format!(
                "its manifest says the key file is archived but lists no `{KEY_ENTRY}`"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_keys_apart_without_showing_them() {
        let a = fingerprint(&[1u8; 32]);
        assert_eq!(a.len(), 16);
        assert_eq!(a, fingerprint(&[1u8; 32]));
        assert_ne!(a, fingerprint(&[2u8; 32]));
        assert!(!a.contains("0101"));
    }

    #[test]
    fn the_key_record_says_where_the_key_is() {
        let record = KeyRecord::Environment {
            variable: "SECRETS_ENCRYPTION_KEY".into(),
            key_ids: vec!["k1".into()],
            fingerprints: BTreeMap::new(),
        };
        let json = serde_json::to_value(&record).unwrap_or_default();
        assert_eq!(json["source"], "environment");
        assert_eq!(json["variable"], "SECRETS_ENCRYPTION_KEY");
        let back: KeyRecord = serde_json::from_value(json).unwrap_or(KeyRecord::Missing {
            expected: String::new(),
        });
        assert_eq!(back, record);
    }
}
