//! `plant-care`: a watering controller built only from Hardy.
//!
//! ```text
//! plant-care simulate --days 7 [--seed S] [--faults none|mild|harsh] [--out DIR]
//! plant-care run [--config FILE]
//! plant-care check-config FILE
//! plant-care doctor [--config FILE]
//! plant-care pumps-off [--config FILE]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tower::{Service, ServiceExt};

use plant_care::config::Config;
use plant_care::hardware::{self, Faults};
use plant_care::{controller, server, simulate};

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
        /// Simulated days.
        #[arg(long, default_value_t = 7)]
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
    /// Runs the controller in real time, serving /health, /metrics and /plants.
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

fn load(path: Option<&PathBuf>) -> Result<Config, String> {
    let config = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            Config::from_toml(&text).map_err(|error| format!("{}: {error}", path.display()))?
        }
        None => Config::default(),
    };
    config.validate().map_err(|errors| errors.join("\n"))?;
    Ok(config)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("plant-care: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
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
            let report = simulate::run(&config, days, faults, true)?;
            print!("{}", report.text());
            let chart = report
                .write_svg(&out)
                .map_err(|error| format!("{}: {error}", out.display()))?;
            println!("\nchart: {}", chart.display());
            Ok(())
        }
        Command::Run { config } => serve(load(config.as_ref())?),
        Command::CheckConfig { file } => {
            load(Some(&file))?;
            println!("{}: valid", file.display());
            Ok(())
        }
        Command::Doctor { config } => doctor(&load(config.as_ref())?),
        Command::PumpsOff { config } => pumps_off(&load(config.as_ref())?),
    }
}

fn serve(config: Config) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|error| error.to_string())?;
    runtime.block_on(async move {
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .map_err(|error| error.to_string())?;
        let hardware = hardware::build(&config, Faults::Mild).map_err(|error| error.to_string())?;
        let controller =
            controller::Controller::new(&config, hardware).map_err(|error| error.to_string())?;
        let checker = controller.health().start();
        let care = {
            let controller = controller.clone();
            let every = config.read_every;
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                loop {
                    ticks.tick().await;
                    controller.tick().await;
                }
            })
        };
        let listener = tokio::net::TcpListener::bind(&config.server.listen)
            .await
            .map_err(|error| format!("{}: {error}", config.server.listen))?;
        eprintln!("plant-care: serving on http://{}", config.server.listen);
        axum::serve(listener, server::router(controller, metrics))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|error| error.to_string())?;
        // Dropping the care task drops any watering under way: its relay goes off.
        care.abort();
        let _ = care.await;
        checker.stop().await;
        Ok(())
    })
}

#[cfg(feature = "linux")]
fn pumps_off(config: &Config) -> Result<(), String> {
    if config.backend != plant_care::config::Backend::Linux {
        println!("simulated backend: no pumps to switch off");
        return Ok(());
    }
    let mut failed = Vec::new();
    for plant in &config.plants {
        let line = plant.pump_line.as_deref().unwrap_or("GPIO17");
        // Requesting the line as an output drives it low: the relay opens.
        match plantos_hal::linux::output_line(line, "plant-care-failsafe") {
            Ok(_) => println!("{}: {line} off", plant.id),
            Err(error) => failed.push(format!("{}: {error}", plant.id)),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

#[cfg(not(feature = "linux"))]
fn pumps_off(config: &Config) -> Result<(), String> {
    match config.backend {
        plant_care::config::Backend::Sim => {
            println!("simulated backend: no pumps to switch off");
            Ok(())
        }
        plant_care::config::Backend::Linux => {
            Err("the config selects the linux backend: build with `--features linux`".into())
        }
    }
}

/// Prints one device's check: its readings, or why it failed. Returns whether it
/// worked.
fn report<E: std::fmt::Display>(
    who: &str,
    what: &str,
    result: Result<Vec<plantos_hal::Reading>, E>,
) -> bool {
    match result {
        Ok(readings) => {
            let values: Vec<String> = readings
                .iter()
                .map(|r| format!("{:.1} {}", r.value, r.unit))
                .collect();
            println!("{who:<8} {what:<12} ok: {}", values.join(", "));
            true
        }
        Err(error) => {
            println!("{who:<8} {what:<12} FAILED: {error}");
            false
        }
    }
}

/// Reads a sensor service once.
async fn read_once(
    mut sensor: hardware::SensorSvc,
) -> Result<Vec<plantos_hal::Reading>, hardy_core::Error<plantos_hal::DeviceError>> {
    sensor.ready().await?.call(()).await
}

fn doctor(config: &Config) -> Result<(), String> {
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
                if !report(&plant.id, what, read_once(probe).await) {
                    failed += 1;
                }
            }
            println!(
                "{:<8} {:<12} configured (not run by the doctor)",
                plant.id, "pump"
            );
        }
        if !report("garden", "climate", read_once(hardware.climate).await) {
            failed += 1;
        }
        if failed == 0 {
            Ok(())
        } else {
            Err(format!("{failed} devices failed"))
        }
    })
}
