//! Where webhooks may send (`docs/security.md`, "Webhooks"). A webhook URL is chosen by anyone
//! who may create webhooks, and the server then POSTs to it from inside the network: without a
//! limit that is a way to reach loopback services, the private network and cloud metadata
//! endpoints. So addresses that are not globally routable, and the metadata host names, are
//! refused unless the operator allows them (`serve --webhook-allow-hosts`): at creation for
//! literal addresses and names, and at every delivery for what the name resolves to then (a
//! name that resolved to a public address at creation can later resolve to an internal one).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use switchyard_engine::cidr::IpNet;

/// Host names of cloud metadata services and of the machine itself.
const BLOCKED_NAMES: &[&str] = &[
    "localhost",
    "metadata",
    "metadata.google.internal",
    "instance-data",
    "instance-data.ec2.internal",
];

/// What the operator allows beyond public addresses: host names (exact, case-insensitive),
/// addresses and networks in CIDR notation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookTargets {
    hosts: Vec<String>,
    networks: Vec<IpNet>,
}

impl WebhookTargets {
    /// Parses a comma-separated allowlist such as `127.0.0.1/8,::1,hooks.internal`.
    pub fn parse(list: &str) -> Result<WebhookTargets, String> {
        let mut targets = WebhookTargets::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Some(network) = IpNet::parse(entry) {
                targets.networks.push(network);
            } else if entry.contains('/') || entry.contains(':') {
                return Err(format!(
                    "{entry:?} is neither an address, a network nor a host name"
                ));
            } else {
                targets
                    .hosts
                    .push(entry.trim_end_matches('.').to_ascii_lowercase());
            }
        }
        Ok(targets)
    }

    /// Loopback only: what tests and single-machine demos need.
    pub fn loopback() -> WebhookTargets {
        WebhookTargets {
            hosts: vec!["localhost".to_owned()],
            networks: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| IpNet::parse(n))
                .collect(),
        }
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.networks.iter().any(|n| n.contains(ip))
    }

    fn allows_name(&self, host: &str) -> bool {
        self.hosts.iter().any(|allowed| allowed == host)
    }

    /// Whether a URL may be stored: `Err` says why not. Names are checked again at delivery.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        match self.host(url)? {
            Host::Ip(ip) if !self.allows_ip(ip) => Err(format!(
                "{ip} is an internal address; webhooks are refused there unless the server \
                 allows it (serve --webhook-allow-hosts)"
            )),
            Host::Name(name) if !self.allows_name(&name) && is_blocked_name(&name) => Err(format!(
                "{name} is an internal host; webhooks are refused there unless the server \
                     allows it (serve --webhook-allow-hosts)"
            )),
            _ => Ok(()),
        }
    }

    /// What a delivery to `url` must connect to: `Ok(None)` to let the client resolve (a
    /// literal address or an allowed name), `Ok(Some((name, address)))` to pin the checked
    /// address for the request, so the name cannot resolve elsewhere between check and
    /// connect.
    pub async fn resolve(&self, url: &str) -> Result<Option<(String, SocketAddr)>, Unsafe> {
        self.check_url(url).map_err(Unsafe::Refused)?;
        let Host::Name(name) = self.host(url).map_err(Unsafe::Refused)? else {
            return Ok(None);
        };
        if self.allows_name(&name) {
            return Ok(None);
        }
        let port = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.port_or_known_default())
            .unwrap_or(443);
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|e| Unsafe::Unresolved(format!("cannot resolve {name}: {e}")))?
            .collect();
        self.pick(name, &addresses)
            .map(Some)
            .map_err(Unsafe::Refused)
    }

    /// The address to connect to, when every address `name` resolved to is allowed.
    fn pick(&self, name: String, addresses: &[SocketAddr]) -> Result<(String, SocketAddr), String> {
        if let Some(internal) = addresses.iter().find(|a| !self.allows_ip(a.ip())) {
            return Err(format!(
                "{name} resolves to the internal address {}; refused",
                internal.ip()
            ));
        }
        match addresses.first() {
            Some(address) => Ok((name, *address)),
            None => Err(format!("{name} resolves to no address")),
        }
    }

    fn host(&self, url: &str) -> Result<Host, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        let host = parsed.host_str().ok_or("has no host")?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        Ok(match bare.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(host.trim_end_matches('.').to_ascii_lowercase()),
        })
    }
}

