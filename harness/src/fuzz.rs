//! Property-based testing of pollers: generated server behaviours, shrunk failures, replayable files.
//!
//! A [`Script`] is what the simulator does for one backup or restore: how many polls answer "still
//! running" and with which `Retry-After`, which monitor headers the 202 carries, how the operation ends,
//! and a few faults a correct client must survive. [`script`] is its proptest strategy; the script is a
//! struct of `Vec`s, `Option`s and small enums whose simplest variants come first, so proptest shrinks
//! toward fewer polls, fewer faults and plainer headers. [`to_scenario`] turns a script into an ordinary
//! client scenario (so `armsim run FILE --client CMD` replays it) and [`to_yaml`] writes it.
//!
//! Two ways to use it: [`check_poller`] runs a Rust poller in-process against every generated script
//! (proptest's `PROPTEST_CASES`, seeds and regression files apply); [`fuzz_client`] runs any command
//! with the `armsim run --client` environment, in parallel, and shrinks the first failure
//! (`armsim fuzz`).
//!
//! # What a correct client must survive
//!
//! The model stays within ARM's contract as the official SDKs read it (`CLIENTS.md`); where they
//! differ, the choice is here and in `docs/fidelity.md`:
//!
//! - **`Retry-After`** of 1 s (the simulator's own), 2 s, [`LONG_RETRY_AFTER`] s, `0`, or none,
//!   changing from answer to answer. `0` asks for no wait: a client may poll at once or, as the
//!   SDKs do, fall back on its own interval; the oracle requires a gap of at least the value, so a
//!   `0` flags neither. A client with no short interval of its own to fall back on (Python's is
//!   30 s) gets neither `0` nor a missing header unless it declares `custom-poll-interval`, and the
//!   schedule assumes that interval is 1 s (`ARMSIM_POLL_INTERVAL`). The long value catches a client
//!   that caps the hint; its time limit still leaves room for every wait twice over.
//! - **A 404 on an early poll** ([`Script::not_found`]): ARM has been seen answering an operation's
//!   URL with 404 right after its 202 (HashiCorp's go-azure-sdk polls through it since 2024). The
//!   official SDKs take a 4xx on a poll for the end, except that azure-core's Python retry policy
//!   retries any 4xx carrying `Retry-After`; the JavaScript SDK does not. So surviving it is not
//!   asked of every client: the 404 carries `ResourceNotFound` and `Retry-After: 1` (which the oracle
//!   reads as "not yet": not terminal, to be retried), `armsim fuzz` generates it only for a client
//!   that declares `--ability tolerates-early-404`, and the written scenario `requires` that ability.
//!   In-process, [`ModelConfig::early_not_found`] is on by default; turn it off for a poller that
//!   follows the SDKs.
//!
//! # Timing
//!
//! The simulator's clock runs [`FUZZ_TIME_SCALE`] times faster than the wall clock, but
//! `Retry-After` is sent in whole wall seconds (at least 1), so a client that honours it really sleeps.
//! The operation's duration is computed from the script's schedule of waits so that exactly the scripted
//! polls see it running: it ends half a wait after the last of them, which leaves each side of the race
//! half a second or more of slack.
//!
//! In-process, that sleeping is what made a case cost seconds. So [`check_poller`] runs at a *pace*
//! ([`PollerCheck::pace`], default [`DEFAULT_PACE`] = 0.1): the poller waits through
//! [`PollerEnv::sleep`], which sleeps `pace` times the wait asked; the simulator's clock runs at
//! `FUZZ_TIME_SCALE / pace`; latency faults are scaled by `pace`; and the oracle judges gaps against
//! `Retry-After × pace` ([`oracle::Context::pace`]). The poller sees exactly the answers and headers
//! of a real-time run — `Retry-After: 2` still says 2 — in a tenth of the time; the slack of the race
//! shrinks with the pace too (50 ms at 0.1), which an in-process HTTP round trip stays well within.
//!
//! # Shrinking
//!
//! proptest keeps any smaller case that still fails. A smaller case can fail for another reason — a
//! different bug, or the same poller tripping over something simpler — and shrinking would slide onto
//! it. Both [`check_poller`] and [`fuzz_client`] count a case as failing while shrinking only if it
//! breaks exactly the rules the first failure broke ([`Failure::rules`]), so the shrunk case
//! reproduces the failure that was found.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, RngSeed, TestRng, TestRunner,
};
use serde::Serialize;
use serde_json::{json, Value};

use armsim_simulator::server::RunningServer;

use crate::oracle::{self, ClientExit, Finding, Severity};
use crate::run::{self, Outcome};
use crate::scenario::{ClientOperation, LoadedScenario, Scenario};

/// Virtual seconds per wall second in generated scenarios (as in every client scenario).
pub const FUZZ_TIME_SCALE: f64 = run::CLIENT_TIME_SCALE;
/// The backup a generated restore restores.
const RESTORE_BLOB: &str = "fuzz.apimbackup";

/// Wall seconds of [`RetryAfter::Long`]: 50 virtual minutes at the client time scale. ARM's hints can
/// be minutes; five seconds is long enough to catch a client that caps the hint or gives up on a
/// patient wait, and short enough that a case with several of them stays within its time limit.
pub const LONG_RETRY_AFTER: u64 = 5;

/// The client ability that lets the model answer an early poll with 404 (see [`Script::not_found`]).
pub const EARLY_404_ABILITY: &str = "tolerates-early-404";

/// The client ability that lets the model send answers without a usable `Retry-After`.
pub const CUSTOM_POLL_INTERVAL_ABILITY: &str = "custom-poll-interval";

/// The `Retry-After` of one answer, in wall seconds. The simplest variant comes first: proptest
/// shrinks toward it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RetryAfter {
    /// 1 s: what the simulator sends by default (ARM's 60 s, at least one whole second).
    One,
    /// 2 s.
    Two,
    /// `Retry-After: 0`: no wait asked. The official SDKs read it as no hint and wait their own
    /// interval (the reference client: `ARMSIM_POLL_INTERVAL`, 1 s, which the schedule assumes);
    /// polling at once is legal too. Needs `custom-poll-interval`, like [`RetryAfter::Absent`].
    Zero,
    /// [`LONG_RETRY_AFTER`] seconds.
    Long,
    /// No header: the client waits its own interval (`ARMSIM_POLL_INTERVAL`, 1 s).
    Absent,
}

impl RetryAfter {
    /// The header's value; `None` without the header.
    fn header(self) -> Option<u64> {
        match self {
            RetryAfter::One => Some(1),
            RetryAfter::Two => Some(2),
            RetryAfter::Zero => Some(0),
            RetryAfter::Long => Some(LONG_RETRY_AFTER),
            RetryAfter::Absent => None,
        }
    }

    /// The wait the schedule assumes: the header, or the client's own interval (1 s) without a
    /// usable one.
    fn wall_secs(self) -> f64 {
        match self.header() {
            Some(0) | None => 1.0,
            Some(n) => n as f64,
        }
    }

    /// Whether the client must fall back on its own interval (the `custom-poll-interval` ability).
    fn needs_own_interval(self) -> bool {
        matches!(self, RetryAfter::Zero | RetryAfter::Absent)
    }

    fn describe(self) -> String {
        self.header()
            .map_or_else(|| "no Retry-After".into(), |n| format!("Retry-After {n}"))
    }

    /// The fault action that puts this on an answer; `None` for the simulator's own 1 s.
    fn action(self) -> Option<Value> {
        match self {
            RetryAfter::One => None,
            RetryAfter::Absent => Some(json!("noRetryAfter")),
            other => other.header().map(|n| json!({ "retryAfter": n })),
        }
    }
}

/// The monitor headers of the 202.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Monitor {
    Location,
    /// `Azure-AsyncOperation` instead of `Location`.
    AsyncOperation,
    /// Both: poll the status URL, then GET `Location` for the result.
    Both,
}

/// One poll that answers "still running".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Poll {
    pub retry_after: RetryAfter,
    /// The answer carries a different (valid) `Location` the client must follow.
    pub new_location: bool,
}

