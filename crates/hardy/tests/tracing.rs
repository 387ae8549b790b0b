//! Events recorded with `tracing`: each pattern's target, level and fields, and nothing
//! recorded above the subscriber's level.
#![cfg(all(
    feature = "tracing",
    feature = "breaker",
    feature = "retry",
    feature = "load-shed",
    feature = "bulkhead"
))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy::bulkhead::Bulkhead;
use hardy::load_shed::LoadShedder;
use hardy::prelude::*;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry, filter::LevelFilter};

/// One recorded event: its target, level and fields (the message under `message`).
#[derive(Debug, Clone)]
struct Recorded {
    target: String,
    level: Level,
    fields: Vec<(String, String)>,
}

impl Recorded {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A layer keeping every event it sees.
#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<Recorded>>>);

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .push((field.name().to_string(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }
}

impl<S: Subscriber> Layer<S> for Keep {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().expect("not poisoned").push(Recorded {
            target: event.metadata().target().to_string(),
            level: *event.metadata().level(),
            fields,
        });
    }
}

impl Keep {
    fn of(&self, target: &str) -> Vec<Recorded> {
        self.0
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|event| event.target == target)
            .cloned()
            .collect()
    }
}

/// Runs `body` on a current-thread runtime with paused time, with a subscriber at
/// `level` keeping the events, and returns them.
fn recording(level: LevelFilter, body: impl AsyncFnOnce()) -> Keep {
    let keep = Keep::default();
    let subscriber = Registry::default().with(keep.clone().with_filter(level));
    let _guard = tracing::subscriber::set_default(subscriber);
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
        .block_on(body());
    keep
}

async fn open_a_breaker() {
    let breaker = CircuitBreaker::builder("soil-sensor")
        .consecutive_failures(1)
        .build()
        .expect("valid breaker");
    let _ = breaker
        .call(|| async { Err::<(), _>(std::io::Error::other("no answer")) })
        .await;
    let refused = breaker.call(|| async { Ok::<_, std::io::Error>(()) }).await;
    assert!(refused.is_err(), "open");
}

#[test]
fn a_breaker_that_opens_warns_and_its_rejections_are_debug() {
    let events = recording(LevelFilter::TRACE, open_a_breaker).of("hardy::breaker");
    let opened = events
        .iter()
        .find(|event| event.field("message") == Some("circuit breaker opened"))
        .unwrap_or_else(|| panic!("no opening among {events:?}"));
    assert_eq!(opened.level, Level::WARN);
    assert_eq!(opened.field("name"), Some("soil-sensor"));
    assert_eq!(opened.field("from"), Some("closed"));
    assert_eq!(opened.field("to"), Some("open"));
    let rejected = events
        .iter()
        .find(|event| event.field("message") == Some("call rejected by the circuit breaker"))
        .unwrap_or_else(|| panic!("no rejection among {events:?}"));
    assert_eq!(rejected.level, Level::DEBUG);
    assert_eq!(rejected.field("state"), Some("open"));
    let recorded = events
        .iter()
        .filter(|event| event.field("message") == Some("call recorded"))
        .count();
    assert_eq!(recorded, 1, "the failed call, at trace: {events:?}");
}

#[test]
fn nothing_below_the_subscribers_level_is_recorded() {
    let events = recording(LevelFilter::INFO, open_a_breaker).of("hardy::breaker");
    let levels: Vec<Level> = events.iter().map(|event| event.level).collect();
    assert_eq!(levels, [Level::WARN], "only the opening: {events:?}");
}

#[test]
fn retries_are_debug_with_their_attempt_and_delay() {
    let events = recording(LevelFilter::DEBUG, async || {
        let retry = Retry::builder("soil-read")
            .max_attempts(2)
            .backoff(hardy::retry::Backoff::Constant {
                delay: Duration::from_millis(200),
            })
            .jitter(hardy::retry::Jitter::None)
            .build()
            .expect("valid retry");
        let _ = retry
            .call(|| async { Err::<(), _>(std::io::Error::other("busy")) })
            .await;
    })
    .of("hardy::retry");
    let messages: Vec<(Level, Option<&str>)> = events
        .iter()
        .map(|event| (event.level, event.field("message")))
        .collect();
    assert_eq!(
        messages,
        [
            (Level::DEBUG, Some("retrying after a failed attempt")),
            (Level::DEBUG, Some("gave up retrying")),
        ]
    );
    assert_eq!(events[0].field("attempt"), Some("1"));
    assert_eq!(events[0].field("delay"), Some("200ms"));
    assert_eq!(events[1].field("reason"), Some("max_attempts"));
}

