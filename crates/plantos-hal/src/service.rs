//! [`SensorService`] and [`PumpService`]: devices as tower services, so hardy's layers
//! wrap them directly.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use embedded_hal::digital::OutputPin;
use hardy_bulkhead::Bulkhead;
use hardy_core::Error;
use tower_service::Service;

use crate::{DeviceError, Dispensed, Millilitres, Pump, Reading, Sensor};

/// A boxed device call: device calls are bus I/O of milliseconds, beside which a box
/// is nothing.
pub type DeviceFuture<T> = Pin<Box<dyn Future<Output = Result<T, Error<DeviceError>>> + Send>>;

/// A sensor as a tower service: each call (the request is `()`) reads it on a blocking
/// thread admitted by a blocking [`Bulkhead`], so bus I/O never runs on the async
/// workers and at most the bulkhead's limit of reads run at once. The response is the
/// sensor's readings; the error is the device's, or the bulkhead's rejection.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use hardy_bulkhead::Bulkhead;
/// use plantos_hal::sim::{Climate, FakeSht4x, NoDelay, SimBus};
/// use plantos_hal::{ClimateSensor, SensorService};
/// use tower::{Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let bus = SimBus::new();
/// bus.attach(0x44, FakeSht4x::new(Arc::new(|| Climate { celsius: 20.0, humidity: 50.0 })));
/// let i2c = Bulkhead::builder("i2c-1").max_concurrent(1).build()?;
/// let mut climate = SensorService::new(ClimateSensor::new("climate", bus, NoDelay), i2c);
/// let readings = climate.ready().await?.call(()).await?;
/// assert_eq!(readings.len(), 2);
/// # Ok(())
/// # }
/// ```
pub struct SensorService<S> {
    sensor: Arc<parking_lot::Mutex<S>>,
    bus: Bulkhead,
    /// Whether reads go to a blocking thread (real buses) or run in the calling task
    /// (sensors that never block, such as simulated ones).
    blocking: bool,
}

impl<S> Clone for SensorService<S> {
    fn clone(&self) -> Self {
        SensorService {
            sensor: self.sensor.clone(),
            bus: self.bus.clone(),
            blocking: self.blocking,
        }
    }
}

impl<S: Sensor> std::fmt::Debug for SensorService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SensorService")
            .field("bus", self.bus.name())
            .finish_non_exhaustive()
    }
}

impl<S: Sensor + 'static> SensorService<S> {
    /// Reads `sensor` on blocking threads admitted by `bus` (give every sensor on one
    /// bus the same bulkhead, limit 1, so they never talk over each other).
    pub fn new(sensor: S, bus: Bulkhead) -> Self {
        SensorService {
            sensor: Arc::new(parking_lot::Mutex::new(sensor)),
            bus,
            blocking: true,
        }
    }

    /// Reads `sensor` in the calling task, in a slot of `bus`: for sensors whose reads
    /// never block (simulated ones, or drivers over a bus that does not wait), where a
    /// hand-off to a blocking thread would cost more than the read. A simulated year
    /// of the plant-care garden runs many times faster this way.
    pub fn in_place(sensor: S, bus: Bulkhead) -> Self {
        SensorService {
            blocking: false,
            ..SensorService::new(sensor, bus)
        }
    }
}

impl<S: Sensor + 'static> Service<()> for SensorService<S> {
    type Response = Vec<Reading>;
    type Error = Error<DeviceError>;
    type Future = DeviceFuture<Vec<Reading>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        let sensor = self.sensor.clone();
        let bus = self.bus.clone();
        if self.blocking {
            Box::pin(async move { bus.run_blocking(move || sensor.lock().read()).await })
        } else {
            Box::pin(async move { bus.call(|| async { sensor.lock().read() }).await })
        }
    }
}

/// A pump as a tower service: each call dispenses the requested volume, one at a time
/// (a call waits for the one before it). Never wrap it in a retry: a repeated dispense
/// overwaters.
pub struct PumpService<P> {
    pump: Arc<tokio::sync::Mutex<Pump<P>>>,
}

impl<P> Clone for PumpService<P> {
    fn clone(&self) -> Self {
        PumpService {
            pump: self.pump.clone(),
        }
    }
}

impl<P> std::fmt::Debug for PumpService<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PumpService").finish_non_exhaustive()
    }
}

impl<P> PumpService<P> {
    /// Serves `pump`.
    pub fn new(pump: Pump<P>) -> Self {
        PumpService {
            pump: Arc::new(tokio::sync::Mutex::new(pump)),
        }
    }
}

impl<P> Service<Millilitres> for PumpService<P>
where
    P: OutputPin + Send + 'static,
{
    type Response = Dispensed;
    type Error = Error<DeviceError>;
    type Future = DeviceFuture<Dispensed>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, ml: Millilitres) -> Self::Future {
        let pump = self.pump.clone();
        Box::pin(async move {
            let mut pump = pump.lock().await;
            pump.dispense(ml).await.map_err(Error::Inner)
        })
    }
}
