//! One default per organization and type is the database's rule, not only
//! the code's: a second default is refused as a conflict on `is_default`
//! (the partial unique index), on both engines; other types, other
//! organizations and non-defaults are unaffected; clearing makes room.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use curatore_domain::{ConnectionScope, ConnectionType, NewConnection, OrganizationId};
use curatore_persistence::PersistenceError;
use curatore_test_support::{TestDatabase, each_engine};
use serde_json::json;

mod common;

fn new(org: OrganizationId, ty: &str, is_default: bool) -> NewConnection {
    NewConnection {
        organization_id: org,
        name: format!("{ty} {is_default}"),
        description: None,
        connection_type: ConnectionType::parse(ty).unwrap(),
        config: json!({}),
        is_default,
        scope: ConnectionScope::Organization,
        owner_user_id: None,
        created_by: None,
        managed_by: None,
    }
}

async fn the_database_refuses_a_second_default(db: TestDatabase) {
    let database = common::open(&db).await;
    let a = common::organization(&database, "alpha", json!({})).await;
    let b = common::organization(&database, "beta", json!({})).await;
    let conns = database.tenant(a.id).connections();
    let first = conns.create(new(a.id, "llm", true)).await.unwrap();
    let second = conns.create(new(a.id, "llm", true)).await.unwrap_err();
    assert!(
        matches!(
            second,
            PersistenceError::Conflict {
                field: "is_default"
            }
        ),
        "{}: {second:?}",
        db.engine()
    );
    conns.create(new(a.id, "llm", false)).await.unwrap();
    conns.create(new(a.id, "extraction", true)).await.unwrap();
    database
        .tenant(b.id)
        .connections()
        .create(new(b.id, "llm", true))
        .await
        .unwrap();
    let llm = ConnectionType::parse("llm").unwrap();
    assert_eq!(conns.clear_default(&llm, None).await.unwrap(), 1);
    conns.create(new(a.id, "llm", true)).await.unwrap();
    let err = conns.set_default_flag(first.id, true).await.unwrap_err();
    assert!(matches!(err, PersistenceError::Conflict { .. }), "{err:?}");
    database.close().await;
}

#[tokio::test]
async fn a_second_default_is_refused_by_the_database() {
    each_engine(the_database_refuses_a_second_default).await;
}
