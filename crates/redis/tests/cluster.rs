//! A Redis Cluster of three local nodes: shared limits work across slots, the keys of
//! a keyed limiter spread over the nodes.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hardy_rate_limit::{KeyedRateLimiter, RateLimiter};
use hardy_redis::Redis;
use support::Cluster;

fn redis(cluster: &Cluster) -> Redis {
    Redis::builder("cluster")
        .cluster(cluster.urls())
        .timeout(Duration::from_millis(500))
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
