//! Fleet-wide rate limits against a real local `redis-server` (started by the bench on
//! a free loopback port): a decision of Hardy's shared limiter, with and without
//! leases, beside a bare `PING` on the same kind of connection (the case `bare`), a hand-written
//! `INCR` + `EXPIRE` fixed window, and throttle-kit's Redis GCRA backend; one caller,
//! then 64 callers at once on one connection; and, as floors, the same `PING` through
//! Hardy's guard (timeout and breaker) and Hardy's script sent by hand. Needs
//! `redis-server` (`.ci/setup` installs it).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../../crates/redis/tests/support/mod.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use hardy_rate_limit::RateLimiter;
use hardy_redis::Redis;
use redis::aio::ConnectionManager;
use throttle_kit::RateLimitBackend;

/// A current-thread runtime with sockets and time, as one caller sees.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the benchmark runtime")
}

/// Two workers with sockets and time: the machine's two cores.
fn two_worker_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build the benchmark runtime")
}

/// Concurrent callers of the throughput benchmarks.
const CALLERS: u64 = 64;

/// Enough time that a loaded machine never makes a decision fail.
const PATIENT: Duration = Duration::from_secs(1);

fn hardy_redis(server: &support::Server) -> Redis {
    Redis::builder("bench")
        .url(server.url())
        .timeout(PATIENT)
        .build()
        .expect("valid redis config")
}

/// A shared limiter that admits every call of a run: a million a second.
fn shared_limiter(redis: &Redis, name: &str, lease: u32) -> RateLimiter {
    RateLimiter::builder(name.to_owned())
        .per(1_000_000, Duration::from_secs(1))
        .lease(lease)
        .build_shared(Arc::new(redis.clone()))
        .expect("valid config")
}

/// One decision of a hand-written fixed window: `INCR`, and `EXPIRE` when the window
/// starts.
async fn incr_expire(connection: &mut ConnectionManager, key: &str) -> bool {
    let count: u64 = redis::cmd("INCR")
        .arg(key)
        .query_async(connection)
        .await
        .expect("INCR");
    if count == 1 {
        let _: i64 = redis::cmd("EXPIRE")
            .arg(key)
            .arg(1)
            .query_async(connection)
            .await
            .expect("EXPIRE");
    }
    count <= 1_000_000_000
}

/// Loads Hardy's GCRA script by hand; its SHA-1.
async fn load_script(connection: &ConnectionManager) -> String {
    let mut connection = connection.clone();
    redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(GCRA)
        .query_async(&mut connection)
        .await
        .expect("SCRIPT LOAD")
}

/// Hardy's GCRA script, sent by hand: the floor of a shared limiter's decision.
const GCRA: &str = include_str!("../../crates/redis/src/lua/rate_limit.lua");

fn throttle_quota() -> throttle_kit::Quota {
    throttle_kit::Quota::from_parts(Duration::from_millis(1), 1_000_000_000)
}

/// The kinds of decision measured, each made by one caller.
#[derive(Clone)]
enum Decider {
    Ping(ConnectionManager),
    GuardedPing(Redis),
    ByHand(ConnectionManager, String),
    Hardy(RateLimiter),
    IncrExpire(ConnectionManager),
    ThrottleKit(Arc<throttle_kit::RedisBackend>),
}

impl Decider {
    async fn decide(&mut self) -> bool {
        match self {
            Decider::Ping(connection) => {
                let pong: String = redis::cmd("PING")
                    .query_async(connection)
                    .await
                    .expect("PING");
                pong == "PONG"
            }
            Decider::Hardy(limiter) => limiter.acquire().await.is_ok(),
            Decider::GuardedPing(redis) => {
                let pong: String = redis.query(&redis::cmd("PING")).await.expect("PING");
                pong == "PONG"
            }
            Decider::ByHand(connection, sha) => {
                let (verdict, ..): (i64, i64, i64, i64, i64) = redis::cmd("EVALSHA")
                    .arg(sha.as_str())
                    .arg(1)
                    .arg("hardy:{by-hand}:rl")
                    .arg(&[1_u64, 1_000_000, 0, 1][..])
                    .query_async(connection)
                    .await
                    .expect("EVALSHA");
                verdict == 0
            }
            Decider::IncrExpire(connection) => incr_expire(connection, "bench:fixed").await,
            Decider::ThrottleKit(backend) => {
                backend
                    .check("bench:throttle", &throttle_quota())
                    .await
                    .allowed
            }
        }
    }
}

