//! [`Pump`]: a relay-driven pump or valve with safety rules.

use std::collections::VecDeque;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use embedded_hal::digital::OutputPin;
use hardy_core::{ConfigError, Validate};
use tokio::time::Instant;

use crate::{DeviceError, ErrorKind, Millilitres, PumpId};

/// The pump's flow unless set: 20 ml/s.
pub const DEFAULT_FLOW_ML_PER_S: f64 = 20.0;
/// The longest one run may last unless set: 60 s.
pub const DEFAULT_MAX_RUN: Duration = Duration::from_secs(60);
/// The rest between two runs unless set: 5 minutes.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(300);
/// The most the pump may deliver in any 24 hours unless set: 2 litres.
pub const DEFAULT_DAILY_BUDGET_ML: u32 = 2_000;
/// How often the tank interlock is read during a run unless set: 500 ms.
pub const DEFAULT_INTERLOCK_EVERY: Duration = Duration::from_millis(500);

/// The flows a pump may be calibrated to, ml/s: below, the largest dose would take days;
/// above, no hobby pump or valve delivers.
pub const FLOW_ML_PER_S_RANGE: RangeInclusive<f64> = 0.01..=10_000.0;
/// The runs a pump may be allowed: from a millisecond to an hour.
pub const MAX_RUN_RANGE: RangeInclusive<Duration> =
    Duration::from_millis(1)..=Duration::from_secs(3600);
/// The longest rest between two runs: a week (longer cannot be added to a clock
/// reading safely, and waters nothing).
pub const MAX_COOLDOWN: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often the interlock may be read during a run: from every 10 ms to every minute.
pub const INTERLOCK_EVERY_RANGE: RangeInclusive<Duration> =
    Duration::from_millis(10)..=Duration::from_secs(60);

/// The safety rules and calibration of a [`Pump`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct PumpConfig {
    /// Millilitres a second the pump delivers (calibrate by timing a measured volume).
    ///
    /// Default: [`DEFAULT_FLOW_ML_PER_S`] (20 ml/s).
    pub flow_ml_per_s: f64,
    /// The longest one run may last; a dispense that would take longer is refused.
    ///
    /// Default: [`DEFAULT_MAX_RUN`] (60 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub max_run: Duration,
    /// The rest after a run before the next may start.
    ///
    /// Default: [`DEFAULT_COOLDOWN`] (5 min).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub cooldown: Duration,
    /// The most the pump may deliver in any 24 hours, in millilitres.
    ///
    /// Default: [`DEFAULT_DAILY_BUDGET_ML`] (2,000 ml).
    pub daily_budget_ml: u32,
    /// How often the tank interlock, if any, is read during a run.
    ///
    /// Default: [`DEFAULT_INTERLOCK_EVERY`] (500 ms).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub interlock_every: Duration,
}

impl Default for PumpConfig {
    fn default() -> Self {
        PumpConfig {
            flow_ml_per_s: DEFAULT_FLOW_ML_PER_S,
            max_run: DEFAULT_MAX_RUN,
            cooldown: DEFAULT_COOLDOWN,
            daily_budget_ml: DEFAULT_DAILY_BUDGET_ML,
            interlock_every: DEFAULT_INTERLOCK_EVERY,
        }
    }
}

impl PumpConfig {
    /// Checks every setting; the error names the pump, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range ([`problems`](Self::problems)
    /// lists them all).
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        match self.problems(name).into_iter().next() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Every setting out of range, each naming the pump, the field and the value:
    /// a flow outside [`FLOW_ML_PER_S_RANGE`] (not a finite number, or so small that a
    /// dose would take days), a `max_run` outside [`MAX_RUN_RANGE`], a `cooldown` past
    /// [`MAX_COOLDOWN`], a zero `daily_budget_ml`, an `interlock_every` outside
    /// [`INTERLOCK_EVERY_RANGE`].
    #[must_use]
    pub fn problems(&self, name: &str) -> Vec<ConfigError> {
        let check = Validate::new("pump", name);
        let flow = check
            .positive("flow_ml_per_s", self.flow_ml_per_s)
            .and_then(|()| check.within("flow_ml_per_s", self.flow_ml_per_s, FLOW_ML_PER_S_RANGE));
        [
            flow,
            check.within("max_run", self.max_run, MAX_RUN_RANGE),
            check.within("cooldown", self.cooldown, Duration::ZERO..=MAX_COOLDOWN),
            check.non_zero("daily_budget_ml", self.daily_budget_ml),
            check.within(
                "interlock_every",
                self.interlock_every,
                INTERLOCK_EVERY_RANGE,
            ),
        ]
        .into_iter()
        .filter_map(Result::err)
        .collect()
    }

