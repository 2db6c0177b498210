//! The runner: one isolated in-process simulator per scenario, scenarios in parallel, a client command
//! run through `sh -c` with the env contract, and the verdicts gathered into a [`RunReport`].
//!
//! Three modes, picked by the options: the default runs the catalogue's step scenarios against
//! in-process simulators; `--client CMD` runs client scenarios with that command; `--target URL` runs
//! the harness's steps against any endpoint and skips what only a simulator can do.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio::io::AsyncReadExt;

use armsim_simulator::fault::FaultAction;
use armsim_simulator::identity::Role;
use armsim_simulator::journal::JournalEntry;
use armsim_simulator::server::RunningServer;
use armsim_simulator::{ClockMode, HttpRequest, SimConfig, VDuration};

use crate::http::{HttpClient, Token};
use crate::oracle::{self, ClientExit, Context, Finding, Severity};
use crate::scenario::{
    self, BusyWith, ClientRun, ExitExpectation, JournalExpectation, KeyChoice, LoadedScenario,
    PrincipalChoice,
};
use crate::scratch::Scratch;
use crate::steps::{Names, StepRunner};

/// Time scale of client runs unless a scenario says otherwise: a 9-minute backup takes 0.9 s.
pub const CLIENT_TIME_SCALE: f64 = 600.0;
/// Wall time limit of a scenario unless it says otherwise.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub paths: Vec<PathBuf>,
    pub client: Option<String>,
    pub target: Option<String>,
    pub token_env: Option<String>,
    /// A CA certificate (PEM file) to trust for `--target`, besides the system's roots.
    pub ca_cert: Option<PathBuf>,
    pub jobs: usize,
    pub seed: u64,
    /// Abilities the client declares (`custom-poll-interval`); client scenarios that require others
    /// are skipped.
    pub abilities: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// One scenario's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioResult {
    pub file: String,
    pub name: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    pub requires: Vec<String>,
    pub findings: Vec<Finding>,
    pub exercised: BTreeSet<String>,
    pub situations: BTreeSet<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientExit>,
    pub journal: Vec<JournalEntry>,
    pub wall_ms: u64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub mode: String,
    pub seed: u64,
    /// The command line that reproduces this run (without the scenario paths).
    pub reproduce: String,
    pub results: Vec<ScenarioResult>,
    pub wall_ms: u64,
}

impl RunReport {
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .count()
    }
}

