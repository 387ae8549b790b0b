//! `plant-care run` in process, on paused time: shutdown stops the care loop before the
//! server and cuts a watering under way (relay off at once, never another); a panic in
//! a round of care fails liveness and ends the run with an error; rounds of care that
//! stop coming fail liveness.

use std::sync::Arc;
use std::time::Duration;

use hardy::health::{Probe, Status};
use metrics_exporter_prometheus::PrometheusBuilder;
use plant_care::config::Config;
use plant_care::controller::{Controller, TICK_GRACE};
use plant_care::daemon;
use plant_care::hardware::{self, Faults, Hardware};
use plantos_hal::Dispensed;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower::util::BoxCloneSyncService;

/// The built-in garden with basil always dry, so it is watered at the second round.
fn thirsty() -> Config {
    let mut config = Config::default();
    config.plants[0].min_moisture = 99.0;
    config.plants[0].max_moisture = 100.0;
    config
}

fn controller(config: &Config, hardware: Hardware) -> Arc<Controller> {
    let recorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        Controller::new(config, hardware).expect("controller")
    })
}

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind")
}

fn metrics() -> metrics_exporter_prometheus::PrometheusHandle {
    PrometheusBuilder::new().build_recorder().handle()
}

async fn liveness(controller: &Controller) -> (Status, String) {
    let report = controller.health().check_probe(Probe::Liveness).await;
    let message = report.checks["care-loop"]
        .message
        .clone()
        .unwrap_or_default();
    (report.status, message)
}

#[tokio::test(start_paused = true)]
async fn shutdown_cuts_the_watering_under_way_and_no_other_starts() {
    let config = thirsty();
    let hardware = hardware::build(&config, Faults::None).expect("hardware");
    let relay = hardware.relays[0].clone();
    let controller = controller(&config, hardware);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn({
        let (config, controller) = (config.clone(), controller.clone());
        async move {
            daemon::run(&config, controller, listener().await, metrics(), async {
                let _ = stopped.await;
            })
            .await
        }
    });
    let give_up = Instant::now() + Duration::from_secs(3 * 3600);
    while !relay.is_high() {
        assert!(Instant::now() < give_up, "basil was never watered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(liveness(&controller).await.0, Status::Healthy);
    let cut = Instant::now();
    stop.send(()).expect("run is waiting");
    run.await.expect("no panic").expect("a clean stop");
    assert!(!relay.is_high(), "the relay is off once run returns");
    let changes = relay.changes();
    assert_eq!(
        changes.last(),
        Some(&(cut, false)),
        "off at the stop itself"
    );
    assert_eq!(
        controller.status()[0].waterings,
        0,
        "the cut watering did not finish"
    );
    assert_eq!(
        controller.loop_ended().as_deref(),
        Some("stopped for shutdown")
    );
    // Hours later, nothing has touched the relay again.
    tokio::time::sleep(Duration::from_secs(6 * 3600)).await;
    assert_eq!(relay.changes(), changes);
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_a_round_of_care_fails_liveness_and_ends_the_run() {
    let config = thirsty();
    let mut hardware = hardware::build(&config, Faults::None).expect("hardware");
    hardware.plants[0].pump = BoxCloneSyncService::new(tower::service_fn(
        |_: plantos_hal::Millilitres| async move {
            panic!("pump driver bug");
            #[allow(unreachable_code)]
            Ok::<Dispensed, hardy::core::Error<plantos_hal::DeviceError>>(Dispensed {
                ml: 0,
                ran: Duration::ZERO,
            })
        },
    ));
    let controller = controller(&config, hardware);
    let error = daemon::run(
        &config,
        controller.clone(),
        listener().await,
        metrics(),
        std::future::pending(),
    )
    .await
    .expect_err("the loop ended: an error, for a non-zero exit");
    assert!(
        matches!(&error, plant_care::Error::CareLoopEnded { panic: Some(message) } if message == "pump driver bug"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("the care loop panicked: pump driver bug"),
        "{error}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        liveness(&controller).await,
        (
            Status::Unhealthy,
            "the care loop has ended: a round of care panicked".to_string()
        )
    );
}

#[tokio::test(start_paused = true)]
async fn rounds_of_care_that_stop_coming_fail_liveness() {
    let config = Config::default();
    let controller = controller(
        &config,
        hardware::build(&config, Faults::None).expect("hardware"),
    );
    let late = config.read_every + TICK_GRACE + Duration::from_secs(5);
    assert_eq!(liveness(&controller).await.0, Status::Healthy);
    tokio::time::sleep(late).await;
    assert_eq!(
        liveness(&controller).await,
        (
            Status::Unhealthy,
            format!("no round of care since start, {}s ago", late.as_secs())
        )
    );
    controller.tick().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(liveness(&controller).await.0, Status::Healthy);
    tokio::time::sleep(late).await;
    let (status, message) = liveness(&controller).await;
    assert_eq!(status, Status::Unhealthy);
    assert!(
        message.starts_with("the last round of care started"),
        "{message}"
    );
}
