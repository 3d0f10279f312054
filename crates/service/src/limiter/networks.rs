//! Whom a per-address budget counts: an IPv4 client by its address, an
//! IPv6 client by its network. One subscriber is usually given a whole /64
//! (2^64 addresses), so counting IPv6 addresses one by one would hand an
//! attacker as many budgets as they care to use.

use std::net::{IpAddr, Ipv6Addr};

/// The prefix length IPv6 clients are grouped by unless configured.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// How client addresses are grouped into budgets (`RATE_LIMIT_IPV6_PREFIX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientNetworks {
    ipv6_prefix: u8,
}

impl Default for ClientNetworks {
    fn default() -> Self {
        Self {
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
        }
    }
}

impl ClientNetworks {
    /// IPv6 clients grouped by networks of `ipv6_prefix` bits.
    ///
    /// # Errors
    /// When `ipv6_prefix` is 0 (every client one budget) or above 128.
    pub fn new(ipv6_prefix: u8) -> Result<Self, String> {
        if (1..=128).contains(&ipv6_prefix) {
            Ok(Self { ipv6_prefix })
        } else {
            Err(format!(
                "an IPv6 prefix length must be from 1 to 128, not {ipv6_prefix}"
            ))
        }
    }

    /// The prefix length IPv6 clients are grouped by.
    pub fn ipv6_prefix(self) -> u8 {
        self.ipv6_prefix
    }

    /// The address a client's budget is kept under: an IPv4 address (also
    /// one written IPv4-mapped, `::ffff:a.b.c.d`, as a dual-stack listener
    /// reports it) as it is, an IPv6 address with its host bits cleared.
    pub fn budget_key(self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.ipv6_prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(networks: ClientNetworks, ip: &str) -> String {
        networks.budget_key(ip.parse().unwrap()).to_string()
    }

    #[test]
    fn ipv6_counts_by_network_and_ipv4_by_address() {
        let n = ClientNetworks::default();
        assert_eq!(key(n, "2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key(n, "2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_ne!(key(n, "2001:db8:1:3::1"), "2001:db8:1:2::");
        assert_eq!(key(n, "203.0.113.7"), "203.0.113.7");
        assert_eq!(key(n, "::ffff:203.0.113.7"), "203.0.113.7");
        let wide = ClientNetworks::new(48).unwrap();
        assert_eq!(key(wide, "2001:db8:1:2::1"), "2001:db8:1::");
        let exact = ClientNetworks::new(128).unwrap();
        assert_eq!(key(exact, "2001:db8::1"), "2001:db8::1");
        assert!(ClientNetworks::new(0).is_err());
        assert!(ClientNetworks::new(129).is_err());
    }
}