/// Times `iterations` decisions one after another.
fn time_one_caller(
    runtime: &tokio::runtime::Runtime,
    decider: &Decider,
    iterations: u64,
) -> Duration {
    let mut decider = decider.clone();
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..iterations {
            assert!(black_box(decider.decide().await), "admitted");
        }
        start.elapsed()
    })
}

/// Times `iterations` decisions made by [`CALLERS`] tasks at once, sharing one
/// connection (or one limiter); the wall time, so that it reads as time per decision
/// of the whole: the inverse of throughput.
fn time_many_callers(
    runtime: &tokio::runtime::Runtime,
    decider: &Decider,
    iterations: u64,
) -> Duration {
    let each = iterations.div_ceil(CALLERS);
    runtime.block_on(async {
        let start = Instant::now();
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let mut decider = decider.clone();
                tokio::spawn(async move {
                    for _ in 0..each {
                        assert!(decider.decide().await, "admitted");
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await.expect("a caller panicked");
        }
        start.elapsed()
    })
}

fn deciders(
    runtime: &tokio::runtime::Runtime,
    server: &support::Server,
    tag: &str,
) -> Vec<(&'static str, Decider)> {
    let redis = hardy_redis(server);
    runtime.block_on(async {
        let client = redis::Client::open(server.url()).expect("url");
        let connection = ConnectionManager::new(client).await.expect("connect");
        let throttle = throttle_kit::RedisBackend::connect(&server.url())
            .await
            .expect("connect throttle-kit");
        vec![
            ("bare", Decider::Ping(connection.clone())),
            ("hardy_guard_ping", Decider::GuardedPing(redis.clone())),
            (
                "script_by_hand",
                Decider::ByHand(connection.clone(), load_script(&connection).await),
            ),
            (
                "hardy_shared",
                Decider::Hardy(shared_limiter(&redis, &format!("{tag}-1"), 1)),
            ),
            (
                "hardy_shared_lease_10",
                Decider::Hardy(shared_limiter(&redis, &format!("{tag}-10"), 10)),
            ),
            ("incr_expire", Decider::IncrExpire(connection)),
            ("throttle_kit", Decider::ThrottleKit(Arc::new(throttle))),
        ]
    })
}

fn shared_rate_limit(c: &mut Criterion) {
    let server = support::Server::start();

    let single = runtime();
    let mut group = c.benchmark_group("redis/one_caller");
    for (name, decider) in deciders(&single, &server, "one") {
        // Warm: the connection made, the script loaded.
        time_one_caller(&single, &decider, 10);
        group.bench_function(name, |b| {
            b.iter_custom(|n| time_one_caller(&single, &decider, n));
        });
    }
    group.finish();

    let workers = two_worker_runtime();
    let mut group = c.benchmark_group("redis/64_callers");
    for (name, decider) in deciders(&workers, &server, "many") {
        time_many_callers(&workers, &decider, CALLERS);
        group.bench_function(name, |b| {
            b.iter_custom(|n| time_many_callers(&workers, &decider, n));
        });
    }
    group.finish();

    round_trips(&server);
}

/// Round trips (script calls Redis answered) for 10,000 decisions of a shared limiter,
/// without and with leases of 10: what leasing saves, printed beside the timings.
fn round_trips(server: &support::Server) {
    let runtime = runtime();
    let redis = hardy_redis(server);
    for lease in [1, 10] {
        let limiter = shared_limiter(&redis, &format!("count-{lease}"), lease);
        runtime.block_on(async {
            limiter.acquire().await.expect("warm");
        });
        let before = script_calls(server);
        runtime.block_on(async {
            for _ in 0..10_000 {
                limiter.acquire().await.expect("admitted");
            }
        });
        let trips = script_calls(server) - before;
        eprintln!("redis/round_trips lease={lease}: {trips} round trips for 10000 decisions");
    }
}

/// Scripts the server has run so far (`EVALSHA` and `EVAL` calls).
fn script_calls(server: &support::Server) -> u64 {
    let info = server.query(&["INFO", "commandstats"]).expect("INFO");
    info.lines()
        .filter(|line| line.starts_with("cmdstat_evalsha:") || line.starts_with("cmdstat_eval:"))
        .filter_map(|line| {
            line.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

criterion_group!(benches, shared_rate_limit);
criterion_main!(benches);
