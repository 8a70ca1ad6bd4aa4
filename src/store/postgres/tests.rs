//! Runs the shared store conformance suite against [`PostgresStore`], each test in its own
//! schema of the database named by `DATABASE_URL`.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::PostgresStore;
use crate::store::conformance::{Fixture, store_conformance_suite};

/// Returns the PostgreSQL URL to test against, or `None` (after saying so) when the tests
/// should be skipped. Panics when `AMOSKYS_TEST_REQUIRE_SERVICES=1` and no URL is set.
pub(crate) fn database_url() -> Option<String> {
    let required = std::env::var("AMOSKYS_TEST_REQUIRE_SERVICES").is_ok_and(|value| value == "1");
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Some(url),
        _ if required => {
            panic!("AMOSKYS_TEST_REQUIRE_SERVICES=1 but DATABASE_URL names no PostgreSQL server")
        }
        _ => {
            eprintln!("skipped: DATABASE_URL does not name a PostgreSQL server");
            None
        }
    }
}

/// A migrated store in a new schema, dropped with the fixture.
pub(crate) struct PgSchema {
    store: PostgresStore,
    url: String,
    schema: String,
}

impl PgSchema {
    /// Creates the schema and a store on it, or returns `None` when PostgreSQL tests are
    /// skipped. Panics when the server cannot be reached.
    pub(crate) async fn new() -> Option<Self> {
        let fixture = Self::unmigrated().await?;
        fixture.store.migrate().await.expect("migrate");
        Some(fixture)
    }

    /// Creates an empty schema and a store on it, or returns `None` when PostgreSQL tests
    /// are skipped.
    pub(crate) async fn unmigrated() -> Option<Self> {
        let url = database_url()?;
        let schema = format!("amoskys_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&url)
            .await
            .unwrap_or_else(|error| panic!("cannot reach PostgreSQL at DATABASE_URL: {error}"));
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("create the test schema");
        admin.close().await.ok();

        let options = PgConnectOptions::from_str(&url)
            .expect("DATABASE_URL")
            .options([("search_path", schema.as_str())]);
        let store = PostgresStore::connect_with(options)
            .await
            .expect("connect to PostgreSQL");
        Some(Self { store, url, schema })
    }
}

impl Fixture for PgSchema {
    type Store = PostgresStore;

    fn store(&self) -> &PostgresStore {
        &self.store
    }
}

impl Drop for PgSchema {
    /// Drops the schema from a thread of its own, since `Drop` cannot wait on the test's
    /// runtime; this runs even when the test panicked.
    fn drop(&mut self) {
        let url = self.url.clone();
        let schema = self.schema.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&url).await?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {dropped:?}", self.schema);
        }
    }
}

store_conformance_suite!(match PgSchema::new().await {
    Some(fixture) => fixture,
    None => return,
});

#[tokio::test]
async fn migrate_twice_changes_nothing() {
    let Some(fixture) = PgSchema::new().await else {
        return;
    };
    fixture.store.migrate().await.unwrap();
}

/// A statement stuck behind another connection's lock is cancelled by the statement timeout
/// and reported as unavailable, and the store serves the key once the lock is gone.
#[tokio::test]
async fn statement_timeout_is_unavailable() {
    use crate::store::conformance::T0;
    use crate::store::{LockoutStore, StoreError};

    let Some(fixture) = PgSchema::new().await else {
        return;
    };
    let store = fixture.store();
    let lock_for = time::Duration::minutes(15);
    store
        .begin_attempt("slow@example.com", T0, 5, lock_for)
        .await
        .unwrap();

    let options = PgConnectOptions::from_str(&fixture.url).unwrap().options([
        ("search_path", fixture.schema.as_str()),
        ("statement_timeout", "200"),
    ]);
    let impatient = PostgresStore::connect_with(options).await.unwrap();
    let mut holder = store.pool().begin().await.unwrap();
    sqlx::query("SELECT failures FROM lockouts WHERE key = $1 FOR UPDATE")
        .bind("slow@example.com")
        .execute(&mut *holder)
        .await
        .unwrap();

    let blocked = impatient
        .begin_attempt("slow@example.com", T0, 5, lock_for)
        .await;
    assert!(
        matches!(blocked, Err(StoreError::Unavailable(_))),
        "{blocked:?}"
    );

    holder.rollback().await.unwrap();
    let counted = impatient
        .begin_attempt("slow@example.com", T0, 5, lock_for)
        .await
        .unwrap();
    assert_eq!(
        counted,
        crate::store::AttemptDecision::Allowed {
            attempt: 2,
            locked_now: false
        }
    );
}

