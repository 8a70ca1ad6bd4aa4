//! Code shared by the SQL stores: embedded migrations, error mapping and value conversions.

use std::borrow::Cow;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use serde_json::{Map, Value};
use sqlx::error::{BoxDynError, ErrorKind};
use sqlx::migrate::{Migration, MigrationSource, MigrationType};

use crate::audit::AuditEventType;
use crate::store::{StoreError, TokenPurpose};
use crate::token::TokenDigest;

/// Migrations compiled into the binary: `(version, description, SQL)` in version order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmbeddedMigrations(pub(crate) &'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for EmbeddedMigrations {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Maps a database error to a [`StoreError`]: unique violations to `Conflict`; lost or
/// refused connections, pool time-outs, lock time-outs and serialization failures to
/// `Unavailable`, since a retry may succeed; unreadable rows to `Corrupt`; the rest to
/// `Backend`.
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(database) => {
            if matches!(database.kind(), ErrorKind::UniqueViolation) {
                return StoreError::Conflict;
            }
            if database.code().is_some_and(|code| transient_code(&code)) {
                return StoreError::Unavailable(Box::new(error));
            }
            StoreError::Backend(Box::new(error))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => StoreError::Unavailable(Box::new(error)),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(error.to_string()),
        _ => StoreError::Backend(Box::new(error)),
    }
}

/// Returns true for error codes after which the same statement may succeed later.
///
/// SQLite: 5 `SQLITE_BUSY`, 6 `SQLITE_LOCKED` and their extended codes, 10 `SQLITE_IOERR`
/// is left out (a disk fault). PostgreSQL: class 08 (connection exception), 40001
/// (serialization failure), 40P01 (deadlock), 53 (insufficient resources), 57P01 to 57P03
/// (server shutting down or starting).
fn transient_code(code: &str) -> bool {
    if let Ok(number) = code.parse::<u32>() {
        // SQLite reports its numeric (extended) result codes; the primary code is the low byte.
        return matches!(number & 0xff, 5 | 6);
    }
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "40001" | "40P01" | "57P01" | "57P02" | "57P03")
}

/// Maps a migration failure to a [`StoreError`].
pub(crate) fn migrate_error(error: sqlx::migrate::MigrateError) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::Execute(error) => store_error(error),
        other => StoreError::Backend(Box::new(other)),
    }
}

/// Converts a count or offset to the signed 64-bit integer SQL expects, saturating.
pub(crate) fn sql_count(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Reads a stored token digest.
pub(crate) fn digest_from(bytes: &[u8]) -> Result<TokenDigest, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(TokenDigest)
        .map_err(|_| StoreError::Corrupt(format!("token digest of {} bytes", bytes.len())))
}

/// Reads a stored client address.
pub(crate) fn ip_from(text: Option<String>) -> Result<Option<IpAddr>, StoreError> {
    text.map(|text| {
        text.parse()
            .map_err(|_| StoreError::Corrupt("unreadable client address".to_owned()))
    })
    .transpose()
}

/// Reads a stored token purpose.
pub(crate) fn purpose_from(text: &str) -> Result<TokenPurpose, StoreError> {
    [TokenPurpose::PasswordReset, TokenPurpose::EmailVerification]
        .into_iter()
        .find(|purpose| purpose.as_str() == text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown token purpose {text:?}")))
}

/// Reads a stored audit event type.
pub(crate) fn event_type_from(text: &str) -> Result<AuditEventType, StoreError> {
    text.parse()
        .map_err(|error: crate::audit::UnknownEventType| StoreError::Corrupt(error.to_string()))
}

/// Reads stored audit metadata, a JSON object.
pub(crate) fn metadata_from(text: &str) -> Result<Map<String, Value>, StoreError> {
    serde_json::from_str(text)
        .map_err(|error| StoreError::Corrupt(format!("unreadable audit metadata: {error}")))
}

/// Writes audit metadata as JSON text.
pub(crate) fn metadata_to(metadata: &Map<String, Value>) -> Result<String, StoreError> {
    serde_json::to_string(metadata).map_err(|error| StoreError::Backend(Box::new(error)))
}

/// Converts a stored counter to `u32`, saturating like the in-memory counter.
pub(crate) fn failures_from(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

/// The number of times a lockout attempt is retried when the key changes between the
/// counting statement and the read of an existing lock; each retry means another request
/// cleared or ended the lock in between.
pub(crate) const LOCKOUT_RETRIES: usize = 8;
