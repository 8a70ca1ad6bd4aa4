//! Argon2id password hashing, the password policy and the common-password list.
//!
//! [`PasswordHasher`] hashes and verifies PHC strings (`$argon2id$v=19$m=65536,t=3,p=4$…`) on
//! tokio's blocking threads. A semaphore with `max_concurrent_hashes` permits bounds how many
//! hashes run at once, and each hash holds `argon2.memory_kib` of memory, so a flood of logins
//! cannot exhaust memory. [`PasswordPolicy`] checks new passwords and lists every failed rule.
//!
//! # Unicode normalisation
//!
//! The same visible password can arrive as different code points: macOS input methods may send
//! `n` followed by U+0303 COMBINING TILDE where other systems send the precomposed `ñ`. Every
//! password is therefore converted to Unicode Normalization Form C (NFC) before it is hashed and
//! before the policy counts its characters. NFC was chosen over NFKC because it only merges
//! canonically equivalent sequences: NFKC would also fold compatibility characters (`ﬁ` to
//! `fi`, full-width to ASCII), which shrinks the set of distinct passwords.
//!
//! Hashes stored before normalisation existed were computed from the raw input. When the NFC
//! form does not match and the raw input differs from it, [`PasswordHasher::verify`] also tries
//! the raw form and, on success, sets [`Verification::needs_rehash`] so that the caller stores
//! a hash of the NFC form.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use amoskys_auth::config::PasswordConfig;
//! use amoskys_auth::password::{PasswordHasher, PasswordPolicy};
//!
//! let config = PasswordConfig::default();
//! let policy = PasswordPolicy::new(&config);
//! let hasher = PasswordHasher::new(&config)?;
//!
//! let password = "Tr0ub4dor&3-horse";
//! policy.validate(password).map_err(|rules| rules.join(" "))?;
//! let phc = hasher.hash(password).await?;
//!
//! let verification = hasher.verify(password, &phc).await?;
//! assert!(verification.valid);
//! if verification.needs_rehash {
//!     let _upgraded = hasher.hash(password).await?;
//!     // Store `_upgraded` only if the stored hash is still `phc`.
//! }
//! # Ok(())
//! # }
//! ```

mod common;
mod hasher;
mod policy;
mod stored;

#[cfg(test)]
mod tests;

pub use common::{COMMON_PASSWORDS, is_common_password};
pub use hasher::PasswordHasher;
pub use policy::PasswordPolicy;

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// Whether the password matches the stored hash.
    pub valid: bool,
    /// Whether the caller should store a new hash of the password. Only ever true when `valid`
    /// is true: the stored hash is weaker than the configuration, or it matched only through
    /// the raw, non-normalised form of the password.
    pub needs_rehash: bool,
}

impl Verification {
    /// A failed verification.
    pub const MISMATCH: Self = Self {
        valid: false,
        needs_rehash: false,
    };
}

/// A failure of hashing or verifying.
///
/// None of the variants contains the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The stored hash is not a PHC string of a supported Argon2 variant, or its parameters are
    /// invalid. Callers of [`PasswordHasher::verify`] treat this as a wrong password and log it:
    /// the stored record is corrupt or comes from another hashing scheme.
    #[error("stored password hash is invalid: {source}")]
    InvalidHash {
        /// The parser's error.
        #[source]
        source: argon2::password_hash::Error,
    },
    /// The password is longer than `max_bytes`, so it was not hashed.
    #[error("password is longer than the maximum of {max_bytes} bytes")]
    TooLong {
        /// The configured maximum, in bytes of UTF-8.
        max_bytes: usize,
    },
    /// The operating system's random number generator failed while making a salt.
    #[error("failed to generate a random salt: {source}")]
    Salt {
        /// The generator's error.
        #[source]
        source: getrandom::Error,
    },
    /// Argon2 itself failed, for example because the memory could not be allocated.
    #[error("Argon2 hashing failed: {source}")]
    Hashing {
        /// The Argon2 error.
        #[source]
        source: argon2::password_hash::Error,
    },
    /// The hashing pool was closed with [`PasswordHasher::close`], so no new work is accepted.
    #[error("password hashing pool is closed")]
    PoolClosed {
        /// The semaphore's error.
        #[source]
        source: tokio::sync::AcquireError,
    },
    /// The blocking task that computed the hash panicked or was cancelled at runtime shutdown.
    #[error("password hashing task failed: {source}")]
    TaskFailed {
        /// The task's join error.
        #[source]
        source: tokio::task::JoinError,
    },
}