/// How the operation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Terminal {
    Succeeded,
    /// A backup the service fails (`BackupFailed`).
    BackupFailed,
    /// A restore of a 31-day-old backup (`RestoreFailed`).
    RestoreExpired,
    /// A restore of a Premium backup into a Developer service (`RestoreFailed`).
    RestoreSkuMismatch,
}

impl Terminal {
    fn error_code(self) -> Option<&'static str> {
        match self {
            Terminal::Succeeded => None,
            Terminal::BackupFailed => Some("BackupFailed"),
            Terminal::RestoreExpired | Terminal::RestoreSkuMismatch => Some("RestoreFailed"),
        }
    }
}

/// Which request a fault hits: the POST, or the n-th poll (from 1, counting faulted polls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Site {
    Post,
    Poll(u8),
}

/// What the simulator does for one backup or restore. Faults on the same request as an earlier fault
/// (throttle, then server error, then dropped connection) are left out; poll numbers past the
/// terminal poll move onto it (see [`Script::normalised`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    pub operation: ClientOperation,
    /// `Retry-After` on the 202 that accepts the operation.
    pub accepted_retry_after: RetryAfter,
    /// The polls that answer 202 (in progress), in order.
    pub polls: Vec<Poll>,
    pub monitor: Monitor,
    /// Monitor URLs are relative (path and query only).
    pub relative: bool,
    pub terminal: Terminal,
    /// One 429 with this `Retry-After` (1 or 2 s).
    pub throttle: Option<(Site, u8)>,
    /// One 500 or 503 (with `Retry-After: 1`).
    pub server_error: Option<(Site, u16)>,
    /// One poll whose connection drops after the request is processed.
    pub dropped: Option<u8>,
    /// One answer held back this many milliseconds.
    pub latency: Option<(Site, u16)>,
    /// One early poll (1 or 2) answered `404 ResourceNotFound` with `Retry-After: 1`: the operation's
    /// record not replicated yet. Generated only for clients that declare `tolerates-early-404` (see
    /// the module docs for why).
    pub not_found: Option<u8>,
}

/// Limits of the model.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// In-progress polls: `0..max_polls`.
    pub max_polls: usize,
    /// Generate answers without a usable `Retry-After` — none, or `0` — (for clients with the
    /// `custom-poll-interval` ability).
    pub absent_retry_after: bool,
    /// Generate faults.
    pub faults: bool,
    /// Generate a 404 on an early poll (for clients with the `tolerates-early-404` ability).
    pub early_not_found: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            max_polls: 8,
            absent_retry_after: true,
            faults: true,
            early_not_found: true,
        }
    }
}

/// Plain 1 s most of the time; [`RetryAfter::Long`] rarely, as each costs seconds of real waiting.
fn retry_after(absent: bool) -> BoxedStrategy<RetryAfter> {
    if absent {
        prop_oneof![
            6 => Just(RetryAfter::One),
            2 => Just(RetryAfter::Two),
            1 => Just(RetryAfter::Zero),
            1 => Just(RetryAfter::Long),
            2 => Just(RetryAfter::Absent)
        ]
        .boxed()
    } else {
        prop_oneof![
            6 => Just(RetryAfter::One),
            2 => Just(RetryAfter::Two),
            1 => Just(RetryAfter::Long)
        ]
        .boxed()
    }
}

/// `Some` with this chance, else `None` — at chance 0 always `None` (proptest's `weighted` wants a
/// chance strictly between 0 and 1).
fn sometimes<S>(chance: f64, s: S) -> BoxedStrategy<Option<S::Value>>
where
    S: Strategy + 'static,
    S::Value: Clone + std::fmt::Debug,
{
    if chance > 0.0 {
        prop::option::weighted(chance, s).boxed()
    } else {
        Just(None).boxed()
    }
}

fn site(max_poll: u8) -> impl Strategy<Value = Site> {
    prop_oneof![Just(Site::Post), (1..=max_poll).prop_map(Site::Poll)]
}

/// The strategy of legal behaviours for one operation.
pub fn script(operation: ClientOperation, config: &ModelConfig) -> BoxedStrategy<Script> {
    let max_poll = (config.max_polls as u8).saturating_add(1).max(1);
    let poll = (
        retry_after(config.absent_retry_after),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(retry_after, new_location)| Poll {
            retry_after,
            new_location,
        });
    let terminal = match operation {
        ClientOperation::Backup => {
            prop_oneof![3 => Just(Terminal::Succeeded), 1 => Just(Terminal::BackupFailed)].boxed()
        }
        ClientOperation::Restore => prop_oneof![
            4 => Just(Terminal::Succeeded),
            1 => Just(Terminal::RestoreExpired),
            1 => Just(Terminal::RestoreSkuMismatch)
        ]
        .boxed(),
    };
    let monitor = prop_oneof![
        2 => Just(Monitor::Location),
        1 => Just(Monitor::AsyncOperation),
        1 => Just(Monitor::Both)
    ];
    let faults = config.faults;
    let fault_chance = if faults { 0.3 } else { 0.0 };
    let throttle = sometimes(fault_chance, (site(max_poll), 1u8..=2));
    let server_error = sometimes(
        fault_chance,
        (site(max_poll), prop_oneof![Just(500u16), Just(503u16)]),
    );
    let dropped = sometimes(fault_chance, 1..=max_poll);
    let latency = sometimes(
        fault_chance,
        (site(max_poll), (1u16..=5).prop_map(|n| n * 100)),
    );
    let not_found_chance = if config.early_not_found {
        fault_chance
    } else {
        0.0
    };
    let not_found = sometimes(not_found_chance, 1u8..=2);
    (
        retry_after(config.absent_retry_after),
        prop::collection::vec(poll, 0..config.max_polls.max(1)),
        monitor,
        prop::bool::weighted(0.2),
        terminal,
        (throttle, server_error, dropped, latency, not_found),
    )
        .prop_map(
            move |(
                accepted_retry_after,
                polls,
                monitor,
                relative,
                terminal,
                (throttle, server_error, dropped, latency, not_found),
            )| Script {
                operation,
                accepted_retry_after,
                polls,
                monitor,
                relative,
                terminal,
                throttle,
                server_error,
                dropped,
                latency,
                not_found,
            },
        )
        .boxed()
}

/// One request of the schedule the script implies.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    site: Site,
    /// Wall seconds after the operation was accepted at which a client that waits exactly the
    /// `Retry-After`s sends it.
    at: f64,
    answer: String,
}

impl Script {
    /// The plainest behaviour, where every script shrinks to when every step still fails: accepted
    /// with `Retry-After: 1` on `Location`, no running poll, success, no fault. A base for writing one
    /// by hand: `Script { polls: …, ..Script::plainest(operation) }`.
    pub fn plainest(operation: ClientOperation) -> Script {
        Script {
            operation,
            accepted_retry_after: RetryAfter::One,
            polls: vec![],
            monitor: Monitor::Location,
            relative: false,
            terminal: Terminal::Succeeded,
            throttle: None,
            server_error: None,
            dropped: None,
            latency: None,
            not_found: None,
        }
    }

    /// The same behaviour with fault poll numbers clamped to the terminal poll and colliding faults
    /// dropped: what [`to_scenario`] writes and the trace shows.
    pub fn normalised(&self) -> Script {
        let mut s = self.clone();
        let mut taken: Vec<Site> = Vec::new();
        let keep = |site: Site, taken: &mut Vec<Site>| {
            if taken.contains(&site) {
                false
            } else {
                taken.push(site);
                true
            }
        };
        // Without faults, the terminal poll is the one after the running ones.
        let last = (s.polls.len() + 1).min(u8::MAX as usize) as u8;
        let clamp = |site: Site| match site {
            Site::Poll(n) => Site::Poll(n.clamp(1, last)),
            Site::Post => Site::Post,
        };
        s.throttle = s
            .throttle
            .map(|(x, r)| (clamp(x), r))
            .filter(|(x, _)| keep(*x, &mut taken));
        s.server_error = s
            .server_error
            .map(|(x, c)| (clamp(x), c))
            .filter(|(x, _)| keep(*x, &mut taken));
        s.dropped = s
            .dropped
            .map(|n| n.clamp(1, last))
            .filter(|n| keep(Site::Poll(*n), &mut taken));
        s.not_found = s
            .not_found
            .map(|n| n.clamp(1, last))
            .filter(|n| keep(Site::Poll(*n), &mut taken));
        s.latency = s.latency.map(|(x, ms)| (clamp(x), ms));
        s
    }

