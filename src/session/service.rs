//! [`Session`]: the middleware service, and the store lookup it runs per request.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::USER_AGENT;
use http::{Request, Response};
use time::OffsetDateTime;
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::Shared;
use crate::audit::{AuditEvent, AuditEventType, truncate_user_agent};
use crate::body::ResponseBody;
use crate::client_ip::client_ip;
use crate::config::BindingMode;
use crate::store::{SessionRecord, StoreError};
use crate::token::TokenDigest;

/// The service built by [`SessionLayer`](super::SessionLayer).
#[derive(Clone)]
pub struct Session<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Session<S> {
    pub(super) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// Returns the wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Session<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("inner", &self.inner)
            .field("layer", &self.shared)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Session<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        // Several cookies of our name arrive when one was set for another path or planted
        // from a sibling subdomain. The first few well-formed ones are tried in order, and
        // none is cleared when all fail, so a planted cookie can neither hide nor delete the
        // real one.
        let mut candidates = [None; MAX_COOKIE_CANDIDATES];
        let mut count = 0;
        let mut well_formed = 0;
        for value in shared.cookie.values(request.headers()) {
            count += 1;
            if let Some(digest) = TokenDigest::of_token_text(value)
                && well_formed < MAX_COOKIE_CANDIDATES
            {
                candidates[well_formed] = Some(digest);
                well_formed += 1;
            }
        }
        let several = count > 1;
        if count == 0 {
            return ResponseFuture::direct(self.inner.call(request), shared, false);
        }
        if well_formed == 0 {
            tracing::debug!("malformed session cookie; request continues as anonymous");
            return ResponseFuture::direct(self.inner.call(request), shared, !several);
        }

        let client = Client::of(&request, &shared);
        let lookup = Box::pin(resolve_first(Arc::clone(&shared), candidates, client));
        // The clone takes the place of the service that `poll_ready` prepared, which the
        // future calls once the lookup is done.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::lookup(lookup, ready, request, shared, !several)
    }
}

/// The maximum number of session cookies of one request that are looked up; more are ignored, so a flood of
/// cookies cannot turn one request into many store reads.
const MAX_COOKIE_CANDIDATES: usize = 3;

