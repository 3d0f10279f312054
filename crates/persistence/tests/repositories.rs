//! Repositories against real databases: every entity round-trips, every
//! foreign key behaves as the schema says, conflicts are named, SQLite
//! writers queue instead of failing, and the health report stays bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its message"
)]

use chrono::{Duration as ChronoDuration, Utc};
use curatore_domain::{
    AuditAction, AuditStatus, ConnectionScope, ConnectionTestStatus, ConnectionType, DatabaseUrl,
    EmailAddress, NewApiKey, NewAuditLogEntry, NewConnection, NewOrganization, NewSystemSetting,
    NewUser, Organization, PasswordHash, Role, Slug, User, Username,
};
use curatore_migration::{Migrator, MigratorTrait};
use curatore_persistence::{
    Database, DatabaseOptions, HealthStatus, InitialTenant, PersistenceError, SeedOutcome,
};
use curatore_test_support::{TestDatabase, each_engine};
use serde_json::json;
use std::time::{Duration, Instant};

mod common;

async fn open(db: &TestDatabase) -> Database {
    common::open(db).await
}

async fn organization(db: &Database, slug: &str) -> Organization {
    common::organization(
        db,
        slug,
        json!({"plan": "pro", "features": ["a", "b"], "limits": {"users": 5}}),
    )
    .await
}

async fn user(db: &Database, org: &Organization, name: &str) -> User {
    db.tenant(org.id)
        .users()
        .create(NewUser {
            organization_id: org.id,
            email: EmailAddress::parse(&format!("{name}@Example.COM")).unwrap(),
            username: Username::parse(name).unwrap(),
            password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            full_name: Some(format!("{name} Person")),
            role: Role::Viewer,
            is_verified: false,
        })
        .await
        .expect("create user")
}

fn audit(org: Option<&Organization>, user: Option<&User>, action: &str) -> NewAuditLogEntry {
    NewAuditLogEntry {
        organization_id: org.map(|o| o.id),
        user_id: user.map(|u| u.id),
        action: AuditAction::parse(action).unwrap(),
        entity_type: Some("organization".into()),
        entity_id: org.map(|o| o.id.as_uuid()),
        details: Some(json!({"changed": ["name"], "n": 1})),
        ip_address: Some("2001:db8::1".into()),
        user_agent: Some("tests/1.0".into()),
        status: AuditStatus::Failure,
        error_message: Some("nope".into()),
    }
}

