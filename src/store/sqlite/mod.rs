//! [`SqliteStore`]: every storage trait on an SQLite file, the embedded default.
//!
//! The database is one file opened in write-ahead-log mode, so several processes on one host
//! may share it. Each change is one statement, or one `BEGIN IMMEDIATE` transaction where
//! several statements must go together. SQLite then takes the write lock before reading, so
//! two writers never interleave. Times are stored as microseconds since the Unix
//! epoch in UTC; finer parts of a time are dropped.

mod impls;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use time::OffsetDateTime;

use crate::store::StoreError;
use crate::store::sql::{MIGRATIONS_TABLE, Migration, next_pending, store_error};

/// The schema, one migration per file in `migrations/sqlite/`, compiled into the crate.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "initial",
    sql: include_str!("../../../migrations/sqlite/0001_initial.sql"),
}];

/// How long a statement waits for another connection's write lock before failing with
/// [`StoreError::Unavailable`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one store operation may take, measured by the client, before it fails with
/// [`StoreError::Unavailable`]: a bit more than the busy timeout ([`BUSY_TIMEOUT`]), so that the
/// database's own limit normally ends a slow statement first and this one covers a network
/// or disk that stopped answering.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a caller waits for a free pooled connection before failing with
/// [`StoreError::Unavailable`].
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Users, sessions, lockouts, one-time tokens and audit events in an SQLite database.
///
/// Clones share one connection pool. Call [`SqliteStore::migrate`] once at start-up to
/// create or update the tables.
///
/// # Examples
///
/// ```no_run
/// use amoskys_auth::accounts::Stores;
/// use amoskys_auth::store::sqlite::SqliteStore;
///
/// # async fn run() -> Result<(), amoskys_auth::store::StoreError> {
/// let store = SqliteStore::open("auth.sqlite3").await?;
/// store.migrate().await?;
/// let stores = Stores::single(store);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    operation_timeout: Duration,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`. A new file is created
    /// readable and writable by its owner only (mode 0600 on Unix), and SQLite gives its
    /// `-wal` and `-shm` files the same mode.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for an empty path, [`StoreError::Unavailable`] when the file
    /// cannot be created or opened, for instance because its directory does not exist (the
    /// message names the path).
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::connect_with(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens the database named by a URL such as `sqlite://auth.sqlite3` (a path relative to
    /// the working directory) or `sqlite:///var/lib/app/auth.sqlite3`, creating the file if
    /// it is missing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for a malformed URL or one that names no file (`sqlite://`,
    /// which would give each pooled connection a temporary database of its own),
    /// [`StoreError::Unavailable`] when the file cannot be created or opened, for instance
    /// because its directory does not exist (the message names the path).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(store_error)?;
        Self::connect_with(options).await
    }

    /// Opens a database with the given options, adding the settings the store relies on:
    /// create if missing, write-ahead log, `synchronous = NORMAL` and [`BUSY_TIMEOUT`].
    ///
    /// A file that does not exist yet is created first with mode 0600 on Unix. In-memory
    /// databases and `file:` URIs are passed to SQLite as they are.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the options name no file, [`StoreError::Unavailable`]
    /// when the file cannot be created or opened (the message names the path).
    pub async fn connect_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        create_private_file(options.get_filename())?;
        let pool = Self::pool_options()
            .connect_with(Self::tune(options))
            .await
            .map_err(store_error)?;
        Ok(Self::from_pool(pool))
    }

    /// Adds the settings the store relies on to `options`: create if missing, write-ahead
    /// log, `synchronous = NORMAL` and [`BUSY_TIMEOUT`]. For pools built by hand.
    pub fn tune(options: SqliteConnectOptions) -> SqliteConnectOptions {
        options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
    }

    /// Returns the default pool settings: 8 connections at most and [`ACQUIRE_TIMEOUT`].
    /// Connections are not pinged before use: a connection to a file cannot break the way a
    /// network connection can, and the ping would double the cost of a lookup.
    pub fn pool_options() -> SqlitePoolOptions {
        SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
    }

    /// Uses an existing pool. Its connections should wait for locks (see
    /// [`SqliteStore::tune`]), or concurrent writers fail with [`StoreError::Unavailable`].
    pub fn from_pool(pool: SqlitePool) -> Self {
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
    /// [`SqliteStore::with_operation_timeout`].
    pub fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }

    /// Returns the connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection of the pool, shared by all clones, after the operations under
    /// way end; later operations fail with [`StoreError::Unavailable`]. Call it on shutdown:
    /// the last connection to close checkpoints the write-ahead log and removes the `-wal`
    /// and `-shm` files.
    pub async fn close(&self) {
        self.pool.close().await;
        // SQLite removes the write-ahead log only when the last connection closes alone;
        // connections closing at the same moment may each see the other still open. One
        // more connection, opened and closed alone, folds the log back and removes it.
        let options = self.pool.connect_options();
        if let Ok(connection) = sqlx::ConnectOptions::connect(&*options).await {
            let _ = sqlx::Connection::close(connection).await;
        }
    }

    /// Creates the tables, or brings them up to the schema of this version of the crate.
    ///
    /// Applied migrations are recorded in the table `amoskys_auth_migrations` (version,
    /// description, checksum, time applied); running it again changes nothing. Each pending
    /// migration runs in one `BEGIN IMMEDIATE` transaction together with its record, so
    /// processes that start together on one new file take turns (waiting up to
    /// [`BUSY_TIMEOUT`] each), and a failed migration leaves nothing behind. Other tables,
    /// such as an application's own `_sqlx_migrations`, are not touched.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when a migration fails, when an applied migration differs from the
    /// one this version of the crate ships (checksum mismatch), or when the database holds
    /// migrations this version of the crate does not know.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        loop {
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(store_error)?;
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
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    ) -> Result<bool, StoreError> {
        sqlx::raw_sql(&format!(
            "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (\
             version INTEGER PRIMARY KEY NOT NULL, description TEXT NOT NULL, \
             checksum BLOB NOT NULL, applied_at INTEGER NOT NULL)"
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
            "INSERT INTO {MIGRATIONS_TABLE} (version, description, checksum, applied_at) \
             VALUES (?1, ?2, ?3, ?4)"
        ))
        .bind(migration.version)
        .bind(migration.description)
        .bind(migration.checksum())
        .bind(micros(OffsetDateTime::now_utc()))
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
        Ok(true)
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

/// Creates the database file at `path` with mode 0600 (on Unix) unless it exists, so that
/// SQLite, which would create it with the process's default mode, finds it private.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let text = path.to_string_lossy();
    if text.is_empty() {
        return Err(StoreError::Backend(
            "no SQLite database file named: an empty path gives each pooled connection a \
             temporary database of its own"
                .into(),
        ));
    }
    if text == ":memory:" || text.starts_with("file:") {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let directory = path
                .parent()
                .map_or_else(String::new, |dir| dir.display().to_string());
            Err(StoreError::Unavailable(
                format!(
                    "cannot create the SQLite file {}: its directory {directory:?} does not exist",
                    path.display()
                )
                .into(),
            ))
        }
        Err(error) => Err(StoreError::Unavailable(
            format!("cannot create the SQLite file {}: {error}", path.display()).into(),
        )),
    }
}

/// Converts a time to stored microseconds since the Unix epoch, rounding down.
fn micros(time: OffsetDateTime) -> i64 {
    // Every `OffsetDateTime` (years -9999 to 9999) fits in 64 bits of microseconds.
    i64::try_from(time.unix_timestamp_nanos().div_euclid(1000)).unwrap_or(i64::MAX)
}

/// Converts stored microseconds back to a time.
fn time_from(micros: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_err(|_| StoreError::Corrupt(format!("time out of range: {micros} µs")))
}
