//! [`BreakerRegistry`]: one breaker per dependency name, shared by every caller.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use hardy_core::{ConfigError, Listener, Name};
use parking_lot::RwLock;

use crate::{BreakerConfig, BreakerEvent, BreakerSnapshot, CircuitBreaker};

/// Hands out one [`CircuitBreaker`] per dependency name, created on first use from that
/// name's config (or the default), so every caller of a dependency shares its breaker.
///
/// # Examples
///
/// ```
/// use hardy_breaker::{BreakerConfig, BreakerRegistry, BreakerState};
///
/// let registry = BreakerRegistry::builder()
///     .config("aws_ec2", BreakerConfig { consecutive_failures: 3, ..BreakerConfig::default() })
///     .build()?;
/// let ec2 = registry.get("aws_ec2");
/// assert_eq!(ec2.config().consecutive_failures, 3);
/// assert_eq!(registry.get("s3").config().consecutive_failures, 5);
/// ec2.force_open();
/// assert_eq!(registry.get("aws_ec2").state(), BreakerState::ForcedOpen);
/// assert_eq!(registry.snapshot().len(), 2);
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct BreakerRegistry {
    shared: Arc<Registry>,
}

struct Registry {
    default: BreakerConfig,
    configs: BTreeMap<String, BreakerConfig>,
    listener: Listener<BreakerEvent>,
    breakers: RwLock<HashMap<Name, CircuitBreaker>>,
}

/// Builds a [`BreakerRegistry`]; made by [`BreakerRegistry::builder`].
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until built"]
pub struct BreakerRegistryBuilder {
    default: BreakerConfig,
    configs: BTreeMap<String, BreakerConfig>,
    listener: Listener<BreakerEvent>,
}

impl BreakerRegistryBuilder {
    /// The config of names without their own. Default: [`BreakerConfig::default`].
    pub fn default_config(mut self, config: BreakerConfig) -> Self {
        self.default = config;
        self
    }

    /// The config of the breaker named `name`.
    pub fn config(mut self, name: impl Into<String>, config: BreakerConfig) -> Self {
        self.configs.insert(name.into(), config);
        self
    }

    /// Calls `listener` with the events of every breaker of the registry.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&BreakerEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Validates every config and builds the registry.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first bad setting; the default config is checked under
    /// the instance name `default`.
    pub fn build(self) -> Result<BreakerRegistry, ConfigError> {
        self.default.validate("default")?;
        for (name, config) in &self.configs {
            config.validate(name)?;
        }
        Ok(BreakerRegistry {
            shared: Arc::new(Registry {
                default: self.default,
                configs: self.configs,
                listener: self.listener,
                breakers: RwLock::new(HashMap::new()),
            }),
        })
    }
}

impl BreakerRegistry {
    /// Starts building a registry.
    pub fn builder() -> BreakerRegistryBuilder {
        BreakerRegistryBuilder::default()
    }

    /// The breaker named `name`, created from its config on first use.
    #[must_use]
    pub fn get(&self, name: &str) -> CircuitBreaker {
        if let Some(breaker) = self.shared.breakers.read().get(name) {
            return breaker.clone();
        }
        let mut breakers = self.shared.breakers.write();
        breakers
            .entry(Name::from(name))
            .or_insert_with(|| {
                let config = self
                    .shared
                    .configs
                    .get(name)
                    .unwrap_or(&self.shared.default)
                    .clone();
                // Configs were validated when the registry was built.
                CircuitBreaker::from_parts(
                    Name::from(name),
                    config,
                    self.shared.listener.clone(),
                    None,
                )
            })
            .clone()
    }

    /// Snapshots of every breaker created so far, sorted by name.
    #[must_use]
    pub fn snapshot(&self) -> Vec<BreakerSnapshot> {
        let mut snapshots: Vec<BreakerSnapshot> = self
            .shared
            .breakers
            .read()
            .values()
            .map(CircuitBreaker::snapshot)
            .collect();
        snapshots.sort_by(|a, b| a.name.cmp(&b.name));
        snapshots
    }
}

impl fmt::Debug for BreakerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<Name> = self.shared.breakers.read().keys().cloned().collect();
        names.sort();
        f.debug_struct("BreakerRegistry")
            .field(
                "configured",
                &self.shared.configs.keys().collect::<Vec<_>>(),
            )
            .field("breakers", &names)
            .finish_non_exhaustive()
    }
}
