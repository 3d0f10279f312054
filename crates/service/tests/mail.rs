//! Mail through the outbox, without HTTP, on both engines, against a real
//! SMTP server on loopback (`curatore_test_support::smtp`) reached through
//! `curatore-mail`'s transport: invitations followed to a signed-in user,
//! forgot-password without enumeration, restarts, retries, and several
//! instances sending each mail once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test with a message"
)]

use curatore_domain::{OutgoingMail, Secret};
use curatore_mail::{Mailer, SmtpOptions, SmtpTls};
use curatore_service::{
    AuditEvent, AuditLogQuery, Client, Invitation, MailConfig, MailFailure, MailFuture, MailStatus,
    MailTransport, Operator, PasswordReset, Services, ServicesConfig, testing,
};
use curatore_test_support::smtp::SmtpServer;
use curatore_test_support::{TestDatabase, each_engine};
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::{PASSWORD, admin, sign_in};

const NEW_PASSWORD: &str = "a-password-chosen-by-link";

/// `curatore-mail`'s SMTP mailer as the outbox's transport, as the server
/// composes it.
struct Smtp(Mailer);

impl MailTransport for Smtp {
    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> MailFuture<'a> {
        Box::pin(async move {
            self.0.send(mail).await.map_err(|f| MailFailure {
                message: f.message,
                permanent: f.permanent,
            })
        })
    }
}

fn transport(server: &SmtpServer) -> Arc<dyn MailTransport> {
    Arc::new(Smtp(
        Mailer::new(&SmtpOptions {
            host: "127.0.0.1".into(),
            port: server.port(),
            tls: SmtpTls::None,
            username: None,
            password: None,
            extra_roots_pem: None,
            from: "Curatore <curatore@example.com>".into(),
            public_url: "https://curatore.example.com".into(),
            timeout: Duration::from_secs(10),
        })
        .unwrap(),
    ))
}

fn mail_config() -> MailConfig {
    MailConfig::enabled()
        .with_retry_base(Duration::from_millis(50))
        .with_poll_interval(Duration::from_millis(50))
}

/// Services with mail on over `db`, seeded with the organization `acme` once.
async fn open(db: &TestDatabase, mail: MailConfig, seed: bool) -> (Services, Operator) {
    let config = ServicesConfig {
        mail,
        ..ServicesConfig::new(testing::auth_config())
    };
    let (services, operator) = testing::open(&db.url(), config).await;
    if seed {
        testing::seed(&operator, "acme").await;
    }
    (services, operator)
}

fn invitation(name: &str) -> Invitation {
    Invitation {
        email: curatore_domain::EmailAddress::parse(&format!("{name}@example.test")).unwrap(),
        username: Some(name.into()),
        full_name: None,
        role: None,
        password: None,
        send_email: true,
    }
}

/// Runs delivery passes until `server` holds `count` messages (or 10 s).
async fn deliver_until(
    operator: &Operator,
    transport: &dyn MailTransport,
    server: &SmtpServer,
    count: usize,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.received().len() < count && tokio::time::Instant::now() < deadline {
        operator.deliver_mail(transport).await.expect("deliver");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_invitation_mail_carries_a_link_that_sets_the_password_and_signs_in() {
    each_engine(|db| async move {
        let engine = db.engine();
        let server = SmtpServer::start().await;
        let smtp = transport(&server);
        let (services, operator) = open(&db, mail_config(), true).await;
        let admin = admin(&services).await;
        let invited = services
            .users(&admin)
            .invite(invitation("ada"))
            .await
            .unwrap();
        assert_eq!(invited.mail, MailStatus::Queued, "{engine}");
        assert!(
            invited.temporary_password.is_none(),
            "{engine}: no password to copy by hand"
        );
        assert!(invited.user.invitation_sent_at.is_none());

        let report = operator.deliver_mail(smtp.as_ref()).await.unwrap();
        assert_eq!(report.sent, 1, "{engine}");
        let got = server.received();
        assert_eq!(got.len(), 1, "{engine}");
        assert_eq!(got[0].to, vec!["<ada@example.test>".to_owned()]);
        assert!(
            got[0].decoded().contains("Org acme"),
            "{engine}: the organization is named"
        );
        let token = got[0].reset_token().expect("a link with a token");

        let user = services.users(&admin).get(invited.user.id).await.unwrap();
        assert!(
            user.invitation_sent_at.is_some(),
            "{engine}: delivery shows on the user"
        );
        assert!(user.last_mail_error.is_none());

        // Followed: the token chooses the password, then the user signs in.
        let client = Client::local();
        let anonymous = services.anonymous(&client);
        anonymous
            .redeem_reset_token(&Secret::new(&token), &Secret::new(NEW_PASSWORD))
            .await
            .expect("redeem");
        sign_in(&services, "ada", NEW_PASSWORD).await;
        let again = anonymous
            .redeem_reset_token(&Secret::new(&token), &Secret::new("another-password-1"))
            .await
            .expect_err("one time only");
        assert!(
            matches!(
                again,
                curatore_service::ServiceError::Unauthenticated(
                    curatore_service::Unauthenticated::InvalidResetToken
                )
            ),
            "{again:?}"
        );

        // Accepting an invitation sends no "password changed" notice, and
        // the sent message no longer holds its token.
        operator.deliver_mail(smtp.as_ref()).await.unwrap();
        assert_eq!(server.received().len(), 1, "{engine}");
        let db2 = common::database(&db).await;
        let entries = db2
            .system()
            .mail_outbox()
            .for_user(invited.user.id)
            .await
            .unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].status, "sent");
        assert_eq!(entries[0].attempts, 1);
        db2.close().await;
        operator.close().await;
    })
    .await;
}