enum Mode {
    Steps,
    Client {
        cmd: String,
        abilities: Vec<String>,
    },
    Target {
        url: String,
        token: Option<String>,
        /// An extra CA to trust (armsim's own, when the target is an `armsim serve`).
        ca: Option<String>,
    },
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Loads every scenario, runs them (`jobs` at a time) and gathers the results. `Err` means the harness
/// could not run (a bad file, a missing client): exit 2.
pub async fn run_all(
    opts: &RunOptions,
    progress: impl Fn(usize, usize, &str) + Send + Sync + 'static,
) -> Result<RunReport, String> {
    let started = Instant::now();
    let files = scenario::discover(&opts.paths).map_err(|e| e.0)?;
    if files.is_empty() {
        return Err("no scenario files found".into());
    }
    let mut scenarios = Vec::new();
    for f in &files {
        scenarios.push(scenario::load(f).map_err(|e| e.0)?);
    }
    let mut names = BTreeSet::new();
    for s in &scenarios {
        if !names.insert(s.scenario.name.clone()) {
            return Err(format!(
                "{}:1:1: name: '{}' is used by another scenario",
                s.path.display(),
                s.scenario.name
            ));
        }
    }
    let (mode, mode_name, mut reproduce) = match (&opts.client, &opts.target) {
        (Some(_), Some(_)) => return Err("--client and --target cannot be combined".into()),
        (Some(c), None) => (
            Mode::Client {
                cmd: c.clone(),
                abilities: opts.abilities.clone(),
            },
            "client",
            format!(
                "armsim run --client {}{}",
                shell_quote(c),
                opts.abilities
                    .iter()
                    .map(|a| format!(" --ability {a}"))
                    .collect::<String>()
            ),
        ),
        (None, Some(url)) => {
            let token = match &opts.token_env {
                Some(var) => Some(
                    std::env::var(var)
                        .map_err(|_| format!("--token-env {var}: the variable is not set"))?,
                ),
                None => None,
            };
            let ca = match &opts.ca_cert {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .map_err(|e| format!("--ca-cert {}: {e}", p.display()))?,
                ),
                None => None,
            };
            let mut r = format!("armsim run --target {}", shell_quote(url));
            if let Some(var) = &opts.token_env {
                r.push_str(&format!(" --token-env {var}"));
            }
            if let Some(p) = &opts.ca_cert {
                r.push_str(&format!(
                    " --ca-cert {}",
                    shell_quote(&p.display().to_string())
                ));
            }
            (
                Mode::Target {
                    url: url.clone(),
                    token,
                    ca,
                },
                "target",
                r,
            )
        }
        (None, None) => (Mode::Steps, "simulator", "armsim run".to_string()),
    };
    reproduce.push_str(&format!(" --seed {}", opts.seed));
    let mode = Arc::new(mode);
    let total = scenarios.len();
    // An endpoint is shared state (one service, one backup at a time): its scenarios run one by one.
    let jobs = match *mode {
        Mode::Target { .. } => 1,
        _ => opts.jobs.max(1),
    };
    let semaphore = Arc::new(tokio::sync::Semaphore::new(jobs));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = Arc::new(progress);
    let mut tasks = Vec::new();
    for s in scenarios {
        let mode = mode.clone();
        let sem = semaphore.clone();
        let seed = opts.seed;
        let done = done.clone();
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
            let result = run_one(&s, &mode, seed).await;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n, total, &s.scenario.name);
            result
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(
            t.await
                .map_err(|e| format!("a scenario task panicked: {e}"))??,
        );
    }
    results.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(RunReport {
        mode: mode_name.into(),
        seed: opts.seed,
        reproduce,
        results,
        wall_ms: started.elapsed().as_millis() as u64,
    })
}

/// Runs one client scenario with `cmd`, exactly as `armsim run --client CMD FILE` would: the fuzzer
/// runs its generated scenarios through here so a written case replays the same way.
pub(crate) async fn run_client_scenario(
    s: &LoadedScenario,
    cmd: &str,
    abilities: &[String],
    seed: u64,
) -> Result<ScenarioResult, String> {
    let mode = Mode::Client {
        cmd: cmd.to_string(),
        abilities: abilities.to_vec(),
    };
    run_one(s, &mode, seed).await
}

fn skipped(s: &LoadedScenario, reason: String) -> ScenarioResult {
    ScenarioResult {
        file: s.path.display().to_string(),
        name: s.scenario.name.clone(),
        outcome: Outcome::Skipped,
        skip_reason: Some(reason),
        requires: s.requires(),
        findings: Vec::new(),
        exercised: BTreeSet::new(),
        situations: BTreeSet::new(),
        client: None,
        journal: Vec::new(),
        wall_ms: 0,
    }
}

