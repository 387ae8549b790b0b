//! `docs/observability.md` lists everything Hardy emits, and
//! `deploy/prometheus/hardy-alerts.yml` alerts on it: these tests keep both true.
//!
//! Handles of every pattern are built and exercised under a `DebuggingRecorder`; every
//! metric they register must be on the page with its type, its labels and every value
//! of a closed label; every `pub const METRIC_*` the crates declare must be on the page
//! and be registered, and the page must list nothing else; the alert rules must parse,
//! be complete, be explained on the page, and use only metrics and label values that
//! exist.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hardy::breaker::{BreakerRegistry, CircuitBreaker};
use hardy::bulkhead::{Bulkhead, Partitions};
use hardy::chaos::{Chaos, InjectedRejection, Latency};
use hardy::fallback::{Fallback, LastKnownGood};
use hardy::health::{CheckConfig, HealthRegistry, Status, check_fn};
use hardy::hedge::Hedge;
use hardy::load_shed::{CallInfo, LoadShedder};
use hardy::pool::{Manager, Pool, Pooled};
use hardy::rate_limit::{
    KeyedRateLimiter, RateLimiter, RateStore, StoreError, TakeFuture, TakeRequest, Taken,
};
use hardy::retry::{Retry, RetryBudgetConfig};
use hardy::timeout::{Deadline, Timeout};
use hardy_redis::Redis;
use metrics_util::MetricKind;
use metrics_util::debugging::DebuggingRecorder;
use serde::Deserialize;

/// The page that lists every metric, event and alert.
const PAGE: &str = include_str!("../../docs/observability.md");
/// The Prometheus alerting rules.
const ALERTS: &str = include_str!("../../deploy/prometheus/hardy-alerts.yml");

/// The metrics Hardy declared when the page was written. Fewer found means the scan of
/// the sources or the exercise below stopped seeing them, not that the page is right.
const AT_LEAST: usize = 41;

/// Labels whose values depend on the program (handle and check names, a shedder's
/// number of priorities) rather than forming a closed set the page can list.
const OPEN_LABELS: [&str; 3] = ["name", "check", "priority"];

const SEC: Duration = Duration::from_secs(1);

/// What the exercise registered of one metric: its type and each label's values.
#[derive(Debug)]
struct Registered {
    kind: &'static str,
    labels: BTreeMap<String, BTreeSet<String>>,
}

/// A pool of numbers.
struct Numbers;

impl Manager for Numbers {
    type Object = u32;
    type Error = io::Error;

    async fn create(&self) -> Result<u32, io::Error> {
        Ok(7)
    }
}

/// A rate store that fails its first request and grants every later one.
#[derive(Debug, Default)]
struct FlakyStore {
    failed: AtomicBool,
}

impl RateStore for FlakyStore {
    fn take(&self, _request: TakeRequest) -> TakeFuture {
        let fail = !self.failed.swap(true, Ordering::SeqCst);
        Box::pin(async move {
            if fail {
                Err(StoreError::new("store unreachable"))
            } else {
                Ok(Taken::Now { granted: 1 })
            }
        })
    }
}

fn failure() -> io::Error {
    io::Error::other("down")
}

async fn slow() -> Result<(), io::Error> {
    tokio::time::sleep(SEC).await;
    Ok(())
}

