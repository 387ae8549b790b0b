//! Validation names the field and the value; configs round-trip through TOML and JSON.

use std::time::Duration;

#[cfg(feature = "serde")]
use hardy_chaos::InjectedRejection;
use hardy_chaos::{Chaos, ChaosConfig, Latency};

fn error(config: ChaosConfig) -> String {
    config.validate("ec2").expect_err("invalid").to_string()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn the_default_is_valid_and_injects_nothing() {
    let config = ChaosConfig::default();
    assert_eq!(config.validate("x"), Ok(()));
    let chaos = Chaos::from_config("x", config).expect("valid");
    assert!((0..1000).all(|_| chaos.next_fault().is_none()));
}

#[test]
fn every_rule_has_a_failing_example() {
    let base = ChaosConfig::default;
    let cases = [
        (
            ChaosConfig {
                error_rate: -0.1,
                ..base()
            },
            "chaos \"ec2\": error_rate = -0.1: must be within 0..=1",
        ),
        (
            ChaosConfig {
                rejection_rate: 1.5,
                ..base()
            },
            "chaos \"ec2\": rejection_rate = 1.5: must be within 0..=1",
        ),
        (
            ChaosConfig {
                corrupt_rate: f64::NAN,
                ..base()
            },
            "chaos \"ec2\": corrupt_rate = NaN: must be within 0..=1",
        ),
        (
            ChaosConfig {
                latency_rate: 2.0,
                ..base()
            },
            "chaos \"ec2\": latency_rate = 2.0: must be within 0..=1",
        ),
        (
            ChaosConfig {
                error_rate: 0.5,
                corrupt_rate: 0.75,
                ..base()
            },
            "chaos \"ec2\": error_rate + rejection_rate + corrupt_rate = 1.25: must be at most 1",
        ),
        (
            ChaosConfig {
                latency: Latency::Fixed {
                    delay: Duration::ZERO,
                },
                ..base()
            },
            "chaos \"ec2\": latency.delay = 0ns: must be greater than zero",
        ),
        (
            ChaosConfig {
                latency: Latency::Uniform {
                    min: ms(5),
                    max: ms(1),
                },
                ..base()
            },
            "chaos \"ec2\": latency.min = 5ms: must be at most latency.max (1ms)",
        ),
        (
            ChaosConfig {
                latency: Latency::Uniform {
                    min: ms(0),
                    max: ms(0),
                },
                ..base()
            },
            "chaos \"ec2\": latency.max = 0ns: must be greater than zero",
        ),
        (
            ChaosConfig {
                latency: Latency::Exponential {
                    mean: ms(0),
                    max: ms(9),
                },
                ..base()
            },
            "chaos \"ec2\": latency.mean = 0ns: must be greater than zero",
        ),
        (
            ChaosConfig {
                latency: Latency::Exponential {
                    mean: ms(10),
                    max: ms(9),
                },
                ..base()
            },
            "chaos \"ec2\": latency.max = 9ms: must be at least latency.mean (10ms)",
        ),
        (
            ChaosConfig {
                latency: Latency::LogNormal {
                    median: ms(0),
                    p99: ms(9),
                    max: ms(9),
                },
                ..base()
            },
            "chaos \"ec2\": latency.median = 0ns: must be greater than zero",
        ),
        (
            ChaosConfig {
                latency: Latency::LogNormal {
                    median: ms(10),
                    p99: ms(9),
                    max: ms(99),
                },
                ..base()
            },
            "chaos \"ec2\": latency.p99 = 9ms: must be at least latency.median (10ms)",
        ),
        (
            ChaosConfig {
                latency: Latency::LogNormal {
                    median: ms(10),
                    p99: ms(90),
                    max: ms(50),
                },
                ..base()
            },
            "chaos \"ec2\": latency.max = 50ms: must be at least latency.p99 (90ms)",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(error(config.clone()), expected);
        assert_eq!(
            Chaos::from_config("ec2", config)
                .expect_err("the build refuses it too")
                .to_string(),
            expected
        );
    }
}

#[test]
fn rates_adding_up_to_exactly_one_are_valid() {
    let config = ChaosConfig {
        error_rate: 0.1,
        rejection_rate: 0.2,
        corrupt_rate: 0.7,
        ..ChaosConfig::default()
    };
    assert_eq!(config.validate("x"), Ok(()));
}

#[cfg(feature = "serde")]
#[test]
fn configs_round_trip_through_toml_and_json() {
    let text = r#"
        error_rate = 0.1
        rejection_rate = 0.05
        rejection = "rate_limited"
        retry_after = "2s"
        latency_rate = 0.5
        latency = { distribution = "log_normal", median = "20ms", p99 = "400ms", max = "2s" }
        seed = 42
    "#;
    let config: ChaosConfig = toml::from_str(text).expect("parses");
    assert_eq!(
        config,
        ChaosConfig {
            error_rate: 0.1,
            rejection_rate: 0.05,
            rejection: InjectedRejection::RateLimited,
            retry_after: Duration::from_secs(2),
            latency_rate: 0.5,
            latency: Latency::LogNormal {
                median: ms(20),
                p99: ms(400),
                max: Duration::from_secs(2)
            },
            seed: Some(42),
            ..ChaosConfig::default()
        }
    );
    let back: ChaosConfig =
        toml::from_str(&toml::to_string(&config).expect("writes")).expect("reads");
    assert_eq!(back, config);
    let json = serde_json::to_string(&config).expect("writes");
    assert_eq!(
        serde_json::from_str::<ChaosConfig>(&json).expect("reads"),
        config
    );
    for latency in [
        Latency::Fixed { delay: ms(3) },
        Latency::Uniform {
            min: ms(1),
            max: ms(2),
        },
        Latency::Exponential {
            mean: ms(1),
            max: ms(2),
        },
    ] {
        let json = serde_json::to_string(&latency).expect("writes");
        assert_eq!(
            serde_json::from_str::<Latency>(&json).expect("reads"),
            latency
        );
    }
}

#[cfg(feature = "serde")]
#[test]
fn unknown_keys_and_distributions_are_errors() {
    let error = toml::from_str::<ChaosConfig>("error_rte = 0.1").expect_err("unknown");
    assert!(error.to_string().contains("error_rte"), "{error}");
    let error = toml::from_str::<ChaosConfig>("latency = { distribution = \"pareto\" }")
        .expect_err("unknown distribution");
    assert!(error.to_string().contains("pareto"), "{error}");
    let error =
        toml::from_str::<ChaosConfig>("latency = { distribution = \"fixed\", dealy = \"1s\" }")
            .expect_err("unknown field");
    assert!(error.to_string().contains("dealy"), "{error}");
}
