//! The audit trail: structured records of security events.
//!
//! Audit events are data for investigations, kept by an [`AuditStore`](crate::store::AuditStore);
//! `tracing` output is for operators. Every field is stored as a separate value (metadata as a
//! JSON object), so text supplied by a client, such as an email containing CR/LF, stays inside
//! its field and can never forge a second event.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// The kinds of security events that are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum AuditEventType {
    /// A new account was created.
    Signup,
    /// A signup named an email that already has an account.
    SignupDuplicate,
    /// A login succeeded.
    LoginSuccess,
    /// A login failed; `event_metadata.reason` gives the cause.
    LoginFailure,
    /// A session ended by logout.
    Logout,
    /// A session was created.
    SessionCreated,
    /// A session was revoked (logout, eviction, password change, binding mismatch).
    SessionRevoked,
    /// Too many failed logins locked an email address.
    AccountLocked,
    /// The password was changed by its owner.
    PasswordChanged,
    /// A password reset was requested.
    PasswordResetRequested,
    /// The password was reset with a token.
    PasswordReset,
    /// An email address was verified.
    EmailVerified,
    /// Something suspicious happened, such as a session used from another address.
    SecurityAlert,
}

impl AuditEventType {
    /// Every event type, in declaration order.
    pub const ALL: [Self; 13] = [
        Self::Signup,
        Self::SignupDuplicate,
        Self::LoginSuccess,
        Self::LoginFailure,
        Self::Logout,
        Self::SessionCreated,
        Self::SessionRevoked,
        Self::AccountLocked,
        Self::PasswordChanged,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::EmailVerified,
        Self::SecurityAlert,
    ];

    /// Returns the upper-case name, such as `LOGIN_FAILURE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "SIGNUP",
            Self::SignupDuplicate => "SIGNUP_DUPLICATE",
            Self::LoginSuccess => "LOGIN_SUCCESS",
            Self::LoginFailure => "LOGIN_FAILURE",
            Self::Logout => "LOGOUT",
            Self::SessionCreated => "SESSION_CREATED",
            Self::SessionRevoked => "SESSION_REVOKED",
            Self::AccountLocked => "ACCOUNT_LOCKED",
            Self::PasswordChanged => "PASSWORD_CHANGED",
            Self::PasswordResetRequested => "PASSWORD_RESET_REQUESTED",
            Self::PasswordReset => "PASSWORD_RESET",
            Self::EmailVerified => "EMAIL_VERIFIED",
            Self::SecurityAlert => "SECURITY_ALERT",
        }
    }
}

impl fmt::Display for AuditEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when parsing an unknown event type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit event type {0:?}")]
pub struct UnknownEventType(pub String);

impl FromStr for AuditEventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

/// One audit record: who, what, from where, with details and the time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unique id of the record.
    pub id: Uuid,
    /// The user concerned, when known.
    pub user_id: Option<Uuid>,
    /// What happened.
    pub event_type: AuditEventType,
    /// The client address as resolved by the rate limiter's key extraction.
    pub ip_address: Option<String>,
    /// The client's `User-Agent`, truncated to a bounded length.
    pub user_agent: Option<String>,
    /// Event details, such as `{"reason": "invalid_password"}`. Never contains secrets.
    pub event_metadata: Map<String, Value>,
    /// When it happened, in UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The longest `User-Agent` kept in an audit event or session, in bytes.
pub const MAX_USER_AGENT_BYTES: usize = 512;

impl AuditEvent {
    /// Creates an event of `event_type` at `created_at` with a new id and no other fields.
    pub fn new(event_type: AuditEventType, created_at: OffsetDateTime) -> Self {
        Self {
            id: Uuid::new_v4(),
            user_id: None,
            event_type,
            ip_address: None,
            user_agent: None,
            event_metadata: Map::new(),
            created_at,
        }
    }

    /// Sets the user.
    #[must_use]
    pub fn user(mut self, user_id: Uuid) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// Sets the client address and `User-Agent` (truncated to [`MAX_USER_AGENT_BYTES`]).
    #[must_use]
    pub fn client(mut self, ip_address: Option<String>, user_agent: Option<&str>) -> Self {
        self.ip_address = ip_address;
        self.user_agent = user_agent.map(truncate_user_agent);
        self
    }

    /// Adds a metadata field.
    #[must_use]
    pub fn meta(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.event_metadata.insert(key.to_owned(), value.into());
        self
    }
}

/// Truncates a `User-Agent` to [`MAX_USER_AGENT_BYTES`] on a character boundary.
pub fn truncate_user_agent(user_agent: &str) -> String {
    if user_agent.len() <= MAX_USER_AGENT_BYTES {
        return user_agent.to_owned();
    }
    let mut end = MAX_USER_AGENT_BYTES;
    while !user_agent.is_char_boundary(end) {
        end -= 1;
    }
    user_agent[..end].to_owned()
}

/// A filter over the audit trail. Results come newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditQuery {
    /// Only these event types; empty means all.
    pub event_types: Vec<AuditEventType>,
    /// Only events of this user.
    pub user_id: Option<Uuid>,
    /// Only events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only events before this time.
    pub until: Option<OffsetDateTime>,
    /// At most this many events.
    pub limit: usize,
}

/// The number of events an [`AuditQuery`] returns when no limit is given.
pub const DEFAULT_AUDIT_LIMIT: usize = 100;

/// The largest limit an [`AuditQuery`] accepts.
pub const MAX_AUDIT_LIMIT: usize = 1000;

impl AuditQuery {
    /// Returns true when `event` passes every filter of this query (the limit aside).
    pub fn matches(&self, event: &AuditEvent) -> bool {
        (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
            && self.user_id.is_none_or(|user| event.user_id == Some(user))
            && self.since.is_none_or(|since| event.created_at >= since)
            && self.until.is_none_or(|until| event.created_at < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_names_round_trip() {
        for kind in AuditEventType::ALL {
            assert_eq!(kind.as_str().parse::<AuditEventType>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert!("login_failure".parse::<AuditEventType>().is_err());
    }

    #[test]
    fn control_characters_stay_inside_one_field() {
        let email = "admin\r\nLOGIN_SUCCESS user=admin ip=192.0.2.1";
        let event = AuditEvent::new(AuditEventType::LoginFailure, OffsetDateTime::UNIX_EPOCH)
            .meta("email", email);
        let line = serde_json::to_string(&event).unwrap();
        assert!(!line.contains('\n'));
        assert!(!line.contains('\r'));
        let back: AuditEvent = serde_json::from_str(&line).unwrap();
        assert_eq!(back.event_metadata["email"], email);
        assert_eq!(back.event_type, AuditEventType::LoginFailure);
    }

    #[test]
    fn user_agent_truncated_on_char_boundary() {
        let long = "é".repeat(MAX_USER_AGENT_BYTES);
        let cut = truncate_user_agent(&long);
        assert!(cut.len() <= MAX_USER_AGENT_BYTES);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
