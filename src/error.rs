//! The crate's error type and its JSON form.
//!
//! Every error that reaches a client, from any layer or endpoint, is a JSON object with at least
//! `error` (a sentence for people) and `error_code` (a stable upper-case code for programs):
//!
//! ```json
//! {"error": "Rate limit exceeded. Please try again later.",
//!  "error_code": "RATE_LIMIT_EXCEEDED",
//!  "retry_after": "59 seconds"}
//! ```

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value, json};

use crate::body::ResponseBody;
use crate::store::StoreError;

/// An error that a request can end with.
///
/// Each variant has a fixed HTTP status ([`AuthError::status`]) and a stable error code
/// ([`AuthError::error_code`]). No message reveals whether an account exists.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The body is not valid JSON, is not UTF-8, or misses a required field.
    #[error("invalid JSON body: {reason}")]
    InvalidJson {
        /// The problem, safe to show to the client.
        reason: String,
    },
    /// A field failed validation; `details` lists every failed rule.
    #[error("validation failed: {}", details.join("; "))]
    Validation {
        /// One sentence per failed rule.
        details: Vec<String>,
    },
    /// A reset or verification token is unknown, used or expired.
    #[error("invalid or expired token")]
    InvalidToken,
    /// Wrong email or password; one error for both so that accounts cannot be enumerated.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The request has no valid session.
    #[error("authentication required")]
    Unauthorized,
    /// The `X-API-Key` header is missing, empty, duplicated or wrong.
    #[error("invalid or missing API key")]
    InvalidApiKey,
    /// An unsafe request came from another site.
    #[error("cross-site request rejected")]
    CsrfFailed,
    /// A plain-HTTP request reached a server that requires HTTPS, and no redirect target could
    /// be built because the `Host` header is missing or invalid.
    #[error("HTTPS is required")]
    HttpsRequired,
    /// Login was attempted before the email address was verified.
    #[error("email address not verified")]
    EmailNotVerified,
    /// No route matches the path.
    #[error("not found")]
    NotFound,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is larger than the limit.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not `application/json`, or it is compressed (`Content-Encoding`).
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    /// The client did not send the whole body in time.
    #[error("request body not received in time")]
    RequestTimeout,
    /// A rate limit was exceeded.
    #[error("rate limit exceeded, retry after {retry_after_secs} s")]
    RateLimited {
        /// Whole seconds until a retry can succeed, at least 1.
        retry_after_secs: u64,
    },
    /// Too many failed logins for this email address.
    #[error("account temporarily locked, retry after {retry_after_secs} s")]
    AccountLocked {
        /// Whole seconds until the lock ends, at least 1.
        retry_after_secs: u64,
    },
    /// A store, Redis or the hashing pool is unavailable.
    #[error("service unavailable")]
    ServiceUnavailable {
        /// The underlying failure, for logs; never shown to clients.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl AuthError {
    /// Returns the HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidJson { .. } | Self::Validation { .. } | Self::InvalidToken => {
                StatusCode::BAD_REQUEST
            }
            Self::InvalidCredentials | Self::Unauthorized | Self::InvalidApiKey => {
                StatusCode::UNAUTHORIZED
            }
            Self::CsrfFailed | Self::HttpsRequired | Self::EmailNotVerified => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::RateLimited { .. } | Self::AccountLocked { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Returns the stable, upper-case error code sent as `error_code`.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::InvalidJson { .. } => "INVALID_JSON",
            Self::Validation { .. } => "VALIDATION_ERROR",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::CsrfFailed => "CSRF_FAILED",
            Self::HttpsRequired => "HTTPS_REQUIRED",
            Self::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::RateLimited { .. } => "RATE_LIMIT_EXCEEDED",
            Self::AccountLocked { .. } => "ACCOUNT_LOCKED",
            Self::ServiceUnavailable { .. } => "SERVICE_UNAVAILABLE",
        }
    }

    /// Returns the sentence sent as `error`.
    pub fn public_message(&self) -> String {
        match self {
            Self::InvalidJson { reason } => format!("Invalid JSON body: {reason}."),
            Self::Validation { .. } => "Validation failed.".to_owned(),
            Self::InvalidToken => "The token is invalid or has expired.".to_owned(),
            Self::InvalidCredentials => "Invalid email or password.".to_owned(),
            Self::Unauthorized => "Authentication required.".to_owned(),
            Self::InvalidApiKey => "A valid X-API-Key header is required.".to_owned(),
            Self::CsrfFailed => "Cross-site request rejected.".to_owned(),
            Self::HttpsRequired => "HTTPS is required.".to_owned(),
            Self::EmailNotVerified => {
                "Please verify your email address before logging in.".to_owned()
            }
            Self::NotFound => "Not found.".to_owned(),
            Self::MethodNotAllowed => "Method not allowed.".to_owned(),
            Self::PayloadTooLarge { limit } => {
                format!("Request body is larger than {limit} bytes.")
            }
            Self::UnsupportedMediaType => {
                "Request body must be sent as Content-Type: application/json, uncompressed."
                    .to_owned()
            }
            Self::RequestTimeout => "The request body was not received in time.".to_owned(),
            Self::RateLimited { .. } => "Rate limit exceeded. Please try again later.".to_owned(),
            Self::AccountLocked { .. } => {
                "Too many failed login attempts. Please try again later.".to_owned()
            }
            Self::ServiceUnavailable { .. } => {
                "The service is temporarily unavailable. Please try again later.".to_owned()
            }
        }
    }

    /// Returns the seconds a client should wait, for the 429 errors.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } | Self::AccountLocked { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }

    /// Builds the JSON body of this error.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), json!(self.public_message()));
        body.insert("error_code".into(), json!(self.error_code()));
        if let Self::Validation { details } = self {
            body.insert("details".into(), json!(details));
        }
        if let Some(secs) = self.retry_after_secs() {
            body.insert("retry_after".into(), json!(format!("{secs} seconds")));
        }
        Value::Object(body)
    }

    /// Builds the complete HTTP response: status, JSON body, `Content-Type`,
    /// `Cache-Control: no-store` (an error describes one request at one moment, and statuses
    /// such as 404 would otherwise be heuristically cacheable), and for 429s `Retry-After`
    /// (whole seconds).
    pub fn to_response(&self) -> Response<Full<Bytes>> {
        let body = serde_json::to_vec(&self.to_json()).unwrap_or_default();
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after_secs() {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }

    /// Builds the response with the body type of a wrapping layer.
    pub fn to_layer_response<B>(&self) -> Response<ResponseBody<B>> {
        self.to_response().map(ResponseBody::from_full)
    }

    /// Wraps any error as [`AuthError::ServiceUnavailable`].
    pub fn unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::ServiceUnavailable {
            source: source.into(),
        }
    }
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        Self::unavailable(error)
    }
}

