//! [`PasswordPolicy`]: the rules a new password must meet.

use std::borrow::Cow;

use unicode_normalization::{UnicodeNormalization, is_nfc};

use super::common::is_common_password;
use crate::config::PasswordConfig;

/// Returns the NFC form of `password`, borrowing it when it is already in NFC.
pub(crate) fn normalize(password: &str) -> Cow<'_, str> {
    if is_nfc(password) {
        Cow::Borrowed(password)
    } else {
        Cow::Owned(password.nfc().collect())
    }
}

/// The composition, length and blocklist rules for new passwords (signup, reset, change).
///
/// Characters are counted as Unicode scalar values of the NFC form, so `ñ` counts once
/// whether it arrives precomposed or as `n` plus a combining tilde. The classes are Unicode
/// ones: an upper-case letter is any [`char::is_uppercase`] character, a digit any
/// [`char::is_numeric`] one, and a special character anything that is neither alphabetic,
/// numeric nor white space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    min_chars: usize,
    max_bytes: usize,
    require_uppercase: bool,
    require_lowercase: bool,
    require_digit: bool,
    require_special: bool,
    reject_common: bool,
}

impl PasswordPolicy {
    /// Creates the policy with the rules of `config`.
    pub fn new(config: &PasswordConfig) -> Self {
        Self {
            min_chars: config.min_chars,
            max_bytes: config.max_bytes,
            require_uppercase: config.require_uppercase,
            require_lowercase: config.require_lowercase,
            require_digit: config.require_digit,
            require_special: config.require_special,
            reject_common: config.reject_common,
        }
    }

    /// Checks `password` against every enabled rule.
    ///
    /// The maximum length is checked first, on the raw input: an oversized password gets that
    /// single rule back at once, without being normalised or scanned.
    ///
    /// # Errors
    ///
    /// One sentence per failed rule, in a fixed order: maximum length, minimum length,
    /// upper-case, lower-case, digit, special character, common password.
    pub fn validate(&self, password: &str) -> Result<(), Vec<String>> {
        if self.exceeds_max_length(password) {
            return Err(vec![self.max_length_message()]);
        }
        let password = normalize(password);
        let mut failures = Vec::new();

        // NFC can lengthen a few rare characters, so the normalised form is checked as well.
        if self.exceeds_max_length(&password) {
            failures.push(self.max_length_message());
        }
        if password.chars().count() < self.min_chars {
            failures.push(format!(
                "Password must be at least {} characters long.",
                self.min_chars
            ));
        }

        if self.require_uppercase && !password.chars().any(char::is_uppercase) {
            failures.push("Password must contain at least one upper-case letter.".to_owned());
        }
        if self.require_lowercase && !password.chars().any(char::is_lowercase) {
            failures.push("Password must contain at least one lower-case letter.".to_owned());
        }
        if self.require_digit && !password.chars().any(char::is_numeric) {
            failures.push("Password must contain at least one digit.".to_owned());
        }
        if self.require_special && !password.chars().any(is_special) {
            failures.push(
                "Password must contain at least one special character \
                 (a character that is not a letter, a digit or white space)."
                    .to_owned(),
            );
        }

        if self.reject_common && is_common_password(&password) {
            failures.push(
                "Password is too common; choose one that does not appear on lists of \
                 frequently used passwords."
                    .to_owned(),
            );
        }

        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures)
        }
    }

    /// Returns true when `password` is longer than the maximum, in bytes of UTF-8. It reads
    /// only the length, so a login can reject an oversized password before any hashing.
    pub fn exceeds_max_length(&self, password: &str) -> bool {
        password.len() > self.max_bytes
    }

    fn max_length_message(&self) -> String {
        format!("Password must be at most {} bytes long.", self.max_bytes)
    }
}

fn is_special(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace()
}