    /// How long delivering `ml` takes at the calibrated flow ([`Duration::MAX`] when the
    /// flow is not a usable number, so that the run is refused as too long).
    #[must_use]
    pub fn run_time(&self, ml: Millilitres) -> Duration {
        Duration::try_from_secs_f64(f64::from(ml.get()) / self.flow_ml_per_s)
            .unwrap_or(Duration::MAX)
    }
}

/// A tank-level interlock: whether there is water to pump. Read before a run and
/// during it; a pump never runs dry.
pub trait Interlock: Send {
    /// Whether the tank has water.
    ///
    /// # Errors
    ///
    /// A device error reading the level: the pump then refuses to run (or stops).
    fn has_water(&mut self) -> Result<bool, DeviceError>;
}

impl<F> Interlock for F
where
    F: FnMut() -> Result<bool, DeviceError> + Send,
{
    fn has_water(&mut self) -> Result<bool, DeviceError> {
        self()
    }
}

/// What one dispense delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispensed {
    /// Millilitres delivered (by the calibration: flow × time).
    pub ml: u32,
    /// How long the pump ran.
    pub ran: Duration,
}

/// A pump (or valve) switched by a relay on an output pin, with safety rules that
/// hold whatever the caller asks:
///
/// - a run never exceeds `max_run` (a dispense that would is refused);
/// - runs are `cooldown` apart;
/// - at most `daily_budget_ml` in any 24 hours;
/// - with an interlock, it never starts without water and stops when the tank runs dry;
/// - the relay is switched off on every exit path: the end of the run, an error, the
///   future being dropped (cancelled, timed out), a panic.
///
/// Time is Tokio's, so paused-time tests and the simulation see every rule.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use plantos_hal::{Millilitres, Pump, PumpConfig, sim::SimPin};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let relay = SimPin::new();
/// let mut pump = Pump::new("pump-1", relay.clone(), PumpConfig::default())?;
/// let start = tokio::time::Instant::now();
/// let done = pump.dispense(Millilitres::new(100)?).await?;
/// assert_eq!(done.ml, 100);
/// assert_eq!(start.elapsed(), Duration::from_secs(5)); // 100 ml at 20 ml/s
/// assert!(!relay.is_high(), "off after the run");
/// assert!(pump.dispense(Millilitres::new(100)?).await.is_err(), "cooling down");
/// # Ok(())
/// # }
/// ```
pub struct Pump<P> {
    id: PumpId,
    relay: P,
    config: PumpConfig,
    interlock: Option<Box<dyn Interlock>>,
    /// When each run of the last 24 hours ended, and what it delivered.
    history: VecDeque<(Instant, u32)>,
    last_end: Option<Instant>,
}

impl<P> fmt::Debug for Pump<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pump")
            .field("id", &self.id)
            .field("config", &self.config)
            .field("interlock", &self.interlock.is_some())
            .finish_non_exhaustive()
    }
}

const DAY: Duration = Duration::from_secs(24 * 3600);

impl<P: OutputPin> Pump<P> {
    /// A pump on `relay` (high = running). The relay is switched off at once.
    ///
    /// # Errors
    ///
    /// A [`DeviceError`] for a bad config (kind [`ErrorKind::Other`], naming the field)
    /// or a relay that cannot be switched off.
    pub fn new(
        id: impl Into<PumpId>,
        mut relay: P,
        config: PumpConfig,
    ) -> Result<Self, DeviceError> {
        let id = id.into();
        config
            .validate(id.as_str())
            .map_err(|error| DeviceError::new(ErrorKind::Other, id.as_str(), error.to_string()))?;
        relay
            .set_low()
            .map_err(|error| DeviceError::pin(id.as_str(), &error))?;
        Ok(Pump {
            id,
            relay,
            config,
            interlock: None,
            history: VecDeque::new(),
            last_end: None,
        })
    }

    /// Reads `interlock` before and during every run.
    #[must_use]
    pub fn with_interlock(mut self, interlock: impl Interlock + 'static) -> Self {
        self.interlock = Some(Box::new(interlock));
        self
    }

    /// The pump's id.
    #[must_use]
    pub fn id(&self) -> &PumpId {
        &self.id
    }

    /// The pump's rules.
    #[must_use]
    pub fn config(&self) -> &PumpConfig {
        &self.config
    }

    /// Millilitres delivered in the last 24 hours.
    #[must_use]
    pub fn delivered_today(&mut self) -> u32 {
        self.forget_old(Instant::now());
        self.history
            .iter()
            .fold(0u32, |total, (_, ml)| total.saturating_add(*ml))
    }

