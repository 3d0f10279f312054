//! `curatore-migrate adopt` on a copy of the original's SQLite database
//! (`tests/fixtures/curatore-py/curatore.db`): the dry run changes nothing,
//! an unexpected column is reported precisely and nothing is changed,
//! adoption records our history, and a second adoption does nothing. (The
//! server's adoption, on both engines, is tested in
//! `crates/server/tests/adoption.rs`.)

// Helpers outside `#[test]` functions unwrap too, and clippy.toml's test
// exemption does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use curatore_domain::DatabaseUrl;
use sea_orm::{ConnectionTrait, Statement};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture_copy(dir: &Path) -> (PathBuf, String) {
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/curatore-py/curatore.db");
    let path = dir.join("curatore.db");
    std::fs::copy(source, &path).unwrap();
    let url = format!("sqlite://{}", path.display());
    (path, url)
}

fn migrate(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curatore-migrate"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .output()
        .expect("run curatore-migrate")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

async fn exec(url: &str, sql: &str) {
    let db = curatore_migration::cli::connect(&DatabaseUrl::parse(url).unwrap())
        .await
        .unwrap();
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    db.close().await.unwrap();
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = fixture_copy(dir.path());
    let out = stdout(&migrate(&url, &["adopt", "--dry-run"]));
    assert!(out.contains("plan         copy connections"), "{out}");
    assert!(
        out.contains("plan         apply m20260112_000001_create_organizations_and_users"),
        "{out}"
    );
    assert!(out.contains("dry run: nothing was changed"), "{out}");
    // Still the original's: no history of ours, and adoptable.
    let status = stdout(&migrate(&url, &["status"]));
    assert!(status.contains("current      none"), "{status}");
    let again = stdout(&migrate(&url, &["adopt", "--dry-run"]));
    assert!(again.contains("dry run: nothing was changed"), "{again}");
}

#[tokio::test]
async fn an_unexpected_schema_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = fixture_copy(dir.path());
    exec(&url, "ALTER TABLE users ADD COLUMN nickname TEXT").await;
    exec(&url, "CREATE TABLE documents (id TEXT)").await;
    let out = migrate(&url, &["adopt"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("table users: unexpected column nickname"),
        "{err}"
    );
    assert!(
        err.contains("table documents: not one of the original's tables"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    // Still the original's: no history of ours.
    let status = stdout(&migrate(&url, &["status"]));
    assert!(status.contains("current      none"), "{status}");
}

#[test]
fn adoption_records_our_history_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = fixture_copy(dir.path());
    let out = stdout(&migrate(&url, &["adopt"]));
    assert!(
        out.contains("done         drop the original_* tables"),
        "{out}"
    );
    assert!(out.contains("curatore-server secrets rotate"), "{out}");
    let status = stdout(&migrate(&url, &["status"]));
    assert!(status.contains("(up to date)"), "{status}");
    let again = stdout(&migrate(&url, &["adopt"]));
    assert!(again.contains("nothing to adopt"), "{again}");
    let up = stdout(&migrate(&url, &["up"]));
    assert!(up.contains("nothing to do"), "{up}");
}

#[tokio::test]
async fn a_row_that_cannot_be_converted_rolls_everything_back() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = fixture_copy(dir.path());
    // Not a UUID: its conversion is NULL, which the new table refuses.
    exec(
        &url,
        "UPDATE audit_logs SET id = 'not-a-uuid' WHERE action = 'login'",
    )
    .await;
    let out = migrate(&url, &["adopt"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rolled back"), "{err}");
    // The original's tables are back, with no history of ours and nothing
    // set aside: the same check passes again.
    let status = stdout(&migrate(&url, &["status"]));
    assert!(status.contains("current      none"), "{status}");
    let again = stdout(&migrate(&url, &["adopt", "--dry-run"]));
    assert!(again.contains("dry run: nothing was changed"), "{again}");
}
