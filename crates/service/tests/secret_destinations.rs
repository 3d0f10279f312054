//! Stored secrets stay with their destination and out of every answer, on
//! both engines: a service that echoes the whole request back (401, 500 and
//! 200-but-wrong answers) leaves no trace of a secret with quotes, `%`, `+`,
//! non-ASCII characters and 1,000 characters in the test result a viewer
//! reads, in any encoding or part; changing where a secret is sent while
//! keeping it is refused (409 `secret_must_be_resent`); the marker is no
//! secret (400); an inactive connection is never the default; a secret that
//! no longer opens can be replaced, and the status reports it as a code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use curatore_auth::SecretBox;
use curatore_domain::{ConnectionScope, Secret};
use curatore_service::connections::config::{REDACTED, encodings};
use curatore_service::{
    ConnectionQuery, ConnectionRegistry, ConnectionUpdate, ConnectionsConfig, DeclaredKind,
    Invitation, NewConnectionRequest, Operator, RequestContext, Services, ServicesConfig, testing,
};
use curatore_test_support::{TestDatabase, each_engine};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

fn key(byte: u8) -> Arc<SecretBox> {
    Arc::new(SecretBox::new([("k1", [byte; 32])]).unwrap())
}

fn connections_config(secrets: Arc<SecretBox>) -> ConnectionsConfig {
    let mut registry = ConnectionRegistry::builtin();
    // An embedding service's type: its `url` is a destination by default.
    registry.register(Arc::new(DeclaredKind::new(
        "vector_store",
        "Vector store",
        json!({"type": "object", "required": ["url", "api_key"], "properties": {
            "url": {"type": "string", "format": "uri"},
            "api_key": {"type": "string", "writeOnly": true, "minLength": 1},
            "collection": {"type": "string", "default": "docs"}}}),
    )));
    ConnectionsConfig {
        registry,
        secrets: Some(secrets),
        ..ConnectionsConfig::default()
    }
}

async fn open(db: &TestDatabase, secrets: Arc<SecretBox>) -> (Services, Operator) {
    let config = ServicesConfig {
        connections: connections_config(secrets),
        ..ServicesConfig::new(common::config())
    };
    testing::open(&db.url(), config).await
}

/// A service that answers every request with the whole request in its
/// body: `/unauthorized/…` with 401 and the request JSON-escaped, `/broken/…`
/// with 500 and the request as it came (a form body stays URL-encoded),
/// anything else with 200 and the request as plain text (not JSON, not
/// what the test expects).
fn echoing_service() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || echo(stream));
        }
    });
    base
}

fn echo(mut stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = Vec::new();
    let mut line = Vec::new();
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            break;
        }
        request.extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line).to_lowercase();
        if let Some(v) = text.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if line == b"\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    request.extend_from_slice(&body);
    let text = String::from_utf8_lossy(&request).into_owned();
    let path = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let (status, reply) = if path.contains("/unauthorized/") {
        (
            401,
            json!({"error": {"message": "bad key", "request": text}}).to_string(),
        )
    } else if path.contains("/broken/") {
        (500, format!("upstream failed on: {text}"))
    } else {
        (200, format!("echo: {text}"))
    };
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            reply.len()
        )
        .as_bytes(),
    );
    let _ = stream.write_all(reply.as_bytes());
}

/// A secret of `len` characters with quotes, `%`, `+`, a space and
/// non-ASCII letters in it.
fn nasty_secret(tag: &str, len: usize) -> String {
    let start = format!("{tag}-\"q'uo%2Bte%+plus é ü ß ✓ ");
    let filler = "Zx9+Qw%7\"Lm'ñö";
    let mut s = start;
    while s.chars().count() < len {
        s.push_str(filler);
    }
    s.chars().take(len).collect()
}

/// Fails if any run of 8 characters of any encoding of `secret` is in `text`.
fn assert_no_trace(text: &str, secret: &str, what: &str) {
    for form in encodings(secret) {
        let chars: Vec<char> = form.chars().collect();
        for w in chars.windows(8) {
            let w: String = w.iter().collect();
            assert!(
                !text.contains(&w),
                "{what}: `{w}` (part of an encoding of the secret) is in {text}"
            );
        }
    }
}

