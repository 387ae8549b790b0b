//! [`Policies`]: a registry of named handles built from a policy document, and
//! [`OperationLayer`]: the whole stack of one operation.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hardy_core::{ConfigError, Listener, Name, PolicyErrors};
use parking_lot::Mutex;
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_layer::Layer;

use crate::breaker::{BreakerEvent, CircuitBreaker};
use crate::bulkhead::{Bulkhead, BulkheadEvent, Partitions};
use crate::chaos::{Chaos, ChaosEvent, ChaosLayer};
use crate::document::{DEFAULT_POLICY, OperationConfig, PolicyDocument, PolicyRef};
use crate::fallback::LastKnownGoodConfig;
use crate::load_shed::{LoadShedEvent, LoadShedLayer, LoadShedder};
use crate::optional::Optional;
use crate::pool::PoolConfig;
use crate::rate_limit::{RateLimitEvent, RateLimiter};
use crate::retry::{Retry, RetryEvent};
use crate::timeout::{OperationTimeouts, Timeout, TimeoutEvent};
use crate::{Pipeline, PipelineLayer};

/// The name of the [`OperationTimeouts`] table built from `[timeout]`.
pub const TIMEOUT_TABLE: &str = "timeout";

/// Named, shared resilience handles built from one policy document, and the stack of
/// every operation.
///
/// A handle is built the first time it is asked for, from its entry in the document or
/// from its section's default, and the same handle (sharing its state) is handed out
/// from then on, to every caller and every operation that names it. Metric handles are
/// registered then, with the `metrics` recorder installed at that moment, and the
/// event listener of its pattern set with `on_<pattern>_event` is attached (set the
/// listeners right after loading, before handing out handles).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
/// use hardy::Policies;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let policies = Policies::from_toml(r#"
///     [timeout]
///     default = "30s"
///     operations = { ec2_run_instances = "2m" }
///
///     [breaker.default]
///     consecutive_failures = 5
///     [breaker.aws_ec2]
///     consecutive_failures = 3
///
///     [retry.ec2_run_instances]
///     max_attempts = 5
///
///     [operations.ec2_run_instances]
///     service = "aws_ec2"
/// "#)?;
///
/// let breaker = policies.breaker("aws_ec2").expect("listed");
/// assert_eq!(breaker.config().consecutive_failures, 3);
/// assert_eq!(policies.timeout("ec2_run_instances").map(|t| t.duration()), Some(Duration::from_secs(120)));
///
/// let plan = policies.plan("ec2_run_instances");
/// assert_eq!(plan.breaker.as_deref(), Some("aws_ec2"));
/// assert_eq!(plan.retry.as_deref(), Some("ec2_run_instances"));
///
/// let mut run = ServiceBuilder::new()
///     .layer(policies.stack("ec2_run_instances"))
///     .service_fn(|count: u32| async move { Ok::<_, BoxError>(count) });
/// assert_eq!(run.ready().await?.call(2).await?, 2);
/// # Ok(())
/// # }
/// ```
pub struct Policies {
    document: PolicyDocument,
    timeouts: Option<OperationTimeouts>,
    breakers: Handles<CircuitBreaker>,
    retries: Handles<Retry>,
    bulkheads: Handles<Bulkhead>,
    partitions: Handles<Partitions>,
    rate_limits: Handles<RateLimiter>,
    load_sheds: Handles<LoadShedder>,
    chaos: Handles<Chaos>,
    listeners: Listeners,
}

/// The event listener of every pattern, given to each handle as it is built.
#[derive(Default)]
struct Listeners {
    timeout: Listener<TimeoutEvent>,
    breaker: Listener<BreakerEvent>,
    retry: Listener<RetryEvent>,
    bulkhead: Listener<BulkheadEvent>,
    rate_limit: Listener<RateLimitEvent>,
    load_shed: Listener<LoadShedEvent>,
    chaos: Listener<ChaosEvent>,
}

/// A closure handing each event to `listener`, for builders that take closures.
fn forward<Ev>(listener: &Listener<Ev>) -> impl Fn(&Ev) + Send + Sync + 'static
where
    Ev: 'static,
{
    let listener = listener.clone();
    move |event| listener.emit(event)
}

/// The handles of one section, built on demand.
struct Handles<H> {
    built: Mutex<BTreeMap<String, H>>,
}

impl<H: Clone> Handles<H> {
    fn new() -> Self {
        Handles {
            built: Mutex::new(BTreeMap::new()),
        }
    }

