//! Mail end to end with the real binary on both engines and a real SMTP
//! server on loopback: an administrator invites by e-mail, the colleague
//! follows the link, chooses a password and signs in; forgot-password
//! answers alike for every address; mail queued before a restart is sent
//! after it; settings are checked at start and the SMTP password redacted.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use curatore_test_support::smtp::SmtpServer;
use serde_json::json;
use std::time::Duration;
use support::{Server, login, on_both, output_text};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";
const CHOSEN: &str = "a-password-chosen-by-link";

fn env(smtp_port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("ENABLE_AUTH", "true".into()),
        ("JWT_SECRET_KEY", SECRET.into()),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ("SMTP_HOST", "127.0.0.1".into()),
        ("SMTP_PORT", smtp_port.to_string()),
        ("SMTP_TLS", "none".into()),
        ("SMTP_TIMEOUT_SECONDS", "5".into()),
        ("MAIL_FROM", "Curatore <curatore@example.com>".into()),
        ("PUBLIC_URL", "http://curatore.test".into()),
        ("MAIL_RETRY_BASE_SECONDS", "1".into()),
    ]
}

fn start(db: &TestDatabase, smtp_port: u16) -> Server {
    let env = env(smtp_port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&db.url(), &env)
}

async fn invite_by_mail_then_sign_in(db: TestDatabase) {
    let smtp = SmtpServer::start().await;
    let s = start(&db, smtp.port());
    let admin = login(&s, "admin", ADMIN_PASSWORD);
    // A slow SMTP server does not slow the request down: it only queues.
    smtp.set_delay(Duration::from_secs(3));
    let asked = std::time::Instant::now();
    let r = s.call(
        "POST",
        "/api/v1/users/invite",
        &[("authorization", &admin)],
        Some(&json!({"email": "ada@example.test", "role": "user", "send_email": true})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let took = asked.elapsed();
    assert!(
        took < Duration::from_millis(2800),
        "the invite waited for SMTP: {took:?}"
    );
    eprintln!("invite with mail answered in {took:?}");
    let body = r.json();
    assert_eq!(body["email_status"], "queued", "{body}");
    assert_eq!(body["email_sent"], false);
    assert!(
        body["temporary_password"].is_null(),
        "nothing to copy by hand: {body}"
    );
    let id = body["user"]["id"].as_str().unwrap().to_owned();

    let got = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1, "the invitation arrives");
    smtp.set_delay(Duration::ZERO);
    assert_eq!(got[0].to, vec!["<ada@example.test>".to_owned()]);
    assert!(
        got[0]
            .decoded()
            .contains("http://curatore.test/console/reset?token=")
    );
    let token = got[0].reset_token().unwrap();

    let r = s.call(
        "POST",
        "/api/v1/auth/reset-password",
        &[],
        Some(&json!({"token": token, "new_password": CHOSEN})),
    );
    assert_eq!(r.status, 204, "{r:?}");
    login(&s, "ada", CHOSEN);
    let r = s.call(
        "GET",
        &format!("/api/v1/users/{id}"),
        &[("authorization", &admin)],
        None,
    );
    assert!(r.json()["invitation_sent_at"].is_string(), "{r:?}");
    assert!(r.json()["last_mail_error"].is_null());

    // Forgot-password: the same answer for a known and an unknown address,
    // one mail (to the known one).
    let ask = |email: &str| {
        s.call(
            "POST",
            "/api/v1/auth/forgot-password",
            &[],
            Some(&json!({ "email": email })),
        )
    };
    let known = ask("ada@example.test");
    let unknown = ask("nobody@example.test");
    assert_eq!(known.status, 202, "{known:?}");
    assert_eq!(
        (known.status, known.json()),
        (unknown.status, unknown.json())
    );
    let got = smtp.wait_for(2, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        smtp.received().len(),
        2,
        "one mail for two requests: {got:?}"
    );
    assert_eq!(got[1].to, vec!["<ada@example.test>".to_owned()]);
    assert!(got[1].reset_token().is_some());

    let metrics = s.get("/metrics");
    assert!(
        metrics.body.contains("curatore_mail_sent_total"),
        "{}",
        metrics.body
    );
    drop(s);
}

async fn mail_queued_before_a_restart_is_sent_after_it(db: TestDatabase) {
    // Nothing listens here: every attempt of the first server fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let first = start(&db, closed_port);
    let admin = login(&first, "admin", ADMIN_PASSWORD);
    let r = first.call(
        "POST",
        "/api/v1/organizations/me/users",
        &[("authorization", &admin)],
        Some(&json!({"email": "bea@example.test", "username": "bea", "send_email": true})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()["email_status"], "queued");
    let id = r.json()["id"].as_str().unwrap().to_owned();
    // The failed attempt shows on the user's row.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = first.call(
            "GET",
            &format!("/api/v1/organizations/me/users/{id}"),
            &[("authorization", &admin)],
            None,
        );
        if r.json()["last_mail_error"].is_string() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no attempt recorded: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    first.stop();

    let smtp = SmtpServer::start().await;
    let second = start(&db, smtp.port());
    let got = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "sent by the restarted server");
    assert_eq!(got[0].to, vec!["<bea@example.test>".to_owned()]);
    let token = got[0].reset_token().unwrap();
    let r = second.call(
        "POST",
        "/api/v1/auth/reset-password",
        &[],
        Some(&json!({"token": token, "new_password": CHOSEN})),
    );
    assert_eq!(r.status, 204, "{r:?}");
    login(&second, "bea", CHOSEN);
}

on_both!(
    invite_by_mail_then_sign_in,
    mail_queued_before_a_restart_is_sent_after_it
);

#[test]
fn mail_settings_are_checked_at_start_and_the_password_is_redacted() {
    let db = TestDatabase::sqlite();
    let mut plain_elsewhere = env(25);
    plain_elsewhere.retain(|(k, _)| *k != "SMTP_HOST");
    plain_elsewhere.push(("SMTP_HOST", "smtp.example.com".into()));
    let vars: Vec<(&str, &str)> = plain_elsewhere
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let out = support::run(&db.url(), &vars, &[]);
    let said = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("SMTP_TLS"), "{said}");

    let mut with_password = env(25);
    with_password.push(("SMTP_USERNAME", "mailer".into()));
    with_password.push(("SMTP_PASSWORD", "smtp-secret-value".into()));
    let vars: Vec<(&str, &str)> = with_password
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let out = support::run(&db.url(), &vars, &["config"]);
    let said = output_text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("SMTP_PASSWORD"), "{said}");
    assert!(said.contains("[REDACTED]"), "{said}");
    assert!(!said.contains("smtp-secret-value"), "{said}");
    assert!(said.contains("PUBLIC_URL"), "{said}");

    let mut missing_ca = env(25);
    missing_ca.push(("SMTP_CA_FILE", "/nonexistent/smtp-ca.pem".into()));
    let vars: Vec<(&str, &str)> = missing_ca.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = support::run(&db.url(), &vars, &[]);
    let said = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("SMTP_CA_FILE"), "{said}");
}