/// Builds a handle of every pattern (and every variant that registers metrics of its
/// own) and drives each through success, failure, rejection, waiting and timing out.
async fn exercise() {
    // Timeout: one call over the limit, one whose deadline has passed.
    let timeout = Timeout::new("obs-timeout", SEC).expect("valid");
    assert!(timeout.call(|| async { slow().await }).await.is_ok());
    let late = timeout.call(|| async {
        tokio::time::sleep(2 * SEC).await;
        Ok::<_, io::Error>(())
    });
    assert!(late.await.is_err(), "over the limit");
    let expired = Deadline::after(Duration::ZERO);
    let refused = timeout.call_until(expired, || async { Ok::<_, io::Error>(()) });
    assert!(refused.await.is_err(), "past its deadline");

    // Retry: a success, and a failure whose second retry the budget refuses.
    let retry = Retry::builder("obs-retry")
        .max_attempts(3)
        .retry_budget(RetryBudgetConfig {
            retry_ratio: 0.0,
            min_retries_per_second: 0.0,
            max_balance: 1,
        })
        .seed(1)
        .build()
        .expect("valid");
    assert!(
        retry
            .call(|| async { Ok::<_, io::Error>(()) })
            .await
            .is_ok()
    );
    let gave_up = retry.call(|| async { Err::<(), _>(failure()) }).await;
    assert!(gave_up.is_err());

    // Hedge: a slow call hedged and won by the extra attempt, and one whose extra
    // attempt the budget refuses.
    let hedge = Hedge::builder("obs-hedge")
        .fixed_delay(Duration::from_millis(10))
        .budget(RetryBudgetConfig {
            retry_ratio: 0.0,
            min_retries_per_second: 0.0,
            max_balance: 1,
        })
        .build()
        .expect("valid");
    for _ in 0..2 {
        let mut attempt = 0;
        let answered = hedge
            .call(|| {
                attempt += 1;
                let takes = if attempt == 1 {
                    10 * SEC
                } else {
                    Duration::ZERO
                };
                async move {
                    tokio::time::sleep(takes).await;
                    Ok::<_, io::Error>(())
                }
            })
            .await;
        assert!(answered.is_ok());
    }
    assert_eq!(hedge.stats().skipped_budget, 1);

    // Breaker: a success, a failure that opens it, a rejection.
    let breaker = CircuitBreaker::builder("obs-breaker")
        .consecutive_failures(1)
        .build()
        .expect("valid");
    assert!(
        breaker
            .call(|| async { Ok::<_, io::Error>(()) })
            .await
            .is_ok()
    );
    assert!(
        breaker
            .call(|| async { Err::<(), _>(failure()) })
            .await
            .is_err()
    );
    let rejected = breaker.call(|| async { Ok::<_, io::Error>(()) }).await;
    assert!(rejected.is_err(), "open");
    let registry = BreakerRegistry::builder().build().expect("valid");
    registry.get("obs-registry-breaker").force_open();

    // Bulkhead: one call runs, one waits for its slot, one is refused.
    let bulkhead = Bulkhead::builder("obs-bulkhead")
        .max_concurrent(1)
        .max_waiting(1)
        .max_wait(10 * SEC)
        .build()
        .expect("valid");
    let (runs, waits, refused) = tokio::join!(
        bulkhead.call(slow),
        bulkhead.call(slow),
        bulkhead.call(slow)
    );
    assert!(runs.is_ok() && waits.is_ok(), "{runs:?} {waits:?}");
    assert!(refused.is_err(), "the queue is full");
    let partitions = Partitions::builder("obs-partitions")
        .partition("reads", 1)
        .build()
        .expect("valid");
    assert_eq!(partitions.name().as_str(), "obs-partitions");

    // Rate limits: admitted, waited, refused; keyed; shared through a store that fails.
    let limiter = RateLimiter::builder("obs-rate")
        .per(1, SEC)
        .burst(1)
        .max_wait(SEC)
        .build()
        .expect("valid");
    limiter.check().expect("the first turn");
    limiter
        .acquire()
        .await
        .expect("the next turn, after a wait");
    assert!(limiter.check().is_err(), "too soon");
    let keyed = KeyedRateLimiter::builder("obs-keyed")
        .per(1, SEC)
        .burst(1)
        .build_keyed::<u32>()
        .expect("valid");
    keyed.check_key(&1).expect("the first turn of key 1");
    assert!(keyed.check_key(&1).is_err(), "too soon for key 1");
    let shared = RateLimiter::builder("obs-shared")
        .per(10, SEC)
        .build_shared(Arc::new(FlakyStore::default()))
        .expect("valid");
    for _ in 0..3 {
        let _ = shared.acquire().await;
        tokio::time::sleep(SEC).await;
    }

    // Load shedding: one call in flight fills the limit; the next is shed.
    let shedder = LoadShedder::builder("obs-shed")
        .fixed_limit(1)
        .build()
        .expect("valid");
    let permit = shedder
        .try_acquire(CallInfo::new())
        .expect("under the limit");
    assert!(shedder.try_acquire(CallInfo::new()).is_err(), "shed");
    drop(permit);

    // Pool: one object lent, a get that times out, an object taken out.
    let pool = Pool::builder("obs-pool", Numbers)
        .max_size(1)
        .acquire_timeout(SEC)
        .build()
        .expect("valid");
    let lent = pool.get().await.expect("an object");
    assert!(pool.get().await.is_err(), "exhausted");
    assert_eq!(Pooled::take(lent), 7);

    // Fallback: a failure answered; last known good: a miss, a hit, stale, none.
    let fallback = Fallback::builder("obs-fallback").value(0_u32).build();
    let answered = fallback.call(|| async { Err::<u32, _>(failure()) }).await;
    assert_eq!(answered.expect("the fallback"), 0);
    let last_good = LastKnownGood::builder("obs-last-good")
        .ttl(SEC)
        .max_staleness(60 * SEC)
        .build::<u32, u32>()
        .expect("valid");
    let good = || async { Ok::<u32, io::Error>(41) };
    assert_eq!(last_good.call(1, good).await.expect("a miss"), 41);
    assert_eq!(last_good.call(1, good).await.expect("a hit"), 41);
    tokio::time::sleep(2 * SEC).await;
    let stale = last_good
        .call(1, || async { Err::<u32, _>(failure()) })
        .await;
    assert_eq!(stale.expect("the stale response"), 41);
    let none = last_good
        .call(2, || async { Err::<u32, _>(failure()) })
        .await;
    assert!(none.is_err(), "nothing to serve for key 2");

    // Health: one healthy check, one unhealthy.
    let health = HealthRegistry::builder("obs-health")
        .check(
            "ok",
            check_fn(|| async { Status::Healthy }),
            CheckConfig::default(),
        )
        .check(
            "down",
            check_fn(|| async { Status::Unhealthy }),
            CheckConfig::default(),
        )
        .build()
        .expect("valid");
    health.check_health().await;
    assert_eq!(health.status("ok"), Some(Status::Healthy));

    // Chaos: injected rejections and delays.
    let chaos = Chaos::builder("obs-chaos")
        .seed(1)
        .rejection(0.5, InjectedRejection::Timeout)
        .latency(
            0.5,
            Latency::Fixed {
                delay: Duration::from_millis(10),
            },
        )
        .build()
        .expect("valid");
    for _ in 0..20 {
        let _ = chaos.call(|| async { Ok::<_, io::Error>(()) }).await;
    }
    assert!(chaos.stats().calls >= 20);

    // Redis: building a handle registers its counters and its guard's breaker and
    // timeout; nothing connects until the first call.
    let redis = Redis::builder("obs-redis").build().expect("valid");
    assert_eq!(redis.name().as_str(), "obs-redis");
}

