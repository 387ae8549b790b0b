//! [`Controller::new`]: each plant's stacks, built from the policies over the hardware.

use std::path::Path;

use super::*;

impl Controller {
    /// Builds every plant's stacks over `hardware`, as `config` says.
    ///
    /// # Errors
    ///
    /// Every policy that does not validate, one a line; a policy the stacks need that
    /// the document leaves out.
    pub fn new(config: &Config, hardware: Hardware) -> Result<Arc<Self>, BoxError> {
        let document = config.policies.document()?;
        let counts = Arc::new(Counts::default());
        let policies = Policies::from_document(document)?
            .on_event({
                let counts = counts.clone();
                move |event: &BreakerEvent| {
                    tracing::info!(?event, "breaker");
                    counts.breaker(event);
                }
            })
            .on_event({
                let counts = counts.clone();
                move |event: &RetryEvent| counts.retry(event)
            })
            .on_event({
                let counts = counts.clone();
                move |event: &RateLimitEvent| counts.rate_limit(event)
            });
        let on_fallback = |counts: &Arc<Counts>| {
            let counts = counts.clone();
            move |event: &FallbackEvent| counts.fallback(event)
        };
        let sensors = need(policies.get::<Bulkhead>("sensors"), "bulkhead.sensors")?;
        let actuators = need(policies.get::<Bulkhead>("actuators"), "bulkhead.actuators")?;
        let read_timeout = need(policies.timeout("read"), "timeout")?.duration();
        let water_timeout = need(policies.timeout("water"), "timeout")?.duration();
        let last_good = LastKnownGood::builder("readings")
            .config(
                need(
                    policies.entry::<LastKnownGoodConfig>("readings"),
                    "fallback.readings",
                )?
                .clone(),
            )
            .on_event(on_fallback(&counts))
            .mark_stale(|readings: Vec<Reading>, _age| {
                readings
                    .into_iter()
                    .map(|reading| {
                        let quality = reading.quality * 0.5;
                        reading.with_quality(quality)
                    })
                    .collect::<Vec<_>>()
            })
            .build::<String>()?;
        let mut health = HealthRegistry::builder("plant-care");
        let mut plants = Vec::new();
        for (plant, devices) in config.plants.iter().zip(hardware.plants) {
            let id = &plant.id;
            let retry = need(
                policies.get::<Retry>(&format!("read:{id}")),
                "retry.default",
            )?;
            let sensor_breaker = need(
                policies.get::<CircuitBreaker>(&format!("soil:{id}")),
                "breaker.default",
            )?;
            let pump_breaker = need(
                policies.get::<CircuitBreaker>(&format!("pump:{id}")),
                "breaker.default",
            )?;
            // Per-device names label the timeouts' metrics; the limits are the file's.
            let attempt = Timeout::builder(format!("read:{id}"))
                .timeout(read_timeout)
                .on_event(counts.timeouts(false))
                .build()?;
            let read_pipeline = Pipeline::new()
                .retry(&retry)
                .breaker(&sensor_breaker)
                .bulkhead(&sensors)
                .timeout(&attempt);
            let primary = ServiceBuilder::new()
                .layer(read_pipeline.layer().classifier(DeviceClassifier))
                .service(devices.probe);
            let key = id.clone();
            let mut own_backup = None;
            let read: ReadSvc = match devices.backup {
                Some(backup) => {
                    let backup_attempt = Timeout::builder(format!("read-backup:{id}"))
                        .timeout(read_timeout)
                        .on_event(counts.timeouts(false))
                        .build()?;
                    let backup: ReadSvc = BoxCloneSyncService::new(
                        ServiceBuilder::new()
                            .layer(sensors.layer())
                            .layer(backup_attempt.layer())
                            .service(backup),
                    );
                    own_backup = devices
                        .backup_calibration
                        .clone()
                        .map(|calibration| (backup.clone(), calibration));
                    let fallback = Fallback::builder(format!("backup:{id}"))
                        .service(backup)
                        .on_event(on_fallback(&counts))
                        .build();
                    BoxCloneSyncService::new(
                        ServiceBuilder::new()
                            .layer(last_good.layer(move |(): &()| key.clone()))
                            .layer(fallback.layer())
                            .service(primary),
                    )
                }
                None => BoxCloneSyncService::new(
                    ServiceBuilder::new()
                        .layer(last_good.layer(move |(): &()| key.clone()))
                        .service(primary),
                ),
            };
            let limit = need(
                policies.get::<RateLimiter>(&format!("water:{id}")),
                "rate_limit.default",
            )?;
            let water_timeout = Timeout::builder(format!("water:{id}"))
                .timeout(water_timeout)
                .on_event(counts.timeouts(true))
                .build()?;
            // Never retried: a repeated dispense overwaters.
            let water_pipeline = Pipeline::new()
                .breaker(&pump_breaker)
                .rate_limit(&limit)
                .bulkhead(&actuators)
                .timeout(&water_timeout);
            let water: PumpSvc = BoxCloneSyncService::new(
                ServiceBuilder::new()
                    .layer(water_pipeline.layer().classifier(DeviceClassifier))
                    .service(devices.pump),
            );
            health = health
                .check(
                    format!("soil:{id}"),
                    BreakerCheck::new(sensor_breaker.clone()),
                    CheckConfig::default(),
                )
                .check(
                    format!("pump:{id}"),
                    BreakerCheck::new(pump_breaker.clone()),
                    CheckConfig::default(),
                );
            plants.push(PlantCare {
                plant: plant.clone(),
                since: Instant::now(),
                calibration: devices.calibration.clone(),
                backup: own_backup,
                read,
                water,
                sensor_breaker,
                pump_breaker,
                state: Mutex::new(CareState::default()),
            });
        }
        let pulse = Arc::new(Pulse::new(config.read_every));
        let beat = pulse.clone();
        let health = system::checks(health, Path::new("/"), &system::working_dir())?
            .check(
                "care-loop",
                check_fn(move || {
                    let status = beat.status();
                    async move { status }
                }),
                CheckConfig {
                    probes: Probes::LIVENESS,
                    interval: Duration::from_secs(1),
                    failure_threshold: 1,
                    ..CheckConfig::default()
                },
            )
            .build()?;
        Ok(Arc::new(Controller {
            plants,
            climate: hardware.climate,
            min_quality: config.min_quality,
            health,
            pulse,
            climate_warning: Mutex::new(Hush::default()),
            read_every: config.read_every,
            counts,
        }))
    }
}
