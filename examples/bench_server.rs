//! A one-core axum server for measuring what the layers cost on the request path.
//!
//! ```text
//! cargo build --release --example bench_server
//! target/release/examples/bench_server MODE      # MODE: bare, headers, headers_rate, full
//! wrk -t1 -c32 -d10s http://127.0.0.1:5001/
//! ```
//!
//! Every mode serves `GET /` with the same short static body and records the peer address
//! into [`PeerAddr`], so the modes differ only in their layers:
//!
//! - `bare`: no layers;
//! - `headers`: [`SecurityHeadersLayer`];
//! - `headers_rate`: [`SecurityHeadersLayer`] and [`RateLimitLayer`];
//! - `full`: the whole [`Auth::layer`] stack. At start-up the server signs a user up, logs
//!   them in and prints the session cookie as one `NAME=VALUE` line on stdout, for the load
//!   generator's `Cookie` header, so every request runs a session lookup.
//!
//! Rate limits are raised to 10^9 requests per second so the load generator is never
//! limited. `AMOSKYS_BIND` sets the address (default `127.0.0.1:5001`). The configuration is
//! development mode with `assume_https` set, so all six security headers, HSTS included, go
//! out over plain HTTP. No log subscriber is installed, so logging costs the same in every
//! mode. The printed cookie is a live session secret: this server is for loopback
//! benchmarks only.

use std::net::SocketAddr;
use std::num::NonZeroU32;

use amoskys_auth::accounts::{ClientContext, Stores};
use amoskys_auth::client_ip::PeerAddr;
use amoskys_auth::config::RateQuota;
use amoskys_auth::headers::SecurityHeadersLayer;
use amoskys_auth::rate_limit::RateLimitLayer;
use amoskys_auth::{Auth, AuthConfig};
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::routing::get;
use tower::ServiceBuilder;

const DEFAULT_BIND: &str = "127.0.0.1:5001";
const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "Bench-Passw0rd!";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let config = bench_config();
    let routes = Router::new().route("/", get(hello));
    // One `Router::layer` call per mode, because each call adds a boxed service clone and a
    // boxed future to every request. The peer-address step runs first, so every layer can
    // read the address.
    let peer = ServiceBuilder::new().map_request(record_peer_address);

    let app = match mode.as_str() {
        "bare" => routes.layer(peer),
        "headers" => routes.layer(peer.layer(SecurityHeadersLayer::new(&config.headers)?)),
        "headers_rate" => routes.layer(
            peer.layer(SecurityHeadersLayer::new(&config.headers)?)
                .layer(RateLimitLayer::new(&config.rate_limit)?),
        ),
        "full" => {
            let auth = Auth::new(config, Stores::memory())?;
            println!("{}", session_cookie(&auth).await?);
            routes.layer(peer.layer(auth.layer()))
        }
        _ => {
            return Err(format!(
                "unknown mode {mode:?}: expected bare, headers, headers_rate or full"
            )
            .into());
        }
    };

    let bind = std::env::var("AMOSKYS_BIND").unwrap_or_else(|_| DEFAULT_BIND.to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!("{mode}: listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

/// Returns the development configuration with HSTS on and quotas no benchmark reaches.
fn bench_config() -> AuthConfig {
    let mut config = AuthConfig::development();
    config.headers.assume_https = true;
    let unlimited = RateQuota::per_second(NonZeroU32::new(1_000_000_000).expect("nonzero"));
    config.rate_limit.default_quotas = vec![unlimited];
    config
}

/// Signs up and logs in the benchmark user, and returns the session cookie as `NAME=VALUE`.
async fn session_cookie(auth: &Auth) -> Result<String, amoskys_auth::AuthError> {
    let service = auth.service();
    let client = ClientContext::default();
    service.signup(EMAIL, PASSWORD, &client).await?;
    let login = service.login(EMAIL, PASSWORD, &client).await?;
    let name = &service.config().session.cookie_name;
    Ok(format!("{name}={}", login.token.expose()))
}

async fn hello() -> &'static str {
    "Hello, World!"
}

/// Hands axum's peer address to the layers, which key rate limits by it.
fn record_peer_address(mut request: Request) -> Request {
    if let Some(ConnectInfo(addr)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let peer = PeerAddr(*addr);
        request.extensions_mut().insert(peer);
    }
    request
}
