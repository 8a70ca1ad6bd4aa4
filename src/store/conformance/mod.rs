//! One conformance suite for every store backend.
//!
//! Each check is an async function over any type implementing the storage trait it tests, so
//! a backend proves its contract by running [`store_conformance_suite!`] with an expression
//! that builds a fresh, empty store:
//!
//! ```ignore
//! crate::store::conformance::store_conformance_suite!(MemoryStore::new());
//! ```
//!
//! The expression is evaluated inside each async test, so it may `.await` a connection. It
//! yields a [`Fixture`]: a store itself, or a value that owns a store together with what
//! must be cleaned up when the test ends (a temporary file, a database schema).
//! The race checks spawn tasks on a multi-threaded runtime and need a `Clone` store whose
//! clones share data.

pub(crate) mod audit;
pub(crate) mod lockout;
pub(crate) mod maintenance;
pub(crate) mod races;
pub(crate) mod sessions;
pub(crate) mod tokens;
pub(crate) mod users;

use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use crate::store::{OneTimeToken, SessionRecord, TokenPurpose, User};
use crate::token::{SecretToken, TokenDigest};

/// The subject of one conformance test: a store, with whatever must outlive it.
pub(crate) trait Fixture {
    /// The store under test.
    type Store;

    /// Returns the store under test.
    fn store(&self) -> &Self::Store;
}

impl Fixture for crate::store::memory::MemoryStore {
    type Store = Self;

    fn store(&self) -> &Self {
        self
    }
}

/// The instant every check starts from.
pub(crate) const T0: OffsetDateTime = datetime!(2025-01-01 0:00 UTC);

/// Returns a user with `email`, created at `created_at`, password hash `"hash-0"`.
pub(crate) fn user(email: &str, created_at: OffsetDateTime) -> User {
    User {
        id: Uuid::new_v4(),
        email: email.to_owned(),
        password_hash: "hash-0".to_owned(),
        email_verified: false,
        created_at,
        password_changed_at: created_at,
    }
}

/// Returns a new random token digest.
pub(crate) fn digest() -> TokenDigest {
    SecretToken::generate().expect("random source").digest()
}

/// Returns a session of `user_id` created and last seen at `created_at`, valid for 24 hours.
pub(crate) fn session(user_id: Uuid, created_at: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        id: Uuid::new_v4(),
        token_digest: digest(),
        user_id,
        created_at,
        last_seen_at: created_at,
        expires_at: created_at + time::Duration::hours(24),
        ip_address: Some("192.0.2.1".parse().expect("address")),
        user_agent: Some("test-agent/1.0".to_owned()),
    }
}

/// Returns an unused one-time token issued at `created_at`, valid for one hour.
pub(crate) fn one_time_token(
    user_id: Uuid,
    purpose: TokenPurpose,
    created_at: OffsetDateTime,
) -> OneTimeToken {
    OneTimeToken {
        digest: digest(),
        user_id,
        purpose,
        created_at,
        expires_at: created_at + time::Duration::hours(1),
        used_at: None,
    }
}

/// Defines one `#[tokio::test]` per conformance check, each on a fresh store built by the
/// given expression.
macro_rules! store_conformance_suite {
    ($store:expr) => {
        $crate::store::conformance::store_conformance_suite!(@current $store;
            users::create_and_find_user,
            users::duplicate_email_conflicts,
            users::email_compared_exactly,
            users::replace_hash_compares_and_swaps,
            users::set_hash_updates_change_time,
            users::mark_email_verified_sets_flag,
            users::list_users_oldest_first_paged,
            users::duplicate_id_conflicts,
            sessions::create_find_and_touch_session,
            sessions::duplicate_session_conflicts,
            sessions::create_evicts_oldest_beyond_max,
            sessions::expired_sessions_not_counted,
            sessions::old_new_record_is_evicted,
            sessions::touch_never_recreates_session,
            sessions::touch_if_stale_writes_once_per_interval,
            sessions::revoke_session_by_digest_and_id,
            sessions::revoke_user_sessions_keeps_one,
            sessions::list_user_sessions_newest_first,
            sessions::purge_expired_sessions_at_boundaries,
            lockout::attempts_counted_until_lock,
            lockout::lock_never_extended,
            lockout::ended_lock_clears_count,
            lockout::clear_lockout_resets_key,
            tokens::consume_token_only_once,
            tokens::consume_checks_purpose_and_expiry,
            tokens::issue_replaces_same_purpose,
            tokens::revoke_user_tokens_by_purpose,
            tokens::purge_expired_and_used_tokens,
            audit::query_newest_first_with_limit,
            audit::query_applies_every_filter,
            audit::every_field_round_trips_as_data,
            audit::equal_times_newest_appended_first
        );
        $crate::store::conformance::store_conformance_suite!(@multi $store;
            races::parallel_signups_one_wins,
            races::parallel_logins_keep_newest,
            races::parallel_consume_one_wins,
            races::parallel_attempts_allow_max,
            races::hash_upgrade_loses_to_change,
            races::parallel_touches_write_once,
            races::cancelled_logins_leave_all_or_nothing,
            maintenance::maintenance_purges_dead_records
        );
    };
    (@current $store:expr; $($module:ident :: $check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let fixture = $store;
                let store = $crate::store::conformance::Fixture::store(&fixture);
                $crate::store::conformance::$module::$check(store).await;
            }
        )*
    };
    (@multi $store:expr; $($module:ident :: $check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let fixture = $store;
                let store = $crate::store::conformance::Fixture::store(&fixture);
                $crate::store::conformance::$module::$check(store).await;
            }
        )*
    };
}

pub(crate) use store_conformance_suite;
