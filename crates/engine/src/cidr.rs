//! IP networks for the CIDR operators and Unleash's `remoteAddress` strategy: parsed once when a flag is
//! compiled, matched as masked integers. Parsing and matching never allocate (`std`'s address parsers
//! do not either).
//!
//! # Accepted syntax (the `ipnetwork` crate 0.21, which Unleash's yggdrasil uses)
//!
//! * `a.b.c.d/n` with `n` in 0..=32, `x:y::z/n` with `n` in 0..=128, or a bare address (= `/32`,
//!   `/128`). Addresses are whatever `std::net::Ipv4Addr`/`Ipv6Addr` parse: no leading zeros in IPv4
//!   octets, no IPv6 zone (`%eth0`), no brackets.
//! * The prefix length is read like `u8::from_str`: decimal digits, leading zeros allowed (`/024`), an
//!   optional leading `+`; an empty prefix, a second `/`, or a length above the family's bits are
//!   invalid.
//! * For IPv4 the part after `/` may also be a dotted netmask (`10.0.0.0/255.0.0.0`); it must be
//!   contiguous ones then zeros.
//! * Host bits may be set (`192.168.1.7/24` is the network `192.168.1.0/24`).
//! * No whitespace anywhere: `" 10.0.0.1"` is invalid here. Unleash's `remoteAddress` strategy splits
//!   its `IPs` parameter on `,` and trims each entry before parsing; `IN_CIDR` values are not trimmed.
//!   Invalid entries are skipped, the valid ones still match (spec 06 `Feature.remoteAddress.C`,
//!   spec 22 `CIDR.mixed.values`, `CIDR.ipv6.mixed.values`), and a list with only invalid entries
//!   matches nothing (`CIDR.invalid.only`). A missing or unparsable context address never matches.
//!
//! # Families
//!
//! [`IpNet::contains`] lets an IPv4 network match an IPv4-mapped IPv6 address (`::ffff:10.1.2.3` is in
//! `10.0.0.0/8`), which is what a dual-stack socket reports for IPv4 clients. An IPv6 network does not
//! match plain IPv4 addresses. Unleash (`ipnetwork::IpNetwork::contains`) never matches across
//! families; [`IpNet::contains_same_family`] is that behaviour.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 or IPv6 network: the address with its host bits cleared, and the mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    net: Net,
    prefix: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Net {
    V4 { addr: u32, mask: u32 },
    V6 { addr: u128, mask: u128 },
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl IpNet {
    /// Parses `a.b.c.d/n`, an IPv6 `addr/n`, an IPv4 `addr/netmask`, or a bare address (see the
    /// module docs). `None` when invalid.
    pub fn parse(s: &str) -> Option<IpNet> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        if let Ok(a) = addr.parse::<Ipv4Addr>() {
            let prefix = match prefix {
                None => 32,
                Some(p) => match p.parse::<Ipv4Addr>() {
                    Ok(netmask) => netmask_prefix(u32::from(netmask))?,
                    Err(_) => p.parse::<u8>().ok().filter(|&n| n <= 32)?,
                },
            };
            return Some(IpNet::v4(a, prefix));
        }
        let a = addr.parse::<Ipv6Addr>().ok()?;
        let prefix = match prefix {
            None => 128,
            Some(p) => p.parse::<u8>().ok().filter(|&n| n <= 128)?,
        };
        Some(IpNet::v6(a, prefix))
    }

    fn v4(a: Ipv4Addr, prefix: u8) -> IpNet {
        let mask = mask_v4(prefix);
        IpNet {
            net: Net::V4 {
                addr: u32::from(a) & mask,
                mask,
            },
            prefix,
        }
    }

    fn v6(a: Ipv6Addr, prefix: u8) -> IpNet {
        let mask = mask_v6(prefix);
        IpNet {
            net: Net::V6 {
                addr: u128::from(a) & mask,
                mask,
            },
            prefix,
        }
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        match self.net {
            Net::V4 { addr, .. } => IpAddr::V4(Ipv4Addr::from(addr)),
            Net::V6 { addr, .. } => IpAddr::V6(Ipv6Addr::from(addr)),
        }
    }

    /// The prefix length (0..=32 or 0..=128).
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in this network; an IPv4 network also matches IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (Net::V4 { addr, mask }, IpAddr::V4(ip)) => u32::from(ip) & mask == addr,
            (Net::V4 { addr, mask }, IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
                Some(ip) => u32::from(ip) & mask == addr,
                None => false,
            },
            (Net::V6 { addr, mask }, IpAddr::V6(ip)) => u128::from(ip) & mask == addr,
            (Net::V6 { .. }, IpAddr::V4(_)) => false,
        }
    }

    /// Whether `ip` is in this network, never across families (Unleash/`ipnetwork` behaviour).
    pub fn contains_same_family(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (Net::V4 { addr, mask }, IpAddr::V4(ip)) => u32::from(ip) & mask == addr,
            (Net::V6 { addr, mask }, IpAddr::V6(ip)) => u128::from(ip) & mask == addr,
            _ => false,
        }
    }
}

