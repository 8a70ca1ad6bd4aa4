//! Account flows: signup, login, logout, password reset and change, email verification,
//! lockout and session management.
//!
//! [`AuthService`] is framework-free async Rust: it takes plain values and returns plain values
//! or an [`AuthError`](crate::AuthError), and [`crate::api::AuthApi`] is what turns it into
//! HTTP. Every flow is enumeration-safe:
//!
//! - signup responds the same whether or not the address has an account (the owner gets a
//!   notice by email instead);
//! - login runs exactly one Argon2id verification whether or not the account exists (a dummy
//!   hash with the current parameters stands in for unknown addresses) and gives one error for
//!   a wrong address and a wrong password;
//! - forgot-password answers at once and does the lookup and mailing in the background;
//! - lockout is keyed by the canonical address, so unknown addresses lock exactly like real
//!   ones.
//!
//! # Cancellation
//!
//! A flow that writes (signup, login, logout, the password and token flows, session
//! revocation) runs on a Tokio task of its own, and the returned future only waits for it.
//! Dropping that future, as a server does when the client disconnects, therefore never stops a
//! flow between two of its writes: a reset token is never used up without the new password,
//! and a counted login attempt always gets its audit event and its verdict. Call these methods
//! from inside a Tokio runtime.
//!
//! # Lockout
//!
//! Each login attempt is counted atomically *before* its password is verified, so with the
//! default of 5, at most 5 verifications run for one address however many requests arrive at
//! once; the fifth failure locks the address for 15 minutes. While locked, logins answer 429
//! `ACCOUNT_LOCKED` with `retry_after`, even with the right password, and run no Argon2 work:
//! the answer already states the lock, and it is the same for addresses without an account,
//! so skipping the hash reveals nothing and spares the CPU. Failures during a lock do not
//! extend it, and a lock always ends on its own, so a trickle of bad guesses can keep an
//! account locked at most for the lock time after the attacker's last burst. The attacker's
//! address meanwhile runs into the per-client login rate limit. Checks of the current password
//! during a password change count against the same lockout, so a stolen session cannot be used
//! to guess the password either.
//!
//! NOTE: the counter is per address only, so someone who knows an address can lock it again
//! each time a lock ends (five guesses per 15 minutes). Counting per address and client, with
//! a higher ceiling per address, would keep the owner able to log in; it is not built yet.
//!
//! A successful login, password
//! reset or administrator call to
//! [`LockoutStore::clear_lockout`](crate::store::LockoutStore::clear_lockout) clears the count.
//!
//! # Sessions after password changes
//!
//! A password reset revokes every session of the user. A password change revokes every other
//! session and keeps the one that made the change. Both void outstanding reset links, and a
//! reset link issued before the password last changed is rejected. Issuing a new reset link
//! voids the older ones.

mod email;
mod recovery;
mod service;
mod stores;
mod task;

pub use email::{EmailError, MAX_EMAIL_BYTES, MAX_LOCAL_PART_BYTES, canonical_email};
pub use service::{AuthService, ClientContext, LoginOutcome, SignupOutcome};
pub use stores::Stores;

#[cfg(test)]
mod tests;
