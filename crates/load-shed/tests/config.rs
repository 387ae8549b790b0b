//! Configuration: every validation rule names its field and value, configs load from
//! TOML and JSON, and bad run-time settings change nothing.

mod support;

use std::time::Duration;

use hardy_load_shed::{
    AimdConfig, CallInfo, FixedConfig, GradientConfig, LimitConfig, LoadShedConfig, LoadShedder,
    QueueConfig, ThrottleConfig,
};

use support::*;

#[test]
fn every_config_rule_names_the_field_and_value() {
    let base = LoadShedConfig::default();
    let cases: Vec<(LoadShedConfig, &str)> = vec![
        (
            LoadShedConfig {
                limit: LimitConfig::Fixed(FixedConfig { limit: 0 }),
                ..base.clone()
            },
            "limit.limit = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Fixed(FixedConfig {
                    limit: (1 << 24) + 1,
                }),
                ..base.clone()
            },
            "limit.limit = 16777217: must be at most 16777216",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    min_limit: 16_777_217,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.min_limit = 16777217: must be at most 16777216",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    max_limit: 16_777_217,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.max_limit = 16777217: must be at most 16777216",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    min_limit: 0,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.min_limit = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    max_limit: 0,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.max_limit = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    min_limit: 10,
                    max_limit: 5,
                    initial_limit: 5,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.max_limit = 5: must be at least limit.min_limit (10)",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    initial_limit: 0,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.initial_limit = 0: must be at least limit.min_limit (1)",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    initial_limit: 2000,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.initial_limit = 2000: must be at most limit.max_limit (1000)",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    backoff_ratio: 1.0,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.backoff_ratio = 1.0: must be within 0..1, both ends excluded",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    increase: 0,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.increase = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    latency_threshold: Some(Duration::ZERO),
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.latency_threshold = 0ns: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    window: Duration::ZERO,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.window = 0ns: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    tolerance: f64::NAN,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.tolerance = NaN: must be a finite number of at least 1",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    smoothing: 0.0,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.smoothing = 0.0: must be a finite number greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    smoothing: 1.5,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.smoothing = 1.5: must be within 0..=1",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    window: Duration::ZERO,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.window = 0ns: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    probe_interval: Duration::from_millis(100),
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.probe_interval = 100ms: must be longer than limit.window (100ms)",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    probe_jitter: 1.0,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.probe_jitter = 1.0: must be within 0..1",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    probe_samples: 0,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.probe_samples = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                priorities: 0,
                ..base.clone()
            },
            "priorities = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                priorities: 17,
                ..base.clone()
            },
            "priorities = 17: must be at most 16",
        ),
        (
            LoadShedConfig {
                reserve: 1.0,
                ..base.clone()
            },
            "reserve = 1.0: must be within 0..1",
        ),
        (
            // One level: nothing above it to reserve for.
            LoadShedConfig {
                priorities: 1,
                reserve: 0.5,
                ..base.clone()
            },
            "reserve = 0.5: does nothing with one priority level (nothing above it to reserve for): set priorities too",
        ),
        (
            LoadShedConfig {
                fairness: Some(hardy_load_shed::FairnessConfig { engage_at: -0.1 }),
                ..base.clone()
            },
            "fairness.engage_at = -0.1: must be within 0..=1",
        ),
        (
            LoadShedConfig {
                queue: Some(QueueConfig {
                    max_waiting: 0,
                    ..QueueConfig::default()
                }),
                ..base.clone()
            },
            "queue.max_waiting = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                queue: Some(QueueConfig {
                    max_waiting: (1 << 20) + 1,
                    ..QueueConfig::default()
                }),
                ..base.clone()
            },
            "queue.max_waiting = 1048577: must be at most 1048576",
        ),
        (
            LoadShedConfig {
                queue: Some(QueueConfig {
                    target: Duration::ZERO,
                    ..QueueConfig::default()
                }),
                ..base.clone()
            },
            "queue.target = 0ns: must be greater than zero",
        ),
        (
            LoadShedConfig {
                queue: Some(QueueConfig {
                    interval: MS,
                    ..QueueConfig::default()
                }),
                ..base.clone()
            },
            "queue.interval = 1ms: must be at least queue.target (5ms)",
        ),
        (
            LoadShedConfig {
                throttle: Some(ThrottleConfig {
                    k: 0.5,
                    ..ThrottleConfig::default()
                }),
                ..base.clone()
            },
            "throttle.k = 0.5: must be a finite number of at least 1",
        ),
        (
            LoadShedConfig {
                throttle: Some(ThrottleConfig {
                    window: Duration::ZERO,
                    ..ThrottleConfig::default()
                }),
                ..base.clone()
            },
            "throttle.window = 0ns: must be greater than zero",
        ),
        (
            LoadShedConfig {
                shed_rate: f64::INFINITY,
                ..base.clone()
            },
            "shed_rate = inf: must be within 0..=1",
        ),
    ];
    assert!(base.validate("api").is_ok());
    for (config, expected) in cases {
        let error = LoadShedder::new("api", config).unwrap_err();
        assert_eq!(error.to_string(), format!("load_shed \"api\": {expected}"));
    }
}

