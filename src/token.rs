//! Random secret tokens and their SHA-256 digests.
//!
//! Session cookies, password-reset and email-verification tokens are 256-bit random values sent
//! to the client as unpadded base64url (43 characters). Stores only ever see the SHA-256 digest,
//! so a leaked database cannot be replayed as cookies or reset links.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The number of random bytes in a token (256 bits).
pub const TOKEN_BYTES: usize = 32;

/// The length of an encoded token in characters.
pub const TOKEN_CHARS: usize = 43;

/// A secret token as sent to the client. Its `Debug` form hides the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    /// Generates a new random token from the operating system's CSPRNG.
    ///
    /// # Errors
    ///
    /// Returns the error of the operating system's random source, which is rare but possible
    /// very early at boot or in restricted sandboxes.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Parses a token received from a client; returns `None` unless it has the exact form that
    /// [`SecretToken::generate`] produces.
    pub fn parse(text: &str) -> Option<Self> {
        is_token_text(text).then(|| Self(text.to_owned()))
    }

    /// Returns the token text, to send to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Returns the SHA-256 digest under which the token is stored.
    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(self.0.as_bytes())
    }
}

/// Returns true when `text` has the exact form of a generated token: 43 base64url characters.
fn is_token_text(text: &str) -> bool {
    text.len() == TOKEN_CHARS
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

/// The SHA-256 digest of a secret token: the only form of a token that is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    /// Computes the SHA-256 digest of `secret`.
    pub fn of(secret: &[u8]) -> Self {
        Self(Sha256::digest(secret).into())
    }

    /// Returns the digest of a token received from a client, or `None` unless the text has the
    /// exact form of a generated token. Unlike [`SecretToken::parse`] it copies nothing, for
    /// the session lookup that every request makes.
    pub fn of_token_text(text: &str) -> Option<Self> {
        is_token_text(text).then(|| Self::of(text.as_bytes()))
    }

    /// Compares two digests in constant time.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// Returns the digest as lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for TokenDigest {
    /// Shows only the first four bytes: enough to correlate log lines, not to look up a row.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TokenDigest({:02x}{:02x}{:02x}{:02x}..)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = SecretToken::generate().unwrap();
        let b = SecretToken::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), TOKEN_CHARS);
        assert_eq!(SecretToken::parse(a.expose()), Some(a.clone()));
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn parse_rejects_malformed_tokens() {
        let good = SecretToken::generate().unwrap();
        let text = good.expose();
        assert!(SecretToken::parse("").is_none());
        assert!(SecretToken::parse(&text[1..]).is_none());
        assert!(SecretToken::parse(&format!("{text}x")).is_none());
        assert!(SecretToken::parse(&format!("{}=", &text[1..])).is_none());
        assert!(SecretToken::parse(&format!("{}\n", &text[1..])).is_none());
    }

    #[test]
    fn token_text_digest_matches_parsed_token() {
        let token = SecretToken::generate().unwrap();
        assert_eq!(
            TokenDigest::of_token_text(token.expose()),
            Some(token.digest())
        );
        assert_eq!(TokenDigest::of_token_text("garbage"), None);
        assert_eq!(TokenDigest::of_token_text(&token.expose()[1..]), None);
    }

    #[test]
    fn digest_is_sha256() {
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        assert_eq!(
            TokenDigest::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_hides_secret() {
        let token = SecretToken::generate().unwrap();
        assert!(!format!("{token:?}").contains(token.expose()));
        assert!(!format!("{:?}", token.digest()).contains(&token.digest().to_hex()));
    }
}
