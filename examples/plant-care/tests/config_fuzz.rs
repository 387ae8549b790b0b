//! The config loader under generated configs, near and past every limit: parsing and
//! validation never panic, and every config that validates runs a simulated week
//! without a panic or an error. Whatever passes `check-config` cannot fail later.

use plant_care::config::Config;
use plant_care::hardware::Faults;
use plant_care::simulate;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree as _;

/// Durations from nothing to past what a clock can hold.
fn duration(choices: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(choices).prop_map(|value| format!("{value:?}"))
}

fn number(choices: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(choices).prop_map(ToString::to_string)
}

prop_compose! {
    /// A plant whose settings may be anything, valid or not.
    fn hostile_plant(index: usize)(
        id in select(&["basil", "", "<script>", "fern\u{7}", "a-very-long-name-that-goes-on-and-on-and-on-and-on-past-sixty-four-chars"][..]),
        min in number(&["-5", "0", "10", "40", "99.5", "100", "nan"]),
        max in number(&["0", "50", "80", "100", "101"]),
        dose in number(&["0", "1", "250", "1999", "2000", "2001"]),
        flow in number(&["1e-300", "0.009", "0.01", "20.0", "10000.0", "1e6", "-1.0", "inf"]),
        max_run in duration(&["0s", "1ms", "30s", "1h", "2h"]),
        cooldown in duration(&["0s", "5m", "7d", "8d", "500000000000y"]),
        budget in number(&["0", "1", "2000", "4294967295"]),
        interlock in duration(&["0s", "1ns", "10ms", "500ms", "1m", "2m"]),
        channel in number(&["0", "3", "4"]),
        backup in any::<bool>(),
    ) -> String {
        plant_text(index, id, &min, &max, &dose, &flow, &max_run, &cooldown, &budget, &interlock, &channel, backup)
    }
}

prop_compose! {
    /// A plant whose settings are each valid on their own, often at their limits; the
    /// dose mostly fits the pump, and now and then does not.
    fn bold_plant(index: usize)(
        id in select(&["basil", "<script>", "a & b", "ünïcödé"][..]),
        (min, max) in select(&[("0", "100"), ("40", "80"), ("99", "100"), ("0", "0.5")][..]),
        (dose, flow, max_run) in select(&[
            ("1", "0.01", "1h"),
            ("50", "2.0", "1h"),
            ("250", "20.0", "30s"),
            ("1500", "10000.0", "1s"),
            ("1", "10000.0", "1ms"),
            ("1500", "0.01", "1h"),
        ][..]),
        cooldown in duration(&["0s", "5m", "7d"]),
        budget in number(&["2000", "4294967295"]),
        interlock in duration(&["10ms", "500ms", "1m"]),
        channel in number(&["0", "2"]),
        backup in any::<bool>(),
    ) -> String {
        plant_text(index, id, min, max, dose, flow, &format!("{max_run:?}"), &cooldown, &budget, &interlock, &channel, backup)
    }
}

#[allow(clippy::too_many_arguments)]
fn plant_text(
    index: usize,
    id: &str,
    min: &str,
    max: &str,
    dose: &str,
    flow: &str,
    max_run: &str,
    cooldown: &str,
    budget: &str,
    interlock: &str,
    channel: &str,
    backup: bool,
) -> String {
    format!(
        "[[plants]]\nid = \"{id}{index}\"\nmin_moisture = {min}\nmax_moisture = {max}\n\
         dose_ml = {dose}\nchannel = {channel}\nbackup_probe = {backup}\n\
         pump = {{ flow_ml_per_s = {flow}, max_run = {max_run}, cooldown = {cooldown}, \
         daily_budget_ml = {budget}, interlock_every = {interlock} }}\n",
        id = id.escape_default(),
    )
}

