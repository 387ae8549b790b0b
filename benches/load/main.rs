//! The overload harness: four servers that differ only in their protection, in front of
//! the gateway example's backend (known capacity C), under open-loop load at 0.5, 1, 2
//! and 4 × C, after a step from 1 to 2 × C, and after a 4 × C burst. Writes the tables
//! and an SVG plot to `--out` (`target/load/`). Everything runs on loopback, each run is
//! bounded in time and request count, and the harness stops by itself.
//!
//! ```text
//! benches/load.sh                      # every server and load point, then the oha check
//! cargo run --release -p hardy-benches --bin load -- --seconds 4 --servers hardy,tower
//! cargo run --release -p hardy-benches --bin load -- serve --server hardy --for 20
//! ```

mod drive;
mod report;
mod servers;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use drive::{Phase, Sample};
use gateway::{Backend, BackendConfig};
use hardy::load_shed::LoadShedder;
use report::{Line, Summary, settles, summarize, svg_chart, timeline};
use servers::Protection;
use tower::BoxError;

/// The overload harness.
#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Seconds of each steady load point (the first is warm-up).
    #[arg(long, default_value_t = 6)]
    seconds: u64,
    /// The backend's slots (its concurrency).
    #[arg(long, default_value_t = 8)]
    slots: usize,
    /// Milliseconds of work per backend request.
    #[arg(long, default_value_t = 10)]
    work_ms: u64,
    /// The servers to run, comma separated (default: all four).
    #[arg(long, value_delimiter = ',')]
    servers: Vec<Protection>,
    /// Where the tables and the plot go.
    #[arg(long, default_value = "target/load")]
    out: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves one protected server in front of a backend, for an outside load
    /// generator, printing its URL and twice the backend's capacity (requests a
    /// second); stops after `--for` seconds.
    Serve {
        /// The protection.
        #[arg(long, value_enum)]
        server: Protection,
        /// Seconds to serve.
        #[arg(long = "for", default_value_t = 30)]
        seconds: u64,
    },
    /// Runs one load point against one server and prints what it measured, served
    /// and all answers alike, to set beside an outside generator's figures.
    Point {
        /// The protection.
        #[arg(long, value_enum)]
        server: Protection,
        /// The offered load, in multiples of the capacity.
        #[arg(long, default_value_t = 2.0)]
        load: f64,
    },
}

/// A client waits at most this long for an answer.
const PATIENCE: Duration = Duration::from_secs(2);
/// The offered loads, in multiples of capacity.
const LOADS: [f64; 4] = [0.5, 1.0, 2.0, 4.0];

struct Setup {
    backend: BackendConfig,
    /// The backend's capacity, measured (its slots, each busy for the work plus the
    /// timer's rounding and the socket's overhead).
    capacity: f64,
}

/// A run's samples and, for Hardy, its shedder's limit every 100 ms.
struct Run {
    samples: Vec<Sample>,
    limits: Vec<u32>,
}

impl Setup {
    fn capacity(&self) -> f64 {
        self.capacity
    }

    /// Measures the capacity of a backend made as `backend` says, with one client per
    /// slot for 3 s.
    fn calibrate(backend: BackendConfig) -> Result<Setup, BoxError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let capacity = runtime.block_on(async {
            let started = Backend::start(backend.clone()).await?;
            let uri = format!("http://{}/plants/1", started.addr()).parse()?;
            let capacity = drive::capacity(uri, backend.slots, Duration::from_secs(3)).await;
            Ok::<_, BoxError>(capacity)
        })?;
        runtime.shutdown_timeout(Duration::from_secs(1));
        Ok(Setup { backend, capacity })
    }

    /// One run: a fresh backend and server, the load of `phases`.
    fn run(&self, protection: Protection, phases: &[Phase]) -> Result<Run, BoxError> {
        let servers = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (addr, serving, shedder, backend) = servers.block_on(async {
            let backend = Backend::start(self.backend.clone()).await?;
            let (proxy, shedder) = servers::proxy(protection, backend.addr(), self.backend.slots);
            let (addr, serving) = servers::serve(proxy).await?;
            Ok::<_, BoxError>((addr, serving, shedder, backend))
        })?;
        let limits = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let watch = shedder.map(|shedder| servers.spawn(watch_limit(shedder, limits.clone())));
        let phases = phases.to_vec();
        // The load comes from its own thread and runtime, so that it keeps its schedule
        // whatever the servers do.
        let samples = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|load| load.block_on(drive::drive(addr, &phases, PATIENCE)))
        })
        .join()
        .map_err(|_| "the load thread panicked")??;
        if let Some(watch) = watch {
            watch.abort();
        }
        let limits = std::mem::take(&mut *limits.lock());
        serving.abort();
        drop(backend);
        servers.shutdown_timeout(Duration::from_secs(1));
        Ok(Run { samples, limits })
    }
}

