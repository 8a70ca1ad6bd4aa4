//! A parsed stored hash: the Argon2 variant, version, parameters, salt and expected output.

use argon2::password_hash::Error as HashError;
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use subtle::ConstantTimeEq;

/// The parameters new hashes are made with.
#[derive(Debug, Clone)]
pub(crate) struct TargetParams {
    pub(crate) params: Params,
    pub(crate) salt_len: usize,
}

/// A stored PHC string, checked and decoded before any hashing starts.
#[derive(Debug, Clone)]
pub(crate) struct StoredHash {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl StoredHash {
    /// Parses a PHC string of Argon2d, Argon2i or Argon2id.
    ///
    /// A string without `v=` is read as version 0x10 (decimal 16), as the decoder of the
    /// reference C implementation (phc-winner-argon2, `src/encoding.c`) does.
    pub(crate) fn parse(phc: &str) -> Result<Self, HashError> {
        let hash = PasswordHash::new(phc)?;
        let algorithm = Algorithm::try_from(hash.algorithm.as_str())?;
        let version = Version::try_from(hash.version.unwrap_or(0x10))?;
        let params = Params::try_from(&hash)?;
        let salt = hash.salt.ok_or(HashError::SaltInvalid)?;
        let expected = hash.hash.ok_or(HashError::OutputSize)?;
        Ok(Self {
            algorithm,
            version,
            params,
            salt: salt.as_ref().to_vec(),
            expected: expected.as_bytes().to_vec(),
        })
    }

    /// Computes the hash of `password` with this record's parameters and compares it with the
    /// stored output in constant time.
    pub(crate) fn matches(&self, password: &[u8]) -> Result<bool, argon2::Error> {
        let argon2 = Argon2::new(self.algorithm, self.version, self.params.clone());
        let mut computed = vec![0u8; self.expected.len()];
        argon2.hash_password_into(password, &self.salt, &mut computed)?;
        Ok(bool::from(computed.ct_eq(&self.expected)))
    }

    /// Returns true when this hash is weaker than `target` or of another kind: not Argon2id,
    /// not version 0x13, a lower memory, time or lane count, another output length, or a
    /// shorter salt. A hash with a higher cost than `target` does not need a rehash, so an
    /// upgrade never replaces a stronger hash with a weaker one.
    pub(crate) fn needs_rehash(&self, target: &TargetParams) -> bool {
        let configured = &target.params;
        self.algorithm != Algorithm::Argon2id
            || self.version != Version::V0x13
            || self.params.m_cost() < configured.m_cost()
            || self.params.t_cost() < configured.t_cost()
            || self.params.p_cost() < configured.p_cost()
            || Some(self.expected.len()) != configured.output_len()
            || self.salt.len() < target.salt_len
    }
}
