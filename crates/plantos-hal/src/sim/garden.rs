//! [`Garden`]: a seeded model of pots, weather and water, on Tokio's clock.

use std::f64::consts::TAU;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::{Climate, SimPin, Source};
use crate::PlantId;

/// One potted plant of a simulated garden.
#[derive(Debug, Clone, PartialEq)]
pub struct PotModel {
    /// The plant.
    pub plant: PlantId,
    /// Soil moisture at the start, within `0..=1` (0 dry, 1 saturated).
    pub moisture: f64,
    /// Moisture the plant takes up (and the pot loses) an hour at 20 °C.
    pub uptake_per_hour: f64,
    /// Millilitres that take the soil from dry to saturated.
    pub capacity_ml: f64,
    /// How long water takes to soak in before the probe sees it.
    pub soak: Duration,
}

impl PotModel {
    /// A pot for `plant` with middling soil: 60 % moist, 0.8 % taken up an hour,
    /// 1.5 litres from dry to wet, 10 minutes to soak in.
    pub fn new(plant: impl Into<PlantId>) -> Self {
        PotModel {
            plant: plant.into(),
            moisture: 0.6,
            uptake_per_hour: 0.008,
            capacity_ml: 1_500.0,
            soak: Duration::from_secs(600),
        }
    }
}

/// The weather of a simulated garden: a day cycle of temperature, humidity and light.
#[derive(Debug, Clone, PartialEq)]
pub struct Weather {
    /// The mean temperature, °C.
    pub mean_celsius: f64,
    /// Half the swing between night and day, °C.
    pub swing_celsius: f64,
    /// The mean relative humidity, % (lower when warmer).
    pub mean_humidity: f64,
    /// Illuminance at noon, lux.
    pub noon_lux: f64,
    /// The hour of day the simulation starts at.
    pub start_hour: f64,
}

impl Default for Weather {
    fn default() -> Self {
        Weather {
            mean_celsius: 21.0,
            swing_celsius: 4.0,
            mean_humidity: 50.0,
            noon_lux: 20_000.0,
            start_hour: 6.0,
        }
    }
}

/// The step the model integrates in: the state changes once a minute.
const STEP: Duration = Duration::from_secs(60);

/// A simulated garden: pots whose soil dries with time, temperature and the plant's
/// uptake and gets wetter with water (after it soaks in), a day cycle of temperature,
/// humidity and light, and small seeded noise on every sensor reading. It runs on
/// Tokio's clock: on paused time a simulated week passes in moments, and the same seed
/// with the same calls gives the same trace.
///
/// Pumps are connected by their relay pin: while the pin is high, water flows into the
/// pot at the pump's flow.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use plantos_hal::sim::{Garden, PotModel, Weather};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let garden = Garden::new(7, Weather::default(), vec![PotModel::new("basil")]);
/// let before = garden.moisture(&"basil".into()).expect("a pot");
/// tokio::time::advance(Duration::from_secs(24 * 3600)).await;
/// let after = garden.moisture(&"basil".into()).expect("a pot");
/// assert!(after < before, "a day without water dries the soil");
/// # }
/// ```
#[derive(Clone)]
pub struct Garden {
    inner: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Garden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("Garden")
            .field("pots", &state.pots.len())
            .field("at", &state.at)
            .finish_non_exhaustive()
    }
}

struct Pot {
    model: PotModel,
    moisture: f64,
    soaking: Vec<(Instant, f64)>,
    pumps: Vec<(SimPin, f64, Duration)>,
}

struct State {
    weather: Weather,
    start: Instant,
    at: Instant,
    rng: SmallRng,
    pots: Vec<Pot>,
}

impl Garden {
    /// A garden of `pots` under `weather`, its noise seeded with `seed`, starting now.
    #[must_use]
    pub fn new(seed: u64, weather: Weather, pots: Vec<PotModel>) -> Self {
        let now = Instant::now();
        Garden {
            inner: Arc::new(Mutex::new(State {
                weather,
                start: now,
                at: now,
                rng: SmallRng::seed_from_u64(seed),
                pots: pots
                    .into_iter()
                    .map(|model| Pot {
                        moisture: model.moisture.clamp(0.0, 1.0),
                        model,
                        soaking: Vec::new(),
                        pumps: Vec::new(),
                    })
                    .collect(),
            })),
        }
    }

    /// Waters `plant`'s pot from `relay`: while it is high, `flow_ml_per_s` flows in.
    /// Returns whether the garden has that plant.
    pub fn connect_pump(&self, plant: &PlantId, relay: SimPin, flow_ml_per_s: f64) -> bool {
        let mut state = self.inner.lock();
        let now = Instant::now();
        state.advance(now);
        let seen = relay.time_high_until(state.at);
        match state.pots.iter_mut().find(|pot| &pot.model.plant == plant) {
            Some(pot) => {
                pot.pumps.push((relay, flow_ml_per_s, seen));
                true
            }
            None => false,
        }
    }