async fn run_one(s: &LoadedScenario, mode: &Mode, seed: u64) -> Result<ScenarioResult, String> {
    let started = Instant::now();
    let sc = &s.scenario;
    let mut result = match (mode, &sc.client) {
        (Mode::Steps, Some(_)) => {
            return Ok(skipped(
                s,
                "client scenario: run it with --client \"CMD\"".into(),
            ))
        }
        (Mode::Client { .. }, None) => {
            return Ok(skipped(
                s,
                "harness-driven scenario: runs without --client".into(),
            ))
        }
        (Mode::Target { .. }, _) if !s.simulator_only.is_empty() => {
            return Ok(skipped(
                s,
                format!("simulator-only: {}", s.simulator_only.join(", ")),
            ))
        }
        (Mode::Target { url, token, ca }, None) => {
            let token = token.clone().map_or(Token::None, Token::Static);
            let http = HttpClient::with(url, token, ca.as_deref())?;
            let mut names = Names::default();
            if let Ok(sub) = std::env::var("ARMSIM_SUBSCRIPTION_ID") {
                names.subscription = sub;
            }
            if let Ok(rg) = std::env::var("ARMSIM_RESOURCE_GROUP") {
                names.resource_group = rg;
            }
            let mut runner = StepRunner::new(http, None, names);
            let finding = with_limit(sc.time_limit, runner.run(&sc.steps)).await;
            with_limit(sc.time_limit, async {
                runner.settle_pending().await;
                None
            })
            .await;
            let mut r = skipped(s, String::new());
            r.skip_reason = None;
            r.findings = finding.into_iter().collect();
            r
        }
        (Mode::Target { .. }, Some(_)) => {
            return Ok(skipped(s, "client scenario: needs --client".into()))
        }
        (Mode::Steps, None) => run_steps(s, seed).await?,
        (Mode::Client { cmd, abilities }, Some(c)) => {
            let missing: Vec<&String> = sc
                .requires
                .iter()
                .filter(|r| r.as_str() != "simulator" && !abilities.contains(r))
                .collect();
            if let Some(m) = missing.first() {
                return Ok(skipped(
                    s,
                    format!("needs client ability '{m}' (declare it with --ability {m})"),
                ));
            }
            run_client(s, c, cmd, seed).await?
        }
    };
    result.outcome = if result
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error)
    {
        Outcome::Failed
    } else {
        Outcome::Passed
    };
    result.wall_ms = started.elapsed().as_millis() as u64;
    Ok(result)
}

async fn with_limit(
    limit: Option<VDuration>,
    fut: impl std::future::Future<Output = Option<Finding>>,
) -> Option<Finding> {
    let limit = limit
        .map(|d| Duration::from_millis(d.as_millis().max(0) as u64))
        .unwrap_or(DEFAULT_TIME_LIMIT);
    match tokio::time::timeout(limit, fut).await {
        Ok(f) => f,
        Err(_) => Some(Finding {
            rule: "scenario.time-limit".into(),
            severity: Severity::Error,
            message: format!("the steps did not finish within {} ms", limit.as_millis()),
            expected: "all steps done".into(),
            actual: "stopped at the time limit".into(),
            journal_seq: None,
        }),
    }
}

pub(crate) fn sim_config(
    s: &LoadedScenario,
    seed: u64,
    default_scale: f64,
) -> Result<SimConfig, String> {
    let sc = &s.scenario;
    let world =
        scenario::build_world(sc).map_err(|e| format!("{}: world: {e}", s.path.display()))?;
    let scale = sc.clock.map(|c| c.scale).unwrap_or(default_scale);
    Ok(SimConfig {
        world,
        clock: if scale > 0.0 {
            ClockMode::Scaled { scale }
        } else {
            ClockMode::Manual
        },
        seed,
        faults: sc.faults.clone(),
        ..SimConfig::default()
    })
}

async fn run_steps(s: &LoadedScenario, seed: u64) -> Result<ScenarioResult, String> {
    let server = RunningServer::start(sim_config(s, seed, 0.0)?).await?;
    let http = HttpClient::with(&server.endpoint, Token::Minted(server.sim.clone()), None)?;
    let mut runner = StepRunner::new(http, Some(server.sim.clone()), Names::default());
    let finding = with_limit(s.scenario.time_limit, runner.run(&s.scenario.steps)).await;
    let journal = server.sim.journal();
    server.shutdown().await;
    let mut r = skipped(s, String::new());
    r.skip_reason = None;
    // The run stops at the failing step, so the last exchange is the closest journal entry to it.
    r.findings = finding
        .into_iter()
        .map(|mut f| {
            f.journal_seq = f.journal_seq.or_else(|| journal.last().map(|e| e.seq));
            f
        })
        .collect();
    r.findings
        .extend(check_journal(&s.scenario.expect_journal, &journal));
    // The protocol situations the simulator's answers went through (the findings are not the point:
    // the harness's own poller is not under judgement).
    r.situations = oracle::judge(&journal, &ClientExit::default(), &Context::default()).situations;
    r.journal = journal;
    Ok(r)
}

