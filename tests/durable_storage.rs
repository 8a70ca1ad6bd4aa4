//! The examples on durable storage. An account, a live session cookie and the audit trail
//! survive a restart on the same SQLite file or PostgreSQL schema. A PostgreSQL outage
//! turns into 503 responses, which end when the database is back.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{ExampleServer, HttpClient, TempDir};
use http::StatusCode;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

const API_KEY: &str = "test-admin-key-0123456789";
const EMAIL: &str = "durable@example.com";
const PASSWORD: &str = "SecurePass123!";

/// Returns the PostgreSQL URL of the environment, or `None` (after saying so) when the
/// PostgreSQL tests are skipped. Panics when `AMOSKYS_TEST_REQUIRE_SERVICES=1` and no URL
/// is set.
fn postgres_url() -> Option<String> {
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

/// A schema of its own in the test database, dropped at the end of the test.
struct Schema {
    admin_url: String,
    name: String,
}

impl Schema {
    async fn create(admin_url: &str) -> Self {
        let name = format!("amoskys_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|error| panic!("cannot reach PostgreSQL at DATABASE_URL: {error}"));
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut admin)
            .await
            .expect("create schema");
        admin.close().await.ok();
        Self {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    /// Returns `url` with this schema as the search path.
    fn url_via(&self, url: &str) -> String {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}options=-c%20search_path%3D{}", self.name)
    }
}

impl Drop for Schema {
    /// Drops the schema from a thread of its own, since `Drop` cannot wait on the test's
    /// runtime; this runs even when the test panicked.
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&url).await?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {dropped:?}", self.name);
        }
    }
}

fn start(database_url: &str) -> (ExampleServer, HttpClient) {
    let server = ExampleServer::start(
        "axum_app",
        &[("DATABASE_URL", database_url), ("AMOSKYS_API_KEY", API_KEY)],
    );
    let client = HttpClient::new(server.base_url());
    (server, client)
}

