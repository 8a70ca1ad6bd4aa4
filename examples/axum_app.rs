//! The whole auth API on axum, with every protection on.
//!
//! ```text
//! cargo run --example axum_app
//! curl -X POST http://127.0.0.1:5000/api/auth/signup -H 'Content-Type: application/json' \
//!      -d '{"email":"test@example.com","password":"SecurePass123!"}'
//! ```
//!
//! Data lives in memory and is lost on exit. Settings come from the environment (see
//! `AuthConfig::from_env`); the example starts in development mode unless
//! `AMOSKYS_DEBUG=false`. Your own routes go on the same router, inside `auth.layer()`;
//! handlers find the caller's session in the `CurrentSession` request extension.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use amoskys_auth::Auth;
use amoskys_auth::accounts::Stores;
use amoskys_auth::client_ip::PeerAddr;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let auth = Auth::new(common::config_from_env()?, Stores::memory())?;
    let maintenance = auth.spawn_maintenance(Duration::from_secs(60));

    let app = Router::new().fallback_service(auth.api()).layer(
        ServiceBuilder::new()
            .map_request(record_peer_address)
            .layer(auth.layer()),
    );

    let listener = tokio::net::TcpListener::bind(common::bind_address()?).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(common::shutdown_signal())
    .await?;
    maintenance.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Hands axum's peer address to the layers, which key rate limits and audit events by it.
fn record_peer_address(mut request: Request) -> Request {
    if let Some(ConnectInfo(addr)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let peer = PeerAddr(*addr);
        request.extensions_mut().insert(peer);
    }
    request
}
