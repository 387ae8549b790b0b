//! Probabilistic shedding: seeded random shedding of the lower tiers, and adaptive
//! throttling as the backend stops accepting.

mod support;

use std::time::Duration;

use hardy_core::Error;
use hardy_load_shed::CallInfo;
use tokio::time::sleep;

use support::*;

#[tokio::test(start_paused = true)]
async fn random_shedding_is_seeded_spares_the_top_tier_and_changes_at_run_time() {
    let run = |seed| {
        let shedder = fixed(1000)
            .priorities(2)
            .shed_rate(0.3)
            .seed(seed)
            .build()
            .unwrap();
        let outcomes: Vec<bool> = (0..1000)
            .map(|_| shedder.try_acquire(CallInfo::new().priority(1)).is_ok())
            .collect();
        (shedder, outcomes)
    };
    let (shedder, a) = run(7);
    let (_, b) = run(7);
    let (_, c) = run(8);
    assert_eq!(a, b, "the same seed sheds the same calls");
    assert_ne!(a, c);
    let shed = a.iter().filter(|admitted| !**admitted).count();
    assert!((250..350).contains(&shed), "{shed} of 1000 shed at 0.3");
    assert_eq!(shedder.stats().shed.probabilistic, shed as u64);
    for _ in 0..200 {
        assert!(shedder.try_acquire(CallInfo::new().priority(0)).is_ok());
    }
    shedder.set_shed_rate(0.0).unwrap();
    for _ in 0..200 {
        assert!(shedder.try_acquire(CallInfo::new().priority(1)).is_ok());
    }
    let error = shedder.set_shed_rate(1.5).unwrap_err();
    assert_eq!(
        error.to_string(),
        "load_shed \"test\": shed_rate = 1.5: must be within 0..=1"
    );
}

#[tokio::test(start_paused = true)]
async fn adaptive_throttling_sheds_as_the_backend_stops_accepting() {
    let shedder = fixed(1000)
        .throttle(2.0, Duration::from_secs(60))
        .seed(1)
        .build()
        .unwrap();
    let fail = || async { Err::<(), _>(std::io::Error::other("503")) };
    for _ in 0..100 {
        shedder.call(ok).await.unwrap();
    }
    assert_eq!(shedder.stats().throttle_probability, 0.0);
    let mut shed = 0;
    for _ in 0..2000 {
        if let Err(Error::Rejected(_)) = shedder.call(fail).await {
            shed += 1;
        }
    }
    // 100 accepts allow about 200 requests; then the probability climbs with every
    // request, (requests - 200) / (requests + 1), to 0.9 at 2100 requests: about 1350
    // of the 2000 are shed.
    let p = shedder.stats().throttle_probability;
    assert!((0.89..0.91).contains(&p), "probability {p}");
    assert!((1250..1550).contains(&shed), "{shed} shed");
    assert_eq!(shedder.stats().shed.probabilistic, shed);
    // Counts age out with the window.
    sleep(Duration::from_secs(61)).await;
    assert_eq!(shedder.stats().throttle_probability, 0.0);
}