async fn viewer(services: &Services, admin: &RequestContext) -> RequestContext {
    services
        .users(admin)
        .invite(Invitation {
            email: curatore_domain::EmailAddress::parse("viewer@acme.example").unwrap(),
            username: Some("viewer".into()),
            full_name: None,
            role: Some(curatore_domain::Role::Viewer),
            password: Some(Secret::new("viewer-password-123456")),
            send_email: false,
        })
        .await
        .unwrap();
    common::sign_in(services, "viewer", "viewer-password-123456").await
}

fn new(ty: &str, config: Value, test: bool) -> NewConnectionRequest {
    NewConnectionRequest {
        name: format!("{ty} {}", uuid::Uuid::new_v4().simple()),
        description: None,
        connection_type: ty.into(),
        config,
        is_default: false,
        scope: ConnectionScope::Organization,
        test_on_save: test,
    }
}

async fn echoed_secrets_never_reach_a_result(db: TestDatabase) {
    let engine = db.engine();
    let base = echoing_service();
    let (services, operator) = open(&db, key(1)).await;
    testing::seed(&operator, "acme").await;
    let admin = common::admin(&services).await;
    let viewer = viewer(&services, &admin).await;

    let mut cases = Vec::new();
    for (n, len) in [(0, 40), (1, 300), (2, 1000)] {
        for (i, prefix) in ["unauthorized", "broken", "ok"].into_iter().enumerate() {
            let secret = nasty_secret(&format!("S{n}{i}"), len);
            let llm =
                json!({"api_key": secret, "model": "m", "base_url": format!("{base}/{prefix}/v1")});
            let extraction = json!({"service_url": format!("{base}/{prefix}"), "api_key": secret});
            let sharepoint = json!({"tenant_id": "t", "client_id": "c", "client_secret": secret,
                "authority_url": format!("{base}/{prefix}"), "graph_base_url": format!("{base}/{prefix}/graph")});
            cases.push(("llm", llm, secret.clone()));
            cases.push(("extraction", extraction, secret.clone()));
            cases.push(("sharepoint", sharepoint, secret));
        }
    }
    for (ty, config, secret) in cases {
        let saved = services
            .connections(&admin)
            .create(new(ty, config, true))
            .await
            .unwrap();
        let outcome = saved.test.clone().unwrap();
        assert!(!outcome.success, "{engine} {ty}: {outcome:?}");
        let id = saved.connection.id;
        let report = services.connections(&admin).test(id).await.unwrap();
        let seen = services.connections(&viewer).get(id).await.unwrap();
        let listed = services
            .connections(&viewer)
            .list(ConnectionQuery::default())
            .await
            .unwrap();
        let listed = listed.items.iter().find(|c| c.id == id).unwrap();
        let shown = format!(
            "{} {} {} {} {}",
            serde_json::to_string(&outcome).unwrap(),
            serde_json::to_string(&report.outcome).unwrap(),
            seen.test_result.clone().unwrap(),
            listed.test_result.clone().unwrap(),
            seen.config,
        );
        assert_no_trace(&shown, &secret, &format!("{engine} {ty}"));
        // Only our classification: a fixed reason, the status, the time.
        let result = seen.test_result.unwrap();
        let reason = result["error"].as_str().unwrap();
        assert!(
            [
                "credentials_refused",
                "http_error",
                "unexpected_response",
                "no_access_token",
                "endpoint_not_found"
            ]
            .contains(&reason),
            "{engine} {ty}: {result}"
        );
        let details = result["details"].as_object().unwrap();
        assert!(
            details
                .keys()
                .all(|k| k == "status_code" || k == "response_time_ms"),
            "{engine} {ty}: {result}"
        );
        assert!(
            !result.to_string().contains("echo") && !result.to_string().contains(&base),
            "{engine} {ty}: {result}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoed_secrets_never_reach_a_test_result() {
    each_engine(echoed_secrets_never_reach_a_result).await;
}

async fn update(
    services: &Services,
    ctx: &RequestContext,
    id: curatore_domain::ConnectionId,
    config: Value,
) -> Result<Value, &'static str> {
    services
        .connections(ctx)
        .update(
            id,
            ConnectionUpdate {
                config: Some(config),
                ..ConnectionUpdate::default()
            },
        )
        .await
        .map(|s| s.connection.config)
        .map_err(reason)
}

async fn destinations_bind_secrets(db: TestDatabase) {
    let engine = db.engine();
    let (services, operator) = open(&db, key(2)).await;
    testing::seed(&operator, "acme").await;
    let admin = common::admin(&services).await;
    let create = |ty: &'static str, config: Value| {
        let services = &services;
        let admin = &admin;
        async move {
            services
                .connections(admin)
                .create(new(ty, config, false))
                .await
                .unwrap()
                .connection
                .id
        }
    };

    let llm = create(
        "llm",
        json!({"api_key": "sk-stored-123456", "model": "m", "base_url": "http://127.0.0.1:9/v1"}),
    )
    .await;
    let collector = "http://collector.example/v1";
    for kept in [
        json!({"base_url": collector, "api_key": REDACTED}),
        json!({"base_url": collector}),
    ] {
        assert_eq!(
            update(&services, &admin, llm, kept.clone()).await,
            Err("secret_must_be_resent"),
            "{engine}: {kept}"
        );
    }
    // Not a destination: the stored secret is kept.
    assert!(
        update(
            &services,
            &admin,
            llm,
            json!({"model": "n", "api_key": REDACTED})
        )
        .await
        .is_ok()
    );
    // Sent again: accepted.
    let moved = update(
        &services,
        &admin,
        llm,
        json!({"base_url": collector, "api_key": "sk-new-654321"}),
    )
    .await
    .unwrap();
    assert_eq!(moved["base_url"], collector);

    let sharepoint = create(
        "sharepoint",
        json!({"tenant_id": "t1", "client_id": "c", "client_secret": "ms-secret-123456"}),
    )
    .await;
    for moved in [
        json!({"tenant_id": "t2"}),
        json!({"authority_url": "https://login.example"}),
        json!({"graph_base_url": "https://graph.example/v1.0", "client_secret": REDACTED}),
    ] {
        assert_eq!(
            update(&services, &admin, sharepoint, moved.clone()).await,
            Err("secret_must_be_resent"),
            "{engine}: {moved}"
        );
    }
    assert!(
        update(&services, &admin, sharepoint, json!({"client_id": "c2"}))
            .await
            .is_ok()
    );

    // Without a stored secret there is nothing to steer.
    let bare = create("extraction", json!({"service_url": "http://127.0.0.1:9"})).await;
    assert!(
        update(
            &services,
            &admin,
            bare,
            json!({"service_url": "http://other.example"})
        )
        .await
        .is_ok()
    );
    let keyed = create(
        "extraction",
        json!({"service_url": "http://127.0.0.1:9", "api_key": "ex-key-123456"}),
    )
    .await;
    assert_eq!(
        update(
            &services,
            &admin,
            keyed,
            json!({"service_url": "http://other.example"})
        )
        .await,
        Err("secret_must_be_resent")
    );
    // Removing the secret while moving sends nothing anywhere.
    assert!(
        update(
            &services,
            &admin,
            keyed,
            json!({"service_url": "http://other.example", "api_key": null})
        )
        .await
        .is_ok()
    );

    // An embedding service's type: `format: uri` fields are destinations.
    let vectors = create(
        "vector_store",
        json!({"url": "https://vectors.example", "api_key": "vs-key-123456"}),
    )
    .await;
    assert_eq!(
        update(
            &services,
            &admin,
            vectors,
            json!({"url": "https://collector.example"})
        )
        .await,
        Err("secret_must_be_resent")
    );
    assert!(
        update(&services, &admin, vectors, json!({"collection": "other"}))
            .await
            .is_ok()
    );

    // The marker is no secret.
    let err = services
        .connections(&admin)
        .create(new(
            "llm",
            json!({"api_key": REDACTED, "model": "m", "base_url": "http://127.0.0.1:9/v1"}),
            false,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Invalid(curatore_service::Invalid::RedactionMarker(_))
        ),
        "{engine}: {err:?}"
    );
}

