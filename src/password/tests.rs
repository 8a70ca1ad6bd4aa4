use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use super::*;
use crate::config::{ConfigError, PasswordConfig};

/// Small Argon2id parameters that keep unoptimised test builds fast.
fn small_config(max_concurrent_hashes: usize) -> PasswordConfig {
    let mut config = PasswordConfig::default();
    config.argon2.memory_kib = 64;
    config.argon2.time_cost = 1;
    config.argon2.parallelism = 1;
    config.max_concurrent_hashes = max_concurrent_hashes;
    config
}

fn small_hasher(max_concurrent_hashes: usize) -> PasswordHasher {
    PasswordHasher::new(&small_config(max_concurrent_hashes)).expect("valid test config")
}

/// Splits a PHC string into its `$`-separated fields after the leading `$`.
fn phc_fields(phc: &str) -> Vec<&str> {
    phc.strip_prefix('$')
        .expect("leading $")
        .split('$')
        .collect()
}

// Known answers from the reference C implementation of Argon2 (Debian package `argon2`,
// version 0~20171227-0.3+deb12u1). Each was produced with
//     printf '%s' 'correct horse battery staple' | argon2 somesaltsomesalt <FLAGS> -e
// where <FLAGS> is given next to the vector.
const CLI_PASSWORD: &str = "correct horse battery staple";
const CLI_VECTORS: [(&str, &str); 4] = [
    (
        "-id -t 1 -k 64 -p 1 -l 32",
        "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$XLeLg+p+JNgiFrQNsye8eofeXr30s6P3j/ke/9xgk/0",
    ),
    (
        "-id -t 2 -k 256 -p 2 -l 32",
        "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHRzb21lc2FsdA$C63DGsGMKpyLM40XjALOdOfE0rBx7nP7fwGcOW31oSE",
    ),
    (
        "-i -t 1 -k 64 -p 1 -l 32",
        "$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$jRuF3Galsy1dpW7q93fjIbFNWR32N1t7lKQiiAnBZ1k",
    ),
    (
        "-id -t 1 -k 64 -p 1 -l 32 -v 10",
        "$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$NPjh9R1J+fKSa9Nxo3MG9PHm0IDsnmdQoSmTuMTxpuQ",
    ),
];

// The reference CLI on the raw NFD bytes of "mañana-2024" (n followed by U+0303), as a hash
// stored before passwords were normalised:
//     printf 'man\xcc\x83ana-2024' | argon2 saltsaltsaltsalt -id -t 1 -k 64 -p 1 -l 32 -e
const CLI_LEGACY_NFD: &str = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$J2QE3yBV6FpeaBJW7GaHLux/1Fyc5nXlusV6PDcEMS8";

// The reference CLI at the default parameters (t=3, m=64 MiB, p=4, 32-byte output):
//     printf '%s' 'correct horse battery staple' \
//         | argon2 saltsaltsaltsalt -id -t 3 -k 65536 -p 4 -l 32 -e
const CLI_FULL_PARAMS: &str = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$opK/12lewr2z5YpUKucJCUXASikIGYN+qjR3vL2e8go";

#[tokio::test]
async fn default_params_hash_and_verify() {
    let config = PasswordConfig {
        max_concurrent_hashes: 1,
        ..PasswordConfig::default()
    };
    let hasher = PasswordHasher::new(&config).expect("default config is valid");

    let phc = hasher.hash(CLI_PASSWORD).await.expect("hash");
    let fields = phc_fields(&phc);
    assert_eq!(fields.len(), 5, "{phc}");
    assert_eq!(fields[0], "argon2id");
    assert_eq!(fields[1], "v=19");
    assert_eq!(fields[2], "m=65536,t=3,p=4");
    let salt = STANDARD_NO_PAD.decode(fields[3]).expect("salt is base64");
    assert_eq!(salt.len(), 16);
    let output = STANDARD_NO_PAD.decode(fields[4]).expect("hash is base64");
    assert_eq!(output.len(), 32);
    assert!(!hasher.needs_rehash(&phc));

    let ours = hasher.verify(CLI_PASSWORD, &phc).await.expect("verify");
    assert_eq!(
        ours,
        Verification {
            valid: true,
            needs_rehash: false
        }
    );
    let reference = hasher
        .verify(CLI_PASSWORD, CLI_FULL_PARAMS)
        .await
        .expect("verify");
    assert_eq!(
        reference,
        Verification {
            valid: true,
            needs_rehash: false
        }
    );
}