    /// The handle named `name`, built from `entries[name]` or the section's default.
    fn get<C>(
        &self,
        entries: &BTreeMap<String, C>,
        name: &str,
        build: impl FnOnce(Name, C) -> Result<H, ConfigError>,
    ) -> Option<H>
    where
        C: Clone,
    {
        let mut built = self.built.lock();
        if let Some(handle) = built.get(name) {
            return Some(handle.clone());
        }
        let config = entries.get(name).or_else(|| entries.get(DEFAULT_POLICY))?;
        // Every entry was validated when the document was loaded.
        let handle = build(Name::from(name), config.clone())
            .expect("a policy validated at load builds its handle");
        built.insert(name.to_string(), handle.clone());
        Some(handle)
    }
}

/// Which handle guards each layer of an operation's stack, outermost first; `None`
/// where the pattern is left out. Made by [`Policies::plan`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StackPlan {
    /// The load shedder.
    pub load_shed: Option<String>,
    /// The retry policy.
    pub retry: Option<String>,
    /// The circuit breaker.
    pub breaker: Option<String>,
    /// The rate limit.
    pub rate_limit: Option<String>,
    /// The bulkhead.
    pub bulkhead: Option<String>,
    /// The per-attempt timeout.
    pub timeout: Option<Duration>,
    /// The fault injection.
    pub chaos: Option<String>,
}

impl Policies {
    /// Reads a TOML policy document and builds the registry.
    ///
    /// # Errors
    ///
    /// Every problem in the document, each at its dotted path (see
    /// [`PolicyDocument::from_toml`]).
    pub fn from_toml(text: &str) -> Result<Self, PolicyErrors> {
        PolicyDocument::from_toml(text).map(Self::from_checked)
    }

    /// Reads a JSON policy document and builds the registry.
    ///
    /// # Errors
    ///
    /// As [`from_toml`](Self::from_toml).
    pub fn from_json(text: &str) -> Result<Self, PolicyErrors> {
        PolicyDocument::from_json(text).map(Self::from_checked)
    }

    /// Builds the registry of a document made in code, checked first.
    ///
    /// # Errors
    ///
    /// Every setting out of range and every operation naming a missing policy.
    pub fn from_document(document: PolicyDocument) -> Result<Self, PolicyErrors> {
        document.validate()?;
        Ok(Self::from_checked(document))
    }

    fn from_checked(document: PolicyDocument) -> Self {
        let listeners = Listeners::default();
        Policies {
            timeouts: timeout_table(&document, &listeners.timeout),
            document,
            listeners,
            breakers: Handles::new(),
            retries: Handles::new(),
            bulkheads: Handles::new(),
            partitions: Handles::new(),
            rate_limits: Handles::new(),
            load_sheds: Handles::new(),
            chaos: Handles::new(),
        }
    }

