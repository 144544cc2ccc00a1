//! Where the server may connect for what an app's admins configure (log drains, alert
//! webhooks): public addresses only, unless the operator allows private ones
//! (`--allow-private-targets`), as GitLab refuses webhooks to the local network by default.
//! Otherwise anyone who may add a drain could have the server probe its own network (its API,
//! registry and add-ons on loopback, a cloud's metadata service) and read the answers in the
//! drain's status. Addresses are checked at every connection, as DNS gives them then: a name
//! that resolves to 127.0.0.1 later is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The addresses drains and webhooks may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Targets {
    /// Public addresses only (the default).
    Public,
    /// Any address, loopback and private ones included (`--allow-private-targets`).
    Any,
}

impl Targets {
    pub fn allows(self, ip: IpAddr) -> bool {
        self == Self::Any || is_public(ip)
    }

    /// Why a URL's `host` is refused before any lookup: an address literal that is not public,
    /// or a `localhost` name (RFC 6761 §6.3: always loopback). `None` when it may be tried;
    /// a name's addresses are checked when it is resolved ([`Self::resolve`]).
    pub fn refusal(self, host: &str) -> Option<String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let literal = bare
            .parse::<IpAddr>()
            .ok()
            .or_else(|| inet_aton(bare).map(IpAddr::V4));
        let local = match literal {
            Some(ip) => !self.allows(ip),
            None => {
                let name = bare.trim_end_matches('.').to_ascii_lowercase();
                self == Self::Public && (name == "localhost" || name.ends_with(".localhost"))
            }
        };
        local.then(|| refused(host))
    }

    /// [`Self::refusal`] of the host of `url` (an `http(s)` URL), if it parses.
    pub fn url_refusal(self, url: &str) -> Option<String> {
        reqwest::Url::parse(url)
            .ok()
            .and_then(|url| self.refusal(url.host_str()?))
    }

    /// The addresses of `host` that may be reached, on `port`; an error when there are none
    /// (the lookup failed, or every address it gave is refused).
    pub async fn resolve(self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        if let Some(why) = self.refusal(host) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                why,
            ));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let found: Vec<SocketAddr> = tokio::net::lookup_host((bare, port)).await?.collect();
        self.allowed_of(host, &found)
    }

    /// The addresses `host` resolved to (`found`) that may be reached; an error when none.
    fn allowed_of(self, host: &str, found: &[SocketAddr]) -> std::io::Result<Vec<SocketAddr>> {
        let allowed: Vec<SocketAddr> = found
            .iter()
            .copied()
            .filter(|a| self.allows(a.ip()))
            .collect();
        if allowed.is_empty() {
            let first = found
                .first()
                .map_or_else(String::new, |a| a.ip().to_string());
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                refused(&format!("{host} ({first})")),
            ));
        }
        Ok(allowed)
    }

    /// A resolver for reqwest that gives only the addresses [`Self::resolve`] allows. reqwest
    /// does not resolve address literals: check those with [`Self::refusal`].
    pub fn resolver(self) -> Arc<dyn reqwest::dns::Resolve> {
        Arc::new(Resolver(self))
    }
}

/// `host` as an IPv4 address in any form inet_aton(3) takes: `2130706433`, `127.1`, `0x7f.1`,
/// `0177.0.0.1` (one to four parts, each decimal, octal after a `0` or hex after `0x`; the last
/// fills the bytes left). The resolver a connection goes through (glibc's getaddrinfo) reads
/// such hosts as addresses, while std parses only the dotted quad; the form is short and no
/// crate offers it, so it is written here.
pub fn inet_aton(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        let (digits, radix) = match part.strip_prefix("0x").or(part.strip_prefix("0X")) {
            Some(hex) => (hex, 16),
            None if part.len() > 1 && part.starts_with('0') => (&part[1..], 8),
            None => (*part, 10),
        };
        if (digits.is_empty() && radix != 16) || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        values.push(if digits.is_empty() {
            0
        } else {
            u32::from_str_radix(digits, radix).ok()?
        });
    }
    let (last, bytes) = values.split_last()?;
    let last_bits = 32 - 8 * bytes.len() as u32;
    if bytes.iter().any(|b| *b > 255) || (last_bits < 32 && *last >= 1 << last_bits) {
        return None;
    }
    let high = bytes
        .iter()
        .enumerate()
        .fold(0u32, |address, (i, b)| address | b << (24 - 8 * i as u32));
    Some(Ipv4Addr::from(high | last))
}

fn refused(host: &str) -> String {
    format!(
        "{host} is not a public address: this server sends log drains and alert webhooks to \
         public addresses only (its operator may allow others with --allow-private-targets)"
    )
}