#[cfg(feature = "serde")]
#[test]
fn configs_load_from_toml_with_human_durations() {
    let config: LoadShedConfig = toml::from_str(
        r#"
        priorities = 3
        reserve = 0.25
        [limit]
        algorithm = "gradient"
        tolerance = 1.5
        probe_interval = "2m"
        [queue]
        max_waiting = 16
        target = "10ms"
        [fairness]
        engage_at = 0.9
        "#,
    )
    .unwrap();
    assert_eq!(config.priorities, 3);
    assert_eq!(
        config.limit,
        LimitConfig::Gradient(GradientConfig {
            tolerance: 1.5,
            probe_interval: Duration::from_secs(120),
            ..GradientConfig::default()
        })
    );
    assert_eq!(config.queue.as_ref().unwrap().target, 10 * MS);
    let back: LoadShedConfig = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
    assert_eq!(back, config);
    let aimd: LoadShedConfig =
        serde_json::from_str(r#"{"limit": {"algorithm": "aimd", "latency_threshold": "250ms"}}"#)
            .unwrap();
    assert_eq!(
        aimd.limit,
        LimitConfig::Aimd(AimdConfig {
            latency_threshold: Some(250 * MS),
            ..AimdConfig::default()
        })
    );
    let unknown =
        toml::from_str::<LoadShedConfig>("[limit]\nalgorithm = \"aimd\"\ntolerance = 2.0\n");
    assert!(unknown.unwrap_err().to_string().contains("tolerance"));
    assert!(toml::from_str::<LoadShedConfig>("priority = 2\n").is_err());
}

#[test]
fn bad_run_time_settings_name_the_field_and_value_and_change_nothing() {
    let shedder = fixed(2).build().unwrap();
    for rate in [f64::NAN, f64::INFINITY, -0.5, 1.01] {
        let error = shedder.set_shed_rate(rate).expect_err("out of range");
        assert!(
            error
                .to_string()
                .starts_with(&format!("load_shed \"test\": shed_rate = {rate}: ")),
            "{error}"
        );
    }
    let error = shedder.set_limit(0).expect_err("zero");
    assert!(
        error
            .to_string()
            .starts_with("load_shed \"test\": limit = 0: "),
        "{error}"
    );
    assert_eq!(shedder.stats().limit, 2);
    let held: Vec<_> = (0..2)
        .map(|_| {
            shedder
                .try_acquire(CallInfo::new())
                .expect("nothing shed at random")
        })
        .collect();
    assert!(
        shedder.try_acquire(CallInfo::new()).is_err(),
        "the limit is still 2"
    );
    drop(held);
}
