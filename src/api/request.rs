//! Reading requests: JSON bodies within limits, query strings, client context.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT};
use http::request::Parts;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::accounts::ClientContext;
use crate::client_ip::client_ip_from_extensions;
use crate::error::AuthError;
use crate::store::BoxError;

/// Reads a JSON body of type `T`, checking media type, size and encoding first.
/// How long a client may take to send a JSON body once its headers arrived. Bodies are at most
/// `max_body_bytes` (16 KiB by default), so only a stalled or deliberately slow client takes
/// longer.
pub(super) const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Returns whether the body declares a content coding other than `identity`, which the API
/// does not decode.
fn is_encoded(parts: &Parts) -> bool {
    parts
        .headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .any(|value| {
            value
                .to_str()
                .map_or(true, |value| !value.trim().eq_ignore_ascii_case("identity"))
        })
}

pub(super) async fn read_json<T, B>(parts: &Parts, body: B, limit: usize) -> Result<T, AuthError>
where
    T: DeserializeOwned,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    if !is_json(parts) || is_encoded(parts) {
        return Err(AuthError::UnsupportedMediaType);
    }
    // A declared length over the limit is rejected before reading anything.
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(AuthError::PayloadTooLarge { limit });
    }
    // A client that stops sending would otherwise hold the request open for good.
    let collected = tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, limit).collect());
    let Ok(collected) = collected.await else {
        return Err(AuthError::RequestTimeout);
    };
    let bytes = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            return Err(AuthError::PayloadTooLarge { limit });
        }
        Err(_) => {
            return Err(AuthError::InvalidJson {
                reason: "the request body could not be read".into(),
            });
        }
    };
    if std::str::from_utf8(&bytes).is_err() {
        return Err(AuthError::InvalidJson {
            reason: "the body is not valid UTF-8".into(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|error| AuthError::InvalidJson {
        reason: describe_json_error(&error),
    })
}

/// Describes a JSON error without quoting the body, which may hold a password.
fn describe_json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => {
            let message = error.to_string();
            // serde's "missing field `x`" and "duplicate field `x`" name only the field; other
            // data errors may quote the offending value, so they get a generic sentence.
            match message.split_once(" at line") {
                Some((head, _))
                    if head.starts_with("missing field") || head.starts_with("duplicate field") =>
                {
                    head.to_owned()
                }
                _ => "a field is missing or has the wrong type (every field is a string)".into(),
            }
        }
        Category::Syntax | Category::Eof | Category::Io => "the body is not valid JSON".into(),
    }
}

/// Returns true for `application/json`, with or without parameters such as `charset=utf-8`.
fn is_json(parts: &Parts) -> bool {
    let Some(value) = parts.headers.get(CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let media_type = value.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return false;
    }
    // Only UTF-8 is accepted; a declared other charset is a mismatch, not something to guess.
    value
        .split(';')
        .skip(1)
        .all(|parameter| match parameter.trim().split_once('=') {
            Some((name, charset)) if name.trim().eq_ignore_ascii_case("charset") => charset
                .trim()
                .trim_matches('"')
                .eq_ignore_ascii_case("utf-8"),
            _ => true,
        })
}

/// Returns the client address and `User-Agent` of a request.
pub(super) fn client_context(parts: &Parts) -> ClientContext {
    ClientContext {
        ip: client_ip_from_extensions(&parts.extensions),
        user_agent: parts
            .headers
            .get(USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(crate::audit::truncate_user_agent),
    }
}

/// Splits a query string into decoded name-value pairs.
pub(super) fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, AuthError> {
    let Some(query) = query else {
        return Ok(Vec::new());
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, AuthError> {
    let invalid = || AuthError::Validation {
        details: vec!["The query string is not valid percent-encoded UTF-8.".into()],
    };
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = bytes.get(index + 1..index + 3).ok_or_else(invalid)?;
                let hex = std::str::from_utf8(hex).map_err(|_| invalid())?;
                decoded.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
                index += 3;
            }
            b'+' => {
                decoded.push(b' ');
                index += 1;
            }
            byte => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode_percent_and_plus() {
        let pairs =
            query_pairs(Some("since=2025-01-01T00%3A00%3A00%2B00%3A00&a=b+c&flag")).unwrap();
        assert_eq!(
            pairs,
            [
                ("since".to_owned(), "2025-01-01T00:00:00+00:00".to_owned()),
                ("a".to_owned(), "b c".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn query_pairs_reject_bad_escapes() {
        assert!(query_pairs(Some("a=%zz")).is_err());
        assert!(query_pairs(Some("a=%4")).is_err());
        assert!(query_pairs(Some("a=%ff")).is_err());
    }

    #[test]
    fn json_media_type_variants() {
        let check = |value: &str| {
            let (parts, ()) = http::Request::builder()
                .header(CONTENT_TYPE, value)
                .body(())
                .unwrap()
                .into_parts();
            is_json(&parts)
        };
        assert!(check("application/json"));
        assert!(check("Application/JSON; charset=utf-8"));
        assert!(check("application/json;charset=\"UTF-8\""));
        assert!(!check("application/json; charset=latin1"));
        assert!(!check("text/plain"));
        assert!(!check("application/jsonx"));
        assert!(!check("application/x-www-form-urlencoded"));
    }
}