struct Resolver(Targets);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let targets = self.0;
        Box::pin(async move {
            let addrs = targets.resolve(name.as_str(), 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `ip` is reachable on the public internet: not loopback, private (RFC 1918, RFC 4193),
/// link-local (cloud metadata services live there), shared (RFC 6598), documentation,
/// benchmarking, reserved, multicast or unspecified; an IPv6 address that carries an IPv4 one
/// (IPv4-mapped or -compatible `::a.b.c.d`, 6to4 `2002:aabb:ccdd::`) as that IPv4 address;
/// Teredo and NAT64 prefixes never.
/// (`Ipv4Addr::is_global` is not stable.)
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match (v6.to_ipv4(), v6.segments()) {
            (Some(v4), _) => is_public_v4(v4),
            (None, [0x2002, high, low, ..]) => {
                let [a, b] = high.to_be_bytes();
                let [c, d] = low.to_be_bytes();
                is_public_v4(Ipv4Addr::new(a, b, c, d))
            }
            (None, _) => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && matches!(ip.segments()[1], 0x0db8 | 0x0000))
        || (first == 0x0064 && ip.segments()[1] == 0xff9b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_hosts_read_as_inet_aton_reads_them() {
        for (host, ip) in [
            ("2130706433", Some("127.0.0.1")),
            ("127.1", Some("127.0.0.1")),
            ("127.0.1", Some("127.0.0.1")),
            ("0x7f.1", Some("127.0.0.1")),
            ("0177.0.0.1", Some("127.0.0.1")),
            ("0X7F000001", Some("127.0.0.1")),
            ("10.0.65535", Some("10.0.255.255")),
            ("8.8.8.8", Some("8.8.8.8")),
            ("0", Some("0.0.0.0")),
            ("4294967296", None),
            ("256.1", None),
            ("10.0.65536", None),
            ("1.2.3.4.5", None),
            ("09.1.1.1", None),
            ("+1", None),
            ("1..2", None),
            ("", None),
            ("example.com", None),
            ("1e100.net", None),
            ("deadbeef", None),
        ] {
            assert_eq!(
                inet_aton(host),
                ip.map(|ip| ip.parse().expect("ip")),
                "{host}"
            );
        }
        assert!(Targets::Public.refusal("127.1").is_some());
        assert!(Targets::Public.refusal("2130706433").is_some());
        assert!(Targets::Public.refusal("134744072").is_none(), "8.8.8.8");
        assert!(Targets::Any.refusal("127.1").is_none());
    }

    #[test]
    fn only_public_addresses_unless_allowed() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.2.2",
            "198.18.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2001:0:4136:e378::1",
            "64:ff9b::7f00:1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = ip.parse().expect("an address");
            assert!(!Targets::Public.allows(ip), "{ip}");
            assert!(Targets::Any.allows(ip), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "2002:5db8:d822::1",
        ] {
            assert!(
                Targets::Public.allows(ip.parse().expect("an address")),
                "{ip}"
            );
        }
    }

    #[tokio::test]
    async fn literals_and_localhost_names_are_refused_before_any_lookup() {
        for host in [
            "127.0.0.1",
            "[::1]",
            "localhost",
            "LOCALHOST.",
            "api.localhost",
        ] {
            let why = Targets::Public.refusal(host).expect(host);
            assert!(why.contains("is not a public address"), "{why}");
            assert!(Targets::Any.refusal(host).is_none(), "{host}");
        }
        assert!(Targets::Public.refusal("logs.example.com").is_none());
        assert!(Targets::Public.refusal("1.1.1.1").is_none());
        let e = Targets::Public
            .resolve("localhost", 514)
            .await
            .expect_err("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(
            !Targets::Any
                .resolve("localhost", 514)
                .await
                .expect("resolves")
                .is_empty()
        );
    }

    #[test]
    fn a_name_is_checked_on_what_it_resolves_to() {
        let addr = |a: &str| a.parse::<SocketAddr>().expect("an address");
        let rebound = [addr("127.0.0.1:443"), addr("[fd00::1]:443")];
        let e = Targets::Public
            .allowed_of("logs.example.com", &rebound)
            .expect_err("refused");
        assert!(
            e.to_string()
                .starts_with("logs.example.com (127.0.0.1) is not a public address"),
            "{e}"
        );
        let mixed = [addr("10.0.0.1:443"), addr("93.184.216.34:443")];
        assert_eq!(
            Targets::Public.allowed_of("x", &mixed).expect("one public"),
            [addr("93.184.216.34:443")]
        );
        assert_eq!(
            Targets::Any.allowed_of("x", &rebound).expect("any").len(),
            2
        );
    }
}
