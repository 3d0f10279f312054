//! Mail to users through an outbox: invitations, password resets and
//! notices of a changed password.
//!
//! A use case never sends: it writes the message into the outbox in the
//! same transaction as the change it belongs to ([`queue`]), so a request
//! never waits for an SMTP server, a rolled-back change sends nothing, and a
//! restart loses nothing. The worker ([`Operator::run_mail_outbox`], one per
//! instance) claims due messages, hands each to a [`MailTransport`] (the
//! server gives it `curatore-mail`'s SMTP transport), and marks it sent, or
//! schedules the next attempt with exponential backoff until it gives up.
//! A claim is a lease written in one statement (on PostgreSQL with `FOR
//! UPDATE SKIP LOCKED`; on SQLite at the write gate), so N instances on one
//! database send each message once. The user's row shows what became of
//! their mail (`invitation_sent_at`, `last_mail_error`), and `/metrics`
//! counts it.

use crate::error::Result;
use crate::operator::Operator;
use crate::services::Services;
use chrono::{DateTime, Utc};
use curatore_domain::{EmailAddress, MailKind, OutgoingMail, Secret, User};
use curatore_persistence::{NewOutboxMail, OutboxMail, System};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// What a transport's send returns.
pub type MailFuture<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<(), MailFailure>> + Send + 'a>>;

/// Sends one message (the port the worker uses; `curatore-mail` implements
/// it over SMTP, tests with a server of their own).
pub trait MailTransport: Send + Sync {
    /// Delivers `mail` to the next hop; `Ok` once it was accepted.
    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> MailFuture<'a>;
}

/// Why a message was not delivered.
#[derive(Debug, Clone)]
pub struct MailFailure {
    /// What went wrong, without secrets (stored on the user's row).
    pub message: String,
    /// The server refused it for good (5xx): retrying cannot help.
    pub permanent: bool,
}

impl MailFailure {
    /// A failure worth retrying (a refused connection, a 4xx answer).
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }

    /// A refusal for good.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }
}

/// Whether mail is sent, and how the outbox retries.
#[derive(Debug, Clone)]
pub struct MailConfig {
    pub(crate) enabled: bool,
    pub(crate) retry_base: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) poll_interval: Duration,
    pub(crate) lease: Duration,
    pub(crate) claim_batch: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self::disabled()
    }
}

impl MailConfig {
    /// No mail transport: invitations fall back to a temporary password
    /// shown once, resets to a token shown once, and answers say no mail
    /// was sent.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            retry_base: Duration::from_secs(30),
            max_attempts: 8,
            poll_interval: Duration::from_secs(5),
            lease: Duration::from_secs(300),
            claim_batch: 20,
        }
    }

    /// Mail is sent: a failed attempt is retried after 30 s, doubling up to
    /// an hour, 8 attempts in all; the worker looks for due mail every 5 s
    /// (and at once after a request of this instance queued one); a claim
    /// lasts 5 minutes.
    pub fn enabled() -> Self {
        Self {
            enabled: true,
            ..Self::disabled()
        }
    }

    /// The pause after the first failed attempt; each further one doubles it (at most an hour).
    #[must_use]
    pub fn with_retry_base(mut self, base: Duration) -> Self {
        self.retry_base = base;
        self
    }

    /// How many attempts before a message is given up (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// How often the worker looks for due mail queued by other instances.
    #[must_use]
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }

    /// How long a claimed message is left to its claimant before another
    /// instance may try it (longer than one SMTP exchange can take).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How many due messages one claim takes (at least 1; default 20).
    #[must_use]
    pub fn with_claim_batch(mut self, batch: u64) -> Self {
        self.claim_batch = batch.max(1);
        self
    }

    /// Whether mail is sent.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The pause before attempt `attempts + 1`: the base doubled per
    /// earlier failure, at most an hour.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(20);
        self.retry_base
            .saturating_mul(1 << doublings)
            .min(Duration::from_secs(3600))
    }
}

/// What became of a request to mail someone, as answers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStatus {
    /// Nobody asked for mail.
    NotRequested,
    /// Asked for, but this server has no mail transport: nothing was sent.
    NotConfigured,
    /// Written to the outbox; the worker sends it in the background (the
    /// user's row shows when it was sent, or why not yet).
    Queued,
}

impl MailStatus {
    /// The name answers use: `not_requested`, `not_configured`, `queued`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRequested => "not_requested",
            Self::NotConfigured => "not_configured",
            Self::Queued => "queued",
        }
    }
}

/// Writes a message to `user` into the outbox of the transaction behind
/// `system`; it is sent once that transaction commits.
pub(crate) async fn queue(
    system: System<'_>,
    kind: MailKind,
    user: &User,
    organization_name: &str,
    token: Option<(&Secret, DateTime<Utc>)>,
) -> Result<()> {
    let mut payload = json!({
        "username": user.username.as_str(),
        "full_name": user.full_name,
        "organization_name": organization_name,
    });
    if let Some((token, expires_at)) = token {
        payload["token"] = json!(token.expose());
        payload["expires_at"] = json!(expires_at);
    }
    system
        .mail_outbox()
        .enqueue(NewOutboxMail {
            organization_id: user.organization_id,
            user_id: Some(user.id),
            kind,
            recipient: user.email.as_str().to_owned(),
            payload,
        })
        .await?;
    Ok(())
}

