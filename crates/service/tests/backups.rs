//! Backups in the service layer, on both engines: every run leaves one
//! `backup_created` audit entry (a failed one with its reason), and a
//! database's sealed connection secrets are checked against a key without
//! any value leaving the check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use curatore_auth::SecretBox;
use curatore_domain::{AuditStatus, ConnectionScope};
use curatore_service::{
    BackupFailure, BackupMade, BackupRun, BackupTrigger, ConnectionRegistry, ConnectionsConfig,
    NewConnectionRequest, Operator, Services, ServicesConfig, check_sealed_secrets, testing,
};
use curatore_test_support::{TestDatabase, each_engine};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

mod common;

fn key(byte: u8) -> SecretBox {
    SecretBox::new([("k1", [byte; 32])]).unwrap()
}

async fn services(db: &TestDatabase, secrets: SecretBox) -> (Services, Operator) {
    let config = ServicesConfig {
        connections: ConnectionsConfig {
            registry: ConnectionRegistry::builtin(),
            secrets: Some(Arc::new(secrets)),
            ..ConnectionsConfig::default()
        },
        ..ServicesConfig::new(common::config())
    };
    let (services, operator) = testing::open(&db.url(), config).await;
    testing::seed(&operator, "backups").await;
    (services, operator)
}

#[tokio::test]
async fn every_backup_run_is_audited_with_its_outcome() {
    each_engine(|db| async move {
        let (_services, operator) = services(&db, key(1)).await;
        let made = BackupMade {
            backup_id: uuid::Uuid::new_v4(),
            archive: "/srv/backups/curatore-backup-20260101T030000.000Z.tar".into(),
            bytes: 123_456,
            sha256: "ab".repeat(32),
            newest_migration: Some("m20261202_000009_rate_limit_windows".into()),
        };
        operator
            .record_backup(&BackupRun {
                trigger: BackupTrigger::Schedule,
                took: Duration::from_millis(1500),
                outcome: Ok(made.clone()),
            })
            .await
            .unwrap();
        operator
            .record_backup(&BackupRun {
                trigger: BackupTrigger::Schedule,
                took: Duration::from_millis(20),
                outcome: Err(BackupFailure {
                    reason: "disk_full",
                    message: "cannot write /srv/backups: no space left on device".into(),
                }),
            })
            .await
            .unwrap();
        let raw = common::database(&db).await;
        let entries = raw
            .system()
            .audit_logs()
            .list_by_action("backup_created", 10)
            .await
            .unwrap();
        assert_eq!(entries.len(), 2, "{}", db.engine());
        let ok = entries
            .iter()
            .find(|e| e.status == AuditStatus::Success)
            .unwrap();
        assert_eq!(ok.organization_id, None, "the system's entry, no tenant's");
        assert_eq!(ok.entity_type.as_deref(), Some("backup"));
        assert_eq!(ok.entity_id, Some(made.backup_id));
        let details = ok.details.as_ref().unwrap();
        assert_eq!(details["trigger"], "schedule");
        assert_eq!(details["bytes"], 123_456);
        assert_eq!(details["duration_ms"], 1500);
        assert_eq!(details["archive"], made.archive.as_str());
        let failed = entries
            .iter()
            .find(|e| e.status == AuditStatus::Failure)
            .unwrap();
        assert_eq!(failed.error_message.as_deref(), Some("disk_full"));
        assert!(
            failed.details.as_ref().unwrap()["error"]
                .as_str()
                .unwrap()
                .contains("no space left")
        );
        raw.close().await;
        operator.close().await;
    })
    .await;
}

#[tokio::test]
async fn sealed_secrets_are_checked_against_a_key_without_leaving_the_check() {
    each_engine(|db| async move {
        let (services, operator) = services(&db, key(7)).await;
        let ctx = common::admin(&services).await;
        for (name, kind, config) in [
            (
                "Model",
                "llm",
                json!({"api_key": "sk-secret-one", "model": "m", "base_url": "http://127.0.0.1:9/v1"}),
            ),
            (
                "Extractor",
                "extraction",
                json!({"service_url": "http://127.0.0.1:9", "api_key": "ex-secret-two"}),
            ),
            (
                "No secret",
                "extraction",
                json!({"service_url": "http://127.0.0.1:9"}),
            ),
        ] {
            services
                .connections(&ctx).create(NewConnectionRequest {
                        name: name.into(),
                        description: None,
                        connection_type: kind.into(),
                        config,
                        is_default: false,
                        scope: ConnectionScope::Organization,
                        test_on_save: false,
                    },
                )
                .await
                .unwrap();
        }
        let raw = common::database(&db).await;
        let db_handle = &raw;

        let right = check_sealed_secrets(db_handle, Some(&key(7))).await.unwrap();
        assert_eq!(
            (right.connections, right.sealed, right.opened),
            (3, 2, 2),
            "{}",
            db.engine()
        );
        assert!(right.all_open() && right.failures.is_empty());

        let wrong = check_sealed_secrets(db_handle, Some(&key(8))).await.unwrap();
        assert_eq!((wrong.sealed, wrong.opened), (2, 0));
        assert!(!wrong.all_open());
        assert_eq!(wrong.failures.len(), 2);
        assert!(
            wrong.failures[0].contains("does not decrypt with key `k1`"),
            "{:?}",
            wrong.failures
        );

        let none = check_sealed_secrets(db_handle, None).await.unwrap();
        assert_eq!((none.sealed, none.opened), (2, 0));
        let shown = format!("{right:?}{wrong:?}{none:?}");
        assert!(
            !shown.contains("sk-secret-one") && !shown.contains("ex-secret-two"),
            "{shown}"
        );
        raw.close().await;
        operator.close().await;
    })
    .await;
}
