//! A simulated I2C bus and register-level fakes of the chips, so the real drivers run
//! unmodified against them.

use std::collections::HashMap;
use std::sync::Arc;

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};
use parking_lot::Mutex;

/// An error on the simulated bus, by its embedded-hal kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusFault(pub ErrorKind);

impl embedded_hal::i2c::Error for BusFault {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

/// A chip on a [`SimBus`]: it sees every transaction addressed to it.
pub trait SimChip: Send {
    /// Takes one write from the controller.
    ///
    /// # Errors
    ///
    /// A fault to report on the bus.
    fn write(&mut self, bytes: &[u8]) -> Result<(), BusFault>;

    /// Answers one read of the controller.
    ///
    /// # Errors
    ///
    /// A fault to report on the bus.
    fn read(&mut self, buffer: &mut [u8]) -> Result<(), BusFault>;
}

/// Faults injected into every transaction with one address.
#[derive(Debug, Clone, Default)]
struct Faults {
    /// Transactions still to fail, and how.
    failing: u32,
    kind: Option<ErrorKind>,
    disconnected: bool,
}

/// A simulated I2C bus: chips by address, shared by every clone (each driver owns a
/// clone, as on a real bus). A transaction to an address with no chip, or with a chip
/// disconnected, is not acknowledged.
#[derive(Clone, Default)]
pub struct SimBus {
    inner: Arc<Mutex<Bus>>,
}

#[derive(Default)]
struct Bus {
    chips: HashMap<u8, Box<dyn SimChip>>,
    faults: HashMap<u8, Faults>,
    transactions: u64,
}

impl std::fmt::Debug for SimBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bus = self.inner.lock();
        let mut addresses: Vec<_> = bus.chips.keys().copied().collect();
        addresses.sort_unstable();
        f.debug_struct("SimBus")
            .field("chips", &addresses)
            .field("transactions", &bus.transactions)
            .finish()
    }
}

impl SimBus {
    /// An empty bus.
    #[must_use]
    pub fn new() -> Self {
        SimBus::default()
    }

    /// Puts `chip` on the bus at `address`.
    pub fn attach(&self, address: u8, chip: impl SimChip + 'static) {
        self.inner.lock().chips.insert(address, Box::new(chip));
    }

    /// Makes the next `count` transactions with `address` fail with `kind`.
    pub fn fail_next(&self, address: u8, count: u32, kind: ErrorKind) {
        let mut bus = self.inner.lock();
        let faults = bus.faults.entry(address).or_default();
        faults.failing = count;
        faults.kind = Some(kind);
    }

    /// Disconnects (or reconnects) the chip at `address`: while disconnected, its
    /// address is not acknowledged.
    pub fn set_disconnected(&self, address: u8, disconnected: bool) {
        self.inner
            .lock()
            .faults
            .entry(address)
            .or_default()
            .disconnected = disconnected;
    }

    /// Transactions the bus has carried.
    #[must_use]
    pub fn transactions(&self) -> u64 {
        self.inner.lock().transactions
    }
}

impl ErrorType for SimBus {
    type Error = BusFault;
}

impl I2c for SimBus {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), BusFault> {
        let mut bus = self.inner.lock();
        bus.transactions += 1;
        let no_ack = BusFault(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        if let Some(faults) = bus.faults.get_mut(&address) {
            if faults.disconnected {
                return Err(no_ack);
            }
            if faults.failing > 0 {
                faults.failing -= 1;
                return Err(BusFault(faults.kind.unwrap_or(ErrorKind::Bus)));
            }
        }
        let chip = bus.chips.get_mut(&address).ok_or(no_ack)?;
        for operation in operations {
            match operation {
                Operation::Write(bytes) => chip.write(bytes)?,
                Operation::Read(buffer) => chip.read(buffer)?,
            }
        }
        Ok(())
    }
}

/// What a simulated sensor input reads now: volts on an ADC channel, or a climate.
pub type Source<T> = Arc<dyn Fn() -> T + Send + Sync>;

/// A register-level ADS1115: four single-ended inputs, each read from a [`Source`] of
/// volts, the programmable gain honoured, one-shot conversions that finish after
/// `busy_polls` reads of the config register (or never, when stalled).
pub struct FakeAds1115 {
    inputs: [Source<f64>; 4],
    pointer: u8,
    config: u16,
    conversion: u16,
    busy: u32,
    busy_polls: u32,
    stalled: Arc<Mutex<bool>>,
}

impl std::fmt::Debug for FakeAds1115 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAds1115")
            .field("config", &format_args!("{:#06x}", self.config))
            .finish_non_exhaustive()
    }
}

impl FakeAds1115 {
    /// An ADC whose inputs read `inputs` (volts), each conversion ready after one
    /// poll.
    #[must_use]
    pub fn new(inputs: [Source<f64>; 4]) -> Self {
        FakeAds1115 {
            inputs,
            pointer: 0,
            config: 0x8583,
            conversion: 0,
            busy: 0,
            busy_polls: 1,
            stalled: Arc::new(Mutex::new(false)),
        }
    }