    /// Calls `listener` with every event of the timeouts.
    #[must_use]
    pub fn on_timeout_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&TimeoutEvent) + Send + Sync + 'static,
    {
        self.listeners.timeout = Listener::new(listener);
        self.timeouts = timeout_table(&self.document, &self.listeners.timeout);
        self
    }

    /// Calls `listener` with every event of the circuit breakers built from now on.
    #[must_use]
    pub fn on_breaker_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&BreakerEvent) + Send + Sync + 'static,
    {
        self.listeners.breaker = Listener::new(listener);
        self
    }

    /// Calls `listener` with every event of the retry policies built from now on.
    #[must_use]
    pub fn on_retry_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&RetryEvent) + Send + Sync + 'static,
    {
        self.listeners.retry = Listener::new(listener);
        self
    }

    /// Calls `listener` with every event of the bulkheads and partitions built from now
    /// on.
    #[must_use]
    pub fn on_bulkhead_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&BulkheadEvent) + Send + Sync + 'static,
    {
        self.listeners.bulkhead = Listener::new(listener);
        self
    }

    /// Calls `listener` with every event of the rate limiters built from now on.
    #[must_use]
    pub fn on_rate_limit_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&RateLimitEvent) + Send + Sync + 'static,
    {
        self.listeners.rate_limit = Listener::new(listener);
        self
    }

    /// Calls `listener` with every event of the load shedders built from now on.
    #[must_use]
    pub fn on_load_shed_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&LoadShedEvent) + Send + Sync + 'static,
    {
        self.listeners.load_shed = Listener::new(listener);
        self
    }

    /// Calls `listener` with every event of the chaos handles built from now on.
    #[must_use]
    pub fn on_chaos_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&ChaosEvent) + Send + Sync + 'static,
    {
        self.listeners.chaos = Listener::new(listener);
        self
    }

    /// The document the registry was built from, every default filled in.
    #[must_use]
    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    /// The per-attempt timeout of `operation`: its limit in `[timeout.operations]`, or
    /// the table's default; `None` without a `[timeout]` section.
    #[must_use]
    pub fn timeout(&self, operation: &str) -> Option<Timeout> {
        self.timeouts
            .as_ref()
            .map(|table| table.get(operation).clone())
    }

    /// The table of timeouts by operation built from `[timeout]`.
    #[must_use]
    pub fn operation_timeouts(&self) -> Option<&OperationTimeouts> {
        self.timeouts.as_ref()
    }

    /// The circuit breaker named `name`, from `[breaker.<name>]` or `[breaker.default]`.
    #[must_use]
    pub fn breaker(&self, name: &str) -> Option<CircuitBreaker> {
        let listener = &self.listeners.breaker;
        self.breakers
            .get(&self.document.breaker, name, |name, config| {
                CircuitBreaker::builder(name)
                    .config(config)
                    .listener(listener.clone())
                    .build()
            })
    }

    /// The retry policy named `name`, from `[retry.<name>]` or `[retry.default]`.
    #[must_use]
    pub fn retry(&self, name: &str) -> Option<Retry> {
        self.retries
            .get(&self.document.retry, name, Retry::from_config)
    }

    /// The bulkhead named `name`, from `[bulkhead.<name>]` or `[bulkhead.default]`.
    #[must_use]
    pub fn bulkhead(&self, name: &str) -> Option<Bulkhead> {
        let listener = &self.listeners.bulkhead;
        self.bulkheads
            .get(&self.document.bulkhead, name, |name, config| {
                Bulkhead::builder(name)
                    .config(config)
                    .listener(listener.clone())
                    .build()
            })
    }

    /// The partitioned bulkhead named `name`, from `[partitions.<name>]` or
    /// `[partitions.default]`.
    #[must_use]
    pub fn partitions(&self, name: &str) -> Option<Partitions> {
        let listener = &self.listeners.bulkhead;
        self.partitions
            .get(&self.document.partitions, name, |name, config| {
                Partitions::builder(name)
                    .config(config)
                    .on_event(forward(listener))
                    .build()
            })
    }

    /// The rate limiter named `name`, from `[rate_limit.<name>]` or
    /// `[rate_limit.default]`.
    #[must_use]
    pub fn rate_limit(&self, name: &str) -> Option<RateLimiter> {
        let listener = &self.listeners.rate_limit;
        self.rate_limits
            .get(&self.document.rate_limit, name, |name, config| {
                RateLimiter::builder(name)
                    .config(config)
                    .on_event(forward(listener))
                    .build()
            })
    }

    /// The load shedder named `name`, from `[load_shed.<name>]` or
    /// `[load_shed.default]`.
    #[must_use]
    pub fn load_shed(&self, name: &str) -> Option<LoadShedder> {
        let listener = &self.listeners.load_shed;
        self.load_sheds
            .get(&self.document.load_shed, name, |name, config| {
                LoadShedder::builder(name)
                    .config(config)
                    .listener(listener.clone())
                    .build()
            })
    }

    /// The chaos handle named `name`, from `[chaos.<name>]` or `[chaos.default]`.
    #[must_use]
    pub fn chaos(&self, name: &str) -> Option<Chaos> {
        self.chaos
            .get(&self.document.chaos, name, Chaos::from_config)
    }

    /// The settings of the last-known-good store named `name`, from
    /// `[fallback.<name>]` or `[fallback.default]` (a store is typed by its keys and
    /// values, so it is built where they are known).
    #[must_use]
    pub fn fallback_config(&self, name: &str) -> Option<&LastKnownGoodConfig> {
        entry(&self.document.fallback, name)
    }

    /// The settings of the pool named `name`, from `[pool.<name>]` or `[pool.default]`
    /// (a pool needs its manager, so it is built where that is known).
    #[must_use]
    pub fn pool_config(&self, name: &str) -> Option<&PoolConfig> {
        entry(&self.document.pool, name)
    }

    /// Which handles guard `operation`, outermost first (see [`OperationConfig`] for
    /// how each is found).
    #[must_use]
    pub fn plan(&self, operation: &str) -> StackPlan {
        let config = self.document.operations.get(operation);
        let doc = &self.document;
        let pick = |reference: Option<&PolicyRef>, has: &dyn Fn(&str) -> bool| {
            resolve(operation, config, reference, has)
        };
        StackPlan {
            load_shed: pick(of(config, |c| &c.load_shed), &|n| {
                doc.load_shed.contains_key(n)
            }),
            retry: pick(of(config, |c| &c.retry), &|n| doc.retry.contains_key(n)),
            breaker: pick(of(config, |c| &c.breaker), &|n| doc.breaker.contains_key(n)),
            rate_limit: pick(of(config, |c| &c.rate_limit), &|n| {
                doc.rate_limit.contains_key(n)
            }),
            bulkhead: pick(of(config, |c| &c.bulkhead), &|n| {
                doc.bulkhead.contains_key(n)
            }),
            timeout: match (config, &self.timeouts) {
                (Some(config), _) if !config.timeout => None,
                (_, Some(table)) => Some(table.get(operation).duration()),
                (_, None) => None,
            },
            chaos: pick(of(config, |c| &c.chaos), &|n| doc.chaos.contains_key(n)),
        }
    }

    /// The whole stack of `operation` as one tower layer, outermost first: load
    /// shedding, retries (each attempt through everything below), the circuit breaker,
    /// the rate limit, the bulkhead, the per-attempt timeout, fault injection. Patterns
    /// the document leaves out are left out of the stack.
    ///
    /// The retry, the breaker, the rate limit, the bulkhead and the timeout are one
    /// [`Pipeline`], which decides as those layers stacked in that order do and whose
    /// calls hold one reference for all of them. It classifies with the default
    /// classifier and copies requests for retries with `Clone`, so the request type must
    /// be `Clone` when any of the five is in the stack. Fault injection
    /// injects latency and rejections; build its layer from
    /// [`chaos`](Self::chaos) with an error maker to inject errors.
    #[must_use]
    pub fn stack(&self, operation: &str) -> OperationLayer {
        let plan = self.plan(operation);
        let pipeline = Pipeline::from_parts(
            plan.retry.and_then(|n| self.retry(&n)),
            plan.breaker.and_then(|n| self.breaker(&n)),
            plan.rate_limit.and_then(|n| self.rate_limit(&n)),
            plan.bulkhead.and_then(|n| self.bulkhead(&n)),
            plan.timeout.and_then(|_| self.timeout(operation)),
        );
        let layers = ServiceBuilder::new()
            .layer(Optional::new(
                plan.load_shed
                    .and_then(|n| self.load_shed(&n))
                    .map(|h| h.layer()),
            ))
            .layer(Optional::new(
                (!pipeline.is_empty()).then(|| pipeline.layer()),
            ))
            .layer(Optional::new(
                plan.chaos.and_then(|n| self.chaos(&n)).map(|h| h.layer()),
            ))
            .into_inner();
        OperationLayer {
            operation: Name::from(operation),
            layers,
        }
    }
}

