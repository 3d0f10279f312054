//! Who is on the other end: the client's address (behind trusted proxies
//! only) and user agent, for audit entries and rate limits.

use actix_web::HttpRequest;
use actix_web::http::header;
use std::net::{IpAddr, Ipv4Addr};

/// The client's address. `X-Forwarded-For` is believed only when the peer is
/// one of `trusted_proxies`; then the right-most address that is not itself a
/// trusted proxy is the client (anything left of it could be forged).
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted_proxies.contains(ip))
        .copied()
        .unwrap_or(peer)
}

/// The `User-Agent` header, if it is text.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        if let Some(xff) = forwarded {
            req = req.insert_header(("x-forwarded-for", xff));
        }
        req.to_http_request()
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let req = request("198.51.100.7", Some("203.0.113.1"));
        assert_eq!(client_ip(&req, &[]).to_string(), "198.51.100.7");
        let other: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!(client_ip(&req, &[other]).to_string(), "198.51.100.7");
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let inner: IpAddr = "10.0.0.2".parse().unwrap();
        // The left-most entry is whatever the client claimed: not believed.
        let req = request("10.0.0.1", Some("1.2.3.4, 203.0.113.5, 10.0.0.2"));
        assert_eq!(client_ip(&req, &[proxy, inner]).to_string(), "203.0.113.5");
        // Only proxies in the chain, or garbage: fall back to the peer.
        let req = request("10.0.0.1", Some("10.0.0.2, not-an-ip"));
        assert_eq!(client_ip(&req, &[proxy, inner]).to_string(), "10.0.0.1");
        let req = request("10.0.0.1", None);
        assert_eq!(client_ip(&req, &[proxy]).to_string(), "10.0.0.1");
    }
}
