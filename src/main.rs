//! `armsim`: the command-line front end. Exit codes are decided here, in one place:
//! 0 success, 1 a judged failure (a scenario failed), 2 armsim could not do its job (bad input, I/O).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use armsim_simulator::identity::AuthMode;
use armsim_simulator::persist::{self, DirStore};
use armsim_simulator::sim::{default_world, load_world, DEFAULT_TIME_SCALE};
use armsim_simulator::{server, tls, ClockMode, SimConfig, Simulator, VDuration};

/// `serve`'s bound on finished operations kept (`--max-finished-operations`): about 80 MB of finished
/// backups, and two seconds of a POST storm at full speed, far longer than any client waits to poll.
const DEFAULT_MAX_FINISHED_OPERATIONS: usize = 100_000;

#[derive(Parser)]
#[command(
    name = "armsim",
    version,
    about = "Rehearse Azure API Management backup and restore offline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the mock ARM. The first line on stdout is a JSON `ready` event; logs go to stderr.
    Serve(ServeArgs),
    /// Run scenarios: against in-process simulators (default), a client command, or an endpoint.
    Run(RunArgs),
    /// Run a client against generated backup/restore behaviours; shrink and write the first failure.
    Fuzz(FuzzArgs),
    /// Print the JSON Schema of scenario files.
    Schema,
}

#[derive(Clone, Copy, ValueEnum)]
enum OperationArg {
    Backup,
    Restore,
}

