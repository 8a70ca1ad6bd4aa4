//! Storage traits for users, sessions, lockouts, one-time tokens and the audit trail.
//!
//! Each concern has its own trait so that a deployment can mix backends. Every method is a
//! single atomic step: where a contract reads "atomically", two concurrent calls behave as if
//! one ran entirely before the other, even across processes sharing one database. Methods that
//! look up a row return `Ok(None)` or `Ok(false)` when it is missing; `Err` is kept for backend
//! failures, which the HTTP layer turns into a 503 and a log line.
//!
//! Futures returned by the methods may be dropped at any `.await` (a client disconnecting): an
//! implementation must then leave either the whole change or none of it.
//!
//! [`memory`] holds the in-process implementations, the reference for every other backend.
//! With the `sqlite` and `postgres` features (both on by default), [`sqlite::SqliteStore`]
//! and [`postgres::PostgresStore`] keep the same data durably in SQL databases, shared by
//! every process that opens them.

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(test)]
pub(crate) mod conformance;

use std::error::Error as StdError;
use std::net::IpAddr;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{AuditEvent, AuditQuery};
use crate::token::TokenDigest;

/// A boxed error from a backend.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A storage failure. The cause is kept as [`std::error::Error::source`] and also shown in the
/// message, because log lines usually print only the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique constraint was violated, such as a second account for one email address.
    #[error("a record with the same unique key already exists")]
    Conflict,
    /// The backend could not be reached or timed out; retrying later may succeed.
    #[error("storage backend unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The backend returned data that the crate cannot read.
    #[error("storage backend returned invalid data: {0}")]
    Corrupt(String),
    /// Any other backend failure.
    #[error("storage backend failed: {0}")]
    Backend(#[source] BoxError),
}

/// A user account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Unique id.
    pub id: Uuid,
    /// The canonical email address (see [`crate::accounts::canonical_email`]); unique.
    pub email: String,
    /// The Argon2id PHC string.
    pub password_hash: String,
    /// Whether the owner proved control of the email address.
    pub email_verified: bool,
    /// When the account was created, in UTC.
    pub created_at: OffsetDateTime,
    /// When the password was last set, in UTC; tokens issued before it are void.
    pub password_changed_at: OffsetDateTime,
}

/// A session as stored: everything but the token itself, which only its holder has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Public id, used to list and revoke sessions; never usable as a credential.
    pub id: Uuid,
    /// SHA-256 digest of the session token.
    pub token_digest: TokenDigest,
    /// The owner.
    pub user_id: Uuid,
    /// When the session was created, in UTC.
    pub created_at: OffsetDateTime,
    /// When the session was last used. The session layer writes it at most once per touch
    /// interval.
    pub last_seen_at: OffsetDateTime,
    /// Absolute expiry, in UTC: `created_at` plus the session lifetime.
    pub expires_at: OffsetDateTime,
    /// The client address at login, as resolved by the client-key extraction.
    pub ip_address: Option<IpAddr>,
    /// The `User-Agent` at login, truncated.
    pub user_agent: Option<String>,
}

/// The purpose a one-time token was issued for; a token only works for its own purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenPurpose {
    /// Resetting a forgotten password.
    PasswordReset,
    /// Proving control of an email address.
    EmailVerification,
}

impl TokenPurpose {
    /// Returns a stable lower-case name, for storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
        }
    }
}

/// A one-time token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    /// SHA-256 digest of the token.
    pub digest: TokenDigest,
    /// The user it was issued to.
    pub user_id: Uuid,
    /// The use it was issued for.
    pub purpose: TokenPurpose,
    /// When it was issued, in UTC.
    pub created_at: OffsetDateTime,
    /// When it stops working, in UTC.
    pub expires_at: OffsetDateTime,
    /// When it was used, if it was.
    pub used_at: Option<OffsetDateTime>,
}

/// The lockout state of one key (a canonical email address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutState {
    /// Attempts counted since the last success or the end of the last lock.
    pub failures: u32,
    /// The end of the current lock, if the key is locked.
    pub locked_until: Option<OffsetDateTime>,
}

/// The result of [`LockoutStore::begin_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptDecision {
    /// The attempt may verify a password; it is the `attempt`-th since the last reset.
    Allowed {
        /// 1 for the first attempt.
        attempt: u32,
        /// True when this attempt used up the allowance and locked the key. A success still
        /// clears the lock.
        locked_now: bool,
    },
    /// The key is locked until the given time; no password may be verified.
    Locked {
        /// The end of the lock, in UTC.
        until: OffsetDateTime,
    },
}

