//! The latency histogram's percentiles against a sorted reference, and its rotation.

use std::time::Duration;

use hardy_hedge::Latencies;
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_percentile_is_within_one_percent_of_the_sorted_samples(
        samples in proptest::collection::vec(1u64..5_000_000, 1..2_000),
        percentile in 1.0f64..99.9,
    ) {
        let _guard = runtime().enter();
        let mut latencies = Latencies::new(Duration::from_secs(60));
        for micros in &samples {
            latencies.record(Duration::from_micros(*micros));
        }
        let found = latencies.percentile(percentile, 1).expect("samples").as_micros() as f64;
        let mut sorted = samples.clone();
        sorted.sort_unstable();
        // The samples at the ranks either side of the percentile's: the histogram may
        // round the rank either way, and it keeps values to 1 %.
        let rank = ((percentile / 100.0) * sorted.len() as f64).ceil() as usize;
        let low = sorted[rank.saturating_sub(2).min(sorted.len() - 1)] as f64;
        let high = sorted[rank.min(sorted.len() - 1)] as f64;
        prop_assert!(
            found >= low * 0.99 - 1.0 && found <= high * 1.01 + 1.0,
            "p{percentile}: {found} not within [{low}, {high}]"
        );
    }
}

#[test]
fn old_latencies_stop_counting_after_two_periods() {
    let runtime = runtime();
    runtime.block_on(async {
        let period = Duration::from_secs(10);
        let mut latencies = Latencies::new(period);
        for _ in 0..50 {
            latencies.record(Duration::from_millis(500));
        }
        assert_eq!(latencies.len(), 50);
        tokio::time::advance(period).await;
        for _ in 0..50 {
            latencies.record(Duration::from_millis(10));
        }
        // The last full period is read: the 500 ms ones.
        let p50 = latencies.percentile(50.0, 10).expect("a full period");
        assert!(p50 >= Duration::from_millis(495), "{p50:?}");
        tokio::time::advance(period).await;
        let p50 = latencies
            .percentile(50.0, 10)
            .expect("the next full period");
        assert!(p50 <= Duration::from_millis(11), "{p50:?}");
        tokio::time::advance(2 * period).await;
        assert_eq!(latencies.percentile(50.0, 10), None, "nothing recent");
        assert!(latencies.is_empty());
    });
}
