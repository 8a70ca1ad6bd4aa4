//! The client address of a request, shared by rate limiting, session binding and the audit
//! trail so that all three agree on who a client is.
//!
//! By default the client is the TCP peer, and `X-Forwarded-For`, `Forwarded` and
//! `X-Forwarded-Proto` are ignored, because any client can send them. Behind reverse proxies,
//! list them in [`ClientIpConfig::trusted_proxies`](crate::config::ClientIpConfig) and put
//! [`ClientIpLayer`] outermost (the stack of [`Auth::layer`](crate::Auth::layer) does); it
//! reads the forwarding chain from trusted peers only, as [`ClientResolver`] describes.

mod proxy;
#[cfg(test)]
mod proxy_tests;

use std::net::{IpAddr, SocketAddr};

use http::{Extensions, Request};

pub use self::proxy::{ClientIpLayer, ClientResolver, ForwardedHeader, IpNet, ResolveClient};

/// The address of the TCP peer, inserted into request extensions by the server loop.
///
/// With hyper, insert it per connection; with axum, either insert it or enable the `axum`
/// feature, which also reads axum's `ConnectInfo<SocketAddr>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The resolved client address, inserted into request extensions by the first layer that
/// resolves it, so later layers and the audit trail reuse one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

/// Returns the client address of `request`: a [`ClientIp`] set by an earlier layer, else the
/// peer address, with IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) turned into IPv4 so one
/// client has one address. Returns `None` when the server loop recorded no address.
pub fn client_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    client_ip_from_extensions(request.extensions())
}

/// Returns the client address recorded in `extensions`, as [`client_ip`] does for a request.
pub fn client_ip_from_extensions(extensions: &Extensions) -> Option<IpAddr> {
    if let Some(ClientIp(ip)) = extensions.get::<ClientIp>() {
        return Some(*ip);
    }
    peer_ip(extensions)
}

/// Returns the canonical TCP peer address recorded in `extensions`, ignoring [`ClientIp`].
pub(crate) fn peer_ip(extensions: &Extensions) -> Option<IpAddr> {
    if let Some(PeerAddr(addr)) = extensions.get::<PeerAddr>() {
        return Some(canonical_ip(addr.ip()));
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(canonical_ip(addr.ip()));
    }
    None
}

/// Turns an IPv4-mapped IPv6 address into its IPv4 form; other addresses are unchanged.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv6_becomes_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(canonical_ip(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
        let plain: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(canonical_ip(plain), plain);
    }

    #[test]
    fn resolved_address_preferred_over_peer() {
        let mut request = Request::new(());
        assert_eq!(client_ip(&request), None);
        request
            .extensions_mut()
            .insert(PeerAddr("[::ffff:198.51.100.7]:4000".parse().unwrap()));
        assert_eq!(client_ip(&request), Some("198.51.100.7".parse().unwrap()));
        request
            .extensions_mut()
            .insert(ClientIp("192.0.2.9".parse().unwrap()));
        assert_eq!(client_ip(&request), Some("192.0.2.9".parse().unwrap()));
    }
}
