//! Partitions: each its own limit; a full partition borrows spare slots and never takes
//! another partition's.

use hardy_bulkhead::{BulkheadConfig, Partitions, PartitionsConfig};

#[tokio::test(start_paused = true)]
async fn a_full_partition_leaves_the_others_alone_and_borrows_spare_slots() {
    let plantos = Partitions::builder("plantos")
        .partition("sensor", 4)
        .partition("actuator", 2)
        .partition("analytics", 8)
        .spare(1)
        .build()
        .expect("valid");
    let analytics = plantos.get("analytics").expect("configured");
    let sensor = plantos.get("sensor").expect("configured");
    assert_eq!(analytics.name(), "plantos.analytics");
    let mut held: Vec<_> = (0..8)
        .map(|_| analytics.try_acquire().expect("own"))
        .collect();
    let borrowed = analytics.try_acquire().expect("spare");
    assert!(borrowed.is_borrowed());
    assert!(analytics.try_acquire().is_err(), "own and spare used up");
    assert_eq!(plantos.spare_in_use(), 1);
    // The sensors keep their four slots; the spare is gone.
    for _ in 0..4 {
        held.push(sensor.try_acquire().expect("sensor slots untouched"));
    }
    assert!(sensor.try_acquire().is_err());
    let stats = plantos.stats();
    assert_eq!(stats["analytics"].in_flight, 9);
    assert_eq!(stats["analytics"].borrowed, 1);
    assert_eq!(stats["sensor"].in_flight, 4);
    drop(borrowed);
    assert_eq!(plantos.spare_in_use(), 0);
    assert!(sensor.try_acquire().expect("spare again").is_borrowed());
}

#[test]
fn partitions_validate_each_config_with_its_path() {
    let mut config = PartitionsConfig::default();
    config.partitions.insert(
        "sensor".into(),
        BulkheadConfig {
            max_concurrent: hardy_bulkhead::MAX_CONCURRENT + 1,
            ..BulkheadConfig::default()
        },
    );
    let error = Partitions::from_config("plantos", config).expect_err("too large");
    assert_eq!(error.field(), "partitions.sensor.max_concurrent");
}
