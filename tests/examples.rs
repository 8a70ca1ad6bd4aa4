//! Replays the documented security checks over real HTTP against both example servers:
//! rate limiting of login, security headers, and a session's login-to-logout life.

mod common;

use std::process::Command;

use common::{ExampleServer, HttpClient, assert_security_headers};
use http::{Method, StatusCode};
use serde_json::json;

const EXAMPLES: [&str; 2] = ["axum_app", "hyper_app"];

fn start(name: &str) -> (ExampleServer, HttpClient) {
    let server = ExampleServer::start(name, &[]);
    let client = HttpClient::new(server.base_url());
    (server, client)
}

async fn signup(client: &HttpClient, email: &str, password: &str) {
    let reply = client
        .post_json(
            "/api/auth/signup",
            &json!({"email": email, "password": password}),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
}

#[tokio::test]
async fn sixth_login_in_a_minute_is_rate_limited() {
    for name in EXAMPLES {
        let (server, client) = start(name);
        let body = json!({"email": "test@example.com", "password": "wrong"});
        for attempt in 1..=5 {
            let reply = client.post_json("/api/auth/login", &body, &[]).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{name} attempt {attempt}"
            );
            assert_eq!(reply.json()["error_code"], "INVALID_CREDENTIALS", "{name}");
            assert_security_headers(&reply);
        }
        let reply = client.post_json("/api/auth/login", &body, &[]).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{name}");
        assert_security_headers(&reply);
        let retry_after: u64 = reply.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (1..=60).contains(&retry_after),
            "{name}: Retry-After {retry_after}"
        );
        assert_eq!(
            reply.json(),
            json!({
                "error": "Rate limit exceeded. Please try again later.",
                "error_code": "RATE_LIMIT_EXCEEDED",
                "retry_after": format!("{retry_after} seconds"),
            }),
            "{name}"
        );
        assert!(
            !server.log_text().contains("\"wrong\""),
            "{name} logged a password"
        );
    }
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    for name in EXAMPLES {
        let (_server, client) = start(name);
        let head = client.send(Method::HEAD, "/api/auth/me", None, &[]).await;
        assert_eq!(head.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_security_headers(&head);
        let csp = head.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{name}: {csp}");

        let missing = client.get("/no/such/page", &[]).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{name}");
        assert_security_headers(&missing);

        let bad = client
            .send(Method::POST, "/api/auth/login", Some("{"), &[])
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(bad.json()["error_code"], "INVALID_JSON");
        assert_security_headers(&bad);
    }
}

#[tokio::test]
async fn logged_out_cookie_no_longer_works() {
    for name in EXAMPLES {
        let (server, client) = start(name);
        signup(&client, "test@example.com", "SecurePass123!").await;
        let login = client
            .post_json(
                "/api/auth/login",
                &json!({"email": "test@example.com", "password": "SecurePass123!"}),
                &[],
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{name}: {:?}", login.body);
        assert_eq!(login.json()["user"]["email"], "test@example.com");
        let set_cookie = login.set_cookie("amoskys_session").expect("session cookie");
        assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
        assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
        assert!(set_cookie.contains("Max-Age=86400"), "{set_cookie}");
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let token = cookie.trim_start_matches("amoskys_session=");

        let me = client.get("/api/auth/me", &[("cookie", &cookie)]).await;
        assert_eq!(me.status, StatusCode::OK, "{name}");
        assert_eq!(me.json()["user"]["email"], "test@example.com");

        let logout = client
            .send(
                Method::POST,
                "/api/auth/logout",
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert_eq!(logout.status, StatusCode::OK, "{name}");
        let cleared = logout
            .set_cookie("amoskys_session")
            .expect("clearing cookie");
        assert!(cleared.contains("Max-Age=0"), "{cleared}");

        let after = client.get("/api/auth/me", &[("cookie", &cookie)]).await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(after.json()["error_code"], "UNAUTHORIZED");

        let logs = server.log_text();
        assert!(!logs.contains(token), "{name} logged a session token");
        assert!(!logs.contains("SecurePass123!"), "{name} logged a password");
    }
}

#[tokio::test]
async fn admin_users_need_configured_api_key() {
    for name in EXAMPLES {
        let server =
            ExampleServer::start(name, &[("AMOSKYS_API_KEY", "test-admin-key-0123456789")]);
        let client = HttpClient::new(server.base_url());
        let without = client.get("/api/admin/users", &[]).await;
        assert_eq!(without.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(without.json()["error_code"], "INVALID_API_KEY");
        let wrong = client
            .get("/api/admin/users", &[("x-api-key", "nope")])
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{name}");
        let right = client
            .get(
                "/api/admin/users",
                &[("x-api-key", "test-admin-key-0123456789")],
            )
            .await;
        assert_eq!(right.status, StatusCode::OK, "{name}: {:?}", right.body);
        assert!(right.json()["users"].is_array());
        assert!(!server.log_text().contains("test-admin-key-0123456789"));
    }
}

/// Splits concatenated JSON documents, as curl prints them without separators.
fn json_values(text: &str) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|error| panic!("not a JSON sequence ({error}): {text}"))
}

/// Runs one of the documented curl scripts against `server` with its address substituted.
fn run_script(server: &ExampleServer, script: &str, dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/scripts")
            .join(script),
    )
    .unwrap()
    .replace("http://localhost:5000", &server.base_url());
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("set -e\n{text}"))
        .current_dir(dir)
        .output()
        .expect("bash");
    assert!(output.status.success(), "{script} failed: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn documented_curl_scripts_pass() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("amoskys-scripts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let server = ExampleServer::start("axum_app", &[]);
    let client = HttpClient::new(server.base_url());
    signup(&client, "test@example.com", "SecurePass123!").await;

    let session = run_script(&server, "session.sh", &dir);
    let outputs = json_values(&session);
    assert_eq!(outputs.len(), 4, "{session}");
    assert_eq!(outputs[0]["user"]["email"], "test@example.com", "{session}");
    assert_eq!(outputs[1]["user"]["email"], "test@example.com", "{session}");
    assert!(outputs[2]["message"].is_string(), "{session}");
    assert_eq!(outputs[3]["error_code"], "UNAUTHORIZED", "{session}");

    let headers = run_script(&server, "security_headers.sh", &dir).to_ascii_lowercase();
    for name in common::SECURITY_HEADERS {
        assert!(
            headers.contains(&format!("{name}:")),
            "missing {name}: {headers}"
        );
    }

    // A fresh server, so the session script's login does not count against the login quota.
    let server = ExampleServer::start("axum_app", &[]);
    let rate = run_script(&server, "rate_limit.sh", &dir);
    let codes: Vec<_> = json_values(&rate)
        .iter()
        .map(|value| value["error_code"].as_str().unwrap_or("").to_owned())
        .collect();
    let mut expected = vec!["INVALID_CREDENTIALS"; 5];
    expected.push("RATE_LIMIT_EXCEEDED");
    assert_eq!(codes, expected, "{rate}");
    let _ = std::fs::remove_dir_all(&dir);
}
