//! Cost of one rate-limit check: raw governor, the crate's limiter core, and the full layer.
//!
//! Every group uses the same two quotas. The allow quota is too large to ever reject (burst of
//! 10^9, one cell per nanosecond), so it measures the allow path. The deny quota is 5 per
//! minute, so every request after the fifth measures the deny path. Run with
//! `cargo bench --bench rate_limit -- --warm-up-time 1 --measurement-time 3`.
//!
//! With the `redis` feature and `REDIS_URL` set, the `redis` group measures checks against
//! that server from 1 and from 32 concurrent callers on one multiplexed connection; each
//! iteration is one check, so the time per iteration is the inverse of the throughput.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use amoskys_auth::client_ip::PeerAddr;
use amoskys_auth::config::{RateLimitConfig, RateQuota, RouteRule};
use amoskys_auth::rate_limit::{ClientKey, Ipv6Prefix, MemoryRateLimiter, RateLimitLayer};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use http::{Method, Request, Response};
use tower::{Layer, Service, service_fn};

const LOGIN: &str = "/api/auth/login";
const MANY_KEYS: u32 = 10_000;

fn count(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

/// Returns a quota that never rejects during a benchmark run: one cell per nanosecond, burst
/// 10^9.
fn allow_quota() -> RateQuota {
    RateQuota::per_second(count(1_000_000_000))
}

fn deny_quota() -> RateQuota {
    RateQuota::per_minute(count(5))
}

/// Builds the governor quota that `MemoryRateLimiter` builds for `quota`, with the interval
/// rounded up.
fn governor_quota(quota: RateQuota) -> Quota {
    let interval = quota
        .period
        .as_nanos()
        .div_ceil(u128::from(quota.count.get()));
    Quota::with_period(Duration::from_nanos(interval.try_into().unwrap()))
        .unwrap()
        .allow_burst(quota.count)
}

/// Builds the default configuration with the login rule's quota replaced by `login`.
fn config(login: RateQuota) -> RateLimitConfig {
    RateLimitConfig {
        routes: vec![
            RouteRule::new("/api/auth/signup", vec![RateQuota::per_hour(count(10))]),
            RouteRule::new(LOGIN, vec![login]),
            RouteRule::new(
                "/api/auth/forgot-password",
                vec![RateQuota::per_minute(count(1))],
            ),
        ],
        ..RateLimitConfig::default()
    }
}

fn addresses(n: u32) -> Vec<IpAddr> {
    (0..n)
        .map(|i| IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + i)))
        .collect()
}

/// Cycles through `keys`, one per call.
struct Cycle<T> {
    keys: Vec<T>,
    next: usize,
}

impl<T: Copy> Cycle<T> {
    fn new(keys: Vec<T>) -> Self {
        Self { keys, next: 0 }
    }

    fn next(&mut self) -> T {
        let key = self.keys[self.next];
        self.next = (self.next + 1) % self.keys.len();
        key
    }
}

fn raw_governor(c: &mut Criterion) {
    let mut group = c.benchmark_group("raw_governor");
    for (name, quota, keys) in [
        ("allow_1_key", allow_quota(), 1),
        ("allow_10000_keys", allow_quota(), MANY_KEYS),
        ("deny_1_key", deny_quota(), 1),
    ] {
        let limiter =
            RateLimiter::dashmap_with_clock(governor_quota(quota), DefaultClock::default());
        let mut keys = Cycle::new(addresses(keys));
        group.bench_function(name, |b| {
            b.iter(|| {
                // Computing the wait keeps the deny path comparable: a 429 needs it.
                let key = keys.next();
                limiter
                    .check_key(black_box(&key))
                    .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
            })
        });
    }
    group.finish();
}

