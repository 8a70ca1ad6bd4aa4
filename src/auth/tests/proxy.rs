//! Client addresses behind reverse proxies, through the whole stack: rate limits, session
//! binding, HTTPS detection and the audit trail all see the same resolved client.

use super::*;
use crate::audit::AuditQuery;
use crate::client_ip::IpNet;

/// An `Auth` with cheap hashing, trusting proxies in 10.0.0.0/8 when `trusted` is set.
fn proxied_auth(trusted: bool, bind_ip: bool) -> Auth {
    let mut config = AuthConfig::default();
    config.password.argon2 = Argon2Config {
        time_cost: 1,
        memory_kib: 64,
        parallelism: 1,
        ..Argon2Config::default()
    };
    config.accounts.require_email_verification = false;
    config.session.bind_ip = bind_ip;
    if trusted {
        config.client_ip.trusted_proxies = vec!["10.0.0.0/8".parse::<IpNet>().unwrap()];
    }
    Auth::new(config, Stores::memory()).unwrap()
}

/// Sends a request from `peer` with extra headers.
async fn send_from(
    auth: &Auth,
    peer: &str,
    method: Method,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let stack = auth.layer().layer(auth.api());
    let mut builder = Request::builder().method(method).uri(path);
    if !body.is_empty() {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let peer: SocketAddr = format!("{peer}:50000").parse().unwrap();
    request.extensions_mut().insert(PeerAddr(peer));
    let response = stack.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status: parts.status,
        headers: parts.headers,
        json,
    }
}

/// A login attempt with a fresh email each time, so only the rate limit can reject it.
async fn login_attempt(auth: &Auth, peer: &str, n: u32, headers: &[(&str, &str)]) -> Reply {
    let body = json!({"email": format!("nobody{n}@example.com"), "password": "wrong"});
    send_from(
        auth,
        peer,
        Method::POST,
        "/api/auth/login",
        &body.to_string(),
        headers,
    )
    .await
}

async fn audited_addresses(auth: &Auth) -> Vec<String> {
    let query = AuditQuery {
        limit: 1000,
        ..AuditQuery::default()
    };
    let events = auth
        .service()
        .stores()
        .audit
        .query_events(&query)
        .await
        .unwrap();
    events
        .into_iter()
        .filter_map(|event| event.ip_address)
        .collect()
}

#[tokio::test]
async fn forged_forwarded_for_from_untrusted_peer_ignored() {
    let auth = proxied_auth(false, false);
    for n in 1..=10 {
        let forged = format!("198.51.100.{n}");
        let reply = login_attempt(&auth, "203.0.113.10", n, &[("x-forwarded-for", &forged)]).await;
        if n <= 5 {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {n}");
        } else {
            assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "attempt {n}");
            assert_eq!(reply.json["error_code"], "RATE_LIMIT_EXCEEDED");
        }
    }
    let addresses = audited_addresses(&auth).await;
    assert!(!addresses.is_empty());
    assert!(
        addresses.iter().all(|ip| ip == "203.0.113.10"),
        "{addresses:?}"
    );
}

#[tokio::test]
async fn trusted_proxy_chain_keys_rightmost_untrusted_hop() {
    let auth = proxied_auth(true, false);
    // Client A: a forged, changing leftmost entry before its real address.
    for n in 1..=10 {
        let chain = format!("198.51.100.{n}, 192.0.2.7");
        let reply = login_attempt(&auth, "10.0.0.2", n, &[("x-forwarded-for", &chain)]).await;
        let expected = if n <= 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(reply.status, expected, "attempt {n} of client A");
    }
    let addresses = audited_addresses(&auth).await;
    assert!(!addresses.is_empty());
    assert!(
        addresses.iter().all(|ip| ip == "192.0.2.7"),
        "{addresses:?}"
    );

    // Client B, through another trusted hop, has its own counter.
    let reply = login_attempt(
        &auth,
        "10.0.0.3",
        100,
        &[("x-forwarded-for", "192.0.2.8, 10.0.0.9")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        audited_addresses(&auth)
            .await
            .contains(&"192.0.2.8".to_owned())
    );
}

#[tokio::test]
async fn malformed_forwarded_for_falls_back_to_proxy() {
    let auth = proxied_auth(true, false);
    for (n, value) in ["garbage", "192.0.2.1:99999", "", "unknown, ,", "[::1"]
        .into_iter()
        .enumerate()
    {
        let reply = login_attempt(&auth, "10.0.0.2", n as u32, &[("x-forwarded-for", value)]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{value:?}");
    }
    // Every malformed chain was keyed by the proxy itself, so the 6th attempt is limited.
    let reply = login_attempt(&auth, "10.0.0.2", 6, &[("x-forwarded-for", "nonsense")]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let addresses = audited_addresses(&auth).await;
    assert!(addresses.iter().all(|ip| ip == "10.0.0.2"), "{addresses:?}");
}

#[tokio::test]
async fn forwarded_proto_honoured_only_from_trusted_proxy() {
    let auth = proxied_auth(true, false);
    let https = [("x-forwarded-proto", "https")];
    let trusted = send_from(&auth, "10.0.0.2", Method::GET, "/api/auth/me", "", &https).await;
    assert!(trusted.headers.contains_key("strict-transport-security"));
    let untrusted = send_from(
        &auth,
        "203.0.113.10",
        Method::GET,
        "/api/auth/me",
        "",
        &https,
    )
    .await;
    assert!(!untrusted.headers.contains_key("strict-transport-security"));
    let plain = send_from(&auth, "10.0.0.2", Method::GET, "/api/auth/me", "", &[]).await;
    assert!(!plain.headers.contains_key("strict-transport-security"));
}

#[tokio::test]
async fn session_binding_uses_resolved_client() {
    let auth = proxied_auth(true, true);
    let via = |client: &str| format!("{client}, 10.0.0.5");
    let signup = send_from(
        &auth,
        "10.0.0.2",
        Method::POST,
        "/api/auth/signup",
        &credentials(),
        &[("x-forwarded-for", &via("192.0.2.7"))],
    )
    .await;
    assert_eq!(signup.status, StatusCode::CREATED, "{}", signup.json);
    let login = send_from(
        &auth,
        "10.0.0.2",
        Method::POST,
        "/api/auth/login",
        &credentials(),
        &[("x-forwarded-for", &via("192.0.2.7"))],
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.json);
    let cookie = login.headers[SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();

    // Same client through another proxy: still bound to 192.0.2.7.
    let me = send_from(
        &auth,
        "10.0.0.3",
        Method::GET,
        "/api/auth/me",
        "",
        &[("x-forwarded-for", "192.0.2.7"), ("cookie", &cookie)],
    )
    .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.json);

    // Another client with the stolen cookie: the binding revokes the session.
    let thief = send_from(
        &auth,
        "10.0.0.3",
        Method::GET,
        "/api/auth/me",
        "",
        &[("x-forwarded-for", "198.51.100.7"), ("cookie", &cookie)],
    )
    .await;
    assert_eq!(thief.status, StatusCode::UNAUTHORIZED);
}
