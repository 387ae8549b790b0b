//! A Redis Cluster of three local nodes: shared limits work across slots, the keys of
//! a keyed limiter spread over the nodes.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hardy_breaker::{BreakerState, CircuitBreaker};
use hardy_rate_limit::{KeyedRateLimiter, RateLimiter};
use hardy_redis::Redis;
use support::Cluster;

fn redis(cluster: &Cluster) -> Redis {
    Redis::builder("cluster")
        .cluster(cluster.urls())
        .timeout(Duration::from_millis(500))
        .poll_interval(Duration::from_millis(200))
        .build()
        .expect("valid cluster config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_limits_on_a_cluster() {
    let cluster = Cluster::start();
    let limiters: Vec<RateLimiter> = (0..2)
        .map(|_| {
            RateLimiter::builder("cluster-api")
                .per(5, Duration::from_secs(3600))
                .build_shared(Arc::new(redis(&cluster)))
                .unwrap()
        })
        .collect();
    let mut admitted = 0;
    for round in 0..10 {
        if limiters[round % 2].acquire().await.is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(
        admitted, 5,
        "the burst of 5 is the fleet's, not each instance's"
    );
    assert_eq!(limiters[0].is_degraded(), Some(false));

    let keyed: Vec<KeyedRateLimiter<String>> = (0..2)
        .map(|_| {
            KeyedRateLimiter::builder("cluster-keys")
                .per(2, Duration::from_secs(3600))
                .build_keyed_shared(Arc::new(redis(&cluster)))
                .unwrap()
        })
        .collect();
    let keys: Vec<String> = (0..12).map(|n| format!("client-{n}")).collect();
    for key in &keys {
        let mut admitted = 0;
        for round in 0..4 {
            if keyed[round % 2].acquire_key(key).await.is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(
            admitted, 2,
            "key {key}: its own rate, shared by both instances"
        );
    }
    // The keys' states live on more than one node.
    let mut holders = BTreeSet::new();
    for (index, node) in cluster.nodes.iter().enumerate() {
        let count: u64 = node.query(&["DBSIZE"]).unwrap().parse().unwrap();
        if count > 0 {
            holders.insert(index);
        }
    }
    assert!(holders.len() > 1, "every key on one node: {holders:?}");
}

/// On a cluster, no pub/sub: the fleet's state is read every poll interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_reaches_the_fleet_by_polling_on_a_cluster() {
    let cluster = Cluster::start();
    let fleet: Vec<CircuitBreaker> = (0..2)
        .map(|_| {
            CircuitBreaker::builder("cluster-breaker")
                .consecutive_failures(1)
                .open_for(Duration::from_secs(30))
                .build_shared(Arc::new(redis(&cluster)))
                .unwrap()
        })
        .collect();
    let _ = fleet[0]
        .call(|| async { Err::<(), _>(std::io::Error::other("down")) })
        .await;
    assert_eq!(fleet[0].state(), BreakerState::Open);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fleet[1].state() != BreakerState::Open {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the trip never reached the other instance"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