    /// Delivers `ml`, if every rule allows.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Refused`] when a rule refuses (the run would pass `max_run`, the
    /// pump is cooling down, the daily budget would be passed, the tank is empty) or the
    /// tank runs dry during the run (what was delivered still counts); a relay or
    /// interlock error otherwise. The relay is off whenever this returns.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future switches the relay off at once. A run cut short this way (or
    /// by an error) counts in full against the daily budget and starts the cooldown as
    /// if it had run to its end: the rules can over-count, never under-count.
    pub async fn dispense(&mut self, ml: Millilitres) -> Result<Dispensed, DeviceError> {
        let now = Instant::now();
        let run = self.config.run_time(ml);
        if run > self.config.max_run {
            return Err(self.refuse(format!(
                "{ml} takes {run:?}, more than the {:?} a run may last",
                self.config.max_run
            )));
        }
        if let Some(end) = self.last_end {
            // A cooldown too long to add to the clock never ends.
            let rested = end.checked_add(self.config.cooldown);
            if rested.is_none_or(|rested| now < rested) {
                let left = rested.map_or(Duration::MAX, |rested| rested - now);
                return Err(self.refuse(format!("cooling down for {left:?} more")));
            }
        }
        let today = self.delivered_today();
        if u64::from(today) + u64::from(ml.get()) > u64::from(self.config.daily_budget_ml) {
            return Err(self.refuse(format!(
                "{ml} would pass the daily budget: {today} of {} ml delivered",
                self.config.daily_budget_ml
            )));
        }
        self.check_water()?;
        let started = Instant::now();
        // Count the whole run before it starts: a run cut short by cancellation, a
        // timeout or an error still counts in full against the budget and the
        // cooldown. A run that ends normally (or runs dry) is then corrected to what
        // it delivered.
        self.history.push_back((started + run, ml.get()));
        self.last_end = Some(started + run);
        let id = self.id.clone();
        let mut relay = Relay::on(&id, &mut self.relay)?;
        let deadline = started + run;
        let mut dry = false;
        while Instant::now() < deadline {
            let slice = self.config.interlock_every.min(deadline - Instant::now());
            tokio::time::sleep(slice).await;
            if let Some(interlock) = &mut self.interlock {
                match interlock.has_water() {
                    Ok(true) => {}
                    Ok(false) => {
                        dry = true;
                        break;
                    }
                    Err(error) => {
                        relay.off()?;
                        return Err(error);
                    }
                }
            }
        }
        relay.off()?;
        drop(relay);
        let end = Instant::now();
        let ran = end - started;
        let delivered =
            ((ran.as_secs_f64() * self.config.flow_ml_per_s).round() as u32).min(ml.get());
        if let Some(entry) = self.history.back_mut() {
            *entry = (end, delivered);
        }
        self.last_end = Some(end);
        if dry {
            return Err(self.refuse(format!("the tank ran dry after {delivered} of {ml}")));
        }
        Ok(Dispensed { ml: delivered, ran })
    }

    fn check_water(&mut self) -> Result<(), DeviceError> {
        if let Some(interlock) = &mut self.interlock
            && !interlock.has_water()?
        {
            return Err(self.refuse("the tank is empty".to_string()));
        }
        Ok(())
    }

    fn refuse(&self, message: String) -> DeviceError {
        DeviceError::new(ErrorKind::Refused, self.id.as_str(), message)
    }

    fn forget_old(&mut self, now: Instant) {
        while self
            .history
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= DAY)
        {
            self.history.pop_front();
        }
    }

    /// The relay pin, taken out (switched off first).
    ///
    /// # Errors
    ///
    /// A relay that cannot be switched off.
    pub fn into_relay(mut self) -> Result<P, (P, DeviceError)> {
        match self.relay.set_low() {
            Ok(()) => Ok(self.relay),
            Err(error) => {
                let error = DeviceError::pin(self.id.as_str(), &error);
                Err((self.relay, error))
            }
        }
    }
}

/// The relay while the pump runs: switched off when dropped, on every path.
struct Relay<'a, P: OutputPin> {
    id: &'a PumpId,
    pin: Option<&'a mut P>,
}

impl<'a, P: OutputPin> Relay<'a, P> {
    fn on(id: &'a PumpId, pin: &'a mut P) -> Result<Self, DeviceError> {
        if let Err(error) = pin.set_high() {
            // It may have half-switched: make sure it is off.
            let _ = pin.set_low();
            return Err(DeviceError::pin(id.as_str(), &error));
        }
        Ok(Relay { id, pin: Some(pin) })
    }

    /// Switches the relay off. On failure the guard keeps the pin, so that dropping it
    /// tries again.
    fn off(&mut self) -> Result<(), DeviceError> {
        match self.pin.as_mut() {
            Some(pin) => match pin.set_low() {
                Ok(()) => {
                    self.pin = None;
                    Ok(())
                }
                Err(error) => Err(DeviceError::pin(self.id.as_str(), &error)),
            },
            None => Ok(()),
        }
    }
}

impl<P: OutputPin> Drop for Relay<'_, P> {
    fn drop(&mut self) {
        if let Some(pin) = self.pin.take() {
            // Nothing to report to on this path: try a few times.
            for _ in 0..3 {
                if pin.set_low().is_ok() {
                    break;
                }
            }
        }
    }
}
