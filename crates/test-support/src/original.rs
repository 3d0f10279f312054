//! The original Python server's databases (`tests/fixtures/curatore-py`),
//! loaded into a test's database, and a checksum of everything a database
//! stores, to prove that a step changed nothing.

use crate::TestDatabase;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/curatore-py")
}

/// Puts the original's database where `db` points: the SQLite file copied
/// over, or the dump restored with psql into the fresh PostgreSQL database
/// (without pg_dump's `\restrict` lines, which an older psql refuses).
///
/// # Panics
/// When the copy or psql fails.
pub fn load_original(db: &TestDatabase) {
    match db.sqlite_path() {
        Some(path) => {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::copy(fixtures().join("curatore.db"), path).unwrap();
        }
        None => {
            let dump = std::fs::read_to_string(fixtures().join("postgres.sql")).unwrap();
            let script: String = dump
                .lines()
                .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
                .map(|l| format!("{l}\n"))
                .collect();
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("postgres.sql");
            std::fs::write(&file, script).unwrap();
            let out = Command::new("psql")
                .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url(), "-f"])
                .arg(&file)
                .output()
                .expect("psql");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Runs `sql` with psql on a PostgreSQL test database; its unaligned output.
///
/// # Panics
/// When psql fails.
pub fn psql(db: &TestDatabase, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-tA", "-v", "ON_ERROR_STOP=1", "-d", &db.url(), "-c", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// SHA-256 (hex) of everything `db` stores: on SQLite the file's bytes and
/// which of its `-wal`, `-shm` and `-journal` companions exist (with their
/// bytes); on PostgreSQL the output of `pg_dump` (schema and every row,
/// without the random `\restrict` token pg_dump writes each time).
///
/// # Panics
/// When the file cannot be read or pg_dump fails.
pub fn storage_checksum(db: &TestDatabase) -> String {
    let mut hash = Sha256::new();
    match db.sqlite_path() {
        Some(path) => {
            hash.update(std::fs::read(path).unwrap());
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut name = path.file_name().unwrap().to_os_string();
                name.push(suffix);
                if let Ok(bytes) = std::fs::read(path.with_file_name(name)) {
                    hash.update(suffix.as_bytes());
                    hash.update(bytes);
                }
            }
        }
        None => {
            let out = Command::new("pg_dump")
                .args(["--no-owner", "--no-privileges", "-d", &db.url()])
                .output()
                .expect("pg_dump");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict") {
                    hash.update(line.as_bytes());
                    hash.update(b"\n");
                }
            }
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes a SQLite database keeps on disk: the file, then its `-wal` and
/// `-journal` companions when present (to look for a value that must be
/// gone); `None` for PostgreSQL.
///
/// # Panics
/// When the file cannot be read.
pub fn sqlite_bytes(db: &TestDatabase) -> Option<Vec<u8>> {
    let path = db.sqlite_path()?;
    let mut bytes = std::fs::read(path).unwrap();
    for suffix in ["-wal", "-journal"] {
        let mut name = path.file_name().unwrap().to_os_string();
        name.push(suffix);
        if let Ok(more) = std::fs::read(path.with_file_name(name)) {
            bytes.extend(more);
        }
    }
    Some(bytes)
}

/// The connection secrets the original's fixtures store in clear (both files).
pub const ORIGINAL_CLEAR_SECRETS: &[&str] = &[
    "sk-fixture-llm-5f0c3a9e71d24b86",
    "ext-fixture-2b7d64c1",
    "sk-fixture-org2-8e41d0c7",
];

/// Asserts that none of the original's clear secrets is stored any more:
/// not in the SQLite file (nor its WAL or journal), not in PostgreSQL's
/// `connections`, where every one is sealed (`$enc`) instead.
///
/// # Panics
/// When one is found.
pub fn assert_original_secrets_gone(db: &TestDatabase) {
    match sqlite_bytes(db) {
        Some(bytes) => {
            assert!(bytes.windows(5).any(|w| w == b"admin"), "file read");
            for secret in ORIGINAL_CLEAR_SECRETS {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{secret} still in the SQLite file"
                );
            }
        }
        None => {
            let configs = psql(db, "SELECT config::text FROM connections");
            assert!(configs.contains("$enc"), "{configs}");
            for secret in ORIGINAL_CLEAR_SECRETS {
                assert!(!configs.contains(secret), "{configs}");
            }
        }
    }
}
