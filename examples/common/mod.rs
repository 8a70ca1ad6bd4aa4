//! Start-up code shared by the examples: configuration, bind address, logging and Ctrl-C.

use std::net::SocketAddr;

use amoskys_auth::AuthConfig;
use amoskys_auth::config::ConfigError;
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
