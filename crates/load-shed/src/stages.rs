//! The stages before the limit: per-client fair shares and client-side adaptive
//! throttling.

use std::collections::HashMap;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU32, Mutex, Ordering};

const FAIR_SHARDS: usize = 16;

/// Calls in flight by client hash, for one shard of the clients.
type Shard = CachePadded<Mutex<HashMap<u64, u32>>>;

/// Calls in flight per client, and how many clients have calls in flight.
#[derive(Debug)]
pub(crate) struct Fair {
    engage_at: f64,
    shards: Box<[Shard]>,
    active: AtomicU32,
}

impl Fair {
    pub(crate) fn new(engage_at: f64) -> Self {
        Fair {
            engage_at,
            shards: (0..FAIR_SHARDS)
                .map(|_| CachePadded::new(Mutex::new(HashMap::new())))
                .collect(),
            active: AtomicU32::new(0),
        }
    }

    fn shard(&self, client: u64) -> &Mutex<HashMap<u64, u32>> {
        &self.shards[(client >> 59) as usize % FAIR_SHARDS]
    }

    /// Counts a call of `client` in, unless the shedder is engaged (`in_flight` at least
    /// `engage_at` × `limit`) and the client holds its fair share already.
    pub(crate) fn enter(&self, client: u64, in_flight: u32, limit: u32) -> bool {
        let mut calls = self.shard(client).lock();
        let held = calls.get(&client).copied().unwrap_or(0);
        if f64::from(in_flight) >= self.engage_at * f64::from(limit) {
            let active = self.active.load(Ordering::Relaxed) + u32::from(held == 0);
            let share = limit.div_ceil(active.max(1)).max(1);
            if held >= share {
                return false;
            }
        }
        if held == 0 {
            self.active.fetch_add(1, Ordering::Relaxed);
        }
        calls.insert(client, held + 1);
        true
    }

    /// Counts a call of `client` out.
    pub(crate) fn leave(&self, client: u64) {
        let mut calls = self.shard(client).lock();
        if let Some(held) = calls.get_mut(&client) {
            *held -= 1;
            if *held == 0 {
                calls.remove(&client);
                self.active.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Clients with calls in flight now.
    pub(crate) fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }
}

const BUCKETS: u64 = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    index: u64,
    requests: u64,
    accepts: u64,
}

/// Requests and accepts over a trailing window, in ten buckets.
#[derive(Debug)]
pub(crate) struct Throttle {
    k: f64,
    width: u64,
    buckets: Mutex<[Bucket; BUCKETS as usize]>,
}

impl Throttle {
    pub(crate) fn new(k: f64, window: u64) -> Self {
        Throttle {
            k,
            width: (window / BUCKETS).max(1),
            buckets: Mutex::new([Bucket::default(); BUCKETS as usize]),
        }
    }

    fn current(buckets: &mut [Bucket; BUCKETS as usize], index: u64) -> &mut Bucket {
        let bucket = &mut buckets[(index % BUCKETS) as usize];
        if bucket.index != index {
            *bucket = Bucket {
                index,
                requests: 0,
                accepts: 0,
            };
        }
        bucket
    }

    /// The shedding probability over the buckets of the window ending in bucket
    /// `index`: `max(0, (requests − k × accepts) / (requests + 1))`.
    fn probability_in(&self, buckets: &[Bucket; BUCKETS as usize], index: u64) -> f64 {
        let (requests, accepts) = buckets
            .iter()
            .filter(|bucket| bucket.index + BUCKETS > index && bucket.index <= index)
            .fold((0.0, 0.0), |(r, a), bucket| {
                (r + bucket.requests as f64, a + bucket.accepts as f64)
            });
        ((requests - self.k * accepts) / (requests + 1.0)).max(0.0)
    }

    /// Counts a request at `now` and decides, from `draw` in `0..1`, whether to shed it.
    pub(crate) fn request(&self, now: u64, draw: f64) -> bool {
        let index = now / self.width;
        let mut buckets = self.buckets.lock();
        let probability = self.probability_in(&buckets, index);
        Self::current(&mut buckets, index).requests += 1;
        draw < probability
    }

