//! [`AuthService`]: construction, signup, login, logout and lookups.

use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use super::email::canonical_email;
use super::stores::Stores;
use super::task::run_to_completion;
use crate::audit::{AuditEvent, AuditEventType};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{AuthConfig, ConfigError};
use crate::error::{AuthError, retry_after_secs};
use crate::mail::{Email, EmailKind, LogMailer, Mailer};
use crate::password::{PasswordError, PasswordHasher, PasswordPolicy, Verification};
use crate::store::{AttemptDecision, SessionRecord, StoreError, User};
use crate::token::SecretToken;

/// The client that sent a request, recorded in sessions and audit events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientContext {
    /// The client address, as resolved by [`crate::client_ip::client_ip`].
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header, if it was valid UTF-8.
    pub user_agent: Option<String>,
}

/// The result of a signup. It is the same whether or not the address already had an account,
/// so it carries nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignupOutcome;

/// The result of a successful login.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// The user who logged in.
    pub user: User,
    /// The new session's token, for the session cookie. Never stored.
    pub token: SecretToken,
    /// The new session as stored.
    pub session: SessionRecord,
}

/// The account flows over a set of stores; cheap to clone.
#[derive(Clone)]
pub struct AuthService {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) config: AuthConfig,
    pub(super) stores: Stores,
    pub(super) mailer: Arc<dyn Mailer>,
    /// True while the mailer is the default [`LogMailer`], which delivers nothing.
    pub(super) mailer_is_log: bool,
    pub(super) warned_log_mailer: std::sync::atomic::AtomicBool,
    pub(super) hasher: PasswordHasher,
    pub(super) policy: PasswordPolicy,
    pub(super) clock: SharedClock,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Converts a configured duration into a time span, saturating far beyond any valid setting.
pub(super) fn span(duration: std::time::Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}

