//! The pump's safety rules on paused time, and the relay switched off on every exit
//! path: the end of a run, an error, cancellation, a panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use plantos_hal::sim::SimPin;
use plantos_hal::{DeviceError, Error, ErrorKind, Millilitres, Pump, PumpConfig, PumpService};
use tokio::time::{Instant, advance};
use tokio_test::{assert_pending, task};
use tower::{Service, ServiceExt};

fn ml(ml: u32) -> Millilitres {
    Millilitres::new(ml).expect("a valid volume")
}

fn config() -> PumpConfig {
    PumpConfig {
        flow_ml_per_s: 10.0,
        max_run: Duration::from_secs(30),
        cooldown: Duration::from_secs(60),
        daily_budget_ml: 500,
        interlock_every: Duration::from_millis(500),
    }
}

fn pump() -> (Pump<SimPin>, SimPin) {
    let relay = SimPin::new();
    (
        Pump::new("pump-1", relay.clone(), config()).expect("valid pump"),
        relay,
    )
}

fn refused(result: Result<plantos_hal::Dispensed, DeviceError>) -> String {
    let error = result.expect_err("refused");
    assert_eq!(error.kind(), ErrorKind::Refused, "{error}");
    error.message().to_string()
}

#[tokio::test(start_paused = true)]
async fn a_run_lasts_the_calibrated_time_and_switches_off() {
    let (mut pump, relay) = pump();
    let start = Instant::now();
    let done = pump.dispense(ml(150)).await.expect("runs");
    assert_eq!(done.ml, 150);
    assert_eq!(done.ran, Duration::from_secs(15));
    assert_eq!(start.elapsed(), Duration::from_secs(15));
    assert!(!relay.is_high());
    assert_eq!(relay.time_high(), Duration::from_secs(15));
    let levels: Vec<bool> = relay.changes().iter().map(|(_, high)| *high).collect();
    assert_eq!(levels, [false, true, false], "off at start, on, off");
}

#[tokio::test(start_paused = true)]
async fn a_dispense_past_the_run_limit_is_refused_not_shortened() {
    let (mut pump, relay) = pump();
    let message = refused(pump.dispense(ml(301)).await);
    assert_eq!(
        message,
        "301 ml takes 30.1s, more than the 30s a run may last"
    );
    assert_eq!(relay.time_high(), Duration::ZERO, "never switched on");
    pump.dispense(ml(300)).await.expect("exactly the limit");
}

#[tokio::test(start_paused = true)]
async fn runs_are_a_cooldown_apart() {
    let (mut pump, _) = pump();
    pump.dispense(ml(50)).await.expect("first");
    advance(Duration::from_secs(59)).await;
    assert_eq!(
        refused(pump.dispense(ml(50)).await),
        "cooling down for 1s more"
    );
    advance(Duration::from_secs(1)).await;
    pump.dispense(ml(50)).await.expect("after the cooldown");
}

#[tokio::test(start_paused = true)]
async fn the_daily_budget_holds_over_any_24_hours() {
    let (mut pump, _) = pump();
    for _ in 0..2 {
        pump.dispense(ml(200)).await.expect("within budget");
        advance(Duration::from_secs(3600)).await;
    }
    assert_eq!(pump.delivered_today(), 400);
    assert_eq!(
        refused(pump.dispense(ml(200)).await),
        "200 ml would pass the daily budget: 400 of 500 ml delivered"
    );
    pump.dispense(ml(100)).await.expect("what is left");
    // The first run ended 24 h after it ended: its water leaves the window.
    advance(Duration::from_secs(22 * 3600)).await;
    assert_eq!(pump.delivered_today(), 300);
    pump.dispense(ml(200)).await.expect("room again");
}

#[tokio::test(start_paused = true)]
async fn an_empty_tank_stops_or_prevents_a_run() {
    let level = Arc::new(AtomicU32::new(1));
    let reads = level.clone();
    let relay = SimPin::new();
    let mut pump = Pump::new("pump-1", relay.clone(), config())
        .expect("valid")
        .with_interlock(move || Ok(reads.load(Ordering::SeqCst) > 0));
    // Empties 3 s into a 10 s run.
    let emptying = level.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(3_200)).await;
        emptying.store(0, Ordering::SeqCst);
    });
    let message = refused(pump.dispense(ml(100)).await);
    assert_eq!(message, "the tank ran dry after 35 of 100 ml");
    assert!(!relay.is_high());
    assert_eq!(
        relay.time_high(),
        Duration::from_millis(3_500),
        "stopped at the next check"
    );
    assert_eq!(pump.delivered_today(), 35, "what ran counts");
    advance(Duration::from_secs(120)).await;
    assert_eq!(refused(pump.dispense(ml(10)).await), "the tank is empty");
    assert_eq!(
        relay.time_high(),
        Duration::from_millis(3_500),
        "never started"
    );
}

