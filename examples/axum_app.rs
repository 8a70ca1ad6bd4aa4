//! The whole auth API on axum, with every protection on.
//!
//! ```text
//! cargo run --example axum_app
//! curl -X POST http://127.0.0.1:5000/api/auth/signup -H 'Content-Type: application/json' \
//!      -d '{"email":"test@example.com","password":"SecurePass123!"}'
//! ```
//!
//! Data lives in the SQLite file `amoskys-auth.sqlite3` of the working directory (its path is
//! logged at start-up); `DATABASE_URL=sqlite://PATH` picks another file and
//! `DATABASE_URL=postgres://USER@HOST:PORT/DB` PostgreSQL. Expired sessions and tokens are
//! purged every minute. Settings come from the environment (see
//! `AuthConfig::from_env`); the example starts in development mode unless
//! `AMOSKYS_DEBUG=false`. Your own routes go on the same router, inside `auth.layer()`;
//! handlers find the caller's session in the `CurrentSession` request extension.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use amoskys_auth::Auth;
use amoskys_auth::client_ip::PeerAddr;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use tower::ServiceBuilder;

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

    let app = Router::new().fallback_service(auth.api()).layer(
        ServiceBuilder::new()
            .map_request(record_peer_address)
            .layer(auth.layer()),
    );

    tracing::info!("listening on http://{bound}");
    // NOTE: axum::serve sets no timeout for reading request headers, so a client that never
    // finishes them keeps its connection open. The API's own bodies time out after 10 s;
    // hyper_app shows a header timeout, and a reverse proxy in front applies its own.
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(common::shutdown_signal())
    .await;
    maintenance.abort();
    store.close().await;
    if let Err(error) = served {
        common::exit_with(&error);
    }
    tracing::info!("stopped");
}

/// Hands axum's peer address to the layers, which key rate limits and audit events by it.
fn record_peer_address(mut request: Request) -> Request {
    if let Some(ConnectInfo(addr)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let peer = PeerAddr(*addr);
        request.extensions_mut().insert(peer);
    }
    request
}