/// Signs up and logs in; returns the session cookie (`name=value`).
async fn signup_and_login(client: &HttpClient) -> String {
    let credentials = json!({"email": EMAIL, "password": PASSWORD});
    let signup = client
        .post_json("/api/auth/signup", &credentials, &[])
        .await;
    assert_eq!(signup.status, StatusCode::CREATED, "{:?}", signup.body);
    let login = client.post_json("/api/auth/login", &credentials, &[]).await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    let set_cookie = login.set_cookie("amoskys_session").expect("session cookie");
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn audit_types(client: &HttpClient) -> Vec<String> {
    let reply = client
        .get("/api/admin/audit?limit=100", &[("x-api-key", API_KEY)])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.json()["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["event_type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Runs the example, creates an account, a session and audit events, restarts the example
/// on the same database and checks that all three are still there.
async fn state_survives_restart(database_url: &str) {
    let (server, client) = start(database_url);
    let cookie = signup_and_login(&client).await;
    let before = audit_types(&client).await;
    assert!(before.contains(&"SIGNUP".to_owned()), "{before:?}");
    assert!(before.contains(&"LOGIN_SUCCESS".to_owned()), "{before:?}");
    let log = server.log_text();
    assert!(log.contains("storing data in"), "{log}");
    drop(server);

    let (server, client) = start(database_url);
    let me = client.get("/api/auth/me", &[("cookie", &cookie)]).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    assert_eq!(me.json()["user"]["email"], EMAIL);

    let after = audit_types(&client).await;
    assert!(
        after.ends_with(&before),
        "events before the restart are gone: {before:?} then {after:?}"
    );

    let again = client
        .post_json(
            "/api/auth/login",
            &json!({"email": EMAIL, "password": PASSWORD}),
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);

    // The admin filters run in the database: only this user's logins, newest first.
    let user_id = me.json()["user"]["id"].as_str().unwrap().to_owned();
    let logins = client
        .get(
            &format!("/api/admin/audit?event_type=LOGIN_SUCCESS&user_id={user_id}&limit=10"),
            &[("x-api-key", API_KEY)],
        )
        .await;
    assert_eq!(logins.status, StatusCode::OK, "{:?}", logins.body);
    let events = logins.json()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(
        |event| event["event_type"] == "LOGIN_SUCCESS" && event["user_id"] == user_id.as_str()
    ));
    assert!(events[0]["created_at"].as_str() >= events[1]["created_at"].as_str());
    drop(server);
}

#[tokio::test]
async fn two_processes_share_one_sqlite_file() {
    let dir = TempDir::new();
    let url = dir.sqlite_url();
    let (_first, first) = start(&url);
    let (_second, second) = start(&url);

    let credentials = json!({"email": EMAIL, "password": PASSWORD});
    let signup = first.post_json("/api/auth/signup", &credentials, &[]).await;
    assert_eq!(signup.status, StatusCode::CREATED, "{:?}", signup.body);
    let login = second.post_json("/api/auth/login", &credentials, &[]).await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    let set_cookie = login.set_cookie("amoskys_session").expect("session cookie");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    let me = first.get("/api/auth/me", &[("cookie", &cookie)]).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    let logout = first
        .post_json("/api/auth/logout", &json!({}), &[("cookie", &cookie)])
        .await;
    assert_eq!(logout.status, StatusCode::OK, "{:?}", logout.body);
    let me = second.get("/api/auth/me", &[("cookie", &cookie)]).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{:?}", me.body);
}

#[tokio::test]
async fn example_defaults_to_sqlite_file_in_working_directory() {
    let dir = TempDir::new();
    let server = ExampleServer::start_in_dir("axum_app", &dir.0);
    let client = HttpClient::new(server.base_url());
    let signup = client
        .post_json(
            "/api/auth/signup",
            &json!({"email": EMAIL, "password": PASSWORD}),
            &[],
        )
        .await;
    assert_eq!(signup.status, StatusCode::CREATED, "{:?}", signup.body);
    let file = dir.0.join("amoskys-auth.sqlite3");
    assert!(file.exists(), "no database file at {}", file.display());
    let log = server.log_text();
    assert!(
        log.contains(&format!(
            "storing data in the SQLite file {}",
            file.display()
        )),
        "{log}"
    );
}

#[tokio::test]
async fn sqlite_restart_keeps_state() {
    let dir = TempDir::new();
    state_survives_restart(&dir.sqlite_url()).await;
    assert!(dir.0.join("auth.sqlite3").exists());
}

#[tokio::test]
async fn postgres_restart_keeps_state() {
    let Some(url) = postgres_url() else {
        return;
    };
    let schema = Schema::create(&url).await;
    state_survives_restart(&schema.url_via(&url)).await;
}

/// A TCP relay on 127.0.0.1 between the example and PostgreSQL that the test can cut.
struct Relay {
    addr: SocketAddr,
    upstream: SocketAddr,
    open: Arc<AtomicBool>,
    flowing: tokio::sync::watch::Sender<bool>,
    tasks: Arc<Mutex<JoinSet<()>>>,
    acceptor: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let mut relay = Self {
            addr,
            upstream,
            open: Arc::new(AtomicBool::new(true)),
            flowing: tokio::sync::watch::Sender::new(true),
            tasks: Arc::new(Mutex::new(JoinSet::new())),
            acceptor: None,
        };
        relay.accept_on(listener);
        relay
    }

    fn accept_on(&mut self, listener: TcpListener) {
        let (upstream, open, tasks) = (self.upstream, self.open.clone(), self.tasks.clone());
        let flowing = self.flowing.clone();
        self.acceptor = Some(tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !open.load(Ordering::SeqCst) {
                    continue;
                }
                let flowing = flowing.subscribe();
                tasks.lock().await.spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(upstream).await {
                        let (inbound_read, inbound_write) = inbound.into_split();
                        let (outbound_read, outbound_write) = outbound.into_split();
                        tokio::join!(
                            pump(inbound_read, outbound_write, flowing.clone()),
                            pump(outbound_read, inbound_write, flowing),
                        );
                    }
                });
            }
        }));
    }

    /// Closes every relayed connection and refuses new ones, as a database that went down.
    async fn cut(&mut self) {
        self.open.store(false, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
            let _ = acceptor.await;
        }
        self.tasks.lock().await.shutdown().await;
    }

    /// Keeps every connection open but forwards nothing, as a network that stopped
    /// answering.
    fn stall(&self) {
        self.flowing.send_replace(false);
    }

    /// Forwards again what was held back and what comes next.
    fn resume(&self) {
        self.flowing.send_replace(true);
    }

    /// Listens on the same port again.
    async fn restore(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind relay");
        self.open.store(true, Ordering::SeqCst);
        self.accept_on(listener);
    }
}

