//! Sending account emails: the [`Mailer`] trait, a mailer that logs, and one that keeps
//! messages in memory for tests.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::store::BoxError;

/// The purpose of an email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmailKind {
    /// A link to verify the address, sent after signup.
    VerifyEmail,
    /// A link to reset the password.
    PasswordReset,
    /// A notice that someone tried to sign up with an address that already has an account.
    AccountExists,
    /// A notice that the password was changed.
    PasswordChanged,
}

/// An email to send. Its `Debug` form leaves out the body, which may carry a secret link.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    /// The purpose of the email.
    pub kind: EmailKind,
    /// The recipient: always the address stored for the account, never one a client typed.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    /// The one-time token in the body, if any, so tests and custom mailers can use it
    /// without parsing the text.
    pub token: Option<String>,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A way to deliver emails.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Delivers `email`.
    ///
    /// # Errors
    ///
    /// The transport's failure. The caller logs it, because the HTTP response was already sent.
    async fn send(&self, email: Email) -> Result<(), BoxError>;
}

/// A mailer that writes each email to the log instead of sending it, for development.
///
/// Recipient and subject are logged at info level; the body, which carries the link with the
/// one-time token, only at debug level.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: Email) -> Result<(), BoxError> {
        tracing::info!(to = %email.to, subject = %email.subject, kind = ?email.kind, "email not sent: logging mailer");
        // Debug formatting escapes the line breaks, so the body stays on one log line.
        tracing::debug!(to = %email.to, body = ?email.body, "email body");
        Ok(())
    }
}

/// A mailer that keeps every email in memory, for tests. Clones share the same list.
#[derive(Debug, Clone, Default)]
pub struct MemoryMailer {
    sent: Arc<Mutex<Vec<Email>>>,
}

impl MemoryMailer {
    /// Creates an empty mailer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns every email sent so far, oldest first.
    pub fn sent(&self) -> Vec<Email> {
        self.sent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Returns the token of the newest email of `kind` sent to `to`.
    pub fn last_token(&self, to: &str, kind: EmailKind) -> Option<String> {
        self.sent()
            .into_iter()
            .rev()
            .find(|email| email.to == to && email.kind == kind)
            .and_then(|email| email.token)
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: Email) -> Result<(), BoxError> {
        self.sent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(email);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(to: &str, kind: EmailKind, token: &str) -> Email {
        Email {
            kind,
            to: to.into(),
            subject: "s".into(),
            body: format!("link ?token={token}"),
            token: Some(token.into()),
        }
    }

    #[tokio::test]
    async fn memory_mailer_returns_newest_token() {
        let mailer = MemoryMailer::new();
        mailer
            .send(email("a@example.org", EmailKind::PasswordReset, "t1"))
            .await
            .unwrap();
        mailer
            .send(email("a@example.org", EmailKind::PasswordReset, "t2"))
            .await
            .unwrap();
        mailer
            .send(email("b@example.org", EmailKind::PasswordReset, "t3"))
            .await
            .unwrap();
        assert_eq!(mailer.sent().len(), 3);
        assert_eq!(
            mailer
                .last_token("a@example.org", EmailKind::PasswordReset)
                .as_deref(),
            Some("t2")
        );
        assert_eq!(
            mailer.last_token("a@example.org", EmailKind::VerifyEmail),
            None
        );
    }

    #[test]
    fn debug_leaves_out_body() {
        let text = format!(
            "{:?}",
            email("a@example.org", EmailKind::PasswordReset, "secret-token")
        );
        assert!(!text.contains("secret-token"));
    }
}