fn limiter_core(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter_core");
    for (name, quota, keys) in [
        ("allow_1_key", allow_quota(), 1),
        ("allow_10000_keys", allow_quota(), MANY_KEYS),
        ("deny_1_key", deny_quota(), 1),
    ] {
        let limiter = MemoryRateLimiter::new(&config(quota)).unwrap();
        let mut keys = Cycle::new(addresses(keys));
        group.bench_function(name, |b| {
            b.iter(|| {
                let rule = limiter.rule_for(&Method::POST, black_box(LOGIN));
                let key = ClientKey::new(black_box(keys.next()), Ipv6Prefix::DEFAULT);
                limiter.check(rule, key)
            })
        });
    }

    let limiter = MemoryRateLimiter::new(&config(allow_quota())).unwrap();
    let rule = limiter.rule_for(&Method::POST, LOGIN);
    let key = ClientKey::new(addresses(1)[0], Ipv6Prefix::DEFAULT);
    group.bench_function("allow_1_key_rule_resolved", |b| {
        b.iter(|| limiter.check(black_box(rule), black_box(key)))
    });
    group.finish();
}

type Handler = fn(Request<()>) -> Ready<Result<Response<()>, Infallible>>;

fn handler(_request: Request<()>) -> Ready<Result<Response<()>, Infallible>> {
    ready(Ok(Response::new(())))
}

/// Calls `service` once and polls the future to completion, which a ready inner future
/// reaches in one poll.
fn call_once<S>(service: &mut S, request: Request<()>) -> S::Response
where
    S: Service<Request<()>, Error = Infallible>,
{
    let mut context = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut context).is_ready());
    let future = pin!(service.call(request));
    match future.poll(&mut context) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("the inner future is always ready"),
    }
}

fn login_request(ip: IpAddr) -> Request<()> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(LOGIN)
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(PeerAddr((ip, 40_000).into()));
    request
}

fn full_layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("layer");
    let mut baseline = service_fn(handler as Handler);
    let mut keys = Cycle::new(addresses(1));
    group.bench_function("inner_service_only", |b| {
        b.iter_batched(
            || login_request(keys.next()),
            |request| call_once(&mut baseline, request),
            BatchSize::SmallInput,
        )
    });

    for (name, quota, keys) in [
        ("allow_1_key", allow_quota(), 1),
        ("allow_10000_keys", allow_quota(), MANY_KEYS),
        ("deny_1_key", deny_quota(), 1),
    ] {
        let layer = RateLimitLayer::new(&config(quota)).unwrap();
        let mut service = layer.layer(service_fn(handler as Handler));
        let mut keys = Cycle::new(addresses(keys));
        group.bench_function(name, |b| {
            b.iter_batched(
                || login_request(keys.next()),
                |request| call_once(&mut service, request),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn short_run() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

#[cfg(feature = "redis")]
fn redis_checks(c: &mut Criterion) {
    use std::sync::Arc;
    use std::time::Instant;

    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("redis group skipped: REDIS_URL is unset");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let prefix = format!("amoskys-bench:{}:", std::process::id());
    let config = RateLimitConfig {
        storage_url: Some(url),
        key_prefix: prefix,
        ..config(allow_quota())
    };
    let layer = RateLimitLayer::new(&config).unwrap();
    let rule = layer.rule_for(&Method::POST, LOGIN);
    let keys: Arc<Vec<ClientKey>> = Arc::new(
        addresses(MANY_KEYS)
            .into_iter()
            .map(|ip| layer.client_key(Some(ip)))
            .collect(),
    );
    runtime.block_on(layer.check(rule, keys[0])).unwrap();

    let mut group = c.benchmark_group("redis");
    for callers in [1_u64, 32] {
        group.bench_function(format!("check_{callers}_callers"), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..callers)
                        .map(|caller| {
                            let layer = layer.clone();
                            let keys = Arc::clone(&keys);
                            let share = iters / callers + u64::from(caller < iters % callers);
                            tokio::spawn(async move {
                                for n in 0..share {
                                    let key =
                                        keys[((caller * 7_919 + n) % keys.len() as u64) as usize];
                                    layer.check(rule, key).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

#[cfg(not(feature = "redis"))]
fn redis_checks(_c: &mut Criterion) {}

criterion_group! {
    name = benches;
    config = short_run();
    targets = raw_governor, limiter_core, full_layer, redis_checks
}
criterion_main!(benches);