/// Storage of user accounts.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Inserts a new user.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when a user with the same `email` exists. The check and the
    /// insert are atomic, so of two concurrent calls for one email exactly one succeeds.
    async fn create_user(&self, user: User) -> Result<User, StoreError>;

    /// Finds a user by canonical email.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// Finds a user by id.
    async fn find_user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError>;

    /// Replaces the password hash only if it still equals `expected` (compare-and-swap), without
    /// changing `password_changed_at`. Used to upgrade a hash after login, so a password changed
    /// in the meantime is never overwritten. Returns whether the hash was replaced.
    async fn replace_password_hash(
        &self,
        id: Uuid,
        expected: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError>;

    /// Sets a new password hash and `password_changed_at`. Returns false when the user is
    /// missing.
    async fn set_password_hash(
        &self,
        id: Uuid,
        new_hash: &str,
        changed_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Marks the email address verified. Returns false when the user is missing.
    async fn mark_email_verified(&self, id: Uuid) -> Result<bool, StoreError>;

    /// Lists users ordered by creation time, oldest first.
    async fn list_users(&self, offset: usize, limit: usize) -> Result<Vec<User>, StoreError>;
}

/// Storage of server-side sessions, keyed by token digest.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Inserts a session and, atomically with the insert, revokes the user's oldest sessions
    /// (by `created_at`) so that at most `max_per_user` remain, never counting sessions that
    /// expired (absolutely, or idle past `idle_cutoff`) before `record.created_at`.
    /// Returns the revoked sessions.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] if a session with the same digest or id exists; nothing is
    /// written then.
    async fn create_session(
        &self,
        record: SessionRecord,
        max_per_user: usize,
        idle_cutoff: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    /// Finds a session by token digest, expired or not; expiry is the caller's decision.
    async fn find_session(&self, digest: &TokenDigest)
    -> Result<Option<SessionRecord>, StoreError>;

    /// Sets `last_seen_at` of an existing session. Never recreates a revoked session: returns
    /// false when it is missing.
    async fn touch_session(
        &self,
        digest: &TokenDigest,
        last_seen_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Sets `last_seen_at` of an existing session to `now` only if it is at or before
    /// `stale_at` (`now` minus the touch interval). The check and the write are one atomic
    /// step, so of any number of concurrent requests on one session at most one writes per
    /// interval. Never recreates a revoked session. Returns the `last_seen_at` stored
    /// afterwards, or `None` when the session is missing.
    ///
    /// The default implementation calls [`SessionStore::touch_session`] unconditionally;
    /// backends override it with a conditional write.
    async fn touch_session_if_stale(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
        stale_at: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let _ = stale_at;
        Ok(self.touch_session(digest, now).await?.then_some(now))
    }

    /// Deletes one session. Returns whether it existed.
    async fn revoke_session(&self, digest: &TokenDigest) -> Result<bool, StoreError>;

    /// Deletes the session with public id `id` if it belongs to `user_id`. Returns whether it
    /// was deleted.
    async fn revoke_session_by_id(&self, user_id: Uuid, id: Uuid) -> Result<bool, StoreError>;

    /// Deletes every session of a user except the one with digest `keep`. Returns how many were
    /// deleted.
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&TokenDigest>,
    ) -> Result<u64, StoreError>;

    /// Lists a user's sessions, newest first, including expired ones not yet purged.
    async fn list_user_sessions(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, StoreError>;

    /// Deletes sessions whose `expires_at` is at or before `now` or whose `last_seen_at` is
    /// at or before `idle_cutoff`: exactly those the session layer rejects at `now`.
    /// Returns how many were deleted.
    async fn purge_expired_sessions(
        &self,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
    ) -> Result<u64, StoreError>;
}

/// Storage of failed-login counters, keyed by canonical email so that unknown addresses lock
/// exactly like real ones.
#[async_trait]
pub trait LockoutStore: Send + Sync + 'static {
    /// Atomically counts one login attempt for `key` before any password is verified.
    ///
    /// A lock that ended before `now` is cleared first, together with its count. If the key is
    /// locked, nothing changes (a lock is never extended) and [`AttemptDecision::Locked`] is
    /// returned. Otherwise the count goes up by one; when it reaches `max_attempts`, the key is
    /// locked until `now + lock_for`. Counting before verifying means that of any number of
    /// concurrent attempts at most `max_attempts` verify a password.
    async fn begin_attempt(
        &self,
        key: &str,
        now: OffsetDateTime,
        max_attempts: u32,
        lock_for: time::Duration,
    ) -> Result<AttemptDecision, StoreError>;

    /// Returns the state of `key`, or `None` when nothing is counted.
    async fn lockout_state(&self, key: &str) -> Result<Option<LockoutState>, StoreError>;

    /// Clears the count and any lock of `key`, after a successful login or by an administrator.
    async fn clear_lockout(&self, key: &str) -> Result<(), StoreError>;
}

/// Storage of one-time tokens (password reset, email verification), kept as digests.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Inserts a token and, atomically with it, deletes every other token of the same user
    /// and purpose, so only the newest link works.
    async fn issue_token(&self, token: OneTimeToken) -> Result<(), StoreError>;

    /// Marks a token used and returns it, if it exists, has `purpose`, is unused and has not
    /// expired at `now`. Atomic: of concurrent calls with one digest at most one gets `Some`.
    async fn consume_token(
        &self,
        digest: &TokenDigest,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<OneTimeToken>, StoreError>;

    /// Deletes every token of a user with `purpose`. Returns how many were deleted.
    async fn revoke_user_tokens(
        &self,
        user_id: Uuid,
        purpose: TokenPurpose,
    ) -> Result<u64, StoreError>;

    /// Deletes tokens that were used or whose `expires_at` is at or before `now` (a token is
    /// valid only strictly before its `expires_at`). Returns how many were deleted.
    async fn purge_expired_tokens(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// The append-only audit trail.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends an event. Events are never updated or deleted by the crate.
    async fn append_event(&self, event: AuditEvent) -> Result<(), StoreError>;

    /// Returns the events matching `query`, newest first, at most `query.limit`.
    async fn query_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[test]
    fn failure_messages_name_their_cause() {
        let refused = || Box::new(std::io::Error::other("connection refused")) as super::BoxError;
        let unavailable = StoreError::Unavailable(refused()).to_string();
        assert_eq!(
            unavailable,
            "storage backend unavailable: connection refused"
        );
        let failed = StoreError::Backend(refused()).to_string();
        assert_eq!(failed, "storage backend failed: connection refused");
    }
}
