//! `plant-care`: a watering controller built only from Hardy.
//!
//! ```text
//! plant-care simulate --days 7 [--seed S] [--faults none|mild|harsh] [--out DIR]
//! plant-care run [--config FILE]
//! plant-care check-config FILE
//! plant-care doctor [--config FILE]
//! plant-care pumps-off [--config FILE]
//! ```

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tower::{Service, ServiceExt};

use plant_care::config::Config;
use plant_care::hardware::{self, Faults};
use plant_care::pumps_off::{self, PumpLines};
use plant_care::{controller, daemon, simulate};

#[derive(Debug, Parser)]
#[command(
    name = "plant-care",
    version,
    about = "A watering controller built only from Hardy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs days of the simulated garden on paused time and prints a report.
    Simulate {
        /// Simulated days (1 to 3650: ten years).
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=i64::from(simulate::MAX_DAYS)))]
        days: u32,
        /// The seed of the garden and its faults (default: the config's).
        #[arg(long)]
        seed: Option<u64>,
        /// How faulty the simulated devices are.
        #[arg(long, value_enum, default_value_t = Faults::Mild)]
        faults: Faults,
        /// Where to write the chart (moisture.svg).
        #[arg(long, default_value = "target/plant-care")]
        out: PathBuf,
        /// The config (default: the built-in garden).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Runs the controller in real time, serving /health, /metrics and /plants, until
    /// SIGTERM or SIGINT (then the care loop stops first, every pump off).
    Run {
        /// The config (default: the built-in simulated garden).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Checks a config file and lists every error.
    CheckConfig {
        /// The config.
        file: PathBuf,
    },
    /// Switches every configured pump off (the failsafe run after any exit).
    PumpsOff {
        /// The config (default: the built-in simulated garden).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Reads each configured device once and says how it is.
    Doctor {
        /// The config (default: the built-in simulated garden).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn load(path: Option<&PathBuf>) -> Result<Config, Failure> {
    let config = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            Config::from_toml(&text).map_err(|error| format!("{}: {error}", path.display()))?
        }
        None => Config::default(),
    };
    config.validate().map_err(plant_care::Error::Config)?;
    Ok(config)
}

/// Why a command did not finish.
#[derive(Debug)]
enum Failure {
    /// Said to the user, and the exit status is a failure.
    Said(String),
    /// Whoever read the standard output stopped reading (`| head`): nothing to say.
    Unread,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Said(message)
    }
}

impl From<plant_care::Error> for Failure {
    fn from(error: plant_care::Error) -> Self {
        Failure::Said(error.to_string())
    }
}

/// Writes `text` to the standard output. A reader that went away is not an error to
/// report; a full disk is.
fn say(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::Unread),
        Err(error) => Err(Failure::Said(format!("standard output: {error}"))),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(Cli::parse().command) {
        Ok(()) | Err(Failure::Unread) => ExitCode::SUCCESS,
        Err(Failure::Said(error)) => {
            let _ = writeln!(std::io::stderr(), "plant-care: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Simulate {
            days,
            seed,
            faults,
            out,
            config,
        } => {
            let mut config = load(config.as_ref())?;
            if let Some(seed) = seed {
                config.seed = seed;
            }
            // The chart's file first: a bad --out fails before the simulation runs.
            let chart = simulate::Chart::create(&out).map_err(|error| format!("--out {error}"))?;
            let report = simulate::run(&config, days, faults, true)?;
            let path = chart.write(&report)?;
            say(&report.text())?;
            say(&format!("\nchart: {}\n", path.display()))
        }
        Command::Run { config } => serve(load(config.as_ref())?),
        Command::CheckConfig { file } => {
            load(Some(&file))?;
            say(&format!("{}: valid\n", file.display()))
        }
        Command::Doctor { config } => doctor(&load(config.as_ref())?),
        Command::PumpsOff { config } => {
            let found = match &config {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|error| format!("{}: {error}", path.display()))?;
                    pumps_off::pump_lines(&text)
                }
                None => PumpLines::default(),
            };
            pumps_off(&found)
        }
    }
}

/// Completes at the first SIGTERM (what `systemctl stop` sends) or SIGINT (Ctrl-C).
async fn stop_signal() -> Result<(), String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term =
            signal(SignalKind::terminate()).map_err(|error| format!("SIGTERM: {error}"))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(|error| format!("SIGINT: {error}"))?;
        let which = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = which, "stopping");
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .map_err(|error| format!("Ctrl-C: {error}"))
    }
}

