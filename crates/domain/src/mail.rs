//! Mail to users: what kinds there are and what one message says. How it is
//! written (templates) and sent (SMTP) is `curatore-mail`'s; when it is sent
//! (the outbox) is the service layer's.

use crate::{EmailAddress, Secret};
use chrono::{DateTime, Utc};

/// What a mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// An org_admin invited the recipient: a one-time link to choose a password.
    Invitation,
    /// A password reset (asked for by the user or issued by an org_admin):
    /// a one-time link to choose a new password.
    PasswordReset,
    /// The recipient's password was changed: a notice, no link.
    PasswordChanged,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [MailKind; 3] = [
        MailKind::Invitation,
        MailKind::PasswordReset,
        MailKind::PasswordChanged,
    ];

    /// The name stored in the outbox and used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
        }
    }

    /// The kind stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One message, as the outbox hands it to a transport. The only secret it
/// holds is the one-time token of the link (invitations and resets).
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMail {
    /// What it is for.
    pub kind: MailKind,
    /// The recipient.
    pub to: EmailAddress,
    /// The recipient's login name (shown so they know which account).
    pub username: String,
    /// The recipient's name, if known.
    pub full_name: Option<String>,
    /// The name of the recipient's organization.
    pub organization_name: String,
    /// The one-time token the link carries (invitations and resets).
    pub token: Option<Secret>,
    /// When the token stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

/// How the connection to the SMTP server is secured (`SMTP_TLS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// A plain connection upgraded with `STARTTLS`, which the server must
    /// offer (usually port 587).
    #[default]
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
    /// No encryption: only to an SMTP server on this machine (loopback).
    None,
}

impl SmtpTls {
    /// The value as written in `SMTP_TLS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }

    /// The usual port for this mode: 587, 465, 25.
    pub fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }
}
