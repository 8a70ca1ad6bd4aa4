//! [`PostgresStore`]: every storage trait on PostgreSQL, for production and for several
//! processes sharing one database.
//!
//! Each change is one statement, or one transaction where several statements must go
//! together. Races are settled by the database: a unique constraint for signups, a per-user
//! advisory lock for the session cap, `INSERT .. ON CONFLICT DO UPDATE .. RETURNING` for the
//! lockout counter and conditional `UPDATE .. RETURNING` for one-time tokens and hash
//! upgrades. Times are `TIMESTAMPTZ`, which keeps microseconds; finer parts are dropped.

mod impls;

#[cfg(test)]
pub(crate) mod tests;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use uuid::Uuid;

use crate::store::StoreError;
use crate::store::sql::{MIGRATIONS_TABLE, Migration, next_pending, store_error};

/// The schema, one migration per file in `migrations/postgres/`, compiled into the crate.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "initial",
    sql: include_str!("../../../migrations/postgres/0001_initial.sql"),
}];

/// How long a caller waits for a pooled connection, including opening a new one, before
/// failing with [`StoreError::Unavailable`]. Short, so that a database that is down turns
/// into quick 503 responses instead of piled-up requests.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one store operation may take, measured by the client, before it fails with
/// [`StoreError::Unavailable`]: a bit more than [`STATEMENT_TIMEOUT`], so that the
/// database's own limit normally ends a slow statement first and this one covers a network
/// or disk that stopped answering.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// The maximum number of connections the pool opens by default.
pub const MAX_CONNECTIONS: u32 = 10;

/// The longest a statement may run, lock waits included, before PostgreSQL cancels it and
/// the store fails with [`StoreError::Unavailable`]. Set on each new connection whose
/// `statement_timeout` is still PostgreSQL's default of 0 (none), so a value from the URL or
/// the server's configuration wins.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Users, sessions, lockouts, one-time tokens and audit events in a PostgreSQL database.
///
/// Clones share one connection pool. Call [`PostgresStore::migrate`] once at start-up to
/// create or update the tables. The tables go into the first schema of the connection's
/// `search_path` (normally `public`); a URL such as
/// `postgres://app@db/app?options=-c%20search_path%3Dauth` selects another existing schema.
///
/// # Examples
///
/// ```no_run
/// use amoskys_auth::accounts::Stores;
/// use amoskys_auth::store::postgres::PostgresStore;
///
/// # async fn run() -> Result<(), amoskys_auth::store::StoreError> {
/// let store = PostgresStore::connect("postgres://app@127.0.0.1:5432/app").await?;
/// store.migrate().await?;
/// let stores = Stores::single(store);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    operation_timeout: Duration,
}