/// The prefix length of a contiguous IPv4 netmask, `None` when it has holes.
fn netmask_prefix(mask: u32) -> Option<u8> {
    let prefix = mask.leading_ones() as u8;
    (mask_v4(prefix) == mask).then_some(prefix)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        IpNet::parse(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Any of the valid entries contains `addr` (how a list of values is matched).
    fn any(list: &[&str], addr: &str) -> bool {
        list.iter()
            .filter_map(|s| IpNet::parse(s))
            .any(|n| n.contains(ip(addr)))
    }

    #[test]
    fn unleash_specification_22() {
        // shared/conformance/unleash-client-specification/22-constraint-cidr-operators.json
        assert!(any(&["127.0.0.1"], "127.0.0.1"));
        assert!(!any(&["127.0.0.1"], "127.0.0.2"));
        assert!(any(&["160.33.0.0/16"], "160.33.0.33"));
        assert!(!any(&["160.33.0.0/16"], "160.34.0.1"));
        assert!(any(&["127.invalid", "192.168.1.0/24"], "192.168.1.42"));
        assert!(!any(&["127.invalid"], "127.0.0.1"));
        assert!(any(&["2001:db8::1"], "2001:db8::1"));
        assert!(!any(&["2001:db8::1"], "2001:db8::2"));
        assert!(any(&["2001:db8::/32"], "2001:db8:0:1::42"));
        assert!(!any(&["2001:db8::/32"], "2001:db9::1"));
        assert!(any(&["bad::cidr", "2001:db8::/32"], "2001:db8::abcd"));
        assert!(IpNet::parse("127.invalid").is_none());
        assert!(IpNet::parse("bad::cidr").is_none());
    }

    #[test]
    fn unleash_specification_06_remote_address() {
        // shared/conformance/unleash-client-specification/06-remote-address-strategy.json: the IPs
        // parameter is split on ',' and each entry trimmed.
        let ips = "192.168.0.1, 192.invalid, 192.168.0.2, 192.168.0.3";
        let list: Vec<&str> = ips.split(',').map(str::trim).collect();
        assert!(any(&list, "192.168.0.3"));
        assert!(any(&list, "192.168.0.1"));
        assert!(!any(&list, "217.100.10.11"));
        assert!(IpNet::parse(" 192.168.0.2").is_none());
    }

    #[test]
    fn yggdrasil_remote_address_cases() {
        // Unleash yggdrasil strategy_parsing.rs remote_address_constraint_respects_subnets_and_ipv6.
        let l = ["127.0.0.1", "10.0.0.1", "196.0.0.1", "192.168.0.0/16"];
        assert!(any(&l, "192.168.42.23"));
        assert!(!any(&["192.168.0.0/16"], "127.0.0.1"));
        let l6 = [
            "::1",
            "2001:DB8:0:0:0:0:0:1",
            "2001:DB8::1",
            "2001:DB8::/48",
        ];
        assert!(any(&l6, "::1"));
        assert!(any(&l6, "2001:DB8:0:0:0:0:0:1"));
        assert!(!any(&["2001:DB8::/48"], "::1"));
        assert!(any(&["::1", "127.0.0.1"], "::1"));
        assert!(any(&["::1", "127.0.0.1", "complete-nonsense"], "127.0.0.1"));
    }

    #[test]
    fn prefixes() {
        assert_eq!(net("10.0.0.0/8").prefix_len(), 8);
        assert_eq!(net("10.1.2.3").prefix_len(), 32);
        assert_eq!(net("::1").prefix_len(), 128);
        assert_eq!(net("10.1.2.3/8").network(), ip("10.0.0.0"));
        assert_eq!(net("2001:db8::1/32").network(), ip("2001:db8::"));
        assert_eq!(net("10.0.0.0/024").prefix_len(), 24);
        assert_eq!(net("10.0.0.0/+8").prefix_len(), 8);
        assert_eq!(net("10.0.0.0/255.255.0.0").prefix_len(), 16);
        assert_eq!(net("10.0.0.0/0.0.0.0").prefix_len(), 0);
        assert_eq!(net("10.0.0.0/255.255.255.255").prefix_len(), 32);
        for s in [
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "10.0.0.0/ 8",
            "10.0.0.0/8 ",
            "10.0.0.0 /8",
            "10.0.0.0/255.0.255.0",
            "10.0.0.0/256",
            "::/129",
            "::/255.0.0.0",
            "010.0.0.1",
            "10.0.0",
            "10.0.0.256",
            "fe80::1%eth0",
            "[::1]",
            "[::1]/64",
        ] {
            assert!(IpNet::parse(s).is_none(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn contains_edges() {
        let all4 = net("0.0.0.0/0");
        assert!(all4.contains(ip("255.255.255.255")));
        assert!(all4.contains(ip("0.0.0.0")));
        assert!(!all4.contains(ip("::1")));
        let all6 = net("::/0");
        assert!(all6.contains(ip("ffff::1")));
        assert!(!all6.contains(ip("1.2.3.4")));
        let n = net("10.0.0.0/8");
        assert!(n.contains(ip("10.255.255.255")));
        assert!(!n.contains(ip("11.0.0.0")));
        assert!(!n.contains(ip("9.255.255.255")));
        let n = net("2001:db8::/127");
        assert!(n.contains(ip("2001:db8::1")));
        assert!(!n.contains(ip("2001:db8::2")));
    }

    #[test]
    fn ipv4_mapped() {
        let n = net("10.0.0.0/8");
        assert!(n.contains(ip("::ffff:10.1.2.3")));
        assert!(!n.contains(ip("::ffff:11.1.2.3")));
        assert!(!n.contains_same_family(ip("::ffff:10.1.2.3")));
        assert!(n.contains_same_family(ip("10.1.2.3")));
        // IPv4-compatible (deprecated ::a.b.c.d) addresses are not mapped.
        assert!(!n.contains(ip("::10.1.2.3")));
        assert!(net("::ffff:0:0/96").contains(ip("::ffff:1.2.3.4")));
        assert!(!net("::ffff:0:0/96").contains(ip("1.2.3.4")));
    }
}
