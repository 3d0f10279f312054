//! Outbound HTTP for connection tests, with the guards a multi-tenant server
//! needs when tenants choose the URLs: cloud metadata addresses are always
//! refused, private and loopback ranges optionally, in every IPv6 form that
//! carries an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo); the
//! checked address is pinned for the request (so DNS cannot answer
//! differently a moment later); the proxy variables of the environment
//! (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, lower case too) are ignored,
//! since a proxy would resolve the name again past the guard, unless a proxy
//! is configured explicitly (`CONNECTIONS_TEST_PROXY`; then the address
//! cannot be pinned); redirects stay on the same host; bodies are read up to
//! a bound; every request has a timeout.

use curatore_domain::Secret;
use reqwest::redirect::Policy;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The most of a response body a test reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The longest a test waits, whatever the connection's `timeout` says.
pub const MAX_TEST_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_REDIRECTS: usize = 5;

/// Which outbound addresses are refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Refuse private, loopback, link-local and unique-local addresses too
    /// (`CONNECTIONS_BLOCK_PRIVATE_NETWORKS`).
    pub block_private_networks: bool,
}

/// Why a request could not be made or finished.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The URL cannot be used.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The address is refused by policy.
    #[error("refused: {0}")]
    Refused(String),
    /// No answer in time.
    #[error("timed out after {0} s")]
    Timeout(u64),
    /// The connection or the exchange failed.
    #[error("request failed: {0}")]
    Failed(String),
}

/// What came back (the body cut at [`MAX_BODY_BYTES`]). A test reads the
/// body to judge the answer; nothing of it goes into a result.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body, at most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
    /// How long the exchange took.
    pub elapsed: Duration,
}

impl Answer {
    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// JSON.
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
}

/// One request to make.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET` or `POST`.
    pub post: bool,
    /// Where.
    pub url: &'a str,
    /// Headers (values may be secrets: never logged).
    pub headers: Vec<(&'static str, String)>,
    /// Body, if any.
    pub body: Option<Body>,
    /// Timeout (capped at [`MAX_TEST_TIMEOUT`]).
    pub timeout: Duration,
    /// Check TLS certificates.
    pub verify_tls: bool,
}

/// The IPv4 address an IPv6 address carries, in the forms that reach one:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, RFC 4291;
/// not `::` and `::1`), NAT64 (`64:ff9b::/96`, RFC 6052, and the local-use
/// `64:ff9b:1::/48`, RFC 8215), 6to4 (`2002:AABB:CCDD::/48`, RFC 3056) and
/// Teredo (`2001::/32`, the client's address inverted in the last 32 bits).
fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let pair = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let last = pair(s[6], s[7]);
    if s[..6] == [0; 6] && u32::from(last) > 1 {
        return Some(last);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1) {
        return Some(last);
    }
    if s[0] == 0x2002 {
        return Some(pair(s[1], s[2]));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return Some(Ipv4Addr::from(!u32::from(last)));
    }
    None
}

/// Why an address is refused under `policy`, if it is.
pub fn refusal(ip: IpAddr, policy: OutboundPolicy) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4, policy),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return refusal_v4(v4, policy);
            }
            if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                return Some("a cloud metadata address");
            }
            let first = v6.segments()[0];
            let private = v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80;
            (policy.block_private_networks && private).then_some("a private or loopback address")
        }
    }
}

fn refusal_v4(v4: Ipv4Addr, policy: OutboundPolicy) -> Option<&'static str> {
    if v4.is_link_local() {
        // 169.254.0.0/16: where every cloud keeps its metadata service.
        return Some("a cloud metadata (link-local) address");
    }
    let o = v4.octets();
    let private = v4.is_private()
        || v4.is_loopback()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || (o[0] == 100 && (o[1] & 0xc0) == 64);
    (policy.block_private_networks && private).then_some("a private or loopback address")
}

/// Makes outbound requests under a policy.
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    policy: OutboundPolicy,
    proxy: Option<Secret>,
}

impl Outbound {
    /// Requests under `policy`, straight to the checked address (proxy
    /// variables of the environment are ignored).
    pub fn new(policy: OutboundPolicy) -> Self {
        Self {
            policy,
            proxy: None,
        }
    }

    /// Requests through `proxy` (an `http://` or `https://` URL, credentials
    /// allowed) when given. The proxy resolves the name again, so the
    /// address checked here cannot be pinned.
    pub fn through_proxy(mut self, proxy: Option<Secret>) -> Self {
        self.proxy = proxy;
        self
    }

    /// The policy.
    pub fn policy(&self) -> OutboundPolicy {
        self.policy
    }

