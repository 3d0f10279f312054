//! Sending over SMTP: the transport built from [`SmtpOptions`].

use crate::render::render;
use curatore_domain::{OutgoingMail, Secret};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

pub use curatore_domain::SmtpTls;

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct SmtpOptions {
    /// The SMTP server's name (checked against its certificate) or address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is secured.
    pub tls: SmtpTls,
    /// Sign in with this name (and `password`), when set.
    pub username: Option<String>,
    /// The password for `username`.
    pub password: Option<Secret>,
    /// PEM certificates trusted besides the usual public roots (a private
    /// CA, or a server's self-signed certificate).
    pub extra_roots_pem: Option<Vec<u8>>,
    /// The sender, `Name <address>` or an address.
    pub from: String,
    /// Where people reach the console; links in mail point under it.
    pub public_url: String,
    /// Longest one SMTP exchange may take.
    pub timeout: Duration,
}

/// Why a transport cannot be built from the options.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `MAIL_FROM` is no mailbox.
    #[error("MAIL_FROM is not an e-mail address (`Name <address>` or `address`): {0}")]
    From(String),
    /// The extra certificates cannot be read.
    #[error("SMTP_CA_FILE holds no PEM certificate: {0}")]
    Certificates(String),
    /// TLS cannot be set up.
    #[error("SMTP TLS cannot be set up: {0}")]
    Tls(String),
}

/// Why one message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// What went wrong (the server's answer or the connection's error; no secrets).
    pub message: String,
    /// The server refused it for good (5xx).
    pub permanent: bool,
}

impl std::fmt::Display for SendFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Writes and sends messages over SMTP. Cheap to share; one connection per
/// message.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
    describe: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.describe)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `options`. Nothing connects yet.
    ///
    /// # Errors
    /// A sender that is no mailbox, extra certificates that are no PEM, or
    /// TLS parameters rustls refuses.
    pub fn new(options: &SmtpOptions) -> Result<Self, MailError> {
        let from: Mailbox = options
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::From(e.to_string()))?;
        let tls = || -> Result<TlsParameters, MailError> {
            let mut params = TlsParameters::builder(options.host.clone());
            if let Some(pem) = &options.extra_roots_pem {
                let certificate = Certificate::from_pem(pem)
                    .map_err(|e| MailError::Certificates(e.to_string()))?;
                params = params.add_root_certificate(certificate);
            }
            params
                .build_rustls()
                .map_err(|e| MailError::Tls(e.to_string()))
        };
        let tls = match options.tls {
            SmtpTls::StartTls => Tls::Required(tls()?),
            SmtpTls::Tls => Tls::Wrapper(tls()?),
            SmtpTls::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&options.host)
            .port(options.port)
            .tls(tls)
            .timeout(Some(options.timeout));
        if let Some(username) = &options.username {
            let password = options
                .password
                .as_ref()
                .map(|p| p.expose().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            public_url: options.public_url.trim_end_matches('/').to_owned(),
            describe: format!(
                "{}:{} ({})",
                options.host,
                options.port,
                options.tls.as_str()
            ),
        })
    }

    /// The message `mail` describes, from this mailer's sender.
    ///
    /// # Errors
    /// When the recipient cannot be written into a header.
    pub fn compose(&self, mail: &OutgoingMail) -> Result<Message, SendFailure> {
        let rendered = render(mail, &self.public_url);
        let to: Mailbox = mail.to.as_str().parse().map_err(|e| SendFailure {
            message: format!("the recipient is not an address SMTP can carry: {e}"),
            permanent: true,
        })?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| SendFailure {
                message: format!("the message cannot be built: {e}"),
                permanent: true,
            })
    }

    /// Writes and sends `mail`; `Ok` once the server accepted it.
    ///
    /// # Errors
    /// The server's refusal (permanent for 5xx), or why it could not be
    /// reached or trusted (transient).
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), SendFailure> {
        let message = self.compose(mail)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(SendFailure {
                permanent: e.is_permanent(),
                message: describe_error(&e),
            }),
        }
    }

    /// Connects, greets and says goodbye, to check the server and its
    /// certificate (for `curatore-server config` checks and tests).
    ///
    /// # Errors
    /// Why the server could not be reached, trusted or signed in to.
    pub async fn check(&self) -> Result<(), SendFailure> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SendFailure {
                message: "the SMTP server did not answer as expected".to_owned(),
                permanent: false,
            }),
            Err(e) => Err(SendFailure {
                permanent: e.is_permanent(),
                message: describe_error(&e),
            }),
        }
    }
}

/// The error with its causes, one line.
fn describe_error(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
