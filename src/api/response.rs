//! Building JSON responses.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::AuditEvent;
use crate::error::AuthError;
use crate::store::{SessionRecord, User};

/// Builds a JSON response with `Cache-Control: no-store`, since auth responses must never be
/// cached.
pub(super) fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `{"message": ...}` with `status`.
pub(super) fn message(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "message": text }))
}

/// Builds the error's JSON response, also with `Cache-Control: no-store`.
pub(super) fn error_response(error: &AuthError) -> Response<Full<Bytes>> {
    let mut response = error.to_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(super) fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// Returns the public form of a user, without the password hash.
pub(super) fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "email_verified": user.email_verified,
        "created_at": rfc3339(user.created_at),
    })
}

/// Returns the public form of a session: its public id, never the token or its digest.
pub(super) fn session_json(session: &SessionRecord, current: bool) -> Value {
    json!({
        "id": session.id,
        "created_at": rfc3339(session.created_at),
        "last_seen_at": rfc3339(session.last_seen_at),
        "ip_address": session.ip_address.map(|ip| ip.to_string()),
        "user_agent": session.user_agent,
        "current": current,
    })
}

pub(super) fn event_json(event: &AuditEvent) -> Value {
    json!({
        "id": event.id,
        "user_id": event.user_id,
        "event_type": event.event_type.as_str(),
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "event_metadata": event.event_metadata,
        "created_at": rfc3339(event.created_at),
    })
}