impl PostgresStore {
    /// Connects to the database named by a `postgres://` URL, with [`MAX_CONNECTIONS`]
    /// connections at most and [`ACQUIRE_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for a malformed URL, [`StoreError::Unavailable`] when the
    /// server cannot be reached. Query parameters that sqlx does not know are ignored
    /// without a log line, since their values may be secrets.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // sqlx logs each query parameter it does not know together with its value, which may
        // be a password; parse with logging off so that no part of the URL reaches the logs.
        let options =
            tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::new(), || {
                PgConnectOptions::from_str(url)
            })
            .map_err(store_error)?;
        Self::connect_with(options).await
    }

    /// Connects with the given options and the default pool settings.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the server cannot be reached.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = Self::pool_options()
            .connect_with(options)
            .await
            .map_err(store_error)?;
        Ok(Self::from_pool(pool))
    }

    /// Returns the default pool settings: [`MAX_CONNECTIONS`], [`ACQUIRE_TIMEOUT`],
    /// [`STATEMENT_TIMEOUT`], and a check of each connection before use, so that connections
    /// broken by a database restart are replaced instead of failing requests.
    pub fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(true)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    let milliseconds = STATEMENT_TIMEOUT.as_millis();
                    sqlx::query(&format!(
                        "DO $$ BEGIN IF current_setting('statement_timeout') = '0' THEN \
                         SET statement_timeout = {milliseconds}; END IF; END $$"
                    ))
                    .execute(connection)
                    .await
                    .map(|_| ())
                })
            })
    }

    /// Uses an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            operation_timeout: OPERATION_TIMEOUT,
        }
    }

    /// Sets how long one store operation (a statement, or a transaction with its lock
    /// waits) may take, from the wait for a connection to the last row, before it fails with
    /// [`StoreError::Unavailable`]. Default: [`OPERATION_TIMEOUT`].
    ///
    /// The deadline is kept by the client, so it also ends operations on a connection whose
    /// network stopped answering. A transaction that runs out of time is rolled back, never
    /// half applied. A lone statement, or a commit, that the database already received may
    /// still complete after the caller got the error, as with any lost reply.
    #[must_use]
    pub fn with_operation_timeout(mut self, limit: Duration) -> Self {
        self.operation_timeout = limit;
        self
    }

    /// Returns the deadline of one store operation; see
    /// [`PostgresStore::with_operation_timeout`].
    pub fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }

    /// Returns the connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection of the pool, shared by all clones, after the operations under
    /// way end; later operations fail with [`StoreError::Unavailable`]. Call it on shutdown,
    /// so that the server gets an orderly close instead of broken connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Creates the tables, or brings them up to the schema of this version of the crate.
    ///
    /// Applied migrations are recorded in the table `amoskys_auth_migrations` (version,
    /// description, checksum, time applied) of the first schema of the `search_path`;
    /// running it again changes nothing. Each pending migration runs in one transaction
    /// together with its record, under a transaction-scoped advisory lock on a key of this
    /// crate, so processes that start together take turns and a failed migration leaves
    /// nothing behind. Other tables, such as an application's own `_sqlx_migrations`, are
    /// not touched.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when a migration fails, when an applied migration differs from the
    /// one this version of the crate ships (checksum mismatch), or when the database holds
    /// migrations this version of the crate does not know.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        loop {
            let mut tx = self.pool.begin().await.map_err(store_error)?;
            // Rolled back here rather than on drop, so that no lock outlives the call.
            match Self::apply_next_migration(&mut tx).await {
                Ok(applied) => {
                    tx.commit().await.map_err(store_error)?;
                    if !applied {
                        return Ok(());
                    }
                }
                Err(error) => {
                    let _ = tx.rollback().await;
                    return Err(error);
                }
            }
        }
    }

    /// Within the migration transaction `tx`: creates the migrations table if missing,
    /// checks the applied migrations and applies the next pending one with its record.
    /// Returns whether one was applied.
    async fn apply_next_migration(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    ) -> Result<bool, StoreError> {
        // Processes starting together wait for each other's migrations, which may take
        // longer than the statement timeout of requests. "relation already exists,
        // skipping" stays out of the server's and client's logs.
        sqlx::raw_sql(
            "SET LOCAL statement_timeout = '60s'; SET LOCAL client_min_messages = warning",
        )
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
        // The two-key form, whose keys never meet the one-key locks of session creation.
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(MIGRATION_LOCK.0)
            .bind(MIGRATION_LOCK.1)
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        sqlx::raw_sql(&format!(
            "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (\
             version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             checksum BYTEA NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        ))
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
        let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(&format!(
            "SELECT version, checksum FROM {MIGRATIONS_TABLE} ORDER BY version"
        ))
        .fetch_all(&mut **tx)
        .await
        .map_err(store_error)?;
        let Some(migration) = next_pending(MIGRATIONS, &applied)? else {
            return Ok(false);
        };
        sqlx::raw_sql(migration.sql)
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        sqlx::query(&format!(
            "INSERT INTO {MIGRATIONS_TABLE} (version, description, checksum) \
             VALUES ($1, $2, $3)"
        ))
        .bind(migration.version)
        .bind(migration.description)
        .bind(migration.checksum())
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
        Ok(true)
    }
}

/// The advisory lock that serialises migrations: the keys spell "amos" and "migr".
const MIGRATION_LOCK: (i32, i32) = (0x616d_6f73, 0x6d69_6772);

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

/// The advisory lock key that serialises session creation for one user.
fn advisory_key(user_id: Uuid) -> i64 {
    let (high, low) = user_id.as_u64_pair();
    i64::from_ne_bytes((high ^ low).to_ne_bytes())
}
