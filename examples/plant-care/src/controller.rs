//! The controller: each plant's hardy stacks, the care decisions, and its status.

use std::sync::Arc;
use std::time::Duration;

use hardy::breaker::{BreakerEvent, BreakerState, CircuitBreaker};
use hardy::bulkhead::Bulkhead;
use hardy::core::{Error, Rejection};
use hardy::fallback::{Fallback, FallbackEvent, LastKnownGood, LastKnownGoodConfig};
use hardy::health::{BreakerCheck, CheckConfig, HealthRegistry, Probes, check_fn};
use hardy::rate_limit::{RateLimitEvent, RateLimiter};
use hardy::retry::{Retry, RetryEvent};
use hardy::timeout::Timeout;
use hardy::{Pipeline, Policies};
use parking_lot::Mutex;
use plantos_hal::{
    DeviceClassifier, DeviceError, Error as _, ErrorKind, Kind, Millilitres, Reading,
    SharedCalibration,
};
use serde::Serialize;
use tokio::time::Instant;
use tower::BoxError;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::chart::{self, Frame};
use crate::checks::{BackupCheck, RiseCheck};
use crate::config::{Config, Plant, WARMEST_DOSE_FACTOR};
use crate::drift::DriftWatch;
use crate::hardware::{Hardware, PumpSvc, SensorSvc};
use crate::history::{History, Sample, Source};
use crate::hush::Hush;
use crate::liveness::Pulse;

pub use crate::hush::{WARN_EVERY, WARN_EVERY_AT_MOST};
pub use crate::liveness::{Heartbeat, TICK_GRACE};
use totals::Counts;
pub use totals::Totals;

/// A read through its whole stack.
type ReadSvc = BoxCloneSyncService<(), Vec<Reading>, Error<DeviceError>>;

/// What the controller knows of one plant, served at `/plants`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlantStatus {
    /// The plant.
    pub id: String,
    /// The last soil moisture read, percent.
    pub moisture: Option<f64>,
    /// Its quality.
    pub quality: Option<f64>,
    /// Seconds since the last reading.
    pub reading_age_s: Option<f64>,
    /// Waterings so far.
    pub waterings: u32,
    /// Millilitres given so far.
    pub watered_ml: u32,
    /// Seconds since the last watering.
    pub last_watering_s: Option<f64>,
    /// The sensor breaker's state.
    pub sensor_breaker: String,
    /// The pump breaker's state.
    pub pump_breaker: String,
    /// Why the plant needs a person, if it does.
    pub needs_attention: Option<String>,
    /// The plant's target band: the low end, percent.
    pub min_moisture: f64,
    /// The plant's target band: the high end, percent.
    pub max_moisture: f64,
    /// Readings so far (the probe's, the backup's or the last good one served again).
    pub readings: u64,
    /// Where the last reading came from.
    pub source: Option<Source>,
    /// How far the probe's calibration has been corrected for drift so far: readings
    /// come out this much wetter than its configured calibration makes them, percent.
    pub drift_correction: f64,
    /// How far the backup probe's readings have been shifted to match the probe's,
    /// percent.
    pub backup_correction: f64,
}

impl PlantCare {
    /// Moves the probe's calibration `change` percent wetter, if the drift watch
    /// measured a change.
    fn recalibrate(&self, change: Option<f64>) {
        if let (Some(change), Some(calibration)) = (change, &self.calibration) {
            let shifted = calibration.shift(change);
            // A watering being judged compares readings on both sides of the shift.
            self.state.lock().rise.recalibrated(change);
            tracing::info!(
                plant = %self.plant.id,
                change,
                shifted,
                "probe recalibrated for drift"
            );
        }
    }

    /// Sets or clears why the plant needs a person, from the breakers' states now and
    /// the last watering's outcome (`Some` when a watering was just tried): a failed
    /// watering is reported until one succeeds.
    fn refresh_attention(&self, watering: Option<Result<(), String>>) {
        let mut state = self.state.lock();
        match watering {
            Some(Ok(())) => state.watering_failed = None,
            Some(Err(failure)) => state.watering_failed = Some(failure),
            None => {}
        }
        let untrusted_for =
            Instant::now().saturating_duration_since(state.last_trusted.unwrap_or(self.since));
        state.needs_attention = if self.pump_breaker.state() == BreakerState::Open {
            Some("the pump's breaker is open".to_string())
        } else if let Some(failure) = &state.watering_failed {
            Some(failure.clone())
        } else if let Some(trouble) = state.rise.trouble() {
            Some(trouble)
        } else if untrusted_for > UNTRUSTED_FOR {
            Some(format!(
                "no trustworthy reading for {} h: it cannot be cared for",
                untrusted_for.as_secs() / 3600
            ))
        } else if self.sensor_breaker.state() == BreakerState::Open {
            Some("the soil probe's breaker is open".to_string())
        } else if state.drift.needs_recalibration() {
            Some(format!(
                "its probe has drifted {:.0} % (corrected so far): recalibrate it",
                state.drift.correction().abs()
            ))
        } else {
            state.backup_check.trouble()
        };
    }
}

