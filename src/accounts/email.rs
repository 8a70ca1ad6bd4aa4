//! The one canonical form of an email address, used for uniqueness, lookup, lockout keys,
//! rate keys and the audit trail alike.

use unicode_normalization::UnicodeNormalization;

/// The longest accepted email address, in bytes (RFC 5321 path limit minus the brackets).
pub const MAX_EMAIL_BYTES: usize = 254;

/// The longest accepted local part (before `@`), in bytes (RFC 5321).
pub const MAX_LOCAL_PART_BYTES: usize = 64;

/// The reason an email address was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmailError {
    /// Empty after trimming.
    #[error("email address is required")]
    Empty,
    /// Longer than [`MAX_EMAIL_BYTES`] or a local part longer than [`MAX_LOCAL_PART_BYTES`].
    #[error("email address is too long")]
    TooLong,
    /// Not of the form `local@domain.tld`, or containing white space, control characters,
    /// quotes or angle brackets.
    #[error("email address is invalid")]
    Invalid,
}

impl EmailError {
    /// Returns the error as a sentence for a validation error's `details`.
    pub fn detail(&self) -> String {
        match self {
            Self::Empty => "Email address is required.".to_owned(),
            Self::TooLong => "Email address is too long.".to_owned(),
            Self::Invalid => "Email address is invalid.".to_owned(),
        }
    }
}

/// Returns the canonical form of an email address: surrounding white space trimmed, NFKC
/// normalized, then lower-cased.
///
/// NFKC folds compatibility characters (the Kelvin sign U+212A becomes `K`), so visually
/// equal spellings of one address map to one account. Lookups use this form, but mail is only
/// ever sent to the address stored for the account, never to the text a client submitted, so a
/// crafted look-alike can at most reach the real owner.
///
/// # Errors
///
/// [`EmailError`] when the address is empty, too long or malformed.
pub fn canonical_email(input: &str) -> Result<String, EmailError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(EmailError::Empty);
    }
    // Bound the work before normalizing: NFKC can expand text, so check again after.
    if trimmed.len() > MAX_EMAIL_BYTES * 4 {
        return Err(EmailError::TooLong);
    }
    let canonical: String = trimmed.nfkc().collect::<String>().to_lowercase();
    if canonical.len() > MAX_EMAIL_BYTES {
        return Err(EmailError::TooLong);
    }
    let Some((local, domain)) = canonical.rsplit_once('@') else {
        return Err(EmailError::Invalid);
    };
    if local.len() > MAX_LOCAL_PART_BYTES {
        return Err(EmailError::TooLong);
    }
    if !is_valid_local_part(local) || !is_valid_domain(domain) {
        return Err(EmailError::Invalid);
    }
    Ok(canonical)
}

/// Returns true for invisible formatting characters (Unicode category Cf) that make two
/// different addresses look identical: the soft hyphen, zero-width characters, bidirectional
/// controls and the byte-order mark.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

fn is_valid_local_part(local: &str) -> bool {
    !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| {
            !c.is_whitespace()
                && !c.is_control()
                && !is_invisible(c)
                && !"@\"<>()[]\\,;:".contains(c)
        })
}

fn is_valid_domain(domain: &str) -> bool {
    let mut labels = 0;
    for label in domain.split('.') {
        let label_ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| (c.is_alphanumeric() || c == '-') && !is_invisible(c));
        if !label_ok {
            return false;
        }
        labels += 1;
    }
    labels >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_space_variants_share_one_form() {
        for variant in [
            "victim@example.org",
            "Victim@Example.ORG",
            " victim@example.org ",
            "victim@example.org\t",
            "VICTIM@EXAMPLE.ORG\n",
        ] {
            assert_eq!(
                canonical_email(variant).unwrap(),
                "victim@example.org",
                "{variant:?}"
            );
        }
    }

    #[test]
    fn kelvin_sign_folds_to_ascii_k() {
        assert_eq!(
            canonical_email("mi\u{212A}e@example.org").unwrap(),
            "mike@example.org"
        );
    }

    #[test]
    fn dotless_i_stays_distinct() {
        let dotless = canonical_email("m\u{0131}ke@example.org").unwrap();
        assert_ne!(dotless, "mike@example.org");
    }

    #[test]
    fn malformed_addresses_rejected() {
        for bad in [
            "",
            "   ",
            "plainaddress",
            "@example.org",
            "user@",
            "user@localhost",
            "user@exa mple.org",
            "us er@example.org",
            "user@@example.org",
            "user@.example.org",
            "user@example..org",
            "user@-example.org",
            ".user@example.org",
            "user.@example.org",
            "us..er@example.org",
            "admin\r\nLOGIN_SUCCESS@example.org",
            "\"quoted\"@example.org",
            "<user>@example.org",
            "te\u{200B}st@example.org",
            "test\u{00AD}@example.org",
            "\u{202E}test@example.org",
            "test@exam\u{2060}ple.org",
            "\u{FEFF}test@example.org",
        ] {
            assert!(canonical_email(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn overlong_addresses_rejected() {
        let local = "a".repeat(65);
        assert_eq!(
            canonical_email(&format!("{local}@example.org")),
            Err(EmailError::TooLong)
        );
        let domain = format!("{}.org", "b".repeat(250));
        assert_eq!(
            canonical_email(&format!("a@{domain}")),
            Err(EmailError::TooLong)
        );
        let huge = "a".repeat(1 << 20);
        assert_eq!(canonical_email(&huge), Err(EmailError::TooLong));
    }
}
