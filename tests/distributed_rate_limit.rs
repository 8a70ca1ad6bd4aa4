//! Two example servers sharing one Redis enforce one login quota between them.
#![cfg(feature = "redis")]

mod common;

use common::{ExampleServer, HttpClient};
use http::StatusCode;
use serde_json::json;

/// Returns `REDIS_URL`, or `None` after printing that the test is skipped; with
/// `AMOSKYS_TEST_REQUIRE_SERVICES=1` a missing variable or server fails the test instead.
async fn redis_url() -> Option<String> {
    let required = std::env::var("AMOSKYS_TEST_REQUIRE_SERVICES").as_deref() == Ok("1");
    let Ok(url) = std::env::var("REDIS_URL") else {
        assert!(
            !required,
            "REDIS_URL is unset but AMOSKYS_TEST_REQUIRE_SERVICES=1"
        );
        eprintln!("skipped: REDIS_URL is unset");
        return None;
    };
    let reachable = async {
        let mut connection = redis::Client::open(url.as_str())?
            .get_multiplexed_async_connection()
            .await?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
    };
    match reachable.await {
        Ok(_) => Some(url),
        Err(error) if !required => {
            eprintln!("skipped: Redis at REDIS_URL is unreachable: {error}");
            None
        }
        Err(error) => panic!("Redis at REDIS_URL is unreachable: {error}"),
    }
}

async fn delete_prefix(url: &str, prefix: &str) {
    let mut connection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<u64>(&mut connection)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn two_instances_share_login_quota() {
    let Some(url) = redis_url().await else {
        return;
    };
    let prefix = format!(
        "amoskys-test:two-instances:{}:",
        uuid::Uuid::new_v4().simple()
    );
    let env = [
        ("RATE_LIMIT_STORAGE_URL", url.as_str()),
        ("RATE_LIMIT_KEY_PREFIX", prefix.as_str()),
    ];
    let servers = [
        ExampleServer::start("axum_app", &env),
        ExampleServer::start("hyper_app", &env),
    ];
    let clients: Vec<HttpClient> = servers
        .iter()
        .map(|server| HttpClient::new(server.base_url()))
        .collect();

    // Alternate between the instances, with a new email each time so that account lockout
    // cannot be what rejects.
    let mut passed = 0;
    for attempt in 0..10 {
        let client = &clients[attempt % 2];
        let body = json!({"email": format!("user{attempt}@example.com"), "password": "wrong"});
        let reply = client.post_json("/api/auth/login", &body, &[]).await;
        match reply.status {
            StatusCode::UNAUTHORIZED => passed += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(reply.json()["error_code"], "RATE_LIMIT_EXCEEDED");
            }
            other => panic!("attempt {attempt}: unexpected {other}: {:?}", reply.body),
        }
        let expected = if attempt < 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(reply.status, expected, "attempt {attempt}");
    }
    // Each instance alone would have admitted 5; together they admit 5.
    assert_eq!(passed, 5);
    for server in &servers {
        assert!(
            !server.log_text().contains("\"wrong\""),
            "a password was logged"
        );
    }
    delete_prefix(&url, &prefix).await;
}
