//! Every validation rule has a failing example; defaults are the documented constants.

use std::time::Duration;

use hardy_breaker::{
    BreakerConfig, CircuitBreaker, DEFAULT_CONSECUTIVE_FAILURES, DEFAULT_FAILURE_RATIO,
    DEFAULT_HALF_OPEN_CALLS, DEFAULT_OPEN_FOR, DEFAULT_WINDOW_SIZE, MAX_HALF_OPEN_CALLS,
    MAX_TIME_BUCKETS, MAX_WINDOW_SIZE, Window,
};
use proptest::prelude::*;

fn error_of(change: impl FnOnce(&mut BreakerConfig)) -> String {
    let mut config = BreakerConfig::default();
    change(&mut config);
    config
        .validate("soil-1")
        .expect_err("config must be refused")
        .to_string()
}

#[test]
fn defaults_are_the_documented_constants_and_valid() {
    let config = BreakerConfig::default();
    assert_eq!(config.consecutive_failures, DEFAULT_CONSECUTIVE_FAILURES);
    assert_eq!(config.failure_ratio, DEFAULT_FAILURE_RATIO);
    assert_eq!(config.half_open_calls, DEFAULT_HALF_OPEN_CALLS);
    assert_eq!(config.open_for, DEFAULT_OPEN_FOR);
    assert_eq!(
        config.window,
        Window::Count {
            size: DEFAULT_WINDOW_SIZE
        }
    );
    config.validate("x").unwrap();
}

#[test]
fn every_rule_names_its_field_and_value() {
    let cases: Vec<(String, &str)> = vec![
        (
            error_of(|c| c.failure_ratio = 1.5),
            "breaker \"soil-1\": failure_ratio = 1.5: must be within 0..=1",
        ),
        (
            error_of(|c| c.failure_ratio = f64::NAN),
            "breaker \"soil-1\": failure_ratio = NaN: must be within 0..=1",
        ),
        (
            error_of(|c| c.failure_ratio = 0.0),
            "breaker \"soil-1\": failure_ratio = 0.0: must be greater than zero",
        ),
        (
            error_of(|c| c.slow_call_ratio = -0.1),
            "breaker \"soil-1\": slow_call_ratio = -0.1: must be within 0..=1",
        ),
        (
            error_of(|c| c.slow_call_ratio = 0.0),
            "breaker \"soil-1\": slow_call_ratio = 0.0: must be greater than zero",
        ),
        (
            // Without a threshold no call is slow: the ratio would do nothing.
            error_of(|c| c.slow_call_ratio = 0.5),
            "breaker \"soil-1\": slow_call_ratio = 0.5: does nothing without slow_call_threshold (no call counts as slow): set it too",
        ),
        (
            // Without a window only consecutive failures open the breaker.
            error_of(|c| {
                c.window = Window::Off;
                c.slow_call_threshold = Some(Duration::from_secs(2));
            }),
            "breaker \"soil-1\": slow_call_threshold = 2s: does nothing with window = off (only consecutive_failures opens the breaker): set a window or remove it",
        ),
        (
            error_of(|c| {
                c.window = Window::Off;
                c.failure_ratio = 0.3;
            }),
            "breaker \"soil-1\": failure_ratio = 0.3: does nothing with window = off (only consecutive_failures opens the breaker): set a window or remove it",
        ),
        (
            error_of(|c| {
                c.window = Window::Off;
                c.minimum_calls = 20;
            }),
            "breaker \"soil-1\": minimum_calls = 20: does nothing with window = off (only consecutive_failures opens the breaker): set a window or remove it",
        ),
        (
            // A fixed, unjittered open duration never reaches its cap.
            error_of(|c| c.max_open_for = Duration::from_secs(600)),
            "breaker \"soil-1\": max_open_for = 600s: does nothing while open_backoff is 1 and open_jitter 0 (the open duration never grows): set open_backoff or open_jitter too",
        ),
        (
            error_of(|c| c.minimum_calls = 0),
            "breaker \"soil-1\": minimum_calls = 0: must be greater than zero",
        ),
        (
            error_of(|c| c.minimum_calls = 101),
            "breaker \"soil-1\": minimum_calls = 101: must be at most window.size (100)",
        ),
        (
            error_of(|c| c.window = Window::Count { size: 0 }),
            "breaker \"soil-1\": window.size = 0: must be greater than zero",
        ),
        (
            error_of(|c| {
                c.window = Window::Count {
                    size: MAX_WINDOW_SIZE + 1,
                }
            }),
            "breaker \"soil-1\": window.size = 1048577: must be at most 1048576",
        ),
        (
            error_of(|c| {
                c.window = Window::Time {
                    length: Duration::ZERO,
                    buckets: 10,
                }
            }),
            "breaker \"soil-1\": window.length = 0ns: must be greater than zero",
        ),
        (
            error_of(|c| {
                c.window = Window::Time {
                    length: Duration::from_secs(60),
                    buckets: 0,
                }
            }),
            "breaker \"soil-1\": window.buckets = 0: must be greater than zero",
        ),
        (
            error_of(|c| {
                c.window = Window::Time {
                    length: Duration::from_secs(60),
                    buckets: MAX_TIME_BUCKETS + 1,
                }
            }),
            "breaker \"soil-1\": window.buckets = 1001: must be at most 1000",
        ),
        (
            error_of(|c| {
                c.window = Window::Time {
                    length: Duration::from_nanos(5),
                    buckets: 10,
                }
            }),
            "breaker \"soil-1\": window.length = 5ns: must be at least one nanosecond per bucket (10 buckets)",
        ),
        (
            error_of(|c| c.slow_call_threshold = Some(Duration::ZERO)),
            "breaker \"soil-1\": slow_call_threshold = 0ns: must be greater than zero",
        ),
        (
            error_of(|c| c.half_open_calls = 0),
            "breaker \"soil-1\": half_open_calls = 0: must be greater than zero",
        ),
        (
            error_of(|c| c.half_open_calls = MAX_HALF_OPEN_CALLS + 1),
            "breaker \"soil-1\": half_open_calls = 16777216: must be at most 16777215",
        ),
        (
            error_of(|c| c.max_wait_in_half_open = Some(Duration::ZERO)),
            "breaker \"soil-1\": max_wait_in_half_open = 0ns: must be greater than zero",
        ),
        (
            error_of(|c| c.open_for = Duration::ZERO),
            "breaker \"soil-1\": open_for = 0ns: must be greater than zero",
        ),
        (
            error_of(|c| c.open_backoff = 0.5),
            "breaker \"soil-1\": open_backoff = 0.5: must be a finite number of at least 1",
        ),
        (
            error_of(|c| c.open_backoff = f64::INFINITY),
            "breaker \"soil-1\": open_backoff = inf: must be a finite number of at least 1",
        ),
        (
            error_of(|c| c.max_open_for = Duration::from_secs(1)),
            "breaker \"soil-1\": max_open_for = 1s: must be at least open_for (30s)",
        ),
        (
            error_of(|c| c.open_jitter = 2.0),
            "breaker \"soil-1\": open_jitter = 2.0: must be within 0..=1",
        ),
    ];
    for (actual, expected) in cases {
        assert_eq!(actual, expected);
    }
}