impl AuthService {
    /// Creates the service over `stores`, with the [`LogMailer`] and the system clock.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `config` is invalid (see [`AuthConfig::validate`]).
    pub fn new(config: AuthConfig, stores: Stores) -> Result<Self, ConfigError> {
        config.validate()?;
        let hasher = PasswordHasher::new(&config.password)?;
        let policy = PasswordPolicy::new(&config.password);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                stores,
                mailer: Arc::new(LogMailer),
                mailer_is_log: true,
                warned_log_mailer: std::sync::atomic::AtomicBool::new(false),
                hasher,
                policy,
                clock: Arc::new(SystemClock),
            }),
        })
    }

    /// Replaces the mailer.
    #[must_use]
    pub fn with_mailer(self, mailer: impl Mailer) -> Self {
        self.rebuild(|inner| {
            inner.mailer = Arc::new(mailer);
            inner.mailer_is_log = false;
        })
    }

    /// Replaces the clock, for tests.
    #[must_use]
    pub fn with_clock(self, clock: SharedClock) -> Self {
        self.rebuild(|inner| inner.clock = clock)
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            config: shared.config.clone(),
            stores: shared.stores.clone(),
            mailer: shared.mailer.clone(),
            mailer_is_log: shared.mailer_is_log,
            warned_log_mailer: std::sync::atomic::AtomicBool::new(false),
            hasher: shared.hasher.clone(),
            policy: shared.policy.clone(),
            clock: shared.clock.clone(),
        });
        let mut inner = inner;
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Builds the dummy password hash that logins for unknown addresses verify against, so
    /// the first such login costs no more than a wrong password. Call it once at start-up;
    /// without it the first unknown login builds the hash itself.
    ///
    /// # Errors
    ///
    /// [`AuthError::ServiceUnavailable`] when the hashing pool fails.
    pub async fn warm_up(&self) -> Result<(), AuthError> {
        self.inner
            .hasher
            .prepare_dummy()
            .await
            .map_err(AuthError::unavailable)
    }

    /// Returns the configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// Returns the stores.
    pub fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    /// Returns the clock.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    pub(super) fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// Creates an account.
    ///
    /// The result is the same whether or not `email` already has an account: the owner of an
    /// existing account gets a notice by email instead. The password is hashed in both cases so
    /// the timing matches too. A new account gets a verification email.
    ///
    /// # Errors
    ///
    /// [`AuthError::Validation`] listing every problem with the address and the password;
    /// [`AuthError::ServiceUnavailable`] when a store or the hashing pool fails.
    pub async fn signup(
        &self,
        email: &str,
        password: &str,
        client: &ClientContext,
    ) -> Result<SignupOutcome, AuthError> {
        let (this, email, password, client) = (
            self.clone(),
            email.to_owned(),
            password.to_owned(),
            client.clone(),
        );
        run_to_completion(async move { this.signup_steps(&email, &password, &client).await }).await
    }

    async fn signup_steps(
        &self,
        email: &str,
        password: &str,
        client: &ClientContext,
    ) -> Result<SignupOutcome, AuthError> {
        let mut details = Vec::new();
        let canonical = match canonical_email(email) {
            Ok(canonical) => Some(canonical),
            Err(error) => {
                details.push(error.detail());
                None
            }
        };
        if let Err(failed) = self.inner.policy.validate(password) {
            details.extend(failed);
        }
        let Some(canonical) = canonical.filter(|_| details.is_empty()) else {
            return Err(AuthError::Validation { details });
        };

        let hash = self
            .inner
            .hasher
            .hash(password)
            .await
            .map_err(AuthError::unavailable)?;
        let now = self.now();
        let user = User {
            id: Uuid::new_v4(),
            email: canonical.clone(),
            password_hash: hash,
            email_verified: false,
            created_at: now,
            password_changed_at: now,
        };
        match self.inner.stores.users.create_user(user).await {
            Ok(user) => {
                self.audit(
                    AuditEvent::new(AuditEventType::Signup, now)
                        .user(user.id)
                        .client(ip_text(client), client.user_agent.as_deref()),
                )
                .await;
                let service = self.clone();
                tokio::spawn(async move { service.send_verification(&user).await });
            }
            Err(StoreError::Conflict) => {
                let service = self.clone();
                let client = client.clone();
                tokio::spawn(
                    async move { service.notify_duplicate_signup(&canonical, &client).await },
                );
            }
            Err(error) => return Err(self.store_failure("signup", error)),
        }
        Ok(SignupOutcome)
    }

    async fn notify_duplicate_signup(&self, canonical: &str, client: &ClientContext) {
        let user = match self.inner.stores.users.find_user_by_email(canonical).await {
            Ok(Some(user)) => user,
            Ok(None) => return,
            Err(error) => {
                tracing::error!(error = %error, "duplicate-signup notice not sent: user lookup failed");
                return;
            }
        };
        self.audit(
            AuditEvent::new(AuditEventType::SignupDuplicate, self.now())
                .user(user.id)
                .client(ip_text(client), client.user_agent.as_deref()),
        )
        .await;
        // Signing up again is how an owner whose verification link expired gets a new one.
        if !user.email_verified {
            self.send_verification(&user).await;
            return;
        }
        let body = format!(
            "Someone tried to create an account with this address, which already has one.\n\
             If it was you, log in or reset your password at {}/forgot-password.\n\
             If not, you can ignore this message.",
            self.inner.config.accounts.public_url
        );
        self.send_mail(Email {
            kind: EmailKind::AccountExists,
            to: user.email,
            subject: "Sign-up attempt for your account".into(),
            body,
            token: None,
        })
        .await;
    }

    /// Logs a user in and creates a session.
    ///
    /// Counts the attempt against the address's lockout before verifying anything, so of any
    /// number of concurrent guesses at most the configured maximum reach a password check.
    /// Known and unknown addresses run the same Argon2id work: one verification, or two when
    /// the password is not in NFC form and the raw form is tried too.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidCredentials`] for an unknown address, a wrong or overlong password;
    /// [`AuthError::AccountLocked`] while the address is locked; [`AuthError::EmailNotVerified`]
    /// after a correct password when verification is required;
    /// [`AuthError::ServiceUnavailable`] when a store fails.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: &ClientContext,
    ) -> Result<LoginOutcome, AuthError> {
        let (this, email, password, client) = (
            self.clone(),
            email.to_owned(),
            password.to_owned(),
            client.clone(),
        );
        run_to_completion(async move { this.login_steps(&email, &password, &client).await }).await
    }

    async fn login_steps(
        &self,
        email: &str,
        password: &str,
        client: &ClientContext,
    ) -> Result<LoginOutcome, AuthError> {
        // Rejected before any hashing, so huge passwords cannot burn CPU.
        if self.inner.policy.exceeds_max_length(password) {
            return Err(AuthError::InvalidCredentials);
        }
        // No account can exist under a malformed address: nothing to look up or lock.
        let Ok(canonical) = canonical_email(email) else {
            return Err(AuthError::InvalidCredentials);
        };
        let now = self.now();
        let locked_now = match self.begin_attempt(&canonical, now, "login").await? {
            AttemptDecision::Locked { until } => {
                self.audit_login_failure(None, &canonical, "locked", client)
                    .await;
                return Err(locked_error(until, now));
            }
            AttemptDecision::Allowed { locked_now, .. } => locked_now,
        };

        let found = self
            .inner
            .stores
            .users
            .find_user_by_email(&canonical)
            .await
            .map_err(|error| self.store_failure("login", error))?;
        let Some(user) = found else {
            if let Err(error) = self.inner.hasher.verify_dummy(password).await {
                tracing::error!(error = %error, "dummy password verification failed");
            }
            self.audit_login_failure(None, &canonical, "unknown_email", client)
                .await;
            self.audit_lock(None, &canonical, locked_now, client).await;
            return Err(AuthError::InvalidCredentials);
        };

        let verification = self.verify_stored(&user, password).await?;
        if !verification.valid {
            self.audit_login_failure(Some(user.id), &canonical, "invalid_password", client)
                .await;
            self.audit_lock(Some(user.id), &canonical, locked_now, client)
                .await;
            return Err(AuthError::InvalidCredentials);
        }

        if let Err(error) = self.inner.stores.lockouts.clear_lockout(&canonical).await {
            tracing::error!(error = %error, "lockout counter not cleared after a successful login");
        }
        if self.inner.config.accounts.require_email_verification && !user.email_verified {
            self.audit_login_failure(Some(user.id), &canonical, "email_not_verified", client)
                .await;
            return Err(AuthError::EmailNotVerified);
        }
        if verification.needs_rehash {
            let service = self.clone();
            let user = user.clone();
            let password = password.to_owned();
            tokio::spawn(async move { service.upgrade_hash(&user, &password).await });
        }

        let (token, session) = self.create_session(&user, client).await?;
        self.audit(
            AuditEvent::new(AuditEventType::LoginSuccess, self.now())
                .user(user.id)
                .client(ip_text(client), client.user_agent.as_deref())
                .meta("session_id", session.id.to_string()),
        )
        .await;
        Ok(LoginOutcome {
            user,
            token,
            session,
        })
    }

    /// Rewrites a hash made with weaker parameters, only if the stored hash is still the one
    /// that was verified: a password changed meanwhile is never overwritten.
    async fn upgrade_hash(&self, user: &User, password: &str) {
        let new_hash = match self.inner.hasher.hash(password).await {
            Ok(hash) => hash,
            Err(error) => {
                tracing::error!(user_id = %user.id, error = %error, "password rehash failed");
                return;
            }
        };
        let users = &self.inner.stores.users;
        match users
            .replace_password_hash(user.id, &user.password_hash, &new_hash)
            .await
        {
            Ok(true) => {
                tracing::info!(user_id = %user.id, "password hash upgraded to current parameters")
            }
            Ok(false) => {
                tracing::info!(user_id = %user.id, "password hash not upgraded: it changed meanwhile")
            }
            Err(error) => {
                tracing::error!(user_id = %user.id, error = %error, "password hash upgrade not stored")
            }
        }
    }

    async fn create_session(
        &self,
        user: &User,
        client: &ClientContext,
    ) -> Result<(SecretToken, SessionRecord), AuthError> {
        let now = self.now();
        let config = &self.inner.config.session;
        let (token, record) = crate::session::new_session(
            user.id,
            now,
            config,
            client.ip,
            client.user_agent.as_deref(),
        )
        .map_err(AuthError::unavailable)?;
        let idle_cutoff = now - span(config.idle_timeout);
        let evicted = self
            .inner
            .stores
            .sessions
            .create_session(record.clone(), config.max_per_user, idle_cutoff)
            .await
            .map_err(|error| self.store_failure("session creation", error))?;
        if evicted.iter().any(|old| old.id == record.id) {
            // Only possible when the clock moved backwards past the user's newer sessions.
            tracing::error!(user_id = %user.id, "new session evicted at once: clock went backwards");
            return Err(AuthError::unavailable("new session evicted at creation"));
        }
        self.audit(
            AuditEvent::new(AuditEventType::SessionCreated, now)
                .user(user.id)
                .client(ip_text(client), client.user_agent.as_deref())
                .meta("session_id", record.id.to_string()),
        )
        .await;
        for old in evicted {
            self.audit(
                AuditEvent::new(AuditEventType::SessionRevoked, now)
                    .user(user.id)
                    .client(ip_text(client), client.user_agent.as_deref())
                    .meta("session_id", old.id.to_string())
                    .meta("reason", "session_limit"),
            )
            .await;
        }
        Ok((token, record))
    }

    /// Ends a session server-side. Without a session it does nothing and still succeeds, so
    /// logging out twice is harmless.
    ///
    /// # Errors
    ///
    /// [`AuthError::ServiceUnavailable`] when the session store fails.
    pub async fn logout(
        &self,
        session: Option<&SessionRecord>,
        client: &ClientContext,
    ) -> Result<(), AuthError> {
        let (this, session, client) = (self.clone(), session.cloned(), client.clone());
        run_to_completion(async move { this.logout_steps(session.as_ref(), &client).await }).await
    }

    async fn logout_steps(
        &self,
        session: Option<&SessionRecord>,
        client: &ClientContext,
    ) -> Result<(), AuthError> {
        let Some(session) = session else {
            return Ok(());
        };
        let existed = self
            .inner
            .stores
            .sessions
            .revoke_session(&session.token_digest)
            .await
            .map_err(|error| self.store_failure("logout", error))?;
        if existed {
            self.audit(
                AuditEvent::new(AuditEventType::Logout, self.now())
                    .user(session.user_id)
                    .client(ip_text(client), client.user_agent.as_deref())
                    .meta("session_id", session.id.to_string()),
            )
            .await;
        }
        Ok(())
    }

    /// Revokes the session a client held before logging in again, so an identifier planted
    /// before login (session fixation) never becomes or stays an authenticated session. Call
    /// it after the new session was stored. Failures are logged, not returned: the new
    /// session is valid either way.
    pub async fn revoke_replaced_session(&self, previous: &SessionRecord, client: &ClientContext) {
        let (this, previous, client) = (self.clone(), previous.clone(), client.clone());
        let steps = async move {
            this.revoke_replaced_session_steps(&previous, &client).await;
            Ok(())
        };
        // The steps log their own failures and return nothing else.
        let _ = run_to_completion(steps).await;
    }

    async fn revoke_replaced_session_steps(
        &self,
        previous: &SessionRecord,
        client: &ClientContext,
    ) {
        match self
            .inner
            .stores
            .sessions
            .revoke_session(&previous.token_digest)
            .await
        {
            Ok(true) => {
                self.audit(
                    AuditEvent::new(AuditEventType::SessionRevoked, self.now())
                        .user(previous.user_id)
                        .client(ip_text(client), client.user_agent.as_deref())
                        .meta("session_id", previous.id.to_string())
                        .meta("reason", "replaced_by_login"),
                )
                .await;
            }
            Ok(false) => {}
            Err(error) => {
                tracing::error!(error = %error, session_id = %previous.id, "replaced session not revoked");
            }
        }
    }

    /// Returns the user of a session.
    ///
    /// # Errors
    ///
    /// [`AuthError::Unauthorized`] when the user no longer exists;
    /// [`AuthError::ServiceUnavailable`] when the store fails.
    pub async fn current_user(&self, session: &SessionRecord) -> Result<User, AuthError> {
        self.inner
            .stores
            .users
            .find_user_by_id(session.user_id)
            .await
            .map_err(|error| self.store_failure("user lookup", error))?
            .ok_or(AuthError::Unauthorized)
    }

    /// Sends a verification link to a new account's address.
    pub(super) async fn send_verification(&self, user: &User) {
        let lifetime = self.inner.config.accounts.verify_token_lifetime;
        let Some(token) = self
            .issue_token(
                user,
                crate::store::TokenPurpose::EmailVerification,
                lifetime,
            )
            .await
        else {
            return;
        };
        let body = format!(
            "Confirm your email address by opening this link:\n{}/verify-email?token={}\n\
             The link works once and expires in {} hours.",
            self.inner.config.accounts.public_url,
            token.expose(),
            lifetime.as_secs() / 3600,
        );
        self.send_mail(Email {
            kind: EmailKind::VerifyEmail,
            to: user.email.clone(),
            subject: "Confirm your email address".into(),
            body,
            token: Some(token.expose().to_owned()),
        })
        .await;
    }

    pub(super) async fn send_mail(&self, email: Email) {
        let inner = &self.inner;
        if inner.mailer_is_log
            && !inner.config.development
            && !inner
                .warned_log_mailer
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                "account emails are only logged, not delivered: set a mailer with \
                 AuthService::with_mailer or Auth::with_mailer, or users cannot verify their \
                 address or reset their password"
            );
        }
        let kind = email.kind;
        if let Err(error) = self.inner.mailer.send(email).await {
            tracing::error!(error = %error, kind = ?kind, "email not sent");
        }
    }

    /// Appends an audit event. A failing audit store is logged and does not fail the request,
    /// so an outage of the audit trail cannot lock users out.
    pub(super) async fn audit(&self, event: AuditEvent) {
        let event_type = event.event_type;
        if let Err(error) = self.inner.stores.audit.append_event(event).await {
            tracing::error!(error = %error, event_type = %event_type, "audit event not stored");
        }
    }

    pub(super) async fn audit_login_failure(
        &self,
        user_id: Option<Uuid>,
        canonical: &str,
        reason: &str,
        client: &ClientContext,
    ) {
        let mut event = AuditEvent::new(AuditEventType::LoginFailure, self.now())
            .client(ip_text(client), client.user_agent.as_deref())
            .meta("email", canonical)
            .meta("reason", reason);
        event.user_id = user_id;
        self.audit(event).await;
    }

    pub(super) async fn audit_lock(
        &self,
        user_id: Option<Uuid>,
        canonical: &str,
        locked_now: bool,
        client: &ClientContext,
    ) {
        if !locked_now {
            return;
        }
        tracing::warn!(user_id = ?user_id, "login locked after too many failed attempts");
        let mut event = AuditEvent::new(AuditEventType::AccountLocked, self.now())
            .client(ip_text(client), client.user_agent.as_deref())
            .meta("email", canonical)
            .meta(
                "lock_seconds",
                self.inner.config.lockout.lock_duration.as_secs(),
            );
        event.user_id = user_id;
        self.audit(event).await;
    }

    /// Counts one password check against the lockout of `key` (a canonical email address)
    /// before any hashing, so concurrent checks can never exceed the configured maximum.
    pub(super) async fn begin_attempt(
        &self,
        key: &str,
        now: OffsetDateTime,
        operation: &'static str,
    ) -> Result<AttemptDecision, AuthError> {
        let lockout = &self.inner.config.lockout;
        self.inner
            .stores
            .lockouts
            .begin_attempt(key, now, lockout.max_attempts, span(lockout.lock_duration))
            .await
            .map_err(|error| self.store_failure(operation, error))
    }

    /// Verifies `password` against the user's stored hash. An unreadable stored hash is logged
    /// and counts as a mismatch, so a corrupt record gets the same response as a wrong password
    /// instead of a 503 that would reveal the account.
    pub(super) async fn verify_stored(
        &self,
        user: &User,
        password: &str,
    ) -> Result<Verification, AuthError> {
        match self
            .inner
            .hasher
            .verify(password, &user.password_hash)
            .await
        {
            Ok(verification) => Ok(verification),
            Err(error @ PasswordError::InvalidHash { .. }) => {
                tracing::error!(user_id = %user.id, error = %error, "stored password hash is unreadable");
                Ok(Verification::MISMATCH)
            }
            Err(error) => Err(AuthError::unavailable(error)),
        }
    }

    /// Logs a store failure and turns it into a 503.
    pub(super) fn store_failure(&self, operation: &'static str, error: StoreError) -> AuthError {
        tracing::error!(operation, error = %error, source = ?std::error::Error::source(&error), "store failed");
        AuthError::from(error)
    }
}

/// Builds the error for a locked address, with the whole seconds left until `until`.
pub(super) fn locked_error(until: OffsetDateTime, now: OffsetDateTime) -> AuthError {
    let wait = std::time::Duration::try_from(until - now).unwrap_or_default();
    AuthError::AccountLocked {
        retry_after_secs: retry_after_secs(wait),
    }
}

pub(super) fn ip_text(client: &ClientContext) -> Option<String> {
    client.ip.map(|ip| ip.to_string())
}