#[tokio::test]
async fn changing_a_destination_needs_the_secret_again() {
    each_engine(destinations_bind_secrets).await;
}

async fn inactive_never_default(db: TestDatabase) {
    let engine = db.engine();
    let (services, operator) = open(&db, key(3)).await;
    testing::seed(&operator, "acme").await;
    let admin = common::admin(&services).await;
    let mut req = new(
        "extraction",
        json!({"service_url": "http://127.0.0.1:9"}),
        false,
    );
    req.is_default = true;
    let id = services
        .connections(&admin)
        .create(req)
        .await
        .unwrap()
        .connection
        .id;
    let set = |is_active: Option<bool>, is_default: Option<bool>| {
        let services = &services;
        let admin = &admin;
        async move {
            services
                .connections(admin)
                .update(
                    id,
                    ConnectionUpdate {
                        is_active,
                        is_default,
                        ..ConnectionUpdate::default()
                    },
                )
                .await
        }
    };
    // Deactivating and making default at once is refused.
    let err = set(Some(false), Some(true)).await.unwrap_err();
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Invalid(
                curatore_service::Invalid::Rule(_) | curatore_service::Invalid::Value(_)
            )
        ),
        "{engine}: {err:?}"
    );
    // Deactivating the default clears it.
    let off = set(Some(false), None).await.unwrap().connection;
    assert!(!off.is_active && !off.is_default, "{engine}: {off:?}");
    let defaults = services
        .connections(&admin)
        .list(ConnectionQuery {
            is_default: Some(true),
            ..ConnectionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(defaults.total, Some(0), "{engine}");
    // An inactive one cannot become the default, either way.
    let err = set(None, Some(true)).await.unwrap_err();
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Invalid(
                curatore_service::Invalid::Rule(_) | curatore_service::Invalid::Value(_)
            )
        ),
        "{engine}: {err:?}"
    );
    let err = services
        .connections(&admin)
        .set_default(id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Invalid(
                curatore_service::Invalid::Rule(_) | curatore_service::Invalid::Value(_)
            )
        ),
        "{engine}: {err:?}"
    );
    // Active again, it can.
    let on = set(Some(true), Some(true)).await.unwrap().connection;
    assert!(on.is_active && on.is_default, "{engine}: {on:?}");
}

