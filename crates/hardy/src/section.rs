//! The one description of each pattern in policy files: [`PolicySection`] (its section
//! and settings) and [`PolicyHandle`] (how a handle is built from them), and the table
//! of every section a document may have.
//!
//! Adding a pattern to policy files is one [`PolicySection`] implementation for its
//! settings (one more for its handle, if the registry builds one) and one row in
//! [`SECTIONS`]: reading, checking, writing, laying documents over each other, the
//! references of operations and the registry's handles and listeners all follow.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use hardy_core::{ConfigError, Listener, Name, PolicyError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use toml::Value;

use crate::breaker::{BreakerConfig, BreakerEvent, CircuitBreaker};
use crate::bulkhead::{Bulkhead, BulkheadConfig, BulkheadEvent, Partitions, PartitionsConfig};
use crate::chaos::{Chaos, ChaosConfig, ChaosEvent};
use crate::fallback::LastKnownGoodConfig;
use crate::hedge::{Hedge, HedgeConfig, HedgeEvent};
use crate::load_shed::{LoadShedConfig, LoadShedEvent, LoadShedder};
use crate::pool::PoolConfig;
use crate::rate_limit::{RateLimitConfig, RateLimitEvent, RateLimiter};
use crate::retry::{Retry, RetryConfig, RetryEvent};

/// The name of the entry whose settings every other entry of its section starts from.
pub const DEFAULT_POLICY: &str = "default";

/// The settings of one pattern's entries in a policy document: `[breaker.<name>]`.
///
/// Each entry of the section is one `Self`, named; the entry named
/// [`default`](crate::DEFAULT_POLICY) is the template of the others.
pub trait PolicySection:
    Clone + PartialEq + fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The section's name in a document.
    const SECTION: &'static str;

    /// Whether an operation may name an entry of this section for its stack
    /// (`[operations.<name>] breaker = "aws"`).
    const IN_STACKS: bool = false;

    /// Checks one entry's settings; `name` is the entry's.
    ///
    /// # Errors
    ///
    /// The first bad setting.
    fn check(&self, name: &str) -> Result<(), ConfigError>;
}

/// A handle the [`Policies`](crate::Policies) registry builds from an entry of its
/// [`PolicySection`], with the listener set for its events
/// ([`Policies::on_event`](crate::Policies::on_event)).
pub trait PolicyHandle: Clone + Send + Sync + 'static {
    /// The settings it is built from.
    type Config: PolicySection;
    /// The events it reports.
    type Event: 'static;

    /// Builds the handle named `name`.
    ///
    /// # Errors
    ///
    /// The first bad setting.
    fn build(
        name: Name,
        config: Self::Config,
        listener: Listener<Self::Event>,
    ) -> Result<Self, ConfigError>;

    /// Builds the handle named `name` on the registry's `backends`: a handle whose
    /// state a fleet shares is built on its store. By default, as
    /// [`build`](Self::build).
    ///
    /// # Errors
    ///
    /// The first bad setting.
    fn build_on(
        name: Name,
        config: Self::Config,
        listener: Listener<Self::Event>,
        backends: &crate::Backends,
    ) -> Result<Self, ConfigError> {
        let _ = backends;
        Self::build(name, config, listener)
    }
}

macro_rules! section {
    ($config:ty, $name:literal, $in_stacks:literal) => {
        impl PolicySection for $config {
            const SECTION: &'static str = $name;
            const IN_STACKS: bool = $in_stacks;

            fn check(&self, name: &str) -> Result<(), ConfigError> {
                self.validate(name)
            }
        }
    };
}

section!(BreakerConfig, "breaker", true);
section!(RetryConfig, "retry", true);
section!(HedgeConfig, "hedge", true);
section!(BulkheadConfig, "bulkhead", true);
section!(PartitionsConfig, "partitions", false);
section!(RateLimitConfig, "rate_limit", true);
section!(LoadShedConfig, "load_shed", true);
section!(LastKnownGoodConfig, "fallback", false);
section!(PoolConfig, "pool", false);
section!(ChaosConfig, "chaos", true);

/// Every section of a document with named entries, in the order problems are reported
/// and documents written: the one list of the patterns in policy files.
pub(crate) static SECTIONS: [&(dyn Kind + Sync); 10] = [
    &Of::<BreakerConfig>::KIND,
    &Of::<RetryConfig>::KIND,
    &Of::<HedgeConfig>::KIND,
    &Of::<BulkheadConfig>::KIND,
    &Of::<PartitionsConfig>::KIND,
    &Of::<RateLimitConfig>::KIND,
    &Of::<LoadShedConfig>::KIND,
    &Of::<LastKnownGoodConfig>::KIND,
    &Of::<PoolConfig>::KIND,
    &Of::<ChaosConfig>::KIND,
];

