//! Security layers and a ready JSON auth API for tower services.
//!
//! `amoskys-auth` gives any tower-based HTTP service (axum, hyper, anything tower) security
//! headers, rate limiting, server-side sessions, CSRF checks, API-key auth, Argon2id
//! passwords with a policy and a common-password list, account lockout, enumeration-safe
//! signup, login and password reset, and an audit trail. Every protection is on by default:
//! [`AuthConfig::default`] is the production configuration, and weakening it takes an explicit
//! setting.
//!
//! # Quick start
//!
//! ```no_run
//! use std::net::SocketAddr;
//!
//! use amoskys_auth::{Auth, AuthConfig, accounts::Stores, client_ip::PeerAddr};
//! use axum::{Router, extract::{ConnectInfo, Request}};
//! use tower::ServiceBuilder;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Auth::new(AuthConfig::from_env()?, Stores::memory())?;
//! auth.spawn_maintenance(std::time::Duration::from_secs(60));
//!
//! let app = Router::new()
//!     .fallback_service(auth.api())
//!     .layer(
//!         ServiceBuilder::new()
//!             .map_request(|mut request: Request| {
//!                 if let Some(ConnectInfo(addr)) =
//!                     request.extensions().get::<ConnectInfo<SocketAddr>>().copied()
//!                 {
//!                     request.extensions_mut().insert(PeerAddr(addr));
//!                 }
//!                 request
//!             })
//!             .layer(auth.layer()),
//!     );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # What is where
//!
//! | module | contents |
//! |---|---|
//! | [`config`] | [`AuthConfig`], every default as a named constant, environment variables |
//! | [`error`] | [`AuthError`] and its JSON body with a stable `error_code` |
//! | [`headers`] | [`SecurityHeadersLayer`](headers::SecurityHeadersLayer): CSP, HSTS over HTTPS only, HTTPS redirect |
//! | [`rate_limit`] | [`RateLimitLayer`](rate_limit::RateLimitLayer): per-client GCRA quotas per route |
//! | [`csrf`] | [`CsrfLayer`](csrf::CsrfLayer): `Sec-Fetch-Site`, `Origin` and `Referer` checks |
//! | [`session`] | [`SessionLayer`](session::SessionLayer): cookie sessions stored as SHA-256 digests |
//! | [`api_key`] | [`ApiKeyLayer`](api_key::ApiKeyLayer): `X-API-Key` checked in constant time |
//! | [`password`] | Argon2id hashing pool, policy, common-password list |
//! | [`accounts`] | [`AuthService`](accounts::AuthService): the account flows, free of HTTP types |
//! | [`api`] | [`AuthApi`](api::AuthApi): the JSON endpoints as a tower service |
//! | [`store`] | storage traits and their memory, SQLite (`sqlite` feature) and PostgreSQL (`postgres` feature) implementations |
//! | [`audit`], [`mail`] | audit events and queries; the mailer trait |
//!
//! # Cargo features
//!
//! | feature | default | effect |
//! |---|---|---|
//! | `axum` | off | the layers also read axum's `ConnectInfo<SocketAddr>` as the peer address |
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod accounts;
pub mod api;
pub mod api_key;
pub mod audit;
mod auth;
pub mod body;
pub mod client_ip;
pub mod clock;
pub mod config;
mod config_env;
pub mod csrf;
pub mod error;
pub mod future;
pub mod headers;
pub mod mail;
pub mod password;
pub mod rate_limit;
pub mod session;
pub mod store;
pub mod token;

pub use crate::auth::{Auth, AuthLayer};
pub use crate::config::AuthConfig;
pub use crate::error::AuthError;