#[tokio::test]
async fn every_entity_round_trips_with_its_json() {
    each_engine(|t| async move {
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        assert_eq!(
            db.system()
                .organizations()
                .get(org.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&org)
        );
        assert_eq!(org.settings["limits"]["users"], 5);
        assert!(org.is_active);

        let u = user(&db, &org, "alice").await;
        assert_eq!(
            u.email.as_str(),
            "alice@example.com",
            "e-mail stored normalised"
        );
        assert_eq!(u.role, Role::Viewer);
        assert_eq!(u.settings, json!({}));
        assert_eq!(
            db.tenant(org.id).users().get(u.id).await.unwrap().as_ref(),
            Some(&u)
        );
        assert_eq!(
            db.system()
                .users()
                .find_by_email("ALICE@example.com")
                .await
                .unwrap()
                .map(|x| x.id),
            Some(u.id)
        );
        assert_eq!(
            db.system()
                .users()
                .find_by_login("alice")
                .await
                .unwrap()
                .map(|x| x.id),
            Some(u.id)
        );
        let later = Utc::now();
        let logged_in = db
            .tenant(org.id)
            .users()
            .record_login(u.id, later)
            .await
            .unwrap();
        assert!(logged_in.last_login_at.is_some());
        assert_eq!(
            db.tenant(org.id)
                .users()
                .set_role(u.id, Role::OrgAdmin)
                .await
                .unwrap()
                .role,
            Role::OrgAdmin
        );

        let expires = Utc::now() + ChronoDuration::days(30);
        let key = db
            .tenant(org.id)
            .api_keys()
            .create(NewApiKey {
                organization_id: org.id,
                user_id: Some(u.id),
                name: "ci".into(),
                key_hash: "h".repeat(64),
                prefix: "cur_1a2b3c4d".into(),
                scopes: vec!["read".into(), "write".into()],
                expires_at: Some(expires),
                created_by_key_id: None,
            })
            .await
            .unwrap();
        let found = db
            .system()
            .api_keys()
            .find_by_hash(&"h".repeat(64))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, key);
        assert_eq!(found.scopes, vec!["read", "write"]);
        assert_eq!(
            found.expires_at.map(|e| e.timestamp_micros()),
            Some(expires.timestamp_micros())
        );

        let conn = db
            .tenant(org.id)
            .connections()
            .create(NewConnection {
                organization_id: org.id,
                name: "OpenAI".into(),
                description: Some("LLM".into()),
                connection_type: ConnectionType::parse("llm").unwrap(),
                config: json!({"model": "gpt", "api_key": "sk-secret", "nested": {"t": 0.2}}),
                is_default: true,
                scope: ConnectionScope::User,
                owner_user_id: Some(u.id),
                created_by: Some(u.id),
                managed_by: None,
            })
            .await
            .unwrap();
        assert_eq!(
            db.tenant(org.id)
                .connections()
                .get(conn.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&conn)
        );
        assert_eq!(conn.config["nested"]["t"], 0.2);
        assert!(
            !format!("{conn:?}").contains("sk-secret"),
            "config hidden from Debug"
        );
        let tested = db
            .tenant(org.id)
            .connections()
            .record_test(
                conn.id,
                ConnectionTestStatus::Healthy,
                Some(json!({"latency_ms": 12})),
            )
            .await
            .unwrap();
        assert_eq!(tested.test_status, Some(ConnectionTestStatus::Healthy));
        assert_eq!(tested.test_result, Some(json!({"latency_ms": 12})));
        assert!(tested.last_tested_at.is_some());

        let setting = db
            .system()
            .system_settings()
            .create(NewSystemSetting {
                key: "ui.banner".into(),
                value: json!(["hello", 1, true, null]),
                description: None,
                is_public: true,
            })
            .await
            .unwrap();
        assert_eq!(
            db.system()
                .system_settings()
                .get("ui.banner")
                .await
                .unwrap()
                .as_ref(),
            Some(&setting)
        );
        let changed = db
            .system()
            .system_settings()
            .set_value("ui.banner", json!({"x": 1}))
            .await
            .unwrap();
        assert_eq!(changed.value, json!({"x": 1}));
        assert!(changed.updated_at >= setting.updated_at);

        let entry = db
            .tenant(org.id)
            .audit_logs()
            .record(audit(Some(&org), Some(&u), "login"))
            .await
            .unwrap();
        let listed = db
            .tenant(org.id)
            .audit_logs()
            .list(Some("login"), 10)
            .await
            .unwrap();
        assert_eq!(listed, vec![entry.clone()]);
        assert_eq!(entry.details, Some(json!({"changed": ["name"], "n": 1})));
        assert_eq!(entry.status, AuditStatus::Failure);
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn foreign_keys_cascade_and_set_null_as_the_schema_says() {
    each_engine(|t| async move {
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        let owner = user(&db, &org, "owner").await;
        let other = user(&db, &org, "other").await;
        db.system()
            .organizations()
            .set_created_by(org.id, owner.id)
            .await
            .unwrap();
        let new_key = |user_id, hash: &str| NewApiKey {
            organization_id: org.id,
            user_id,
            name: "k".into(),
            key_hash: hash.into(),
            prefix: "cur_x".into(),
            scopes: vec![],
            expires_at: None,
            created_by_key_id: None,
        };
        let tenant = db.tenant(org.id);
        tenant
            .api_keys()
            .create(new_key(Some(owner.id), "k-owner"))
            .await
            .unwrap();
        tenant
            .api_keys()
            .create(new_key(None, "k-org"))
            .await
            .unwrap();
        let new_conn = |owner_user_id, created_by, name: &str| NewConnection {
            organization_id: org.id,
            name: name.into(),
            description: None,
            connection_type: ConnectionType::parse("extraction").unwrap(),
            config: json!({}),
            is_default: false,
            scope: ConnectionScope::Organization,
            owner_user_id,
            created_by,
            managed_by: None,
        };
        let owned = tenant
            .connections()
            .create(new_conn(Some(owner.id), None, "owned"))
            .await
            .unwrap();
        let made = tenant
            .connections()
            .create(new_conn(None, Some(owner.id), "made"))
            .await
            .unwrap();
        let entry = tenant
            .audit_logs()
            .record(audit(Some(&org), Some(&owner), "login"))
            .await
            .unwrap();

        // Deleting a user: their keys and owned connections go (CASCADE);
        // "created by" links and audit entries stay, unlinked (SET NULL).
        tenant.users().delete(owner.id).await.unwrap();
        assert!(
            db.system()
                .api_keys()
                .find_by_hash("k-owner")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            db.system()
                .api_keys()
                .find_by_hash("k-org")
                .await
                .unwrap()
                .is_some()
        );
        assert!(tenant.connections().get(owned.id).await.unwrap().is_none());
        assert_eq!(
            tenant
                .connections()
                .get(made.id)
                .await
                .unwrap()
                .unwrap()
                .created_by,
            None
        );
        assert_eq!(
            db.system()
                .organizations()
                .get(org.id)
                .await
                .unwrap()
                .unwrap()
                .created_by,
            None
        );
        let kept = tenant.audit_logs().list(None, 10).await.unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].id, kept[0].user_id), (entry.id, None));

        // Deleting an organization: its users, keys and connections go;
        // its audit trail stays, unlinked.
        db.system().organizations().delete(org.id).await.unwrap();
        assert!(db.system().users().get(other.id).await.unwrap().is_none());
        assert!(
            db.system()
                .api_keys()
                .find_by_hash("k-org")
                .await
                .unwrap()
                .is_none()
        );
        assert!(tenant.connections().get(made.id).await.unwrap().is_none());
        let orphaned = db
            .system()
            .audit_logs()
            .list_by_action("login", 10)
            .await
            .unwrap();
        assert_eq!(orphaned.len(), 1);
        assert_eq!(orphaned[0].organization_id, None);
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn broken_rules_are_named_and_write_nothing() {
    each_engine(|t| async move {
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        user(&db, &org, "alice").await;
        let dup = db
            .tenant(org.id)
            .users()
            .create(NewUser {
                organization_id: org.id,
                email: EmailAddress::parse("ALICE@example.com").unwrap(),
                username: Username::parse("alice2").unwrap(),
                password_hash: PasswordHash::new("x"),
                full_name: None,
                role: Role::Member,
                is_verified: false,
            })
            .await;
        assert!(
            matches!(dup, Err(PersistenceError::Conflict { field: "email" })),
            "{dup:?}"
        );
        let dup = db
            .tenant(org.id)
            .users()
            .create(NewUser {
                organization_id: org.id,
                email: EmailAddress::parse("new@example.com").unwrap(),
                username: Username::parse("alice").unwrap(),
                password_hash: PasswordHash::new("x"),
                full_name: None,
                role: Role::Member,
                is_verified: false,
            })
            .await;
        assert!(
            matches!(dup, Err(PersistenceError::Conflict { field: "username" })),
            "{dup:?}"
        );
        let dup = db
            .system()
            .organizations()
            .create(NewOrganization {
                name: "Another".into(),
                display_name: "Another".into(),
                slug: Slug::parse("acme").unwrap(),
                settings: json!({}),
                created_by: None,
            })
            .await;
        assert!(
            matches!(dup, Err(PersistenceError::Conflict { field: "slug" })),
            "{dup:?}"
        );
        let nowhere = curatore_domain::OrganizationId::new();
        let missing = db
            .tenant(nowhere)
            .users()
            .create(NewUser {
                organization_id: nowhere,
                email: EmailAddress::parse("ghost@example.com").unwrap(),
                username: Username::parse("ghost").unwrap(),
                password_hash: PasswordHash::new("x"),
                full_name: None,
                role: Role::Member,
                is_verified: false,
            })
            .await;
        assert!(
            matches!(missing, Err(PersistenceError::MissingReference)),
            "{missing:?}"
        );
        assert_eq!(db.tenant(org.id).users().count().await.unwrap(), 1);

        // A transaction that is not committed leaves nothing behind.
        let tx = db.begin().await.unwrap();
        tx.system()
            .organizations()
            .create(NewOrganization {
                name: "Half".into(),
                display_name: "Half".into(),
                slug: Slug::parse("half").unwrap(),
                settings: json!({}),
                created_by: None,
            })
            .await
            .unwrap();
        drop(tx);
        assert!(
            db.system()
                .organizations()
                .find_by_slug("half")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(db.system().organizations().count().await.unwrap(), 1);
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn thirty_two_concurrent_sqlite_writers_all_succeed() {
    let t = TestDatabase::sqlite();
    let db = open(&t).await;
    let org = organization(&db, "acme").await;
    const WRITERS: usize = 32;
    const EACH: usize = 10;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        let org = org.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                if i % 2 == 0 {
                    // Read-then-write transaction: the pattern that fails with
                    // "database is locked" under deferred transactions.
                    let tx = db.begin().await?;
                    let before = tx.tenant(org.id).audit_logs().list(None, 1).await?;
                    let mut entry = audit(Some(&org), None, "concurrent_write");
                    entry.details = Some(json!({"writer": w, "i": i, "seen": before.len()}));
                    tx.tenant(org.id).audit_logs().record(entry).await?;
                    tx.commit().await?;
                } else {
                    db.tenant(org.id)
                        .audit_logs()
                        .record(audit(Some(&org), None, "concurrent_write"))
                        .await?;
                }
            }
            Ok::<_, PersistenceError>(())
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("no writer fails");
    }
    let written = db
        .system()
        .audit_logs()
        .list_by_action("concurrent_write", 1000)
        .await
        .unwrap();
    assert_eq!(written.len(), WRITERS * EACH, "no row lost");
    db.close().await;
}

#[tokio::test]
async fn health_reports_counts_and_turns_unhealthy_within_bounds() {
    each_engine(|t| async move {
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        user(&db, &org, "alice").await;
        let h = db.health_check().await;
        assert_eq!(h.status, HealthStatus::Healthy, "{h:?}");
        assert!(h.connected);
        assert_eq!(h.database_type.as_str(), t.engine());
        let stats = h.stats.expect("stats");
        assert_eq!(stats.tables.len(), 6);
        assert_eq!(stats.tables["organizations"].rows, 1);
        assert_eq!(stats.tables["users"].rows, 1);
        assert!(stats.tables.values().all(|c| c.exact));
        assert_eq!(
            stats.migration_version.as_deref(),
            Some(curatore_migration::latest_migration_name().as_str())
        );
        assert!(stats.size_mb.is_some_and(|s| s > 0.0));

        db.close().await;
        let started = Instant::now();
        let h = db.health_check().await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "bounded: {:?}",
            started.elapsed()
        );
        assert_eq!(h.status, HealthStatus::Unhealthy);
        assert!(!h.connected);
        assert!(!h.message.is_empty());
    })
    .await;
}

#[tokio::test]
async fn postgres_outage_is_reported_and_recovered() {
    let Some(t) = TestDatabase::postgres().await else {
        return;
    };
    let mut options = DatabaseOptions::new(DatabaseUrl::parse(&t.url()).unwrap());
    options.acquire_timeout = Duration::from_secs(1);
    options.health_cache_ttl = Duration::ZERO;
    let db = Database::connect(&options).await.unwrap();
    Migrator::up(db.connection(), None).await.unwrap();
    assert_eq!(db.health_check().await.status, HealthStatus::Healthy);

    t.begin_outage().await;
    let started = Instant::now();
    let h = db.health_check().await;
    assert_eq!(h.status, HealthStatus::Unhealthy, "{h:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = db.system().organizations().count().await.unwrap_err();
    assert!(matches!(err, PersistenceError::Unavailable(_)), "{err:?}");

    t.end_outage().await;
    assert_eq!(db.health_check().await.status, HealthStatus::Healthy);
    assert_eq!(db.system().organizations().count().await.unwrap(), 0);
    db.close().await;
}

/// A TCP relay in front of PostgreSQL that can black-hole traffic, the way a
/// dead host or a dropped network link does (connections hang, nothing is
/// refused): the outage a client waits out rather than gets told about.
struct Relay {
    port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    async fn start(target: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = down.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let mut a = [0u8; 8192];
                    let mut b = [0u8; 8192];
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    loop {
                        // While down, nothing passes either way; the sockets stay open.
                        if flag.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                        // Bytes already read are passed on: the link stalls, it does not corrupt.
                        tokio::select! {
                            n = client.read(&mut a) => match n {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if server.write_all(&a[..n]).await.is_err() { return; }
                                }
                            },
                            n = server.read(&mut b) => match n {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if client.write_all(&b[..n]).await.is_err() { return; }
                                }
                            },
                            () = tokio::time::sleep(Duration::from_millis(20)) => {}
                        }
                    }
                });
            }
        });
        Self { port, down }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::Relaxed);
    }
}

