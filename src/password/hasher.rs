//! [`PasswordHasher`]: Argon2id on tokio's blocking threads, bounded by a semaphore.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use argon2::password_hash::{Error as HashError, phc::Output};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OnceCell, Semaphore};

use super::policy::normalize;
use super::stored::{StoredHash, TargetParams};
use super::{PasswordError, Verification};
use crate::config::{ConfigError, PasswordConfig};

/// Largest salt a PHC string can carry, in bytes.
const MAX_SALT_LEN: usize = argon2::password_hash::phc::Salt::MAX_LENGTH;
/// Smallest salt a PHC string can carry, in bytes.
const MIN_SALT_LEN: usize = argon2::password_hash::phc::Salt::MIN_LENGTH;

/// The password behind the dummy hash. Its value does not matter: the result of a dummy
/// verification is always discarded.
const DUMMY_PASSWORD: &str = "dummy password for accounts that do not exist";

/// Hashes and verifies passwords with Argon2id.
///
/// Cloning is cheap: clones share one semaphore and one dummy hash. Every method that hashes
/// must be called inside a tokio runtime, because the work runs on
/// [`tokio::task::spawn_blocking`].
///
/// # Memory bound
///
/// At most `max_concurrent_hashes` hashes run at once. A hash keeps its permit until Argon2
/// returns, even when the request that started it is cancelled, so memory stays below
/// `max_concurrent_hashes × argon2.memory_kib` for hashes at the configured parameters. A
/// stored hash with a higher memory cost uses that higher cost while it is verified.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    target: TargetParams,
    max_bytes: usize,
    permits: Arc<Semaphore>,
    dummy: OnceCell<Dummy>,
}

