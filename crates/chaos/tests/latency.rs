//! Injected delays: every distribution stays within its bounds and has its shape.

use std::time::Duration;

use hardy_chaos::{Chaos, Latency};
use proptest::prelude::*;

fn delays(latency: Latency, seed: u64, n: usize) -> Vec<Duration> {
    let chaos = Chaos::builder("lat")
        .seed(seed)
        .latency(1.0, latency)
        .build()
        .expect("valid");
    let mut all: Vec<Duration> = (0..n)
        .map(|_| chaos.next_fault().delay.expect("latency rate is 1"))
        .collect();
    all.sort();
    all
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn fixed_is_fixed() {
    assert!(
        delays(Latency::Fixed { delay: ms(40) }, 1, 100)
            .iter()
            .all(|d| *d == ms(40))
    );
}

#[test]
fn uniform_spreads_evenly_between_its_ends() {
    let all = delays(
        Latency::Uniform {
            min: ms(10),
            max: ms(110),
        },
        2,
        10_000,
    );
    let median = all[all.len() / 2];
    assert!(median > ms(55) && median < ms(65), "{median:?}");
    assert!(all[0] >= ms(10) && all[all.len() - 1] <= ms(110));
    assert!(
        all[0] < ms(12) && all[all.len() - 1] > ms(108),
        "the whole range is used"
    );
}

#[test]
fn exponential_has_its_mean_and_its_cut() {
    let all = delays(
        Latency::Exponential {
            mean: ms(20),
            max: ms(1000),
        },
        3,
        20_000,
    );
    let mean = all.iter().sum::<Duration>() / all.len() as u32;
    assert!(mean > ms(19) && mean < ms(21), "{mean:?}");
    let cut = delays(
        Latency::Exponential {
            mean: ms(20),
            max: ms(30),
        },
        3,
        1000,
    );
    assert_eq!(*cut.last().expect("some"), ms(30));
    assert!(
        cut.iter().filter(|d| **d == ms(30)).count() > 100,
        "the tail piles at the cut"
    );
}

#[test]
fn log_normal_has_its_median_and_p99() {
    let all = delays(
        Latency::LogNormal {
            median: ms(20),
            p99: ms(200),
            max: ms(10_000),
        },
        4,
        20_000,
    );
    let median = all[all.len() / 2];
    let p99 = all[all.len() * 99 / 100];
    assert!(median > ms(19) && median < ms(21), "{median:?}");
    assert!(p99 > ms(180) && p99 < ms(225), "{p99:?}");
}

proptest! {
    #[test]
    fn every_delay_is_within_the_bounds(
        seed in any::<u64>(),
        a in 0u64..500,
        b in 1u64..500,
        c in 0u64..500,
    ) {
        let (min, max) = (ms(a.min(b)), ms(a.max(b)));
        for d in delays(Latency::Uniform { min, max }, seed, 64) {
            prop_assert!(d >= min && d <= max);
        }
        let (mean, cut) = (ms(b), ms(b + c));
        for d in delays(Latency::Exponential { mean, max: cut }, seed, 64) {
            prop_assert!(d <= cut);
        }
        let (median, p99, top) = (ms(b), ms(b + c), ms(b + 2 * c));
        for d in delays(Latency::LogNormal { median, p99, max: top }, seed, 64) {
            prop_assert!(d <= top);
        }
    }
}