#[test]
fn the_builder_validates() {
    let error = CircuitBreaker::builder("pump")
        .half_open_calls(0)
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "half_open_calls");
    assert_eq!(error.instance(), "pump");
}

#[cfg(feature = "serde")]
#[test]
fn configs_read_from_toml() {
    let config: BreakerConfig = toml::from_str(
        r#"
        consecutive_failures = 3
        failure_ratio = 0.25
        open_for = "1m"
        slow_call_threshold = "2s"
        [window]
        kind = "time"
        length = "30s"
        buckets = 6
        "#,
    )
    .unwrap();
    assert_eq!(config.consecutive_failures, 3);
    assert_eq!(config.open_for, Duration::from_secs(60));
    assert_eq!(config.slow_call_threshold, Some(Duration::from_secs(2)));
    assert_eq!(
        config.window,
        Window::Time {
            length: Duration::from_secs(30),
            buckets: 6
        }
    );
    config.validate("x").unwrap();
    assert!(toml::from_str::<BreakerConfig>("failure_treshold = 3").is_err());
}

proptest! {
    #[test]
    fn validation_accepts_exactly_ratios_in_the_half_open_unit_interval(ratio in proptest::num::f64::ANY) {
        let config = BreakerConfig { failure_ratio: ratio, ..BreakerConfig::default() };
        prop_assert_eq!(config.validate("x").is_ok(), ratio > 0.0 && ratio <= 1.0);
    }
}

#[test]
fn a_breaker_meant_for_a_store_is_not_built_without_one() {
    let config = hardy_breaker::BreakerConfig {
        backend: hardy_core::Backend::Redis,
        ..hardy_breaker::BreakerConfig::default()
    };
    let error = hardy_breaker::CircuitBreaker::from_config("payments", config).unwrap_err();
    assert_eq!(error.field(), "backend");
    assert!(error.to_string().contains("build_shared"), "{error}");
}