#[tokio::test]
async fn an_inactive_connection_is_never_the_default() {
    each_engine(inactive_never_default).await;
}

async fn unopenable_secrets(db: TestDatabase) {
    let engine = db.engine();
    let (services, operator) = open(&db, key(4)).await;
    testing::seed(&operator, "acme").await;
    let admin = common::admin(&services).await;
    let mut req = new(
        "llm",
        json!({"api_key": "sk-old-123456", "model": "m", "base_url": "http://127.0.0.1:9/v1"}),
        false,
    );
    req.is_default = true;
    let id = services
        .connections(&admin)
        .create(req)
        .await
        .unwrap()
        .connection
        .id;

    // The same database under another key: the stored secret does not open.
    let (other, other_operator) = open(&db, key(5)).await;
    let admin = common::admin(&other).await;
    let org = admin.organization_id();
    let check = other_operator.check_secrets_open(100).await.unwrap();
    assert_eq!(check.unopenable, vec![id], "{engine}: {check:?}");
    assert_eq!(check.checked, 1);

    // Without any key, no sealed value opens either.
    let (_, keyless) = testing::open(&db.url(), ServicesConfig::new(common::config())).await;
    let check = keyless.check_secrets_open(100).await.unwrap();
    assert!(
        check.no_key && check.unopenable == vec![id],
        "{engine}: {check:?}"
    );

    // The status says so, as a code, instead of failing.
    let status = other.status(&admin).service("llm").await.unwrap();
    assert!(!status.connected, "{engine}");
    assert_eq!(status.error_code, Some("secret_decryption_failed"));
    assert_eq!(status.model.as_deref(), Some("m"));

    // Keeping it cannot work; replacing it does.
    assert_eq!(
        update(&other, &admin, id, json!({"model": "n"})).await,
        Err("secret_decryption_failed"),
        "{engine}"
    );
    update(&other, &admin, id, json!({"api_key": "sk-new-654321"}))
        .await
        .unwrap();
    let active = other_operator
        .active_connection(org, "llm")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(active.secret("api_key").unwrap().expose(), "sk-new-654321");
    let status = other.status(&admin).service("llm").await.unwrap();
    assert_eq!(status.error_code, Some("not_tested"), "{engine}");
    assert!(
        other_operator
            .check_secrets_open(100)
            .await
            .unwrap()
            .unopenable
            .is_empty()
    );
}

#[tokio::test]
async fn a_secret_that_no_longer_opens_is_reported_and_can_be_replaced() {
    each_engine(unopenable_secrets).await;
}

/// The refusals these tests expect, by the wire code they answer with.
fn reason(e: curatore_service::ServiceError) -> &'static str {
    use curatore_service::{Conflict, ServiceError};
    match e {
        ServiceError::Conflict(Conflict::SecretMustBeResent(_)) => "secret_must_be_resent",
        ServiceError::Secrets(_) => "secret_decryption_failed",
        other => panic!("unexpected refusal: {other:?}"),
    }
}
