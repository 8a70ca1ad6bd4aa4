//! Runs the shared store conformance suite against [`SqliteStore`] on temporary files.

use std::path::PathBuf;

use super::SqliteStore;
use crate::store::conformance::{Fixture, store_conformance_suite};

/// A migrated store on a new database file in its own temporary directory, removed with
/// the fixture.
pub(crate) struct TempSqlite {
    store: SqliteStore,
    dir: PathBuf,
}

impl TempSqlite {
    pub(crate) async fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("amoskys-sqlite-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let store = SqliteStore::open(dir.join("auth.sqlite3"))
            .await
            .expect("open the database file");
        store.migrate().await.expect("migrate");
        Self { store, dir }
    }
}

impl Fixture for TempSqlite {
    type Store = SqliteStore;

    fn store(&self) -> &SqliteStore {
        &self.store
    }
}

impl Drop for TempSqlite {
    fn drop(&mut self) {
        // Open connections keep their file handles; removing the names is enough on Unix.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

store_conformance_suite!(TempSqlite::new().await);

#[tokio::test]
async fn migrate_twice_changes_nothing() {
    let fixture = TempSqlite::new().await;
    fixture.store.migrate().await.unwrap();
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    use crate::store::conformance::{T0, session, user};
    use crate::store::{SessionStore, UserStore};

    let fixture = TempSqlite::new().await;
    let alice = user("alice@example.com", T0);
    let record = session(alice.id, T0);
    fixture.store.create_user(alice.clone()).await.unwrap();
    fixture
        .store
        .create_session(record.clone(), 10, T0 - time::Duration::hours(1))
        .await
        .unwrap();
    fixture.store.pool().close().await;

    let reopened = SqliteStore::open(fixture.dir.join("auth.sqlite3"))
        .await
        .unwrap();
    reopened.migrate().await.unwrap();
    assert_eq!(
        reopened.find_user_by_email(&alice.email).await.unwrap(),
        Some(alice)
    );
    assert_eq!(
        reopened.find_session(&record.token_digest).await.unwrap(),
        Some(record)
    );
}

/// A write that waits past the busy timeout for another connection's write lock is reported
/// as unavailable, and succeeds once the lock is released.
#[tokio::test]
async fn busy_database_is_unavailable() {
    use sqlx::sqlite::SqliteConnectOptions;

    use crate::store::conformance::{T0, user};
    use crate::store::{StoreError, UserStore};

    let fixture = TempSqlite::new().await;
    let options =
        SqliteStore::tune(SqliteConnectOptions::new().filename(fixture.dir.join("auth.sqlite3")))
            .busy_timeout(std::time::Duration::from_millis(100));
    let pool = SqliteStore::pool_options()
        .connect_with(options)
        .await
        .unwrap();
    let impatient = SqliteStore::from_pool(pool);

    let holder = fixture
        .store
        .pool()
        .begin_with("BEGIN IMMEDIATE")
        .await
        .unwrap();
    let blocked = impatient.create_user(user("busy@example.com", T0)).await;
    assert!(
        matches!(blocked, Err(StoreError::Unavailable(_))),
        "{blocked:?}"
    );

    holder.rollback().await.unwrap();
    impatient
        .create_user(user("busy@example.com", T0))
        .await
        .unwrap();
}

#[tokio::test]
async fn audit_table_rejects_changes() {
    use crate::audit::{AuditEvent, AuditEventType};
    use crate::store::AuditStore;
    use crate::store::conformance::T0;

    let fixture = TempSqlite::new().await;
    let event = AuditEvent::new(AuditEventType::Signup, T0);
    fixture.store.append_event(event).await.unwrap();
    for statement in [
        "UPDATE audit_events SET event_type = 'LOGIN_SUCCESS'",
        "DELETE FROM audit_events",
    ] {
        let result = sqlx::query(statement).execute(fixture.store.pool()).await;
        assert!(result.is_err(), "{statement} was allowed");
    }
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE event_type = 'SIGNUP'")
            .fetch_one(fixture.store.pool())
            .await
            .unwrap();
    assert_eq!(count, 1);
}

/// An operation stuck behind another process's write lock fails at the store's deadline,
/// before the busy timeout, leaves nothing behind, and the store works once the lock is gone.
#[tokio::test]
async fn operation_deadline_is_unavailable_and_leaves_no_change() {
    use crate::store::conformance::{T0, session};
    use crate::store::{SessionStore, StoreError};

    let fixture = TempSqlite::new().await;
    let other = SqliteStore::open(fixture.dir.join("auth.sqlite3"))
        .await
        .unwrap();
    let mut holder = other.pool().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .unwrap();

    let impatient = fixture
        .store
        .clone()
        .with_operation_timeout(std::time::Duration::from_millis(300));
    let record = session(uuid::Uuid::new_v4(), T0);
    let no_idle = T0 - time::Duration::days(365);
    let blocked = impatient.create_session(record.clone(), 10, no_idle).await;
    match &blocked {
        Err(StoreError::Unavailable(source)) => {
            assert!(source.to_string().contains("timed out after"), "{source}");
        }
        other => panic!("expected a deadline error, got {other:?}"),
    }
    sqlx::query("ROLLBACK").execute(&mut *holder).await.unwrap();
    drop(holder);

    // A session left behind by the timed-out call would make this one a conflict.
    impatient
        .create_session(record.clone(), 10, no_idle)
        .await
        .unwrap();
    assert_eq!(
        impatient.find_session(&record.token_digest).await.unwrap(),
        Some(record)
    );
}

/// A new directory for a database file that no test has opened yet.
fn new_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("amoskys-sqlite-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

#[tokio::test]
async fn concurrent_migrations_of_a_new_file_all_succeed() {
    let dir = new_dir();
    let path = dir.join("auth.sqlite3");
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(SqliteStore::open(&path).await.unwrap());
    }
    let (first, second, third) = tokio::join!(
        stores[0].migrate(),
        stores[1].migrate(),
        stores[2].migrate()
    );
    let outcome = (first, second, third);
    assert!(
        outcome.0.is_ok() && outcome.1.is_ok() && outcome.2.is_ok(),
        "{outcome:?}"
    );
    let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM amoskys_auth_migrations")
        .fetch_one(stores[0].pool())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(recorded, 1);
}

#[tokio::test]
async fn application_sqlx_migrations_are_left_alone() {
    let dir = new_dir();
    let store = SqliteStore::open(dir.join("auth.sqlite3")).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
         checksum BLOB NOT NULL, execution_time BIGINT NOT NULL); \
         INSERT INTO _sqlx_migrations VALUES (20240101000000, 'app', '2024-01-01', 1, x'00', 1)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let migrated = store.migrate().await;
    let foreign: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, description FROM _sqlx_migrations")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    migrated.unwrap();
    assert_eq!(foreign, vec![(20240101000000, "app".to_owned())]);
}

#[tokio::test]
async fn changed_applied_migration_is_a_clear_error() {
    let fixture = TempSqlite::new().await;
    sqlx::query("UPDATE amoskys_auth_migrations SET checksum = x'00' WHERE version = 1")
        .execute(fixture.store.pool())
        .await
        .unwrap();
    let error = fixture.store.migrate().await.unwrap_err();
    let text = std::error::Error::source(&error)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(text.contains("migration 1 (initial)"), "{text}");
    assert!(text.contains("checksum"), "{text}");
}

/// Returns the error and its causes as one text.
fn error_text(error: &crate::store::StoreError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(unix)]
#[tokio::test]
async fn new_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let fixture = TempSqlite::new().await;
    for name in ["auth.sqlite3", "auth.sqlite3-wal", "auth.sqlite3-shm"] {
        let mode = std::fs::metadata(fixture.dir.join(name))
            .unwrap_or_else(|error| panic!("{name}: {error}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} has mode {:o}", mode & 0o777);
    }
}

#[tokio::test]
async fn missing_directory_is_unavailable_and_named() {
    let dir = std::env::temp_dir().join(format!("amoskys-missing-{}", uuid::Uuid::new_v4()));
    let error = SqliteStore::open(dir.join("auth.sqlite3"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, crate::store::StoreError::Unavailable(_)),
        "{error:?}"
    );
    let text = error_text(&error);
    assert!(text.contains("does not exist"), "{text}");
    assert!(text.contains(&dir.display().to_string()), "{text}");
}

#[tokio::test]
async fn url_without_a_path_is_rejected() {
    let error = SqliteStore::connect("sqlite://").await.unwrap_err();
    assert!(
        matches!(error, crate::store::StoreError::Backend(_)),
        "{error:?}"
    );
    assert!(
        error_text(&error).contains("no SQLite database file"),
        "{error:?}"
    );
}

#[tokio::test]
async fn close_removes_the_write_ahead_log() {
    let fixture = TempSqlite::new().await;
    assert!(fixture.dir.join("auth.sqlite3-wal").exists());
    fixture.store.close().await;
    assert!(!fixture.dir.join("auth.sqlite3-wal").exists());
    assert!(!fixture.dir.join("auth.sqlite3-shm").exists());
}
