//! [`Policies`]: a registry of named handles built from a policy document.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;

use hardy_core::{Listener, Name, PolicyErrors};
use parking_lot::Mutex;

use crate::document::PolicyDocument;
use crate::operation::{OperationConfig, PolicyRef};
use crate::section::{DEFAULT_POLICY, PolicyHandle, PolicySection};
use crate::timeout::{OperationTimeouts, Timeout, TimeoutEvent};

/// The name of the [`OperationTimeouts`] table built from `[timeout]`.
pub const TIMEOUT_TABLE: &str = "timeout";

/// Named, shared resilience handles built from one policy document, and the stack of
/// every operation.
///
/// A handle is built the first time it is asked for, from its entry in the document or
/// from its section's default, and the same handle (sharing its state) is handed out
/// from then on, to every caller and every operation that names it. Metric handles are
/// registered then, with the `metrics` recorder installed at that moment, and the
/// listener set for its events with [`on_event`](Self::on_event) is attached (set the
/// listeners right after loading, before handing out handles).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
/// use hardy::Policies;
/// use hardy::breaker::CircuitBreaker;
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
/// let breaker = policies.get::<CircuitBreaker>("aws_ec2").expect("listed");
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
    backends: Backends,
    timeouts: Option<OperationTimeouts>,
    /// The handles built so far, by handle type and name.
    handles: Mutex<HashMap<(TypeId, String), Box<dyn Any + Send + Sync>>>,
    /// The listener of each kind of event, by event type: a `Listener<E>` each.
    listeners: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
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

    /// The registry of a document read and checked already.
    pub(crate) fn from_checked(document: PolicyDocument) -> Self {
        let backends = Backends::new(&document);
        let mut policies = Policies {
            backends,
            timeouts: None,
            document,
            handles: Mutex::new(HashMap::new()),
            listeners: HashMap::new(),
        };
        policies.timeouts = policies.timeout_table();
        policies
    }

    /// Calls `listener` with every event of its type (a [`BreakerEvent`], a
    /// [`TimeoutEvent`], …) of the handles built from now on (the timeouts' table is
    /// built again with it).
    ///
    /// [`BreakerEvent`]: crate::breaker::BreakerEvent
    ///
    /// # Examples
    ///
    /// ```
    /// use hardy::Policies;
    /// use hardy::breaker::{BreakerEvent, CircuitBreaker};
    ///
    /// let policies = Policies::from_toml("[breaker.default]\n")?
    ///     .on_event(|event: &BreakerEvent| println!("{event:?}"));
    /// policies.get::<CircuitBreaker>("db").expect("from the default").force_open();
    /// # Ok::<(), hardy::core::PolicyErrors>(())
    /// ```
    #[must_use]
    pub fn on_event<E, F>(mut self, listener: F) -> Self
    where
        E: 'static,
        F: Fn(&E) + Send + Sync + 'static,
    {
        self.listeners
            .insert(TypeId::of::<E>(), Box::new(Listener::new(listener)));
        if TypeId::of::<E>() == TypeId::of::<TimeoutEvent>() {
            self.timeouts = self.timeout_table();
        }
        self
    }

    /// The listener set for events of type `E`, or none.
    fn listener<E: 'static>(&self) -> Listener<E> {
        self.listeners
            .get(&TypeId::of::<E>())
            .and_then(|listener| listener.downcast_ref::<Listener<E>>())
            .cloned()
            .unwrap_or_else(Listener::none)
    }

    /// The stores of state a fleet shares, made from the document's `[redis]`.
    #[must_use]
    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// The document the registry was built from, every default filled in.
    #[must_use]
    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    /// The handle of type `H` named `name`, built from its section's entry named `name`
    /// or the section's default (`policies.get::<CircuitBreaker>("aws_ec2")` reads
    /// `[breaker.aws_ec2]`, else `[breaker.default]`); `None` when neither exists.
    ///
    /// The first call builds it; later calls, and every stack that uses it, share it.
    #[must_use]
    pub fn get<H: PolicyHandle>(&self, name: &str) -> Option<H> {
        let key = (TypeId::of::<H>(), name.to_string());
        let mut built = self.handles.lock();
        if let Some(handle) = built.get(&key) {
            return handle.downcast_ref::<H>().cloned();
        }
        let config = self.entry::<H::Config>(name)?.clone();
        // Every entry was checked when the document was read.
        let handle = H::build_on(
            Name::from(name),
            config,
            self.listener::<H::Event>(),
            &self.backends,
        )
        .expect("a policy checked at load builds its handle");
        built.insert(key, Box::new(handle.clone()));
        Some(handle)
    }

    /// The settings of the entry named `name` of the section whose settings are `C`,
    /// or of the section's default: for patterns whose handle is built where more is
    /// known (a pool needs its manager, a last-known-good store its key and value
    /// types).
    #[must_use]
    pub fn entry<C: PolicySection>(&self, name: &str) -> Option<&C> {
        let entries = self.document.entries::<C>();
        entries.get(name).or_else(|| entries.get(DEFAULT_POLICY))
    }

    /// The per-attempt timeout of `operation`: its limit in `[timeout.operations]`, or
    /// the table's default; `None` without a `[timeout]` section.
    #[must_use]
    pub fn timeout(&self, operation: &str) -> Option<Timeout> {
        self.timeouts
            .as_ref()
            .map(|table| table.get(operation).clone())
    }

    /// The limit of `operation` as a whole, all its attempts together, from
    /// `[timeout.overall]`; `None` when the document sets none for it.
    #[must_use]
    pub fn overall_timeout(&self, operation: &str) -> Option<Timeout> {
        self.timeouts
            .as_ref()
            .and_then(|table| table.overall(operation).cloned())
    }

    /// The table of timeouts by operation built from `[timeout]`.
    #[must_use]
    pub fn operation_timeouts(&self) -> Option<&OperationTimeouts> {
        self.timeouts.as_ref()
    }

    /// The table of `[timeout]`, if the document has one.
    fn timeout_table(&self) -> Option<OperationTimeouts> {
        self.document.timeout.clone().map(|config| {
            OperationTimeouts::builder(TIMEOUT_TABLE)
                .config(config)
                .listener(self.listener::<TimeoutEvent>())
                .build()
                .expect("timeouts checked at load build their table")
        })
    }

    /// The name of the handle of the section whose settings are `C` that guards
    /// `operation`, by the rules of [`OperationConfig`].
    pub(crate) fn pick<C: PolicySection>(&self, operation: &str) -> Option<String> {
        let config = self.document.operations.get(operation);
        let entries = self.document.entries::<C>();
        resolve(
            operation,
            config,
            config.and_then(OperationConfig::policy::<C>),
            &|name| entries.contains_key(name),
        )
        .filter(|name| {
            // A handle without an entry of its own is made from the default, and is off
            // when the default is.
            let entry = if entries.contains_key(name) {
                name.as_str()
            } else {
                DEFAULT_POLICY
            };
            self.document.is_enabled::<C>(entry)
        })
    }
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

/// The stores of state a fleet shares, made once from a document's `[redis]`: what
/// the handles of entries with `backend = "redis"` are built on, and what a program
/// builds its own shared handles on (a keyed limiter, a last-known-good store).
#[derive(Debug, Clone, Default)]
pub struct Backends {
    #[cfg(feature = "redis")]
    redis: Option<crate::redis::Redis>,
}

impl Backends {
    fn new(document: &PolicyDocument) -> Self {
        #[cfg(feature = "redis")]
        let backends = Backends {
            redis: document.redis.clone().map(|config| {
                crate::redis::Redis::from_config("redis", config)
                    .expect("[redis] was checked at load")
            }),
        };
        #[cfg(not(feature = "redis"))]
        let backends = {
            let _ = document;
            Backends {}
        };
        backends
    }

    /// The Redis handle of `[redis]`, if the document has one.
    #[cfg(feature = "redis")]
    #[must_use]
    pub fn redis(&self) -> Option<&crate::redis::Redis> {
        self.redis.as_ref()
    }
}

impl fmt::Debug for Policies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policies")
            .field("document", &self.document)
            .finish_non_exhaustive()
    }
}
