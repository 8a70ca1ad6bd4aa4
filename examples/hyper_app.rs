//! The whole auth API on bare hyper 1, without a web framework.
//!
//! ```text
//! cargo run --example hyper_app
//! ```
//!
//! The same stack and storage as the axum example (an SQLite file unless `DATABASE_URL` names
//! another database): `auth.layer()` around `auth.api()`, served by
//! hyper's HTTP/1 connection loop. Each connection records its peer address in the request
//! extensions, where the rate limiter, sessions and the audit trail read it.

mod common;

use std::time::Duration;

use amoskys_auth::Auth;
use amoskys_auth::client_ip::PeerAddr;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tower::{Layer, ServiceExt};

#[tokio::main]
async fn main() {
    common::init_logging();
    let listener = common::bind()
        .await
        .unwrap_or_else(|error| common::exit_with(&error));
    let bound = listener
        .local_addr()
        .unwrap_or_else(|error| common::exit_with(&error));
    let config = common::config_from_env(bound).unwrap_or_else(|error| common::exit_with(&error));
    let (stores, store) = common::open_stores(config.database_url.as_deref())
        .await
        .unwrap_or_else(|error| common::exit_with(&error));
    let auth = Auth::new(config, stores).unwrap_or_else(|error| common::exit_with(&error));
    let maintenance = auth.spawn_maintenance(Duration::from_secs(60));
    let stack = auth.layer().layer(auth.api());

    // A client that never finishes its request headers is disconnected after 10 s.
    let mut http = http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));

    tracing::info!("listening on http://{bound}");
    let graceful = GracefulShutdown::new();
    let shutdown = common::shutdown_signal();
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Running out of file descriptors is transient; keep serving.
                    tracing::error!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let stack = stack.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(PeerAddr(peer));
            stack.clone().oneshot(request)
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }

    // Give open connections up to 10 s to finish their requests.
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("connections still open after 10 s, closing them");
        }
    }
    maintenance.abort();
    store.close().await;
    tracing::info!("stopped");
}
