//! The SMTP transport against a real SMTP server on loopback
//! (`curatore_test_support::smtp`): plain, STARTTLS with a self-signed
//! certificate trusted or not, refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use curatore_domain::{EmailAddress, MailKind, OutgoingMail, Secret};
use curatore_mail::{Mailer, SmtpOptions, SmtpTls};
use curatore_test_support::smtp::{SmtpServer, self_signed_tls};
use std::time::Duration;

fn options(port: u16, tls: SmtpTls) -> SmtpOptions {
    SmtpOptions {
        host: "127.0.0.1".into(),
        port,
        tls,
        username: None,
        password: None,
        extra_roots_pem: None,
        from: "Curatore <curatore@example.com>".into(),
        public_url: "https://curatore.example.com".into(),
        timeout: Duration::from_secs(10),
    }
}

fn invitation() -> OutgoingMail {
    OutgoingMail {
        kind: MailKind::Invitation,
        to: EmailAddress::parse("ada@example.com").unwrap(),
        username: "ada".into(),
        full_name: None,
        organization_name: "Acme".into(),
        token: Some(Secret::new("cpr_token-123")),
        expires_at: None,
    }
}

#[tokio::test]
async fn a_message_reaches_a_loopback_server_in_text_and_html() {
    let server = SmtpServer::start().await;
    let mailer = Mailer::new(&options(server.port(), SmtpTls::None)).unwrap();
    mailer.send(&invitation()).await.unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, vec!["<ada@example.com>".to_owned()]);
    assert!(got[0].from.contains("curatore@example.com"));
    assert_eq!(got[0].reset_token().as_deref(), Some("cpr_token-123"));
    let body = got[0].decoded();
    assert!(
        body.contains("text/plain") && body.contains("text/html"),
        "{body}"
    );
    assert!(body.contains("Acme"));
    assert!(!got[0].tls);
}

#[tokio::test]
async fn starttls_with_a_self_signed_certificate_is_refused_unless_trusted_explicitly() {
    let (tls, pem) = self_signed_tls();
    let server = SmtpServer::start_with_tls(tls).await;

    let untrusted = Mailer::new(&options(server.port(), SmtpTls::StartTls)).unwrap();
    let refused = untrusted.send(&invitation()).await.unwrap_err();
    assert!(!refused.permanent, "a TLS failure may be fixed: retried");
    assert!(
        refused.message.to_lowercase().contains("certificate")
            || refused.message.to_lowercase().contains("tls"),
        "{refused}"
    );
    assert!(server.received().is_empty(), "nothing sent in the clear");

    let mut trusting = options(server.port(), SmtpTls::StartTls);
    trusting.extra_roots_pem = Some(pem.into_bytes());
    trusting.username = Some("mailer".into());
    trusting.password = Some(Secret::new("smtp-password"));
    let mailer = Mailer::new(&trusting).unwrap();
    mailer.check().await.unwrap();
    mailer.send(&invitation()).await.unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls, "sent after STARTTLS");
    assert_eq!(got[0].user.as_deref(), Some("mailer"));
    assert!(!format!("{mailer:?}").contains("smtp-password"));
}

#[tokio::test]
async fn starttls_required_refuses_a_server_that_does_not_offer_it() {
    let server = SmtpServer::start().await;
    let mailer = Mailer::new(&options(server.port(), SmtpTls::StartTls)).unwrap();
    assert!(mailer.send(&invitation()).await.is_err());
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_temporary_refusal_is_transient() {
    let server = SmtpServer::start().await;
    server.refuse_next(1);
    let mailer = Mailer::new(&options(server.port(), SmtpTls::None)).unwrap();
    let failure = mailer.send(&invitation()).await.unwrap_err();
    assert!(!failure.permanent, "{failure}");
    mailer.send(&invitation()).await.unwrap();
    assert_eq!(server.received().len(), 1);
}

#[test]
fn a_sender_that_is_no_mailbox_is_refused() {
    let mut bad = options(25, SmtpTls::None);
    bad.from = "not an address".into();
    let err = Mailer::new(&bad).unwrap_err().to_string();
    assert!(err.contains("MAIL_FROM"), "{err}");
}
