//! Black-box tests of what a hostile or careless client can do to the real
//! binary (issue 7): slow bodies, requests actix cannot parse, who sees the
//! database details, and published JWT secrets.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::{Server, on_both};

const SECRET: &str = "abuse-test-ri/xiyL307oA5LhnGXwmGQpKOGvj4SRc8rqNHUeBwBKX64cKc";
const ADMIN_PASSWORD: &str = "admin-password-123";

fn address(server: &Server) -> SocketAddr {
    server
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("server address")
}

/// Sends `bytes` on a new connection and reads until the server closes it
/// or `wait` passes; returns what came back and when the first byte did.
fn exchange(addr: SocketAddr, bytes: &[u8], wait: Duration) -> (String, Option<Duration>) {
    let mut stream = TcpStream::connect_timeout(&addr, wait).expect("connect");
    let started = Instant::now();
    // The server may answer (and close) before a large request is all sent.
    let _ = stream.write_all(bytes);
    read_answer(&mut stream, started, wait)
}

fn read_answer(
    stream: &mut TcpStream,
    started: Instant,
    wait: Duration,
) -> (String, Option<Duration>) {
    let mut answer = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 8192];
    loop {
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                first.get_or_insert_with(|| started.elapsed());
                answer.extend_from_slice(&buf[..n]);
            }
        }
    }
    (String::from_utf8_lossy(&answer).into_owned(), first)
}

/// `GET /livez` on a fresh connection; the status line, or why there was none.
fn livez(addr: SocketAddr) -> String {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) else {
        return "no connection".to_owned();
    };
    let started = Instant::now();
    if stream
        .write_all(b"GET /livez HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return "write failed".to_owned();
    }
    let (answer, _) = read_answer(&mut stream, started, Duration::from_secs(3));
    answer.lines().next().unwrap_or("no answer").to_owned()
}

const SLOW_BODY: &[u8] = b"POST /api/v1/api-keys HTTP/1.1\r\nHost: test\r\n\
    Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{";

fn error_lines(logs: &[String]) -> Vec<&String> {
    logs.iter()
        .filter(|l| l.contains("\"level\":\"ERROR\""))
        .collect()
}

#[tokio::test]
async fn slow_request_bodies_get_a_408_and_cannot_starve_livez() {
    let db = TestDatabase::sqlite();
    let env = [("REQUEST_TIMEOUT_SECONDS", "2")];
    // A soft limit of 256 open files, as a careless service manager may
    // leave it (the probe's server had 1,024): before, 300 slow clients made
    // `accept` fail and /livez unreachable.
    let server = Server::start_with_open_file_limit(&db.url(), &env, 256).unwrap_or_else(|| {
        eprintln!("prlimit not found: the open-file limit is not lowered");
        Server::start(&db.url(), &env)
    });
    let addr = address(&server);

    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(3)).expect("connect");
        stream
            .write_all(SLOW_BODY)
            .expect("send headers and one byte");
        slow.push(stream);
    }
    assert_eq!(
        livez(addr),
        "HTTP/1.1 200 OK",
        "with 300 slow bodies pending"
    );

    // Every slow body is answered 408 in the JSON shape at about the deadline,
    // and its connection closed.
    for (i, stream) in slow.iter_mut().enumerate() {
        let (answer, first) = read_answer(stream, started, Duration::from_secs(8));
        assert!(
            answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "connection {i}: {answer:?}"
        );
        let at = first.unwrap();
        assert!(
            at >= Duration::from_millis(1900) && at < Duration::from_secs(6),
            "connection {i} answered after {at:?}"
        );
        let lower = answer.to_ascii_lowercase();
        assert!(
            lower.contains("content-type: application/json"),
            "{answer:?}"
        );
        assert!(lower.contains("connection: close"), "{answer:?}");
        let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(livez(addr), "HTTP/1.1 200 OK");

    let (status, logs) = server.stop();
    assert!(status.success());
    assert!(error_lines(&logs).is_empty(), "{:#?}", error_lines(&logs));
    let budget = logs
        .iter()
        .find(|l| l.contains("Connections: at most"))
        .unwrap_or_else(|| panic!("no connection budget logged: {logs:#?}"));
    if cfg!(target_os = "linux") && budget.contains("\"open_file_limit_before\":256") {
        // The soft limit was raised to the hard one.
        assert!(!budget.contains("\"open_file_limit\":256"), "{budget}");
    }
}

