//! [`OperationTimeouts`]: a table of timeouts by operation name.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hardy_core::{ConfigError, Listener, Name};

use crate::future::CallFuture;
use crate::{
    OperationTimeoutsBuilder, OperationTimeoutsConfig, Timeout, TimeoutConfig, TimeoutEvent,
};

/// A table of timeouts by operation name, with a default for operations it does not
/// list: each kind of call gets the limit it needs (`ec2_run_instances` 180 s, the rest
/// 30 s).
///
/// Every listed operation has its own [`Timeout`], named after the operation, so its
/// metrics and rejections say which operation timed out; unlisted operations share the
/// default timeout, named after the table. These limit one attempt each. An operation
/// may also have a limit as a whole ([`overall`](Self::overall)), all its attempts
/// together, named after it with `.overall` added (`ec2_run_instances.overall`). Built
/// once from config; cheap to clone.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_timeout::OperationTimeouts;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let timeouts = OperationTimeouts::builder("aws")
///     .default_timeout(Duration::from_secs(30))
///     .operation("ec2_run_instances", Duration::from_secs(180))
///     .operation("ec2_terminate_instances", Duration::from_secs(60))
///     .overall("ec2_run_instances", Duration::from_secs(600))
///     .build()?;
///
/// assert_eq!(timeouts.get("ec2_run_instances").duration(), Duration::from_secs(180));
/// let overall = timeouts.overall("ec2_run_instances").expect("listed");
/// assert_eq!(overall.duration(), Duration::from_secs(600));
/// assert_eq!(overall.name(), "ec2_run_instances.overall");
/// assert!(timeouts.overall("s3_put_object").is_none());
/// assert_eq!(timeouts.get("s3_put_object").duration(), Duration::from_secs(30));
/// assert_eq!(timeouts.get("s3_put_object").name(), "aws");
///
/// let id = timeouts
///     .call("ec2_run_instances", || async { Ok::<_, std::io::Error>("i-0abc") })
///     .await?;
/// assert_eq!(id, "i-0abc");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct OperationTimeouts {
    shared: Arc<Table>,
}

struct Table {
    name: Name,
    default: Timeout,
    operations: HashMap<Name, Timeout>,
    overall: HashMap<Name, Timeout>,
}

impl OperationTimeouts {
    /// Starts building a table named `name`; the name labels the default timeout.
    pub fn builder(name: impl Into<Name>) -> OperationTimeoutsBuilder {
        OperationTimeoutsBuilder::new(name.into())
    }

    /// A table named `name` with the settings of `config` and no listener.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn from_config(
        name: impl Into<Name>,
        config: OperationTimeoutsConfig,
    ) -> Result<Self, ConfigError> {
        OperationTimeouts::builder(name).config(config).build()
    }

    pub(crate) fn from_parts(
        name: Name,
        config: &OperationTimeoutsConfig,
        listener: &Listener<TimeoutEvent>,
    ) -> Self {
        let timeout = |name: Name, timeout: Duration| {
            Timeout::from_parts(name, TimeoutConfig { timeout }, listener.clone())
        };
        let operations = config
            .operations
            .iter()
            .map(|(operation, limit)| {
                let operation = Name::from(operation.as_str());
                (operation.clone(), timeout(operation, *limit))
            })
            .collect();
        let overall = config
            .overall
            .iter()
            .map(|(operation, limit)| {
                let name = Name::from(format!("{operation}.overall"));
                (Name::from(operation.as_str()), timeout(name, *limit))
            })
            .collect();
        OperationTimeouts {
            shared: Arc::new(Table {
                default: timeout(name.clone(), config.default),
                name,
                operations,
                overall,
            }),
        }
    }

    /// The table's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// The timeout of `operation`: its own if the table lists it, the default otherwise.
    #[must_use]
    pub fn get(&self, operation: &str) -> &Timeout {
        self.shared
            .operations
            .get(operation)
            .unwrap_or(&self.shared.default)
    }

    /// The limit of `operation` as a whole, all its attempts together, if the table sets
    /// one.
    #[must_use]
    pub fn overall(&self, operation: &str) -> Option<&Timeout> {
        self.shared.overall.get(operation)
    }

    /// The timeout of operations the table does not list.
    #[must_use]
    pub fn default_timeout(&self) -> &Timeout {
        &self.shared.default
    }

    /// The listed operations and their timeouts, in no particular order.
    pub fn operations(&self) -> impl Iterator<Item = (&str, &Timeout)> {
        self.shared
            .operations
            .iter()
            .map(|(operation, timeout)| (operation.as_str(), timeout))
    }

    /// Runs `operation_fn`'s future under the timeout of `operation`; see
    /// [`Timeout::call`].
    ///
    /// # Errors
    ///
    /// As [`Timeout::call`].
    ///
    /// # Cancel safety
    ///
    /// As [`Timeout::call`].
    pub fn call<F, Fut, T, E>(&self, operation: &str, operation_fn: F) -> CallFuture<'_, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.get(operation).call(operation_fn)
    }
}

/// A table's limits by operation, sorted for reading.
fn sorted(limits: &HashMap<Name, Timeout>) -> Vec<(&str, Duration)> {
    let mut limits: Vec<(&str, Duration)> = limits
        .iter()
        .map(|(operation, timeout)| (operation.as_str(), timeout.duration()))
        .collect();
    limits.sort_unstable();
    limits
}

impl fmt::Debug for OperationTimeouts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationTimeouts")
            .field("name", &self.shared.name)
            .field("default", &self.shared.default.duration())
            .field("operations", &sorted(&self.shared.operations))
            .field("overall", &sorted(&self.shared.overall))
            .finish()
    }
}
