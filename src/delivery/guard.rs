//! The outbound network guard: destinations must resolve to global addresses unless an admin
//! allow-listed the network (`delivery.allowed_networks`). The check runs on the addresses DNS
//! returned, inside the resolver the HTTP client connects with, so a name that resolves to a
//! public address when checked and a private one when used (DNS rebinding) cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Refused: every address of the destination is outside the permitted networks.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to non-public addresses ({addresses}); allow them in delivery.allowed_networks")]
pub struct ForbiddenAddress {
    pub host: String,
    pub addresses: String,
}

#[derive(Debug, Clone, Default)]
pub struct NetworkGuard {
    allowed: Arc<Vec<IpNet>>,
}

impl NetworkGuard {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        NetworkGuard {
            allowed: Arc::new(allowed),
        }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        is_global(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Checks a destination given as an IP literal (those skip DNS).
    pub fn check_literal(&self, host: &str, ip: IpAddr) -> Result<(), ForbiddenAddress> {
        if self.permits(ip) {
            Ok(())
        } else {
            Err(ForbiddenAddress {
                host: host.to_owned(),
                addresses: ip.to_string(),
            })
        }
    }
}

impl Resolve for NetworkGuard {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = resolved.iter().copied().filter(|a| guard.permits(a.ip())).collect();
            if permitted.is_empty() {
                let addresses = resolved
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Box::new(ForbiddenAddress { host, addresses }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// Whether an address is reachable on the public internet: not loopback, private, shared
/// (CGNAT), link-local, multicast, documentation, benchmarking, reserved or unspecified.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_global_v4(v4),
            None => is_global_v6(v6),
        },
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)) // NAT64: could reach private IPv4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_global_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_global(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_global(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn allow_listed_networks_are_permitted() {
        let guard = NetworkGuard::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(guard.permits("127.0.0.1".parse().unwrap()));
        assert!(!guard.permits("10.0.0.1".parse().unwrap()));
        assert!(guard.check_literal("10.0.0.1", "10.0.0.1".parse().unwrap()).is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_privately() {
        let guard = NetworkGuard::default();
        let err = guard
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost is refused");
        assert!(err.to_string().contains("non-public"), "{err}");
        let allowed = NetworkGuard::new(vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        let addrs: Vec<SocketAddr> = allowed.resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(!addrs.is_empty());
    }
}