/// Returns the first valid session among `candidates`, looked up in order.
async fn resolve_first(
    shared: Arc<Shared>,
    candidates: [Option<TokenDigest>; MAX_COOKIE_CANDIDATES],
    client: Client,
) -> Result<Option<SessionRecord>, StoreError> {
    for digest in candidates.into_iter().flatten() {
        if let Some(record) = resolve(&shared, digest, &client).await? {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// The store lookup of one request: the valid session, or `None` when the request is
/// anonymous.
pub(super) type Lookup =
    Pin<Box<dyn Future<Output = Result<Option<SessionRecord>, StoreError>> + Send>>;

/// The client properties a session may be bound to.
struct Client {
    ip: Option<IpAddr>,
    /// Truncated like the stored one; read only when a binding is on.
    user_agent: Option<String>,
}

impl Client {
    fn of<B>(request: &Request<B>, shared: &Shared) -> Self {
        let binding = shared.bind_ip || shared.bind_user_agent;
        let user_agent = binding
            .then(|| request.headers().get(USER_AGENT))
            .flatten()
            .and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
            .map(truncate_user_agent);
        Self {
            ip: client_ip(request),
            user_agent,
        }
    }
}

/// Finds the session of `digest`, revokes it when it is no longer valid for `client`, and
/// writes `last_seen_at` when the touch interval has passed.
///
/// Only the lookup's failure is returned as an error. A failed revoke or audit append is
/// logged and the request continues as anonymous. A failed touch is logged and the session
/// stays valid, so the next request retries it.
async fn resolve(
    shared: &Shared,
    digest: TokenDigest,
    client: &Client,
) -> Result<Option<SessionRecord>, StoreError> {
    let Some(mut record) = shared.store.find_session(&digest).await? else {
        tracing::debug!("unknown session cookie; request continues as anonymous");
        return Ok(None);
    };
    let now = shared.clock.now();

    if let Some(reason) = rejection(shared, &record, now, client) {
        let mismatch = reason.ends_with("_mismatch");
        if mismatch && shared.binding_mode == BindingMode::LogOnly {
            alert(shared, &record, now, client, reason).await;
        } else {
            revoke(shared, &record, now, client, reason).await;
            return Ok(None);
        }
    }

    let stale_at = now.saturating_sub(shared.touch_interval);
    if record.last_seen_at <= stale_at {
        // Conditional on the stored time, so concurrent requests write once per interval.
        match shared
            .store
            .touch_session_if_stale(&digest, now, stale_at)
            .await
        {
            Ok(Some(seen)) => record.last_seen_at = seen,
            Ok(None) => {
                tracing::debug!(session_id = %record.id, "session revoked during the request");
                return Ok(None);
            }
            Err(error) => tracing::error!(
                session_id = %record.id,
                error = %error,
                "failed to write session last_seen_at; the session stays valid"
            ),
        }
    }
    Ok(Some(record))
}

/// Returns why `record` is not valid at `now` for `client`, or `None` when it is valid.
fn rejection(
    shared: &Shared,
    record: &SessionRecord,
    now: OffsetDateTime,
    client: &Client,
) -> Option<&'static str> {
    if record.expires_at <= now {
        return Some("expired");
    }
    if record.last_seen_at <= now.saturating_sub(shared.idle_timeout) {
        return Some("idle_timeout");
    }
    if shared.bind_ip && !same_network(shared, record.ip_address, client.ip) {
        return Some("ip_mismatch");
    }
    if shared.bind_user_agent
        && record.user_agent.as_deref().map(user_agent_family)
            != client.user_agent.as_deref().map(user_agent_family)
    {
        return Some("user_agent_mismatch");
    }
    None
}

/// Returns true when both addresses are known and share the configured prefix.
fn same_network(shared: &Shared, stored: Option<IpAddr>, current: Option<IpAddr>) -> bool {
    match (stored, current) {
        (Some(IpAddr::V4(a)), Some(IpAddr::V4(b))) => {
            let mask = prefix_mask_u32(shared.bind_ipv4_prefix);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (Some(IpAddr::V6(a)), Some(IpAddr::V6(b))) => {
            let mask = prefix_mask_u128(shared.bind_ipv6_prefix);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

fn prefix_mask_u32(bits: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(bits.min(32)))
        .unwrap_or(0)
}

fn prefix_mask_u128(bits: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(bits.min(128)))
        .unwrap_or(0)
}

/// Returns a `User-Agent` without its digits, so that a browser updating itself
/// (`Chrome/120` to `Chrome/121`) keeps its sessions while another browser or device does not.
fn user_agent_family(user_agent: &str) -> String {
    user_agent.chars().filter(|c| !c.is_ascii_digit()).collect()
}

/// Records a binding mismatch that the log-only mode lets through.
async fn alert(
    shared: &Shared,
    record: &SessionRecord,
    now: OffsetDateTime,
    client: &Client,
    reason: &'static str,
) {
    tracing::warn!(
        session_id = %record.id,
        user_id = %record.user_id,
        reason,
        "session used by a different client; kept because binding is log-only"
    );
    append_binding_event(
        shared,
        AuditEventType::SecurityAlert,
        record,
        now,
        client,
        reason,
    )
    .await;
}

/// Revokes an invalid session. A binding mismatch is also logged as a warning and appended
/// to the audit store, because it may mean a stolen cookie.
async fn revoke(
    shared: &Shared,
    record: &SessionRecord,
    now: OffsetDateTime,
    client: &Client,
    reason: &'static str,
) {
    let mismatch = reason.ends_with("_mismatch");
    if mismatch {
        tracing::warn!(
            session_id = %record.id,
            user_id = %record.user_id,
            reason,
            "session used by a different client; revoking it"
        );
    } else {
        tracing::debug!(session_id = %record.id, reason, "session ended; revoking it");
    }

    if let Err(error) = shared.store.revoke_session(&record.token_digest).await {
        tracing::error!(
            session_id = %record.id,
            reason,
            error = %error,
            "failed to revoke invalid session"
        );
    }
    if mismatch {
        let kind = AuditEventType::SessionRevoked;
        append_binding_event(shared, kind, record, now, client, reason).await;
    }
}

/// Appends an audit event about a binding mismatch, when an audit store is set.
async fn append_binding_event(
    shared: &Shared,
    event_type: AuditEventType,
    record: &SessionRecord,
    now: OffsetDateTime,
    client: &Client,
    reason: &'static str,
) {
    let Some(audit) = shared.audit.as_ref() else {
        return;
    };
    let event = AuditEvent::new(event_type, now)
        .user(record.user_id)
        .client(
            client.ip.map(|ip| ip.to_string()),
            client.user_agent.as_deref(),
        )
        .meta("reason", reason)
        .meta("session_id", record.id.to_string());
    if let Err(error) = audit.append_event(event).await {
        tracing::error!(
            session_id = %record.id,
            event_type = %event_type,
            error = %error,
            "failed to append audit event for a session binding mismatch"
        );
    }
}