/// Every metric the exercise registers, with its type and label values.
fn registered() -> BTreeMap<String, Registered> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        runtime.block_on(exercise());
    });
    let mut seen: BTreeMap<String, Registered> = BTreeMap::new();
    for (key, _, _, _) in snapshotter.snapshot().into_vec() {
        let kind = match key.kind() {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        };
        let entry = seen
            .entry(key.key().name().to_string())
            .or_insert_with(|| Registered {
                kind,
                labels: BTreeMap::new(),
            });
        assert_eq!(
            entry.kind,
            kind,
            "{} registered as two types",
            key.key().name()
        );
        for label in key.key().labels() {
            entry
                .labels
                .entry(label.key().to_string())
                .or_default()
                .insert(label.value().to_string());
        }
    }
    seen
}

/// Splits a Markdown table row into its cells, keeping `\|` inside a cell.
fn cells(row: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut escaped = false;
    for c in row.trim().trim_start_matches('|').chars() {
        match c {
            '|' if !escaped => cells.push(std::mem::take(&mut cell).trim().to_string()),
            _ => cell.push(c),
        }
        escaped = c == '\\';
    }
    cells
}

/// The page's metric tables: each metric's row, by name.
fn listed() -> BTreeMap<String, Vec<String>> {
    let mut rows = BTreeMap::new();
    for line in PAGE.lines().filter(|line| line.starts_with("| `hardy_")) {
        let cells = cells(line);
        let name = cells[0].trim_matches('`').to_string();
        assert!(
            rows.insert(name.clone(), cells).is_none(),
            "{name} is listed twice"
        );
    }
    rows
}

