//! The backup's promise, end to end on a database of a million audit
//! entries: `curatore-server backup` runs while four writers write through
//! the API; the archive, restored elsewhere, passes SQLite's integrity
//! check, holds every write acknowledged before the backup began, opens its
//! connection secrets with the key from the archive, and serves logins.
//!
//! The big database is made in one statement (`INSERT … SELECT` over a
//! recursive CTE), not row by row. Its own file, so its binary runs beside
//! the others' and its cost is plain in the test output (a few tens of
//! seconds on two busy cores; see docs/benchmarks.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_auth::{PassphraseBox, PassphraseParams};
use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use sqlx::Connection;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Server, output_text};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";
const CONNECTION_SECRET: &str = "sk-online-backup-5e8d21";
const PASSPHRASE: &str = "a long export passphrase";
const AUDIT_ROWS: u64 = 1_000_000;
const WRITERS: usize = 4;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ENABLE_AUTH", "true"),
        ("JWT_SECRET_KEY", SECRET),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        // The key lives in the file beside the database: the archive carries it.
        ("SECRETS_ENCRYPTION_KEY", ""),
        ("RATE_LIMIT_ENABLED", "false"),
    ]
}

fn login(s: &Server) -> String {
    support::login(s, "admin", ADMIN_PASSWORD)
}

async fn sqlite(path: &Path) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

/// A million audit entries of the default organization in one statement:
/// ids laid out as UUIDv7 (time first, so the inserts append), a minute
/// apart going back from now.
async fn load_audit_entries(path: &Path) -> Duration {
    let started = Instant::now();
    let mut conn = sqlite(path).await;
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {AUDIT_ROWS}) \
         INSERT INTO audit_logs (id, organization_id, action, entity_type, ip_address, status, created_at) \
         SELECT unhex(printf('%012x', 1700000000000 + i * 60000) || '7' || printf('%03x', i % 4096) \
                      || '8' || printf('%015x', i)), \
                (SELECT id FROM organizations LIMIT 1), 'login', 'user', '127.0.0.1', 'success', \
                strftime('%Y-%m-%dT%H:%M:%f+00:00', 1700000000 + i * 60, 'unixepoch') \
         FROM n"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    started.elapsed()
}

/// One write acknowledged by the server: its name, when its answer came,
/// and how long it took.
struct Ack {
    name: String,
    at: Instant,
    took: Duration,
}

