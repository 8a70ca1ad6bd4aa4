//! Password reset, email verification and password change.

use std::time::Duration;

use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use super::email::canonical_email;
use super::service::{AuthService, ClientContext, ip_text, locked_error, span};
use super::task::run_to_completion;
use crate::audit::{AuditEvent, AuditEventType};
use crate::error::AuthError;
use crate::mail::{Email, EmailKind};
use crate::store::{AttemptDecision, OneTimeToken, SessionRecord, TokenPurpose, User};
use crate::token::SecretToken;

impl AuthService {
    /// Starts a password reset.
    ///
    /// Returns at once with the same result whether or not the address has an account; the
    /// lookup, the token and the email happen in a background task, so neither the response nor
    /// its timing differs between the two. The email goes to the address stored for the account.
    ///
    /// # Errors
    ///
    /// [`AuthError::Validation`] when `email` is not an email address at all.
    pub async fn forgot_password(
        &self,
        email: &str,
        client: &ClientContext,
    ) -> Result<(), AuthError> {
        let (this, email, client) = (self.clone(), email.to_owned(), client.clone());
        run_to_completion(async move { this.forgot_password_steps(&email, &client).await }).await
    }

    async fn forgot_password_steps(
        &self,
        email: &str,
        client: &ClientContext,
    ) -> Result<(), AuthError> {
        let canonical = canonical_email(email).map_err(|error| AuthError::Validation {
            details: vec![error.detail()],
        })?;
        let service = self.clone();
        let client = client.clone();
        tokio::spawn(async move { service.send_reset_link(&canonical, &client).await });
        Ok(())
    }

    async fn send_reset_link(&self, canonical: &str, client: &ClientContext) {
        let user = match self.inner.stores.users.find_user_by_email(canonical).await {
            Ok(user) => user,
            Err(error) => {
                tracing::error!(error = %error, "password reset not started: user lookup failed");
                return;
            }
        };
        let mut event = AuditEvent::new(AuditEventType::PasswordResetRequested, self.now())
            .client(ip_text(client), client.user_agent.as_deref())
            .meta("email", canonical)
            .meta("account_exists", user.is_some());
        event.user_id = user.as_ref().map(|user| user.id);
        self.audit(event).await;
        let Some(user) = user else {
            return;
        };

        let lifetime = self.inner.config.accounts.reset_token_lifetime;
        let Some(token) = self
            .issue_token(&user, TokenPurpose::PasswordReset, lifetime)
            .await
        else {
            return;
        };
        let body = format!(
            "Someone asked to reset the password of this account.\n\
             To choose a new password, open this link:\n{}/reset-password?token={}\n\
             The link works once and expires in {} minutes. If you did not ask, ignore this \
             message: your password stays as it is.",
            self.inner.config.accounts.public_url,
            token.expose(),
            lifetime.as_secs() / 60,
        );
        self.send_mail(Email {
            kind: EmailKind::PasswordReset,
            to: user.email.clone(),
            subject: "Reset your password".into(),
            body,
            token: Some(token.expose().to_owned()),
        })
        .await;
    }

    /// Issues a one-time token, replacing the user's older ones of the same purpose. Returns
    /// `None` after logging when it cannot be stored.
    pub(super) async fn issue_token(
        &self,
        user: &User,
        purpose: TokenPurpose,
        lifetime: Duration,
    ) -> Option<SecretToken> {
        let token = match SecretToken::generate() {
            Ok(token) => token,
            Err(error) => {
                tracing::error!(error = %error, "random source failed: token not issued");
                return None;
            }
        };
        let now = self.now();
        let record = OneTimeToken {
            digest: token.digest(),
            user_id: user.id,
            purpose,
            created_at: now,
            expires_at: now + span(lifetime),
            used_at: None,
        };
        match self.inner.stores.tokens.issue_token(record).await {
            Ok(()) => Some(token),
            Err(error) => {
                tracing::error!(error = %error, purpose = purpose.as_str(), "token not stored");
                None
            }
        }
    }