/// The labels of a metric's row, as written there: `` `name`, `outcome`: `ok` \| `failed` ``
/// gives `name` (no values listed) and `outcome` with `ok` and `failed`.
fn label_specs(cell: &str) -> BTreeMap<String, BTreeSet<String>> {
    let quoted = |text: &str| -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut labels = BTreeMap::new();
    for spec in cell.split(", ") {
        let (key, values) = spec.split_once(':').unwrap_or((spec, ""));
        let Some(key) = quoted(key).into_iter().next() else {
            continue;
        };
        labels.insert(key, quoted(values).into_iter().collect());
    }
    labels
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// Every `pub const METRIC_*: &str = "…";` in `crates/*/src`: value → where declared.
fn declared() -> BTreeMap<String, String> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&crates).expect("the crates folder") {
        let src = entry.expect("a crate").path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    let mut constants = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        for (at, _) in text.match_indices("pub const METRIC_") {
            let declaration = &text[at..at + text[at..].find(';').expect("ends with ;")];
            let ident = declaration["pub const ".len()..]
                .split(':')
                .next()
                .expect("a name")
                .trim();
            let where_ = format!(
                "{ident} in {}",
                file.strip_prefix(&crates).unwrap_or(&file).display()
            );
            let (open, close) = (declaration.find('"'), declaration.rfind('"'));
            let value = match (open, close) {
                (Some(open), Some(close)) if declaration.contains("&str") && open < close => {
                    &declaration[open + 1..close]
                }
                _ => panic!("{where_}: not a string literal: {declaration}"),
            };
            if let Some(before) = constants.insert(value.to_string(), where_.clone()) {
                panic!("{value} is declared twice: {before} and {where_}");
            }
        }
    }
    constants
}