/// Copies `from` to `to`, holding each chunk while `flowing` is false.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut flowing: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 || flowing.wait_for(|flowing| *flowing).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
        }
    }
}

fn assert_unavailable(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body:?}");
    assert_eq!(
        body["error_code"], "SERVICE_UNAVAILABLE",
        "{what}: {body:?}"
    );
}

// Starting the example blocks its thread, so the relay needs a second worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_gives_503_and_service_recovers() {
    let Some(url) = postgres_url() else {
        return;
    };
    let options = PgConnectOptions::from_str(&url).expect("DATABASE_URL");
    let host = match options.get_host() {
        "localhost" => "127.0.0.1",
        host => host,
    };
    let upstream: SocketAddr = format!("{host}:{}", options.get_port())
        .parse()
        .expect("PostgreSQL on a loopback address");
    assert!(
        upstream.ip().is_loopback(),
        "PostgreSQL must be on loopback"
    );
    let schema = Schema::create(&url).await;
    let mut relay = Relay::start(upstream).await;
    let relayed_url = url.replacen(
        &format!("{}:{}", options.get_host(), options.get_port()),
        &relay.addr.to_string(),
        1,
    );
    assert_ne!(relayed_url, url, "DATABASE_URL must name host and port");

    let (server, client) = start(&schema.url_via(&relayed_url));
    let cookie = signup_and_login(&client).await;

    relay.cut().await;
    let me = client.get("/api/auth/me", &[("cookie", &cookie)]).await;
    assert_unavailable(me.status, &me.json(), "session lookup");
    let login = client
        .post_json(
            "/api/auth/login",
            &json!({"email": "other@example.com", "password": PASSWORD}),
            &[],
        )
        .await;
    assert_unavailable(login.status, &login.json(), "login");
    let log = server.log_text();
    assert!(log.contains("ERROR"), "no error logged: {log}");
    assert!(!log.contains(PASSWORD), "a password was logged");

    relay.restore().await;
    let me = client.get("/api/auth/me", &[("cookie", &cookie)]).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    assert_eq!(me.json()["user"]["email"], EMAIL);

    drop(server);
    relay.cut().await;
}

/// Returns a URL for the database of `url` that carries its user and `password` in the query
/// string, on `port` of the same host.
fn url_with_password_in_query(url: &str, port: u16, password: &str) -> String {
    let options = PgConnectOptions::from_str(url).expect("DATABASE_URL");
    format!(
        "postgres://{}:{port}/{}?user={}&password={password}",
        options.get_host(),
        options.get_database().unwrap_or("postgres"),
        options.get_username(),
    )
}

#[tokio::test]
async fn example_logs_no_postgres_password_of_the_query_string() {
    let Some(url) = postgres_url() else {
        return;
    };
    let options = PgConnectOptions::from_str(&url).expect("DATABASE_URL");
    let schema = Schema::create(&url).await;
    let secret = "hunter2-query-secret";
    let database_url = schema.url_via(&url_with_password_in_query(
        &url,
        options.get_port(),
        secret,
    ));
    let (server, client) = start(&database_url);
    signup_and_login(&client).await;
    let log = server.log_text();
    assert!(log.contains("storing data in PostgreSQL at"), "{log}");
    assert!(!log.contains(secret), "the password was logged: {log}");
    assert!(!log.contains("search_path"), "the query was logged: {log}");
}

