//! Metrics and request rate limits, black-box on both engines: `/metrics`
//! moves with traffic, is guarded by `METRICS_TOKEN`, labels routes by
//! template; budgets answer `X-RateLimit-*` and 429 `rate_limited`, while
//! probes and metrics are never limited.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::json;
use support::{Server, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";

fn login(s: &Server, password: &str) -> support::Reply {
    s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": "admin", "password": password})),
    )
}

/// The value of the sample `name{labels}` (labels in the exporter's order),
/// or 0 when it is absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Every line of the scrape that starts with `prefix`.
fn lines<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

async fn metrics_move_with_traffic(db: TestDatabase) {
    let s = Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    let before = s.get("/metrics");
    assert_eq!(before.status, 200, "{before:?}");
    assert!(
        before
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let before = before.body;

    assert_eq!(login(&s, "wrong-password-1").status, 401);
    let ok = login(&s, ADMIN_PASSWORD);
    assert_eq!(ok.status, 200, "{ok:?}");
    let bearer = format!("Bearer {}", ok.json()["access_token"].as_str().unwrap());
    let key = s.call(
        "POST",
        "/api/v1/api-keys",
        &[("authorization", &bearer)],
        Some(&json!({"name": "metrics"})),
    );
    assert_eq!(key.status, 201, "{key:?}");
    let key_id = key.json()["id"].as_str().unwrap().to_owned();
    let renamed = s.call(
        "PUT",
        &format!("/api/v1/api-keys/{key_id}"),
        &[("authorization", &bearer)],
        Some(&json!({"name": "renamed"})),
    );
    assert_eq!(renamed.status, 200, "{renamed:?}");
    assert_eq!(s.get("/no/such/path/12345").status, 404);

    let after = s.get("/metrics").body;
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        moved(r#"curatore_logins_total{outcome="success"}"#),
        1.0,
        "{after}"
    );
    assert_eq!(moved(r#"curatore_logins_total{outcome="failure"}"#), 1.0);
    assert!(
        moved(r#"curatore_audit_entries_total{status="success"}"#) >= 2.0,
        "{after}"
    );
    assert!(moved(r#"curatore_audit_entries_total{status="failure"}"#) >= 1.0);
    assert_eq!(
        moved(
            r#"curatore_http_requests_total{method="PUT",route="/api/v1/api-keys/{id}",status="2xx"}"#
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        moved(
            r#"curatore_http_requests_total{method="POST",route="/api/v1/auth/login",status="4xx"}"#
        ),
        1.0
    );
    assert_eq!(
        moved(r#"curatore_http_requests_total{method="GET",route="unmatched",status="4xx"}"#),
        1.0
    );
    // Ids and random paths never become labels.
    assert!(!after.contains(&key_id), "a raw path leaked into a label");
    assert!(!after.contains("12345"));
    assert!(
        sample(
            &after,
            r#"curatore_http_request_duration_seconds_count{method="POST",route="/api/v1/auth/login",status="2xx"}"#
        ) >= 1.0
    );
    assert!(
        sample(
            &after,
            r#"curatore_password_hash_duration_seconds_count{operation="verify"}"#
        ) >= 2.0
    );
    assert!(!lines(&after, "curatore_password_hash_queue_depth").is_empty());
    assert!(sample(&after, "curatore_db_pool_max_connections") >= 1.0);
    assert!(!lines(&after, r#"curatore_db_pool_connections{state="in_use"}"#).is_empty());
    if db.url().starts_with("sqlite") {
        assert!(
            sample(&after, "curatore_sqlite_write_gate_wait_seconds_count") >= 2.0,
            "{after}"
        );
    }
    let _ = s.stop();
}

async fn metrics_token_guards_the_scrape(db: TestDatabase) {
    let token = "scrape-token-7d1e0c";
    let s = Server::start(&db.url(), &[("METRICS_TOKEN", token)]);
    let refused = s.get("/metrics");
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(refused.error_code(), "authentication_required");
    let wrong = s.get_with(
        "/metrics",
        &[("authorization", "Bearer scrape-token-7d1e0d")],
    );
    assert_eq!(wrong.status, 401);
    let ok = s.get_with("/metrics", &[("authorization", &format!("Bearer {token}"))]);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(
        ok.body.contains("curatore_http_requests_total"),
        "{}",
        ok.body
    );
    let _ = s.stop();
}

async fn rate_limits_answer_429_with_headers_and_spare_probes(db: TestDatabase) {
    let s = Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("RATE_LIMIT_WINDOW_SECONDS", "3600"),
            ("RATE_LIMIT_USER_READS", "3"),
            ("RATE_LIMIT_IP_READS", "100"),
        ],
    );
    let ok = login(&s, ADMIN_PASSWORD);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.header("x-ratelimit-limit"), Some("300"), "{ok:?}");
    let bearer = format!("Bearer {}", ok.json()["access_token"].as_str().unwrap());
    let me = || s.get_with("/api/v1/auth/me", &[("authorization", &bearer)]);
    for remaining in ["2", "1", "0"] {
        let r = me();
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some(remaining));
        let reset: u64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
        assert!((1..=3600).contains(&reset), "{reset}");
    }
    let refused = me();
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.error_code(), "rate_limited");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    // Never limited: probes, health and metrics (no rate-limit headers either).
    for path in ["/livez", "/readyz", "/metrics", "/api/v1/system/health"] {
        for _ in 0..5 {
            let r = s.get_with(path, &[("authorization", &bearer)]);
            assert_eq!(r.status, 200, "{path}: {r:?}");
            assert_eq!(r.header("x-ratelimit-limit"), None, "{path}");
        }
    }
    // Another caller from the same address still has its own budget.
    let anonymous = s.get("/api/v1/auth/me");
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    assert_eq!(anonymous.header("x-ratelimit-limit"), Some("100"));
    let scraped = s.get("/metrics").body;
    assert_eq!(
        sample(&scraped, r#"curatore_rate_limited_total{class="read"}"#),
        1.0,
        "{scraped}"
    );
    let _ = s.stop();
}

async fn rate_limits_can_be_turned_off(db: TestDatabase) {
    let s = Server::start(
        &db.url(),
        &[
            ("RATE_LIMIT_ENABLED", "false"),
            ("RATE_LIMIT_IP_READS", "1"),
        ],
    );
    for _ in 0..3 {
        let r = s.get("/api/v1/organizations/me");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("x-ratelimit-limit"), None);
    }
    let _ = s.stop();
}

on_both!(
    metrics_move_with_traffic,
    metrics_token_guards_the_scrape,
    rate_limits_answer_429_with_headers_and_spare_probes,
    rate_limits_can_be_turned_off,
);