/// Records the shedder's limit every 100 ms, until aborted.
async fn watch_limit(shedder: LoadShedder, limits: std::sync::Arc<parking_lot::Mutex<Vec<u32>>>) {
    loop {
        limits.lock().push(shedder.stats().limit);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let setup = Setup::calibrate(BackendConfig {
        slots: args.slots,
        work: Duration::from_millis(args.work_ms),
        fail_ratio: 0.0,
        slow_ratio: 0.0,
        ..BackendConfig::default()
    })?;
    eprintln!("capacity: {:.0} requests/s", setup.capacity());
    match args.command {
        Some(Command::Serve { server, seconds }) => return serve(&setup, server, seconds),
        Some(Command::Point { server, load }) => {
            let seconds = Duration::from_secs(args.seconds);
            let rate = load * setup.capacity();
            let run = setup.run(
                server,
                &[Phase {
                    rate,
                    duration: seconds,
                }],
            )?;
            let s = summarize(&run.samples, Duration::from_secs(1), seconds);
            println!(
                "{} at {load}×C ({rate:.0}/s): served {:.0}/s ({:.1} % of C), refused {:.1} %, served p50 {:.1} ms p99 {:.1} ms p99.9 {:.1} ms, every answer p99 {:.1} ms",
                server.name(),
                s.goodput,
                s.goodput / setup.capacity() * 100.0,
                s.rejected * 100.0,
                s.p50,
                s.p99,
                s.p999,
                s.p99_all
            );
            return Ok(());
        }
        None => {}
    }
    let servers = if args.servers.is_empty() {
        Protection::ALL.to_vec()
    } else {
        args.servers.clone()
    };
    let report = measure(&setup, &servers, Duration::from_secs(args.seconds))?;
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("overload.md"), &report.markdown)?;
    std::fs::write(args.out.join("overload.svg"), &report.svg)?;
    print!("{}", report.markdown);
    eprintln!("written to {}", args.out.display());
    Ok(())
}

/// Serves one protected server for an outside load generator.
fn serve(setup: &Setup, protection: Protection, seconds: u64) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let backend = Backend::start(setup.backend.clone()).await?;
        let (proxy, _) = servers::proxy(protection, backend.addr(), setup.backend.slots);
        let (addr, serving) = servers::serve(proxy).await?;
        // The URL, then the rate of twice the capacity, for the outside generator.
        println!("http://{addr}/work");
        println!("{:.0}", 2.0 * setup.capacity());
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        serving.abort();
        Ok(())
    })
}

struct Report {
    markdown: String,
    svg: String,
}

const COLOURS: [&str; 4] = ["#888888", "#1f77b4", "#ff7f0e", "#2ca02c"];

