//! `armsim`: the command-line front end. Exit codes are decided here, in one place:
//! 0 success, 1 a judged failure (a scenario failed), 2 armsim could not do its job (bad input, I/O).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use armsim_simulator::sim::{default_world, load_world, DEFAULT_TIME_SCALE};
use armsim_simulator::{server, ClockMode, SimConfig, Simulator};

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
    /// Print the JSON Schema of scenario files.
    Schema,
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
    /// Scenarios run at once (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// A client ability a scenario may require (`custom-poll-interval`); repeatable.
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
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        seed: args.seed,
        abilities: args.abilities,
    };
    let tty = std::io::stderr().is_terminal();
    let report = armsim_harness::run::run_all(&opts, move |done, total, name| {
        if tty {
            eprint!("\r\x1b[2K[{done}/{total}] {name}");
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

async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let world = match &args.world {
        Some(path) => load_world(path)?,
        None => default_world(),
    };
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
    let endpoint = format!("http://{addr}");
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
        ..SimConfig::default()
    };
    let sim = Arc::new(Simulator::new(config).map_err(|e| match &args.world {
        Some(p) => format!("{}: {e}", p.display()),
        None => e,
    })?);
    let (mode, scale) = match clock {
        ClockMode::Manual => ("manual", None),
        ClockMode::Scaled { scale } => ("scaled", Some(scale)),
    };
    let ready = json!({
        "event": "ready",
        "endpoint": endpoint,
        "admin": format!("{endpoint}/_armsim"),
        "world": args.world.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "default".into()),
        "subscriptionId": subscription,
        "clock": mode,
        "timeScale": scale,
        "now": sim.now(),
        "seed": args.seed,
        "pid": std::process::id(),
    });
    println!("{ready}");
    tracing::info!(%endpoint, "armsim is serving; Ctrl-C stops it");
    server::run(listener, sim, async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}