#[tokio::test]
async fn reference_cli_vectors_verify() {
    let hasher = small_hasher(2);
    for (flags, phc) in CLI_VECTORS {
        let right = hasher.verify(CLI_PASSWORD, phc).await.expect(flags);
        assert!(right.valid, "correct password rejected for {flags}");
        let wrong = hasher
            .verify("correct horse battery stapler", phc)
            .await
            .expect(flags);
        assert_eq!(
            wrong,
            Verification::MISMATCH,
            "wrong password accepted for {flags}"
        );
    }
}

#[tokio::test]
async fn missing_version_means_0x10() {
    let hasher = small_hasher(1);
    // The reference decoder reads a PHC string without `v=` as version 0x10, so the 0x10
    // vector with its version field removed must still verify.
    let (_, with_version) = CLI_VECTORS[3];
    let without_version = with_version.replace("$v=16", "");
    assert!(without_version.starts_with("$argon2id$m=64,t=1,p=1$"));
    let verification = hasher
        .verify(CLI_PASSWORD, &without_version)
        .await
        .expect("verify");
    assert_eq!(
        verification,
        Verification {
            valid: true,
            needs_rehash: true
        }
    );
}

#[tokio::test]
async fn reference_vectors_rehash_when_outdated() {
    let hasher = small_hasher(1);
    let expected = [
        // Argon2id v19 at exactly the configured m=64, t=1, p=1.
        false, // Stronger than configured: never downgraded.
        false, // Argon2i is upgraded to Argon2id.
        true,  // Version 0x10 is upgraded to 0x13.
        true,
    ];
    for ((flags, phc), needs_rehash) in CLI_VECTORS.into_iter().zip(expected) {
        assert_eq!(hasher.needs_rehash(phc), needs_rehash, "{flags}");
        let verification = hasher.verify(CLI_PASSWORD, phc).await.expect(flags);
        assert_eq!(verification.needs_rehash, needs_rehash, "{flags}");
    }
}

#[tokio::test]
async fn wrong_password_is_mismatch() {
    let hasher = small_hasher(1);
    let phc = hasher.hash("Right-password-1").await.expect("hash");
    let wrong = hasher
        .verify("Wrong-password-1", &phc)
        .await
        .expect("verify");
    assert_eq!(wrong, Verification::MISMATCH);
    let right = hasher
        .verify("Right-password-1", &phc)
        .await
        .expect("verify");
    assert_eq!(
        right,
        Verification {
            valid: true,
            needs_rehash: false
        }
    );
}

#[tokio::test]
async fn each_hash_gets_fresh_salt() {
    let hasher = small_hasher(1);
    let first = hasher.hash("Same-password-1").await.expect("hash");
    let second = hasher.hash("Same-password-1").await.expect("hash");
    assert_ne!(phc_fields(&first)[3], phc_fields(&second)[3]);
    assert_ne!(first, second);
}

#[tokio::test]
async fn salt_length_follows_config() {
    let mut config = small_config(1);
    config.argon2.salt_len = 24;
    config.argon2.hash_len = 48;
    let hasher = PasswordHasher::new(&config).expect("valid config");
    let phc = hasher.hash("Some-password-1").await.expect("hash");
    let fields = phc_fields(&phc);
    assert_eq!(STANDARD_NO_PAD.decode(fields[3]).expect("salt").len(), 24);
    assert_eq!(STANDARD_NO_PAD.decode(fields[4]).expect("output").len(), 48);
}

