//! The policy loader on random documents: it never panics, and a document either loads
//! or every problem it reports has a path.
#![cfg(feature = "config")]

use hardy::{Policies, PolicyDocument};
use proptest::prelude::*;

/// Keys the loader knows, mixed with ones it does not, so that random documents reach
/// deep into the configs as well as failing early.
const SECTIONS: &[&str] = &[
    "timeout",
    "breaker",
    "retry",
    "bulkhead",
    "partitions",
    "rate_limit",
    "load_shed",
    "fallback",
    "pool",
    "chaos",
    "operations",
    "breakers",
    "",
];
const NAMES: &[&str] = &[
    "default",
    "aws",
    "ec2_run",
    "x.y",
    "\"quoted\"",
    "operations",
];
const KEYS: &[&str] = &[
    "consecutive_failures",
    "failure_ratio",
    "open_for",
    "max_attempts",
    "backoff",
    "max_concurrent",
    "max_waiting",
    "max_wait",
    "limit",
    "period",
    "burst",
    "priorities",
    "reserve",
    "max_staleness",
    "max_size",
    "min_idle",
    "error_rate",
    "latency",
    "seed",
    "enabled",
    "service",
    "breaker",
    "retry",
    "timeout",
    "default",
    "operations",
    "kind",
    "bogus",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| if x.is_finite() {
            format!("{x:?}")
        } else {
            "nan".into()
        }),
        any::<bool>().prop_map(|b| b.to_string()),
        prop::sample::select(vec![
            "\"30s\"",
            "\"0s\"",
            "\"soon\"",
            "\"1m 30s\"",
            "\"aws\"",
            "\"default\"",
            "\"\"",
            "{ kind = \"constant\", delay = \"1s\" }",
            "{ kind = \"nope\" }",
            "{ distribution = \"uniform\", min = \"1ms\", max = \"2ms\" }",
            "[1, 2]",
            "{}",
            "{ algorithm = \"fixed\", limit = 0 }",
        ])
        .prop_map(str::to_string),
    ]
}

fn document() -> impl Strategy<Value = String> {
    let line = (
        prop::sample::select(SECTIONS),
        prop::sample::select(NAMES),
        prop::sample::select(KEYS),
        value(),
    );
    prop::collection::vec(line, 0..12).prop_map(|lines| {
        let mut text = String::new();
        for (section, name, key, value) in lines {
            if section.is_empty() {
                text.push_str(&format!("{key} = {value}\n"));
            } else if section == "timeout" {
                text.push_str(&format!("[{section}]\n{key} = {value}\n"));
            } else {
                text.push_str(&format!("[{section}.{name}]\n{key} = {value}\n"));
            }
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_documents_load_or_report_problems_with_paths(text in document()) {
        match Policies::from_toml(&text) {
            Ok(policies) => {
                // What loaded validates and survives a round trip.
                prop_assert!(policies.document().validate().is_ok());
                if let Ok(written) = policies.document().to_toml() {
                    let again = PolicyDocument::from_toml(&written);
                    prop_assert_eq!(again.as_ref().ok(), Some(policies.document()), "{}", written);
                }
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for problem in errors.problems() {
                    prop_assert!(!problem.path().is_empty(), "{problem}");
                    prop_assert!(!problem.reason().is_empty(), "{problem}");
                }
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Policies::from_toml(&text);
        let _ = Policies::from_json(&text);
    }
}
