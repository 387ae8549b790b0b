//! [`Partitions`]: one bulkhead per named partition, with optional spare capacity.

use std::collections::BTreeMap;

use hardy_core::{ConfigError, Listener, Name};

use crate::bulkhead::Spare;
use crate::sync::Arc;
use crate::{Bulkhead, BulkheadEvent, BulkheadStats, PartitionsBuilder, PartitionsConfig};
use hardy_core::admission::Gate;

/// Bulkheads for the named partitions of one system — sensors, actuators, analytics —
/// so that one kind of work cannot take the slots of another, plus optional spare
/// slots any partition may borrow when its own are used up.
///
/// Each partition is a [`Bulkhead`] named `<name>.<partition>`, with its own limits,
/// queue, stats and metrics. A call whose partition is full takes a free spare slot if
/// there is one; otherwise it waits in its own partition's queue (or is refused) as
/// that partition's config says.
///
/// # Examples
///
/// ```
/// use hardy_bulkhead::Partitions;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let plantos = Partitions::builder("plantos")
///     .partition("sensor", 4)
///     .partition("actuator", 2)
///     .partition("analytics", 8)
///     .spare(2)
///     .build()?;
/// let actuators = plantos.get("actuator").expect("configured");
/// let held = [actuators.try_acquire()?, actuators.try_acquire()?];
/// let borrowed = actuators.try_acquire()?; // the actuator partition is full
/// assert!(borrowed.is_borrowed());
/// assert_eq!(plantos.get("sensor").expect("configured").stats().in_flight, 0);
/// # drop((held, borrowed));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Partitions {
    name: Name,
    partitions: BTreeMap<String, Bulkhead>,
    spare: Option<Arc<Spare>>,
}

impl Partitions {
    /// Starts building partitions named `name`.
    pub fn builder(name: impl Into<Name>) -> PartitionsBuilder {
        PartitionsBuilder::new(name.into())
    }

    /// Partitions named `name` with the settings of `config` and no listener.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn from_config(
        name: impl Into<Name>,
        config: PartitionsConfig,
    ) -> Result<Self, ConfigError> {
        Partitions::builder(name).config(config).build()
    }

    pub(crate) fn from_parts(
        name: Name,
        config: &PartitionsConfig,
        listener: Listener<BulkheadEvent>,
    ) -> Self {
        let spare = (config.spare > 0).then(|| {
            Arc::new(Spare {
                gate: Gate::new([config.spare], None),
                size: config.spare,
            })
        });
        let partitions = config
            .partitions
            .iter()
            .map(|(partition, settings)| {
                let bulkhead = Bulkhead::from_parts(
                    Name::from(format!("{name}.{partition}")),
                    settings,
                    spare.clone(),
                    listener.clone(),
                );
                (partition.clone(), bulkhead)
            })
            .collect();
        Partitions {
            name,
            partitions,
            spare,
        }
    }

    /// The name of the partitioned system.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The bulkhead of `partition`, if configured.
    #[must_use]
    pub fn get(&self, partition: &str) -> Option<&Bulkhead> {
        self.partitions.get(partition)
    }

    /// Every partition, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bulkhead)> {
        self.partitions
            .iter()
            .map(|(name, bulkhead)| (name.as_str(), bulkhead))
    }

    /// The stats of every partition, by name.
    #[must_use]
    pub fn stats(&self) -> BTreeMap<String, BulkheadStats> {
        self.partitions
            .iter()
            .map(|(name, bulkhead)| (name.clone(), bulkhead.stats()))
            .collect()
    }

    /// Spare slots in use now, out of [`spare_capacity`](Self::spare_capacity).
    #[must_use]
    pub fn spare_in_use(&self) -> usize {
        self.spare
            .as_ref()
            .map_or(0, |spare| spare.gate.in_flight() as usize)
    }

    /// Spare slots shared by the partitions.
    #[must_use]
    pub fn spare_capacity(&self) -> usize {
        self.spare.as_ref().map_or(0, |spare| spare.size as usize)
    }
}
