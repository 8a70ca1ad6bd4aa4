//! A strict, allocation-free parser for `host[:port]`, shared by the HTTPS redirect and the
//! CSRF origin check.

/// The host and port of an authority such as `example.com:8443` or `[2001:db8::1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostPort<'a> {
    /// The host as written: a name, an IPv4 address, or an IPv6 address in brackets.
    pub(crate) host: &'a str,
    /// The explicit port, if any.
    pub(crate) port: Option<u16>,
}

impl HostPort<'_> {
    /// Compares hosts case-insensitively and ports after filling in `default_port` on both
    /// sides, so `example.com` equals `EXAMPLE.com:443` when the default port is 443.
    pub(crate) fn same_as(&self, other: &HostPort<'_>, default_port: Option<u16>) -> bool {
        self.host.eq_ignore_ascii_case(other.host)
            && self.port.or(default_port) == other.port.or(default_port)
    }
}

/// Parses `host[:port]`; returns `None` for anything else.
///
/// Rejected on purpose, although RFC 3986 allows some of them in an authority: user info
/// (`user@host`), percent escapes, sub-delimiters such as `;` or `'`, an empty host, an empty
/// port and a port above 65535. Browsers never send them in `Host` or `Origin`, and each could
/// smuggle text into a `Location` header or make two spellings of one host compare unequal.
pub(crate) fn parse_authority(text: &str) -> Option<HostPort<'_>> {
    let (host, port) = if text.starts_with('[') {
        let end = text.find(']')?;
        let (host, rest) = text.split_at(end + 1);
        let inner = &host[1..host.len() - 1];
        let ipv6_ok = !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !ipv6_ok {
            return None;
        }
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        let name_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        if !name_ok {
            return None;
        }
        (host, port)
    };
    let port = match port {
        None => None,
        Some(digits) => Some(parse_port(digits)?),
    };
    Some(HostPort { host, port })
}

fn parse_port(digits: &str) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ports_parse() {
        let parsed = parse_authority("Example.com:8443").unwrap();
        assert_eq!(parsed.host, "Example.com");
        assert_eq!(parsed.port, Some(8443));
        let parsed = parse_authority("localhost").unwrap();
        assert_eq!(parsed.host, "localhost");
        assert_eq!(parsed.port, None);
    }

    #[test]
    fn bracketed_ipv6_parses() {
        let parsed = parse_authority("[2001:db8::1]:8080").unwrap();
        assert_eq!(parsed.host, "[2001:db8::1]");
        assert_eq!(parsed.port, Some(8080));
        assert_eq!(parse_authority("[::1]").unwrap().port, None);
    }

    #[test]
    fn malformed_authorities_rejected() {
        for text in [
            "",
            ":80",
            "host:",
            "host:99999",
            "host:8a",
            "user@host",
            "host/path",
            "a b",
            "host;x=1",
            "ho%73t",
            "[::1",
            "[]",
            "[::1]x",
            "[::1]:",
            "[zz::1]",
            "2001:db8::1",
            "h\u{e9}te",
        ] {
            assert_eq!(parse_authority(text), None, "{text:?}");
        }
    }

    #[test]
    fn default_port_fills_both_sides() {
        let bare = parse_authority("example.com").unwrap();
        let explicit = parse_authority("EXAMPLE.com:443").unwrap();
        assert!(bare.same_as(&explicit, Some(443)));
        assert!(!bare.same_as(&explicit, Some(80)));
        assert!(!bare.same_as(&explicit, None));
    }
}
