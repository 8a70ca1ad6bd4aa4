//! Trusted reverse proxies: reading the client from forwarding headers only when a trusted
//! proxy wrote them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::HeaderName;
use http::{HeaderMap, Request};
use tower_layer::Layer;
use tower_service::Service;

use super::{ClientIp, canonical_ip, peer_ip};
use crate::config::ClientIpConfig;
use crate::headers::Https;

/// An IP network in CIDR notation, such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is
/// a network of that one address. IPv4-mapped IPv6 networks are stored as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    network: IpAddr,
    len: u8,
}

impl IpNet {
    /// Returns whether the network contains every address of its family (`0.0.0.0/0`, `::/0`).
    pub fn is_everything(&self) -> bool {
        self.len == 0
    }

    /// Returns whether `ip` lies inside the network. IPv4-mapped IPv6 addresses are compared
    /// as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical_ip(ip)) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                network.to_bits() & mask == ip.to_bits() & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                network.to_bits() & mask == ip.to_bits() & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, len) = match text.split_once('/') {
            Some((address, len)) => (address, Some(len)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR network"))?;
        let mapped = matches!(address, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
        let max = if address.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(len) => len
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|len| *len <= max)
                .ok_or_else(|| format!("{text:?} has a prefix length outside 0..={max}"))?,
        };
        if mapped {
            if len < 96 {
                return Err(format!(
                    "{text:?} is an IPv4-mapped network shorter than /96"
                ));
            }
            return Ok(Self {
                network: canonical_ip(address),
                len: len - 96,
            });
        }
        Ok(Self {
            network: address,
            len,
        })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

/// The header from which trusted proxies' forwarding chains are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    fn name(self) -> HeaderName {
        match self {
            Self::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            Self::Forwarded => http::header::FORWARDED,
        }
    }
}

/// Resolves the client address of a request from its peer and, when the peer is a trusted
/// proxy, the forwarding header.
///
/// The chain is read from the right: each entry was appended by the hop to its right, so
/// while that hop is a trusted proxy its entry is believable. The client is the rightmost entry
/// that is not a trusted proxy; entries further left were written by the client and are
/// never used, so a forged leftmost entry changes nothing. An entry that is not an address
/// (garbage, `unknown`, an obfuscated `Forwarded` node) stops the walk, and the last trusted
/// hop is the client, which no client can choose. Headers from untrusted peers are ignored.
///
/// `Forwarded` values are read with RFC 7239 quoted strings: a comma or semicolon inside
/// quotes (for example in a `host=` value that carries the client's `Host`) never splits an
/// element or pair. An unterminated quote, a repeated parameter or any other malformed
/// element stops the walk like garbage does.
#[derive(Debug, Clone)]
pub struct ClientResolver {
    trusted: Arc<[IpNet]>,
    header: ForwardedHeader,
}

impl ClientResolver {
    /// Builds the resolver of `config`.
    pub fn new(config: &ClientIpConfig) -> Self {
        Self {
            trusted: config.trusted_proxies.iter().copied().collect(),
            header: config.forwarded_header,
        }
    }

    /// Returns whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|network| network.contains(ip))
    }

    /// Returns the client address of `request`, canonical (IPv4-mapped IPv6 as IPv4), or
    /// `None` when the server loop recorded no peer address.
    pub fn resolve<B>(&self, request: &Request<B>) -> Option<IpAddr> {
        let peer = peer_ip(request.extensions())?;
        Some(self.resolve_from(peer, request.headers()))
    }

    /// Returns the client behind `peer` according to `headers`; see the type documentation.
    pub fn resolve_from(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical_ip(peer);
        if !self.is_trusted(client) {
            return client;
        }
        for value in headers.get_all(self.header.name()).iter().rev() {
            let Ok(value) = value.to_str() else {
                return client;
            };
            let entries: Vec<&str> = match self.header {
                ForwardedHeader::XForwardedFor => value.split(',').collect(),
                ForwardedHeader::Forwarded => match forwarded_elements(value) {
                    Some(elements) => elements,
                    None => return client,
                },
            };
            for entry in entries.into_iter().rev() {
                let hop = match self.header {
                    ForwardedHeader::XForwardedFor => parse_node(entry),
                    ForwardedHeader::Forwarded => {
                        forwarded_for(entry).as_deref().and_then(parse_node)
                    }
                };
                let Some(hop) = hop else {
                    return client;
                };
                client = canonical_ip(hop);
                if !self.is_trusted(client) {
                    return client;
                }
            }
        }
        client
    }

    /// Returns whether a trusted proxy reported with `X-Forwarded-Proto` that the request
    /// arrived over HTTPS. The rightmost value counts, written by the nearest proxy; from an
    /// untrusted peer the header is ignored.
    pub fn forwarded_https<B>(&self, request: &Request<B>) -> bool {
        let Some(peer) = peer_ip(request.extensions()) else {
            return false;
        };
        if !self.is_trusted(peer) {
            return false;
        }
        let last = request
            .headers()
            .get_all("x-forwarded-proto")
            .iter()
            .next_back()
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next());
        last.is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
    }
}