    /// Sends `req`: checks the URL and every address its host resolves to,
    /// pins one allowed address, follows redirects only on the same host.
    ///
    /// # Errors
    /// [`OutboundError`]; never one that holds a header value.
    pub async fn send(&self, req: Request<'_>) -> Result<Answer, OutboundError> {
        let url = reqwest::Url::parse(req.url)
            .map_err(|_| OutboundError::InvalidUrl("not a URL".into()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OutboundError::InvalidUrl(
                "only http and https are allowed".into(),
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| OutboundError::InvalidUrl("no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let timeout = req
            .timeout
            .clamp(Duration::from_millis(100), MAX_TEST_TIMEOUT);
        let secs = timeout.as_secs().max(1);
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), port)))
                .await
                .map_err(|_| OutboundError::Timeout(secs))?
                .map_err(|_| OutboundError::Failed(format!("cannot resolve {host}")))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(OutboundError::Failed(format!("cannot resolve {host}")));
        }
        // Every address must pass: a host that resolves to an allowed and a
        // refused address could be steered to the refused one.
        for addr in &addrs {
            if let Some(why) = refusal(addr.ip(), self.policy) {
                return Err(OutboundError::Refused(format!("{host} resolves to {why}")));
            }
        }
        let origin_host = url.host_str().map(str::to_owned);
        let origin_port = url.port_or_known_default();
        let redirects = Policy::custom(move |attempt| {
            let same = attempt.url().host_str().map(str::to_owned) == origin_host
                && attempt.url().port_or_known_default() == origin_port;
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if same {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let mut builder = reqwest::Client::builder()
            .redirect(redirects)
            .timeout(timeout)
            .connect_timeout(timeout)
            .danger_accept_invalid_certs(!req.verify_tls)
            .user_agent(concat!("curatore/", env!("CARGO_PKG_VERSION")));
        builder = match &self.proxy {
            // Never the environment's proxies: they would connect wherever
            // they resolve the name to, past the check above.
            None => builder.no_proxy(),
            Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy.expose()).map_err(|_| {
                OutboundError::Failed("CONNECTIONS_TEST_PROXY is not a usable proxy URL".into())
            })?),
        };
        if host.parse::<IpAddr>().is_err() {
            builder = builder.resolve(&host, addrs[0]);
        }
        let client = builder
            .build()
            .map_err(|e| OutboundError::Failed(format!("cannot build the HTTP client: {e}")))?;
        let mut rb = if req.post {
            client.post(url)
        } else {
            client.get(url)
        };
        for (name, value) in &req.headers {
            rb = rb.header(*name, value);
        }
        rb = match req.body {
            Some(Body::Json(v)) => rb.json(&v),
            Some(Body::Form(f)) => rb.form(&f),
            None => rb,
        };
        let started = Instant::now();
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                OutboundError::Timeout(secs)
            } else if e.is_connect() {
                OutboundError::Failed(format!("cannot connect to {host}:{port}"))
            } else if e.is_redirect() {
                OutboundError::Failed("too many redirects".into())
            } else {
                OutboundError::Failed("the exchange failed".into())
            }
        };
        let mut response = rb.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while body.len() < MAX_BODY_BYTES {
            match response.chunk().await.map_err(classify)? {
                Some(chunk) => {
                    let room = MAX_BODY_BYTES - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                None => break,
            }
        }
        Ok(Answer {
            status,
            body,
            elapsed: started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_always_refused_private_only_on_request() {
        let open = OutboundPolicy::default();
        let closed = OutboundPolicy {
            block_private_networks: true,
        };
        for ip in ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(refusal(ip, open).is_some(), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "::1",
            "fc00::1",
            "100.64.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(refusal(ip, open).is_none(), "{ip}");
            assert!(refusal(ip, closed).is_some(), "{ip}");
        }
        assert!(refusal("8.8.8.8".parse().unwrap(), closed).is_none());
    }

    #[test]
    fn every_ipv6_form_of_a_refused_ipv4_address_is_refused() {
        let open = OutboundPolicy::default();
        let closed = OutboundPolicy {
            block_private_networks: true,
        };
        // 169.254.169.254 (metadata) and 10.0.0.1 (private) in every form.
        for ip in [
            "::ffff:169.254.169.254", // IPv4-mapped
            "::169.254.169.254",      // IPv4-compatible
            "::a9fe:a9fe",
            "64:ff9b::169.254.169.254", // NAT64, well-known prefix
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",                 // NAT64, local-use prefix
            "2002:a9fe:a9fe::1",                    // 6to4
            "2001:0:4136:e378:8000:63bf:5601:5601", // Teredo (client 169.254.169.254, inverted)
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(refusal(ip, open).is_some(), "{ip} open");
        }
        for ip in [
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:0a00:0001::1",
            "64:ff9b::7f00:1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(refusal(ip, open).is_none(), "{ip} open");
            assert!(refusal(ip, closed).is_some(), "{ip} closed");
        }
        // Public IPv4 behind those forms stays allowed.
        for ip in ["64:ff9b::8.8.8.8", "2002:0808:0808::1", "::ffff:8.8.8.8"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(refusal(ip, closed).is_none(), "{ip}");
        }
        // ::1 and :: are IPv6's own loopback and unspecified, not IPv4.
        assert!(refusal("::1".parse().unwrap(), open).is_none());
        assert!(refusal("::1".parse().unwrap(), closed).is_some());
        assert!(refusal("::".parse().unwrap(), closed).is_some());
    }

    #[tokio::test]
    async fn refused_addresses_are_never_contacted() {
        let out = Outbound::default();
        let err = out
            .send(Request {
                post: false,
                url: "http://169.254.169.254/latest/meta-data/",
                headers: vec![],
                body: None,
                timeout: Duration::from_secs(1),
                verify_tls: true,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, OutboundError::Refused(_)), "{err}");
    }
}
