//! Sensors as tower services behind a blocking bulkhead, wrapped by hardy layers.

use std::sync::Arc;

use hardy_bulkhead::Bulkhead;
use hardy_core::{Error, Rejection};
use plantos_hal::sim::{Climate, FakeSht4x, NoDelay, SimBus};
use plantos_hal::{ClimateSensor, Kind, SensorService};
use tower::{Service, ServiceExt};

fn climate(bus: &SimBus, i2c: &Bulkhead) -> SensorService<ClimateSensor<SimBus, NoDelay>> {
    SensorService::new(
        ClimateSensor::new("climate", bus.clone(), NoDelay),
        i2c.clone(),
    )
}

fn bus() -> SimBus {
    let bus = SimBus::new();
    bus.attach(
        0x44,
        FakeSht4x::new(Arc::new(|| Climate {
            celsius: 19.0,
            humidity: 60.0,
        })),
    );
    bus
}

/// Reads once; then, with the bus's one slot taken, a read is refused, not queued;
/// then, the slot given back, reads again. Returns the first read's readings.
async fn read_then_refused_while_busy<S>(
    service: &mut SensorService<S>,
    i2c: &Bulkhead,
) -> Vec<plantos_hal::Reading>
where
    S: plantos_hal::Sensor + 'static,
{
    let readings = service
        .ready()
        .await
        .expect("ready")
        .call(())
        .await
        .expect("read");
    assert_eq!(i2c.stats().admitted, 1);
    let busy = i2c.try_acquire().expect("free");
    let refused = service.ready().await.expect("ready").call(()).await;
    assert!(matches!(
        refused,
        Err(Error::Rejected(Rejection::BulkheadFull { .. }))
    ));
    drop(busy);
    service
        .ready()
        .await
        .expect("ready")
        .call(())
        .await
        .expect("read again");
    readings
}

#[tokio::test]
async fn a_read_runs_on_a_blocking_thread_admitted_by_the_bus_bulkhead() {
    let i2c = Bulkhead::builder("i2c-1")
        .max_concurrent(1)
        .build()
        .expect("valid");
    let mut service = climate(&bus(), &i2c);
    let readings = read_then_refused_while_busy(&mut service, &i2c).await;
    assert_eq!(readings[0].kind, Kind::Temperature);
}

#[tokio::test]
async fn a_device_error_comes_back_as_the_inner_error() {
    let i2c = Bulkhead::builder("i2c-1")
        .max_concurrent(1)
        .build()
        .expect("valid");
    let bus = bus();
    bus.set_disconnected(0x44, true);
    let mut service = climate(&bus, &i2c);
    let error = service
        .ready()
        .await
        .expect("ready")
        .call(())
        .await
        .expect_err("disconnected");
    let Error::Inner(error) = error else {
        panic!("a device error, not a rejection");
    };
    assert_eq!(
        plantos_hal::Error::kind(&error),
        plantos_hal::ErrorKind::Disconnected
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_in_place_read_runs_in_the_calling_task_under_the_same_rules() {
    let i2c = Bulkhead::builder("i2c-1")
        .max_concurrent(1)
        .build()
        .expect("valid");
    let caller = std::thread::current().id();
    let seen = Arc::new(parking_lot::Mutex::new(None));
    let source = {
        let seen = seen.clone();
        Arc::new(move || {
            *seen.lock() = Some(std::thread::current().id());
            Climate {
                celsius: 19.0,
                humidity: 60.0,
            }
        })
    };
    let bus = SimBus::new();
    bus.attach(0x44, FakeSht4x::new(source));
    let mut service =
        SensorService::in_place(ClimateSensor::new("climate", bus, NoDelay), i2c.clone());
    let readings = read_then_refused_while_busy(&mut service, &i2c).await;
    assert!((readings[0].value - 19.0).abs() < 0.01, "{readings:?}");
    assert_eq!(*seen.lock(), Some(caller), "read on the caller's thread");
}