#[tokio::test(start_paused = true)]
async fn an_interlock_error_stops_the_run() {
    let checks = Arc::new(AtomicU32::new(0));
    let counted = checks.clone();
    let relay = SimPin::new();
    let mut pump = Pump::new("pump-1", relay.clone(), config())
        .expect("valid")
        .with_interlock(move || {
            if counted.fetch_add(1, Ordering::SeqCst) < 3 {
                Ok(true)
            } else {
                Err(DeviceError::new(
                    ErrorKind::Bus,
                    "tank",
                    "float switch unreadable",
                ))
            }
        });
    let error = pump.dispense(ml(100)).await.expect_err("stopped");
    assert_eq!(error.kind(), ErrorKind::Bus);
    assert!(!relay.is_high());
    assert_eq!(
        relay.time_high(),
        Duration::from_millis(1_500),
        "the check at 1.5 s failed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_run_switches_the_relay_off() {
    let (mut pump, relay) = pump();
    {
        let mut run = task::spawn(pump.dispense(ml(100)));
        assert_pending!(run.poll());
        assert!(relay.is_high(), "running");
        advance(Duration::from_secs(2)).await;
        assert_pending!(run.poll());
    }
    assert!(!relay.is_high(), "off when the future was dropped");
    // The cut-short run counts in full: the budget and the cooldown see 100 ml ending
    // 10 s after it started.
    assert_eq!(pump.delivered_today(), 100);
    assert!(
        refused(pump.dispense(ml(10)).await).starts_with("cooling down"),
        "a cancelled run still starts the cooldown"
    );
    // A timeout around the dispense cancels it the same way.
    advance(Duration::from_secs(120)).await;
    let timed_out = tokio::time::timeout(Duration::from_secs(1), pump.dispense(ml(100))).await;
    assert!(timed_out.is_err());
    assert!(!relay.is_high());
    assert_eq!(pump.delivered_today(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_relay_that_fails_to_switch_off_is_switched_off_by_the_guard() {
    let (mut pump, relay) = pump();
    let mut run = task::spawn(pump.dispense(ml(20)));
    assert_pending!(run.poll());
    assert!(relay.is_high());
    // The end of the run: the first attempt to switch off fails.
    relay.fail_next(1);
    advance(Duration::from_secs(2)).await;
    let error = match run.poll() {
        std::task::Poll::Ready(result) => result.expect_err("switching off failed"),
        std::task::Poll::Pending => panic!("the run ended"),
    };
    assert_eq!(error.kind(), ErrorKind::Bus);
    drop(run);
    assert!(
        !relay.is_high(),
        "the guard tried again and switched it off"
    );
    assert_eq!(pump.delivered_today(), 20, "counted in full");
}

#[tokio::test(start_paused = true)]
async fn a_panic_during_a_run_switches_the_relay_off() {
    let relay = SimPin::new();
    let watched = relay.clone();
    let pump = Pump::new("pump-1", relay, config())
        .expect("valid")
        .with_interlock(|| -> Result<bool, DeviceError> { panic!("sensor driver bug") });
    let run = tokio::spawn(async move {
        let mut pump = pump;
        pump.dispense(ml(100)).await
    });
    // A panic in the check before the run: the relay was never on.
    let joined = run.await;
    assert!(joined.expect_err("panicked").is_panic());
    assert!(!watched.is_high());

    // A panic after the relay is on: the interlock panics at its first check in the run.
    let relay = SimPin::new();
    let watched = relay.clone();
    let checks = Arc::new(AtomicU32::new(0));
    let counted = checks.clone();
    let mut pump = Pump::new("pump-1", relay, config())
        .expect("valid")
        .with_interlock(move || -> Result<bool, DeviceError> {
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                Ok(true)
            } else {
                panic!("float switch driver bug")
            }
        });
    let run = tokio::spawn(async move { pump.dispense(ml(100)).await });
    assert!(run.await.expect_err("panicked").is_panic());
    assert!(
        !watched.is_high(),
        "the guard switched it off while unwinding"
    );
    assert_eq!(watched.time_high(), Duration::from_millis(500));
}

#[tokio::test(start_paused = true)]
async fn a_relay_that_fails_to_switch_on_is_an_error_and_left_off() {
    let (mut pump, relay) = pump();
    relay.fail_next(1);
    let error = pump.dispense(ml(10)).await.expect_err("relay failed");
    assert_eq!(error.kind(), ErrorKind::Bus);
    assert!(!relay.is_high());
    assert_eq!(relay.time_high(), Duration::ZERO, "it never ran");
}

#[tokio::test(start_paused = true)]
async fn bad_configs_are_refused_with_the_field() {
    let error = Pump::new(
        "pump-1",
        SimPin::new(),
        PumpConfig {
            flow_ml_per_s: 0.0,
            ..config()
        },
    )
    .expect_err("flow 0");
    assert_eq!(
        error.message(),
        "pump \"pump-1\": flow_ml_per_s = 0.0: must be a finite number greater than zero"
    );
    for (bad, expected) in [
        (
            PumpConfig {
                max_run: Duration::ZERO,
                ..config()
            },
            "max_run = 0ns: must be within 1ms..=3600s",
        ),
        (
            PumpConfig {
                daily_budget_ml: 0,
                ..config()
            },
            "daily_budget_ml = 0: must be greater than zero",
        ),
        (
            PumpConfig {
                interlock_every: Duration::ZERO,
                ..config()
            },
            "interlock_every = 0ns: must be within 10ms..=60s",
        ),
    ] {
        let error = Pump::new("pump-1", SimPin::new(), bad).expect_err("invalid");
        assert_eq!(error.message(), format!("pump \"pump-1\": {expected}"));
    }
}

#[tokio::test(start_paused = true)]
async fn the_pump_service_dispenses_one_call_at_a_time() {
    let (pump, relay) = pump();
    let service = PumpService::new(pump);
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let mut service = service.clone();
            tokio::spawn(async move { service.ready().await?.call(ml(50)).await })
        })
        .collect();
    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.expect("task"));
    }
    let first = results.remove(0).expect("the first runs");
    assert_eq!(first.ml, 50);
    match results.remove(0) {
        Err(hardy_core::Error::Inner(error)) => {
            assert_eq!(error.kind(), ErrorKind::Refused);
            assert!(error.message().starts_with("cooling down"), "{error}");
        }
        other => panic!("the second waited for the first, then met its cooldown: {other:?}"),
    }
    assert_eq!(relay.time_high(), Duration::from_secs(5), "one run only");
}