/// A key that never belonged to any account.
const WRONG_KEY: &str =
    "d3Jvbmcta2V5LW5ldmVyLWlzc3VlZC1ieS1hcm1zaW0td3Jvbmcta2V5LW5ldmVyLWlzc3VlZC1ieS1hcm1zaW0=";

async fn run_client(
    s: &LoadedScenario,
    c: &ClientRun,
    cmd: &str,
    seed: u64,
) -> Result<ScenarioResult, String> {
    let sc = &s.scenario;
    let server = RunningServer::start_tls(sim_config(s, seed, CLIENT_TIME_SCALE)?).await?;
    let sim = server.sim.clone();
    let ca = write_ca(&server)?;
    let state = sim.state();
    let subscription = state
        .subscriptions
        .first()
        .map(|x| x.id.clone())
        .unwrap_or_default();
    let service = state
        .services
        .iter()
        .find(|x| x.name.eq_ignore_ascii_case(&c.service));
    let resource_group = service
        .map(|x| x.resource_group.clone())
        .or_else(|| state.resource_groups.first().map(|g| g.name.clone()))
        .unwrap_or_default();
    let account = state
        .storage_accounts
        .iter()
        .find(|a| a.name == c.storage_account);
    let current = account.and_then(|a| a.keys.first().cloned());
    let key = match (c.storage_key, current) {
        (KeyChoice::Current, Some(k)) => k,
        (KeyChoice::Stale, Some(k)) => {
            if let Some(a) = account {
                let path = format!(
                    "/subscriptions/{subscription}/resourceGroups/{}/providers/Microsoft.Storage/storageAccounts/{}/regenerateKey?api-version=2023-01-01",
                    a.resource_group, a.name
                );
                let token = sim.writer_token(None)?;
                sim.handle(
                    HttpRequest::new("POST", &path)
                        .header("authorization", &format!("Bearer {token}"))
                        .json(&json!({"keyName": "key1"})),
                );
            }
            k
        }
        _ => WRONG_KEY.to_string(),
    };
    if let Some(busy) = c.busy {
        hold_service(&sim, &subscription, &resource_group, c, busy)?;
    }
    let start_seq = sim.journal().last().map(|e| e.seq).unwrap_or(0);
    let limit = sc
        .time_limit
        .map(|d| Duration::from_millis(d.as_millis().max(0) as u64))
        .unwrap_or(DEFAULT_TIME_LIMIT);
    let principal = state
        .identity
        .principals
        .iter()
        .find(|p| match c.principal {
            PrincipalChoice::Contributor => matches!(p.role, Role::Owner | Role::Contributor),
            PrincipalChoice::Reader => p.role == Role::Reader,
        })
        .ok_or_else(|| {
            format!(
                "{}: the world has no {:?} principal for the client",
                s.path.display(),
                c.principal
            )
        })?;
    let token = sim.issue_token_for(
        &principal.client_id,
        "https://management.azure.com/",
        c.token_lifetime.unwrap_or(VDuration::from_days(30)),
    )?;
    let ca_path = ca.path().display().to_string();
    let env: Vec<(&str, String)> = vec![
        ("ARMSIM_ENDPOINT", server.endpoint.clone()),
        ("ARMSIM_TOKEN", token),
        ("ARMSIM_CA_CERT", ca_path.clone()),
        ("REQUESTS_CA_BUNDLE", ca_path.clone()),
        ("SSL_CERT_FILE", ca_path.clone()),
        ("NODE_EXTRA_CA_CERTS", ca_path),
        ("AZURE_AUTHORITY_HOST", server.endpoint.clone()),
        ("AZURE_TENANT_ID", state.identity.tenant_id.clone()),
        ("AZURE_CLIENT_ID", principal.client_id.clone()),
        ("AZURE_CLIENT_SECRET", principal.client_secret.clone()),
        ("ARMSIM_SUBSCRIPTION_ID", subscription),
        ("ARMSIM_RESOURCE_GROUP", resource_group),
        ("ARMSIM_SERVICE_NAME", c.service.clone()),
        ("ARMSIM_OPERATION", c.operation.as_str().into()),
        ("ARMSIM_STORAGE_ACCOUNT", c.storage_account.clone()),
        ("ARMSIM_STORAGE_KEY", key),
        ("ARMSIM_CONTAINER", c.container.clone()),
        ("ARMSIM_BACKUP_NAME", c.backup_name.clone()),
        ("ARMSIM_SCENARIO", sc.name.clone()),
        // For clients with the `custom-poll-interval` ability: the wall seconds to wait between polls
        // when the service sends no Retry-After (a client may ignore it; scenarios that need it say so).
        ("ARMSIM_POLL_INTERVAL", "1".into()),
        // Not in the issue's list: lets a client give up before the harness stops it.
        ("ARMSIM_TIME_LIMIT", limit.as_secs().to_string()),
    ];
    let exit = run_command(cmd, &env, limit).await?;
    let journal = sim.journal_since(start_seq);
    server.shutdown().await;
    if exit.code == Some(127) && journal.is_empty() {
        return Err(format!(
            "client command not found: {cmd}: {}",
            exit.stderr.trim()
        ));
    }
    let ctx = oracle_context(sc);
    let mut verdict = oracle::judge(&journal, &exit, &ctx);
    oracle::apply_overrides(&mut verdict, &sc.oracle);
    let mut findings = verdict.findings;
    findings.extend(check_client(c, &exit, &journal));
    findings.extend(check_journal(&sc.expect_journal, &journal));
    findings.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.rule.cmp(&b.rule)));
    let mut r = skipped(s, String::new());
    r.skip_reason = None;
    r.findings = findings;
    r.exercised = verdict.exercised;
    r.situations = verdict.situations;
    r.client = Some(exit);
    r.journal = journal;
    Ok(r)
}