fn measure(setup: &Setup, servers: &[Protection], seconds: Duration) -> Result<Report, BoxError> {
    let c = setup.capacity();
    let warm = Duration::from_secs(1);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Backend: {} slots × {} ms of work; C = {c:.0} requests/s, measured with one client per slot; {} s per point (the first is warm-up); SLO {} ms.\n",
        setup.backend.slots,
        setup.backend.work.as_millis(),
        seconds.as_secs(),
        report::SLO.as_millis()
    );
    let _ = writeln!(
        md,
        "| server | load | sent | goodput (% of C) | p50 ms | p99 ms | p99.9 ms | refused | failed |"
    );
    let _ = writeln!(
        md,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let mut steady: Vec<(Protection, f64, Summary)> = Vec::new();
    let mut notes = String::new();
    for &server in servers {
        for load in LOADS {
            eprintln!("{} at {load}×C", server.name());
            let run = setup.run(
                server,
                &[Phase {
                    rate: load * c,
                    duration: seconds,
                }],
            )?;
            let summary = summarize(&run.samples, warm, seconds);
            let _ = writeln!(
                md,
                "| {} | {load}×C | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} % | {:.1} % |",
                server.name(),
                summary.sent,
                summary.goodput / c * 100.0,
                summary.p50,
                summary.p99,
                summary.p999,
                summary.rejected * 100.0,
                summary.failed * 100.0
            );
            if load == 0.5 {
                let cold = summarize(&run.samples, Duration::ZERO, Duration::from_secs(2));
                let _ = writeln!(
                    notes,
                    "- {} at 0.5×C, first 2 s after a cold start: {:.2} % refused.",
                    server.name(),
                    cold.rejected * 100.0
                );
            }
            if load == 1.0 && !run.limits.is_empty() {
                let first = run.limits.get(10).copied().unwrap_or_default();
                let last = run.limits.last().copied().unwrap_or_default();
                let max = run.limits.iter().max().copied().unwrap_or_default();
                let _ = writeln!(
                    notes,
                    "- {} at 1×C: limit {first} after 1 s, {last} at the end (highest {max}).",
                    server.name()
                );
            }
            steady.push((server, load, summary));
        }
    }
    let find = |server: Protection, load: f64| {
        steady
            .iter()
            .find(|(s, l, _)| *s == server && *l == load)
            .map(|(_, _, summary)| *summary)
    };
    let reference = find(Protection::Tower, 2.0).map(|s| s.p99);
    let _ = writeln!(md, "\n{notes}");
    let _ = writeln!(
        md,
        "| server | 1→2×C: served p99 from 0.5 s after the step | × tower's at 2×C | after a 4×C burst: every 250 ms back within 1.3× its own 1×C p99 after |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- |");
    let window = Duration::from_millis(250);
    let mut steps = String::new();
    for &server in servers {
        eprintln!("{}: step and burst", server.name());
        let step = setup.run(
            server,
            &[
                Phase {
                    rate: c,
                    duration: Duration::from_secs(3),
                },
                Phase {
                    rate: 2.0 * c,
                    duration: Duration::from_secs(4),
                },
            ],
        )?;
        let points = timeline(
            &step.samples,
            Duration::from_secs(3),
            Duration::from_secs(7),
            window,
        );
        let after_step = summarize(
            &step.samples,
            Duration::from_millis(3500),
            Duration::from_secs(7),
        )
        .p99;
        let first: Vec<String> = points
            .iter()
            .take(10)
            .map(|(p99, _)| format!("{p99:.0}"))
            .collect();
        let limits: Vec<String> = step
            .limits
            .iter()
            .skip(29)
            .take(15)
            .map(u32::to_string)
            .collect();
        let _ = writeln!(
            steps,
            "- {}: served p99 (ms) in each 250 ms after the step: {}{}",
            server.name(),
            first.join(", "),
            if limits.is_empty() {
                String::new()
            } else {
                format!("; limit every 100 ms: {}", limits.join(", "))
            }
        );
        let burst = setup.run(
            server,
            &[
                Phase {
                    rate: c,
                    duration: Duration::from_secs(2),
                },
                Phase {
                    rate: 4.0 * c,
                    duration: Duration::from_secs(2),
                },
                Phase {
                    rate: c,
                    duration: Duration::from_secs(4),
                },
            ],
        )?;
        let own = summarize(&burst.samples, warm, Duration::from_secs(2)).p99;
        let window = Duration::from_millis(250);
        let points = timeline(
            &burst.samples,
            Duration::from_secs(4),
            Duration::from_secs(8),
            window,
        );
        let burst_settles = settles(&points, window, 1.3 * own);
        let seconds = |d: Option<Duration>| match d {
            Some(d) => format!("{:.1} s", d.as_secs_f64()),
            None => String::from("not within the run"),
        };
        let ratio = reference.map_or(f64::NAN, |p99| after_step / p99);
        let _ = writeln!(
            md,
            "| {} | {after_step:.1} ms | {ratio:.2} | {} |",
            server.name(),
            seconds(burst_settles)
        );
    }
    let _ = writeln!(md, "\n{steps}");
    let lines = |value: &dyn Fn(&Summary) -> f64| -> Vec<Line<'static>> {
        servers
            .iter()
            .enumerate()
            .map(|(n, &server)| Line {
                name: server.name(),
                colour: COLOURS[n % COLOURS.len()],
                points: LOADS
                    .iter()
                    .filter_map(|&load| find(server, load).map(|s| (load, value(&s))))
                    .collect(),
            })
            .collect()
    };
    let goodput = lines(&|s: &Summary| s.goodput / c * 100.0);
    let p99 = lines(&|s: &Summary| s.p99);
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"880\" height=\"300\" font-family=\"sans-serif\">\n<rect width=\"880\" height=\"300\" fill=\"white\"/>\n{}{}</svg>\n",
        svg_chart("Goodput", "% of capacity", 110.0, &goodput, 0.0),
        svg_chart("Served p99", "ms", 200.0, &p99, 440.0),
    );
    Ok(Report { markdown: md, svg })
}
