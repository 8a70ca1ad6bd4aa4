//! Tests of the session layer, driven with `oneshot` and a manual clock.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, HeaderValue, SET_COOKIE, USER_AGENT};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use time::{Duration, OffsetDateTime};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use uuid::Uuid;

use super::{CurrentSession, SessionCookie, SessionLayer, new_session};
use crate::audit::{AuditEventType, AuditQuery, MAX_USER_AGENT_BYTES};
use crate::body::ResponseBody;
use crate::client_ip::PeerAddr;
use crate::clock::{Clock, ManualClock};
use crate::config::{AuthConfig, ConfigError, SessionConfig};
use crate::store::memory::MemoryStore;
use crate::store::{AuditStore, SessionRecord, SessionStore, StoreError};
use crate::token::{SecretToken, TokenDigest};

const LOGIN_IP: &str = "203.0.113.5";
const LOGIN_UA: &str = "Mozilla/5.0 Chrome/120.0";
const SESSION_USER: &str = "x-session-user";

/// A [`MemoryStore`] that counts touches and can fail lookups or lose a session to a
/// concurrent logout between lookup and touch.
#[derive(Default)]
struct TestStore {
    inner: MemoryStore,
    touches: AtomicUsize,
    lookups: AtomicUsize,
    fail_lookups: AtomicBool,
    revoke_after_lookup: AtomicBool,
}

#[async_trait]
impl SessionStore for TestStore {
    async fn create_session(
        &self,
        record: SessionRecord,
        max_per_user: usize,
        idle_cutoff: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner
            .create_session(record, max_per_user, idle_cutoff)
            .await
    }

    async fn find_session(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.fail_lookups.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("connection refused".into()));
        }
        let found = self.inner.find_session(digest).await;
        if self.revoke_after_lookup.load(Ordering::SeqCst) {
            self.inner.revoke_session(digest).await?;
        }
        found
    }

    async fn touch_session(
        &self,
        digest: &TokenDigest,
        last_seen_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.touches.fetch_add(1, Ordering::SeqCst);
        self.inner.touch_session(digest, last_seen_at).await
    }

    async fn revoke_session(&self, digest: &TokenDigest) -> Result<bool, StoreError> {
        self.inner.revoke_session(digest).await
    }

    async fn revoke_session_by_id(&self, user_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        self.inner.revoke_session_by_id(user_id, id).await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&TokenDigest>,
    ) -> Result<u64, StoreError> {
        self.inner.revoke_user_sessions(user_id, keep).await
    }

    async fn list_user_sessions(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.list_user_sessions(user_id).await
    }

    async fn purge_expired_sessions(
        &self,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.inner.purge_expired_sessions(now, idle_cutoff).await
    }
}

type TestResponse = Response<ResponseBody<Full<Bytes>>>;

struct Harness {
    config: SessionConfig,
    clock: ManualClock,
    store: Arc<TestStore>,
    audit: MemoryStore,
    layer: SessionLayer,
    calls: Arc<AtomicUsize>,
}