    /// Pours `ml` into `plant`'s pot now (a person with a watering can). Returns
    /// whether the garden has that plant.
    pub fn pour(&self, plant: &PlantId, ml: f64) -> bool {
        let mut state = self.inner.lock();
        let now = Instant::now();
        state.advance(now);
        match state.pots.iter_mut().find(|pot| &pot.model.plant == plant) {
            Some(pot) => {
                let soak = pot.model.soak;
                pot.soaking.push((now + soak, ml));
                true
            }
            None => false,
        }
    }

    /// `plant`'s soil moisture now, within `0..=1`, without noise.
    #[must_use]
    pub fn moisture(&self, plant: &PlantId) -> Option<f64> {
        let mut state = self.inner.lock();
        state.advance(Instant::now());
        state
            .pots
            .iter()
            .find(|pot| &pot.model.plant == plant)
            .map(|pot| pot.moisture)
    }

    /// The climate now, without noise.
    #[must_use]
    pub fn climate(&self) -> Climate {
        let state = self.inner.lock();
        state.climate(Instant::now())
    }

    /// Illuminance now, lux, without noise.
    #[must_use]
    pub fn light(&self) -> f64 {
        let state = self.inner.lock();
        let hour = state.hour(Instant::now());
        // Light from 06:00 to 18:00, brightest at noon.
        (state.weather.noon_lux * ((hour - 6.0) / 12.0 * TAU / 2.0).sin()).max(0.0)
    }

    /// What a capacitive probe in `plant`'s pot puts out, in volts: `dry_volts` in dry
    /// soil, `wet_volts` when saturated, with a little noise; for a simulated ADC input.
    #[must_use]
    pub fn probe(&self, plant: PlantId, dry_volts: f64, wet_volts: f64) -> Source<f64> {
        let garden = self.clone();
        Arc::new(move || {
            let mut state = garden.inner.lock();
            state.advance(Instant::now());
            let moisture = state
                .pots
                .iter()
                .find(|pot| pot.model.plant == plant)
                .map_or(0.0, |pot| pot.moisture);
            let noise = state.rng.random_range(-0.005..=0.005);
            dry_volts + (wet_volts - dry_volts) * moisture + noise
        })
    }

    /// What a climate sensor in the garden reads, with a little noise.
    #[must_use]
    pub fn climate_source(&self) -> Source<Climate> {
        let garden = self.clone();
        Arc::new(move || {
            let mut state = garden.inner.lock();
            let climate = state.climate(Instant::now());
            let t = state.rng.random_range(-0.05..=0.05);
            let h = state.rng.random_range(-0.3..=0.3);
            Climate {
                celsius: climate.celsius + t,
                humidity: (climate.humidity + h).clamp(0.0, 100.0),
            }
        })
    }
}

impl State {
    fn hour(&self, now: Instant) -> f64 {
        let hours = now.saturating_duration_since(self.start).as_secs_f64() / 3600.0;
        (self.weather.start_hour + hours).rem_euclid(24.0)
    }

    fn climate(&self, now: Instant) -> Climate {
        // Warmest at 15:00, coolest at 03:00.
        let phase = (self.hour(now) - 9.0) / 24.0 * TAU;
        let celsius = self.weather.mean_celsius + self.weather.swing_celsius * phase.sin();
        let humidity = (self.weather.mean_humidity - 2.0 * (celsius - self.weather.mean_celsius))
            .clamp(5.0, 100.0);
        Climate { celsius, humidity }
    }

    /// Integrates the garden up to `now`, in steps on a fixed grid from the start, so
    /// the state does not depend on when it is looked at.
    fn advance(&mut self, now: Instant) {
        while self.at + STEP <= now {
            let step = STEP;
            let mid = self.at + step / 2;
            let celsius = self.climate(mid).celsius;
            let hours = step.as_secs_f64() / 3600.0;
            let end = self.at + step;
            for pot in &mut self.pots {
                // Warmer air dries the pot faster: +5 % uptake a degree above 20 °C.
                let rate = pot.model.uptake_per_hour * (1.0 + 0.05 * (celsius - 20.0)).max(0.1);
                pot.moisture -= rate * hours * pot.moisture.clamp(0.2, 1.0);
                for (relay, flow, seen) in &mut pot.pumps {
                    let high = relay.time_high_until(end);
                    let ran = high.saturating_sub(*seen);
                    *seen = high;
                    if !ran.is_zero() {
                        pot.soaking
                            .push((end + pot.model.soak, ran.as_secs_f64() * *flow));
                    }
                }
                let capacity = pot.model.capacity_ml;
                pot.soaking.retain(|(at, ml)| {
                    if *at <= end {
                        pot.moisture += ml / capacity;
                        false
                    } else {
                        true
                    }
                });
                pot.moisture = pot.moisture.clamp(0.0, 1.0);
            }
            self.at = end;
        }
    }
}