#[tokio::test]
async fn postgres_outage_fails_fast_after_the_first_failure_and_recovers_by_itself() {
    let Some(t) = TestDatabase::postgres().await else {
        return;
    };
    // The test database, reached through the relay.
    let direct = t.url();
    let after_scheme = direct.find("://").unwrap() + 3;
    let at = direct[after_scheme..]
        .find('@')
        .map_or(after_scheme, |i| after_scheme + i + 1);
    let host_end = at + direct[at..].find('/').unwrap();
    let target: std::net::SocketAddr = direct[at..host_end].parse().unwrap();
    let relay = Relay::start(target).await;
    let relayed = format!(
        "{}127.0.0.1:{}{}",
        &direct[..at],
        relay.port,
        &direct[host_end..]
    );

    let mut options = DatabaseOptions::new(DatabaseUrl::parse(&relayed).unwrap());
    options.acquire_timeout = Duration::from_secs(2);
    let db = Database::connect(&options).await.unwrap();
    Migrator::up(db.connection(), None).await.unwrap();

    relay.set_down(true);
    let first = db.system().organizations().count().await.unwrap_err();
    assert!(first.is_unavailable(), "{first:?}");
    // Known to be down: of many requests at once, one tries (and waits);
    // the others fail at once instead of each waiting for a connection.
    for _ in 0..3 {
        let attempts = (0..10).map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let err = db.system().organizations().count().await.unwrap_err();
                assert!(err.is_unavailable(), "{err:?}");
                started.elapsed()
            })
        });
        let mut waits = Vec::new();
        for a in attempts.collect::<Vec<_>>() {
            waits.push(a.await.unwrap());
        }
        let slow = waits
            .iter()
            .filter(|w| **w >= Duration::from_millis(250))
            .count();
        assert!(slow <= 1, "{slow} of 10 requests waited: {waits:?}");
    }

    relay.set_down(false);
    // The background probe notices without anyone calling the health check.
    let started = Instant::now();
    loop {
        match db.system().organizations().count().await {
            Ok(n) => {
                assert_eq!(n, 0);
                break;
            }
            Err(e) if started.elapsed() < Duration::from_secs(15) => {
                assert!(e.is_unavailable(), "{e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("still failing 15 s after the outage ended: {e:?}"),
        }
    }
    db.close().await;
}

#[tokio::test]
async fn unreachable_server_fails_to_connect_quickly_without_the_password() {
    let mut options = DatabaseOptions::new(
        DatabaseUrl::parse("postgresql://curatore:hunter2@127.0.0.1:1/curatore").unwrap(),
    );
    options.acquire_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = Database::connect(&options).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, PersistenceError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn seeding_is_idempotent_even_when_racing() {
    each_engine(|t| async move {
        let db = open(&t).await;
        let seed = InitialTenant {
            organization_name: "Default Organization".into(),
            organization_slug: Slug::parse("default").unwrap(),
            admin_email: EmailAddress::parse("admin@example.com").unwrap(),
            admin_username: Username::parse("admin").unwrap(),
            admin_password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            admin_full_name: Some("Admin User".into()),
            organization_settings: serde_json::json!({"auto_optimize": false}),
        };
        let (a, b) = tokio::join!(
            db.system().seed_initial_tenant(seed.clone()),
            db.system().seed_initial_tenant(seed.clone())
        );
        let created = [a.unwrap(), b.unwrap()]
            .into_iter()
            .filter(|o| matches!(o, SeedOutcome::Created { .. }))
            .count();
        assert_eq!(created, 1);
        assert!(matches!(
            db.system().seed_initial_tenant(seed).await.unwrap(),
            SeedOutcome::AlreadySeeded
        ));
        assert_eq!(db.system().organizations().count().await.unwrap(), 1);
        let org = db
            .system()
            .organizations()
            .find_by_slug("default")
            .await
            .unwrap()
            .unwrap();
        let admins = db.tenant(org.id).users().list(10, 0).await.unwrap();
        assert_eq!(admins.len(), 1);
        assert_eq!(admins[0].role, Role::OrgAdmin);
        assert_eq!(org.created_by, Some(admins[0].id));
        assert_eq!(org.settings, serde_json::json!({"auto_optimize": false}));
        assert_eq!(
            db.tenant(org.id)
                .audit_logs()
                .list(Some("seed_initial_tenant"), 5)
                .await
                .unwrap()
                .len(),
            1
        );
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn seeding_inside_a_transaction_commits_or_rolls_back_with_it() {
    each_engine(|t| async move {
        let db = open(&t).await;
        let seed = InitialTenant {
            organization_name: "Default Organization".into(),
            organization_slug: Slug::parse("default").unwrap(),
            admin_email: EmailAddress::parse("admin@example.com").unwrap(),
            admin_username: Username::parse("admin").unwrap(),
            admin_password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            admin_full_name: None,
            organization_settings: serde_json::json!({}),
        };
        let tx = db.begin().await.unwrap();
        let outcome = tx.system().seed_initial_tenant(seed.clone()).await;
        assert!(
            matches!(outcome, Ok(SeedOutcome::Created { .. })),
            "{outcome:?}"
        );
        drop(tx);
        assert_eq!(db.system().organizations().count().await.unwrap(), 0);

        let tx = db.begin().await.unwrap();
        let outcome = tx.system().seed_initial_tenant(seed.clone()).await;
        assert!(
            matches!(outcome, Ok(SeedOutcome::Created { .. })),
            "{outcome:?}"
        );
        tx.commit().await.unwrap();
        assert_eq!(db.system().organizations().count().await.unwrap(), 1);
        let tx = db.begin().await.unwrap();
        assert!(matches!(
            tx.system().seed_initial_tenant(seed).await.unwrap(),
            SeedOutcome::AlreadySeeded
        ));
        drop(tx);
        db.close().await;
    })
    .await;
}