#[derive(clap::Args)]
struct FuzzArgs {
    /// The client command, run through `sh -c` with the same ARMSIM_* environment as `run --client`.
    #[arg(long)]
    client: String,
    #[arg(long, value_enum, default_value = "backup")]
    operation: OperationArg,
    /// Generated behaviours to try.
    #[arg(long, default_value_t = 100)]
    cases: u32,
    /// Seed of the generator (and of the simulators): the same seed tries the same behaviours.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop starting new cases after this much wall time (`90s`, `5m`).
    #[arg(long, value_name = "DURATION")]
    time_limit: Option<VDuration>,
    /// Cases run at once (default: 4 per core: clients mostly sleep on Retry-After).
    #[arg(long)]
    jobs: Option<usize>,
    /// A client ability (`custom-poll-interval`: answers may come without a usable Retry-After;
    /// `tolerates-early-404`: an early poll may get a 404 that says Retry-After); repeatable.
    #[arg(long = "ability")]
    abilities: Vec<String>,
    /// In-progress polls per behaviour: 0 to this, exclusive.
    #[arg(long, default_value_t = 8)]
    max_polls: usize,
    /// Client runs spent shrinking the first failure at most.
    #[arg(long, default_value_t = 48)]
    max_shrink_runs: u32,
    /// Wall time spent shrinking at most (`2m`).
    #[arg(long, value_name = "DURATION", default_value = "3m")]
    max_shrink_time: VDuration,
    /// Where the shrunk failure is written as a scenario file.
    #[arg(long, default_value = "armsim-fuzz")]
    out: PathBuf,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Scenario files or directories (default: scenarios/).
    paths: Vec<PathBuf>,
    /// A client command, run through `sh -c` with the ARMSIM_* environment per client scenario.
    #[arg(long)]
    client: Option<String>,
    /// Run the harness's own steps against this ARM endpoint instead of a simulator.
    #[arg(long)]
    target: Option<String>,
    /// The environment variable holding the bearer token for --target.
    #[arg(long)]
    token_env: Option<String>,
    /// A CA certificate (PEM) to trust for --target besides the system's roots: the `ca_cert` of an
    /// `armsim serve` you point the catalogue at.
    #[arg(long, requires = "target")]
    ca_cert: Option<PathBuf>,
    /// Scenarios run at once (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// A client ability a scenario may require (`custom-poll-interval`, `tolerates-early-404`);
    /// repeatable.
    #[arg(long = "ability")]
    abilities: Vec<String>,
    /// Seed for every random choice (ids, keys, probabilistic faults).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write results and journals as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClockArg {
    /// Time moves only through `POST /_armsim/clock/advance`.
    Manual,
    /// Virtual time runs `--time-scale` times faster than the wall clock.
    Scaled,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8443")]
    addr: String,
    /// A world file (YAML or JSON) replacing the embedded default world.
    #[arg(long)]
    world: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "scaled")]
    clock: ClockArg,
    /// Virtual seconds per wall second with `--clock scaled`.
    #[arg(long, default_value_t = DEFAULT_TIME_SCALE)]
    time_scale: f64,
    /// Seed for every generated id and key: the same seed and requests give the same answers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// HTTPS (the official SDKs refuse bearer tokens over plain HTTP) or plain HTTP.
    #[arg(long, value_enum, default_value = "on")]
    tls: TlsArg,
    /// PEM certificate chain to serve instead of a generated self-signed one (needs --key).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// PEM private key for --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Where to write the CA certificate clients must trust (default: a file in the temp directory,
    /// named in the ready line as `ca_cert`).
    #[arg(long)]
    ca_out: Option<PathBuf>,
    /// How ARM requests' bearer tokens are checked: strict (signature, expiry, audience, tenant),
    /// permissive (any bearer token), off.
    #[arg(long, default_value = "strict")]
    auth: AuthMode,
    /// Keep the world (services, storage, backups, operations, the virtual clock) in DIR, crash-safe,
    /// and resume from it on start (docs/persistence.md). Without it the world lives in memory.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Journal entries kept (a ring: the oldest are dropped).
    #[arg(long, default_value_t = 10_000)]
    journal_capacity: usize,
    /// Virtual time a finished operation stays pollable before its poll answers 404 (default: the
    /// world's behaviour.operationRetention, else 24h).
    #[arg(long, value_name = "DURATION")]
    operation_retention: Option<VDuration>,
    /// Finished operations kept pollable at most; past it the oldest are forgotten first (default: the
    /// world's behaviour.maxFinishedOperations, else 100000).
    #[arg(long, value_name = "N")]
    max_finished_operations: Option<usize>,
    /// Connections served at once; more wait in the listen backlog until one closes.
    #[arg(long, default_value_t = server::Limits::default().max_connections)]
    max_connections: usize,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum TlsArg {
    On,
    Off,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ARMSIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("armsim: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Run(args) => runtime.block_on(run(args)),
        Command::Fuzz(args) => runtime.block_on(fuzz(args)),
        Command::Schema => {
            print!("{}", armsim_harness::scenario::schema_json());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("armsim: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: RunArgs) -> Result<ExitCode, String> {
    use std::io::IsTerminal;
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        args.paths
    };
    let opts = armsim_harness::run::RunOptions {
        paths,
        client: args.client,
        target: args.target,
        token_env: args.token_env,
        ca_cert: args.ca_cert,
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        seed: args.seed,
        abilities: args.abilities,
    };
    let tty = std::io::stderr().is_terminal();
    let report = armsim_harness::run::run_all(&opts, move |done, total, name| {
        if tty {
            eprint!(
                "\r\x1b[2K{} {done}/{total} {name}",
                progress_bar(done, total, 30)
            );
        }
    })
    .await?;
    if tty {
        eprint!("\r\x1b[2K");
    }
    print!(
        "{}",
        armsim_harness::report::human(&report, armsim_harness::report::Render { timings: true })
    );
    if let Some(path) = &args.junit {
        std::fs::write(path, armsim_harness::report::junit(&report))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, armsim_harness::report::json(&report))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(if report.failed() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn fuzz(args: FuzzArgs) -> Result<ExitCode, String> {
    use armsim_harness::fuzz;
    use armsim_harness::scenario::ClientOperation;
    use std::io::IsTerminal;
    let opts = fuzz::FuzzOptions {
        client: args.client,
        operation: match args.operation {
            OperationArg::Backup => ClientOperation::Backup,
            OperationArg::Restore => ClientOperation::Restore,
        },
        cases: args.cases,
        seed: args.seed,
        jobs: args
            .jobs
            .unwrap_or_else(|| 4 * std::thread::available_parallelism().map_or(2, |n| n.get())),
        abilities: args.abilities,
        time_limit: args
            .time_limit
            .map(|d| std::time::Duration::from_millis(d.as_millis().max(0) as u64)),
        max_shrink_runs: args.max_shrink_runs,
        max_shrink_time: std::time::Duration::from_millis(
            args.max_shrink_time.as_millis().max(0) as u64
        ),
        model: fuzz::ModelConfig {
            max_polls: args.max_polls,
            ..fuzz::ModelConfig::default()
        },
        out: args.out,
    };
    let tty = std::io::stderr().is_terminal();
    let report = fuzz::fuzz_client(&opts, move |done, total| {
        if tty {
            eprint!(
                "\r\x1b[2K{} {done}/{total}",
                progress_bar(done as usize, total as usize, 30)
            );
        }
    })
    .await?;
    if tty {
        eprint!("\r\x1b[2K");
    }
    let rate = f64::from(report.cases_run) / (report.wall_ms.max(1) as f64 / 1000.0);
    match &report.failure {
        None => {
            println!(
                "armsim fuzz: {} cases passed in {:.1} s ({rate:.2} cases/s), seed {}",
                report.cases_run,
                report.wall_ms as f64 / 1000.0,
                report.seed
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(f) => {
            println!(
                "armsim fuzz: case {} of seed {} failed ({} cases run in {:.1} s)",
                f.case,
                report.seed,
                report.cases_run,
                report.wall_ms as f64 / 1000.0
            );
            println!(
                "shrunk from size {} to {} in {} client runs:\n{}",
                f.original_size,
                f.script.size(),
                f.shrink_runs,
                f.script.trace()
            );
            println!(
                "it breaks {} (as the original case did):",
                f.rules.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            println!("{}", f.findings);
            println!("written to {}", f.file.display());
            if let Some(r) = &report.reproduce {
                println!("reproduce: {r}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let mut world = match &args.world {
        Some(path) => load_world(path)?,
        None => default_world(),
    };
    world.behaviour.operation_retention = args
        .operation_retention
        .or(world.behaviour.operation_retention)
        .or(Some(VDuration::from_days(1)));
    world.behaviour.max_finished_operations = args
        .max_finished_operations
        .or(world.behaviour.max_finished_operations)
        .or(Some(DEFAULT_MAX_FINISHED_OPERATIONS));
    let clock = match args.clock {
        ClockArg::Manual => ClockMode::Manual,
        ClockArg::Scaled if args.time_scale > 0.0 && args.time_scale.is_finite() => {
            ClockMode::Scaled {
                scale: args.time_scale,
            }
        }
        ClockArg::Scaled => {
            return Err(format!(
                "--time-scale must be a positive number, not {}",
                args.time_scale
            ))
        }
    };
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let material = match (args.tls, &args.cert, &args.key) {
        (TlsArg::Off, _, _) => None,
        (TlsArg::On, Some(cert), Some(key)) => {
            Some(tls::load(cert, key).map_err(|e| e.to_string())?)
        }
        (TlsArg::On, _, _) => {
            Some(tls::self_signed().map_err(|e| format!("cannot make a certificate: {e}"))?)
        }
    };
    let acceptor = match &material {
        Some(m) => Some(tls::acceptor(m).map_err(|e| e.to_string())?),
        None => None,
    };
    let ca_path = match &material {
        Some(m) => {
            let path = args.ca_out.clone().unwrap_or_else(|| {
                std::env::temp_dir()
                    .join(format!("armsim-{}", addr.port()))
                    .join("ca.pem")
            });
            write_ca(&path, &m.cert_pem)?;
            Some(path)
        }
        None => None,
    };
    let ca_cert = ca_path.as_ref().map(|p| p.display().to_string());
    // The CA written where serve chose (`/tmp/armsim-PORT/ca.pem`) vouches for a key that ends with
    // the process: held until serve returns, however it returns, then removed with its folder. One
    // written where `--ca-out` asked is the caller's to keep.
    let _own_ca = ca_path
        .filter(|_| args.ca_out.is_none())
        .map(armsim_harness::scratch::Scratch::in_own_folder);
    let scheme = if material.is_some() { "https" } else { "http" };
    let endpoint = format!("{scheme}://{addr}");
    let tenant = world.identity.tenant_id.clone();
    let subscription = world
        .subscriptions
        .first()
        .map(|s| s.id.clone())
        .unwrap_or_default();
    let config = SimConfig {
        world,
        clock,
        seed: args.seed,
        base_url: endpoint.clone(),
        auth: args.auth,
        journal_capacity: args.journal_capacity,
        ..SimConfig::default()
    };
    let sim = Arc::new(Simulator::new(config).map_err(|e| match &args.world {
        Some(p) => format!("{}: {e}", p.display()),
        None => e,
    })?);
    let mut restored = false;
    if let Some(dir) = &args.data_dir {
        let (store, saved) = DirStore::open(dir, clock)?;
        if let Some(saved) = saved {
            let path = store.path();
            let position = saved.position();
            sim.restore(saved.world, position)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            restored = true;
            tracing::info!(file = %path.display(), now = %sim.now(), "resumed the saved world");
        }
        sim.persist_to(Box::new(store));
        sim.checkpoint()?;
        if matches!(clock, ClockMode::Scaled { .. }) {
            persist::spawn_checkpoints(sim.clone());
        }
    }
    let (mode, scale) = match clock {
        ClockMode::Manual => ("manual", None),
        ClockMode::Scaled { scale } => ("scaled", Some(scale)),
    };
    let ready = json!({
        "event": "ready",
        "endpoint": endpoint,
        "admin": format!("{endpoint}/_armsim"),
        "world": args.world.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "default".into()),
        "ca_cert": ca_cert,
        "auth": args.auth.to_string(),
        "tenantId": tenant,
        "subscriptionId": subscription,
        "clock": mode,
        "timeScale": scale,
        "now": sim.now(),
        "seed": args.seed,
        "dataDir": args.data_dir.as_ref().map(|p| p.display().to_string()),
        "restored": restored,
        "pid": std::process::id(),
    });
    // Signal handlers are installed before the ready line, so a script that reads it and sends SIGINT
    // at once still gets a graceful shutdown.
    let stop = shutdown_signal()?;
    println!("{ready}");
    tracing::info!(%endpoint, "armsim is serving; Ctrl-C stops it");
    let limits = server::Limits {
        max_connections: args.max_connections,
        ..server::Limits::default()
    };
    server::run_with(listener, sim.clone(), acceptor, limits, stop)
        .await
        .map_err(|e| e.to_string())?;
    sim.checkpoint()?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are registered when this is called.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    })
}

/// Writes the CA certificate clients must trust, creating its folder.
fn write_ca(path: &std::path::Path, pem: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, pem).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `[#########.....................]`: `width` cells, filled in proportion to `done / total`.
fn progress_bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done * width)
        .checked_div(total)
        .unwrap_or(width)
        .min(width);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

#[cfg(test)]
mod tests {
    use super::progress_bar;

    #[test]
    fn the_progress_bar_fills_in_proportion() {
        assert_eq!(progress_bar(0, 10, 10), "[..........]");
        assert_eq!(progress_bar(5, 10, 10), "[#####.....]");
        assert_eq!(progress_bar(10, 10, 10), "[##########]");
        assert_eq!(progress_bar(0, 0, 4), "[####]");
    }
}