    /// Sets a new password with a reset token, revokes every session of the user and every
    /// other reset token, and clears the lockout of the address.
    ///
    /// The token is consumed atomically before hashing, so of concurrent uses exactly one
    /// succeeds; a token issued before the password last changed is rejected.
    ///
    /// # Errors
    ///
    /// [`AuthError::Validation`] when the new password breaks the policy (the token stays
    /// usable); [`AuthError::InvalidToken`] when the token is malformed, unknown, used,
    /// expired or stale; [`AuthError::ServiceUnavailable`] when a store fails.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        client: &ClientContext,
    ) -> Result<(), AuthError> {
        let (this, token, new_password, client) = (
            self.clone(),
            token.to_owned(),
            new_password.to_owned(),
            client.clone(),
        );
        run_to_completion(async move {
            this.reset_password_steps(&token, &new_password, &client)
                .await
        })
        .await
    }

    async fn reset_password_steps(
        &self,
        token: &str,
        new_password: &str,
        client: &ClientContext,
    ) -> Result<(), AuthError> {
        self.inner
            .policy
            .validate(new_password)
            .map_err(|details| AuthError::Validation { details })?;
        let (record, user) = self
            .consume_token(token, TokenPurpose::PasswordReset)
            .await?;

        let revoked = self
            .store_new_password(&user, new_password, None)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        // The reset link reached the address, which proves control of it as a verification
        // link would; this also rescues accounts whose verification link expired.
        if !user.email_verified
            && let Err(error) = self.inner.stores.users.mark_email_verified(user.id).await
        {
            tracing::error!(user_id = %user.id, error = %error, "address not marked verified after a reset");
        }
        if let Err(error) = self.inner.stores.lockouts.clear_lockout(&user.email).await {
            tracing::error!(error = %error, "lockout not cleared after a password reset");
        }
        self.audit(
            AuditEvent::new(AuditEventType::PasswordReset, self.now())
                .user(user.id)
                .client(ip_text(client), client.user_agent.as_deref())
                .meta("sessions_revoked", revoked)
                .meta("token_issued_at", record.created_at.unix_timestamp()),
        )
        .await;
        self.notify_password_changed(&user);
        Ok(())
    }

    /// Marks the address of a verification token's user as verified.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidToken`] when the token is malformed, unknown, used or expired;
    /// [`AuthError::ServiceUnavailable`] when a store fails.
    pub async fn verify_email(&self, token: &str, client: &ClientContext) -> Result<(), AuthError> {
        let (this, token, client) = (self.clone(), token.to_owned(), client.clone());
        run_to_completion(async move { this.verify_email_steps(&token, &client).await }).await
    }

    async fn verify_email_steps(
        &self,
        token: &str,
        client: &ClientContext,
    ) -> Result<(), AuthError> {
        let (_, user) = self
            .consume_token(token, TokenPurpose::EmailVerification)
            .await?;
        let marked = self
            .inner
            .stores
            .users
            .mark_email_verified(user.id)
            .await
            .map_err(|error| self.store_failure("email verification", error))?;
        if !marked {
            return Err(AuthError::InvalidToken);
        }
        self.audit(
            AuditEvent::new(AuditEventType::EmailVerified, self.now())
                .user(user.id)
                .client(ip_text(client), client.user_agent.as_deref()),
        )
        .await;
        Ok(())
    }

    async fn consume_token(
        &self,
        token: &str,
        purpose: TokenPurpose,
    ) -> Result<(OneTimeToken, User), AuthError> {
        let token = SecretToken::parse(token).ok_or(AuthError::InvalidToken)?;
        let now = self.now();
        let record = self
            .inner
            .stores
            .tokens
            .consume_token(&token.digest(), purpose, now)
            .await
            .map_err(|error| self.store_failure("token use", error))?
            .ok_or(AuthError::InvalidToken)?;
        let user = self
            .inner
            .stores
            .users
            .find_user_by_id(record.user_id)
            .await
            .map_err(|error| self.store_failure("token use", error))?
            .ok_or(AuthError::InvalidToken)?;
        // A reset link mailed before the password last changed must not work afterwards. A
        // verification link proves control of the address whatever the password is.
        if purpose == TokenPurpose::PasswordReset && record.created_at < user.password_changed_at {
            return Err(AuthError::InvalidToken);
        }
        Ok((record, user))
    }

    /// Changes the password of a logged-in user after checking the current one.
    ///
    /// Every other session of the user and every outstanding reset token is revoked. The
    /// session that made the change stays valid, so the user is not logged out mid-action.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidCredentials`] when `current_password` is wrong;
    /// [`AuthError::Validation`] when the new password breaks the policy;
    /// [`AuthError::Unauthorized`] when the user no longer exists;
    /// [`AuthError::ServiceUnavailable`] when a store fails.
    pub async fn change_password(
        &self,
        session: &SessionRecord,
        current_password: &str,
        new_password: &str,
        client: &ClientContext,
    ) -> Result<(), AuthError> {
        let this = self.clone();
        let (session, client) = (session.clone(), client.clone());
        let (current, new) = (current_password.to_owned(), new_password.to_owned());
        run_to_completion(async move {
            this.change_password_steps(&session, &current, &new, &client)
                .await
        })
        .await
    }

    async fn change_password_steps(
        &self,
        session: &SessionRecord,
        current_password: &str,
        new_password: &str,
        client: &ClientContext,
    ) -> Result<(), AuthError> {
        if self.inner.policy.exceeds_max_length(current_password) {
            return Err(AuthError::InvalidCredentials);
        }
        self.inner
            .policy
            .validate(new_password)
            .map_err(|details| AuthError::Validation { details })?;
        if new_password.nfc().eq(current_password.nfc()) {
            return Err(AuthError::Validation {
                details: vec!["The new password must differ from the current one.".into()],
            });
        }
        let user = self.current_user(session).await?;
        // Guesses of the current password from a stolen session count against the same
        // lockout as logins, so a session cannot be used to brute-force the password.
        // The same audit events as a login: each refused or failed check, and the lock.
        let now = self.now();
        let locked_now = match self
            .begin_attempt(&user.email, now, "password change")
            .await?
        {
            AttemptDecision::Locked { until } => {
                self.audit_login_failure(Some(user.id), &user.email, "locked", client)
                    .await;
                return Err(locked_error(until, now));
            }
            AttemptDecision::Allowed { locked_now, .. } => locked_now,
        };
        let valid = self.verify_stored(&user, current_password).await?.valid;
        if !valid {
            self.audit_login_failure(
                Some(user.id),
                &user.email,
                "invalid_current_password",
                client,
            )
            .await;
            self.audit_lock(Some(user.id), &user.email, locked_now, client)
                .await;
            return Err(AuthError::InvalidCredentials);
        }
        if let Err(error) = self.inner.stores.lockouts.clear_lockout(&user.email).await {
            tracing::error!(error = %error, "lockout counter not cleared after a password check");
        }

        let revoked = self
            .store_new_password(&user, new_password, Some(session))
            .await?
            .ok_or(AuthError::Unauthorized)?;
        self.audit(
            AuditEvent::new(AuditEventType::PasswordChanged, now)
                .user(user.id)
                .client(ip_text(client), client.user_agent.as_deref())
                .meta("sessions_revoked", revoked),
        )
        .await;
        self.notify_password_changed(&user);
        Ok(())
    }

    /// Hashes and stores a new password, and revokes the user's sessions (all but `keep`) and
    /// reset links. Returns the number of sessions revoked, or `None` when the user is gone.
    ///
    /// Sessions are revoked before the hash changes, so a store failure there leaves the
    /// account as it was and the client can retry. They are revoked again afterwards, because
    /// a login with the old password may have slipped in between; that second pass, and the
    /// revocation of reset links, are logged when they fail, since the password has changed
    /// by then and the response must report success.
    async fn store_new_password(
        &self,
        user: &User,
        new_password: &str,
        keep: Option<&SessionRecord>,
    ) -> Result<Option<u64>, AuthError> {
        let hash = self
            .inner
            .hasher
            .hash(new_password)
            .await
            .map_err(AuthError::unavailable)?;
        let now = self.now();
        let stores = &self.inner.stores;
        let keep = keep.map(|session| &session.token_digest);
        let before = stores
            .sessions
            .revoke_user_sessions(user.id, keep)
            .await
            .map_err(|error| self.store_failure("session revocation", error))?;
        let stored = stores
            .users
            .set_password_hash(user.id, &hash, now)
            .await
            .map_err(|error| self.store_failure("password update", error))?;
        if !stored {
            return Ok(None);
        }
        let after = match stores.sessions.revoke_user_sessions(user.id, keep).await {
            Ok(count) => count,
            Err(error) => {
                tracing::error!(user_id = %user.id, error = %error, "sessions not revoked after a password change");
                0
            }
        };
        if let Err(error) = stores
            .tokens
            .revoke_user_tokens(user.id, TokenPurpose::PasswordReset)
            .await
        {
            // Stale links still fail: they predate the password change.
            tracing::error!(user_id = %user.id, error = %error, "reset links not revoked after a password change");
        }
        Ok(Some(before + after))
    }

    fn notify_password_changed(&self, user: &User) {
        let service = self.clone();
        let email = Email {
            kind: EmailKind::PasswordChanged,
            to: user.email.clone(),
            subject: "Your password was changed".into(),
            body: "The password of your account was just changed, and every other session was \
                   logged out. If this was not you, reset your password at once."
                .into(),
            token: None,
        };
        tokio::spawn(async move { service.send_mail(email).await });
    }

    /// Lists the live sessions of a user, newest first.
    ///
    /// # Errors
    ///
    /// [`AuthError::ServiceUnavailable`] when the store fails.
    pub async fn list_sessions(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, AuthError> {
        let now = self.now();
        let idle_cutoff = now - span(self.inner.config.session.idle_timeout);
        let sessions = self
            .inner
            .stores
            .sessions
            .list_user_sessions(user_id)
            .await
            .map_err(|error| self.store_failure("session listing", error))?;
        Ok(sessions
            .into_iter()
            .filter(|session| session.expires_at > now && session.last_seen_at > idle_cutoff)
            .collect())
    }

    /// Revokes one of the caller's own sessions by its public id.
    ///
    /// # Errors
    ///
    /// [`AuthError::NotFound`] when the user has no such session;
    /// [`AuthError::ServiceUnavailable`] when the store fails.
    pub async fn revoke_own_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        client: &ClientContext,
    ) -> Result<(), AuthError> {
        let (this, client) = (self.clone(), client.clone());
        run_to_completion(async move {
            this.revoke_own_session_steps(user_id, session_id, &client)
                .await
        })
        .await
    }

    async fn revoke_own_session_steps(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        client: &ClientContext,
    ) -> Result<(), AuthError> {
        let revoked = self
            .inner
            .stores
            .sessions
            .revoke_session_by_id(user_id, session_id)
            .await
            .map_err(|error| self.store_failure("session revocation", error))?;
        if !revoked {
            return Err(AuthError::NotFound);
        }
        self.audit(
            AuditEvent::new(AuditEventType::SessionRevoked, self.now())
                .user(user_id)
                .client(ip_text(client), client.user_agent.as_deref())
                .meta("session_id", session_id.to_string())
                .meta("reason", "revoked_by_user"),
        )
        .await;
        Ok(())
    }

    /// Deletes expired sessions and used or expired tokens; returns how many of each. Call it
    /// periodically, for example every few minutes.
    ///
    /// # Errors
    ///
    /// [`AuthError::ServiceUnavailable`] when a store fails.
    pub async fn purge_expired(&self) -> Result<(u64, u64), AuthError> {
        let now = self.now();
        let idle_cutoff = now - span(self.inner.config.session.idle_timeout);
        let stores = &self.inner.stores;
        let sessions = stores
            .sessions
            .purge_expired_sessions(now, idle_cutoff)
            .await
            .map_err(|error| self.store_failure("session purge", error))?;
        let tokens = stores
            .tokens
            .purge_expired_tokens(now)
            .await
            .map_err(|error| self.store_failure("token purge", error))?;
        Ok((sessions, tokens))
    }

    /// Lists users for administrators, oldest first.
    ///
    /// # Errors
    ///
    /// [`AuthError::ServiceUnavailable`] when the store fails.
    pub async fn list_users(&self, offset: usize, limit: usize) -> Result<Vec<User>, AuthError> {
        self.inner
            .stores
            .users
            .list_users(offset, limit)
            .await
            .map_err(|error| self.store_failure("user listing", error))
    }

    /// Queries the audit trail, newest first.
    ///
    /// # Errors
    ///
    /// [`AuthError::ServiceUnavailable`] when the store fails.
    pub async fn query_audit(
        &self,
        query: &crate::audit::AuditQuery,
    ) -> Result<Vec<AuditEvent>, AuthError> {
        self.inner
            .stores
            .audit
            .query_events(query)
            .await
            .map_err(|error| self.store_failure("audit query", error))
    }
}
