//! The rejections' messages, predicates and conversions.

use super::*;

#[test]
fn an_optional_rejection_is_no_larger_than_a_rejection() {
    assert_eq!(
        std::mem::size_of::<Option<Rejection>>(),
        std::mem::size_of::<Rejection>()
    );
    assert!(std::mem::size_of::<Rejection>() <= 7 * std::mem::size_of::<usize>());
}

fn name() -> Name {
    Name::from("pump-1")
}

fn every_rejection() -> Vec<Rejection> {
    vec![
        Rejection::CircuitOpen {
            name: name(),
            retry_after: None,
        },
        Rejection::BulkheadFull {
            name: name(),
            in_flight: 1,
            max_concurrent: 1,
            waiting: 0,
            max_waiting: 0,
        },
        Rejection::Timeout {
            name: name(),
            elapsed: Duration::from_secs(5),
            limit: Duration::from_secs(5),
        },
        Rejection::RateLimited {
            name: name(),
            retry_after: Duration::from_millis(250),
        },
        Rejection::Shed {
            name: name(),
            reason: ShedReason::Priority,
            retry_after: Some(Duration::from_secs(1)),
        },
        Rejection::PoolTimeout {
            name: name(),
            waited: Duration::from_secs(2),
            last_error: Some(Arc::new(std::io::Error::other("connection refused"))),
        },
        Rejection::RetryBudgetExhausted { name: name() },
    ]
}

#[test]
fn display_names_the_handle_and_the_facts() {
    let texts: Vec<String> = every_rejection().iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            "circuit breaker \"pump-1\" open",
            "bulkhead \"pump-1\" full: 1/1 in flight, 0/0 waiting",
            "timeout \"pump-1\" expired: no result after 5s (limit 5s)",
            "rate limiter \"pump-1\" refused the call: retry after 250ms",
            "load shedder \"pump-1\" shed the call: priority too low for the load, retry after 1s",
            "pool \"pump-1\" gave no object within 2s (object creation is failing: connection refused)",
            "retry budget \"pump-1\" exhausted",
        ]
    );
}

#[test]
fn durations_are_rounded_for_people_and_exact_in_the_fields() {
    let timeout = Rejection::Timeout {
        name: name(),
        elapsed: Duration::from_nanos(51_791_627),
        limit: Duration::from_nanos(49_820_073),
    };
    assert_eq!(
        timeout.to_string(),
        "timeout \"pump-1\" expired: no result after 51.8ms (limit 49.8ms)"
    );
    let limited = Rejection::RateLimited {
        name: name(),
        retry_after: Duration::from_nanos(29_932_485_629),
    };
    assert_eq!(
        limited.to_string(),
        "rate limiter \"pump-1\" refused the call: retry after 29.9s"
    );
    assert_eq!(
        limited.retry_after(),
        Some(Duration::from_nanos(29_932_485_629))
    );
    let open = Rejection::CircuitOpen {
        name: name(),
        retry_after: Some(Duration::from_secs(150)),
    };
    assert_eq!(
        open.to_string(),
        "circuit breaker \"pump-1\" open: retry after 2m30s"
    );
}

#[test]
fn each_predicate_matches_exactly_one_kind() {
    for rejection in every_rejection() {
        let hits = [
            rejection.is_circuit_open(),
            rejection.is_bulkhead_full(),
            rejection.is_timeout(),
            rejection.is_rate_limited(),
            rejection.is_shed(),
            rejection.is_pool_timeout(),
            rejection.is_retry_budget_exhausted(),
        ];
        assert_eq!(hits.iter().filter(|hit| **hit).count(), 1, "{rejection:?}");
        assert_eq!(rejection.name(), "pump-1");
    }
}

#[test]
fn kinds_are_distinct_and_labelled() {
    let mut labels: Vec<&str> = every_rejection()
        .iter()
        .map(|r| r.kind().as_str())
        .collect();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels.len(), 7);
}

#[test]
fn retry_after_comes_from_the_variants_that_know_it() {
    let hints: Vec<Option<Duration>> = every_rejection()
        .iter()
        .map(Rejection::retry_after)
        .collect();
    assert_eq!(
        hints,
        [
            None,
            None,
            None,
            Some(Duration::from_millis(250)),
            Some(Duration::from_secs(1)),
            None,
            None
        ]
    );
}

#[test]
fn pool_timeout_source_is_the_creation_error() {
    let rejections = every_rejection();
    let pool = &rejections[5];
    let source = pool.source().map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("connection refused"));
    assert!(rejections[0].source().is_none());
}

#[test]
fn io_error_keeps_the_rejection() {
    let io: std::io::Error = every_rejection().swap_remove(2).into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    let inner = io.get_ref().and_then(|e| e.downcast_ref::<Rejection>());
    assert!(inner.is_some_and(Rejection::is_timeout));
}