    /// Faults and non-default headers: how far from the plainest behaviour this is.
    pub fn size(&self) -> usize {
        let s = self.normalised();
        s.polls.len()
            + [
                s.throttle.is_some(),
                s.server_error.is_some(),
                s.dropped.is_some(),
                s.latency.is_some(),
                s.not_found.is_some(),
                s.relative,
                s.monitor != Monitor::Location,
                s.accepted_retry_after != RetryAfter::One,
                s.terminal != Terminal::Succeeded,
            ]
            .iter()
            .filter(|b| **b)
            .count()
            + s.polls
                .iter()
                .filter(|p| p.new_location || p.retry_after != RetryAfter::One)
                .count()
    }

    /// The poll numbers at which each in-progress poll is answered, the schedule, and the operation's
    /// wall duration.
    fn schedule(&self) -> (Vec<u8>, Vec<Step>, f64) {
        let s = self.normalised();
        let latency = |site: Site| {
            s.latency
                .filter(|(x, _)| *x == site)
                .map_or(0.0, |(_, ms)| f64::from(ms) / 1000.0)
        };
        let mut steps = vec![Step {
            site: Site::Post,
            at: 0.0,
            answer: format!("202 {}", s.accepted_retry_after.describe()),
        }];
        let mut t = latency(Site::Post);
        let mut wait = s.accepted_retry_after.wall_secs();
        let mut end = t + wait / 2.0;
        let mut in_progress = Vec::new();
        for p in 1..=u8::MAX {
            t += wait + latency(Site::Poll(p));
            let here = Site::Poll(p);
            let (answer, next) = if let Some((_, ra)) = s.throttle.filter(|(x, _)| *x == here) {
                (format!("429 Retry-After {ra}"), f64::from(ra))
            } else if let Some((_, code)) = s.server_error.filter(|(x, _)| *x == here) {
                (format!("{code} Retry-After 1"), 1.0)
            } else if s.dropped == Some(p) {
                ("connection dropped".to_string(), 1.0)
            } else if s.not_found == Some(p) {
                ("404 ResourceNotFound Retry-After 1".to_string(), 1.0)
            } else if let Some(poll) = s.polls.get(in_progress.len()) {
                in_progress.push(p);
                let mut a = format!("202 {}", poll.retry_after.describe());
                if poll.new_location {
                    a.push_str(", new Location");
                }
                end = t + poll.retry_after.wall_secs() / 2.0;
                (a, poll.retry_after.wall_secs())
            } else {
                let a = match s.terminal {
                    Terminal::Succeeded => "200 Succeeded".to_string(),
                    other => format!("Failed {}", other.error_code().unwrap_or_default()),
                };
                steps.push(Step {
                    site: here,
                    at: t,
                    answer: a,
                });
                break;
            };
            steps.push(Step {
                site: here,
                at: t,
                answer,
            });
            wait = next;
        }
        (in_progress, steps, end)
    }

