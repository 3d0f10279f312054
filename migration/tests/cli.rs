//! Black-box tests of the `curatore-migrate` binary.

// Helpers outside `#[test]` functions unwrap too, and clippy.toml's test
// exemption does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use curatore_test_support::TestDatabase;
use std::process::{Command, Output};

fn migrate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curatore-migrate"))
        .args(args)
        .output()
        .expect("run curatore-migrate")
}

fn ok(args: &[&str]) -> String {
    let out = migrate(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn line<'a>(stdout: &'a str, name_part: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.contains(name_part) && !l.starts_with("head") && !l.starts_with("current"))
        .unwrap_or_else(|| panic!("no line about {name_part} in:\n{stdout}"))
}

#[test]
fn up_status_down_fresh_on_a_new_sqlite_file() {
    let db = TestDatabase::sqlite();
    let url = db.url();
    let path = db.sqlite_path().unwrap();
    assert!(
        !path.parent().unwrap().exists(),
        "the folder does not exist yet"
    );

    let status = ok(&["--database-url", &url, "status"]);
    assert_eq!(status.matches("pending").count(), 7, "{status}");
    assert!(
        status.contains("current      none (6 of 6 pending)"),
        "{status}"
    );

    let up = ok(&["--database-url", &url, "up"]);
    assert!(path.exists(), "up creates the database file and its folder");
    assert_eq!(up.matches("applied").count(), 6, "{up}");

    let status = ok(&["status", "--database-url", &url]);
    for name in ["000001", "000002", "000003", "000004", "000005", "000007"] {
        assert!(line(&status, name).starts_with("applied"), "{status}");
    }
    assert!(status.contains(&format!(
        "head         {}",
        curatore_migration::latest_migration_name()
    )));
    assert!(status.contains("(up to date)"), "{status}");

    let again = ok(&["--database-url", &url, "upgrade"]);
    assert!(again.contains("nothing to do"), "{again}");

    let down = ok(&["--database-url", &url, "down", "-n", "1"]);
    assert!(line(&down, "000007").starts_with("rolled back"), "{down}");
    assert!(!down.contains("rolled back  m20261201_000005"), "{down}");

    let status = ok(&["--database-url", &url, "current"]);
    assert!(line(&status, "000007").starts_with("pending"), "{status}");
    assert!(line(&status, "000005").starts_with("applied"), "{status}");
    assert!(status.contains("(1 of 6 pending)"), "{status}");

    let downgrade = ok(&["--database-url", &url, "downgrade"]);
    assert!(
        line(&downgrade, "000005").starts_with("rolled back"),
        "{downgrade}"
    );
    assert!(
        !downgrade.contains("rolled back  m20261125_000004"),
        "{downgrade}"
    );

    let fresh = ok(&["--database-url", &url, "fresh"]);
    assert!(fresh.contains("dropped every table"), "{fresh}");
    assert_eq!(fresh.matches("applied").count(), 6, "{fresh}");

    let refresh = ok(&["--database-url", &url, "refresh"]);
    assert_eq!(refresh.matches("rolled back").count(), 6, "{refresh}");
    assert_eq!(refresh.matches("applied").count(), 6, "{refresh}");

    let reset = ok(&["--database-url", &url, "reset"]);
    assert_eq!(reset.matches("rolled back").count(), 6, "{reset}");
    let history = ok(&["--database-url", &url, "history"]);
    assert_eq!(history.matches("pending").count(), 7, "{history}");

    let step = ok(&["--database-url", &url, "up", "-n", "2"]);
    assert_eq!(step.matches("applied").count(), 2, "{step}");
    assert!(step.contains("(4 of 6 pending)"), "{step}");
}

#[test]
fn a_bad_url_fails_with_a_message_naming_database_url() {
    for bad in ["mysql://localhost/curatore", "nonsense"] {
        let out = migrate(&["--database-url", bad, "status"]);
        assert!(!out.status.success(), "{bad} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("DATABASE_URL"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}

#[test]
fn an_unreachable_server_fails_without_showing_the_password() {
    let out = migrate(&[
        "--database-url",
        "postgres://curatore:s3cret-pw@127.0.0.1:1/curatore",
        "status",
    ]);
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("DATABASE_URL"), "{all}");
    assert!(!all.contains("s3cret-pw"), "{all}");
}

#[test]
fn down_rejects_zero_steps() {
    let db = TestDatabase::sqlite();
    let out = migrate(&["--database-url", &db.url(), "down", "-n", "0"]);
    assert!(!out.status.success());
}

#[tokio::test]
async fn the_binary_migrates_postgresql() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let url = db.url();
    let up = ok(&["--database-url", &url, "up"]);
    assert_eq!(up.matches("applied").count(), 6, "{up}");
    let down = ok(&["--database-url", &url, "down"]);
    assert!(line(&down, "000007").starts_with("rolled back"), "{down}");
    let status = ok(&["--database-url", &url, "status"]);
    assert!(status.contains("(1 of 6 pending)"), "{status}");
    let fresh = ok(&["--database-url", &url, "fresh"]);
    assert!(fresh.contains("(up to date)"), "{fresh}");
}

/// Without `--database-url`, DATABASE_URL is resolved by `curatore-config`
/// from the environment (and `.env`, and the configuration files).
#[test]
fn database_url_comes_from_the_configuration() {
    let db = TestDatabase::sqlite();
    let root = db.sqlite_dir().unwrap();
    let run = |url: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_curatore-migrate"))
            .args(args)
            .env("CURATORE_CONFIG_DIR", root)
            .env("DATABASE_URL", url)
            .current_dir(root)
            .output()
            .expect("run curatore-migrate")
    };

    let out = run(&db.url(), &["up"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&db.sqlite_path().unwrap().display().to_string()),
        "{stdout}"
    );
    assert!(db.sqlite_path().unwrap().exists());

    let out = run("mysql://nowhere/curatore", &["status"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}