    /// Counts an accepted request at `now`.
    pub(crate) fn accept(&self, now: u64) {
        let index = now / self.width;
        Self::current(&mut self.buckets.lock(), index).accepts += 1;
    }

    /// The probability of shedding a request at `now`.
    pub(crate) fn probability(&self, now: u64) -> f64 {
        self.probability_in(&self.buckets.lock(), now / self.width)
    }
}

#[cfg(all(test, not(hardy_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_held_to_its_share_once_engaged() {
        let fair = Fair::new(0.5);
        // Below half the limit of 10, one client may take more than its share.
        for in_flight in 0..5 {
            assert!(fair.enter(1, in_flight, 10));
        }
        // Engaged: alone, client 1's share is the whole limit.
        assert!(fair.enter(1, 5, 10));
        // Client 2 arrives: shares are 5 each; client 1 holds 6.
        assert!(fair.enter(2, 6, 10));
        assert!(!fair.enter(1, 7, 10));
        assert!(fair.enter(2, 7, 10));
        assert_eq!(fair.active(), 2);
        for _ in 0..6 {
            fair.leave(1);
        }
        assert_eq!(fair.active(), 1);
        assert!(fair.enter(1, 2, 10));
    }

    #[test]
    fn throttling_follows_the_sre_formula() {
        let throttle = Throttle::new(2.0, 1_000);
        // Every request accepted: never throttled.
        for now in 0..100 {
            assert!(!throttle.request(now, 0.0));
            throttle.accept(now);
        }
        assert_eq!(throttle.probability(100), 0.0);
        // The backend stops accepting: 100 accepts allow 200 requests, then the
        // probability climbs towards 1.
        for now in 100..400 {
            throttle.request(now, 1.0);
        }
        let p = throttle.probability(400);
        let expected = (400.0 - 2.0 * 100.0) / 401.0;
        assert!((p - expected).abs() < 1e-9, "{p} against {expected}");
        // A window later the old counts are gone.
        assert_eq!(throttle.probability(2_000), 0.0);
    }
}

/// Per-client fairness: once the calls in flight reach `engage_at` × the limit, a client
/// holding its fair share (the limit divided by the clients with calls in flight, at
/// least one) is shed with [`ShedReason::Fairness`](hardy_core::ShedReason::Fairness).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct FairnessConfig {
    /// The share of the limit in use from which fair shares are enforced, within
    /// `0..=1`. Default: 0.8.
    pub engage_at: f64,
}

impl Default for FairnessConfig {
    fn default() -> Self {
        FairnessConfig { engage_at: 0.8 }
    }
}

/// A wait queue with controlled delay (CoDel, as in "Fail at Scale"): a call over the
/// limit waits, highest priority first, for at most `interval`; once the queue has not
/// been empty for `interval` (a standing queue), new waiters wait at most `target` and
/// the newest is served first, so the queue drains instead of making every call late.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct QueueConfig {
    /// Calls that may wait, `1..=MAX_WAITING`. Default: 64.
    pub max_waiting: u32,
    /// The longest wait while the queue stands. Default: 5 ms.
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub target: Duration,
    /// The longest wait otherwise, and how long the queue must stay non-empty to count
    /// as standing; at least `target`. Default: 100 ms.
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub interval: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_waiting: 64,
            target: Duration::from_millis(5),
            interval: Duration::from_millis(100),
        }
    }
}

/// Client-side adaptive throttling (the SRE book's formula): a call is shed with
/// probability `max(0, (requests − k × accepts) / (requests + 1))`, counted over the
/// last `window`, where an accept is a call whose result did not classify as a failure.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct ThrottleConfig {
    /// How many requests per accept are sent before throttling starts: a finite number,
    /// `1..`. Default: 2.
    pub k: f64,
    /// The span the counts cover (in ten buckets). Default: 2 minutes.
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            k: 2.0,
            window: Duration::from_secs(120),
        }
    }
}
