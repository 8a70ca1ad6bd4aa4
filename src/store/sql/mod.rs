//! Code shared by the SQL stores: migrations, error mapping and value conversions.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::error::ErrorKind;

use crate::audit::AuditEventType;
use crate::store::{StoreError, TokenPurpose};
use crate::token::TokenDigest;

/// The table in which both SQL stores record their applied migrations. It is the crate's
/// own, so that an application's sqlx migrations (`_sqlx_migrations`) in the same database
/// or schema are left alone.
pub(crate) const MIGRATIONS_TABLE: &str = "amoskys_auth_migrations";

/// One schema change compiled into the crate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// Its number; migrations run in increasing order.
    pub(crate) version: i64,
    /// A few words on what it does.
    pub(crate) description: &'static str,
    /// The statements, run as one batch.
    pub(crate) sql: &'static str,
}

impl Migration {
    /// Returns the SHA-256 digest of the statements, recorded with the applied migration.
    pub(crate) fn checksum(&self) -> Vec<u8> {
        Sha256::digest(self.sql.as_bytes()).to_vec()
    }
}

/// A mismatch between the recorded migrations and the ones this version of the crate ships.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MigrationError {
    /// An applied migration's statements differ from the ones compiled into the crate.
    #[error(
        "migration {version} ({description}) was applied with other statements than this \
         version of amoskys-auth ships: its checksum in {MIGRATIONS_TABLE} differs"
    )]
    ChecksumMismatch {
        /// The migration's number.
        version: i64,
        /// Its description.
        description: &'static str,
    },
    /// The database records a migration the crate does not know.
    #[error(
        "migration {0} in {MIGRATIONS_TABLE} is unknown to this version of amoskys-auth; \
         the database was migrated by a newer version"
    )]
    Unknown(i64),
}

/// Checks the `(version, checksum)` rows of applied migrations against `migrations` and
/// returns the first migration still to apply, if any.
pub(crate) fn next_pending<'a>(
    migrations: &'a [Migration],
    applied: &[(i64, Vec<u8>)],
) -> Result<Option<&'a Migration>, StoreError> {
    for (version, checksum) in applied {
        let known = migrations
            .iter()
            .find(|migration| migration.version == *version)
            .ok_or_else(|| StoreError::Backend(Box::new(MigrationError::Unknown(*version))))?;
        if known.checksum() != *checksum {
            return Err(StoreError::Backend(Box::new(
                MigrationError::ChecksumMismatch {
                    version: known.version,
                    description: known.description,
                },
            )));
        }
    }
    Ok(migrations.iter().find(|migration| {
        !applied
            .iter()
            .any(|(version, _)| *version == migration.version)
    }))
}

/// Maps a database error to a [`StoreError`]. Unique violations become `Conflict`. Lost or
/// refused connections, pool time-outs, lock time-outs and serialization failures become
/// `Unavailable`, because a retry may succeed. Unreadable rows become `Corrupt`, and the
/// rest `Backend`.
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(database) => {
            if matches!(database.kind(), ErrorKind::UniqueViolation) {
                return StoreError::Conflict;
            }
            if is_transient(database.as_ref()) {
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

/// Returns true for database errors after which the same statement may succeed later.
fn is_transient(error: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = error.code() else {
        return false;
    };
    #[cfg(feature = "sqlite")]
    if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        return sqlite_transient(&code);
    }
    postgres_transient(&code)
}

/// SQLite result codes (extended codes included) 5 `SQLITE_BUSY` and 6 `SQLITE_LOCKED`, but
/// not 10 `SQLITE_IOERR`, which is a disk fault.
#[cfg(feature = "sqlite")]
fn sqlite_transient(code: &str) -> bool {
    // An extended result code keeps the primary code in its low byte.
    code.parse::<u32>()
        .is_ok_and(|number| matches!(number & 0xff, 5 | 6))
}

/// SQLSTATE class 08 (connection exception), 40001 (serialization failure), 40P01
/// (deadlock), class 53 (insufficient resources), 55P03 (lock not available), 57014 (statement
/// timeout or cancel) and 57P01 to 57P03 (server shutting down or starting).
fn postgres_transient(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03"
        )
}

/// The error inside [`StoreError::Unavailable`] when a store operation outlives its deadline.
#[derive(Debug, thiserror::Error)]
#[error("database operation timed out after {0:?}")]
pub(crate) struct DeadlineExceeded(pub(crate) Duration);

/// Runs `operation`, or fails with [`StoreError::Unavailable`] once `limit` has passed. On
/// time-out the operation's future is dropped: a transaction it had open is rolled back
/// (sqlx queues the `ROLLBACK` when the transaction is dropped and sends it before the
/// connection is reused), and a connection lost mid-statement is closed by the pool.
pub(crate) async fn within<T>(
    limit: Duration,
    operation: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, operation)
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable(Box::new(DeadlineExceeded(limit)))))
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

/// The maximum number of tries of one lockout attempt. A retry happens only when another
/// request cleared the lock, or the lock ended, between the counting statement and the read
/// of the lock's end.
pub(crate) const LOCKOUT_RETRIES: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_unavailable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for error in [
            sqlx::Error::Io(refused),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
        ] {
            let mapped = store_error(error);
            assert!(matches!(mapped, StoreError::Unavailable(_)), "{mapped:?}");
        }
    }

    #[test]
    fn unreadable_rows_are_corrupt() {
        let mapped = store_error(sqlx::Error::ColumnNotFound("email".to_owned()));
        assert!(matches!(mapped, StoreError::Corrupt(_)), "{mapped:?}");
        let mapped = store_error(sqlx::Error::RowNotFound);
        assert!(matches!(mapped, StoreError::Backend(_)), "{mapped:?}");
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_busy_and_locked_are_transient() {
        // SQLITE_BUSY (5), SQLITE_LOCKED (6) and the extended SQLITE_BUSY_SNAPSHOT (517).
        for code in ["5", "6", "517"] {
            assert!(sqlite_transient(code), "{code}");
        }
        // SQLITE_CONSTRAINT (19) and SQLITE_IOERR (10).
        for code in ["19", "10"] {
            assert!(!sqlite_transient(code), "{code}");
        }
    }

    #[test]
    fn postgres_connection_classes_are_transient() {
        for code in [
            "08006", "40001", "40P01", "53300", "55P03", "57014", "57P01", "57P03",
        ] {
            assert!(postgres_transient(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02"] {
            assert!(!postgres_transient(code), "{code}");
        }
    }

    #[test]
    fn stored_values_are_checked() {
        assert!(matches!(digest_from(&[0; 31]), Err(StoreError::Corrupt(_))));
        assert_eq!(digest_from(&[7; 32]).unwrap(), TokenDigest([7; 32]));
        assert!(matches!(
            ip_from(Some("not an address".to_owned())),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(purpose_from("admin"), Err(StoreError::Corrupt(_))));
        assert!(matches!(metadata_from("[1]"), Err(StoreError::Corrupt(_))));
        assert_eq!(failures_from(-3), 0);
        assert_eq!(failures_from(i64::MAX), u32::MAX);
    }
}