/// The message a claimed outbox row describes; `None` when it cannot be
/// read (a kind or address this version does not know).
fn outgoing(mail: &OutboxMail) -> Option<OutgoingMail> {
    let text = |key: &str| mail.payload.get(key).and_then(|v| v.as_str());
    Some(OutgoingMail {
        kind: mail.kind?,
        to: EmailAddress::parse(&mail.recipient).ok()?,
        username: text("username").unwrap_or_default().to_owned(),
        full_name: text("full_name").map(str::to_owned),
        organization_name: text("organization_name").unwrap_or_default().to_owned(),
        token: text("token").map(Secret::new),
        expires_at: mail
            .payload
            .get("expires_at")
            .and_then(|v| serde_json::from_value(v.clone()).ok()),
    })
}

/// What one pass of the worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Messages the transport accepted.
    pub sent: u32,
    /// Failed attempts that will be retried.
    pub retried: u32,
    /// Messages given up.
    pub given_up: u32,
}

impl Services {
    /// Whether mail is sent (a transport is configured).
    pub fn mail_enabled(&self) -> bool {
        self.mail_config().enabled
    }

    /// Tells this instance's worker that mail was queued.
    pub(crate) fn wake_mail_worker(&self) {
        self.mail_wakeup().notify_one();
    }
}

impl Operator {
    /// One pass of the outbox: claims the due messages, sends each through
    /// `transport`, and records what happened.
    ///
    /// # Errors
    /// 503 when the database is unavailable (messages already claimed are
    /// tried again once their lease runs out).
    pub async fn deliver_mail(&self, transport: &dyn MailTransport) -> Result<DeliveryReport> {
        let services = &self.services;
        let config = services.mail_config();
        let outbox = services.database().system().mail_outbox();
        let mut report = DeliveryReport::default();
        loop {
            let claimed = outbox.claim_due(config.lease, config.claim_batch).await?;
            let batch = claimed.len() as u64;
            for mail in claimed {
                let kind = mail.kind_name.clone();
                let outcome = match outgoing(&mail) {
                    Some(message) => transport.send(&message).await,
                    None => Err(MailFailure::permanent(format!(
                        "the outbox entry cannot be read (kind {kind})"
                    ))),
                };
                match outcome {
                    Ok(()) => {
                        outbox.mark_sent(&mail).await?;
                        metrics::counter!(crate::metrics::MAIL_SENT, "kind" => kind).increment(1);
                        report.sent += 1;
                        tracing::info!(mail = %mail.id, kind = mail.kind_name, "mail sent");
                    }
                    Err(failure) => {
                        let give_up = failure.permanent || mail.attempts >= config.max_attempts;
                        let retry_at = (!give_up).then(|| {
                            Utc::now()
                                + chrono::Duration::from_std(config.backoff(mail.attempts))
                                    .unwrap_or(chrono::Duration::hours(1))
                        });
                        outbox
                            .mark_failed(&mail, &failure.message, retry_at)
                            .await?;
                        let outcome = if give_up { "given_up" } else { "retry" };
                        metrics::counter!(crate::metrics::MAIL_FAILURES, "kind" => kind, "outcome" => outcome)
                            .increment(1);
                        if give_up {
                            report.given_up += 1;
                            tracing::warn!(mail = %mail.id, kind = mail.kind_name, attempts = mail.attempts, error = failure.message, "mail given up");
                        } else {
                            report.retried += 1;
                            tracing::warn!(mail = %mail.id, kind = mail.kind_name, attempts = mail.attempts, error = failure.message, "mail not sent; will retry");
                        }
                    }
                }
            }
            if batch < config.claim_batch {
                break;
            }
        }
        if let Ok(counts) = outbox.counts().await {
            metrics::gauge!(crate::metrics::MAIL_QUEUED).set(counts.queued as f64);
            metrics::gauge!(crate::metrics::MAIL_GIVEN_UP).set(counts.failed as f64);
        }
        Ok(report)
    }

    /// Delivers the outbox for as long as the returned future runs: a pass
    /// at once, then whenever a request of this instance queued mail, when
    /// the next message is due, and at least every poll interval (for mail
    /// other instances queued). Spawn it and abort it at shutdown; a
    /// message being sent then is tried again after its lease.
    pub async fn run_mail_outbox(&self, transport: Arc<dyn MailTransport>) {
        let services = &self.services;
        let config = services.mail_config().clone();
        let wakeup = services.mail_wakeup();
        loop {
            if let Err(e) = self.deliver_mail(transport.as_ref()).await {
                tracing::warn!("mail outbox: {e}");
            }
            let mut pause = config.poll_interval;
            if let Ok(Some(next)) = services.database().system().mail_outbox().next_due().await {
                let until = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                pause = pause.min(until.max(Duration::from_millis(20)));
            }
            tokio::select! {
                () = wakeup.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}