fn serve(config: Config) -> Result<(), Failure> {
    let runtime = tokio::runtime::Runtime::new().map_err(|error| error.to_string())?;
    let served = runtime.block_on(async {
        // Signals are caught from the start: a stop during start-up is a clean stop too.
        let (stopped, stop) = tokio::sync::oneshot::channel::<Result<(), String>>();
        tokio::spawn(async move {
            let _ = stopped.send(stop_signal().await);
        });
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .map_err(|error| error.to_string())?;
        let address = config
            .server
            .address()
            .map_err(|problem| problem.to_string())?;
        let hardware = hardware::build(&config, Faults::Mild).map_err(|error| error.to_string())?;
        let controller =
            controller::Controller::new(&config, hardware).map_err(|error| error.to_string())?;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|error| format!("server.listen = {:?}: {error}", config.server.listen))?;
        let bound = listener.local_addr().map_err(|error| error.to_string())?;
        let _ = writeln!(std::io::stderr(), "plant-care: serving on http://{bound}");
        daemon::run(&config, controller, listener, metrics, async {
            match stop.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::error!(%error, "cannot listen for signals: stopping");
                }
                Err(_) => std::future::pending().await,
            }
        })
        .await
        .map_err(|error| error.to_string())
    });
    // Dropping the runtime drops every task left, and with them the pumps' lines; a
    // device read hung on a blocking thread is not waited for long.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    let failsafe = if config.backend == plant_care::config::Backend::Linux {
        let lines = config
            .plants
            .iter()
            .filter_map(|plant| Some((plant.id.clone(), plant.pump_line.clone()?)))
            .collect();
        pumps_off(&PumpLines {
            linux: true,
            lines,
            warnings: Vec::new(),
        })
    } else {
        Ok(())
    };
    match (served, failsafe) {
        (Ok(()), Ok(())) => {
            let _ = writeln!(std::io::stderr(), "plant-care: stopped, every pump off");
            Ok(())
        }
        (Ok(()), Err(failsafe)) => Err(failsafe),
        (Err(served), Ok(())) => Err(Failure::Said(served)),
        // Both: the operator must hear of the pumps too.
        (Err(served), Err(Failure::Said(failsafe))) => {
            Err(Failure::Said(format!("{served}\n{failsafe}")))
        }
        (Err(served), Err(Failure::Unread)) => Err(Failure::Said(served)),
    }
}

fn pumps_off(found: &PumpLines) -> Result<(), Failure> {
    for warning in &found.warnings {
        let _ = writeln!(std::io::stderr(), "plant-care: pumps-off: {warning}");
    }
    if !found.linux {
        return say("simulated backend: no pumps to switch off\n");
    }
    let report = pumps_off::switch_off_all(found, switch_off);
    match report {
        Ok(lines) => say(&(lines.join("\n") + "\n")),
        Err(report) => Err(Failure::Said(format!("pumps-off:\n{report}"))),
    }
}

/// Switches one GPIO line off: requesting it as an output drives it low, and the relay
/// opens.
#[cfg(feature = "linux")]
fn switch_off(line: &str) -> Result<(), String> {
    plantos_hal::linux::output_line(line, "plant-care-failsafe")
        .map(drop)
        .map_err(|error| error.to_string())
}

#[cfg(not(feature = "linux"))]
fn switch_off(_: &str) -> Result<(), String> {
    Err("this binary has no GPIO support: build it with `--features linux`".to_string())
}

/// Says one device's check: its readings, or why it failed. Returns whether it worked.
fn report<E: std::fmt::Display>(
    who: &str,
    what: &str,
    result: Result<Vec<plantos_hal::Reading>, E>,
) -> Result<bool, Failure> {
    match result {
        Ok(readings) => {
            let values: Vec<String> = readings
                .iter()
                .map(|r| format!("{:.1} {}", r.value, r.unit))
                .collect();
            say(&format!("{who:<8} {what:<12} ok: {}\n", values.join(", ")))?;
            Ok(true)
        }
        Err(error) => {
            say(&format!("{who:<8} {what:<12} FAILED: {error}\n"))?;
            Ok(false)
        }
    }
}

/// Reads a sensor service once.
async fn read_once(
    mut sensor: hardware::SensorSvc,
) -> Result<Vec<plantos_hal::Reading>, hardy::core::Error<plantos_hal::DeviceError>> {
    sensor.ready().await?.call(()).await
}

fn doctor(config: &Config) -> Result<(), Failure> {
    let runtime = tokio::runtime::Runtime::new().map_err(|error| error.to_string())?;
    runtime.block_on(async {
        let hardware = hardware::build(config, Faults::None).map_err(|error| error.to_string())?;
        let mut failed = 0;
        for (plant, devices) in config.plants.iter().zip(hardware.plants) {
            let mut probes = vec![("probe", devices.probe)];
            if let Some(backup) = devices.backup {
                probes.push(("backup probe", backup));
            }
            for (what, probe) in probes {
                if !report(&plant.id, what, read_once(probe).await)? {
                    failed += 1;
                }
            }
            say(&format!(
                "{:<8} {:<12} configured (not run by the doctor)\n",
                plant.id, "pump"
            ))?;
        }
        if !report("garden", "climate", read_once(hardware.climate).await)? {
            failed += 1;
        }
        if failed == 0 {
            Ok(())
        } else {
            Err(Failure::Said(format!("{failed} devices failed")))
        }
    })
}