#[test]
fn every_registered_metric_is_listed_with_its_type_and_labels() {
    let registered = registered();
    let listed = listed();
    assert!(
        registered.len() >= AT_LEAST,
        "the exercise registered only {} metrics: {:?}",
        registered.len(),
        registered.keys().collect::<Vec<_>>()
    );
    let mut problems = Vec::new();
    for (name, metric) in &registered {
        let Some(row) = listed.get(name) else {
            problems.push(format!("{name} ({}) is not listed", metric.kind));
            continue;
        };
        if row.get(1).map(String::as_str) != Some(metric.kind) {
            problems.push(format!(
                "{name} is a {}, listed as {:?}",
                metric.kind,
                row.get(1)
            ));
        }
        let listed_labels = label_specs(row.get(2).map(String::as_str).unwrap_or_default());
        let keys = |labels: &BTreeMap<String, BTreeSet<String>>| -> BTreeSet<String> {
            labels.keys().cloned().collect()
        };
        if keys(&listed_labels) != keys(&metric.labels) {
            problems.push(format!(
                "{name}: labels {:?}, listed as {:?}",
                keys(&metric.labels),
                keys(&listed_labels)
            ));
        }
        for (label, values) in &metric.labels {
            if OPEN_LABELS.contains(&label.as_str()) {
                continue;
            }
            let listed_values = listed_labels.get(label).cloned().unwrap_or_default();
            if listed_values != *values {
                problems.push(format!(
                    "{name}: {label} takes {values:?}, listed as {listed_values:?}"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/observability.md is out of date:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_declared_metric_constant_is_listed_and_registered() {
    let declared = declared();
    assert!(
        declared.len() >= AT_LEAST,
        "found only {} METRIC_ constants: {declared:?}",
        declared.len()
    );
    let listed = listed();
    let registered = registered();
    let mut problems = Vec::new();
    for (metric, where_) in &declared {
        if !listed.contains_key(metric) {
            problems.push(format!("{metric} ({where_}) is not listed"));
        }
        if !registered.contains_key(metric) {
            problems.push(format!(
                "{metric} ({where_}) was not registered: build its handle in exercise()"
            ));
        }
    }
    for metric in listed.keys() {
        if !declared.contains_key(metric) {
            problems.push(format!("{metric} is listed but no crate declares it"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A Prometheus rule file of alerting rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    rules: Vec<AlertRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertRule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    pending: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn rules() -> RuleFile {
    serde_norway::from_str(ALERTS).unwrap_or_else(|e| panic!("hardy-alerts.yml: {e}"))
}

/// Whether `text` is a Prometheus duration: `5m`, `1h30m`, `500ms`.
fn is_duration(text: &str) -> bool {
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ms", "s", "m", "h", "d", "w", "y"]
            .into_iter()
            .find(|unit| rest.starts_with(unit))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    !text.is_empty()
}

/// A metric in an expression, with the label matchers of its selector.
#[derive(Debug)]
struct Selector {
    metric: String,
    /// (label, operator, value)
    matchers: Vec<(String, String, String)>,
}

/// Every `hardy_*` metric an expression selects.
fn selectors(expr: &str) -> Vec<Selector> {
    let mut found = Vec::new();
    let bytes = expr.as_bytes();
    for (at, _) in expr.match_indices("hardy_") {
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let rest = &expr[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(rest.len());
        let metric = rest[..end].to_string();
        let mut matchers = Vec::new();
        if let Some(inside) = rest[end..].strip_prefix('{') {
            let inside = &inside[..inside.find('}').expect("a closed selector")];
            for matcher in inside.split(',').filter(|m| !m.trim().is_empty()) {
                let op = ["=~", "!~", "!=", "="]
                    .into_iter()
                    .find(|op| matcher.contains(op))
                    .unwrap_or_else(|| panic!("no operator in {matcher:?}"));
                let (label, value) = matcher.split_once(op).expect("an operator");
                matchers.push((
                    label.trim().to_string(),
                    op.to_string(),
                    value.trim().trim_matches('"').to_string(),
                ));
            }
        }
        found.push(Selector { metric, matchers });
    }
    found
}

#[test]
fn alert_rules_are_well_formed() {
    let file = rules();
    assert!(!file.groups.is_empty(), "no rule groups");
    let mut alerts = BTreeSet::new();
    let mut groups = BTreeSet::new();
    let mut problems = Vec::new();
    for group in &file.groups {
        if !groups.insert(group.name.as_str()) {
            problems.push(format!("group {} twice", group.name));
        }
        if let Some(interval) = &group.interval
            && !is_duration(interval)
        {
            problems.push(format!("group {}: interval {interval:?}", group.name));
        }
        if group.rules.is_empty() {
            problems.push(format!("group {} has no rules", group.name));
        }
        for rule in &group.rules {
            let alert = &rule.alert;
            if alert.trim().is_empty() {
                problems.push(format!("a rule of {} has no name", group.name));
            }
            if !alerts.insert(alert.as_str()) {
                problems.push(format!("{alert}: the name is used twice"));
            }
            if rule.expr.trim().is_empty() {
                problems.push(format!("{alert}: empty expr"));
            }
            match &rule.pending {
                Some(pending) if is_duration(pending) => {}
                other => problems.push(format!("{alert}: for = {other:?}")),
            }
            match rule.labels.get("severity").map(String::as_str) {
                Some("critical" | "warning" | "info") => {}
                other => problems.push(format!("{alert}: severity = {other:?}")),
            }
            for annotation in ["summary", "description"] {
                if rule
                    .annotations
                    .get(annotation)
                    .is_none_or(|text| text.trim().is_empty())
                {
                    problems.push(format!("{alert}: no {annotation}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn alert_rules_use_only_metrics_and_label_values_that_exist() {
    let declared = declared();
    let registered = registered();
    let mut problems = Vec::new();
    for rule in rules().groups.iter().flat_map(|group| &group.rules) {
        let alert = &rule.alert;
        let selectors = selectors(&rule.expr);
        if selectors.is_empty() {
            problems.push(format!("{alert}: uses no hardy_ metric"));
        }
        for selector in selectors {
            let name = &selector.metric;
            let metric = ["_bucket", "_sum", "_count"]
                .into_iter()
                .filter_map(|suffix| name.strip_suffix(suffix))
                .find(|base| !declared.contains_key(name) && declared.contains_key(*base))
                .unwrap_or(name);
            if !declared.contains_key(metric) {
                problems.push(format!("{alert}: {name} is not a Hardy metric"));
                continue;
            }
            let Some(known) = registered.get(metric) else {
                problems.push(format!("{alert}: {metric} was not registered"));
                continue;
            };
            for (label, op, value) in &selector.matchers {
                // What the exporter adds: a histogram's buckets, a summary's quantiles.
                let bucket = label == "le" && name.ends_with("_bucket");
                let quantile = label == "quantile" && known.kind == "histogram" && metric == name;
                if bucket || quantile {
                    continue;
                }
                let Some(values) = known.labels.get(label) else {
                    problems.push(format!("{alert}: {metric} has no label {label}"));
                    continue;
                };
                if OPEN_LABELS.contains(&label.as_str()) {
                    continue;
                }
                let alternatives: Vec<&str> = match op.as_str() {
                    "=" | "!=" => vec![value.as_str()],
                    _ if value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '|') =>
                    {
                        value.split('|').collect()
                    }
                    // A regular expression beyond alternatives: not checked.
                    _ => Vec::new(),
                };
                for alternative in alternatives {
                    if !values.contains(alternative) {
                        problems.push(format!(
                            "{alert}: {metric}{{{label}{op}\"{value}\"}}: `{alternative}` is \
                             not a value of {label} (known: {values:?})"
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_alert_rule_is_explained_on_the_page() {
    let missing: Vec<String> = rules()
        .groups
        .iter()
        .flat_map(|group| &group.rules)
        .map(|rule| rule.alert.clone())
        .filter(|alert| !PAGE.contains(&format!("| `{alert}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "alerts not explained in docs/observability.md: {missing:?}"
    );
}