/// Splits one `Forwarded` header value into its elements at the commas outside RFC 7239
/// quoted strings, or returns `None` when a quoted string is not terminated.
fn forwarded_elements(value: &str) -> Option<Vec<&str>> {
    let mut elements = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (at, byte) in value.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted {
            match byte {
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else if byte == b'"' {
            quoted = true;
        } else if byte == b',' {
            elements.push(&value[start..at]);
            start = at + 1;
        }
    }
    if quoted {
        return None;
    }
    elements.push(&value[start..]);
    Some(elements)
}

/// Returns the `for=` value of one `Forwarded` element with its quotes and escapes removed.
/// `None` when the element has no `for=`, or is not a `;`-separated list of `token=value`
/// pairs with distinct names whose values are tokens or complete quoted strings.
fn forwarded_for(element: &str) -> Option<String> {
    let is_ows = |c: char| c == ' ' || c == '\t';
    let mut rest = element.trim_matches(is_ows);
    let mut names: Vec<&str> = Vec::new();
    let mut found = None;
    loop {
        let name_len = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_len);
        let after = after.strip_prefix('=')?;
        if name.is_empty() || names.iter().any(|seen| seen.eq_ignore_ascii_case(name)) {
            return None;
        }
        names.push(name);
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted)?,
            None => {
                let len = after
                    .find(|c: char| c.is_ascii_whitespace() || matches!(c, ';' | ',' | '"'))
                    .unwrap_or(after.len());
                if len == 0 {
                    return None;
                }
                (after[..len].to_owned(), &after[len..])
            }
        };
        if name.eq_ignore_ascii_case("for") {
            found = Some(value);
        }
        let after = after.trim_start_matches(is_ows);
        if after.is_empty() {
            return found;
        }
        rest = after.strip_prefix(';')?.trim_start_matches(is_ows);
    }
}

/// Reads a quoted string whose opening quote was already consumed: returns its content with
/// quoted pairs resolved and the text after the closing quote, or `None` when it never closes.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut content = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((content, &text[at + 1..])),
            '\\' => content.push(chars.next()?.1),
            c => content.push(c),
        }
    }
    None
}

/// Returns whether `c` may appear in an HTTP token (RFC 9110 tchar).
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Parses one node of a forwarding chain: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`,
/// `[2001:db8::1]:80`, optionally in double quotes. Anything else is `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    let node = node
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(node);
    if let Some(rest) = node.strip_prefix('[') {
        let (address, port) = rest.split_once(']')?;
        if !(port.is_empty() || port.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return address.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    let (address, port) = node.split_once(':')?;
    if !is_port(port) {
        return None;
    }
    address.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(text: &str) -> bool {
    text.bytes().all(|byte| byte.is_ascii_digit()) && text.parse::<u16>().is_ok()
}

/// A tower layer that resolves the client behind trusted proxies once per request and
/// records it for every later layer, the API and the audit trail: it inserts [`ClientIp`]
/// when the peer is a trusted proxy, and [`Https`] when such a proxy sent
/// `X-Forwarded-Proto: https`. Requests from other peers pass unchanged, so without trusted
/// proxies it does nothing.
#[derive(Debug, Clone)]
pub struct ClientIpLayer {
    resolver: ClientResolver,
}

impl ClientIpLayer {
    /// Builds the layer of `config`. Logs a warning for each trusted network that holds every
    /// address of its family, since every peer in it can then choose its own address.
    pub fn new(config: &ClientIpConfig) -> Self {
        for network in config
            .trusted_proxies
            .iter()
            .filter(|net| net.is_everything())
        {
            tracing::warn!(
                %network,
                "trusted proxy network {network} contains every address: every peer can forge \
                 its client address in forwarding headers"
            );
        }
        Self {
            resolver: ClientResolver::new(config),
        }
    }

    /// Returns the resolver.
    pub fn resolver(&self) -> &ClientResolver {
        &self.resolver
    }
}

impl<S> Layer<S> for ClientIpLayer {
    type Service = ResolveClient<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResolveClient {
            inner,
            resolver: self.resolver.clone(),
        }
    }
}

/// The service of [`ClientIpLayer`].
#[derive(Debug, Clone)]
pub struct ResolveClient<S> {
    inner: S,
    resolver: ClientResolver,
}

impl<S, B> Service<Request<B>> for ResolveClient<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if self.resolver.trusted.is_empty() {
            return self.inner.call(request);
        }
        if let Some(peer) = peer_ip(request.extensions())
            && self.resolver.is_trusted(peer)
        {
            let client = self.resolver.resolve_from(peer, request.headers());
            let https = self.resolver.forwarded_https(&request);
            request.extensions_mut().insert(ClientIp(client));
            if https {
                request.extensions_mut().insert(Https);
            }
        }
        self.inner.call(request)
    }
}
