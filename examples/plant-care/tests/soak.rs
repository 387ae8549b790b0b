//! The soak test: thirty simulated days under mild faults on paused time. Every
//! invariant holds, memory does not grow with time beyond the report's own samples,
//! and nothing is left allocated once a run is over (no leaked tasks, no reference
//! cycles).

use plant_care::config::Config;
use plant_care::hardware::Faults;
use plant_care::simulate::{self, Report};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// What a run left: figures only, so that holding them allocates nothing.
struct Run {
    retries: u64,
    breaker_trips: u64,
    waterings: [u32; 3],
    /// The peak heap of the run beyond what was allocated before it.
    peak_bytes: u64,
    /// The bytes of the report's samples, which grow with the days by design.
    sample_bytes: u64,
    /// Heap blocks still allocated once the report was dropped, beyond those before.
    left_blocks: i64,
}

/// Runs `days`, checks the invariants of its report, and measures its heap.
fn run(days: u32) -> Run {
    let config = Config::default();
    let before = dhat::HeapStats::get();
    let report = simulate::run(&config, days, Faults::Mild, false).expect("simulates");
    let peak_bytes = (dhat::HeapStats::get().max_bytes - before.curr_bytes) as u64;
    check(&config, &report, days);
    let mut waterings = [0; 3];
    for (count, plant) in waterings.iter_mut().zip(&report.plants) {
        *count = plant.waterings;
    }
    let sample_bytes = report
        .plants
        .iter()
        .map(|plant| (plant.moisture.capacity() * size_of::<f64>()) as u64)
        .sum::<u64>()
        + report.metrics.capacity() as u64;
    let (retries, breaker_trips) = (report.totals.retries, report.totals.breaker_trips);
    drop(report);
    let left_blocks = dhat::HeapStats::get().curr_blocks as i64 - before.curr_blocks as i64;
    Run {
        retries,
        breaker_trips,
        waterings,
        peak_bytes,
        sample_bytes,
        left_blocks,
    }
}

fn check(config: &Config, report: &Report, days: u32) {
    assert_eq!(report.plants.len(), 3);
    assert_eq!(
        report.totals.reads,
        3 * u64::from(days) * 144,
        "one read a plant every 10 minutes"
    );
    for (plant, configured) in report.plants.iter().zip(&config.plants) {
        assert!(
            plant.in_range >= 0.95,
            "{}: in range {:.3}",
            plant.id,
            plant.in_range
        );
        assert_eq!(plant.within_pump_limits(&configured.pump), Ok(()));
    }
}

#[test]
fn thirty_days_hold_every_invariant_and_memory_does_not_grow() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // A first run warms up what lives for the whole process (metric descriptions,
    // thread-locals), so the comparisons below see only the runs.
    let _ = run(1);
    let ten = run(10);
    let thirty = run(30);

    for (plant, (late, early)) in thirty.waterings.iter().zip(&ten.waterings).enumerate() {
        assert!(
            late > early,
            "plant {plant} was watered after the tenth day too"
        );
    }
    assert!(thirty.retries > ten.retries, "the faults went on all month");
    assert!(thirty.breaker_trips >= ten.breaker_trips);

    let grown = thirty.peak_bytes.saturating_sub(ten.peak_bytes);
    let samples = thirty.sample_bytes.saturating_sub(ten.sample_bytes);
    assert!(
        grown <= samples + 64 * 1024,
        "the heap grew {grown} B over 20 more days, the report's samples {samples} B"
    );
    // What outlives a run is the Prometheus exporter's histogram buckets, freed later by
    // epoch-based reclamation (a few dozen blocks, in bags of deferred frees). A task
    // or a reference cycle keeping the controller, the hardware or the runtime alive
    // would leave thousands.
    for (days, run) in [(10, &ten), (30, &thirty)] {
        assert!(
            run.left_blocks <= 128,
            "{} blocks outlived the {days}-day run",
            run.left_blocks
        );
    }
}