#[test]
fn settings_that_cannot_work_are_all_listed() {
    // A flow so small that a dose would take years, a cooldown too long to add to a
    // clock reading, a run of a day, and an interlock read every nanosecond.
    let bad = PumpConfig {
        flow_ml_per_s: 1e-300,
        max_run: Duration::from_secs(86_400),
        cooldown: Duration::from_secs(500_000_000_000 * 31_557_600),
        daily_budget_ml: 0,
        interlock_every: Duration::from_nanos(1),
    };
    let problems: Vec<String> = bad
        .problems("basil")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "pump \"basil\": flow_ml_per_s = 1e-300: must be within 0.01..=10000.0",
            "pump \"basil\": max_run = 86400s: must be within 1ms..=3600s",
            "pump \"basil\": cooldown = 15778800000000000000s: must be within 0ns..=604800s",
            "pump \"basil\": daily_budget_ml = 0: must be greater than zero",
            "pump \"basil\": interlock_every = 1ns: must be within 10ms..=60s",
        ]
    );
    assert_eq!(
        bad.validate("basil").expect_err("invalid").field(),
        "flow_ml_per_s",
        "validate gives the first"
    );
    assert!(PumpConfig::default().problems("basil").is_empty());
    for flow in [f64::NAN, f64::INFINITY, -1.0] {
        let problems = PumpConfig {
            flow_ml_per_s: flow,
            ..config()
        }
        .problems("basil");
        assert_eq!(problems.len(), 1, "{flow}: {problems:?}");
        assert_eq!(
            problems[0].reason(),
            "must be a finite number greater than zero"
        );
    }
}

#[test]
fn the_run_time_of_an_unusable_flow_is_too_long_to_run_not_a_panic() {
    let tiny = PumpConfig {
        flow_ml_per_s: 1e-300,
        ..config()
    };
    assert_eq!(tiny.run_time(ml(2_000)), Duration::MAX);
    let nan = PumpConfig {
        flow_ml_per_s: f64::NAN,
        ..config()
    };
    assert_eq!(nan.run_time(ml(1)), Duration::MAX);
}

#[tokio::test(start_paused = true)]
async fn the_longest_cooldown_holds_and_ends() {
    let relay = SimPin::new();
    let mut pump = Pump::new(
        "pump-1",
        relay.clone(),
        PumpConfig {
            cooldown: plantos_hal::MAX_COOLDOWN,
            daily_budget_ml: u32::MAX,
            ..config()
        },
    )
    .expect("valid");
    pump.dispense(ml(100)).await.expect("first run");
    let message = refused(pump.dispense(ml(100)).await);
    assert!(message.starts_with("cooling down for"), "{message}");
    advance(plantos_hal::MAX_COOLDOWN).await;
    pump.dispense(ml(100)).await.expect("rested");
    // A budget near the top of u32 cannot overflow the day's sum.
    assert_eq!(pump.delivered_today(), 100);
    assert!(!relay.is_high());
}
