//! Backups through the real binary: `backup`, `backup verify` and `restore`
//! (refused while a server has the database open), the schedule keeping
//! exactly `BACKUP_KEEP` archives with each run audited and counted, a full
//! disk that fails a backup cleanly while the server keeps serving,
//! settings refused at start, and PostgreSQL's answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::json;
use sqlx::Connection;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{Server, messages, output_text};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";
const CONNECTION_SECRET: &str = "ex-key-backup-77f1c2";

/// Auth on, secrets in the key file beside the database (no
/// `SECRETS_ENCRYPTION_KEY`), no request limits.
fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ENABLE_AUTH", "true"),
        ("JWT_SECRET_KEY", SECRET),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("SECRETS_ENCRYPTION_KEY", ""),
        ("RATE_LIMIT_ENABLED", "false"),
        ("AUTH_CACHE_SECONDS", "0"),
    ]
}

fn login(s: &Server) -> String {
    support::login(s, "admin", ADMIN_PASSWORD)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn archives_in(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter(|n| n.starts_with("curatore-backup-") && n.ends_with(".tar"))
        .collect()
}

async fn sqlite(path: &Path) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_verify_and_restore_through_the_binary_and_never_over_a_database_in_use() {
    let db = TestDatabase::sqlite();
    let path = db.sqlite_path().unwrap().to_owned();
    let out_dir = tempfile::tempdir().unwrap();
    let s = Server::start(&db.url(), &env());
    let admin = login(&s);
    let r = s.call(
        "POST",
        "/api/v1/connections",
        &[("authorization", &admin)],
        Some(&json!({"name": "Extractor", "connection_type": "extraction", "test_on_save": false,
                     "config": {"service_url": "http://127.0.0.1:9", "api_key": CONNECTION_SECRET}})),
    );
    assert_eq!(r.status, 201, "{r:?}");

    // While the server runs and serves.
    let folder = format!("{}/", out_dir.path().display());
    let out = support::run(&db.url(), &env(), &["backup", "--output", &folder]);
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let archive = PathBuf::from(stdout.trim());
    assert_eq!(
        stdout.lines().count(),
        1,
        "standard output is the path: {stdout}"
    );
    assert!(archive.starts_with(out_dir.path()), "{}", archive.display());
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let archived = std::fs::read(&archive).unwrap();
    assert!(
        !archived
            .windows(CONNECTION_SECRET.len())
            .any(|w| w == CONNECTION_SECRET.as_bytes()),
        "the secret is sealed in the archive, never in clear"
    );

    // A restore over the database the server has open is refused.
    let out = support::run(&db.url(), &env(), &["restore", archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("is in use"),
        "{}",
        output_text(&out)
    );
    assert_eq!(s.get("/readyz").status, 200, "the server did not notice");

    let out = support::run(
        &db.url(),
        &env(),
        &["backup", "verify", archive.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let report = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(report.starts_with("OK "), "{report}");
    assert!(
        report.contains("1 of 1 connection secrets open with the key file"),
        "{report}"
    );
    assert!(report.contains("connections 1"), "{report}");

    // A damaged copy fails verification, naming the problem.
    let damaged = out_dir.path().join("damaged.tar");
    let mut bytes = archived.clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&damaged, &bytes).unwrap();
    let out = support::run(
        &db.url(),
        &env(),
        &["backup", "verify", damaged.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("checksum"),
        "{}",
        output_text(&out)
    );

    // A change after the backup, then the server stops: the restore goes back.
    let r = s.call(
        "POST",
        "/api/v1/api-keys",
        &[("authorization", &admin)],
        Some(&json!({"name": "made after the backup"})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let (status, _) = s.stop();
    assert!(status.success());
    let out = support::run(&db.url(), &env(), &["restore", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", output_text(&out));
    let said = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(said.starts_with("Restored "), "{said}");
    assert!(said.contains("(up to date)"), "{said}");
    assert!(
        said.contains("1 of 1 connection secrets open with the key file"),
        "{said}"
    );
    assert!(said.contains("previous database kept as"), "{said}");
    let mut conn = sqlite(&path).await;
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys, 0, "the key made after the backup is gone");
    conn.close().await.unwrap();

    let s = Server::start(&db.url(), &env());
    let admin = login(&s);
    let r = s.call(
        "GET",
        "/api/v1/connections",
        &[("authorization", &admin)],
        None,
    );
    assert_eq!(r.json()["total"], 1, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_keep_exactly_backup_keep_archives_each_audited_and_counted() {
    let db = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let mut env = env();
    let backups_arg = backups.to_str().unwrap().to_owned();
    env.extend([("BACKUP_SCHEDULE", "1s"), ("BACKUP_KEEP", "2")]);
    env.push(("BACKUP_DIR", &backups_arg));
    // Something of the operator's in the folder is never pruned.
    std::fs::create_dir_all(&backups).unwrap();
    std::fs::write(backups.join("notes.txt"), b"mine").unwrap();

    let mut s = Server::start(&db.url(), &env);
    let runs = |lines: &[String]| {
        let m = messages(lines);
        let written = m.iter().filter(|m| m.starts_with("Backup written")).count();
        // "Next backup due" follows each run's pruning and audit entry.
        let settled = m
            .iter()
            .filter(|m| m.starts_with("Next backup due"))
            .count();
        (written, settled)
    };
    s.wait_until(Duration::from_secs(60), "five scheduled backups", |lines| {
        let (written, settled) = runs(lines);
        written >= 5 && settled > written
    });
    assert_eq!(
        archives_in(&backups).len(),
        2,
        "exactly BACKUP_KEEP archives: {:?}",
        names_in(&backups)
    );
    assert!(backups.join("notes.txt").exists());
    let scraped = s.get("/metrics").body;
    let gauge = |name: &str| -> f64 {
        scraped
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{scraped}"))
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - gauge("curatore_backup_last_success_timestamp_seconds")).abs() < 30.0,
        "{scraped}"
    );
    assert!(gauge("curatore_backup_last_size_bytes") > 10_000.0);
    assert!(gauge("curatore_backup_last_duration_seconds") > 0.0);
    assert!(
        !scraped.contains("curatore_backup_failures_total{"),
        "{scraped}"
    );
    let (status, lines) = s.stop();
    assert!(status.success());
    let (written, _) = runs(&lines);

    let mut conn = sqlite(db.sqlite_path().unwrap()).await;
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_logs WHERE action = 'backup_created' AND status = 'success' \
         AND organization_id IS NULL AND entity_type = 'backup'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert!(
        audited as usize >= written.min(5),
        "{audited} entries for {written} backups"
    );

    // A restart does not reset the interval: the newest archive is the anchor.
    let newest = archives_in(&backups).pop().unwrap();
    let mut env_daily = env.clone();
    for (k, v) in &mut env_daily {
        if *k == "BACKUP_SCHEDULE" {
            *v = "1d";
        }
    }
    let s = Server::start(&db.url(), &env_daily);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        archives_in(&backups).pop().unwrap(),
        newest,
        "no backup at start"
    );
    assert!(
        s.get("/metrics")
            .body
            .contains("curatore_backup_last_success_timestamp_seconds"),
        "the last success is known from the folder"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_onto_a_full_disk_fails_cleanly_and_the_server_keeps_serving() {
    let db = TestDatabase::sqlite();
    let path = db.sqlite_path().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let backups_arg = backups.to_str().unwrap().to_owned();

    // A database of about 3 MB, the server's log of changes empty.
    let seeded = support::run(&db.url(), &env(), &["seed"]);
    assert!(seeded.status.success(), "{}", output_text(&seeded));
    let mut conn = sqlite(&path).await;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
         INSERT INTO audit_logs (id, action, status, details, created_at) \
         SELECT randomblob(16), 'filler', 'success', json_object('pad', hex(randomblob(400))), \
                strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') FROM n",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let mut env = env();
    env.extend([("BACKUP_SCHEDULE", "1s"), ("BACKUP_KEEP", "3")]);
    env.push(("BACKUP_DIR", &backups_arg));
    let mut s = Server::start_ignoring_file_size_signal(&db.url(), &env);
    // "The disk is full": no file of the server's may grow past 1 MiB.
    let pid = i32::try_from(s.pid()).unwrap();
    rlimit::prlimit(
        pid,
        rlimit::Resource::FSIZE,
        Some((1 << 20, u64::MAX)),
        None,
    )
    .expect("lower the server's file-size limit");
    s.wait_until(Duration::from_secs(60), "two failed backups", |lines| {
        messages(lines)
            .iter()
            .filter(|m| m.starts_with("Backup failed (disk_full)"))
            .count()
            >= 2
    });
    assert!(
        archives_in(&backups).is_empty()
            && names_in(&backups)
                .iter()
                .all(|n| n == ".curatore-backup.lock"),
        "nothing left behind: {:?}",
        names_in(&backups)
    );
    // The server serves meanwhile, writes included (a login writes).
    assert_eq!(s.get("/readyz").status, 200);
    let admin = login(&s);
    let r = s.call("GET", "/api/v1/auth/me", &[("authorization", &admin)], None);
    assert_eq!(r.status, 200, "{r:?}");
    let scraped = s.get("/metrics").body;
    assert!(
        scraped.contains("curatore_backup_failures_total{reason=\"disk_full\"}"),
        "{scraped}"
    );

    // Room again: the next run succeeds by itself.
    rlimit::prlimit(
        pid,
        rlimit::Resource::FSIZE,
        Some((u64::MAX, u64::MAX)),
        None,
    )
    .expect("restore the limit");
    s.wait_for_log(Duration::from_secs(30), |m| m.starts_with("Backup written"));
    let (status, _) = s.stop();
    assert!(status.success());
    assert!(!archives_in(&backups).is_empty());

    let mut conn = sqlite(&path).await;
    let failed: Vec<String> = sqlx::query_scalar(
        "SELECT error_message FROM audit_logs WHERE action = 'backup_created' AND status = 'failure'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert!(!failed.is_empty(), "failed runs are audited");
    assert!(
        failed.iter().all(|reason| reason == "disk_full"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn unusable_backup_settings_stop_the_start_naming_the_variable() {
    let db = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let file_arg = file.to_str().unwrap().to_owned();
    for (extra, says) in [
        (
            vec![("BACKUP_SCHEDULE", "6h"), ("BACKUP_DIR", file_arg.as_str())],
            "BACKUP_DIR",
        ),
        (vec![("BACKUP_SCHEDULE", "every night")], "BACKUP_SCHEDULE"),
        (vec![("BACKUP_KEEP", "0")], "BACKUP_KEEP"),
    ] {
        let mut env = env();
        env.extend(extra);
        let out = support::run(&db.url(), &env, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
        assert!(output_text(&out).contains(says), "{}", output_text(&out));
    }
    let out = support::run(
        &db.url(),
        &[("BACKUP_SCHEDULE", "0 3 * * *"), ("BACKUP_KEEP", "14")],
        &["config"],
    );
    let shown = output_text(&out);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("BACKUP_SCHEDULE") && l.contains("0 3 * * *")),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("BACKUP_KEEP") && l.contains("14")),
        "{shown}"
    );
}

#[tokio::test]
async fn on_postgresql_the_commands_give_the_pg_dump_command_without_the_password() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    // The test server's URL with a password added: never to be printed.
    let url = db
        .url()
        .replacen("://root@", "://root:hunter2-do-not-print@", 1);
    let name = url.rsplit('/').next().unwrap().to_owned();
    for args in [
        vec!["backup"],
        vec!["backup", "verify", "x.tar"],
        vec!["restore", "x.tar"],
    ] {
        let out = support::run(&url, &[], &args);
        let said = output_text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains("pg_dump --format=custom"), "{said}");
        assert!(
            said.contains(&format!("root@127.0.0.1:5432/{name}")),
            "{said}"
        );
        assert!(!said.contains("hunter2"), "{said}");
    }
    let mut env = env();
    env.push(("BACKUP_SCHEDULE", "6h"));
    env.push((
        "SECRETS_ENCRYPTION_KEY",
        "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    ));
    let out = support::run(&db.url(), &env, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("invalid BACKUP_SCHEDULE"),
        "{}",
        output_text(&out)
    );
}