/// What the oracle must know about a scenario's faults: which answers never reached the client intact.
pub(crate) fn oracle_context(sc: &scenario::Scenario) -> Context {
    Context {
        undelivered_faults: sc
            .faults
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                matches!(
                    r.action,
                    FaultAction::DropConnection
                        | FaultAction::TruncateBody
                        | FaultAction::InvalidJson
                )
            })
            .map(|(i, r)| r.name.clone().unwrap_or_else(|| format!("fault-{}", i + 1)))
            .collect(),
        ..Context::default()
    }
}

/// How long a client stopped at its time limit has between `SIGTERM` and `SIGKILL`: long enough for a
/// script's `trap` to remove what it made (the CLI example's configuration folder, a runbook's lock),
/// short enough that a client ignoring the signal costs a run little.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Stops a client's whole process group (`sh -c` and whatever it started) as a service manager would:
/// `SIGTERM`, then, for whatever is still running [`STOP_GRACE`] later, `SIGKILL`. Signals go through
/// `kill(1)`: sending one to a group from Rust needs `unsafe` or another crate.
async fn stop_group(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let group = format!("-{pid}");
        let signal = |sig: &str| {
            std::process::Command::new("kill")
                .args([sig, "--", &group])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        signal("-TERM");
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            // Reaped, so that a finished `sh` does not count as a member still running.
            let _ = child.try_wait();
            if !signal("-0") || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        signal("-KILL");
    }
    let _ = child.kill().await;
    let _ = child.wait().await;
}

/// Runs `sh -c CMD` with the env contract; stops its whole process group at `limit` ([`stop_group`]).
async fn run_command(
    cmd: &str,
    env: &[(&str, String)],
    limit: Duration,
) -> Result<ClientExit, String> {
    let started = Instant::now();
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start sh -c {cmd}: {e}"))?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let read_out = tokio::spawn(async move {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s).await;
        }
        s
    });
    let read_err = tokio::spawn(async move {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s).await;
        }
        s
    });
    let (code, killed) = match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) => (status.code(), false),
        Ok(Err(e)) => return Err(format!("waiting for the client: {e}")),
        Err(_) => {
            stop_group(&mut child).await;
            (None, true)
        }
    };
    let stdout = tokio::time::timeout(Duration::from_secs(5), read_out)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let stderr = tokio::time::timeout(Duration::from_secs(5), read_err)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Ok(ClientExit {
        code,
        killed,
        stdout,
        stderr,
        wall_ms: started.elapsed().as_millis() as u64,
    })
}

