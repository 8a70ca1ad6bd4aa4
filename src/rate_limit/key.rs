//! Client keys: which requests share one set of rate-limit counters.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::ConfigError;

/// The IPv6 prefix length by which clients are grouped.
///
/// One host is usually assigned a whole /64 and can pick any address inside it, so keying by the
/// full IPv6 address would give it 2^64 fresh quotas. The default, [`Ipv6Prefix::DEFAULT`],
/// groups by /64; [`Ipv6Prefix::EXACT`] (/128) keys by the full address. Shorter prefixes such
/// as /56 or /48 also catch hosts that hold a larger block, at the cost of putting more
/// unrelated clients into one bucket (for example every client behind one NAT64 gateway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Prefix {
    len: u8,
    mask: u128,
}

impl Ipv6Prefix {
    /// Groups IPv6 clients by /64, the block a single host or LAN usually receives.
    pub const DEFAULT: Self = Self::from_len(64);
    /// Keys IPv6 clients by the full 128-bit address.
    pub const EXACT: Self = Self::from_len(128);

    /// Creates a prefix of `len` bits.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] when `len` is 0 (every IPv6 client would share one bucket) or
    /// larger than 128.
    pub fn new(len: u8) -> Result<Self, ConfigError> {
        if len == 0 || len > 128 {
            return Err(ConfigError::Invalid {
                setting: "rate_limit.ipv6_prefix",
                reason: format!("prefix length {len} is outside 1..=128; /64 is the usual value"),
            });
        }
        Ok(Self::from_len(len))
    }

    /// Returns the prefix length in bits.
    pub const fn bits(self) -> u8 {
        self.len
    }

    const fn from_len(len: u8) -> Self {
        // `len` is 1..=128 here, so the shift is 0..=127 and cannot overflow.
        let mask = u128::MAX << (128 - len as u32);
        Self { len, mask }
    }
}

impl Default for Ipv6Prefix {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The key under which one client's requests are counted.
///
/// A parsed address rather than text, so `2001:db8::1` and `2001:0db8:0:0:0:0:0:1` are the same
/// key by construction, and the key is `Copy`, so a check never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 client, by its full address.
    V4(Ipv4Addr),
    /// An IPv6 client, by its network prefix with the host bits set to zero.
    V6(Ipv6Addr),
    /// Every request whose client address is unknown, counted together.
    ///
    /// This happens when the server loop inserted no
    /// [`PeerAddr`](crate::client_ip::PeerAddr). All such requests share one bucket, so a
    /// misconfigured server throttles itself as a whole rather than failing open.
    Unknown,
}

impl ClientKey {
    /// Creates the key of `ip`: IPv4 as is, IPv4-mapped IPv6 as its IPv4 address, other IPv6
    /// reduced to `prefix`.
    #[inline]
    pub fn new(ip: IpAddr, prefix: Ipv6Prefix) -> Self {
        // The same mapping as `client_ip::canonical_ip`, written out so that it inlines.
        match ip {
            IpAddr::V4(v4) => Self::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4),
                None => Self::V6(Ipv6Addr::from_bits(v6.to_bits() & prefix.mask)),
            },
        }
    }

    /// Creates the key of an address that may be missing; `None` gives [`ClientKey::Unknown`].
    #[inline]
    pub fn from_optional(ip: Option<IpAddr>, prefix: Ipv6Prefix) -> Self {
        ip.map_or(Self::Unknown, |ip| Self::new(ip, prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv6_grouped_by_default_prefix() {
        let first = ClientKey::new(ip("2001:db8:aa:bb::1"), Ipv6Prefix::DEFAULT);
        let second = ClientKey::new(ip("2001:db8:aa:bb:ffff:1:2:3"), Ipv6Prefix::DEFAULT);
        let other_net = ClientKey::new(ip("2001:db8:aa:bc::1"), Ipv6Prefix::DEFAULT);
        assert_eq!(first, second);
        assert_ne!(first, other_net);
        assert_eq!(first, ClientKey::V6("2001:db8:aa:bb::".parse().unwrap()));
    }

    #[test]
    fn exact_prefix_keeps_full_address() {
        let first = ClientKey::new(ip("2001:db8::1"), Ipv6Prefix::EXACT);
        let second = ClientKey::new(ip("2001:db8::2"), Ipv6Prefix::EXACT);
        assert_ne!(first, second);
        assert_eq!(first, ClientKey::V6("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn mapped_ipv6_keyed_as_ipv4() {
        let mapped = ClientKey::new(ip("::ffff:192.0.2.1"), Ipv6Prefix::DEFAULT);
        assert_eq!(mapped, ClientKey::V4(Ipv4Addr::new(192, 0, 2, 1)));
    }

    #[test]
    fn textual_variants_are_one_key() {
        let short = ClientKey::new(ip("2001:db8::1"), Ipv6Prefix::EXACT);
        let long = ClientKey::new(ip("2001:0db8:0:0:0:0:0:1"), Ipv6Prefix::EXACT);
        assert_eq!(short, long);
    }

    #[test]
    fn prefix_length_validated() {
        assert!(Ipv6Prefix::new(0).is_err());
        assert!(Ipv6Prefix::new(129).is_err());
        assert_eq!(Ipv6Prefix::new(48).unwrap().bits(), 48);
        assert_eq!(Ipv6Prefix::new(128).unwrap(), Ipv6Prefix::EXACT);
        assert_eq!(Ipv6Prefix::default().bits(), 64);
    }

    #[test]
    fn prefix_48_groups_subnets() {
        let prefix = Ipv6Prefix::new(48).unwrap();
        let first = ClientKey::new(ip("2001:db8:aa:1::1"), prefix);
        let second = ClientKey::new(ip("2001:db8:aa:2::1"), prefix);
        assert_eq!(first, second);
    }

    #[test]
    fn missing_address_uses_unknown_key() {
        assert_eq!(
            ClientKey::from_optional(None, Ipv6Prefix::DEFAULT),
            ClientKey::Unknown
        );
    }
}
