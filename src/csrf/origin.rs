//! Parsing of `Origin` and `Referer` values, and the configured origin allow list.

use crate::config::ConfigError;
use crate::headers::authority::{HostPort, parse_authority};

/// A serialized origin, `scheme://host[:port]`, borrowed from a header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Origin<'a> {
    pub(super) scheme: &'a str,
    pub(super) authority: HostPort<'a>,
}

impl Origin<'_> {
    /// Returns the port a browser uses for this scheme when none is written.
    pub(super) fn default_port(&self) -> Option<u16> {
        default_port(self.scheme)
    }

    /// Returns the explicit port, or the scheme's default port.
    fn effective_port(&self) -> Option<u16> {
        self.authority.port.or_else(|| self.default_port())
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some(443)
    } else if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some(80)
    } else {
        None
    }
}

/// Parses an `Origin` value of the form `scheme://host[:port]`, with no path.
///
/// The literal `null` is not an origin here; callers handle it before parsing.
pub(super) fn parse_origin(text: &str) -> Option<Origin<'_>> {
    let (scheme, rest) = text.split_once("://")?;
    let mut scheme_bytes = scheme.bytes();
    let scheme_ok = scheme_bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme_bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return None;
    }
    Some(Origin {
        scheme,
        authority: parse_authority(rest)?,
    })
}

/// Parses the origin part of a `Referer` URL: everything before the path, query or fragment.
pub(super) fn referer_origin(text: &str) -> Option<Origin<'_>> {
    let start = text.find("://")? + 3;
    let end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |offset| start + offset);
    parse_origin(&text[..end])
}

/// An origin from [`CsrfConfig::allowed_origins`](crate::config::CsrfConfig::allowed_origins),
/// lower-cased, with its port made explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedOrigin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// The configured origins that may send unsafe requests besides the request's own host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct AllowedOrigins {
    origins: Vec<AllowedOrigin>,
    /// True only when the literal `null` is configured; then `Origin: null` passes.
    pub(super) null: bool,
}

impl AllowedOrigins {
    /// Parses the configured origins.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for an entry that is not `scheme://host[:port]` or `null`.
    pub(super) fn parse(configured: &[String]) -> Result<Self, ConfigError> {
        let mut allowed = Self::default();
        for entry in configured {
            if entry == "null" {
                allowed.null = true;
                continue;
            }
            let Some(origin) = parse_origin(entry) else {
                return Err(ConfigError::Invalid {
                    setting: "csrf.allowed_origins",
                    reason: format!(
                        "{entry:?} is not an origin of the form scheme://host[:port] without a \
                         path, nor the literal null"
                    ),
                });
            };
            allowed.origins.push(AllowedOrigin {
                scheme: origin.scheme.to_ascii_lowercase(),
                host: origin.authority.host.to_ascii_lowercase(),
                port: origin.effective_port(),
            });
        }
        Ok(allowed)
    }

    /// Returns true when `origin` equals a configured origin: scheme and host compared
    /// case-insensitively, ports after filling in the scheme's default.
    pub(super) fn contains(&self, origin: &Origin<'_>) -> bool {
        self.origins.iter().any(|allowed| {
            allowed.scheme.eq_ignore_ascii_case(origin.scheme)
                && allowed.host.eq_ignore_ascii_case(origin.authority.host)
                && allowed.port == origin.effective_port()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse() {
        let origin = parse_origin("https://App.example.com:8443").unwrap();
        assert_eq!(origin.scheme, "https");
        assert_eq!(origin.authority.host, "App.example.com");
        assert_eq!(origin.authority.port, Some(8443));
        assert_eq!(
            parse_origin("http://[::1]:3000").unwrap().authority.host,
            "[::1]"
        );
    }

    #[test]
    fn malformed_origins_rejected() {
        for text in [
            "null",
            "example.com",
            "https://",
            "https://example.com/",
            "https://example.com/path",
            "https://user@example.com",
            "https://example.com?x",
            "1http://example.com",
            "ht tp://example.com",
            "https://example.com:443:443",
        ] {
            assert_eq!(parse_origin(text), None, "{text:?}");
        }
    }

    #[test]
    fn referer_origin_drops_path_and_query() {
        for text in [
            "https://example.com/a/b?c=d",
            "https://example.com?c=d",
            "https://example.com#top",
            "https://example.com",
        ] {
            let origin = referer_origin(text).unwrap();
            assert_eq!(origin.authority.host, "example.com", "{text}");
        }
        assert_eq!(referer_origin("/relative/path"), None);
        assert_eq!(referer_origin("https://user:pw@example.com/"), None);
    }

    #[test]
    fn allowed_origins_normalize_case_and_port() {
        let allowed = AllowedOrigins::parse(&["HTTPS://App.Example.com:443".to_owned()]).unwrap();
        assert!(allowed.contains(&parse_origin("https://app.example.com").unwrap()));
        assert!(allowed.contains(&parse_origin("https://APP.example.com:443").unwrap()));
        assert!(!allowed.contains(&parse_origin("http://app.example.com").unwrap()));
        assert!(!allowed.contains(&parse_origin("https://app.example.com:8443").unwrap()));
        assert!(!allowed.contains(&parse_origin("https://example.com").unwrap()));
        assert!(!allowed.null);
    }

    #[test]
    fn invalid_allowed_origin_rejected() {
        for entry in ["app.example.com", "https://app.example.com/", "*", ""] {
            let error = AllowedOrigins::parse(&[entry.to_owned()]).unwrap_err();
            assert!(
                matches!(
                    error,
                    ConfigError::Invalid {
                        setting: "csrf.allowed_origins",
                        ..
                    }
                ),
                "{entry:?}"
            );
        }
    }
}
