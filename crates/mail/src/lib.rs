//! Curatore's mail layer: what an [`OutgoingMail`](curatore_domain::OutgoingMail) says (plain text and
//! HTML, from templates compiled into the binary) and how it travels (SMTP
//! through `lettre`, TLS by rustls).
//!
//! It knows nothing of the outbox: `curatore-service` decides when a
//! message is sent and retries it; the server hands this crate's [`Mailer`]
//! to the service's worker. Depends only on `curatore-domain`.
//!
//! ```
//! use curatore_domain::{EmailAddress, MailKind, OutgoingMail, Secret};
//! let mail = OutgoingMail {
//!     kind: MailKind::Invitation,
//!     to: EmailAddress::parse("ada@example.com").unwrap(),
//!     username: "ada".into(),
//!     full_name: Some("Ada".into()),
//!     organization_name: "Acme".into(),
//!     token: Some(Secret::new("cpr_abc")),
//!     expires_at: None,
//! };
//! let message = curatore_mail::render(&mail, "https://curatore.example.com");
//! assert!(message.text.contains("https://curatore.example.com/console/reset?token=cpr_abc"));
//! assert!(message.subject.contains("Acme"));
//! ```

mod render;
mod smtp;

pub use render::{Rendered, link, render};
pub use smtp::{MailError, Mailer, SendFailure, SmtpOptions, SmtpTls};
