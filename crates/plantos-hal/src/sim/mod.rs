//! The simulation backend, always compiled: a seeded [`Garden`], a [`SimBus`] with
//! register-level fakes of the chips ([`FakeAds1115`], [`FakeSht4x`]) so the real
//! drivers run unmodified against it, and [`SimPin`] relays.

mod bus;
mod faults;
mod garden;
mod pin;

pub use bus::{BusFault, Climate, FakeAds1115, FakeSht4x, SimBus, SimChip, Source, sensirion_crc};
pub use faults::{FaultPlan, FaultyChip};
pub use garden::{Garden, PotModel, Weather};
pub use pin::{PinFault, SimPin};

/// A delay that does not wait: the simulated chips answer at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDelay;

impl embedded_hal::delay::DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}