#[tokio::test]
async fn nfd_input_verifies_nfc_hash() {
    let hasher = small_hasher(1);
    let precomposed = "ma\u{00F1}ana-2024";
    let combining = "man\u{0303}ana-2024";
    let phc = hasher.hash(precomposed).await.expect("hash");
    let verification = hasher.verify(combining, &phc).await.expect("verify");
    assert_eq!(
        verification,
        Verification {
            valid: true,
            needs_rehash: false
        }
    );

    // Hashing the NFD form stores the NFC form, which the precomposed input then matches.
    let phc = hasher.hash(combining).await.expect("hash");
    let verification = hasher.verify(precomposed, &phc).await.expect("verify");
    assert_eq!(
        verification,
        Verification {
            valid: true,
            needs_rehash: false
        }
    );
}

#[tokio::test]
async fn legacy_raw_nfd_hash_needs_rehash() {
    let hasher = small_hasher(1);
    // The stored parameters equal the configured ones, so only the raw-form match can set
    // `needs_rehash`.
    assert!(!hasher.needs_rehash(CLI_LEGACY_NFD));
    let combining = "man\u{0303}ana-2024";
    let verification = hasher
        .verify(combining, CLI_LEGACY_NFD)
        .await
        .expect("verify");
    assert_eq!(
        verification,
        Verification {
            valid: true,
            needs_rehash: true
        }
    );

    // The rehash stores the NFC form, which both spellings then match without a fallback.
    let upgraded = hasher.hash(combining).await.expect("hash");
    for input in [combining, "ma\u{00F1}ana-2024"] {
        let verification = hasher.verify(input, &upgraded).await.expect("verify");
        assert_eq!(
            verification,
            Verification {
                valid: true,
                needs_rehash: false
            }
        );
    }
}

/// Builds a syntactically valid PHC string with placeholder salt and output.
fn placeholder_phc(algorithm: &str, version: u32, m: u32, t: u32, p: u32) -> String {
    let salt = STANDARD_NO_PAD.encode([7u8; 16]);
    let output = STANDARD_NO_PAD.encode([9u8; 32]);
    format!("${algorithm}$v={version}$m={m},t={t},p={p}${salt}${output}")
}

#[test]
fn needs_rehash_table() {
    let mut config = PasswordConfig::default();
    config.argon2.parallelism = 1;
    let hasher = PasswordHasher::new(&config).expect("valid config");
    let short_output = format!(
        "$argon2id$v=19$m=65536,t=3,p=1${}${}",
        STANDARD_NO_PAD.encode([7u8; 16]),
        STANDARD_NO_PAD.encode([9u8; 16])
    );
    let short_salt = format!(
        "$argon2id$v=19$m=65536,t=3,p=1${}${}",
        STANDARD_NO_PAD.encode([7u8; 8]),
        STANDARD_NO_PAD.encode([9u8; 32])
    );
    let cases = [
        (
            "same params",
            placeholder_phc("argon2id", 19, 65536, 3, 1),
            false,
        ),
        (
            "lower m and t",
            placeholder_phc("argon2id", 19, 19456, 2, 1),
            true,
        ),
        (
            "lower m only",
            placeholder_phc("argon2id", 19, 32768, 3, 1),
            true,
        ),
        (
            "lower t only",
            placeholder_phc("argon2id", 19, 65536, 2, 1),
            true,
        ),
        (
            "higher m and t",
            placeholder_phc("argon2id", 19, 131072, 4, 1),
            false,
        ),
        (
            "higher p",
            placeholder_phc("argon2id", 19, 65536, 3, 4),
            false,
        ),
        (
            "higher m, lower t",
            placeholder_phc("argon2id", 19, 131072, 2, 1),
            true,
        ),
        ("argon2i", placeholder_phc("argon2i", 19, 65536, 3, 1), true),
        ("argon2d", placeholder_phc("argon2d", 19, 65536, 3, 1), true),
        (
            "version 0x10",
            placeholder_phc("argon2id", 16, 65536, 3, 1),
            true,
        ),
        ("shorter output", short_output, true),
        ("shorter salt", short_salt, true),
        ("garbage", "not a hash".to_owned(), true),
        ("empty", String::new(), true),
        (
            "bcrypt",
            "$2b$12$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234".into(),
            true,
        ),
    ];
    for (name, phc, expected) in cases {
        assert_eq!(hasher.needs_rehash(&phc), expected, "{name}: {phc}");
    }
}