impl PolicyHandle for CircuitBreaker {
    type Config = BreakerConfig;
    type Event = BreakerEvent;

    fn build(
        name: Name,
        config: BreakerConfig,
        listener: Listener<BreakerEvent>,
    ) -> Result<Self, ConfigError> {
        CircuitBreaker::builder(name)
            .config(config)
            .listener(listener)
            .build()
    }

    #[cfg(feature = "redis")]
    fn build_on(
        name: Name,
        config: BreakerConfig,
        listener: Listener<BreakerEvent>,
        backends: &crate::Backends,
    ) -> Result<Self, ConfigError> {
        let shared = config.backend == hardy_core::Backend::Redis;
        let builder = CircuitBreaker::builder(name)
            .config(config)
            .listener(listener);
        match backends.redis() {
            Some(redis) if shared => builder.build_shared(std::sync::Arc::new(redis.clone())),
            _ => builder.build(),
        }
    }
}

impl PolicyHandle for Retry {
    type Config = RetryConfig;
    type Event = RetryEvent;

    fn build(
        name: Name,
        config: RetryConfig,
        listener: Listener<RetryEvent>,
    ) -> Result<Self, ConfigError> {
        Retry::builder(name)
            .config(config)
            .on_event(move |event| listener.emit(event))
            .build()
    }
}

impl PolicyHandle for Hedge {
    type Config = HedgeConfig;
    type Event = HedgeEvent;

    fn build(
        name: Name,
        config: HedgeConfig,
        listener: Listener<HedgeEvent>,
    ) -> Result<Self, ConfigError> {
        Hedge::builder(name)
            .config(config)
            .listener(listener)
            .build()
    }
}

impl PolicyHandle for Bulkhead {
    type Config = BulkheadConfig;
    type Event = BulkheadEvent;

    fn build(
        name: Name,
        config: BulkheadConfig,
        listener: Listener<BulkheadEvent>,
    ) -> Result<Self, ConfigError> {
        Bulkhead::builder(name)
            .config(config)
            .listener(listener)
            .build()
    }
}

impl PolicyHandle for Partitions {
    type Config = PartitionsConfig;
    type Event = BulkheadEvent;

    fn build(
        name: Name,
        config: PartitionsConfig,
        listener: Listener<BulkheadEvent>,
    ) -> Result<Self, ConfigError> {
        Partitions::builder(name)
            .config(config)
            .on_event(move |event| listener.emit(event))
            .build()
    }
}

impl PolicyHandle for RateLimiter {
    type Config = RateLimitConfig;
    type Event = RateLimitEvent;

    fn build(
        name: Name,
        config: RateLimitConfig,
        listener: Listener<RateLimitEvent>,
    ) -> Result<Self, ConfigError> {
        RateLimiter::builder(name)
            .config(config)
            .on_event(move |event| listener.emit(event))
            .build()
    }

    #[cfg(feature = "redis")]
    fn build_on(
        name: Name,
        config: RateLimitConfig,
        listener: Listener<RateLimitEvent>,
        backends: &crate::Backends,
    ) -> Result<Self, ConfigError> {
        let shared = config.backend == hardy_core::Backend::Redis;
        let builder = RateLimiter::builder(name)
            .config(config)
            .on_event(move |event| listener.emit(event));
        match backends.redis() {
            Some(redis) if shared => builder.build_shared(std::sync::Arc::new(redis.clone())),
            _ => builder.build(),
        }
    }
}

impl PolicyHandle for LoadShedder {
    type Config = LoadShedConfig;
    type Event = LoadShedEvent;

    fn build(
        name: Name,
        config: LoadShedConfig,
        listener: Listener<LoadShedEvent>,
    ) -> Result<Self, ConfigError> {
        LoadShedder::builder(name)
            .config(config)
            .listener(listener)
            .build()
    }
}

impl PolicyHandle for Chaos {
    type Config = ChaosConfig;
    type Event = ChaosEvent;

    fn build(
        name: Name,
        config: ChaosConfig,
        listener: Listener<ChaosEvent>,
    ) -> Result<Self, ConfigError> {
        Chaos::builder(name)
            .config(config)
            .listener(listener)
            .build()
    }
}