#[test]
fn failed_postgres_start_up_shows_no_password() {
    // A port that nothing listens on: bound, then released.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let secret = "hunter2-start-up-secret";
    for database_url in [
        url_with_password_in_query("postgres://postgres@127.0.0.1/test", closed_port, secret),
        format!("postgres://postgres:{secret}@127.0.0.1:{closed_port}/test?sslpassword={secret}"),
    ] {
        let (succeeded, output) =
            ExampleServer::run_to_exit("axum_app", &[("DATABASE_URL", &database_url)]);
        assert!(!succeeded, "started without a database: {output}");
        assert!(
            output.contains("cannot connect to PostgreSQL at postgres://127.0.0.1:"),
            "{output}"
        );
        assert!(!output.contains(secret), "the password was shown: {output}");
    }
}

/// Returns the PostgreSQL address of `url`, which must be on loopback.
fn loopback_upstream(url: &str) -> (PgConnectOptions, SocketAddr) {
    let options = PgConnectOptions::from_str(url).expect("DATABASE_URL");
    let host = match options.get_host() {
        "localhost" => "127.0.0.1",
        host => host,
    };
    let upstream: SocketAddr = format!("{host}:{}", options.get_port())
        .parse()
        .expect("PostgreSQL on a loopback address");
    assert!(
        upstream.ip().is_loopback(),
        "PostgreSQL must be on loopback"
    );
    (options, upstream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_postgres_network_fails_at_the_deadline_and_recovers() {
    use amoskys_auth::store::postgres::PostgresStore;
    use amoskys_auth::store::{StoreError, UserStore};

    let Some(url) = postgres_url() else {
        return;
    };
    let (options, upstream) = loopback_upstream(&url);
    let schema = Schema::create(&url).await;
    let relay = Relay::start(upstream).await;
    let relayed = options
        .host(&relay.addr.ip().to_string())
        .port(relay.addr.port())
        .options([("search_path", schema.name.as_str())]);
    let store = PostgresStore::connect_with(relayed)
        .await
        .expect("connect through the relay")
        .with_operation_timeout(std::time::Duration::from_secs(1));
    store.migrate().await.expect("migrate");
    assert_eq!(store.find_user_by_email(EMAIL).await.unwrap(), None);

    relay.stall();
    // Bounded, so that a missing deadline fails the test instead of hanging it.
    let stalled = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        store.find_user_by_email(EMAIL),
    )
    .await
    .expect("the store kept no deadline");
    match &stalled {
        Err(StoreError::Unavailable(source)) => {
            assert!(source.to_string().contains("timed out after"), "{source}");
        }
        other => panic!("expected a deadline error, got {other:?}"),
    }

    relay.resume();
    assert_eq!(store.find_user_by_email(EMAIL).await.unwrap(), None);
    store.pool().close().await;
}

#[test]
fn sqlite_url_without_a_file_is_rejected() {
    for database_url in ["sqlite://", "sqlite::memory:"] {
        let (succeeded, output) =
            ExampleServer::run_to_exit("axum_app", &[("DATABASE_URL", database_url)]);
        assert!(!succeeded, "{database_url} was accepted: {output}");
        assert!(output.contains("DATABASE_URL"), "{output}");
        assert!(!output.contains("storing data"), "{output}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_leaves_a_private_file_and_no_write_ahead_log() {
    use std::os::unix::fs::PermissionsExt;

    let dir = TempDir::new();
    let (mut server, client) = start(&dir.sqlite_url());
    signup_and_login(&client).await;
    let file = dir.0.join("auth.sqlite3");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "database file mode {:o}", mode & 0o777);
    assert!(server.terminate(), "{}", server.log_text());
    assert!(file.exists());
    for leftover in ["auth.sqlite3-wal", "auth.sqlite3-shm"] {
        assert!(!dir.0.join(leftover).exists(), "{leftover} left behind");
    }
}
