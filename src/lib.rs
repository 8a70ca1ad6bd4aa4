//! Security layers and a ready JSON auth API for tower services.
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