fn p99(mut took: Vec<Duration>) -> Duration {
    took.sort();
    took.get(took.len() * 99 / 100).copied().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_four_writers_over_a_million_entries_restores_every_acknowledged_write() {
    let db = TestDatabase::sqlite();
    let path = db.sqlite_path().unwrap().to_owned();
    let work = tempfile::tempdir().unwrap();

    let seeded = support::run(&db.url(), &env(), &["seed"]);
    assert!(seeded.status.success(), "{}", output_text(&seeded));
    let loaded_in = load_audit_entries(&path).await;
    eprintln!("loaded {AUDIT_ROWS} audit entries in {loaded_in:?}");

    let s = Server::start(&db.url(), &env());
    let admin = login(&s);
    let r = s.call(
        "POST",
        "/api/v1/connections",
        &[("authorization", &admin)],
        Some(
            &json!({"name": "Model", "connection_type": "llm", "test_on_save": false,
                     "config": {"api_key": CONNECTION_SECRET, "model": "m",
                                "base_url": "http://127.0.0.1:9/v1"}}),
        ),
    );
    assert_eq!(r.status, 201, "{r:?}");

    // Four writers, each creating API keys as fast as they are answered.
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (agent, base, admin) = (s.agent(), s.base.clone(), admin.clone());
            let (stop, acks) = (stop.clone(), acks.clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("w{w}-{i:06}");
                    let asked = Instant::now();
                    let mut res = agent
                        .post(format!("{base}/api/v1/api-keys"))
                        .header("authorization", &admin)
                        .send_json(json!({"name": name}))
                        .expect("POST /api-keys");
                    let status = res.status().as_u16();
                    let body = res.body_mut().read_to_string().unwrap_or_default();
                    assert_eq!(status, 201, "writer {w}, key {name}: {body}");
                    acks.lock().unwrap().push(Ack {
                        name,
                        at: Instant::now(),
                        took: asked.elapsed(),
                    });
                    i += 1;
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_secs(1));
    let archives = work.path().join("archives");
    let backup_began = Instant::now();
    let out = support::run(
        &db.url(),
        &env(),
        &["backup", "--output", &format!("{}/", archives.display())],
    );
    let backup_ended = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    assert!(out.status.success(), "{}", output_text(&out));
    let archive = PathBuf::from(String::from_utf8(out.stdout.clone()).unwrap().trim());

    let acks = std::mem::take(&mut *acks.lock().unwrap());
    let before: Vec<&Ack> = acks.iter().filter(|a| a.at < backup_began).collect();
    let during: Vec<Duration> = acks
        .iter()
        .filter(|a| a.at >= backup_began && a.at - a.took <= backup_ended)
        .map(|a| a.took)
        .collect();
    let outside: Vec<Duration> = acks
        .iter()
        .filter(|a| a.at < backup_began || a.at - a.took > backup_ended)
        .map(|a| a.took)
        .collect();
    assert!(
        !before.is_empty() && !during.is_empty(),
        "the writers wrote before and during the backup"
    );
    eprintln!(
        "backup of {} MB took {:?}; {} writes during it (p99 {:?}), {} outside it (p99 {:?})",
        std::fs::metadata(&archive).unwrap().len() >> 20,
        backup_ended - backup_began,
        during.len(),
        p99(during),
        outside.len(),
        p99(outside)
    );
    let (status, _) = s.stop();
    assert!(status.success());

    // Restored somewhere new, with nothing from the old place but the archive.
    let restored_path = work.path().join("restored").join("curatore.db");
    let restored_url = format!("sqlite://{}", restored_path.display());
    let out = support::run(
        &restored_url,
        &env(),
        &["restore", archive.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let said = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        said.contains("1 of 1 connection secrets open with the key file"),
        "{said}"
    );
    assert!(said.contains("key      restored to"), "{said}");

    let mut conn = sqlite(&restored_path).await;
    let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(check, ["ok"]);
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_logs")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(audit as u64 >= AUDIT_ROWS, "{audit}");
    let names: HashSet<String> = sqlx::query_scalar("SELECT name FROM api_keys")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .collect();
    conn.close().await.unwrap();
    let lost: Vec<&str> = before
        .iter()
        .map(|a| a.name.as_str())
        .filter(|n| !names.contains(*n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} writes acknowledged before the backup began are missing: {:?}",
        lost.len(),
        before.len(),
        &lost[..lost.len().min(10)]
    );

    // It serves logins, and its secret opens with the key from the archive.
    let s = Server::start(&restored_url, &env());
    let admin = login(&s);
    let r = s.call("GET", "/api/v1/auth/me", &[("authorization", &admin)], None);
    assert_eq!(r.status, 200, "{r:?}");
    let exported = work.path().join("export.json");
    let mut with_pass = env();
    with_pass.push(("CURATORE_EXPORT_PASSPHRASE", PASSPHRASE));
    let out = support::run(
        &restored_url,
        &with_pass,
        &[
            "export",
            "--org",
            "default",
            "--include-secrets",
            "--output",
            exported.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    let params: PassphraseParams = serde_json::from_value(doc["passphrase"].clone()).unwrap();
    let pass = PassphraseBox::open_with(PASSPHRASE, params).unwrap();
    let sealed = doc["connections"][0]["config"]["api_key"]["$passphrase_sealed"]
        .as_str()
        .unwrap();
    assert_eq!(pass.open(sealed).unwrap(), CONNECTION_SECRET);
}