/// Connections get the default statement timeout unless one is already set.
#[tokio::test]
async fn default_statement_timeout_applied() {
    let Some(fixture) = PgSchema::new().await else {
        return;
    };
    let timeout: String = sqlx::query_scalar("SELECT current_setting('statement_timeout')")
        .fetch_one(fixture.store().pool())
        .await
        .unwrap();
    assert_eq!(timeout, "5s");
}

#[tokio::test]
async fn audit_table_rejects_changes() {
    use crate::audit::{AuditEvent, AuditEventType};
    use crate::store::AuditStore;
    use crate::store::conformance::T0;

    let Some(fixture) = PgSchema::new().await else {
        return;
    };
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

/// A session creation that runs out of time inside its transaction is rolled back whole,
/// and the pool then serves the same user again.
#[tokio::test]
async fn timed_out_transaction_leaves_no_change() {
    use crate::store::conformance::{T0, session};
    use crate::store::{SessionStore, StoreError};

    let Some(fixture) = PgSchema::new().await else {
        return;
    };
    let store = fixture.store();
    let user_id = uuid::Uuid::new_v4();
    let no_idle = T0 - time::Duration::days(365);
    let older = session(user_id, T0);
    store
        .create_session(older.clone(), 1, no_idle)
        .await
        .unwrap();

    // The new session is inserted, then the eviction of the older one waits for this lock.
    let mut holder = store.pool().begin().await.unwrap();
    sqlx::query("SELECT id FROM sessions WHERE id = $1 FOR UPDATE")
        .bind(older.id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let impatient = store
        .clone()
        .with_operation_timeout(std::time::Duration::from_millis(300));
    let newer = session(user_id, T0 + time::Duration::minutes(1));
    let blocked = impatient.create_session(newer.clone(), 1, no_idle).await;
    match &blocked {
        Err(StoreError::Unavailable(source)) => {
            assert!(source.to_string().contains("timed out after"), "{source}");
        }
        other => panic!("expected a deadline error, got {other:?}"),
    }
    holder.rollback().await.unwrap();

    assert_eq!(store.find_session(&newer.token_digest).await.unwrap(), None);
    assert_eq!(
        store.find_session(&older.token_digest).await.unwrap(),
        Some(older.clone())
    );
    let evicted = impatient
        .create_session(newer.clone(), 1, no_idle)
        .await
        .unwrap();
    assert_eq!(evicted, vec![older]);
}

/// Returns a new store on the schema of `fixture`.
async fn another_store(fixture: &PgSchema) -> PostgresStore {
    let options = PgConnectOptions::from_str(&fixture.url)
        .unwrap()
        .options([("search_path", fixture.schema.as_str())]);
    PostgresStore::connect_with(options).await.unwrap()
}

#[tokio::test]
async fn concurrent_migrations_of_a_new_schema_all_succeed() {
    let Some(fixture) = PgSchema::unmigrated().await else {
        return;
    };
    let second = another_store(&fixture).await;
    let third = another_store(&fixture).await;
    let outcome = tokio::join!(fixture.store.migrate(), second.migrate(), third.migrate());
    assert!(
        outcome.0.is_ok() && outcome.1.is_ok() && outcome.2.is_ok(),
        "{outcome:?}"
    );
    let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM amoskys_auth_migrations")
        .fetch_one(fixture.store.pool())
        .await
        .unwrap();
    assert_eq!(recorded, 1);
}

#[tokio::test]
async fn application_sqlx_migrations_are_left_alone() {
    let Some(fixture) = PgSchema::unmigrated().await else {
        return;
    };
    sqlx::raw_sql(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, \
         checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL); \
         INSERT INTO _sqlx_migrations VALUES (20240101000000, 'app', now(), true, '\\x00', 1)",
    )
    .execute(fixture.store.pool())
    .await
    .unwrap();
    fixture.store.migrate().await.unwrap();
    fixture.store.migrate().await.unwrap();
    let foreign: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, description FROM _sqlx_migrations")
            .fetch_all(fixture.store.pool())
            .await
            .unwrap();
    assert_eq!(foreign, vec![(20240101000000, "app".to_owned())]);
}

#[tokio::test]
async fn changed_applied_migration_is_a_clear_error() {
    let Some(fixture) = PgSchema::new().await else {
        return;
    };
    sqlx::query("UPDATE amoskys_auth_migrations SET checksum = '\\x00' WHERE version = 1")
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