/// The hash that unknown accounts are verified against.
struct Dummy {
    #[cfg(test)]
    phc: String,
    stored: StoredHash,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.target.params)
            .field("salt_len", &self.inner.target.salt_len)
            .field("max_bytes", &self.inner.max_bytes)
            .field("available_permits", &self.inner.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// Creates a hasher with the Argon2id parameters, salt length, maximum password length and
    /// concurrency bound of `config`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] when Argon2 rejects the parameters, when the output length is
    /// outside 10 to 64 bytes or the salt length outside 8 to 48 bytes (the limits of the PHC
    /// string format), or when `max_concurrent_hashes` is 0.
    pub fn new(config: &PasswordConfig) -> Result<Self, ConfigError> {
        let argon2 = &config.argon2;
        let params = Params::new(
            argon2.memory_kib,
            argon2.time_cost,
            argon2.parallelism,
            Some(argon2.hash_len),
        )
        .map_err(|error| invalid("password.argon2", error.to_string()))?;
        if !(Output::MIN_LENGTH..=Output::MAX_LENGTH).contains(&argon2.hash_len) {
            return Err(invalid(
                "password.argon2.hash_len",
                format!(
                    "must be {} to {} bytes for a PHC string",
                    Output::MIN_LENGTH,
                    Output::MAX_LENGTH
                ),
            ));
        }
        if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&argon2.salt_len) {
            return Err(invalid(
                "password.argon2.salt_len",
                format!("must be {MIN_SALT_LEN} to {MAX_SALT_LEN} bytes for a PHC string"),
            ));
        }
        if config.max_concurrent_hashes == 0 {
            return Err(invalid(
                "password.max_concurrent_hashes",
                "must be at least 1",
            ));
        }
        let permits = config.max_concurrent_hashes.min(Semaphore::MAX_PERMITS);
        Ok(Self {
            inner: Arc::new(Inner {
                target: TargetParams {
                    params,
                    salt_len: argon2.salt_len,
                },
                max_bytes: config.max_bytes,
                permits: Arc::new(Semaphore::new(permits)),
                dummy: OnceCell::new(),
            }),
        })
    }

    /// Hashes the NFC form of `password` with a new random salt and returns the PHC string,
    /// such as `$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>`.
    ///
    /// # Errors
    ///
    /// [`PasswordError::TooLong`] for a password over `max_bytes` (nothing is hashed),
    /// [`PasswordError::Salt`] when the random number generator fails, and the pool errors
    /// [`PasswordError::PoolClosed`] and [`PasswordError::TaskFailed`].
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        self.check_length(password)?;
        let mut salt = vec![0u8; self.inner.target.salt_len];
        getrandom::fill(&mut salt).map_err(|source| PasswordError::Salt { source })?;
        let password = normalize(password).into_owned();
        let params = self.inner.target.params.clone();
        self.run_blocking(move || {
            use argon2::PasswordHasher as _;
            let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            argon2
                .hash_password_with_salt(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|source| PasswordError::Hashing { source })
        })
        .await?
    }

    /// Checks `password` against the stored PHC string `phc`.
    ///
    /// The NFC form of the password is tried first. If it does not match and the raw input is
    /// not in NFC, the raw form is tried too, because hashes stored before passwords were
    /// normalised were computed from it. A match of the raw form sets `needs_rehash`. Both
    /// attempts run under one permit. A password over `max_bytes` is a mismatch and is not
    /// hashed.
    ///
    /// # Errors
    ///
    /// [`PasswordError::InvalidHash`] when `phc` cannot be parsed: treat it as a mismatch and
    /// log it. A dummy verification runs first, so a corrupt record costs the same time as a
    /// wrong password. Also the pool errors [`PasswordError::PoolClosed`] and
    /// [`PasswordError::TaskFailed`], and [`PasswordError::Hashing`].
    pub async fn verify(&self, password: &str, phc: &str) -> Result<Verification, PasswordError> {
        if self.exceeds_max_length(password) {
            return Ok(Verification::MISMATCH);
        }
        let stored = match StoredHash::parse(phc) {
            Ok(stored) => stored,
            Err(source) => {
                self.verify_dummy(password).await?;
                return Err(PasswordError::InvalidHash { source });
            }
        };
        let needs_rehash = stored.needs_rehash(&self.inner.target);
        self.verify_stored(password, stored, needs_rehash).await
    }

    /// Runs the same verification as [`PasswordHasher::verify`] against a dummy hash made with
    /// the current parameters, and discards the result.
    ///
    /// Call it when the account is unknown or locked, so that such a login costs the same
    /// Argon2 work as a wrong password for an existing account and its timing does not reveal
    /// whether the account exists. The dummy hash is built on first use; call
    /// [`PasswordHasher::prepare_dummy`] at start-up so that the first unknown login does not
    /// pay for building it.
    ///
    /// # Errors
    ///
    /// The pool errors [`PasswordError::PoolClosed`] and [`PasswordError::TaskFailed`], and
    /// [`PasswordError::Hashing`].
    pub async fn verify_dummy(&self, password: &str) -> Result<(), PasswordError> {
        if self.exceeds_max_length(password) {
            return Ok(());
        }
        let dummy = self.dummy().await?.stored.clone();
        self.verify_stored(password, dummy, false).await?;
        Ok(())
    }

    /// Builds the dummy hash used by [`PasswordHasher::verify_dummy`] now, if it does not exist
    /// yet.
    ///
    /// # Errors
    ///
    /// The errors of [`PasswordHasher::hash`].
    pub async fn prepare_dummy(&self) -> Result<(), PasswordError> {
        self.dummy().await.map(|_| ())
    }

    /// Returns true when `phc` should be replaced by a new hash of the configured kind.
    ///
    /// That is the case when it is not Argon2id version 0x13, when its memory, time or lane
    /// count is lower than configured, when its output length differs or its salt is shorter,
    /// and when it cannot be parsed at all. A hash with higher costs than configured is kept,
    /// so an upgrade never weakens a stored hash.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        StoredHash::parse(phc)
            .ok()
            .is_none_or(|stored| stored.needs_rehash(&self.inner.target))
    }

    /// Returns true when `password` is longer than `max_bytes` bytes of UTF-8. It reads only
    /// the length, so a login can reject an oversized password before any hashing.
    pub fn exceeds_max_length(&self, password: &str) -> bool {
        password.len() > self.inner.max_bytes
    }

    /// Closes the hashing pool, for shutdown. Calls waiting for a permit and new calls fail
    /// with [`PasswordError::PoolClosed`], while hashes that hold a permit run to the end.
    pub fn close(&self) {
        self.inner.permits.close();
    }

    fn check_length(&self, password: &str) -> Result<(), PasswordError> {
        if self.exceeds_max_length(password) {
            return Err(PasswordError::TooLong {
                max_bytes: self.inner.max_bytes,
            });
        }
        Ok(())
    }

    async fn dummy(&self) -> Result<&Dummy, PasswordError> {
        self.inner
            .dummy
            .get_or_try_init(|| async {
                let phc = self.hash(DUMMY_PASSWORD).await?;
                let stored =
                    StoredHash::parse(&phc).map_err(|source| PasswordError::Hashing { source })?;
                Ok(Dummy {
                    #[cfg(test)]
                    phc,
                    stored,
                })
            })
            .await
    }

    /// Verifies the NFC form, then the raw form if it differs, all on one blocking task.
    async fn verify_stored(
        &self,
        password: &str,
        stored: StoredHash,
        needs_rehash: bool,
    ) -> Result<Verification, PasswordError> {
        let (normalized, raw) = match normalize(password) {
            Cow::Borrowed(same) => (same.to_owned(), None),
            Cow::Owned(normalized) => (normalized, Some(password.to_owned())),
        };
        self.run_blocking(move || {
            let to_error = |error: argon2::Error| PasswordError::Hashing {
                source: HashError::from(error),
            };
            if stored.matches(normalized.as_bytes()).map_err(to_error)? {
                return Ok(Verification {
                    valid: true,
                    needs_rehash,
                });
            }
            if let Some(raw) = raw {
                if stored.matches(raw.as_bytes()).map_err(to_error)? {
                    return Ok(Verification {
                        valid: true,
                        needs_rehash: true,
                    });
                }
            }
            Ok(Verification::MISMATCH)
        })
        .await?
    }

    /// Runs `work` on a blocking thread once a permit is free. The permit moves into the
    /// blocking closure, so it is released only when `work` ends (or unwinds), even if the
    /// returned future is dropped first.
    pub(crate) async fn run_blocking<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|source| PasswordError::PoolClosed { source })?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|source| PasswordError::TaskFailed { source })
    }

    #[cfg(test)]
    pub(crate) fn available_permits(&self) -> usize {
        self.inner.permits.available_permits()
    }

    #[cfg(test)]
    pub(crate) fn inner_dummy_ready(&self) -> bool {
        self.inner.dummy.initialized()
    }

    #[cfg(test)]
    pub(crate) fn dummy_phc(&self) -> Option<String> {
        self.inner.dummy.get().map(|dummy| dummy.phc.clone())
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}