#[tokio::test]
async fn unparseable_hash_is_invalid_hash_error() {
    let hasher = small_hasher(1);
    let pbkdf2 = "$pbkdf2-sha256$i=600000$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    for phc in [
        "",
        "garbage",
        "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA",
        pbkdf2,
    ] {
        let result = hasher.verify(CLI_PASSWORD, phc).await;
        assert!(
            matches!(result, Err(PasswordError::InvalidHash { .. })),
            "{phc:?} gave {result:?}"
        );
    }
    // The error path ran a dummy verification, so the dummy hash exists now.
    assert!(hasher.inner_dummy_ready());
}

#[tokio::test]
async fn dummy_uses_current_params() {
    let hasher = small_hasher(1);
    assert!(!hasher.inner_dummy_ready());
    hasher
        .verify_dummy("anything at all")
        .await
        .expect("dummy verify");
    assert!(hasher.inner_dummy_ready());
    let dummy = hasher.dummy_phc().expect("dummy exists");
    assert!(!hasher.needs_rehash(&dummy), "{dummy}");
    assert!(dummy.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{dummy}");

    // Built once: a second call reuses it.
    hasher
        .verify_dummy("anything else")
        .await
        .expect("dummy verify");
    assert_eq!(hasher.dummy_phc().as_deref(), Some(dummy.as_str()));

    // A hasher with stronger params builds its own, stronger dummy.
    let mut config = small_config(1);
    config.argon2.memory_kib = 128;
    config.argon2.time_cost = 2;
    let stronger = PasswordHasher::new(&config).expect("valid config");
    stronger.prepare_dummy().await.expect("prepare");
    let stronger_dummy = stronger.dummy_phc().expect("dummy exists");
    assert!(
        stronger_dummy.starts_with("$argon2id$v=19$m=128,t=2,p=1$"),
        "{stronger_dummy}"
    );
}

#[tokio::test]
async fn oversized_password_never_hashed() {
    let config = small_config(1);
    assert_eq!(config.max_bytes, 1024);
    let hasher = PasswordHasher::new(&config).expect("valid config");
    let policy = PasswordPolicy::new(&config);
    let at_limit = format!("Aa1!{}", "x".repeat(1020));
    let over_limit = format!("{at_limit}x");
    assert_eq!(at_limit.len(), 1024);

    assert!(!policy.exceeds_max_length(&at_limit));
    assert!(!hasher.exceeds_max_length(&at_limit));
    assert_eq!(policy.validate(&at_limit), Ok(()));
    assert!(policy.exceeds_max_length(&over_limit));
    assert!(hasher.exceeds_max_length(&over_limit));
    assert_eq!(
        policy.validate(&over_limit),
        Err(vec!["Password must be at most 1024 bytes long.".to_owned()])
    );

    // With the pool closed, any call that reached Argon2 would fail with `PoolClosed`.
    hasher.close();
    let verification = hasher.verify(&over_limit, CLI_VECTORS[0].1).await;
    assert_eq!(
        verification.expect("no pool needed"),
        Verification::MISMATCH
    );
    hasher
        .verify_dummy(&over_limit)
        .await
        .expect("no pool needed");
    let hashed = hasher.hash(&over_limit).await;
    assert!(
        matches!(hashed, Err(PasswordError::TooLong { max_bytes: 1024 })),
        "{hashed:?}"
    );
    let at_limit_hash = hasher.hash(&at_limit).await;
    assert!(matches!(
        at_limit_hash,
        Err(PasswordError::PoolClosed { .. })
    ));
}

#[tokio::test]
async fn concurrent_hashes_never_exceed_permits() {
    let hasher = small_hasher(1);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..4u8 {
        let hasher = hasher.clone();
        let running = Arc::clone(&running);
        let peak = Arc::clone(&peak);
        tasks.push(tokio::spawn(async move {
            hasher
                .run_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    let params = argon2::Params::new(1024, 1, 1, Some(32)).expect("params");
                    let mut out = [0u8; 32];
                    argon2::Argon2::from(params)
                        .hash_password_into(&[i; 12], b"saltsaltsalt", &mut out)
                        .expect("hash");
                    running.fetch_sub(1, Ordering::SeqCst);
                    out
                })
                .await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("hash");
    }
    assert_eq!(peak.load(Ordering::SeqCst), 1);
    assert_eq!(hasher.available_permits(), 1);
}

/// Starts blocking work that holds a permit until the returned sender is used, and returns
/// once that work runs.
async fn hold_permit(
    hasher: &PasswordHasher,
) -> (
    tokio::task::JoinHandle<Result<(), PasswordError>>,
    mpsc::Sender<()>,
) {
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = {
        let hasher = hasher.clone();
        tokio::spawn(async move {
            hasher
                .run_blocking(move || {
                    started_tx.send(()).expect("test is waiting");
                    release_rx.recv().expect("test releases the permit");
                })
                .await
        })
    };
    // The timeout only keeps a broken pool from hanging the test run.
    tokio::task::spawn_blocking(move || started_rx.recv_timeout(Duration::from_secs(30)))
        .await
        .expect("task")
        .expect("work started");
    (holder, release_tx)
}

#[tokio::test]
async fn hash_waits_for_free_permit() {
    let hasher = small_hasher(1);
    let (holder, release) = hold_permit(&hasher).await;
    assert_eq!(hasher.available_permits(), 0);

    let waiting = {
        let hasher = hasher.clone();
        tokio::spawn(async move { hasher.hash("Waiting-password-1").await })
    };
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert!(
        !waiting.is_finished(),
        "hash ran while the only permit was held"
    );

    release.send(()).expect("holder is waiting");
    holder.await.expect("task").expect("pool");
    let phc = waiting.await.expect("task").expect("hash");
    assert!(phc.starts_with("$argon2id$"));
}

#[tokio::test]
async fn cancelled_hash_keeps_permit_until_done() {
    let hasher = small_hasher(1);
    let (request, release) = hold_permit(&hasher).await;

    request.abort();
    assert!(request.await.expect_err("aborted").is_cancelled());
    assert_eq!(
        hasher.available_permits(),
        0,
        "permit freed before the work ended"
    );

    release.send(()).expect("work is still running");
    hasher.run_blocking(|| ()).await.expect("permit returns");
    assert_eq!(hasher.available_permits(), 1);
}

#[tokio::test]
async fn panicking_work_is_task_failed() {
    let hasher = small_hasher(1);
    let result = hasher
        .run_blocking(|| panic!("simulated Argon2 panic"))
        .await;
    match result {
        Err(PasswordError::TaskFailed { source }) => assert!(source.is_panic()),
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    assert_eq!(hasher.available_permits(), 1);
}

#[tokio::test]
async fn closed_pool_is_pool_closed() {
    let hasher = small_hasher(1);
    hasher.close();
    let hashed = hasher.hash("Any-password-1").await;
    assert!(
        matches!(hashed, Err(PasswordError::PoolClosed { .. })),
        "{hashed:?}"
    );
    let verified = hasher.verify(CLI_PASSWORD, CLI_VECTORS[0].1).await;
    assert!(
        matches!(verified, Err(PasswordError::PoolClosed { .. })),
        "{verified:?}"
    );
}

#[test]
fn new_rejects_unusable_params() {
    type Change = fn(&mut PasswordConfig);
    let cases: [(&str, Change, &str); 5] = [
        (
            "salt too long",
            |c| c.argon2.salt_len = 64,
            "password.argon2.salt_len",
        ),
        (
            "salt too short",
            |c| c.argon2.salt_len = 4,
            "password.argon2.salt_len",
        ),
        (
            "output too short",
            |c| c.argon2.hash_len = 4,
            "password.argon2.hash_len",
        ),
        (
            "no time cost",
            |c| c.argon2.time_cost = 0,
            "password.argon2",
        ),
        (
            "no permits",
            |c| c.max_concurrent_hashes = 0,
            "password.max_concurrent_hashes",
        ),
    ];
    for (name, change, expected_setting) in cases {
        let mut config = small_config(1);
        change(&mut config);
        match PasswordHasher::new(&config) {
            Err(ConfigError::Invalid { setting, .. }) => {
                assert_eq!(setting, expected_setting, "{name}");
            }
            other => panic!("{name}: expected ConfigError::Invalid, got {other:?}"),
        }
    }
}

#[test]
fn policy_lists_every_failed_rule() {
    let policy = PasswordPolicy::new(&PasswordConfig::default());
    let failures = policy.validate("   ").expect_err("weak password");
    assert_eq!(
        failures,
        vec![
            "Password must be at least 8 characters long.",
            "Password must contain at least one upper-case letter.",
            "Password must contain at least one lower-case letter.",
            "Password must contain at least one digit.",
            "Password must contain at least one special character \
             (a character that is not a letter, a digit or white space).",
        ]
    );

    let failures = policy.validate("abcdefgh").expect_err("weak password");
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(failures[0].contains("upper-case"));
    assert!(failures[1].contains("digit"));
    assert!(failures[2].contains("special"));
}

#[test]
fn policy_accepts_strong_password() {
    let policy = PasswordPolicy::new(&PasswordConfig::default());
    assert_eq!(policy.validate("Tr0ub4dor&3-horse"), Ok(()));
    // Non-ASCII letters and symbols count in their Unicode classes.
    assert_eq!(policy.validate("Ñandú-grüße-7"), Ok(()));
}

#[test]
fn common_password_meeting_composition_rejected() {
    let policy = PasswordPolicy::new(&PasswordConfig::default());
    for password in ["Password1!", "P@ssw0rd123!", "Summer2024!"] {
        let failures = policy.validate(password).expect_err(password);
        assert_eq!(failures.len(), 1, "{password}: {failures:?}");
        assert!(
            failures[0].contains("too common"),
            "{password}: {failures:?}"
        );
    }
}

#[test]
fn policy_rules_toggle_off() {
    let config = PasswordConfig {
        min_chars: 4,
        require_uppercase: false,
        require_lowercase: false,
        require_digit: false,
        require_special: false,
        reject_common: false,
        ..PasswordConfig::default()
    };
    let policy = PasswordPolicy::new(&config);
    assert_eq!(policy.validate("password"), Ok(()));
    assert_eq!(policy.validate("    "), Ok(()));
    let failures = policy.validate("abc").expect_err("too short");
    assert_eq!(
        failures,
        vec!["Password must be at least 4 characters long."]
    );
}

#[test]
fn policy_counts_characters_after_nfc() {
    let policy = PasswordPolicy::new(&PasswordConfig::default());
    // Seven visible characters, nine code points before normalisation.
    let decomposed = "N\u{0303}an\u{0303}du-1";
    assert_eq!(decomposed.chars().count(), 9);
    let failures = policy.validate(decomposed).expect_err("seven characters");
    assert_eq!(
        failures,
        vec!["Password must be at least 8 characters long."]
    );
}

#[test]
fn common_list_is_unique_lowercase() {
    assert_eq!(COMMON_PASSWORDS.len(), 122);
    let unique: std::collections::HashSet<_> = COMMON_PASSWORDS.iter().collect();
    assert_eq!(unique.len(), 122);
    for entry in COMMON_PASSWORDS {
        assert_eq!(entry, entry.to_lowercase(), "{entry} is not lower-case");
        assert!(is_common_password(entry), "{entry}");
    }
}

#[test]
fn common_check_ignores_case_and_form() {
    assert!(is_common_password("PaSsWoRd"));
    assert!(is_common_password("P@SSW0RD123!"));
    // U+212A KELVIN SIGN normalises to K, which lower-cases to k.
    assert!(is_common_password("\u{212A}iller"));
    assert!(!is_common_password("password-but-longer"));
    assert!(!is_common_password(""));
    assert!(!is_common_password(&"password".repeat(100)));
}