struct PlantCare {
    plant: Plant,
    /// When care began.
    since: Instant,
    /// The probe's calibration, corrected as it drifts.
    calibration: Option<SharedCalibration>,
    /// The backup probe read on its own (to compare it with the probe), and its
    /// calibration.
    backup: Option<(ReadSvc, SharedCalibration)>,
    read: ReadSvc,
    water: PumpSvc,
    sensor_breaker: CircuitBreaker,
    pump_breaker: CircuitBreaker,
    state: Mutex<CareState>,
}

#[derive(Default)]
struct CareState {
    last: Option<Reading>,
    waterings: u32,
    watered_ml: u32,
    last_watering: Option<Instant>,
    needs_attention: Option<String>,
    /// Trusted dry readings in a row: one alone may be a glitch.
    dry_streak: u32,
    /// Why the last watering failed, until one succeeds.
    watering_failed: Option<String>,
    /// Readings so far.
    readings: u64,
    /// Where the last reading came from.
    source: Option<Source>,
    /// The last week, for the page.
    history: History,
    /// The probe's drift.
    drift: DriftWatch,
    /// When the last trusted reading came (the probe's or the backup's).
    last_trusted: Option<Instant>,
    /// Whether waterings raise the reading.
    rise: RiseCheck,
    /// The backup probe against the probe.
    backup_check: BackupCheck,
    /// Reads that failed, said at most once every [`WARN_EVERY`].
    read_warning: Hush,
    /// Waterings that failed, said at most once every [`WARN_EVERY`].
    watering_warning: Hush,
}

/// The watering controller.
pub struct Controller {
    plants: Vec<PlantCare>,
    climate: SensorSvc,
    min_quality: f64,
    health: HealthRegistry,
    pulse: Arc<Pulse>,
    climate_warning: Mutex<Hush>,
    read_every: Duration,
    counts: Arc<Counts>,
}

/// "day", "week" or "N hours".
fn describe(span: Duration) -> String {
    match span.as_secs() {
        86_400 => "day".to_string(),
        604_800 => "week".to_string(),
        seconds => format!("{} hours", seconds / 3600),
    }
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("plants", &self.plants.len())
            .finish_non_exhaustive()
    }
}

/// The policy `what`, or an error saying the document has none.
fn need<T>(policy: Option<T>, what: &str) -> Result<T, BoxError> {
    policy.ok_or_else(|| format!("policies.{what}: the controller needs this policy").into())
}

/// Trusted dry readings in a row that call for water.
const DRY_READINGS: u32 = 2;

/// Where in its band a plant is watered: this share of the way from `min_moisture` to
/// `max_moisture`. Watering above the bottom keeps a margin for a probe's error, and
/// keeps a pot wet enough that its drying tells the probe's drift.
pub const WATER_AT: f64 = 0.3;

/// How long a plant may go without a trustworthy reading before it is flagged as one
/// that cannot be cared for.
pub const UNTRUSTED_FOR: Duration = Duration::from_secs(12 * 3600);

/// How long a watering soaks in before the plant is judged again.
const SOAK: Duration = Duration::from_secs(30 * 60);

impl Controller {
    /// The health registry (breakers per device, the controller itself, its disk and,
    /// on a Raspberry Pi, its SoC's temperature).
    pub fn health(&self) -> &HealthRegistry {
        &self.health
    }

    /// Marks a care loop as running until the returned heartbeat is dropped: from then
    /// on the liveness check fails (at once, where it would otherwise wait for the
    /// rounds of care to age).
    pub fn heartbeat(&self) -> Heartbeat {
        Pulse::heartbeat(&self.pulse)
    }

    /// Whether a care loop has run and ended, and why.
    pub fn loop_ended(&self) -> Option<String> {
        self.pulse.ended()
    }

    /// One round of care: read every plant, water those that need it.
    pub async fn tick(&self) {
        self.pulse.beat();
        let celsius = self.temperature().await;
        for care in &self.plants {
            self.care(care, celsius).await;
            // Each plant cared for is progress: a round over many plants that each
            // water in turn is not mistaken for a loop that hangs.
            self.pulse.beat();
        }
    }