impl Harness {
    fn new(config: SessionConfig) -> Self {
        let clock = ManualClock::default();
        let store = Arc::new(TestStore::default());
        let audit = MemoryStore::new();
        let layer = SessionLayer::new(&config, store.clone())
            .unwrap()
            .with_clock(Arc::new(clock.clone()))
            .with_audit(Arc::new(audit.clone()));
        Self {
            config,
            clock,
            store,
            audit,
            layer,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Stores a session created now from the login address and agent, as login would.
    async fn login(&self) -> (SecretToken, SessionRecord) {
        let ip = LOGIN_IP.parse().ok();
        let now = self.clock.now();
        let (token, record) = new_session(Uuid::new_v4(), now, &self.config, ip, Some(LOGIN_UA))
            .expect("random source");
        self.store
            .create_session(record.clone(), 10, now - Duration::hours(2))
            .await
            .unwrap();
        (token, record)
    }

    /// Sends `request` through the layer to a handler that reports the session's user in a
    /// header and attaches `reply` to its response.
    async fn send(&self, request: Request<()>, reply: Option<SessionCookie>) -> TestResponse {
        let calls = Arc::clone(&self.calls);
        let handler = service_fn(move |request: Request<()>| {
            calls.fetch_add(1, Ordering::SeqCst);
            let reply = reply.clone();
            async move {
                let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                if let Some(CurrentSession(record)) = request.extensions().get() {
                    let user = HeaderValue::from_str(&record.user_id.to_string()).unwrap();
                    response.headers_mut().insert(SESSION_USER, user);
                }
                if let Some(cookie) = reply {
                    response.extensions_mut().insert(cookie);
                }
                Ok::<_, Infallible>(response)
            }
        });
        self.layer.layer(handler).oneshot(request).await.unwrap()
    }

    async fn stored(&self, record: &SessionRecord) -> Option<SessionRecord> {
        self.store.find_session(&record.token_digest).await.unwrap()
    }
}

/// Builds a GET from the login address and agent carrying `cookie` as the `Cookie` header.
fn request_with(cookie: Option<&str>) -> Request<()> {
    let mut builder = Request::builder().uri("/me").header(USER_AGENT, LOGIN_UA);
    if let Some(cookie) = cookie {
        builder = builder.header(COOKIE, cookie);
    }
    let mut request = builder.body(()).unwrap();
    let peer = SocketAddr::new(LOGIN_IP.parse().unwrap(), 40_000);
    request.extensions_mut().insert(PeerAddr(peer));
    request
}

fn session_request(token: &SecretToken) -> Request<()> {
    request_with(Some(&format!("amoskys_session={}", token.expose())))
}

fn session_user(response: &TestResponse) -> Option<&str> {
    response
        .headers()
        .get(SESSION_USER)
        .map(|value| value.to_str().unwrap())
}

fn set_cookies(response: &TestResponse) -> Vec<&str> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect()
}

const CLEAR_DEFAULT: &str = "amoskys_session=; Path=/; Max-Age=0; \
    Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax";

#[tokio::test]
async fn no_cookie_passes_as_anonymous() {
    let harness = Harness::new(SessionConfig::default());
    let response = harness.send(request_with(None), None).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(session_user(&response), None);
    assert!(set_cookies(&response).is_empty());
    assert_eq!(harness.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn valid_cookie_sets_current_session() {
    let harness = Harness::new(SessionConfig::default());
    let (token, record) = harness.login().await;

    let response = harness.send(session_request(&token), None).await;
    let expected_user = record.user_id.to_string();
    assert_eq!(session_user(&response), Some(expected_user.as_str()));
    assert!(set_cookies(&response).is_empty());
}

#[tokio::test]
async fn cookie_found_among_several_headers() {
    let harness = Harness::new(SessionConfig::default());
    let (token, record) = harness.login().await;
    let mut request = request_with(Some("theme=dark; lang=en"));
    let pair = format!("a=1; amoskys_session={}; b=2", token.expose());
    request
        .headers_mut()
        .append(COOKIE, HeaderValue::from_str(&pair).unwrap());

    let response = harness.send(request, None).await;
    let expected_user = record.user_id.to_string();
    assert_eq!(session_user(&response), Some(expected_user.as_str()));
}

#[tokio::test]
async fn issued_cookie_has_secure_attributes() {
    let harness = Harness::new(SessionConfig::default());
    let token = SecretToken::generate().unwrap();

    let response = harness
        .send(
            request_with(None),
            Some(SessionCookie::Issue(token.clone())),
        )
        .await;
    let expected = format!(
        "amoskys_session={}; Path=/; Max-Age=86400; HttpOnly; Secure; SameSite=Lax",
        token.expose()
    );
    assert_eq!(set_cookies(&response), vec![expected.as_str()]);
    assert!(response.extensions().get::<SessionCookie>().is_none());
}

#[tokio::test]
async fn development_cookie_lacks_secure_has_domain() {
    let mut config = AuthConfig::development().session;
    config.cookie_domain = Some("example.com".to_owned());
    let harness = Harness::new(config);
    let token = SecretToken::generate().unwrap();

    let issued = harness
        .send(
            request_with(None),
            Some(SessionCookie::Issue(token.clone())),
        )
        .await;
    let expected = format!(
        "amoskys_session={}; Path=/; Domain=example.com; Max-Age=86400; HttpOnly; SameSite=Lax",
        token.expose()
    );
    assert_eq!(set_cookies(&issued), vec![expected.as_str()]);

    let cleared = harness
        .send(request_with(None), Some(SessionCookie::Clear))
        .await;
    let expected = "amoskys_session=; Path=/; Domain=example.com; Max-Age=0; \
        Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax";
    assert_eq!(set_cookies(&cleared), vec![expected]);
}

/// The removal repeats every attribute of the issued cookie, or browsers keep the original.
#[tokio::test]
async fn cleared_cookie_repeats_every_attribute() {
    let config = SessionConfig {
        cookie_domain: Some("example.com".to_owned()),
        cookie_path: "/app".to_owned(),
        ..SessionConfig::default()
    };
    let harness = Harness::new(config);
    let (token, _) = harness.login().await;

    let response = harness
        .send(session_request(&token), Some(SessionCookie::Clear))
        .await;
    let expected = "amoskys_session=; Path=/app; Domain=example.com; Max-Age=0; \
        Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax";
    assert_eq!(set_cookies(&response), vec![expected]);
    assert!(response.extensions().get::<SessionCookie>().is_none());
}

#[tokio::test]
async fn invalid_own_cookie_cleared_as_anonymous() {
    let harness = Harness::new(SessionConfig::default());
    let unknown = SecretToken::generate().unwrap();
    let (valid, _) = harness.login().await;
    let cases = [
        ("garbage", "amoskys_session=not a token".to_owned()),
        ("empty", "amoskys_session=".to_owned()),
        (
            "too short",
            format!("amoskys_session={}", &valid.expose()[1..]),
        ),
        ("quoted", format!("amoskys_session=\"{}\"", valid.expose())),
        ("unknown", format!("amoskys_session={}", unknown.expose())),
    ];

    for (case, cookie) in cases {
        let response = harness.send(request_with(Some(&cookie)), None).await;
        assert_eq!(response.status(), StatusCode::OK, "{case}");
        assert_eq!(session_user(&response), None, "{case}");
        assert_eq!(set_cookies(&response), vec![CLEAR_DEFAULT], "{case}");
    }
}

#[tokio::test]
async fn planted_duplicate_cookie_neither_hides_nor_clears() {
    let harness = Harness::new(SessionConfig::default());
    let (valid, record) = harness.login().await;
    let unknown = SecretToken::generate().unwrap();
    let user = record.user_id.to_string();

    for cookie in [
        format!(
            "amoskys_session=garbage; amoskys_session={}",
            valid.expose()
        ),
        format!(
            "amoskys_session={}; amoskys_session={}",
            unknown.expose(),
            valid.expose()
        ),
        format!(
            "amoskys_session={}; amoskys_session={}",
            valid.expose(),
            unknown.expose()
        ),
    ] {
        let response = harness.send(request_with(Some(&cookie)), None).await;
        assert_eq!(session_user(&response), Some(user.as_str()), "{cookie}");
        assert!(set_cookies(&response).is_empty(), "{cookie}");
    }

    let only_unknown = format!(
        "amoskys_session={}; amoskys_session=garbage",
        unknown.expose()
    );
    let response = harness.send(request_with(Some(&only_unknown)), None).await;
    assert_eq!(session_user(&response), None);
    assert!(
        set_cookies(&response).is_empty(),
        "with several cookies of our name none is cleared"
    );
    assert!(harness.stored(&record).await.is_some());
}

#[tokio::test]
async fn cookie_flood_reads_store_at_most_three_times() {
    let harness = Harness::new(SessionConfig::default());
    let (valid, _) = harness.login().await;
    let mut cookie = String::new();
    for _ in 0..50 {
        let unknown = SecretToken::generate().unwrap();
        cookie.push_str(&format!("amoskys_session={}; ", unknown.expose()));
    }
    cookie.push_str(&format!("amoskys_session={}", valid.expose()));
    let before = harness.store.lookups.load(Ordering::SeqCst);
    let response = harness.send(request_with(Some(&cookie)), None).await;
    assert_eq!(session_user(&response), None);
    assert_eq!(harness.store.lookups.load(Ordering::SeqCst) - before, 3);
}

#[tokio::test]
async fn foreign_cookies_left_alone() {
    let harness = Harness::new(SessionConfig::default());
    let (token, _) = harness.login().await;
    let foreign = format!(
        "other={}; amoskys_session_old=garbage; theme=dark",
        token.expose()
    );

    let response = harness.send(request_with(Some(&foreign)), None).await;
    assert_eq!(session_user(&response), None);
    assert!(set_cookies(&response).is_empty());
}

#[tokio::test]
async fn non_utf8_cookie_header_ignored() {
    let harness = Harness::new(SessionConfig::default());
    let mut request = request_with(None);
    let bytes = HeaderValue::from_bytes(b"amoskys_session=\xff\xfe\x80; x=\xc3").unwrap();
    request.headers_mut().insert(COOKIE, bytes);

    let response = harness.send(request, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(session_user(&response), None);
    assert!(set_cookies(&response).is_empty());
}

#[tokio::test]
async fn issue_replaces_clearing_of_stale_cookie() {
    let harness = Harness::new(SessionConfig::default());
    let stale = SecretToken::generate().unwrap();
    let fresh = SecretToken::generate().unwrap();

    let response = harness
        .send(
            session_request(&stale),
            Some(SessionCookie::Issue(fresh.clone())),
        )
        .await;
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1);
    assert!(cookies[0].starts_with(&format!("amoskys_session={};", fresh.expose())));
}

#[tokio::test]
async fn session_ends_at_absolute_lifetime() {
    let harness = Harness::new(SessionConfig::default());
    let (token, record) = harness.login().await;

    // Hourly activity keeps the idle timeout away, so only the lifetime can end it.
    for hour in 1..24 {
        harness.clock.advance(Duration::hours(1));
        let response = harness.send(session_request(&token), None).await;
        assert!(session_user(&response).is_some(), "hour {hour}");
    }
    harness.clock.advance(Duration::minutes(59));
    let last_minute = harness.send(session_request(&token), None).await;
    assert!(session_user(&last_minute).is_some());

    harness.clock.set(record.expires_at);
    let expired = harness.send(session_request(&token), None).await;
    assert_eq!(session_user(&expired), None);
    assert_eq!(set_cookies(&expired), vec![CLEAR_DEFAULT]);
    assert_eq!(harness.stored(&record).await, None);
}

#[tokio::test]
async fn session_ends_after_idle_timeout() {
    let harness = Harness::new(SessionConfig::default());
    let (token, record) = harness.login().await;

    harness
        .clock
        .advance(Duration::hours(2) - Duration::seconds(1));
    let inside = harness.send(session_request(&token), None).await;
    assert!(session_user(&inside).is_some());

    harness.clock.advance(Duration::hours(2));
    let idle = harness.send(session_request(&token), None).await;
    assert_eq!(session_user(&idle), None);
    assert_eq!(set_cookies(&idle), vec![CLEAR_DEFAULT]);
    assert_eq!(harness.stored(&record).await, None);
}

#[tokio::test]
async fn half_hourly_activity_keeps_session() {
    let harness = Harness::new(SessionConfig::default());
    let (token, record) = harness.login().await;

    for step in 1..=10 {
        harness.clock.advance(Duration::minutes(30));
        let response = harness.send(session_request(&token), None).await;
        assert!(session_user(&response).is_some(), "after {} min", step * 30);
    }
    let stored = harness.stored(&record).await.unwrap();
    assert_eq!(stored.last_seen_at, harness.clock.now());
    assert_eq!(harness.store.touches.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn touches_bounded_by_interval() {
    let harness = Harness::new(SessionConfig::default());
    let (token, _) = harness.login().await;

    for _ in 0..1_000 {
        harness.clock.advance(Duration::milliseconds(60));
        let response = harness.send(session_request(&token), None).await;
        assert!(session_user(&response).is_some());
    }
    let touches = harness.store.touches.load(Ordering::SeqCst);
    assert!((1..=2).contains(&touches), "{touches} touches in 60 s");
}

/// A logout that lands between this request's lookup and its touch wins: the touch finds no
/// record and the request continues as anonymous.
#[tokio::test]
async fn touch_never_recreates_revoked_session() {
    let harness = Harness::new(SessionConfig::default());
    let (token, record) = harness.login().await;
    harness.clock.advance(Duration::minutes(5));
    harness
        .store
        .revoke_after_lookup
        .store(true, Ordering::SeqCst);

    let response = harness.send(session_request(&token), None).await;
    assert_eq!(harness.store.touches.load(Ordering::SeqCst), 1);
    assert_eq!(session_user(&response), None);
    assert_eq!(harness.stored(&record).await, None);

    harness
        .store
        .revoke_after_lookup
        .store(false, Ordering::SeqCst);
    let replay = harness.send(session_request(&token), None).await;
    assert_eq!(session_user(&replay), None);
}

#[tokio::test]
async fn ip_mismatch_revokes_bound_session() {
    let config = SessionConfig {
        bind_ip: true,
        ..SessionConfig::default()
    };
    let harness = Harness::new(config);
    let (token, record) = harness.login().await;

    let same_ip = harness.send(session_request(&token), None).await;
    assert!(session_user(&same_ip).is_some());

    let mut moved = session_request(&token);
    let other: IpAddr = "198.51.100.7".parse().unwrap();
    moved
        .extensions_mut()
        .insert(PeerAddr(SocketAddr::new(other, 40_000)));
    let response = harness.send(moved, None).await;
    assert_eq!(session_user(&response), None);
    assert_eq!(set_cookies(&response), vec![CLEAR_DEFAULT]);
    assert_eq!(harness.stored(&record).await, None);

    let events = harness.audit.query_events(&audit_query()).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, AuditEventType::SessionRevoked);
    assert_eq!(events[0].user_id, Some(record.user_id));
    assert_eq!(events[0].event_metadata["reason"], "ip_mismatch");
    assert_eq!(events[0].ip_address.as_deref(), Some("198.51.100.7"));
}

#[tokio::test]
async fn user_agent_mismatch_revokes_bound_session() {
    let config = SessionConfig {
        bind_user_agent: true,
        ..SessionConfig::default()
    };
    let harness = Harness::new(config);
    let (token, record) = harness.login().await;

    let same_agent = harness.send(session_request(&token), None).await;
    assert!(session_user(&same_agent).is_some());

    // A browser update changes only version numbers and keeps the session.
    let mut updated = session_request(&token);
    let agent = HeaderValue::from_static("Mozilla/5.0 Chrome/121.0");
    updated.headers_mut().insert(USER_AGENT, agent);
    let response = harness.send(updated, None).await;
    assert!(session_user(&response).is_some());

    let mut other = session_request(&token);
    let agent = HeaderValue::from_static("Mozilla/5.0 Firefox/121.0");
    other.headers_mut().insert(USER_AGENT, agent);
    let response = harness.send(other, None).await;
    assert_eq!(session_user(&response), None);
    assert_eq!(set_cookies(&response), vec![CLEAR_DEFAULT]);
    assert_eq!(harness.stored(&record).await, None);

    let events = harness.audit.query_events(&audit_query()).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, AuditEventType::SessionRevoked);
    assert_eq!(events[0].event_metadata["reason"], "user_agent_mismatch");
    assert_eq!(
        events[0].user_agent.as_deref(),
        Some("Mozilla/5.0 Firefox/121.0")
    );
}

/// Sends the session's cookie from `ip` instead of the login address.
async fn send_from(harness: &Harness, token: &SecretToken, ip: &str) -> TestResponse {
    let mut request = session_request(token);
    let peer = SocketAddr::new(ip.parse().unwrap(), 40_000);
    request.extensions_mut().insert(PeerAddr(peer));
    harness.send(request, None).await
}

#[tokio::test]
async fn ip_binding_prefix_tolerates_nearby_addresses() {
    let config = SessionConfig {
        bind_ip: true,
        bind_ipv4_prefix: 24,
        ..SessionConfig::default()
    };
    let harness = Harness::new(config);
    let (token, record) = harness.login().await;
    let nearby = send_from(&harness, &token, "203.0.113.77").await;
    assert!(
        session_user(&nearby).is_some(),
        "same /24 keeps the session"
    );
    let far = send_from(&harness, &token, "203.0.114.5").await;
    assert_eq!(session_user(&far), None, "another /24 ends it");
    assert_eq!(harness.stored(&record).await, None);
}

#[tokio::test]
async fn ipv6_binding_groups_by_64_prefix() {
    let config = SessionConfig {
        bind_ip: true,
        ..SessionConfig::default()
    };
    let harness = Harness::new(config.clone());
    let now = harness.clock.now();
    let login_ip = "2001:db8:aa:bb::1".parse().ok();
    let (token, record) =
        new_session(Uuid::new_v4(), now, &config, login_ip, Some(LOGIN_UA)).unwrap();
    harness
        .store
        .create_session(record.clone(), 10, now - Duration::hours(2))
        .await
        .unwrap();
    let rotated = send_from(&harness, &token, "2001:db8:aa:bb:1234:5678:9abc:def0").await;
    assert!(
        session_user(&rotated).is_some(),
        "same /64 keeps the session"
    );
    let other = send_from(&harness, &token, "2001:db8:aa:cc::1").await;
    assert_eq!(session_user(&other), None);
}

#[tokio::test]
async fn log_only_binding_keeps_session_and_alerts() {
    let config = SessionConfig {
        bind_ip: true,
        binding_mode: crate::config::BindingMode::LogOnly,
        ..SessionConfig::default()
    };
    let harness = Harness::new(config);
    let (token, record) = harness.login().await;
    let moved = send_from(&harness, &token, "198.51.100.7").await;
    assert!(session_user(&moved).is_some());
    assert!(harness.stored(&record).await.is_some());
    let events = harness.audit.query_events(&audit_query()).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, AuditEventType::SecurityAlert);
    assert_eq!(events[0].event_metadata["reason"], "ip_mismatch");
}

#[tokio::test]
async fn binding_off_by_default() {
    let harness = Harness::new(SessionConfig::default());
    let (token, _) = harness.login().await;
    let mut request = session_request(&token);
    let other: IpAddr = "198.51.100.7".parse().unwrap();
    request
        .extensions_mut()
        .insert(PeerAddr(SocketAddr::new(other, 40_000)));
    request
        .headers_mut()
        .insert(USER_AGENT, HeaderValue::from_static("curl/8.0"));

    let response = harness.send(request, None).await;
    assert!(session_user(&response).is_some());
    let events = harness.audit.query_events(&audit_query()).await.unwrap();
    assert!(events.is_empty());
}

#[tokio::test]
async fn store_failure_answers_503() {
    let harness = Harness::new(SessionConfig::default());
    let (token, _) = harness.login().await;
    harness.store.fail_lookups.store(true, Ordering::SeqCst);

    let response = harness.send(session_request(&token), None).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(harness.calls.load(Ordering::SeqCst), 0);

    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error_code"], "SERVICE_UNAVAILABLE");
    assert!(!String::from_utf8_lossy(&body).contains("connection refused"));
}

#[tokio::test]
async fn new_session_builds_complete_record() {
    let config = SessionConfig::default();
    let now = ManualClock::default().now();
    let user_id = Uuid::new_v4();
    let ip: IpAddr = LOGIN_IP.parse().unwrap();
    let long_agent = "a".repeat(MAX_USER_AGENT_BYTES + 10);

    let (token, record) = new_session(user_id, now, &config, Some(ip), Some(&long_agent)).unwrap();
    assert_eq!(record.token_digest, token.digest());
    assert_eq!(record.user_id, user_id);
    assert_eq!(record.created_at, now);
    assert_eq!(record.last_seen_at, now);
    assert_eq!(record.expires_at, now + Duration::hours(24));
    assert_eq!(record.ip_address, Some(ip));
    assert_eq!(
        record.user_agent.map(|ua| ua.len()),
        Some(MAX_USER_AGENT_BYTES)
    );
    assert_eq!(record.id.get_version_num(), 4);

    let (other, _) = new_session(user_id, now, &config, None, None).unwrap();
    assert_ne!(other, token);
}

#[test]
fn injected_cookie_attributes_rejected() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let path = SessionConfig {
        cookie_path: "/p; SameSite=None".to_owned(),
        ..SessionConfig::default()
    };
    let domain = SessionConfig {
        cookie_domain: Some("example.com\r\nX-Injected: 1".to_owned()),
        ..SessionConfig::default()
    };

    for config in [path, domain] {
        let result = SessionLayer::new(&config, Arc::clone(&store));
        assert!(
            matches!(result, Err(ConfigError::Invalid { .. })),
            "{config:?}"
        );
    }
}

fn audit_query() -> AuditQuery {
    AuditQuery {
        limit: 10,
        ..AuditQuery::default()
    }
}