#[tokio::test]
async fn without_mail_an_invitation_falls_back_to_a_temporary_password() {
    let db = TestDatabase::sqlite();
    let (services, _operator) = open(&db, MailConfig::disabled(), true).await;
    let admin = admin(&services).await;
    let invited = services
        .users(&admin)
        .invite(invitation("bob"))
        .await
        .unwrap();
    assert_eq!(invited.mail, MailStatus::NotConfigured);
    assert!(invited.temporary_password.is_some());
    let reset = services
        .users(&admin)
        .reset_password(invited.user.id, None)
        .await
        .unwrap();
    assert!(matches!(
        reset,
        PasswordReset::Token {
            mail: MailStatus::NotConfigured,
            ..
        }
    ));
    let status = services
        .anonymous(&Client::local())
        .request_password_reset("bob@example.test")
        .await
        .unwrap();
    assert_eq!(status, MailStatus::NotConfigured);
    let db2 = common::database(&db).await;
    assert!(
        db2.system()
            .mail_outbox()
            .list(10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn forgot_password_answers_the_same_for_known_and_unknown_addresses_and_mails_once() {
    each_engine(|db| async move {
        let engine = db.engine();
        let server = SmtpServer::start().await;
        let smtp = transport(&server);
        let (services, operator) = open(&db, mail_config(), true).await;
        // Signed in once: a user who never did is accepting an invitation.
        admin(&services).await;
        let client = Client::local();
        let anonymous = services.anonymous(&client);
        let known = anonymous.request_password_reset("Admin@Acme.example").await;
        let unknown = anonymous
            .request_password_reset("nobody@acme.example")
            .await;
        assert_eq!(known.unwrap(), MailStatus::Queued, "{engine}");
        assert_eq!(
            unknown.unwrap(),
            MailStatus::Queued,
            "{engine}: the same answer"
        );
        // The reset is made after the answer; wait for it.
        deliver_until(&operator, smtp.as_ref(), &server, 1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        operator.deliver_mail(smtp.as_ref()).await.unwrap();
        let got = server.received();
        assert_eq!(got.len(), 1, "{engine}: one mail, to the known address");
        assert_eq!(got[0].to, vec!["<admin@acme.example>".to_owned()]);
        let token = got[0].reset_token().expect("link");
        anonymous
            .redeem_reset_token(&Secret::new(&token), &Secret::new(NEW_PASSWORD))
            .await
            .unwrap();
        let ctx = sign_in(&services, "admin", NEW_PASSWORD).await;
        // The request is in the audit trail; the unknown address left nothing.
        let page = services
            .audit_log(&ctx)
            .list(&AuditLogQuery {
                actions: vec![AuditEvent::RequestPasswordReset.into()],
                ..AuditLogQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1, "{engine}");
        // A changed password after a reset sends a notice.
        deliver_until(&operator, smtp.as_ref(), &server, 2).await;
        let got = server.received();
        assert_eq!(got.len(), 2, "{engine}: the notice");
        assert!(got[1].decoded().contains("was just changed"));
        assert!(got[1].reset_token().is_none(), "a notice carries no link");
        // Malformed addresses are refused without a lookup.
        let bad = anonymous.request_password_reset("not an address").await;
        let bad = bad.unwrap_err();
        assert!(
            matches!(bad, curatore_service::ServiceError::Invalid(_)),
            "{bad:?}"
        );
        operator.close().await;
    })
    .await;
}

#[tokio::test]
async fn the_outbox_survives_a_restart_between_queueing_and_delivery() {
    each_engine(|db| async move {
        let engine = db.engine();
        let invited = {
            let (services, operator) = open(&db, mail_config(), true).await;
            let admin = admin(&services).await;
            let invited = services
                .users(&admin)
                .invite(invitation("cyd"))
                .await
                .unwrap();
            // Stopped before any worker ran.
            operator.close().await;
            invited
        };
        let server = SmtpServer::start().await;
        let smtp = transport(&server);
        let (services, operator) = open(&db, mail_config(), false).await;
        let report = operator.deliver_mail(smtp.as_ref()).await.unwrap();
        assert_eq!(report.sent, 1, "{engine}");
        let got = server.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].to, vec!["<cyd@example.test>".to_owned()]);
        let token = got[0].reset_token().unwrap();
        services
            .anonymous(&Client::local())
            .redeem_reset_token(&Secret::new(&token), &Secret::new(NEW_PASSWORD))
            .await
            .unwrap();
        sign_in(&services, "cyd", NEW_PASSWORD).await;
        let _ = invited;
        operator.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_server_refusing_the_first_two_attempts_gets_the_mail_on_the_third() {
    each_engine(|db| async move {
        let engine = db.engine();
        let server = SmtpServer::start().await;
        server.refuse_next(2);
        let smtp = transport(&server);
        let (services, operator) = open(&db, mail_config(), true).await;
        let admin = admin(&services).await;
        let invited = services
            .users(&admin)
            .invite(invitation("dia"))
            .await
            .unwrap();

        let first = operator.deliver_mail(smtp.as_ref()).await.unwrap();
        assert_eq!(first.retried, 1, "{engine}");
        let user = services.users(&admin).get(invited.user.id).await.unwrap();
        let error = user.last_mail_error.expect("the error shows on the user");
        assert!(
            error.contains("451") || error.to_lowercase().contains("try again"),
            "{error}"
        );
        assert!(user.invitation_sent_at.is_none());
        // Not due again at once: the backoff holds it back.
        let early = operator.deliver_mail(smtp.as_ref()).await.unwrap();
        assert_eq!(early, Default::default(), "{engine}: waits its backoff");

        deliver_until(&operator, smtp.as_ref(), &server, 1).await;
        assert_eq!(server.refused(), 2, "{engine}");
        assert_eq!(server.received().len(), 1, "{engine}: on the third attempt");
        let user = services.users(&admin).get(invited.user.id).await.unwrap();
        assert!(user.invitation_sent_at.is_some());
        assert!(
            user.last_mail_error.is_none(),
            "{engine}: cleared by the delivery"
        );
        let db2 = common::database(&db).await;
        let entries = db2
            .system()
            .mail_outbox()
            .for_user(invited.user.id)
            .await
            .unwrap();
        assert_eq!(
            (entries[0].status.as_str(), entries[0].attempts),
            ("sent", 3)
        );
        db2.close().await;
        operator.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_mail_is_given_up_after_its_attempts_and_says_why() {
    let db = TestDatabase::sqlite();
    let server = SmtpServer::start().await;
    server.refuse_next(10);
    let smtp = transport(&server);
    let (services, operator) = open(&db, mail_config().with_max_attempts(2), true).await;
    let admin = admin(&services).await;
    let invited = services
        .users(&admin)
        .invite(invitation("edd"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut given_up = 0;
    while given_up == 0 && tokio::time::Instant::now() < deadline {
        given_up += operator.deliver_mail(smtp.as_ref()).await.unwrap().given_up;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(given_up, 1);
    assert_eq!(server.refused(), 2);
    let db2 = common::database(&db).await;
    let entries = db2
        .system()
        .mail_outbox()
        .for_user(invited.user.id)
        .await
        .unwrap();
    assert_eq!(entries[0].status, "failed");
    assert!(entries[0].last_error.is_some());
    let user = services.users(&admin).get(invited.user.id).await.unwrap();
    assert!(user.last_mail_error.is_some());
}

#[tokio::test]
async fn two_instances_on_one_database_send_each_mail_once() {
    each_engine(|db| async move {
        let engine = db.engine();
        let server = SmtpServer::start().await;
        // A slow server and small claims: both instances send at once.
        server.set_delay(Duration::from_millis(30));
        let smtp = transport(&server);
        let config = mail_config().with_claim_batch(2);
        let (services, one) = open(&db, config.clone(), true).await;
        let (_, two) = open(&db, config, false).await;
        let admin = admin(&services).await;
        let count: u32 = 12;
        for i in 0..count {
            services
                .users(&admin)
                .invite(invitation(&format!("user{i}")))
                .await
                .unwrap();
        }
        let total = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let workers: Vec<_> = [one.clone(), two.clone()]
            .into_iter()
            .map(|operator| {
                let smtp = smtp.clone();
                let total = total.clone();
                tokio::spawn(async move {
                    let mut sent = 0;
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
                    while total.load(std::sync::atomic::Ordering::SeqCst) < count
                        && tokio::time::Instant::now() < deadline
                    {
                        let pass = operator.deliver_mail(smtp.as_ref()).await.unwrap().sent;
                        total.fetch_add(pass, std::sync::atomic::Ordering::SeqCst);
                        sent += pass;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    sent
                })
            })
            .collect();
        let mut per_instance = Vec::new();
        for worker in workers {
            per_instance.push(worker.await.unwrap());
        }
        // Time for a duplicate to arrive, were there one.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = server.received();
        let mut recipients: Vec<String> = got.iter().map(|m| m.to.join(",")).collect();
        recipients.sort();
        let before = recipients.len();
        recipients.dedup();
        assert_eq!(
            before, count as usize,
            "{engine}: {count} mails, not more: {recipients:?}"
        );
        assert_eq!(recipients.len(), count as usize, "{engine}: each once");
        assert_eq!(per_instance.iter().sum::<u32>(), count, "{engine}");
        assert!(
            per_instance.iter().all(|sent| *sent > 0),
            "{engine}: both instances sent some: {per_instance:?}"
        );
        one.close().await;
        two.close().await;
    })
    .await;
}

#[tokio::test]
async fn an_admin_reset_mails_the_token_link_and_a_set_password_mails_a_notice() {
    each_engine(|db| async move {
        let engine = db.engine();
        let server = SmtpServer::start().await;
        let smtp = transport(&server);
        let (services, operator) = open(&db, mail_config(), true).await;
        let admin = admin(&services).await;
        let mut chosen = invitation("faye");
        chosen.send_email = false;
        chosen.password = Some(Secret::new(PASSWORD));
        let fay = services.users(&admin).invite(chosen).await.unwrap();
        assert_eq!(fay.mail, MailStatus::NotRequested);

        let reset = services
            .users(&admin)
            .reset_password(fay.user.id, None)
            .await
            .unwrap();
        let PasswordReset::Token { token, mail, .. } = reset else {
            panic!("a token")
        };
        assert_eq!(mail, MailStatus::Queued, "{engine}");
        deliver_until(&operator, smtp.as_ref(), &server, 1).await;
        let got = server.received();
        assert_eq!(got.len(), 1, "{engine}");
        assert_eq!(got[0].reset_token().as_deref(), Some(token.expose()));

        let set = services
            .users(&admin)
            .reset_password(fay.user.id, Some(Secret::new(NEW_PASSWORD)))
            .await
            .unwrap();
        assert!(matches!(
            set,
            PasswordReset::Set {
                notice: MailStatus::Queued
            }
        ));
        deliver_until(&operator, smtp.as_ref(), &server, 2).await;
        let got = server.received();
        assert_eq!(got.len(), 2, "{engine}");
        assert!(got[1].decoded().contains("was just changed"));

        // Changing one's own password sends the notice too.
        let ctx = sign_in(&services, "faye", NEW_PASSWORD).await;
        services
            .account(&ctx)
            .change_password(
                &Secret::new(NEW_PASSWORD),
                &Secret::new("yet-another-password"),
            )
            .await
            .unwrap();
        deliver_until(&operator, smtp.as_ref(), &server, 3).await;
        assert_eq!(server.received().len(), 3, "{engine}");
        operator.close().await;
    })
    .await;
}

#[tokio::test]
async fn forgot_password_is_limited_per_client_address_like_logins() {
    let db = TestDatabase::sqlite();
    let (services, _operator) = open(&db, mail_config(), true).await;
    let client = Client::local();
    let anonymous = services.anonymous(&client);
    // testing::auth_config: 50 per address per window.
    for _ in 0..50 {
        anonymous
            .request_password_reset("nobody@acme.example")
            .await
            .expect("within the limit");
    }
    let refused = anonymous
        .request_password_reset("admin@acme.example")
        .await
        .expect_err("past the limit");
    assert!(
        matches!(refused, curatore_service::ServiceError::Limited(_)),
        "{refused:?}"
    );
    assert!(refused.retry_after().is_some());
    // Logins are counted apart: the address may still sign in.
    admin(&services).await;
}