    async fn temperature(&self) -> f64 {
        let mut climate = self.climate.clone();
        let read = async { climate.ready().await?.call(()).await };
        match read.await {
            Ok(readings) => {
                self.climate_warning.lock().clear();
                readings
                    .iter()
                    .find(|r| r.kind == Kind::Temperature)
                    .map_or(20.0, |r| r.value)
            }
            Err(error) => {
                if let Some(quiet) = self.climate_warning.lock().say(Instant::now()) {
                    tracing::warn!(%error, quiet, "climate read failed; assuming 20 °C");
                }
                20.0
            }
        }
    }

    async fn care(&self, care: &PlantCare, celsius: f64) {
        let id = &care.plant.id;
        let mut read = care.read.clone();
        let reading = match async { read.ready().await?.call(()).await }.await {
            Ok(mut readings) if !readings.is_empty() => {
                care.state.lock().read_warning.clear();
                readings.remove(0)
            }
            Ok(_) => return,
            Err(error) => {
                let said = care.state.lock().read_warning.say(Instant::now());
                if let Some(quiet) = said {
                    tracing::warn!(plant = %id, %error, quiet, "no reading");
                }
                care.refresh_attention(None);
                return;
            }
        };
        let now = Instant::now();
        // The last good reading served again is as old as the round it was read in;
        // a fresh one was read just now.
        let source = if now.saturating_duration_since(reading.at) >= self.read_every / 2 {
            Source::LastGood
        } else if reading.sensor.as_str().starts_with("soil-backup:") {
            Source::Backup
        } else {
            Source::Probe
        };
        let trusted = reading.quality >= self.min_quality && source != Source::LastGood;
        let (soaking, correction) = {
            let mut state = care.state.lock();
            state.readings += 1;
            state.source = Some(source);
            if trusted {
                state.last_trusted = Some(now);
            }
            // Only the probe's own readings tell its drift.
            let own = (trusted && source == Source::Probe).then_some(reading.value);
            let correction = care
                .calibration
                .as_ref()
                .and_then(|_| state.drift.observe(now, celsius, own));
            state.history.record(Sample {
                at: now,
                moisture: reading.value,
                quality: reading.quality,
                source,
                breaker_open: care.sensor_breaker.state() == BreakerState::Open,
            });
            state.last = Some(reading.clone());
            let soaking = state
                .last_watering
                .is_some_and(|at| now.saturating_duration_since(at) < SOAK);
            (soaking, correction)
        };
        care.recalibrate(correction);
        if trusted && source == Source::Probe {
            care.state.lock().rise.observe(now, reading.value);
            self.compare_backup(care, now, reading.value).await;
        }
        care.refresh_attention(None);
        if reading.quality < self.min_quality {
            // An untrusted reading (a backup's, a stale one, one near the edge of the
            // calibration) neither counts toward watering nor breaks a run of trusted
            // ones.
            tracing::info!(plant = %id, moisture = reading.value, quality = reading.quality, "reading not trusted: no decision");
            return;
        }
        let (low, high) = (care.plant.min_moisture, care.plant.max_moisture);
        let dry = reading.value < low + WATER_AT * (high - low);
        {
            // Water only on two trusted dry readings in a row, outside a soak: a single
            // one may be a glitch of the probe, and readings during a soak do not yet
            // show the water.
            let mut state = care.state.lock();
            if soaking {
                state.dry_streak = 0;
                return;
            }
            state.dry_streak = if dry { state.dry_streak + 1 } else { 0 };
            if state.dry_streak < DRY_READINGS {
                return;
            }
            state.dry_streak = 0;
        }
        // Warmer air: a little more water; cooler: a little less.
        let factor = (1.0 + 0.03 * (celsius - 20.0)).clamp(0.7, WARMEST_DOSE_FACTOR);
        let dose = (f64::from(care.plant.dose_ml) * factor).round() as u32;
        let Ok(ml) = Millilitres::new(dose.clamp(1, plantos_hal::MAX_DISPENSE.get())) else {
            return;
        };
        tracing::info!(plant = %id, moisture = reading.value, %ml, "watering");
        let mut water = care.water.clone();
        let outcome = async { water.ready().await?.call(ml).await }.await;
        let mut result = None;
        match outcome {
            Ok(done) => {
                let mut state = care.state.lock();
                let at = Instant::now();
                state.waterings += 1;
                state.watered_ml += done.ml;
                state.last_watering = Some(at);
                state.history.watered(at, done.ml);
                state.rise.watered(at, reading.value, done.ml);
                state.watering_warning.clear();
                let correction = care
                    .calibration
                    .as_ref()
                    .and_then(|_| state.drift.watered(at));
                drop(state);
                care.recalibrate(correction);
                result = Some(Ok(()));
            }
            Err(Error::Rejected(Rejection::RateLimited { retry_after, .. })) => {
                tracing::info!(plant = %id, ?retry_after, "watering limit reached");
            }
            Err(Error::Rejected(Rejection::CircuitOpen { .. })) => {
                tracing::warn!(plant = %id, "the pump's breaker is open");
            }
            Err(Error::Inner(error)) if error.kind() == ErrorKind::Refused => {
                tracing::info!(plant = %id, %error, "the pump refused");
            }
            Err(error) => {
                // A timeout or a relay error may have let some water through: let it
                // soak before judging the plant again.
                let said = care.state.lock().watering_warning.say(Instant::now());
                if let Some(quiet) = said {
                    tracing::warn!(plant = %id, %error, quiet, "watering failed");
                }
                care.state.lock().last_watering = Some(Instant::now());
                result = Some(Err(format!("watering failed: {error}")));
            }
        }
        care.refresh_attention(result);
    }

