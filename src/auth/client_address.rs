//! The address a request comes from, for login throttling. It is the TCP peer, unless
//! the peer is one of `RELEVO_TRUSTED_PROXIES`: then `X-Forwarded-For` is read from the
//! right, skipping trusted proxies, and the first other address is the client. A
//! client cannot choose its address by sending the header itself. The extractor that
//! reads a request is in [`super::extractors`].
//!
//! Limits count a client's network, not its address: an IPv4 address is one network, an
//! IPv6 address stands for its /64, which one machine usually holds whole (2^64 addresses).

use std::net::IpAddr;

use ipnet::IpNet;

/// The prefix length that groups IPv6 addresses into one client for every limit.
pub const IPV6_GROUP_PREFIX: u8 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The network limits count this client in: the IPv4 address itself (`/32`), or the
    /// IPv6 address's `/64`.
    pub fn network(&self) -> IpNet {
        let prefix = match self.0 {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => IPV6_GROUP_PREFIX,
        };
        IpNet::new(self.0, prefix)
            .map(|net| net.trunc())
            .unwrap_or_else(|_| IpNet::from(self.0))
    }
}

/// The client behind `peer`: `peer` itself, unless it is a trusted proxy (see the module).
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = canonical(peer);
    if !is_trusted(&client) {
        return client;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|value| value.split(',')).collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // Garbage in the chain: the last address a trusted proxy vouched for stands.
            break;
        };
        client = canonical(ip);
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// `::ffff:10.0.0.1` and `10.0.0.1` are one client.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn limits_count_an_ipv4_address_or_an_ipv6_64() {
        for (address, network) in [
            ("203.0.113.9", "203.0.113.9/32"),
            ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
            ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
            ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
            ("::1", "::/64"),
        ] {
            assert_eq!(
                ClientAddress(ip(address)).network().to_string(),
                network,
                "{address}"
            );
        }
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxies: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.1/32".parse().unwrap(),
        ];
        let cases: &[(&str, &[&str], &[IpNet], &str)] = &[
            // No trusted proxy configured: the header is the client's own words.
            ("203.0.113.9", &["198.51.100.1"], &[], "203.0.113.9"),
            // An untrusted peer cannot name another address.
            ("203.0.113.9", &["198.51.100.1"], &proxies, "203.0.113.9"),
            // Behind a trusted proxy: the right-most address it did not add itself.
            ("10.0.0.7", &["198.51.100.1"], &proxies, "198.51.100.1"),
            (
                "10.0.0.7",
                &["6.6.6.6, 198.51.100.1, 10.0.0.3"],
                &proxies,
                "198.51.100.1",
            ),
            (
                "10.0.0.7",
                &["6.6.6.6", "198.51.100.1"],
                &proxies,
                "198.51.100.1",
            ),
            // Garbage stops the walk at the last address a proxy vouched for.
            (
                "10.0.0.7",
                &["198.51.100.1, nonsense"],
                &proxies,
                "10.0.0.7",
            ),
            ("10.0.0.7", &[], &proxies, "10.0.0.7"),
            ("::ffff:203.0.113.9", &[], &[], "203.0.113.9"),
        ];
        for (peer, headers, trusted, expected) in cases {
            assert_eq!(
                client_address(ip(peer), headers.iter().copied(), trusted),
                ip(expected),
                "{peer} {headers:?}"
            );
        }
    }
}
