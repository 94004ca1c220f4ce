//! The outbound network guard: destinations must resolve to global addresses unless an admin
//! allow-listed the network (`delivery.allowed_networks`). The check runs on the addresses DNS
//! returned, inside the resolver the HTTP client connects with, so a name that resolves to a
//! public address when checked and a private one when used (DNS rebinding) cannot slip through.
//! An IPv6 address that carries an IPv4 one (mapped, 6to4, NAT64, …) is judged by both, so
//! `[::127.0.0.1]` or `[2002:7f00:1::]` is no way around the check.

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
/// (CGNAT), link-local, multicast, documentation, benchmarking, reserved or unspecified — nor
/// an IPv6 address that carries such an IPv4 address (see [`embedded_ipv4`]).
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6) && embedded_ipv4(v6).is_none_or(is_global_v4),
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
    let [first, second, ..] = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && second == 0x0db8) // documentation
        // Teredo (2001::/32): relayed over UDP to the server's and the client's IPv4 address
        // (the last 32 bits, inverted). Refused whole rather than decoded: no webhook receiver
        // lives behind Teredo, whose public servers are gone.
        || (first == 0x2001 && second == 0)
        // NAT64 outside the well-known 64:ff9b::/96 (whose IPv4 address is checked like the
        // other embedded forms): the local-use 64:ff9b:1::/48 puts it wherever its operator
        // chose (RFC 6052 allows six prefix lengths), so it cannot be read back; the rest of
        // 64:ff9b::/32 is unassigned.
        || (first == 0x0064 && second == 0xff9b && !is_nat64_well_known(ip)))
}

fn is_nat64_well_known(ip: Ipv6Addr) -> bool {
    matches!(ip.segments(), [0x0064, 0xff9b, 0, 0, 0, 0, _, _])
}

/// The IPv4 address an IPv6 address stands for, or that a transition mechanism would carry
/// its packets to: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`, deprecated), NAT64's well-known prefix
/// (`64:ff9b::a.b.c.d`), 6to4 (`2002:AABB:CCDD::/48`) and ISATAP (interface ID
/// `0:5efe:a.b.c.d`, or `200:5efe:a.b.c.d`, under any /64).
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let octets = ip.octets();
    let last = Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]);
    match ip.segments() {
        [0, 0, 0, 0, 0, 0xffff | 0, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(last),
        [0x2002, ..] => Some(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5])),
        _ if is_nat64_well_known(ip) => Some(last),
        // ISATAP: the u and g bits of the interface ID may be set.
        [_, _, _, _, id, 0x5efe, _, _] if id & 0xfcff == 0 => Some(last),
        _ => None,
    }
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

    /// Every IPv6 spelling that carries an IPv4 address: mapped, IPv4-translated (SIIT),
    /// IPv4-compatible, NAT64's well-known prefix, 6to4 and ISATAP (both interface IDs).
    fn spellings(v4: Ipv4Addr) -> Vec<String> {
        let [a, b, c, d] = v4.octets();
        let (high, low) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
        vec![
            format!("::ffff:{v4}"),
            format!("::ffff:0:{v4}"),
            format!("::{v4}"),
            format!("64:ff9b::{v4}"),
            format!("2002:{high:x}:{low:x}::"),
            format!("2002:{high:x}:{low:x}:1::1"),
            format!("2606:4700:1::5efe:{v4}"),
            format!("2606:4700:1::200:5efe:{v4}"),
        ]
    }

    #[test]
    fn ipv6_spellings_of_non_global_ipv4_addresses_are_refused() {
        for v4 in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
        ] {
            for ip in spellings(v4.parse().unwrap()) {
                assert!(!is_global(ip.parse().unwrap()), "{ip} (embeds {v4})");
            }
        }
        // As the probe spelled them.
        for ip in [
            "::127.0.0.1",
            "2002:7f00:1::",
            "2002:a00:1::",
            "2002:c0a8:101::",
            "2002:a9fe:a9fe::",
        ] {
            assert!(!is_global(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ipv6_spellings_of_global_ipv4_addresses_pass() {
        for v4 in ["8.8.8.8", "1.1.1.1"] {
            for ip in spellings(v4.parse().unwrap()) {
                assert!(is_global(ip.parse().unwrap()), "{ip} (embeds {v4})");
            }
        }
    }

    #[test]
    fn teredo_and_local_use_nat64_are_refused_whatever_they_embed() {
        for ip in [
            // RFC 4380's example: server 65.54.227.120, client 192.0.2.45 (obfuscated).
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            // Client 8.8.8.8 (f7f7:f7f7 is 8.8.8.8 XOR 0xffffffff) and 127.0.0.1.
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "64:ff9b:1::808:808",
            "64:ff9b:1:7f00:0:100::",
        ] {
            assert!(!is_global(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn allow_listed_networks_are_permitted() {
        let guard = NetworkGuard::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(guard.permits("127.0.0.1".parse().unwrap()));
        assert!(!guard.permits("10.0.0.1".parse().unwrap()));
        assert!(guard.check_literal("10.0.0.1", "10.0.0.1".parse().unwrap()).is_err());
        // An entry matches the address connected to, not an IPv4 address it embeds.
        assert!(!guard.permits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!guard.permits("2002:7f00:1::".parse().unwrap()));
        let six_to_four = NetworkGuard::new(vec!["2002:7f00::/24".parse().unwrap()]);
        assert!(six_to_four.permits("2002:7f00:1::".parse().unwrap()));
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
