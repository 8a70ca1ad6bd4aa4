//! Start-up code shared by the examples: configuration, bind address, storage, logging and
//! Ctrl-C.

use std::net::SocketAddr;

use amoskys_auth::AuthConfig;
use amoskys_auth::accounts::Stores;
use amoskys_auth::config::{ConfigError, redacted_url};
use amoskys_auth::store::postgres::PostgresStore;
use amoskys_auth::store::sqlite::SqliteStore;
use tokio::net::TcpListener;

/// The address the examples listen on unless `AMOSKYS_BIND` sets another.
pub const DEFAULT_BIND: &str = "127.0.0.1:5000";

/// Sends log output to stdout; `RUST_LOG` sets the filter (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

/// Reads the configuration from the environment. Unlike the library, the examples default
/// to development mode, which serves plain HTTP on localhost, and `AMOSKYS_DEBUG=false`
/// selects production. Links in emails point at the bound address unless
/// `AMOSKYS_PUBLIC_URL` is set.
pub fn config_from_env(bound: SocketAddr) -> Result<AuthConfig, ConfigError> {
    AuthConfig::from_lookup(|name| {
        let value = std::env::var(name).ok();
        match name {
            "AMOSKYS_DEBUG" if value.is_none() => Some("true".to_owned()),
            "AMOSKYS_PUBLIC_URL" if value.is_none() => Some(format!("http://{bound}")),
            _ => value,
        }
    })
}

/// Binds the listener to `AMOSKYS_BIND` (a `HOST:PORT`, where HOST may be a name such as
/// `localhost`), or to [`DEFAULT_BIND`].
pub async fn bind() -> Result<TcpListener, String> {
    let address = std::env::var("AMOSKYS_BIND").unwrap_or_else(|_| DEFAULT_BIND.to_owned());
    TcpListener::bind(&address)
        .await
        .map_err(|error| format!("cannot listen on AMOSKYS_BIND={address:?} (HOST:PORT): {error}"))
}

/// Returns `error` followed by each of its causes, separated by colons.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Prints a start-up error as a sentence and exits with status 1.
pub fn exit_with(error: &dyn std::fmt::Display) -> ! {
    eprintln!("error: {error}");
    std::process::exit(1)
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

/// The database the examples use when `DATABASE_URL` is unset: an SQLite file in the working
/// directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://amoskys-auth.sqlite3";

/// The database the examples opened, closed on shutdown.
pub enum OpenedStore {
    /// An SQLite file.
    Sqlite(SqliteStore),
    /// A PostgreSQL database.
    Postgres(PostgresStore),
}

impl OpenedStore {
    /// Closes the connection pool; on SQLite this also removes the `-wal` and `-shm` files.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(store) => store.close().await,
            Self::Postgres(store) => store.close().await,
        }
    }
}

/// Returns `text` with every secret of `url` replaced: the whole URL, the password of its
/// user information and each query value whose name mentions a password, key or secret.
/// Error messages pass through here, because a driver may quote what it was given.
fn scrubbed(text: &str, url: &str) -> String {
    let mut secrets = vec![url.to_owned()];
    let (_, rest) = url.split_once("://").unwrap_or(("", url));
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    if let Some((userinfo, _)) = before_query.rsplit_once('@') {
        if let Some((_, password)) = userinfo.split_once(':') {
            secrets.push(password.to_owned());
        }
    }
    for pair in query.split(['&', '#']) {
        if let Some((name, value)) = pair.split_once('=') {
            let name = name.to_ascii_lowercase();
            if ["pass", "key", "secret", "token"]
                .iter()
                .any(|word| name.contains(word))
            {
                secrets.push(value.to_owned());
            }
        }
    }
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        text = text.replace(secret.as_str(), "<redacted>");
    }
    text
}

/// Opens the database named by `database_url` (`DATABASE_URL` of the configuration, default
/// [`DEFAULT_DATABASE_URL`]) and applies the migrations: `sqlite://PATH` for an SQLite file,
/// created if missing, or `postgres://USER@HOST:PORT/DB` for PostgreSQL. Logs where the data
/// lives as scheme, host, port and database only, and keeps the URL's secrets out of every
/// error message. Returns the stores and the backend, to close on shutdown.
pub async fn open_stores(database_url: Option<&str>) -> Result<(Stores, OpenedStore), String> {
    let url = database_url.unwrap_or(DEFAULT_DATABASE_URL);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let shown = redacted_url(url);
        let store = PostgresStore::connect(url).await.map_err(|error| {
            format!(
                "cannot connect to PostgreSQL at {shown}: {}",
                scrubbed(&with_causes(&error), url)
            )
        })?;
        store.migrate().await.map_err(|error| {
            format!(
                "cannot migrate PostgreSQL at {shown}: {}",
                scrubbed(&with_causes(&error), url)
            )
        })?;
        tracing::info!("storing data in PostgreSQL at {shown}");
        Ok((Stores::single(store.clone()), OpenedStore::Postgres(store)))
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path.contains(":memory:") || path.starts_with("file:") {
            return Err(format!(
                "DATABASE_URL={url:?} names no database file (an in-memory or unnamed SQLite \
                 database is lost on exit and not shared between connections); use \
                 sqlite://PATH"
            ));
        }
        let shown = std::env::current_dir()
            .map(|dir| dir.join(path).display().to_string())
            .unwrap_or_else(|_| path.to_owned());
        let store = SqliteStore::connect(url).await.map_err(|error| {
            format!(
                "cannot open the SQLite file {shown}: {}",
                with_causes(&error)
            )
        })?;
        store.migrate().await.map_err(|error| {
            format!(
                "cannot migrate the SQLite file {shown}: {}",
                with_causes(&error)
            )
        })?;
        tracing::info!("storing data in the SQLite file {shown}");
        Ok((Stores::single(store.clone()), OpenedStore::Sqlite(store)))
    } else {
        Err("DATABASE_URL must start with sqlite:// or postgres://".to_owned())
    }
}
