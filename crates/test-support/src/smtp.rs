//! A small SMTP server on loopback for tests: it accepts every message
//! (after refusing the first few when asked to), keeps what it received,
//! offers `STARTTLS` with a certificate when given one, and accepts any
//! `AUTH PLAIN`, remembering who signed in.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// `MAIL FROM`.
    pub from: String,
    /// Every `RCPT TO`.
    pub to: Vec<String>,
    /// The message as sent (headers and body, dot-stuffing undone).
    pub data: String,
    /// Whether it came over TLS.
    pub tls: bool,
    /// The user name of `AUTH PLAIN`, if the client signed in.
    pub user: Option<String>,
}

impl ReceivedMail {
    /// The body with quoted-printable soft breaks and `=3D` undone, so
    /// links can be searched for.
    pub fn decoded(&self) -> String {
        self.data
            .replace("=\r\n", "")
            .replace("=3D", "=")
            .replace("=\n", "")
    }

    /// The first `…/console/reset?token=<token>` link's token.
    pub fn reset_token(&self) -> Option<String> {
        let body = self.decoded();
        let start = body.find("reset?token=")? + "reset?token=".len();
        let token: String = body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            .collect();
        (!token.is_empty()).then_some(token)
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<ReceivedMail>>,
    refuse: AtomicU32,
    refused: AtomicU32,
    /// Milliseconds to wait before accepting a message.
    delay_ms: AtomicU32,
}

/// The server; it stops when dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl SmtpServer {
    /// A server without TLS on a free loopback port.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A server that offers `STARTTLS` with `tls`.
    pub async fn start_with_tls(tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(Some(tls)).await
    }

    async fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _ = session(Box::new(stream), state, tls).await;
                });
            }
        });
        Self { addr, shared, task }
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answers the next `n` messages' `MAIL FROM` with `451` (try again later).
    pub fn refuse_next(&self, n: u32) {
        self.shared.refuse.store(n, Ordering::SeqCst);
    }

    /// Waits `delay` before accepting each message (a slow server).
    pub fn set_delay(&self, delay: Duration) {
        let ms = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// How many messages were refused so far.
    pub fn refused(&self) -> u32 {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits up to `timeout` for at least `count` messages; returns what came.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= count || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`: the server's
/// TLS configuration and the certificate in PEM (what a client must trust).
pub fn self_signed_tls() -> (Arc<rustls::ServerConfig>, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let pem = certified.cert.pem();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    (Arc::new(config), pem)
}

async fn session(
    stream: Box<dyn Io>,
    state: Arc<Shared>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    reader
        .get_mut()
        .write_all(b"220 test-smtp ESMTP\r\n")
        .await?;
    let mut secure = false;
    let mut user = None;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            let mut r = String::from("250-test-smtp\r\n");
            if tls.is_some() && !secure {
                r.push_str("250-STARTTLS\r\n");
            }
            r.push_str("250-AUTH PLAIN\r\n250 8BITMIME\r\n");
            r
        } else if upper.starts_with("HELO") {
            "250 test-smtp\r\n".into()
        } else if upper == "STARTTLS" {
            let Some(config) = tls.clone().filter(|_| !secure) else {
                reader.get_mut().write_all(b"502 no\r\n").await?;
                continue;
            };
            reader.get_mut().write_all(b"220 go ahead\r\n").await?;
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            let inner = reader.into_inner();
            let upgraded = acceptor.accept(inner).await?;
            reader = BufReader::new(Box::new(upgraded));
            secure = true;
            continue;
        } else if upper.starts_with("AUTH PLAIN") {
            let encoded = command.split_whitespace().nth(2).unwrap_or_default();
            user = decode_plain(encoded);
            "235 2.7.0 accepted\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            let refuse = state
                .refuse
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refuse {
                state.refused.fetch_add(1, Ordering::SeqCst);
                "451 4.3.0 try again later\r\n".into()
            } else {
                from = command["MAIL FROM:".len()..].trim().to_owned();
                to.clear();
                "250 2.1.0 ok\r\n".into()
            }
        } else if upper.starts_with("RCPT TO:") {
            to.push(command["RCPT TO:".len()..].trim().to_owned());
            "250 2.1.5 ok\r\n".into()
        } else if upper == "DATA" {
            reader.get_mut().write_all(b"354 end with .\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let delay = state.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
            }
            state.received.lock().unwrap().push(ReceivedMail {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
                tls: secure,
                user: user.clone(),
            });
            "250 2.0.0 queued\r\n".into()
        } else if upper == "RSET" || upper == "NOOP" {
            "250 ok\r\n".into()
        } else if upper == "QUIT" {
            reader.get_mut().write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 not implemented\r\n".into()
        };
        reader.get_mut().write_all(reply.as_bytes()).await?;
    }
}

/// The user name of an `AUTH PLAIN` response (`\0user\0password`, base64).
fn decode_plain(encoded: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in encoded.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    let text = String::from_utf8(out).ok()?;
    text.split('\0').nth(1).map(str::to_owned)
}