/// Rounds a wait up to whole seconds, at least 1, as `Retry-After` requires.
pub fn retry_after_secs(wait: std::time::Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rate_limited_body_has_documented_fields() {
        let error = AuthError::RateLimited {
            retry_after_secs: 59,
        };
        assert_eq!(
            error.to_json(),
            json!({
                "error": "Rate limit exceeded. Please try again later.",
                "error_code": "RATE_LIMIT_EXCEEDED",
                "retry_after": "59 seconds"
            })
        );
        let response = error.to_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "59");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    }

    #[test]
    fn validation_lists_details() {
        let error = AuthError::Validation {
            details: vec!["a".into(), "b".into()],
        };
        assert_eq!(error.to_json()["details"], json!(["a", "b"]));
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(400)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
        assert_eq!(retry_after_secs(Duration::from_millis(59_600)), 60);
    }

    #[test]
    fn every_error_response_is_not_stored() {
        let errors = [
            AuthError::InvalidJson { reason: "x".into() },
            AuthError::Validation {
                details: vec!["x".into()],
            },
            AuthError::InvalidToken,
            AuthError::InvalidCredentials,
            AuthError::Unauthorized,
            AuthError::InvalidApiKey,
            AuthError::CsrfFailed,
            AuthError::HttpsRequired,
            AuthError::EmailNotVerified,
            AuthError::NotFound,
            AuthError::MethodNotAllowed,
            AuthError::PayloadTooLarge { limit: 1 },
            AuthError::UnsupportedMediaType,
            AuthError::RequestTimeout,
            AuthError::RateLimited {
                retry_after_secs: 1,
            },
            AuthError::AccountLocked {
                retry_after_secs: 1,
            },
            AuthError::unavailable("redis down"),
        ];
        for error in errors {
            let response = error.to_response();
            assert_eq!(
                response.headers().get(CACHE_CONTROL).map(|v| v.as_bytes()),
                Some(&b"no-store"[..]),
                "{}",
                error.error_code()
            );
            let layer = error.to_layer_response::<Full<Bytes>>();
            assert_eq!(layer.headers()[CACHE_CONTROL], "no-store");
        }
    }

    #[test]
    fn unavailable_hides_cause_from_client() {
        let error = AuthError::unavailable("connection refused to db at 10.0.0.1");
        let body = error.to_json().to_string();
        assert!(!body.contains("10.0.0.1"));
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.error_code(), "SERVICE_UNAVAILABLE");
    }
}
