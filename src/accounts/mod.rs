//! Account flows: signup, login, logout, password reset and change, email verification,
//! lockout and session management.
//!
//! [`AuthService`] is framework-free async Rust: it takes plain values and returns plain values
//! or an [`AuthError`](crate::AuthError), and [`crate::api::AuthApi`] is what turns it into
//! HTTP. Every flow is enumeration-safe:
//!
//! - signup answers the same whether or not the address has an account (the owner gets a
//!   notice by email instead);
//! - login runs exactly one Argon2id verification whether or not the account exists (a dummy
//!   hash with the current parameters stands in for unknown addresses) and gives one error for
//!   a wrong address and a wrong password;
//! - forgot-password answers at once and does the lookup and mailing in the background;
//! - lockout is keyed by the canonical address, so unknown addresses lock exactly like real
//!   ones.

mod email;
mod recovery;
mod service;
mod stores;

pub use email::{EmailError, MAX_EMAIL_BYTES, MAX_LOCAL_PART_BYTES, canonical_email};
pub use service::{AuthService, ClientContext, LoginOutcome, SignupOutcome};
pub use stores::Stores;

#[cfg(test)]
mod tests;
