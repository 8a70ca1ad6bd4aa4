//! Reading the session cookie from `Cookie` headers and writing `Set-Cookie` values.

use http::HeaderMap;
use http::header::{COOKIE, HeaderValue, InvalidHeaderValue};

use crate::config::SessionConfig;
use crate::token::SecretToken;

/// The session cookie's name and attributes, formatted once from a validated configuration.
#[derive(Debug, Clone)]
pub(super) struct CookieFormat {
    name: Box<str>,
    /// Everything after the value of an issued cookie, starting with `"; Path="`.
    issue_attributes: Box<str>,
    /// The complete removal cookie.
    clear: HeaderValue,
}

impl CookieFormat {
    /// Formats the cookie of `config`.
    ///
    /// # Errors
    ///
    /// Returns the error of [`HeaderValue`] when a name or attribute contains bytes that a
    /// header cannot carry; a configuration that passed validation never does.
    pub(super) fn new(config: &SessionConfig) -> Result<Self, InvalidHeaderValue> {
        let mut path_and_domain = format!("; Path={}", config.cookie_path);
        if let Some(domain) = &config.cookie_domain {
            path_and_domain.push_str("; Domain=");
            path_and_domain.push_str(domain);
        }
        let secure = if config.cookie_secure { "; Secure" } else { "" };
        let same_site = config.same_site.as_str();

        let issue_attributes = format!(
            "{path_and_domain}; Max-Age={}; HttpOnly{secure}; SameSite={same_site}",
            config.lifetime.as_secs()
        );
        // Browsers replace a cookie only when name, path and domain match, so the removal
        // repeats them. Expires covers clients that ignore Max-Age.
        let clear = format!(
            "{}={path_and_domain}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; \
             HttpOnly{secure}; SameSite={same_site}",
            config.cookie_name
        );
        let format = Self {
            name: config.cookie_name.as_str().into(),
            issue_attributes: issue_attributes.into(),
            clear: HeaderValue::from_str(&clear)?,
        };
        // Checks the issued form once here, so that `issue` can only fail on the token.
        HeaderValue::from_str(&format!("{}=x{}", format.name, format.issue_attributes))?;
        Ok(format)
    }

    /// Returns the `Set-Cookie` value that sets the cookie to `token`.
    pub(super) fn issue(&self, token: &SecretToken) -> Result<HeaderValue, InvalidHeaderValue> {
        let value = format!("{}={}{}", self.name, token.expose(), self.issue_attributes);
        HeaderValue::try_from(value)
    }

    /// Returns the `Set-Cookie` value that removes the cookie.
    pub(super) fn clear(&self) -> HeaderValue {
        self.clear.clone()
    }

    /// Returns the value of the first cookie with this name in the `Cookie` headers of
    /// `headers`, which may hold several pairs each.
    ///
    /// A header that is not UTF-8 is skipped as if it carried no cookie. The value is not
    /// checked here.
    #[cfg(test)]
    pub(super) fn find<'h>(&'h self, headers: &'h HeaderMap) -> Option<&'h str> {
        self.values(headers).next()
    }

    /// Returns the values of every cookie with this name, in order. Browsers send several
    /// when cookies of one name were set for different paths or parent domains.
    pub(super) fn values<'h>(&'h self, headers: &'h HeaderMap) -> impl Iterator<Item = &'h str> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
            .flat_map(|text| text.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                (name.trim() == &*self.name).then(|| value.trim())
            })
    }
}

#[cfg(test)]
mod tests {
    use http::header::HeaderName;

    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            let value = HeaderValue::from_bytes(value).unwrap();
            map.append(HeaderName::from_static("cookie"), value);
        }
        map
    }

    #[test]
    fn find_reads_any_pair_of_any_header() {
        let format = CookieFormat::new(&SessionConfig::default()).unwrap();
        let one = headers(&[b"theme=dark; amoskys_session=abc ; lang=en"]);
        assert_eq!(format.find(&one), Some("abc"));

        let split = headers(&[b"theme=dark", b"lang=en;amoskys_session=def"]);
        assert_eq!(format.find(&split), Some("def"));

        let first_wins = headers(&[b"amoskys_session=one; amoskys_session=two"]);
        assert_eq!(format.find(&first_wins), Some("one"));
    }

    #[test]
    fn find_ignores_other_names_and_bad_bytes() {
        let format = CookieFormat::new(&SessionConfig::default()).unwrap();
        let similar = headers(&[b"amoskys_session_old=abc; xamoskys_session=def"]);
        assert_eq!(format.find(&similar), None);

        let no_equals = headers(&[b"amoskys_session; =; ;;"]);
        assert_eq!(format.find(&no_equals), None);

        let not_utf8 = headers(&[b"amoskys_session=\xff\xfe", b"amoskys_session=ok"]);
        assert_eq!(format.find(&not_utf8), Some("ok"));

        assert_eq!(format.find(&HeaderMap::new()), None);
    }
}