/// Why a delivery cannot go out now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsafe {
    /// The target is internal: no retry will change that soon.
    Refused(String),
    /// The name did not resolve (perhaps for now).
    Unresolved(String),
}

enum Host {
    Ip(IpAddr),
    Name(String),
}

fn is_blocked_name(name: &str) -> bool {
    BLOCKED_NAMES.contains(&name) || name.ends_with(".localhost")
}

/// Not a globally routable unicast address: loopback, private, link-local (cloud metadata
/// lives at 169.254.169.254), unspecified, shared (CGNAT), reserved, multicast, broadcast, and
/// the same inside IPv6 (IPv4-mapped addresses are judged as IPv4).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_internal_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(ip),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (18..20).contains(&b))
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || ip.to_ipv4().is_some_and(|v4| u128::from(ip) >> 32 == 0 && is_internal_v4(v4))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn internal_addresses_are_refused_by_default() {
        let targets = WebhookTargets::default();
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:9000/",
            "http://api.localhost/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.google.internal./",
        ] {
            assert!(targets.check_url(url).is_err(), "{url} was allowed");
        }
        for url in [
            "https://hooks.example.com/x",
            "http://93.184.216.34/",
            "http://[2606:4700::1111]/",
        ] {
            assert_eq!(targets.check_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn the_allowlist_admits_networks_and_names() {
        let targets = WebhookTargets::parse("127.0.0.0/8, ::1, localhost, 10.0.0.0/8").unwrap();
        assert_eq!(targets.check_url("http://127.0.0.1:1/"), Ok(()));
        assert_eq!(targets.check_url("http://[::1]:1/"), Ok(()));
        assert_eq!(targets.check_url("http://localhost:1/"), Ok(()));
        assert_eq!(targets.check_url("http://10.9.9.9/"), Ok(()));
        assert!(targets.check_url("http://169.254.169.254/").is_err());
        assert!(targets.check_url("http://192.168.0.1/").is_err());
        assert!(WebhookTargets::parse("10.0.0.0/99").is_err());
        assert_eq!(WebhookTargets::loopback(), {
            let mut expected = WebhookTargets::parse("127.0.0.0/8,::1/128").unwrap();
            expected.hosts.push("localhost".into());
            expected
        });
    }

    #[tokio::test]
    async fn delivery_resolves_names_and_refuses_internal_answers() {
        let targets = WebhookTargets::default();
        // `localhost` is refused by name; a name resolving to loopback is refused by address.
        assert!(targets.resolve("http://localhost/").await.is_err());
        let allowed = WebhookTargets::parse("localhost").unwrap();
        assert_eq!(allowed.resolve("http://localhost:1/").await, Ok(None));
        // A literal public address needs no resolution.
        assert_eq!(targets.resolve("http://93.184.216.34/").await, Ok(None));
    }

    #[test]
    fn a_name_resolving_to_an_internal_address_is_refused() {
        let targets = WebhookTargets::default();
        let public: SocketAddr = "93.184.216.34:443".parse().unwrap();
        let metadata: SocketAddr = "169.254.169.254:80".parse().unwrap();
        assert_eq!(
            targets.pick("hooks.example.com".into(), &[public]),
            Ok(("hooks.example.com".to_owned(), public))
        );
        // One internal answer is enough: the client could connect to any of them.
        assert!(
            targets
                .pick("rebind.example.com".into(), &[public, metadata])
                .is_err()
        );
        assert!(targets.pick("nothing.example.com".into(), &[]).is_err());
    }
}