/// The named entries of one section, whatever its settings: what a document holds of
/// it.
pub(crate) trait Entries: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn clone_box(&self) -> Box<dyn Entries>;
    fn same(&self, other: &dyn Entries) -> bool;
    fn is_empty(&self) -> bool;
    fn contains(&self, name: &str) -> bool;
    fn debug(&self) -> &dyn fmt::Debug;
    /// Checks every entry once, reporting each problem at `section.<name>`.
    fn check(&self, problems: &mut Vec<PolicyError>);
    /// The entries as JSON, unset settings left out.
    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error>;
}

impl<C: PolicySection> Entries for BTreeMap<String, C> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn clone_box(&self) -> Box<dyn Entries> {
        Box::new(self.clone())
    }

    fn same(&self, other: &dyn Entries) -> bool {
        other.as_any().downcast_ref::<Self>() == Some(self)
    }

    fn is_empty(&self) -> bool {
        BTreeMap::is_empty(self)
    }

    fn contains(&self, name: &str) -> bool {
        self.contains_key(name)
    }

    fn debug(&self) -> &dyn fmt::Debug {
        self
    }

    fn check(&self, problems: &mut Vec<PolicyError>) {
        for (name, config) in self {
            if let Err(error) = config.check(name) {
                problems.push(PolicyError::from_config(
                    &format!("{}.{name}", C::SECTION),
                    &error,
                ));
            }
        }
    }

    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }
}

/// What a section is, without its entries: how they are read and made empty.
pub(crate) trait Kind {
    /// The section's name.
    fn section(&self) -> &'static str;
    /// Whether operations may name its entries.
    fn in_stacks(&self) -> bool;
    /// No entries.
    fn empty(&self) -> Box<dyn Entries>;
    /// Reads an entry's settings, reporting a failure at `at`.
    fn read(
        &self,
        problems: &mut Vec<PolicyError>,
        at: &str,
        value: toml::Value,
    ) -> Option<Box<dyn Any>>;
    /// Adds a read entry (one `read` returned) to `entries`.
    fn insert(&self, entries: &mut dyn Entries, name: String, config: Box<dyn Any>);
    /// The problem of a read entry's settings, if any, at `section.<name>`.
    fn check(&self, config: &dyn Any, name: &str) -> Option<PolicyError>;
}

/// The [`Kind`] of the section whose settings are `C`.
pub(crate) struct Of<C>(std::marker::PhantomData<fn() -> C>);

impl<C> Of<C> {
    const KIND: Of<C> = Of(std::marker::PhantomData);
}

impl<C: PolicySection> Kind for Of<C> {
    fn section(&self) -> &'static str {
        C::SECTION
    }

    fn in_stacks(&self) -> bool {
        C::IN_STACKS
    }

    fn empty(&self) -> Box<dyn Entries> {
        Box::new(BTreeMap::<String, C>::new())
    }

    fn read(
        &self,
        problems: &mut Vec<PolicyError>,
        at: &str,
        value: toml::Value,
    ) -> Option<Box<dyn Any>> {
        read::<C>(problems, at, value).map(|config| Box::new(config) as Box<dyn Any>)
    }

    fn insert(&self, entries: &mut dyn Entries, name: String, config: Box<dyn Any>) {
        if let (Some(entries), Ok(config)) = (
            entries.as_any_mut().downcast_mut::<BTreeMap<String, C>>(),
            config.downcast::<C>(),
        ) {
            entries.insert(name, *config);
        }
    }

    fn check(&self, config: &dyn Any, name: &str) -> Option<PolicyError> {
        let error = config.downcast_ref::<C>()?.check(name).err()?;
        Some(PolicyError::from_config(
            &format!("{}.{name}", C::SECTION),
            &error,
        ))
    }
}

/// Deserializes `value`, reporting a failure at `at` plus the path inside the value.
pub(crate) fn read<C: DeserializeOwned>(
    problems: &mut Vec<PolicyError>,
    at: &str,
    value: Value,
) -> Option<C> {
    match serde_path_to_error::deserialize::<_, C>(value) {
        Ok(config) => Some(config),
        Err(error) => {
            let inner = error.path().to_string();
            let path = if inner == "." || inner.is_empty() {
                at.to_string()
            } else {
                format!("{at}.{inner}")
            };
            problems.push(PolicyError::new(
                path,
                error.into_inner().message().trim_end(),
            ));
            None
        }
    }
}

/// The sections whose entries operations may name, in table order.
pub(crate) fn stacked() -> &'static [&'static str] {
    static STACKED: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        SECTIONS
            .iter()
            .filter(|kind| kind.in_stacks())
            .map(|kind| kind.section())
            .collect()
    });
    &STACKED
}