prop_compose! {
    /// The policies laid over the built-in ones, each setting from nothing to a century
    /// (past what a clock can hold, a duration does not parse).
    fn policies()(
        open_for in duration(&["1s", "5m", "1d"]),
        max_open_for in duration(&["1d", "100y"]),
        attempts in number(&["1", "3", "1000"]),
        retry_delay in duration(&["0s", "1ns", "200ms", "100y"]),
        limit in number(&["1", "4", "1000000"]),
        period in duration(&["1s", "1d", "365d"]),
        read_timeout in duration(&["1ns", "2s", "100y"]),
        staleness in duration(&["1ns", "2h", "100y"]),
        max_wait in duration(&["0s", "5s", "100y"]),
    ) -> String {
        format!(
            "[policies.breaker.default]\nopen_for = {open_for}\nmax_open_for = {max_open_for}\n\
             open_backoff = 2.0\n\
             [policies.retry.default]\nmax_attempts = {attempts}\n\
             backoff = {{ kind = \"constant\", delay = {retry_delay} }}\n\
             [policies.rate_limit.default]\nlimit = {limit}\nperiod = {period}\n\
             [policies.timeout.operations]\nread = {read_timeout}\n\
             [policies.fallback.readings]\nmax_staleness = {staleness}\n\
             [policies.bulkhead.actuators]\nmax_wait = {max_wait}\n"
        )
    }
}

prop_compose! {
    fn hostile_config()(
        read_every in duration(&["0s", "1ns", "4s", "5s", "10m", "1d", "2d", "500000000000y"]),
        min_quality in number(&["-1.0", "0.0", "0.6", "1.0", "2.0", "nan"]),
        listen in select(&["127.0.0.1:0", "[::1]:0", "nope", "", "0.0.0.0:8080"][..]),
        header_timeout in duration(&["0s", "100ms", "10s", "10m", "1h"]),
        max_connections in number(&["0", "1", "32", "1024", "1025"]),
        plants in (0usize..4).prop_flat_map(|count| {
            (0..count).map(hostile_plant).collect::<Vec<_>>()
        }),
        policies in policies(),
    ) -> String {
        format!(
            "read_every = {read_every}\nmin_quality = {min_quality}\n\
             [server]\nlisten = {listen:?}\nheader_timeout = {header_timeout}\n\
             max_connections = {max_connections}\n{plants}{policies}",
            plants = plants.concat(),
        )
    }
}

prop_compose! {
    fn bold_config()(
        read_every in duration(&["5s", "10m", "1d"]),
        min_quality in number(&["0.0", "0.6", "1.0"]),
        plants in (1usize..4).prop_flat_map(|count| {
            (0..count).map(bold_plant).collect::<Vec<_>>()
        }),
        policies in policies(),
    ) -> String {
        format!(
            "read_every = {read_every}\nmin_quality = {min_quality}\n{plants}{policies}",
            plants = plants.concat(),
        )
    }
}

/// Whether `text` parses and validates.
fn accepted(text: &str) -> Option<Config> {
    Config::from_toml(text)
        .ok()
        .filter(|config| config.validate().is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_config_that_validates_runs_a_simulated_week(
        text in prop_oneof![3 => bold_config(), 1 => hostile_config()],
        harsh in any::<bool>(),
    ) {
        let Some(config) = accepted(&text) else {
            return Ok(());
        };
        let faults = if harsh { Faults::Harsh } else { Faults::Mild };
        let report = simulate::run(&config, 7, faults, false);
        prop_assert!(report.is_ok(), "{text}\n{:?}", report.err());
    }

    #[test]
    fn hostile_configs_are_parsed_and_validated_without_a_panic(text in hostile_config()) {
        if let Ok(config) = Config::from_toml(&text) {
            let _ = config.validate();
        }
    }
}

#[test]
fn the_generator_reaches_valid_configs() {
    // The property means little if nothing it draws validates: count how many do.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = bold_config();
    let drawn = 400;
    let valid = (0..drawn)
        .filter(|_| {
            let text = strategy.new_tree(&mut runner).expect("a config").current();
            accepted(&text).is_some()
        })
        .count();
    assert!(
        valid * 5 >= drawn,
        "only {valid} of {drawn} drawn configs validate"
    );
}
