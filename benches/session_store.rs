//! Cost of one session lookup by token digest on each store backend: memory (the baseline),
//! an SQLite file, and PostgreSQL when `DATABASE_URL` names a server.
//!
//! Each store holds 10,000 sessions of 1,000 users, and every lookup hits a different
//! session in turn. Every lookup goes through `Runtime::block_on`, whose cost is part of
//! every figure, the memory baseline included. The `_unchecked` variants use a pool that
//! does not test each connection before handing it out (the default pools do, which costs a
//! round trip but replaces connections broken by a database restart). Run with
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench session_store -- --warm-up-time 1 --measurement-time 4`.
//! The PostgreSQL tables go into a schema of their own, dropped at the end.

use std::hint::black_box;
use std::str::FromStr;

use amoskys_auth::store::memory::MemoryStore;
use amoskys_auth::store::postgres::PostgresStore;
use amoskys_auth::store::sqlite::SqliteStore;
use amoskys_auth::store::{SessionRecord, SessionStore};
use amoskys_auth::token::{SecretToken, TokenDigest};
use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection};
use time::{Duration, OffsetDateTime};
use tokio::runtime::Runtime;
use uuid::Uuid;

const SESSIONS: usize = 10_000;
const USERS: usize = 1_000;

/// Fills `store` with [`SESSIONS`] sessions and returns their digests.
fn fill(runtime: &Runtime, store: &impl SessionStore) -> Vec<TokenDigest> {
    let now = OffsetDateTime::now_utc();
    let users: Vec<Uuid> = (0..USERS).map(|_| Uuid::new_v4()).collect();
    runtime.block_on(async {
        let mut digests = Vec::with_capacity(SESSIONS);
        for index in 0..SESSIONS {
            let digest = SecretToken::generate().expect("random source").digest();
            let record = SessionRecord {
                id: Uuid::new_v4(),
                token_digest: digest,
                user_id: users[index % USERS],
                created_at: now,
                last_seen_at: now,
                expires_at: now + Duration::hours(24),
                ip_address: Some("192.0.2.1".parse().expect("address")),
                user_agent: Some("bench-agent/1.0".to_owned()),
            };
            store
                .create_session(record, 100, now - Duration::hours(2))
                .await
                .expect("insert a session");
            digests.push(digest);
        }
        digests
    })
}

fn lookups(c: &mut Criterion, runtime: &Runtime, name: &str, store: &impl SessionStore) {
    let digests = fill(runtime, store);
    let mut next = 0;
    c.bench_function(&format!("find_session/{name}"), |b| {
        b.iter(|| {
            let digest = &digests[next % digests.len()];
            next += 1;
            let found = runtime.block_on(store.find_session(black_box(digest)));
            black_box(found.expect("lookup").expect("session"))
        });
    });
}

fn session_lookup(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");

    lookups(c, &runtime, "memory", &MemoryStore::new());

    let dir = std::env::temp_dir().join(format!("amoskys-bench-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let sqlite = runtime.block_on(async {
        let store = SqliteStore::open(dir.join("bench.sqlite3"))
            .await
            .expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        store
    });
    lookups(c, &runtime, "sqlite", &sqlite);
    // The same file through a pool that skips its check of each connection before use.
    let unchecked = runtime.block_on(async {
        let options =
            SqliteStore::tune(SqliteConnectOptions::new().filename(dir.join("bench.sqlite3")));
        let pool = SqliteStore::pool_options()
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .expect("open SQLite");
        SqliteStore::from_pool(pool)
    });
    lookups(c, &runtime, "sqlite_unchecked", &unchecked);
    runtime.block_on(unchecked.pool().close());
    runtime.block_on(sqlite.pool().close());
    let _ = std::fs::remove_dir_all(&dir);

    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => postgres(c, &runtime, &url),
        _ => eprintln!("PostgreSQL skipped: DATABASE_URL names no PostgreSQL server"),
    }
}

fn postgres(c: &mut Criterion, runtime: &Runtime, url: &str) {
    let schema = format!("amoskys_bench_{}", Uuid::new_v4().simple());
    let store = runtime.block_on(async {
        let mut admin = PgConnection::connect(url).await.expect("connect");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("create schema");
        let options = PgConnectOptions::from_str(url)
            .expect("DATABASE_URL")
            .options([("search_path", schema.as_str())]);
        let store = PostgresStore::connect_with(options).await.expect("connect");
        store.migrate().await.expect("migrate PostgreSQL");
        store
    });
    lookups(c, runtime, "postgres", &store);
    let unchecked = runtime.block_on(async {
        let options = PgConnectOptions::from_str(url)
            .expect("DATABASE_URL")
            .options([("search_path", schema.as_str())]);
        let pool = PostgresStore::pool_options()
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .expect("connect");
        PostgresStore::from_pool(pool)
    });
    lookups(c, runtime, "postgres_unchecked", &unchecked);
    runtime.block_on(unchecked.pool().close());
    runtime.block_on(async {
        store.pool().close().await;
        let mut admin = PgConnection::connect(url).await.expect("connect");
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut admin)
            .await
            .expect("drop schema");
    });
}

criterion_group!(benches, session_lookup);
criterion_main!(benches);