    /// A short readable trace: one line per request of the schedule.
    pub fn trace(&self) -> String {
        let s = self.normalised();
        let (_, steps, end) = self.schedule();
        let mut out = format!(
            "{} via {}{}; the operation runs {:.1} s (wall)\n",
            s.operation.as_str(),
            match s.monitor {
                Monitor::Location => "Location",
                Monitor::AsyncOperation => "Azure-AsyncOperation",
                Monitor::Both => "Azure-AsyncOperation + Location",
            },
            if s.relative { ", relative URLs" } else { "" },
            end
        );
        for step in steps {
            let what = match step.site {
                Site::Post => "POST  ".to_string(),
                Site::Poll(n) => format!("poll {n}"),
            };
            let mut line = format!("  t={:>4.1}s {what} -> {}", step.at, step.answer);
            if let Some((_, ms)) = s.latency.filter(|(x, _)| *x == step.site) {
                line.push_str(&format!(" (after {ms} ms)"));
            }
            if step.site == Site::Post {
                if let Some((_, ra)) = s.throttle.filter(|(x, _)| *x == Site::Post) {
                    line = format!("  t= 0.0s POST   -> 429 Retry-After {ra}, retried\n{line}");
                }
                if let Some((_, code)) = s.server_error.filter(|(x, _)| *x == Site::Post) {
                    line = format!("  t= 0.0s POST   -> {code} Retry-After 1, retried\n{line}");
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

fn fault(name: &str, when: Value, action: Value, once: bool) -> Value {
    let mut f = json!({"name": name, "when": when, "action": action});
    if once {
        f["times"] = json!(1);
    }
    f
}

fn when(site: Site, action_route: &str) -> Value {
    match site {
        Site::Post => json!({"route": action_route}),
        Site::Poll(n) => json!({"poll": n}),
    }
}

/// The client scenario that makes the simulator behave as `script` says; its expectation is success
/// unless the script ends in a service failure.
pub fn to_scenario(script: &Script, name: &str) -> Scenario {
    to_scenario_paced(script, name, 1.0)
}

/// [`to_scenario`] for a poller whose waits last `pace` times the protocol's: the same faults and
/// headers, the same virtual schedule, with latency faults (wall milliseconds) scaled by `pace` so
/// they keep their place in the schedule. The simulator's clock must run at `FUZZ_TIME_SCALE / pace`.
fn to_scenario_paced(script: &Script, name: &str, pace: f64) -> Scenario {
    let s = script.normalised();
    let (in_progress, steps, end) = s.schedule();
    let action_route = format!("service.{}", s.operation.as_str());
    let mut faults = Vec::new();
    if let Some(action) = s.accepted_retry_after.action() {
        let name = match s.accepted_retry_after {
            RetryAfter::Absent => "accepted-no-retry-after",
            _ => "accepted-retry-after",
        };
        faults.push(fault(name, json!({"route": action_route}), action, false));
    }
    match s.monitor {
        Monitor::Location => {}
        Monitor::AsyncOperation => faults.push(fault(
            "async-operation",
            json!({"route": action_route}),
            json!({"asyncOperation": "instead"}),
            false,
        )),
        Monitor::Both => faults.push(fault(
            "async-operation",
            json!({"route": action_route}),
            json!({"asyncOperation": "besides"}),
            false,
        )),
    }
    if s.relative {
        faults.push(fault(
            "relative",
            json!({"route": "any"}),
            json!("relativeLocation"),
            false,
        ));
    }
    for (poll, n) in s.polls.iter().zip(&in_progress) {
        if let Some(action) = poll.retry_after.action() {
            let name = match poll.retry_after {
                RetryAfter::Absent => format!("poll-{n}-no-retry-after"),
                _ => format!("poll-{n}-retry-after"),
            };
            faults.push(fault(&name, json!({"poll": n}), action, false));
        }
        if poll.new_location {
            faults.push(fault(
                &format!("poll-{n}-new-location"),
                json!({"poll": n}),
                json!("newLocation"),
                false,
            ));
        }
    }
    if let Some((site, ra)) = s.throttle {
        faults.push(fault(
            "throttle",
            when(site, &action_route),
            json!({"throttle": {"retryAfter": ra}}),
            true,
        ));
    }
    if let Some((site, status)) = s.server_error {
        faults.push(fault(
            &format!("error-{status}"),
            when(site, &action_route),
            json!({"error": {"status": status, "retryAfter": 1}}),
            true,
        ));
    }
    if let Some(n) = s.dropped {
        faults.push(fault(
            "drop",
            json!({"poll": n}),
            json!("dropConnection"),
            true,
        ));
    }
    if let Some(n) = s.not_found {
        // The simulator's own answer for an operation it does not know, plus the Retry-After
        // that says "not yet".
        faults.push(fault(
            "not-found-yet",
            json!({"poll": n}),
            json!({"error": {"status": 404, "code": "ResourceNotFound",
                "message": "Operation result was not found.", "retryAfter": 1}}),
            true,
        ));
    }
    if let Some((site, ms)) = s.latency {
        let wall_ms = (f64::from(ms) * pace).round() as u64;
        faults.push(fault(
            "latency",
            when(site, &action_route),
            json!({"latency": {"ms": wall_ms}}),
            true,
        ));
    }
    let duration_ms = (end * FUZZ_TIME_SCALE * 1000.0).round() as i64;
    let mut behaviour = json!({"durations": {s.operation.as_str(): format!("{duration_ms}ms")}});
    if s.terminal == Terminal::BackupFailed {
        behaviour["outcomes"] = json!([{"kind": "backup",
            "fail": {"code": "BackupFailed", "message": "Cannot back up: the storage account refused the write."}}]);
    }
    let mut client = json!({"operation": s.operation.as_str(), "expect": {"exit": "success"}});
    let mut world = json!({});
    if s.operation == ClientOperation::Restore {
        client["backupName"] = json!(RESTORE_BLOB);
        let mut backup = json!({"name": RESTORE_BLOB, "age": "1d"});
        match s.terminal {
            Terminal::RestoreExpired => backup["age"] = json!("31d"),
            Terminal::RestoreSkuMismatch => backup["sku"] = json!("Premium"),
            _ => {}
        }
        world["backups"] = json!([backup]);
    }
    if let Some(code) = s.terminal.error_code() {
        client["expect"] = json!({"exit": "failure", "errorCode": code});
    }
    let total = steps.last().map_or(0.0, |x| x.at);
    // The reference client gives up at half the limit: leave it room for a slow machine.
    let limit_s = (2.0 * total + 20.0).ceil() as i64;
    let mut requires = Vec::new();
    if s.accepted_retry_after.needs_own_interval()
        || s.polls.iter().any(|p| p.retry_after.needs_own_interval())
    {
        requires.push(CUSTOM_POLL_INTERVAL_ABILITY);
    }
    if s.not_found.is_some() {
        requires.push(EARLY_404_ABILITY);
    }
    let description = format!(
        "Generated by armsim fuzz. What the simulator does:\n{}",
        s.trace()
    );
    let doc = json!({
        "name": name,
        "description": description,
        "tags": ["client", "fuzz"],
        "requires": requires,
        "world": world,
        "behaviour": behaviour,
        "faults": faults,
        "timeLimit": format!("{limit_s}s"),
        "client": client,
    });
    serde_json::from_value(doc).expect("a generated scenario is a valid scenario")
}

/// The scenario as a file `armsim run` replays.
pub fn to_yaml(scenario: &Scenario) -> Result<String, String> {
    let body = serde_saphyr::to_string(scenario).map_err(|e| e.to_string())?;
    Ok(format!(
        "# yaml-language-server: $schema=../scenarios/schema.json\n{body}"
    ))
}

fn loaded(scenario: Scenario) -> LoadedScenario {
    LoadedScenario {
        path: PathBuf::from(format!("{}.yaml", scenario.name)),
        scenario,
        simulator_only: Vec::new(),
    }
}

/// How a run failed: which rules it broke, and what they say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The ids of the broken error rules (`lro.retry-after-honoured`, `scenario.client-exit`, …).
    /// Shrinking keeps a smaller case only if it breaks exactly these: a simpler case that fails
    /// some other way is another bug, not a smaller reproduction of this one.
    pub rules: BTreeSet<String>,
    /// The findings, expected and actual side by side.
    pub findings: String,
}

impl Failure {
    /// The failure the error findings make; `None` when there are none.
    fn of(findings: &[Finding]) -> Option<Failure> {
        let errors: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        if errors.is_empty() {
            return None;
        }
        Some(Failure {
            rules: errors.iter().map(|f| f.rule.clone()).collect(),
            findings: describe_findings(&errors),
        })
    }

    /// armsim could not run the case: a failure of its own kind.
    fn harness(e: String) -> Failure {
        Failure {
            rules: ["armsim.error".to_string()].into_iter().collect(),
            findings: format!("  armsim could not run the case: {e}"),
        }
    }

    /// The broken rules, comma-separated.
    pub fn rule_list(&self) -> String {
        self.rules.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn describe_findings(findings: &[&Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "  {}: {}\n    expected: {}\n    actual:   {}",
                f.rule, f.message, f.expected, f.actual
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Shrinks `tree` as proptest does — simplify while the case still fails, complicate when it stops —
/// except that a case failing *differently* (another set of broken rules than `first`) counts as
/// passing, so the shrunk case reproduces the failure that was found. `run` judges one case:
/// `Ok(None)` it passed, `Ok(Some)` it failed, `Err` armsim could not run it. Stops after `max_runs`
/// runs or `max_time`. Returns the smallest failing case, its failure and the runs spent.
async fn shrink<T, F, Fut>(
    tree: &mut T,
    first: Failure,
    max_runs: u32,
    max_time: Duration,
    mut run: F,
) -> Result<(Script, Failure, u32), String>
where
    T: ValueTree<Value = Script>,
    F: FnMut(Script) -> Fut,
    Fut: Future<Output = Result<Option<Failure>, String>>,
{
    let mut best = (tree.current(), first);
    let mut runs = 0;
    let started = Instant::now();
    if !tree.simplify() {
        return Ok((best.0, best.1, runs));
    }
    while runs < max_runs && started.elapsed() < max_time {
        let candidate = tree.current();
        let result = if candidate.normalised() == best.0.normalised() {
            // Same behaviour once normalised: no need to run the client again.
            Some(best.1.clone())
        } else {
            runs += 1;
            run(candidate.clone()).await?
        };
        let more = match result {
            Some(f) if f.rules == best.1.rules => {
                best = (candidate, f);
                tree.simplify()
            }
            _ => tree.complicate(),
        };
        if !more {
            break;
        }
    }
    Ok((best.0, best.1, runs))
}

// ---- in-process: Rust pollers -----------------------------------------------------------------------

/// Wall seconds per second of protocol wait in [`check_poller`] unless [`PollerCheck::pace`] says
/// otherwise: a case costs a tenth of its real waiting.
pub const DEFAULT_PACE: f64 = 0.1;

/// The least wall time an in-process case gets before the poller is stopped, whatever the pace:
/// HTTP round trips do not get faster with it.
const MIN_IN_PROCESS_LIMIT: Duration = Duration::from_secs(10);

/// What a poller under test is given: where ARM is, what to back up or restore, and how to wait.
#[derive(Debug, Clone)]
pub struct PollerEnv {
    /// `http://127.0.0.1:PORT` (plain HTTP: no certificate to trust).
    pub endpoint: String,
    /// A bearer token for the whole case.
    pub token: String,
    pub subscription: String,
    pub resource_group: String,
    pub service: String,
    pub operation: ClientOperation,
    pub storage_account: String,
    pub storage_key: String,
    pub container: String,
    pub backup_name: String,
    /// Wall seconds per second of protocol wait: [`PollerCheck::pace`]. [`PollerEnv::sleep`] applies it.
    pub pace: f64,
}

impl PollerEnv {
    /// The URL to POST (`…/service/{name}/backup?api-version=2024-05-01`).
    pub fn action_url(&self) -> String {
        format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/{}?api-version=2024-05-01",
            self.endpoint,
            self.subscription,
            self.resource_group,
            self.service,
            self.operation.as_str()
        )
    }

    /// The body of that POST.
    pub fn action_body(&self) -> Value {
        json!({
            "storageAccount": self.storage_account,
            "containerName": self.container,
            "backupName": self.backup_name,
            "accessType": "AccessKey",
            "accessKey": self.storage_key,
        })
    }

    /// Waits `wait` of protocol time — a `Retry-After`, a retry's back-off, the poller's own
    /// interval — in `wait × pace` of wall time. The simulator's clock runs `1 / pace` times faster
    /// to match, so the poller gets exactly the answers, headers included, that it would get waiting
    /// in real time, in a fraction of the time. A poller under test sleeps through this (in
    /// production, through `tokio::time::sleep`); one that sleeps on its own wants `pace` 1.
    pub async fn sleep(&self, wait: Duration) {
        tokio::time::sleep(wait.mul_f64(self.pace)).await;
    }
}

/// What the poller concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollerOutcome {
    Succeeded,
    /// The operation failed with this ARM error code (`RestoreFailed`), or the poller gave up.
    Failed {
        code: String,
    },
}

/// How [`check_poller`] runs.
#[derive(Debug, Clone)]
pub struct PollerCheck {
    pub operation: ClientOperation,
    /// What to generate. The default includes every behaviour of the model, the 404 on an early poll
    /// too (`model.early_not_found = false` for a poller that, like the official SDKs, takes every
    /// 4xx on a poll for the end).
    pub model: ModelConfig,
    /// Cases; default `PROPTEST_CASES`, else 64.
    pub cases: u32,
    /// Shrinking re-runs the poller: at most this many times.
    pub max_shrink_iters: u32,
    /// Keep failing cases in `{test file}.proptest-regressions` beside the test file and try them first.
    pub persist_failures: bool,
    /// Wall seconds per second of protocol wait ([`DEFAULT_PACE`]); see [`PollerEnv::sleep`]. 1 runs
    /// in real time (for a poller that cannot sleep through `PollerEnv::sleep`). Much below 0.1 the
    /// race's slack (half a wait × pace) nears an HTTP round trip, and long behaviours drift: the
    /// poller then sees fewer running polls than scripted (at 0.02, 22 of 40 cases with up to 8 polls
    /// drifted; at 0.1, none).
    pub pace: f64,
    /// A fixed seed for the generator; default proptest's (`PROPTEST_RNG_SEED`, else random).
    pub rng_seed: Option<u64>,
}

impl PollerCheck {
    pub fn new(operation: ClientOperation) -> Self {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64);
        Self {
            operation,
            model: ModelConfig {
                max_polls: 4,
                ..ModelConfig::default()
            },
            cases,
            max_shrink_iters: 64,
            persist_failures: true,
            pace: DEFAULT_PACE,
            rng_seed: None,
        }
    }
}

/// Judges one run of a Rust poller against one script, its waits at `pace` (see
/// [`PollerEnv::sleep`]): `Ok(None)` it passed, `Ok(Some)` how it failed, `Err` armsim could not run
/// the case.
pub async fn judge_poller<F, Fut>(
    script: &Script,
    seed: u64,
    pace: f64,
    poller: &F,
) -> Result<Option<Failure>, String>
where
    F: Fn(PollerEnv) -> Fut,
    Fut: Future<Output = PollerOutcome>,
{
    if !(pace > 0.0 && pace.is_finite()) {
        return Err(format!("the pace must be a positive number, not {pace}"));
    }
    let s = loaded(to_scenario_paced(script, "fuzz-in-process", pace));
    let Some(client) = s.scenario.client.clone() else {
        return Err("the generated scenario has no client".into());
    };
    let server = RunningServer::start(run::sim_config(&s, seed, FUZZ_TIME_SCALE / pace)?).await?;
    let sim = server.sim.clone();
    let state = sim.state();
    let service = state
        .services
        .iter()
        .find(|x| x.name.eq_ignore_ascii_case(&client.service))
        .ok_or("the world has no service for the poller")?;
    let env = PollerEnv {
        endpoint: server.endpoint.clone(),
        // A token for the whole case, as `armsim run --client` gives (token expiry is another test).
        token: sim.writer_token(Some(armsim_simulator::VDuration::from_days(30)))?,
        subscription: state
            .subscriptions
            .first()
            .map(|x| x.id.clone())
            .unwrap_or_default(),
        resource_group: service.resource_group.clone(),
        service: client.service.clone(),
        operation: client.operation,
        storage_account: client.storage_account.clone(),
        storage_key: state
            .storage_accounts
            .iter()
            .find(|a| a.name == client.storage_account)
            .and_then(|a| a.keys.first().cloned())
            .unwrap_or_default(),
        container: client.container.clone(),
        backup_name: client.backup_name.clone(),
        pace,
    };
    let start_seq = sim.journal().last().map(|e| e.seq).unwrap_or(0);
    let limit = s
        .scenario
        .time_limit
        .map(|d| Duration::from_millis(d.as_millis().max(0) as u64))
        .unwrap_or(run::DEFAULT_TIME_LIMIT)
        .mul_f64(pace)
        .max(MIN_IN_PROCESS_LIMIT);
    let started = Instant::now();
    let outcome = tokio::time::timeout(limit, poller(env)).await;
    let mut exit = ClientExit {
        wall_ms: started.elapsed().as_millis() as u64,
        ..ClientExit::default()
    };
    match outcome {
        Ok(PollerOutcome::Succeeded) => exit.code = Some(0),
        Ok(PollerOutcome::Failed { code }) => {
            exit.code = Some(1);
            exit.stderr = code;
        }
        Err(_) => exit.killed = true,
    }
    let journal = sim.journal_since(start_seq);
    server.shutdown().await;
    let mut ctx = run::oracle_context(&s.scenario);
    ctx.pace = pace;
    let mut verdict = oracle::judge(&journal, &exit, &ctx);
    oracle::apply_overrides(&mut verdict, &s.scenario.oracle);
    let mut findings = verdict.findings;
    findings.extend(run::check_client(&client, &exit, &journal));
    Ok(Failure::of(&findings))
}

/// For every generated behaviour, the poller reaches the right outcome and breaks no error rule of the
/// oracle. Panics with the shrunk behaviour (a trace and the scenario file) otherwise, like a failing
/// `proptest!`; failures are kept in `{test file}.proptest-regressions` beside the calling test file
/// and tried first next time. The shrunk behaviour breaks the same rules as the first failure found:
/// a simpler case that fails some other way does not count while shrinking.
#[track_caller]
pub fn check_poller<F, Fut>(check: PollerCheck, poller: F)
where
    F: Fn(PollerEnv) -> Fut,
    Fut: Future<Output = PollerOutcome>,
{
    let caller = std::panic::Location::caller().file();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the simulator");
    let mut config = Config {
        cases: check.cases,
        max_shrink_iters: check.max_shrink_iters,
        source_file: Some(caller),
        failure_persistence: check.persist_failures.then(|| {
            Box::new(FileFailurePersistence::SourceParallel(
                "proptest-regressions",
            )) as Box<_>
        }),
        ..Config::default()
    };
    if let Some(seed) = check.rng_seed {
        config.rng_seed = RngSeed::Fixed(seed);
    }
    let mut runner = TestRunner::new(config);
    let strategy = script(check.operation, &check.model);
    // The rules the first failure broke: while shrinking, only a case that breaks the same ones fails.
    let first: RefCell<Option<BTreeSet<String>>> = RefCell::new(None);
    let result = runner.run(&strategy, |s| {
        let failure = match runtime.block_on(judge_poller(&s, 0, check.pace, &poller)) {
            Ok(None) => return Ok(()),
            Ok(Some(f)) => f,
            Err(e) => Failure::harness(e),
        };
        let mut first = first.borrow_mut();
        if first.as_ref().is_some_and(|rules| *rules != failure.rules) {
            return Ok(());
        }
        *first = Some(failure.rules.clone());
        Err(TestCaseError::fail(format!(
            "{}broke {}\n{}",
            s.trace(),
            failure.rule_list(),
            failure.findings
        )))
    });
    if let Err(e) = result {
        let detail = match &e {
            proptest::test_runner::TestError::Fail(_, s) => format!(
                "\nshrunk behaviour (size {}):\n{}\nscenario file:\n{}",
                s.size(),
                s.trace(),
                to_yaml(&to_scenario(s, "fuzz-shrunk")).unwrap_or_default()
            ),
            _ => String::new(),
        };
        panic!("the poller failed a generated behaviour: {e}{detail}");
    }
}

// ---- out of process: any client ---------------------------------------------------------------------

/// Options of `armsim fuzz`.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    pub client: String,
    pub operation: ClientOperation,
    pub cases: u32,
    pub seed: u64,
    pub jobs: usize,
    /// Abilities the client declares; without `custom-poll-interval` every answer has `Retry-After`.
    pub abilities: Vec<String>,
    /// Stop starting new cases after this much wall time.
    pub time_limit: Option<Duration>,
    /// Shrinking re-runs the client: at most this many times...
    pub max_shrink_runs: u32,
    /// ...and for at most this long.
    pub max_shrink_time: Duration,
    pub model: ModelConfig,
    /// Where the shrunk case is written.
    pub out: PathBuf,
}

/// The first failure, shrunk.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// Index (from 0) of the generated case that failed first.
    pub case: u32,
    pub original_size: usize,
    pub script: Script,
    /// The rules it breaks: the same as the original case's.
    pub rules: BTreeSet<String>,
    pub findings: String,
    /// Client runs spent shrinking.
    pub shrink_runs: u32,
    pub file: PathBuf,
}

/// What `armsim fuzz` found.
#[derive(Debug, Clone)]
pub struct FuzzReport {
    pub seed: u64,
    pub cases_run: u32,
    pub wall_ms: u64,
    pub failure: Option<Shrunk>,
    /// The command that replays the shrunk case.
    pub reproduce: Option<String>,
}

/// Runs `case(index, item)` for each item, at most `jobs` at once, and stops starting new ones after a
/// failure or at `deadline`. Items start in index order (a permit is taken before each is spawned), so
/// every item below one that started has started too and runs to its end: the failure returned is the
/// lowest failing index whatever the scheduling, and the same seed reports the same case. Returns how
/// many ran, and the first failure with its index.
async fn run_in_order<T, E, F, Fut>(
    items: Vec<T>,
    jobs: usize,
    deadline: Option<Instant>,
    case: F,
) -> Result<(u32, Option<(usize, E)>), String>
where
    E: Send + 'static,
    F: Fn(usize, T) -> Fut,
    Fut: Future<Output = Result<Option<E>, String>> + Send + 'static,
{
    let semaphore = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let permit = semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        if failed.load(std::sync::atomic::Ordering::Relaxed)
            || deadline.is_some_and(|d| Instant::now() >= d)
        {
            break;
        }
        let (run, failed) = (case(i, item), failed.clone());
        tasks.push(tokio::spawn(async move {
            let result = run.await;
            if matches!(result, Ok(Some(_))) {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            drop(permit);
            result
        }));
    }
    let mut first = None;
    let mut ran = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let failure = t.await.map_err(|e| format!("a case panicked: {e}"))??;
        ran += 1;
        if let (Some(f), None) = (failure, &first) {
            first = Some((i, f));
        }
    }
    Ok((ran, first))
}

/// How one client run of one script failed (`None`: it passed or was skipped).
async fn run_case(
    script: &Script,
    name: &str,
    client: &str,
    abilities: &[String],
    seed: u64,
) -> Result<Option<Failure>, String> {
    let s = loaded(to_scenario(script, name));
    let r = run::run_client_scenario(&s, client, abilities, seed).await?;
    Ok(match r.outcome {
        Outcome::Failed => Failure::of(&r.findings),
        _ => None,
    })
}

/// A kebab-case word for the client in file names (`broken-polls-forever` for
/// `python3 tests/clients/broken_polls_forever.py`), so fuzzing several clients into one directory
/// keeps each one's case.
fn client_slug(cmd: &str) -> String {
    let word = cmd
        .split_whitespace()
        .rfind(|w| !w.starts_with('-'))
        .unwrap_or("client");
    let base = word.rsplit('/').next().unwrap_or(word);
    let stem = base.split('.').next().unwrap_or(base);
    let slug: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "client".into()
    } else {
        slug.to_string()
    }
}

fn test_rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Runs `opts.client` against `opts.cases` generated behaviours (`opts.jobs` at a time), shrinks the
/// first failure and writes it to `opts.out`. `Err` means armsim could not do its job.
pub async fn fuzz_client(
    opts: &FuzzOptions,
    progress: impl Fn(u32, u32) + Send + Sync + 'static,
) -> Result<FuzzReport, String> {
    let started = Instant::now();
    let mut model = opts.model.clone();
    let declares = |ability: &str| opts.abilities.iter().any(|a| a == ability);
    model.absent_retry_after &= declares(CUSTOM_POLL_INTERVAL_ABILITY);
    model.early_not_found &= declares(EARLY_404_ABILITY);
    let strategy = script(opts.operation, &model);
    let mut runner = TestRunner::new_with_rng(Config::default(), test_rng(opts.seed));
    let mut trees = Vec::new();
    for _ in 0..opts.cases {
        trees.push(
            strategy
                .new_tree(&mut runner)
                .map_err(|e| format!("generating a case: {e}"))?,
        );
    }
    let scripts: Vec<Script> = trees.iter().map(|t| t.current()).collect();
    let done = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let total = opts.cases;
    let progress = Arc::new(progress);
    let deadline = opts.time_limit.map(|d| started + d);
    let (cases_run, first) = run_in_order(scripts, opts.jobs, deadline, |i, s| {
        let (done, progress) = (done.clone(), progress.clone());
        let (client, abilities, seed) = (opts.client.clone(), opts.abilities.clone(), opts.seed);
        async move {
            let name = format!("fuzz-{}-seed-{seed}-case-{i}", s.operation.as_str());
            let failed = run_case(&s, &name, &client, &abilities, seed).await?;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n, total);
            Ok(failed)
        }
    })
    .await?;
    let Some((index, findings)) = first else {
        return Ok(FuzzReport {
            seed: opts.seed,
            cases_run,
            wall_ms: started.elapsed().as_millis() as u64,
            failure: None,
            reproduce: None,
        });
    };
    let mut tree = trees.swap_remove(index);
    let original_size = tree.current().size();
    let name = format!(
        "fuzz-{}-{}-seed-{}-case-{index}",
        client_slug(&opts.client),
        opts.operation.as_str(),
        opts.seed
    );
    let (shrunk, failure, shrink_runs) = shrink(
        &mut tree,
        findings,
        opts.max_shrink_runs,
        opts.max_shrink_time,
        |candidate| {
            let (name, client, abilities, seed) = (&name, &opts.client, &opts.abilities, opts.seed);
            async move { run_case(&candidate, name, client, abilities, seed).await }
        },
    )
    .await?;
    let scenario = to_scenario(&shrunk, &name);
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let file = opts.out.join(format!("{name}.yaml"));
    std::fs::write(&file, to_yaml(&scenario)?).map_err(|e| format!("{}: {e}", file.display()))?;
    let reproduce = format!(
        "armsim run {} --client {}{} --seed {}",
        run::display_path(&file),
        shell_quote(&opts.client),
        opts.abilities
            .iter()
            .map(|a| format!(" --ability {a}"))
            .collect::<String>(),
        opts.seed
    );
    Ok(FuzzReport {
        seed: opts.seed,
        cases_run,
        wall_ms: started.elapsed().as_millis() as u64,
        failure: Some(Shrunk {
            case: index as u32,
            original_size,
            script: shrunk.normalised(),
            rules: failure.rules,
            findings: failure.findings,
            shrink_runs,
            file,
        }),
        reproduce: Some(reproduce),
    })
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

/// Writes the scenario of `script` to `path`.
pub fn write_scenario(path: &Path, script: &Script, name: &str) -> Result<(), String> {
    std::fs::write(path, to_yaml(&to_scenario(script, name))?)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;

    #[test]
    fn every_generated_script_makes_a_scenario_that_reads_back() {
        let mut runner = TestRunner::new_with_rng(Config::default(), test_rng(7));
        for op in [ClientOperation::Backup, ClientOperation::Restore] {
            let strategy = script(op, &ModelConfig::default());
            for _ in 0..200 {
                let s = strategy.new_tree(&mut runner).expect("a case").current();
                let sc = to_scenario(&s, "fuzz-test");
                let yaml = to_yaml(&sc).expect("yaml");
                let back = crate::scenario::parse(&yaml, "fuzz-test.yaml").expect("parses");
                assert_eq!(back.faults, sc.faults, "{yaml}");
                crate::scenario::build_world(&back).expect("the world builds");
            }
        }
    }

    #[test]
    fn the_operation_ends_between_the_last_running_poll_and_the_terminal_poll() {
        let s = Script {
            polls: vec![
                Poll {
                    retry_after: RetryAfter::Two,
                    new_location: false,
                },
                Poll {
                    retry_after: RetryAfter::One,
                    new_location: true,
                },
            ],
            throttle: Some((Site::Poll(2), 2)),
            ..Script::plainest(ClientOperation::Backup)
        };
        let (in_progress, steps, end) = s.schedule();
        // poll 1 at 1 s (running, RA 2), poll 2 at 3 s (429, RA 2), poll 3 at 5 s (running, RA 1),
        // poll 4 at 6 s: terminal. The operation ends at 5.5 s.
        assert_eq!(in_progress, vec![1, 3]);
        let at: Vec<f64> = steps.iter().map(|x| x.at).collect();
        assert_eq!(at, vec![0.0, 1.0, 3.0, 5.0, 6.0]);
        assert!((end - 5.5).abs() < 1e-9);
        assert!(
            s.trace().contains("poll 4 -> 200 Succeeded"),
            "{}",
            s.trace()
        );
    }

    /// A poller that takes the 202 for the end: the property must fail, and shrink to the plainest
    /// behaviour that shows it (one running poll, or none with a failure to report).
    #[test]
    #[should_panic(expected = "shrunk behaviour")]
    fn check_poller_catches_a_poller_that_does_not_poll() {
        let mut check = PollerCheck::new(ClientOperation::Backup);
        check.cases = 8;
        check.max_shrink_iters = 8;
        check.persist_failures = false;
        check_poller(check, |env: PollerEnv| async move {
            let http = crate::http::HttpClient::new(&env.endpoint, Some(env.token.clone()))
                .expect("a client");
            let r = http
                .send(
                    "POST",
                    &env.action_url(),
                    &[],
                    Some(&env.action_body()),
                    false,
                )
                .await;
            match r {
                Ok(r) if r.status < 300 => PollerOutcome::Succeeded,
                _ => PollerOutcome::Failed {
                    code: "HttpError".into(),
                },
            }
        });
    }

    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(u16, Option<String>)>>>;

    /// A Location poller that honours Retry-After through `env.sleep` and records every answer's
    /// status and Retry-After.
    async fn recording_poller(env: PollerEnv, seen: Seen) -> PollerOutcome {
        let http =
            crate::http::HttpClient::new(&env.endpoint, Some(env.token.clone())).expect("a client");
        let mut answer = http
            .send(
                "POST",
                &env.action_url(),
                &[],
                Some(&env.action_body()),
                false,
            )
            .await
            .expect("an answer");
        let mut location = String::new();
        loop {
            let ra = answer.header("retry-after").map(str::to_string);
            seen.lock()
                .expect("not poisoned")
                .push((answer.status, ra.clone()));
            if answer.status != 202 {
                return PollerOutcome::Succeeded;
            }
            location = answer.header("location").map_or(location, str::to_string);
            let secs = ra.and_then(|v| v.parse().ok()).unwrap_or(1);
            env.sleep(Duration::from_secs(secs)).await;
            answer = http
                .send("GET", &location, &[], None, false)
                .await
                .expect("an answer");
        }
    }

    /// The pace changes how long the poller sleeps, not what it sees: the same answers with the same
    /// Retry-After, in a fraction of the time.
    #[test]
    fn a_paced_case_sees_the_same_answers_in_a_fraction_of_the_time() {
        let s = Script {
            polls: vec![
                Poll {
                    retry_after: RetryAfter::Two,
                    new_location: false,
                },
                Poll {
                    retry_after: RetryAfter::One,
                    new_location: false,
                },
            ],
            ..Script::plainest(ClientOperation::Backup)
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let run = |pace: f64| {
            let seen = Seen::default();
            let started = Instant::now();
            let poller = |env: PollerEnv| recording_poller(env, seen.clone());
            let verdict = rt
                .block_on(judge_poller(&s, 0, pace, &poller))
                .expect("the case runs");
            let answers = seen.lock().expect("not poisoned").clone();
            (verdict, answers, started.elapsed())
        };
        let (real_verdict, real, real_time) = run(1.0);
        let (paced_verdict, paced, paced_time) = run(DEFAULT_PACE);
        assert_eq!(real_verdict, None);
        assert_eq!(
            paced_verdict, None,
            "judged at its pace, the paced poller is patient"
        );
        let ra = |v: &str| Some(v.to_string());
        let expected = vec![(202, ra("1")), (202, ra("2")), (202, ra("1")), (200, None)];
        assert_eq!(real, expected);
        assert_eq!(paced, expected);
        assert!(real_time >= Duration::from_secs(4), "{real_time:?}");
        assert!(
            paced_time < real_time / 3,
            "paced {paced_time:?}, real {real_time:?}"
        );
    }

    /// Fails one way when its single poll finds the operation running (it takes that for the end:
    /// lro.waits-for-terminal) and another when the poll finds it over (it reports a failure).
    /// Records which, per case.
    async fn hasty_poller(
        env: PollerEnv,
        kinds: std::sync::Arc<std::sync::Mutex<Vec<bool>>>,
    ) -> PollerOutcome {
        let failed = |code: &str| PollerOutcome::Failed { code: code.into() };
        let http =
            crate::http::HttpClient::new(&env.endpoint, Some(env.token.clone())).expect("a client");
        let Ok(accepted) = http
            .send(
                "POST",
                &env.action_url(),
                &[],
                Some(&env.action_body()),
                false,
            )
            .await
        else {
            return failed("Broken");
        };
        let Some(url) = accepted
            .header("azure-asyncoperation")
            .or(accepted.header("location"))
            .map(str::to_string)
        else {
            return failed("NoMonitor");
        };
        env.sleep(Duration::from_secs(1)).await;
        let Ok(r) = http.send("GET", &url, &[], None, false).await else {
            return failed("Broken");
        };
        let status = r
            .json()
            .and_then(|v| v.get("status").and_then(Value::as_str).map(str::to_string));
        let running = r.status == 202 || status.as_deref() == Some("InProgress");
        kinds.lock().expect("not poisoned").push(running);
        if running {
            PollerOutcome::Succeeded
        } else {
            failed("Nope")
        }
    }

    /// The first case has running polls, so the poller breaks lro.waits-for-terminal; the plainest
    /// case (no running poll) makes it fail another way. Shrinking must not slip onto that one.
    #[test]
    fn check_poller_shrinks_to_a_case_that_fails_the_way_the_first_did() {
        let kinds = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut check = PollerCheck::new(ClientOperation::Backup);
        check.cases = 8;
        check.max_shrink_iters = 24;
        check.persist_failures = false;
        check.rng_seed = Some(4);
        check.model.faults = false;
        let recorded = kinds.clone();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_poller(check, |env| hasty_poller(env, recorded.clone()))
        }))
        .expect_err("the poller fails");
        let message = panicked
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        let kinds = kinds.lock().expect("not poisoned").clone();
        assert_eq!(
            kinds.first(),
            Some(&true),
            "the seed's first case has a running poll (else this test proves nothing)"
        );
        assert!(
            kinds.contains(&false),
            "shrinking tried a case that fails the other way"
        );
        assert!(
            message.contains("broke lro.waits-for-terminal"),
            "{message}"
        );
        assert!(!message.contains("outcome.success-reported"), "{message}");
    }

    #[test]
    fn a_client_command_gives_a_kebab_case_word_for_file_names() {
        assert_eq!(
            client_slug("python3 tests/clients/broken_polls_forever.py"),
            "broken-polls-forever"
        );
        assert_eq!(client_slug("./my-poller --verbose"), "my-poller");
        assert_eq!(client_slug(""), "client");
    }

    #[test]
    fn colliding_faults_are_left_out_and_late_polls_move_onto_the_terminal_poll() {
        let s = Script {
            operation: ClientOperation::Backup,
            accepted_retry_after: RetryAfter::One,
            polls: vec![],
            monitor: Monitor::Location,
            relative: false,
            terminal: Terminal::Succeeded,
            throttle: Some((Site::Poll(9), 1)),
            server_error: Some((Site::Poll(9), 500)),
            dropped: None,
            latency: None,
            not_found: Some(1),
        }
        .normalised();
        assert_eq!(s.throttle, Some((Site::Poll(1), 1)));
        assert_eq!(s.server_error, None);
        assert_eq!(s.not_found, None, "poll 1 is taken by the throttle");
    }

    fn faults_of(sc: &Scenario) -> Vec<Value> {
        sc.faults
            .rules
            .iter()
            .map(|r| serde_json::to_value(r).expect("a fault serialises"))
            .collect()
    }

    #[test]
    fn retry_after_zero_and_a_long_one_reach_the_wire_and_the_schedule() {
        let s = Script {
            accepted_retry_after: RetryAfter::Zero,
            polls: vec![
                Poll {
                    retry_after: RetryAfter::Long,
                    new_location: false,
                },
                Poll {
                    retry_after: RetryAfter::Zero,
                    new_location: false,
                },
            ],
            ..Script::plainest(ClientOperation::Backup)
        };
        let sc = to_scenario(&s, "fuzz-test");
        let faults = faults_of(&sc);
        let retry_afters: Vec<&Value> = faults
            .iter()
            .filter_map(|f| f["action"].get("retryAfter"))
            .collect();
        assert_eq!(retry_afters, vec![&json!(0), &json!(5), &json!(0)]);
        assert_eq!(sc.requires, vec!["custom-poll-interval".to_string()]);
        // After a 0 the schedule assumes the client's own interval (1 s), after the long one 5 s:
        // POST at 0, poll 1 at 1 (running, RA 5), poll 2 at 6 (running, RA 0), poll 3 at 7: done.
        let (in_progress, steps, end) = s.schedule();
        assert_eq!(in_progress, vec![1, 2]);
        let at: Vec<f64> = steps.iter().map(|x| x.at).collect();
        assert_eq!(at, vec![0.0, 1.0, 6.0, 7.0]);
        assert!((end - 6.5).abs() < 1e-9, "{end}");
        // The time limit still leaves the reference client (which gives up at half) its room.
        let limit = sc.time_limit.expect("a time limit").as_millis();
        assert!(limit >= 2 * 7_000 + 20_000, "{limit}");
        assert!(
            s.trace().contains("poll 1 -> 202 Retry-After 5"),
            "{}",
            s.trace()
        );
    }

    #[test]
    fn an_early_404_says_not_yet_and_needs_the_ability() {
        let s = Script {
            not_found: Some(1),
            polls: vec![Poll {
                retry_after: RetryAfter::One,
                new_location: false,
            }],
            ..Script::plainest(ClientOperation::Restore)
        };
        let sc = to_scenario(&s, "fuzz-test");
        let faults = faults_of(&sc);
        let not_found = faults
            .iter()
            .find(|f| f["action"]["error"]["status"] == json!(404))
            .expect("a 404 fault");
        assert_eq!(not_found["when"], json!({"poll": 1}));
        assert_eq!(not_found["times"], json!(1));
        assert_eq!(
            not_found["action"]["error"]["code"],
            json!("ResourceNotFound")
        );
        assert_eq!(not_found["action"]["error"]["retryAfter"], json!(1));
        assert_eq!(sc.requires, vec![EARLY_404_ABILITY.to_string()]);
        // The 404 is not a running poll: the running one is poll 2, the end poll 3.
        let (in_progress, _, _) = s.schedule();
        assert_eq!(in_progress, vec![2]);
        assert!(
            s.trace()
                .contains("poll 1 -> 404 ResourceNotFound Retry-After 1"),
            "{}",
            s.trace()
        );
        // Without the ability the model never generates it.
        let mut runner = TestRunner::new_with_rng(Config::default(), test_rng(3));
        let model = ModelConfig {
            early_not_found: false,
            ..ModelConfig::default()
        };
        let strategy = script(ClientOperation::Backup, &model);
        for _ in 0..300 {
            let s = strategy.new_tree(&mut runner).expect("a case").current();
            assert_eq!(s.not_found, None);
        }
    }

    /// Every part of the model shrinks toward its plainest form: one `Retry-After` second, no
    /// faults, Location, success.
    #[test]
    fn a_script_that_keeps_failing_shrinks_to_the_plainest_behaviour() {
        let mut runner = TestRunner::new_with_rng(Config::default(), test_rng(11));
        let strategy = script(ClientOperation::Backup, &ModelConfig::default());
        let mut seen_long = false;
        let mut seen_zero = false;
        let mut seen_404 = false;
        for _ in 0..300 {
            let mut tree = strategy.new_tree(&mut runner).expect("a case");
            let first = tree.current();
            seen_long |= first.accepted_retry_after == RetryAfter::Long;
            seen_zero |= first.accepted_retry_after == RetryAfter::Zero;
            seen_404 |= first.not_found.is_some();
            while tree.simplify() {}
            assert_eq!(
                tree.current().normalised(),
                Script::plainest(ClientOperation::Backup),
                "from {first:?}"
            );
        }
        assert!(
            seen_long && seen_zero && seen_404,
            "the model generates them"
        );
    }

    fn failure(rule: &str) -> Failure {
        Failure {
            rules: [rule.to_string()].into_iter().collect(),
            findings: format!("  {rule}: …"),
        }
    }

    /// Ten at a time, case 30 fails slowly and case 70 fails at once: the cases that ran are always a
    /// prefix of the list (so no case past a failure can run before one below it), the failure
    /// reported is case 30's though case 70's ended first, and no case starts after both.
    #[test]
    fn cases_start_in_index_order_and_the_lowest_failure_is_reported() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a runtime");
        for _ in 0..5 {
            let started = Arc::new(std::sync::Mutex::new(Vec::new()));
            let log = started.clone();
            let (ran, first) = runtime
                .block_on(run_in_order(
                    (0..200).collect(),
                    10,
                    None,
                    move |i, n: u64| {
                        let log = log.clone();
                        async move {
                            log.lock().expect("log").push(i);
                            let ms = match n {
                                30 => 80,
                                70 => 1,
                                _ => 5,
                            };
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            Ok(matches!(n, 30 | 70).then_some(n))
                        }
                    },
                ))
                .expect("runs");
            let mut started = started.lock().expect("log").clone();
            started.sort_unstable();
            assert_eq!(started, (0..started.len()).collect::<Vec<_>>());
            assert_eq!(ran as usize, started.len());
            assert_eq!(first, Some((30, 30)));
            assert!(
                ran < 200,
                "cases kept starting after the failures: {ran} ran"
            );
        }
    }

    /// A judge that fails every case, but one way with a dropped connection and another without:
    /// a shrink that accepted any failure would end at the plainest behaviour, without the drop.
    #[test]
    fn shrinking_keeps_the_failure_it_found_and_skips_a_different_one() {
        let mut runner = TestRunner::new_with_rng(Config::default(), test_rng(5));
        let strategy = script(ClientOperation::Backup, &ModelConfig::default());
        let judge = |s: &Script| {
            if s.normalised().dropped.is_some() {
                failure("retry.transient-retried")
            } else {
                failure("lro.waits-for-terminal")
            }
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let mut shrunk_some = 0;
        for _ in 0..200 {
            let mut tree = strategy.new_tree(&mut runner).expect("a case");
            let original = tree.current();
            if original.normalised().dropped.is_none() || original.size() < 3 {
                continue;
            }
            let first = judge(&original);
            let (shrunk, f, runs) = rt
                .block_on(shrink(
                    &mut tree,
                    first.clone(),
                    500,
                    Duration::from_secs(60),
                    |c| {
                        let r = judge(&c);
                        async move { Ok(Some(r)) }
                    },
                ))
                .expect("shrinks");
            assert_eq!(f.rules, first.rules, "{original:?} -> {shrunk:?}");
            let shrunk = shrunk.normalised();
            assert!(shrunk.dropped.is_some(), "{original:?} -> {shrunk:?}");
            // Everything else goes but a running poll or two (proptest shrinks the parts of a
            // tuple in order and does not go back: a poll kept while a fault still sat on the
            // drop's poll stays).
            assert_eq!(
                Script {
                    dropped: None,
                    polls: vec![],
                    ..shrunk.clone()
                },
                Script::plainest(ClientOperation::Backup),
                "{original:?} -> {shrunk:?}"
            );
            assert!(
                shrunk.size() < original.size(),
                "{original:?} -> {shrunk:?}"
            );
            assert!(runs > 0);
            shrunk_some += 1;
        }
        assert!(shrunk_some >= 10, "only {shrunk_some} cases had a drop");
    }
}