#[test]
fn a_shed_call_is_debug_and_a_limit_change_info() {
    let events = recording(LevelFilter::DEBUG, async || {
        let shedder = LoadShedder::builder("api")
            .fixed_limit(1)
            .build()
            .expect("valid shedder");
        let held = shedder
            .try_acquire(hardy::load_shed::CallInfo::new())
            .expect("a slot");
        assert!(
            shedder
                .try_acquire(hardy::load_shed::CallInfo::new())
                .is_err()
        );
        shedder.set_limit(4).expect("a valid limit");
        drop(held);
    })
    .of("hardy::load_shed");
    let shed = events
        .iter()
        .find(|event| event.field("message") == Some("call shed"))
        .unwrap_or_else(|| panic!("no shed call among {events:?}"));
    assert_eq!(shed.level, Level::DEBUG);
    assert_eq!(shed.field("reason"), Some("overload"));
    assert_eq!(shed.field("limit"), Some("1"));
    let changed = events
        .iter()
        .find(|event| event.field("message") == Some("concurrency limit changed"))
        .unwrap_or_else(|| panic!("no limit change among {events:?}"));
    assert_eq!(changed.level, Level::INFO);
    assert_eq!(
        (changed.field("from"), changed.field("to")),
        (Some("1"), Some("4"))
    );
}

#[test]
fn a_bulkhead_rejection_is_debug_with_its_counts() {
    let events = recording(LevelFilter::DEBUG, async || {
        let bulkhead = Bulkhead::builder("pumps")
            .max_concurrent(1)
            .build()
            .expect("valid bulkhead");
        let slot = bulkhead.try_acquire().expect("a slot");
        assert!(bulkhead.try_acquire().is_err());
        drop(slot);
    })
    .of("hardy::bulkhead");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].level, Level::DEBUG);
    assert_eq!(events[0].field("name"), Some("pumps"));
    assert_eq!(events[0].field("in_flight"), Some("1"));
}

/// Records `event` with `tracing` as its listener would, under a subscriber at `TRACE`.
fn traced<E: hardy::core::Traced>(event: &E) -> Recorded {
    let keep = Keep::default();
    let subscriber = Registry::default().with(keep.clone().with_filter(LevelFilter::TRACE));
    tracing::subscriber::with_default(subscriber, || {
        assert!(E::wanted(), "wanted under a subscriber at trace");
        event.trace();
    });
    let mut events = keep.0.lock().expect("not poisoned").clone();
    assert_eq!(events.len(), 1, "{events:?}");
    events.remove(0)
}

#[cfg(all(
    feature = "timeout",
    feature = "rate-limit",
    feature = "pool",
    feature = "fallback",
    feature = "health",
    feature = "chaos"
))]
#[test]
fn every_pattern_records_under_its_own_target_with_the_handles_name() {
    use hardy::core::Name;
    let name = || Name::from("it");
    let cases: Vec<(Recorded, &str, Level, &str)> = vec![
        (
            traced(&hardy::timeout::TimeoutEvent::TimedOut {
                name: name(),
                elapsed: Duration::from_secs(2),
                limit: Duration::from_secs(2),
                by_deadline: false,
            }),
            "hardy::timeout",
            Level::DEBUG,
            "call timed out",
        ),
        (
            traced(&hardy::rate_limit::RateLimitEvent::StoreFailed {
                name: name(),
                degrade: hardy::rate_limit::Degrade::Local,
                error: "connection refused".into(),
            }),
            "hardy::rate_limit",
            Level::WARN,
            "shared rate limit store failed",
        ),
        (
            traced(&hardy::pool::PoolEvent::CreateFailed {
                name: name(),
                error: "db down".into(),
            }),
            "hardy::pool",
            Level::WARN,
            "object creation failed",
        ),
        (
            traced(&hardy::fallback::FallbackEvent::NoneFresh {
                name: name(),
                cause: hardy::fallback::Cause::Failure,
                age: None,
            }),
            "hardy::fallback",
            Level::WARN,
            "no last good value fresh enough",
        ),
        (
            traced(&hardy::health::HealthEvent::StatusChanged {
                check: name(),
                from: hardy::health::Status::Healthy,
                to: hardy::health::Status::Unhealthy,
            }),
            "hardy::health",
            Level::WARN,
            "health check status changed",
        ),
        (
            traced(&hardy::chaos::ChaosEvent::Reconfigured {
                name: name(),
                enabled: true,
            }),
            "hardy::chaos",
            Level::INFO,
            "fault injection reconfigured",
        ),
    ];
    for (event, target, level, message) in cases {
        assert_eq!(event.target, target, "{event:?}");
        assert_eq!(event.level, level, "{event:?}");
        assert_eq!(event.field("message"), Some(message), "{event:?}");
        let named = event.field("name").or(event.field("check"));
        assert_eq!(named, Some("it"), "{event:?}");
    }
}
