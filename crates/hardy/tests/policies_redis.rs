//! `[redis]` and `backend = "redis"` in policy files: checked with paths like every
//! other setting, and, against a real `redis-server`, handles that two registries (two
//! instances of a service) share.
#![cfg(feature = "redis")]

#[path = "../../redis/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use hardy::Policies;
use hardy::breaker::{BreakerState, CircuitBreaker};
use hardy::rate_limit::{Degrade, RateLimiter};

fn problems(text: &str) -> Vec<(String, String)> {
    match Policies::from_toml(text) {
        Ok(_) => panic!("the document should not load"),
        Err(errors) => errors
            .into_iter()
            .map(|error| (error.path().to_owned(), error.to_string()))
            .collect(),
    }
}

#[test]
fn entries_kept_in_redis_need_a_redis_section() {
    let found = problems(
        r#"
        [rate_limit.api]
        backend = "redis"
        [breaker.payments]
        backend = "redis"
        "#,
    );
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        ["rate_limit.api.backend", "breaker.payments.backend"]
    );
    assert!(
        found[0].1.contains("needs a [redis] section"),
        "{}",
        found[0].1
    );
}

#[test]
fn redis_settings_are_checked_at_their_paths() {
    let found = problems(
        r#"
        [redis]
        url = "http://cache:6379"
        timeout = "0s"
        [redis.guard]
        backend = "redis"
        "#,
    );
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(paths, ["redis.url"], "the first bad setting: {found:?}");
    let found = problems("[redis]\ntimeout = \"0s\"\n");
    assert_eq!(found[0].0, "redis.timeout");
    let found = problems("[redis.guard]\nbackend = \"redis\"\n");
    assert_eq!(found[0].0, "redis.guard.backend");
    let found = problems("[redis]\nhost = \"cache\"\n");
    assert_eq!(found[0].0, "redis.host", "unknown keys are named");
    let found = problems("[rate_limit.api]\ndegrade = \"sometimes\"\n");
    assert_eq!(found[0].0, "rate_limit.api.degrade");
}

#[test]
fn a_document_with_redis_round_trips() {
    let text = r#"
        [redis]
        url = "redis://127.0.0.1:6390"
        timeout = "20ms"
        degrade = "allow"
        [rate_limit.api]
        backend = "redis"
        limit = 100
        lease = 5
        fleet_size = 4
    "#;
    let policies = Policies::from_toml(text).expect("loads");
    let document = policies.document();
    let redis = document.redis.as_ref().expect("[redis]");
    assert_eq!(redis.timeout, Duration::from_millis(20));
    assert_eq!(redis.degrade, Degrade::Allow);
    let written = document.to_toml().expect("writes");
    let again = Policies::from_toml(&written).expect("reads back");
    assert_eq!(again.document(), document);
}

fn fleet_policies(url: &str) -> Policies {
    Policies::from_toml(&format!(
        r#"
        [redis]
        url = "{url}"
        timeout = "500ms"
        poll_interval = "100ms"

        [rate_limit.api]
        backend = "redis"
        limit = 5
        period = "1h"

        [rate_limit.local]
        limit = 5
        period = "1h"

        [breaker.payments]
        backend = "redis"
        consecutive_failures = 1
        open_for = "30s"
        "#
    ))
    .expect("loads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_what_their_policies_keep_in_redis() {
    let server = support::Server::start();
    let instances = [fleet_policies(&server.url()), fleet_policies(&server.url())];

    let shared: Vec<RateLimiter> = instances
        .iter()
        .map(|policies| policies.get::<RateLimiter>("api").expect("listed"))
        .collect();
    let mut admitted = 0;
    for round in 0..10 {
        if shared[round % 2].acquire().await.is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5, "one limit of 5 for both instances");
    assert_eq!(shared[0].is_degraded(), Some(false));

    let local: Vec<RateLimiter> = instances
        .iter()
        .map(|policies| policies.get::<RateLimiter>("local").expect("listed"))
        .collect();
    assert_eq!(local[0].is_degraded(), None, "kept in the process");
    let mut admitted = 0;
    for round in 0..10 {
        if local[round % 2].acquire().await.is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10, "a limit of 5 in each instance");

    let breakers: Vec<CircuitBreaker> = instances
        .iter()
        .map(|policies| policies.get::<CircuitBreaker>("payments").expect("listed"))
        .collect();
    let _ = breakers[0]
        .call(|| async { Err::<(), _>(std::io::Error::other("down")) })
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while breakers[1].state() != BreakerState::Open {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other instance never opened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