pub(crate) fn check_client(
    c: &ClientRun,
    exit: &ClientExit,
    journal: &[JournalEntry],
) -> Vec<Finding> {
    let mut out = Vec::new();
    let last = journal.last().map(|e| e.seq);
    let ok = exit.code == Some(0);
    let want_ok = c.expect.exit == ExitExpectation::Success;
    if ok != want_ok {
        out.push(Finding {
            rule: "scenario.client-exit".into(),
            severity: Severity::Error,
            message: "The client's exit status is not what the scenario expects.".into(),
            expected: if want_ok {
                "exit 0".into()
            } else {
                "non-zero exit".into()
            },
            actual: match exit.code {
                Some(c) => format!("exit {c}"),
                None => "killed".into(),
            },
            journal_seq: last,
        });
    }
    if let Some(code) = &c.expect.error_code {
        if !exit.stdout.contains(code.as_str()) && !exit.stderr.contains(code.as_str()) {
            out.push(Finding {
                rule: "scenario.error-code".into(),
                severity: Severity::Error,
                message: "The client did not print the ARM error code the scenario expects.".into(),
                expected: code.clone(),
                actual: tail(&format!("{}{}", exit.stdout, exit.stderr)),
                journal_seq: last,
            });
        }
    }
    out
}

fn tail(s: &str) -> String {
    let s = s.trim();
    let start = s.char_indices().rev().nth(200).map(|(i, _)| i).unwrap_or(0);
    if s.is_empty() {
        "(no output)".into()
    } else {
        s[start..].to_string()
    }
}

/// Checks `expectJournal` counts.
pub fn check_journal(expect: &[JournalExpectation], journal: &[JournalEntry]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, x) in expect.iter().enumerate() {
        let matching: Vec<&JournalEntry> = journal
            .iter()
            .filter(|e| {
                x.route.as_deref().is_none_or(|r| r == e.route)
                    && x.method
                        .as_deref()
                        .is_none_or(|m| m.eq_ignore_ascii_case(&e.method))
                    && x.status.is_none_or(|s| s == e.status)
                    && x.fault.as_deref().is_none_or(|f| {
                        e.fault
                            .as_deref()
                            .is_some_and(|g| g.split(',').any(|n| n == f))
                    })
            })
            .collect();
        let n = matching.len() as u32;
        let ok = x.count.is_none_or(|c| c == n)
            && x.min.is_none_or(|m| n >= m)
            && x.max.is_none_or(|m| n <= m);
        if !ok {
            let want = match (x.count, x.min, x.max) {
                (Some(c), _, _) => format!("{c}"),
                (None, Some(a), Some(b)) => format!("{a}..={b}"),
                (None, Some(a), None) => format!("≥ {a}"),
                (None, None, Some(b)) => format!("≤ {b}"),
                _ => "any".into(),
            };
            out.push(Finding {
                rule: "scenario.journal".into(),
                severity: Severity::Error,
                message: format!(
                    "expectJournal[{i}]: entries matching route={} method={} status={} fault={}",
                    x.route.as_deref().unwrap_or("*"),
                    x.method.as_deref().unwrap_or("*"),
                    x.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "*".into()),
                    x.fault.as_deref().unwrap_or("*"),
                ),
                expected: want,
                actual: n.to_string(),
                journal_seq: matching
                    .first()
                    .map(|e| e.seq)
                    .or_else(|| journal.last().map(|e| e.seq)),
            });
        }
    }
    out
}

/// The path a report shows for a scenario file: relative to the current directory when it can be.
pub fn display_path(p: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|d| p.strip_prefix(d).ok().map(|r| r.display().to_string()))
        .unwrap_or_else(|| p.display().to_string())
}

