//! Helpers shared by the integration tests: starting the example servers and a small HTTP
//! client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// An example binary running on an ephemeral port of 127.0.0.1, killed on drop.
pub struct ExampleServer {
    child: Child,
    /// The temporary directory of its SQLite file, when the caller named no database.
    temp_dir: Option<TempDir>,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Every line it logged so far.
    pub logs: Arc<Mutex<Vec<String>>>,
}

fn example_path(name: &str) -> PathBuf {
    // Test binaries live in target/<profile>/deps; examples in target/<profile>/examples.
    let exe = std::env::current_exe().expect("current test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir");
    profile_dir.join("examples").join(name)
}

fn build_example(name: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo build of the example");
    assert!(status.success(), "building example {name} failed");
}

impl ExampleServer {
    /// Starts example `name` with extra environment variables and waits until it logs the
    /// address it listens on. Unless `env` sets `DATABASE_URL`, the server gets a new SQLite
    /// file of its own, removed on drop; a `DATABASE_URL` of the test's environment is never
    /// passed on.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let temp_dir = if env.iter().any(|(key, _)| *key == "DATABASE_URL") {
            None
        } else {
            Some(TempDir::new())
        };
        let database_url = temp_dir.as_ref().map(TempDir::sqlite_url);
        Self::spawn(name, env, database_url, temp_dir, None)
    }

    /// Starts example `name` in the working directory `dir` with no `DATABASE_URL`, so that
    /// it falls back to its default database.
    pub fn start_in_dir(name: &str, dir: &std::path::Path) -> Self {
        Self::spawn(name, &[], None, None, Some(dir))
    }

    fn spawn(
        name: &str,
        env: &[(&str, &str)],
        database_url: Option<String>,
        temp_dir: Option<TempDir>,
        dir: Option<&std::path::Path>,
    ) -> Self {
        let path = example_path(name);
        if !path.exists() {
            build_example(name);
        }
        let mut command = Command::new(&path);
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let mut child = command
            .env("AMOSKYS_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("AMOSKYS_DEBUG")
            .env_remove("AMOSKYS_API_KEY")
            .env_remove("DATABASE_URL")
            .env_remove("RATE_LIMIT_STORAGE_URL")
            .envs(
                database_url
                    .iter()
                    .map(|url| ("DATABASE_URL", url.as_str())),
            )
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", path.display()));

        let logs = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let logs = logs.clone();
            let address_tx = address_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                        let _ = address_tx.send(addr);
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let addr = match address_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().expect("logged address"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "example {name} did not log its address within 60 s; logs: {:?}",
                    logs.lock().unwrap()
                );
            }
        };
        Self {
            child,
            temp_dir,
            addr,
            logs,
        }
    }

    /// Runs example `name` with extra environment variables until it exits by itself (within
    /// 60 s, else it is killed and the test fails); returns whether it succeeded and its
    /// stdout and stderr. For start-ups that are meant to fail.
    pub fn run_to_exit(name: &str, env: &[(&str, &str)]) -> (bool, String) {
        let path = example_path(name);
        if !path.exists() {
            build_example(name);
        }
        let child = Command::new(&path)
            .env("AMOSKYS_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("AMOSKYS_DEBUG")
            .env_remove("AMOSKYS_API_KEY")
            .env_remove("DATABASE_URL")
            .env_remove("RATE_LIMIT_STORAGE_URL")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", path.display()));
        let pid = child.id();
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done_tx.send(child.wait_with_output());
        });
        match done_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(output)) => {
                let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&output.stderr));
                (output.status.success(), text)
            }
            Ok(Err(error)) => panic!("waiting for example {name}: {error}"),
            Err(_) => {
                let _ = Command::new("kill").arg(pid.to_string()).status();
                panic!("example {name} did not exit within 60 s");
            }
        }
    }

    /// Sends SIGTERM and waits up to 30 s for the server to exit; returns whether it exited
    /// with success.
    pub fn terminate(&mut self) -> bool {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success(), "kill -TERM failed");
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().expect("wait for the example") {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("example did not exit within 30 s of SIGTERM");
    }

    /// Returns `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Returns all log lines so far, joined.
    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.temp_dir.take());
    }
}

/// A new directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates the directory.
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("amoskys-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("temporary directory");
        Self(path)
    }

    /// Returns the `sqlite://` URL of a database file in the directory.
    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.0.join("auth.sqlite3").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// Parses the body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {:?}", self.body))
    }

    /// Returns the `name=value` part of the session cookie this response sets, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|value| value.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

/// A minimal HTTP/1.1 client for the tests.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl HttpClient {
    pub fn new(base: String) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base,
        }
    }

    /// Sends a request with optional JSON body and extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .unwrap();
        let response = self.client.request(request).await.expect("HTTP request");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("response body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::POST, path, Some(&body.to_string()), headers)
            .await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, None, headers).await
    }
}

/// The security headers every response must carry over plain HTTP.
pub const SECURITY_HEADERS: [&str; 5] = [
    "x-content-type-options",
    "x-frame-options",
    "x-xss-protection",
    "content-security-policy",
    "referrer-policy",
];

/// Asserts every security header is present, and HSTS absent over plain HTTP.
pub fn assert_security_headers(reply: &Reply) {
    for name in SECURITY_HEADERS {
        assert!(
            reply.headers.contains_key(name),
            "missing {name} on a {} response: {:?}",
            reply.status,
            reply.headers
        );
    }
    assert_eq!(reply.headers["x-content-type-options"], "nosniff");
    assert_eq!(reply.headers["x-frame-options"], "DENY");
    assert!(
        !reply.headers.contains_key("strict-transport-security"),
        "HSTS must not be sent over plain HTTP"
    );
}