#[tokio::test]
async fn a_body_that_arrives_in_time_is_served_even_when_slow() {
    let db = TestDatabase::sqlite();
    let server = Server::start(&db.url(), &[("REQUEST_TIMEOUT_SECONDS", "2")]);
    let addr = address(&server);
    let mut stream = TcpStream::connect(addr).unwrap();
    let payload = br#"{"name":"arrives in time"}"#;
    write!(
        stream,
        "POST /api/v1/api-keys HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        payload.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    stream.write_all(payload).unwrap();
    let (answer, _) = read_answer(&mut stream, Instant::now(), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer:?}");
    assert_eq!(livez(addr), "HTTP/1.1 200 OK");

    let (status, logs) = server.stop();
    assert!(status.success());
    assert!(error_lines(&logs).is_empty(), "{:#?}", error_lines(&logs));
}

#[tokio::test]
async fn requests_actix_cannot_parse_are_answered_and_not_logged_as_errors() {
    let db = TestDatabase::sqlite();
    let mut server = Server::start(&db.url(), &[]);
    let addr = address(&server);
    let wait = Duration::from_secs(5);

    let long_url = format!(
        "GET /livez?{} HTTP/1.1\r\nHost: test\r\n\r\n",
        "q".repeat(100_000)
    );
    let (answer, _) = exchange(addr, long_url.as_bytes(), wait);
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer:?}"
    );

    let huge_header = format!(
        "GET /livez HTTP/1.1\r\nHost: test\r\nX-Filler: {}\r\n\r\n",
        "h".repeat(200_000)
    );
    let (answer, _) = exchange(addr, huge_header.as_bytes(), wait);
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer:?}"
    );

    let (answer, _) = exchange(addr, b"NOT HTTP AT ALL\r\n\r\n", wait);
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer:?}"
    );

    assert_eq!(livez(addr), "HTTP/1.1 200 OK");

    server.wait_for_log(wait, |m| m.contains("message head is too large"));
    let (status, logs) = server.stop();
    assert!(status.success());
    assert!(error_lines(&logs).is_empty(), "{:#?}", error_lines(&logs));
    for cause in ["uri too long", "message head is too large", "invalid"] {
        assert!(
            logs.iter().any(|l| l.contains("\"level\":\"WARN\"")
                && l.contains("request parse error")
                && l.contains(cause)),
            "no WARN for {cause}: {logs:#?}"
        );
    }
}

#[tokio::test]
async fn headers_that_never_finish_get_a_408_after_the_timeout() {
    let db = TestDatabase::sqlite();
    let server = Server::start(&db.url(), &[("REQUEST_TIMEOUT_SECONDS", "1")]);
    let addr = address(&server);
    // actix's own 408, after REQUEST_TIMEOUT_SECONDS.
    let (answer, first) = exchange(
        addr,
        b"GET /livez HTTP/1.1\r\nHost: test\r\n",
        Duration::from_secs(5),
    );
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer:?}"
    );
    assert!(first.unwrap() >= Duration::from_millis(900), "{first:?}");
    assert_eq!(livez(addr), "HTTP/1.1 200 OK");
    let (status, logs) = server.stop();
    assert!(status.success());
    assert!(error_lines(&logs).is_empty(), "{:#?}", error_lines(&logs));
}

#[tokio::test]
async fn a_long_query_that_parses_reaches_us_and_gets_json() {
    let db = TestDatabase::sqlite();
    let server = Server::start(&db.url(), &[]);
    let reply = server.get(&format!("/api/v1/audit-logs?action={}", "a".repeat(20_000)));
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{reply:?}"
    );
    assert_eq!(livez(address(&server)), "HTTP/1.1 200 OK");
}