/// Writes the in-process simulator's CA certificate where clients can read it (a file per server, in a
/// folder per run), removed once the client is done with it.
fn write_ca(server: &RunningServer) -> Result<Scratch, String> {
    let pem = server
        .ca_pem
        .as_deref()
        .ok_or("the client's simulator serves no TLS")?;
    let dir = std::env::temp_dir().join(format!("armsim-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("ca-{}.pem", server.addr.port()));
    std::fs::write(&path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Scratch::in_own_folder(path))
}

/// Starts another operation on the client's service through ARM, as a colleague would, so the client
/// meets a busy service.
fn hold_service(
    sim: &armsim_simulator::Simulator,
    subscription: &str,
    resource_group: &str,
    c: &ClientRun,
    busy: BusyWith,
) -> Result<(), String> {
    let token = sim.writer_token(None)?;
    let service = format!(
        "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.ApiManagement/service/{}",
        c.service
    );
    let (method, path, body) = match busy {
        BusyWith::Update => {
            let sku = sim
                .state()
                .services
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(&c.service))
                .map(|s| (s.sku.clone(), s.capacity.unwrap_or(1)))
                .ok_or_else(|| format!("busy: no service '{}'", c.service))?;
            (
                "PATCH",
                service,
                json!({"sku": {"name": sku.0, "capacity": sku.1 + 1}}),
            )
        }
        BusyWith::Backup => {
            let key = sim
                .state()
                .storage_accounts
                .iter()
                .find(|a| a.name == c.storage_account)
                .and_then(|a| a.keys.first().cloned())
                .unwrap_or_default();
            (
                "POST",
                format!("{service}/backup"),
                json!({"storageAccount": c.storage_account, "containerName": c.container,
                       "backupName": "colleague.apimbackup", "accessKey": key}),
            )
        }
    };
    let answer = sim.handle(
        HttpRequest::new(method, &format!("{path}?api-version=2024-05-01"))
            .header("authorization", &format!("Bearer {token}"))
            .json(&body),
    );
    if answer.status != 202 {
        return Err(format!(
            "busy: {method} {path} answered {} instead of 202: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    fn mark(name: &str) -> Scratch {
        Scratch::file(
            std::env::temp_dir().join(format!("armsim-stop-{name}-{}", std::process::id())),
        )
    }

    #[tokio::test]
    async fn a_client_at_its_time_limit_is_sent_sigterm_and_its_trap_runs() {
        let cleaned = mark("trap");
        let cmd = format!(
            r#"trap 'echo cleaned > "{}"; exit 3' TERM; while :; do sleep 0.05; done"#,
            cleaned.path().display()
        );
        let exit = run_command(&cmd, &[], Duration::from_millis(300))
            .await
            .expect("ran");
        assert!(exit.killed, "stopped at the limit");
        let written = std::fs::read_to_string(cleaned.path()).unwrap_or_default();
        assert_eq!(written.trim(), "cleaned", "the client's TERM trap ran");
        assert!(
            u128::from(exit.wall_ms) < (Duration::from_millis(300) + STOP_GRACE).as_millis(),
            "a client that exits on TERM is not held for the grace period: {} ms",
            exit.wall_ms
        );
    }

    #[tokio::test]
    async fn a_client_that_ignores_sigterm_is_killed_after_the_grace_period() {
        let survived = mark("ignore");
        // The grandchild ignores TERM too, and would write its mark if it outlived the stop.
        let cmd = format!(
            r#"trap '' TERM; (sleep 4; echo alive > "{}") & wait"#,
            survived.path().display()
        );
        let exit = run_command(&cmd, &[], Duration::from_millis(200))
            .await
            .expect("ran");
        assert!(exit.killed);
        let waited = Duration::from_millis(exit.wall_ms);
        assert!(
            waited >= STOP_GRACE,
            "held for the grace period first: {waited:?}"
        );
        assert!(
            waited < STOP_GRACE + Duration::from_secs(2),
            "then killed: {waited:?}"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            !survived.path().exists(),
            "nothing of the client's group outlives the stop"
        );
    }
}
