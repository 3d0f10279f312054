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
