//! The columns hold what SeaORM writes and give it back unchanged (UUIDs,
//! JSON, UTC timestamps), the defaults read back as the application's types,
//! and the foreign keys are enforced, on both engines.

// Helpers outside `#[test]` functions unwrap too, and clippy.toml's test
// exemption does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::{open, rows};
use curatore_migration::{Migrator, MigratorTrait};
use curatore_test_support::{TestDatabase, each_engine};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Set, Statement};
use serde_json::json;
use uuid::Uuid;

/// A test-only view of `organizations`, shaped like the persistence entity.
mod organization {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "organizations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub display_name: String,
        pub slug: String,
        pub is_active: bool,
        #[sea_orm(column_type = "JsonBinary")]
        pub settings: Json,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub created_by: Option<Uuid>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A test-only view of `users`.
mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub organization_id: Uuid,
        pub email: String,
        pub username: String,
        pub password_hash: String,
        pub full_name: Option<String>,
        pub is_active: bool,
        pub is_verified: bool,
        pub role: String,
        #[sea_orm(column_type = "JsonBinary")]
        pub settings: Json,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub last_login_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

async fn migrated(db: &TestDatabase) -> DatabaseConnection {
    let conn = open(db).await;
    Migrator::up(&conn, None).await.expect("up");
    conn
}

fn placeholder(conn: &DatabaseConnection, n: usize) -> String {
    match conn.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// Inserts an organisation naming only the required columns, so every default applies.
async fn insert_org_with_defaults(conn: &DatabaseConnection, id: Uuid, slug: &str) {
    let p: Vec<String> = (1..=4).map(|n| placeholder(conn, n)).collect();
    let sql = format!(
        "INSERT INTO organizations (id, name, display_name, slug) VALUES ({}, {}, {}, {})",
        p[0], p[1], p[2], p[3]
    );
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        sql,
        [id.into(), slug.into(), slug.into(), slug.into()],
    ))
    .await
    .expect("insert an organisation with defaults");
}

async fn roundtrip(db: TestDatabase) {
    let engine = db.engine();
    let conn = migrated(&db).await;

    // Values written by SeaORM come back unchanged.
    let at = Utc.with_ymd_and_hms(2026, 1, 12, 9, 30, 15).unwrap()
        + chrono::Duration::microseconds(123_456);
    let org = organization::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set("acme".into()),
        display_name: Set("Acme".into()),
        slug: Set("acme".into()),
        is_active: Set(false),
        settings: Set(json!({"theme": "dark", "limits": [1, 2]})),
        created_at: Set(at),
        updated_at: Set(at),
        created_by: Set(None),
    }
    .insert(&conn)
    .await
    .expect("insert through SeaORM");
    let read = organization::Entity::find_by_id(org.id)
        .one(&conn)
        .await
        .unwrap()
        .expect("found by id");
    assert_eq!(read, org, "{engine}: organisation round trip");

    // Defaults read back as the application's types.
    let before = Utc::now() - chrono::Duration::seconds(5);
    let defaulted = Uuid::new_v4();
    insert_org_with_defaults(&conn, defaulted, "defaults").await;
    let read = organization::Entity::find_by_id(defaulted)
        .one(&conn)
        .await
        .unwrap()
        .expect("defaulted organisation");
    assert!(read.is_active, "{engine}: is_active defaults to true");
    assert_eq!(
        read.settings,
        json!({}),
        "{engine}: settings defaults to {{}}"
    );
    assert!(read.created_at >= before, "{engine}: created_at is now");
    assert!(read.created_at <= Utc::now() + chrono::Duration::seconds(5));
    assert_eq!(read.created_at, read.updated_at);

    let user = user::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(org.id),
        email: Set("ada@example.com".into()),
        username: Set("ada".into()),
        password_hash: Set("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        full_name: Set(None),
        is_active: Set(true),
        is_verified: Set(false),
        role: Set("member".into()),
        settings: Set(json!({})),
        created_at: Set(at),
        updated_at: Set(at),
        last_login_at: Set(Some(Utc::now())),
    }
    .insert(&conn)
    .await
    .expect("insert a user");
    let read = user::Entity::find_by_id(user.id)
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, user, "{engine}: user round trip");

    // The cycle: an organisation can name its creator.
    let mut org_am: organization::ActiveModel = org.clone().into();
    org_am.created_by = Set(Some(user.id));
    org_am.update(&conn).await.expect("set created_by");

    // Unique rules hold.
    let dup = user::ActiveModel {
        id: Set(Uuid::new_v4()),
        username: Set("ada2".into()),
        ..user.clone().into()
    };
    assert!(
        user::Entity::insert(dup).exec(&conn).await.is_err(),
        "{engine}: duplicate e-mail is rejected"
    );

    // Foreign keys are enforced...
    let orphan = user::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(Uuid::new_v4()),
        email: Set("orphan@example.com".into()),
        username: Set("orphan".into()),
        ..user.clone().into()
    };
    assert!(
        user::Entity::insert(orphan).exec(&conn).await.is_err(),
        "{engine}: a user with an unknown organization_id is rejected"
    );

    // ...with their ON DELETE rules: deleting the user clears created_by,
    // deleting the organisation removes its users.
    user::Entity::delete_by_id(user.id)
        .exec(&conn)
        .await
        .unwrap();
    let read = organization::Entity::find_by_id(org.id)
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.created_by, None, "{engine}: created_by SET NULL");

    let second = user::ActiveModel {
        id: Set(Uuid::new_v4()),
        ..user.clone().into()
    }
    .insert(&conn)
    .await
    .unwrap();
    organization::Entity::delete_by_id(org.id)
        .exec(&conn)
        .await
        .unwrap();
    assert!(
        user::Entity::find_by_id(second.id)
            .one(&conn)
            .await
            .unwrap()
            .is_none(),
        "{engine}: users CASCADE with their organisation"
    );

    // Timestamps written by the database and by SeaORM sort together.
    let later_default = Uuid::new_v4();
    insert_org_with_defaults(&conn, later_default, "later").await;
    let ordered = rows(
        &conn,
        "SELECT slug FROM organizations ORDER BY created_at",
        [],
    )
    .await
    .iter()
    .map(|r| r.try_get::<String>("", "slug").unwrap())
    .collect::<Vec<_>>();
    assert_eq!(
        ordered,
        ["defaults", "later"],
        "{engine}: order by created_at"
    );
    let fixed: DateTime<Utc> = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    let mut early: organization::ActiveModel = organization::Entity::find_by_id(later_default)
        .one(&conn)
        .await
        .unwrap()
        .unwrap()
        .into();
    early.created_at = Set(fixed);
    early.update(&conn).await.unwrap();
    let first = rows(
        &conn,
        "SELECT slug FROM organizations ORDER BY created_at LIMIT 1",
        [],
    )
    .await[0]
        .try_get::<String>("", "slug")
        .unwrap();
    assert_eq!(
        first, "later",
        "{engine}: a SeaORM timestamp sorts among defaults"
    );

    conn.close().await.unwrap();
}

#[tokio::test]
async fn values_defaults_and_foreign_keys_round_trip() {
    each_engine(roundtrip).await;
}