    /// A switch that stalls the chip (conversions never finish) while on.
    #[must_use]
    pub fn stall_switch(&self) -> Arc<Mutex<bool>> {
        self.stalled.clone()
    }

    fn convert(&self) -> u16 {
        let mux = (self.config >> 12) & 0b111;
        let volts = if mux >= 0b100 {
            (self.inputs[usize::from(mux - 0b100)])()
        } else {
            0.0
        };
        let full_scale = match (self.config >> 9) & 0b111 {
            0 => 6.144,
            1 => 4.096,
            2 => 2.048,
            3 => 1.024,
            4 => 0.512,
            _ => 0.256,
        };
        let raw = (volts / full_scale * 32_768.0)
            .round()
            .clamp(-32_768.0, 32_767.0);
        (raw as i16) as u16
    }
}

impl SimChip for FakeAds1115 {
    fn write(&mut self, bytes: &[u8]) -> Result<(), BusFault> {
        let Some((&pointer, value)) = bytes.split_first() else {
            return Err(BusFault(ErrorKind::Other));
        };
        self.pointer = pointer & 0b11;
        if let [msb, lsb] = value {
            let value = u16::from_be_bytes([*msb, *lsb]);
            if self.pointer == 1 {
                // Bit 15 set starts a one-shot conversion; it reads back 0 while busy.
                self.config = value & 0x7fff;
                if value & 0x8000 != 0 {
                    self.conversion = self.convert();
                    self.busy = self.busy_polls;
                } else {
                    self.config |= 0x8000;
                }
            }
        }
        Ok(())
    }

    fn read(&mut self, buffer: &mut [u8]) -> Result<(), BusFault> {
        let value = match self.pointer {
            0 => self.conversion,
            1 => {
                if *self.stalled.lock() {
                    self.config & 0x7fff
                } else if self.busy > 0 {
                    self.busy -= 1;
                    self.config & 0x7fff
                } else {
                    self.config | 0x8000
                }
            }
            _ => 0,
        };
        for (byte, value) in buffer.iter_mut().zip(value.to_be_bytes()) {
            *byte = value;
        }
        Ok(())
    }
}

/// Temperature (°C) and relative humidity (%) a climate sensor reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Climate {
    /// Air temperature, °C.
    pub celsius: f64,
    /// Relative humidity, %.
    pub humidity: f64,
}

/// A register-level SHT4x: answers the measure commands with a [`Source`]'s climate
/// encoded as the chip does (two words, each with its CRC-8), and soft reset and
/// serial number.
pub struct FakeSht4x {
    source: Source<Climate>,
    pending: Option<[u8; 6]>,
}

impl std::fmt::Debug for FakeSht4x {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSht4x").finish_non_exhaustive()
    }
}

impl FakeSht4x {
    /// A sensor reading `source`.
    #[must_use]
    pub fn new(source: Source<Climate>) -> Self {
        FakeSht4x {
            source,
            pending: None,
        }
    }
}

/// The SHT4x's CRC-8: polynomial 0x31, initial value 0xFF.
#[must_use]
pub fn sensirion_crc(data: [u8; 2]) -> u8 {
    let mut crc = 0xffu8;
    for byte in data {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x31
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn words(first: u16, second: u16) -> [u8; 6] {
    let [a, b] = first.to_be_bytes();
    let [c, d] = second.to_be_bytes();
    [a, b, sensirion_crc([a, b]), c, d, sensirion_crc([c, d])]
}

impl SimChip for FakeSht4x {
    fn write(&mut self, bytes: &[u8]) -> Result<(), BusFault> {
        match bytes {
            // Measure, high, medium or low precision (and the heated variants).
            [0xfd | 0xf6 | 0xe0 | 0x39 | 0x32 | 0x2f | 0x24 | 0x1e | 0x15] => {
                let climate = (self.source)();
                let t = ((climate.celsius + 45.0) / 175.0 * 65_535.0)
                    .round()
                    .clamp(0.0, 65_535.0) as u16;
                let rh = ((climate.humidity + 6.0) / 125.0 * 65_535.0)
                    .round()
                    .clamp(0.0, 65_535.0) as u16;
                self.pending = Some(words(t, rh));
                Ok(())
            }
            [0x89] => {
                self.pending = Some(words(0x1234, 0x5678));
                Ok(())
            }
            [0x94] => {
                self.pending = None;
                Ok(())
            }
            _ => Err(BusFault(ErrorKind::NoAcknowledge(
                NoAcknowledgeSource::Data,
            ))),
        }
    }

    fn read(&mut self, buffer: &mut [u8]) -> Result<(), BusFault> {
        let data = self
            .pending
            .take()
            .ok_or(BusFault(ErrorKind::NoAcknowledge(
                NoAcknowledgeSource::Data,
            )))?;
        for (byte, value) in buffer.iter_mut().zip(data) {
            *byte = value;
        }
        Ok(())
    }
}