fn start_with_auth(db: &TestDatabase, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("ENABLE_AUTH", "true"),
        ("JWT_SECRET_KEY", SECRET),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    env.extend_from_slice(extra);
    Server::start(&db.url(), &env)
}

fn access_token(server: &Server) -> String {
    let reply = server.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": "admin", "password": ADMIN_PASSWORD})),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

const DETAILS: [&str; 6] = [
    "database_url",
    "tables",
    "estimated_tables",
    "migration_version",
    "database_size_mb",
    "stats_age_seconds",
];

fn assert_anonymous_shape(body: &Value) {
    for key in [
        "status",
        "message",
        "connected",
        "database_type",
        "latency_ms",
    ] {
        assert!(body.get(key).is_some(), "{key} missing: {body}");
    }
    for key in DETAILS {
        assert!(body.get(key).is_none(), "{key} shown: {body}");
    }
}

fn assert_detailed_shape(body: &Value) {
    for key in [
        "status",
        "message",
        "connected",
        "database_type",
        "latency_ms",
    ]
    .into_iter()
    .chain(DETAILS)
    {
        assert!(body.get(key).is_some(), "{key} missing: {body}");
    }
    assert_eq!(body["tables"]["organizations"], 1, "{body}");
}

#[tokio::test]
async fn health_details_stay_public_by_default_even_with_auth() {
    let db = TestDatabase::sqlite();
    let server = start_with_auth(&db, &[]);
    let reply = server.get("/api/v1/system/health/database");
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_detailed_shape(&body);
    assert!(
        body["database_url"]
            .as_str()
            .unwrap()
            .contains("curatore.db"),
        "{body}"
    );
}

async fn health_details_authenticated_hides_them_from_anonymous_callers(db: TestDatabase) {
    let server = start_with_auth(&db, &[("HEALTH_DETAILS", "authenticated")]);
    let path = "/api/v1/system/health/database";

    let anonymous = server.get(path);
    assert_eq!(anonymous.status, 200, "{anonymous:?}");
    let body = anonymous.json();
    assert_anonymous_shape(&body);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["connected"], true);

    // A wrong token is not an error here: the probe still learns the status.
    let forged = server.get_with(path, &[("authorization", "Bearer not.a.token")]);
    assert_eq!(forged.status, 200, "{forged:?}");
    assert_anonymous_shape(&forged.json());

    let token = access_token(&server);
    let authenticated = server.get_with(path, &[("authorization", &format!("Bearer {token}"))]);
    assert_eq!(authenticated.status, 200, "{authenticated:?}");
    assert_detailed_shape(&authenticated.json());

    // The comprehensive report never had the details.
    let comprehensive = server.get("/api/v1/system/health/comprehensive").json();
    assert!(
        comprehensive["components"]["database"]
            .get("database_url")
            .is_none(),
        "{comprehensive}"
    );
}

on_both!(health_details_authenticated_hides_them_from_anonymous_callers);

#[tokio::test]
async fn health_details_authenticated_without_auth_shows_them_to_nobody() {
    let db = TestDatabase::sqlite();
    let server = Server::start(&db.url(), &[("HEALTH_DETAILS", "authenticated")]);
    let reply = server.get("/api/v1/system/health/database");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_anonymous_shape(&reply.json());
}

#[tokio::test]
async fn auth_refuses_published_and_predictable_jwt_secrets() {
    let db = TestDatabase::sqlite();
    for key in [
        // The Python system's .env.example: 36 bytes, it used to start.
        "your-secret-key-change-in-production",
        "CHANGE-ME-change-me-CHANGE-ME-change-me",
        "0123456789abcdef0123456789abcdef",
    ] {
        let out = support::run(
            &db.url(),
            &[("ENABLE_AUTH", "true"), ("JWT_SECRET_KEY", key)],
            &[],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains("JWT_SECRET_KEY"), "{key}: {stderr}");
        assert!(!stderr.contains(key), "the key is echoed: {stderr}");
    }
}