    /// Once an hour, reads the backup probe beside the probe's trusted reading `probe`
    /// and shifts the backup's readings when a dozen comparisons agree it reads off.
    async fn compare_backup(&self, care: &PlantCare, now: Instant, probe: f64) {
        let Some((backup, calibration)) = &care.backup else {
            return;
        };
        if !care.state.lock().backup_check.due(now) {
            return;
        }
        let mut backup = backup.clone();
        let Ok(readings) = async { backup.ready().await?.call(()).await }.await else {
            return;
        };
        let Some(reading) = readings
            .first()
            .filter(|reading| reading.quality >= self.min_quality)
        else {
            return;
        };
        let shift = care
            .state
            .lock()
            .backup_check
            .compare(now, probe, reading.value);
        if let Some(shift) = shift {
            let shifted = calibration.shift(shift);
            tracing::info!(plant = %care.plant.id, shift, shifted, "backup probe matched to the probe");
        }
    }

    /// What every plant's stacks did since the controller was built.
    pub fn totals(&self) -> Totals {
        self.counts.totals()
    }

    /// Every plant's status.
    pub fn status(&self) -> Vec<PlantStatus> {
        let now = Instant::now();
        self.plants
            .iter()
            .map(|care| {
                let state = care.state.lock();
                PlantStatus {
                    id: care.plant.id.clone(),
                    moisture: state.last.as_ref().map(|r| r.value),
                    quality: state.last.as_ref().map(|r| r.quality),
                    reading_age_s: state
                        .last
                        .as_ref()
                        .map(|r| now.saturating_duration_since(r.at).as_secs_f64()),
                    waterings: state.waterings,
                    watered_ml: state.watered_ml,
                    last_watering_s: state
                        .last_watering
                        .map(|at| now.saturating_duration_since(at).as_secs_f64()),
                    sensor_breaker: care.sensor_breaker.state().to_string(),
                    pump_breaker: care.pump_breaker.state().to_string(),
                    needs_attention: state.needs_attention.clone(),
                    min_moisture: care.plant.min_moisture,
                    max_moisture: care.plant.max_moisture,
                    readings: state.readings,
                    source: state.source,
                    drift_correction: state.drift.correction(),
                    backup_correction: state.backup_check.shift(),
                }
            })
            .collect()
    }

    /// The chart of plant `id`'s last `span` as SVG (its moisture over its target band,
    /// its waterings, and where its breaker was open or the last good reading served),
    /// or `None` when there is no such plant.
    ///
    /// # Errors
    ///
    /// A drawing error.
    pub fn chart(&self, id: &str, span: Duration) -> Option<Result<String, crate::Error>> {
        let care = self.plants.iter().find(|care| care.plant.id == id)?;
        let band = (care.plant.min_moisture, care.plant.max_moisture);
        let line = care
            .state
            .lock()
            .history
            .line(id, band, Instant::now(), span);
        let hours = span.as_secs_f64() / 3600.0;
        let frame = Frame {
            title: format!("{id}: the last {}", describe(span)),
            hours: (-hours, 0.0),
            size: (640, 260),
        };
        Some(chart::svg(&frame, &[line]))
    }
}

mod build;
mod system;
mod totals;