/// The reference `get` picks from an operation's table, if it has one.
fn of(
    config: Option<&OperationConfig>,
    get: fn(&OperationConfig) -> &Option<PolicyRef>,
) -> Option<&PolicyRef> {
    config.and_then(|config| get(config).as_ref())
}

/// The table of `[timeout]`, if the document has one.
fn timeout_table(
    document: &PolicyDocument,
    listener: &Listener<TimeoutEvent>,
) -> Option<OperationTimeouts> {
    document.timeout.clone().map(|config| {
        OperationTimeouts::builder(TIMEOUT_TABLE)
            .config(config)
            .listener(listener.clone())
            .build()
            .expect("timeouts validated at load build their table")
    })
}

fn entry<'a, C>(entries: &'a BTreeMap<String, C>, name: &str) -> Option<&'a C> {
    entries.get(name).or_else(|| entries.get(DEFAULT_POLICY))
}

/// The handle name of one pattern of `operation`, by the rules of [`OperationConfig`].
fn resolve(
    operation: &str,
    config: Option<&OperationConfig>,
    reference: Option<&PolicyRef>,
    has: &dyn Fn(&str) -> bool,
) -> Option<String> {
    match reference {
        Some(PolicyRef::Off) => return None,
        Some(PolicyRef::Named(name)) => return Some(name.clone()),
        None => {}
    }
    if has(operation) {
        return Some(operation.to_string());
    }
    let default = has(DEFAULT_POLICY);
    if let Some(service) = config.and_then(|config| config.service.as_deref())
        && (has(service) || default)
    {
        return Some(service.to_string());
    }
    default.then(|| operation.to_string())
}

impl fmt::Debug for Policies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policies")
            .field("document", &self.document)
            .finish_non_exhaustive()
    }
}

type Layers = Stack<
    Optional<ChaosLayer>,
    Stack<Optional<PipelineLayer>, Stack<Optional<LoadShedLayer>, Identity>>,
>;

/// The service an [`OperationLayer`] makes of `S`: each pattern's service, or `S`
/// itself where the pattern is left out.
pub type OperationService<S> = <Layers as Layer<S>>::Service;

/// The whole stack of one operation as one tower layer; made by
/// [`Policies::stack`].
#[derive(Clone)]
pub struct OperationLayer {
    operation: Name,
    layers: Layers,
}

impl OperationLayer {
    /// The operation the stack guards.
    #[must_use]
    pub fn operation(&self) -> &Name {
        &self.operation
    }
}

/// The service must be [`Clone`], as the retry's layer wants: retries are made with
/// clones of it.
impl<S: Clone> Layer<S> for OperationLayer {
    type Service = OperationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        self.layers.layer(inner)
    }
}

impl fmt::Debug for OperationLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationLayer")
            .field("operation", &self.operation)
            .finish_non_exhaustive()
    }
}
