//! The LRO oracle: named rules checked over the journal of a client run.
//!
//! Each rule has a stable id (`lro.retry-after-honoured`), a default [`Severity`] (`error` breaks
//! correctness, `warning` departs from ARM's guidance) and a message that says what was expected. The
//! oracle reads only the journal (what the simulator saw, wall times included) and the client's exit, so
//! it judges any client in any language. Waiting rules use wall time (`wallMs`) and the `Retry-After` the
//! simulator actually sent, which is in wall seconds — times [`Context::pace`] for an in-process poller
//! whose waits are scaled (`fuzz::check_poller`).
//!
//! Two readings every rule shares: `Retry-After: 0` asks for no wait, so polling at once after it is
//! never early (the official SDKs fall back to their own interval instead; both are fine); and a 4xx
//! that carries `Retry-After` on a poll means "not yet" (an operation record not replicated yet), so it
//! is not terminal and must be retried like a 429 — a 4xx without `Retry-After` stays terminal, as ARM
//! and the SDKs have it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use armsim_simulator::journal::JournalEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Error,
    Warning,
}

/// One departure from a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    pub expected: String,
    pub actual: String,
    /// The journal entry closest to the departure.
    pub journal_seq: Option<u64>,
}

/// A rule's id, default severity and what it asks.
pub struct RuleInfo {
    pub id: &'static str,
    pub severity: Severity,
    pub asks: &'static str,
}

/// Every oracle rule. Ids are stable: scenarios and CI filters refer to them.
pub const RULES: &[RuleInfo] = &[
    RuleInfo { id: "lro.first-poll-delay", severity: Severity::Warning, asks: "wait the 202's Retry-After before the first poll (official SDKs poll at once, hence a warning)" },
    RuleInfo { id: "lro.retry-after-honoured", severity: Severity::Error, asks: "wait at least the Retry-After of the previous poll answer before polling again" },
    RuleInfo { id: "lro.monitor-header-precedence", severity: Severity::Error, asks: "poll Azure-AsyncOperation when the 202 has it, else Location" },
    RuleInfo { id: "lro.polls-monitor-url", severity: Severity::Error, asks: "poll the monitor URL exactly as given (following a new Location), never the action URL" },
    RuleInfo { id: "lro.final-get", severity: Severity::Error, asks: "after Azure-AsyncOperation says Succeeded, GET the Location of the 202 (final-state-via: location)" },
    RuleInfo { id: "lro.stop-after-terminal", severity: Severity::Error, asks: "stop polling once the answer is terminal" },
    RuleInfo { id: "lro.waits-for-terminal", severity: Severity::Error, asks: "report success only after a terminal success answer" },
    RuleInfo { id: "lro.gives-up", severity: Severity::Error, asks: "give up within the time limit when the operation never ends" },
    RuleInfo { id: "retry.transient-retried", severity: Severity::Error, asks: "retry 429/5xx, broken answers and a poll's 4xx that carries Retry-After (not yet), after their Retry-After" },
    RuleInfo { id: "retry.no-retry-on-4xx", severity: Severity::Error, asks: "do not repeat a request that got a 4xx (other than 408/429) without Retry-After" },
    RuleInfo { id: "request.api-version-kept", severity: Severity::Error, asks: "send api-version on every ARM request, the same one on every poll" },
    RuleInfo { id: "request.client-request-id", severity: Severity::Warning, asks: "send x-ms-client-request-id on every request" },
    RuleInfo { id: "auth.token-renewed", severity: Severity::Error, asks: "get a new token before the old one expires (a restore outlives a token)" },
    RuleInfo { id: "request.content-type-json", severity: Severity::Error, asks: "send Content-Type: application/json with a JSON body" },
    RuleInfo { id: "mgmt.no-concurrent-operation", severity: Severity::Error, asks: "issue no management operation on a service while its backup or restore runs" },
    RuleInfo { id: "outcome.failure-surfaced", severity: Severity::Error, asks: "exit non-zero on a failed operation and print its ARM error code" },
    RuleInfo { id: "outcome.success-reported", severity: Severity::Error, asks: "exit 0 when the operation succeeded" },
];

pub fn rule_info(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.id == id)
}

/// How the client ended.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientExit {
    /// `None` when it was killed or died by a signal.
    pub code: Option<i32>,
    /// Stopped by the harness at the time limit.
    pub killed: bool,
    pub stdout: String,
    pub stderr: String,
    pub wall_ms: u64,
}

/// What the oracle needs besides the journal.
#[derive(Debug, Clone)]
pub struct Context {
    /// Fault names whose answers did not reach the client intact (dropped, cut, not JSON).
    pub undelivered_faults: BTreeSet<String>,
    /// Wall seconds a client must wait per second of `Retry-After`: 1 for a client process; less for
    /// an in-process poller that sleeps through `PollerEnv::sleep`, whose waits (and the simulator's
    /// clock) are scaled so a case costs a fraction of the real wait. The jitter tolerance scales too.
    pub pace: f64,
}

impl Default for Context {
    fn default() -> Self {
        Self {
            undelivered_faults: BTreeSet::new(),
            pace: 1.0,
        }
    }
}

/// The oracle's verdict on one run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub findings: Vec<Finding>,
    /// Rules that had something to check.
    pub exercised: BTreeSet<String>,
    /// Protocol situations the run went through.
    pub situations: BTreeSet<String>,
}

/// Slack for timer and scheduling jitter when comparing waits with Retry-After (at pace 1).
const TOLERANCE_MS: f64 = 150.0;
/// The least slack at any pace: the journal's wall times are whole milliseconds.
const MIN_TOLERANCE_MS: f64 = 10.0;

struct Lro {
    accept: usize,
    op: String,
    service: String,
    action_path: String,
    api_version: Option<String>,
    aao: Option<String>,
    location: Option<String>,
    polls: Vec<usize>,
    terminal: Option<(usize, bool)>,
}

fn norm(url: &str) -> String {
    let rest = match url.split_once("://") {
        Some((_, r)) => r.find('/').map(|i| &r[i..]).unwrap_or("/"),
        None => url,
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut p = path.to_string();
    while p.contains("//") {
        p = p.replace("//", "/");
    }
    if query.is_empty() {
        p
    } else {
        format!("{p}?{query}")
    }
}

fn target(e: &JournalEntry) -> String {
    norm(&if e.query.is_empty() {
        e.path.clone()
    } else {
        format!("{}?{}", e.path, e.query)
    })
}

/// The `Retry-After` of an answer in seconds, as sent (ARM sends whole seconds).
fn retry_after_secs(e: &JournalEntry) -> Option<u64> {
    e.response_header("retry-after")?.trim().parse::<u64>().ok()
}

fn is_transient_status(s: u16) -> bool {
    matches!(s, 408 | 429 | 500 | 502 | 503 | 504)
}

fn is_poll_route(route: &str) -> bool {
    route == "operation.poll" || route == "operation.status"
}

/// A 4xx on a poll that carries `Retry-After`: "not yet, ask again then" (ARM answering an operation
/// URL before the operation's record has replicated), not the operation's end.
fn is_not_yet(e: &JournalEntry) -> bool {
    is_poll_route(&e.route)
        && (400..500).contains(&e.status)
        && !is_transient_status(e.status)
        && e.response_header("retry-after").is_some()
}

fn error_code(e: &JournalEntry) -> Option<String> {
    let body = e.response_body.as_ref()?;
    body.pointer("/error/code")
        .and_then(Value::as_str)
        .map(str::to_string)
}

struct Judge<'a> {
    entries: &'a [JournalEntry],
    ctx: &'a Context,
    verdict: Verdict,
}

impl Judge<'_> {
    /// The wall milliseconds a client must wait after `e`: its `Retry-After` at the context's pace.
    fn required_wait_ms(&self, e: &JournalEntry) -> Option<u64> {
        retry_after_secs(e).map(|s| (s as f64 * 1000.0 * self.ctx.pace).round() as u64)
    }

    fn tolerance_ms(&self) -> u64 {
        (TOLERANCE_MS * self.ctx.pace).max(MIN_TOLERANCE_MS).round() as u64
    }

    fn delivered(&self, e: &JournalEntry) -> bool {
        e.fault.as_deref().is_none_or(|f| {
            !f.split(',')
                .any(|n| self.ctx.undelivered_faults.contains(n))
        })
    }

    fn finding(
        &mut self,
        rule: &str,
        message: String,
        expected: String,
        actual: String,
        seq: Option<u64>,
    ) {
        let severity = rule_info(rule)
            .map(|r| r.severity)
            .unwrap_or(Severity::Error);
        // One finding per rule is enough to name the bug; more would bury the report.
        if self.verdict.findings.iter().any(|f| f.rule == rule) {
            return;
        }
        self.verdict.findings.push(Finding {
            rule: rule.to_string(),
            severity,
            message,
            expected,
            actual,
            journal_seq: seq,
        });
    }

    fn exercise(&mut self, rule: &str) {
        self.verdict.exercised.insert(rule.to_string());
    }

    fn situation(&mut self, s: &str) {
        self.verdict.situations.insert(s.to_string());
    }

    /// Whether a poll answer is terminal, and if so whether it is a success.
    fn terminal(&self, e: &JournalEntry) -> Option<bool> {
        if !self.delivered(e) {
            return None;
        }
        if e.route == "operation.status" {
            if e.status == 200 {
                let status = e
                    .response_body
                    .as_ref()
                    .and_then(|b| b.get("status"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_ascii_lowercase();
                return match status.as_str() {
                    "succeeded" => Some(true),
                    "failed" | "canceled" | "cancelled" => Some(false),
                    _ => None,
                };
            }
        } else if matches!(e.status, 200 | 201 | 204) {
            return Some(true);
        }
        if e.status >= 400 && !is_transient_status(e.status) && !is_not_yet(e) {
            return Some(false);
        }
        None
    }

    fn lros(&mut self) -> Vec<Lro> {
        let mut out = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let action = e.route == "service.backup" || e.route == "service.restore";
            if !(action && e.method == "POST" && e.status == 202) {
                continue;
            }
            let Some(op) = e.operation_id.clone() else {
                continue;
            };
            if !self.delivered(e) {
                continue; // the client never learnt of this operation
            }
            let service = e
                .path
                .split('/')
                .filter(|s| !s.is_empty())
                .nth(7)
                .unwrap_or("")
                .to_string();
            let delivered = self.delivered(e);
            let aao = e
                .response_header("azure-asyncoperation")
                .map(norm)
                .filter(|_| delivered);
            let location = e
                .response_header("location")
                .map(norm)
                .filter(|_| delivered);
            let polls: Vec<usize> = self
                .entries
                .iter()
                .enumerate()
                .skip(i + 1)
                .filter(|(_, x)| {
                    x.operation_id.as_deref() == Some(op.as_str()) && x.method == "GET"
                })
                .map(|(j, _)| j)
                .collect();
            let terminal = polls
                .iter()
                .find_map(|&j| self.terminal(&self.entries[j]).map(|ok| (j, ok)));
            out.push(Lro {
                accept: i,
                op,
                service,
                action_path: norm(&e.path),
                api_version: e.query_param("api-version"),
                aao,
                location,
                polls,
                terminal,
            });
        }
        out
    }

    fn judge_lro(&mut self, lro: &Lro, exit: &ClientExit) {
        let entries = self.entries;
        let accept = &entries[lro.accept];
        match (&lro.aao, &lro.location) {
            (Some(_), Some(_)) => self.situation("202 with Azure-AsyncOperation and Location"),
            (Some(_), None) => self.situation("202 with Azure-AsyncOperation only"),
            (None, Some(_)) => self.situation("202 with Location only"),
            (None, None) => self.situation("202 without a monitor header"),
        }
        if accept
            .response_header("location")
            .is_some_and(|l| l.starts_with('/'))
        {
            self.situation("relative Location");
        }
        if accept.response_header("retry-after").is_none() {
            self.situation("202 without Retry-After");
        }
        // first poll delay: every poll inside the 202's Retry-After window is the start-up burst that
        // official SDKs make (Python once, JavaScript twice) — a departure from ARM's guidance, not a
        // correctness bug, so it is judged here (a warning), not by lro.retry-after-honoured.
        let startup_window = self.required_wait_ms(accept);
        let tolerance = self.tolerance_ms();
        if let (Some(&first), Some(ra)) = (lro.polls.first(), startup_window) {
            self.exercise("lro.first-poll-delay");
            let early: Vec<usize> = lro
                .polls
                .iter()
                .copied()
                .filter(|&p| entries[p].wall_ms.saturating_sub(accept.wall_ms) + tolerance < ra)
                .collect();
            if !early.is_empty() {
                let gap = entries[first].wall_ms.saturating_sub(accept.wall_ms);
                let message = if early.len() == 1 {
                    "The first poll came before the 202's Retry-After had passed.".to_string()
                } else {
                    format!(
                        "{} poll(s) came before the 202's Retry-After had passed.",
                        early.len()
                    )
                };
                self.finding(
                    "lro.first-poll-delay",
                    message,
                    format!("first poll ≥ {ra} ms after the 202"),
                    format!("{gap} ms"),
                    Some(entries[first].seq),
                );
            }
        }
        // monitor header precedence
        if let Some(&first) = lro.polls.first() {
            let want = lro.aao.clone().or_else(|| lro.location.clone());
            if let Some(want) = want {
                self.exercise("lro.monitor-header-precedence");
                let got = target(&entries[first]);
                let wrong_header = lro.aao.is_some() && entries[first].route != "operation.status";
                if wrong_header
                    || (lro.aao.is_none()
                        && got != want
                        && entries[first].route != "operation.poll")
                {
                    self.finding(
                        "lro.monitor-header-precedence",
                        "The client polled a different monitor URL than ARM's precedence picks (Azure-AsyncOperation, then Location).".into(),
                        format!("GET {want}"),
                        format!("GET {got}"),
                        Some(entries[first].seq),
                    );
                }
            }
        }
        // polls follow the announced URL; never the action URL
        let last_request = entries.len();
        let end = lro
            .terminal
            .map(|(j, _)| j)
            .unwrap_or(last_request.saturating_sub(1));
        let mut expected_url = lro.aao.clone().or_else(|| lro.location.clone());
        let mut prev_poll: Option<usize> = None;
        for j in lro.accept + 1..=end.min(last_request.saturating_sub(1)) {
            let e = &entries[j];
            if target(e).split('?').next() == Some(lro.action_path.as_str()) && e.method != "POST" {
                self.exercise("lro.polls-monitor-url");
                self.finding(
                    "lro.polls-monitor-url",
                    "The client polled the action URL (the POST's) instead of the monitor URL."
                        .into(),
                    format!("GET {}", expected_url.clone().unwrap_or_default()),
                    format!("{} {}", e.method, target(e)),
                    Some(e.seq),
                );
            }
            if !lro.polls.contains(&j) {
                continue;
            }
            if lro.aao.is_none() {
                if let Some(want) = &expected_url {
                    self.exercise("lro.polls-monitor-url");
                    if &target(e) != want && prev_poll.is_some() {
                        self.finding(
                            "lro.polls-monitor-url",
                            "The client did not poll the Location the previous answer gave.".into(),
                            format!("GET {want}"),
                            format!("GET {}", target(e)),
                            Some(e.seq),
                        );
                    }
                }
                if self.delivered(e) {
                    if let Some(l) = e.response_header("location") {
                        let l = norm(l);
                        if expected_url.as_ref() != Some(&l) {
                            self.situation("new Location on a poll");
                        }
                        expected_url = Some(l);
                    }
                }
            }
            // Retry-After between polls (after the 202's own window: see lro.first-poll-delay)
            let in_startup = startup_window
                .is_some_and(|ra| e.wall_ms.saturating_sub(accept.wall_ms) + tolerance < ra);
            if let (Some(p), false) = (prev_poll, in_startup) {
                let prev = &entries[p];
                if self.delivered(prev) {
                    if let Some(ra) = self.required_wait_ms(prev) {
                        self.exercise("lro.retry-after-honoured");
                        let gap = e.wall_ms.saturating_sub(prev.wall_ms);
                        if gap + tolerance < ra {
                            self.finding(
                                "lro.retry-after-honoured",
                                format!("The client polled again {gap} ms after an answer that said Retry-After: {} s.", retry_after_secs(prev).unwrap_or_default()),
                                format!("≥ {ra} ms between polls"),
                                format!("{gap} ms"),
                                Some(e.seq),
                            );
                        }
                    }
                }
            }
            prev_poll = Some(j);
        }
        // terminal handling
        match lro.terminal {
            Some((t, ok)) => {
                self.situation(if ok {
                    "operation succeeded"
                } else {
                    "operation failed"
                });
                self.exercise("lro.stop-after-terminal");
                let mut after: Vec<usize> = lro.polls.iter().copied().filter(|&j| j > t).collect();
                let final_get_needed =
                    ok && entries[t].route == "operation.status" && lro.location.is_some();
                if final_get_needed {
                    self.exercise("lro.final-get");
                    let loc = lro.location.clone().unwrap_or_default();
                    match after.iter().position(|&j| target(&entries[j]) == loc || entries[j].route == "operation.poll") {
                        Some(k) => {
                            after.remove(k);
                        }
                        None => self.finding(
                            "lro.final-get",
                            "Azure-AsyncOperation said Succeeded, but the client never fetched the result from Location.".into(),
                            format!("GET {loc}"),
                            "no final GET".into(),
                            Some(entries[t].seq),
                        ),
                    }
                } else if after.first().is_some_and(|&j| {
                    entries[j].route == "operation.poll"
                        && Some(target(&entries[j])) == lro.location
                }) {
                    // One more GET of the same Location is how .NET reads the result: harmless.
                    after.remove(0);
                }
                if let Some(&j) = after.first() {
                    self.finding(
                        "lro.stop-after-terminal",
                        format!(
                            "The client kept polling after a terminal answer: {} more request(s).",
                            after.len()
                        ),
                        "no poll after the terminal answer".into(),
                        format!("{} {}", entries[j].method, target(&entries[j])),
                        Some(entries[j].seq),
                    );
                }
                if ok {
                    self.exercise("outcome.success-reported");
                    if exit.code.is_some_and(|c| c != 0) {
                        self.finding(
                            "outcome.success-reported",
                            "The operation succeeded but the client exited with a failure.".into(),
                            "exit 0".into(),
                            format!("exit {}", exit.code.unwrap_or_default()),
                            Some(entries[t].seq),
                        );
                    }
                } else {
                    let code = error_code(&entries[t]).or_else(|| {
                        entries[t]
                            .response_body
                            .as_ref()
                            .and_then(|b| b.pointer("/error/code"))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    });
                    self.failure_surfaced(code, exit, entries[t].seq);
                }
            }
            None => {
                self.situation("operation never reached a terminal answer");
                if exit.code == Some(0) && !exit.killed {
                    self.exercise("lro.waits-for-terminal");
                    let seq = lro
                        .polls
                        .last()
                        .map(|&j| entries[j].seq)
                        .unwrap_or(accept.seq);
                    self.finding(
                        "lro.waits-for-terminal",
                        "The client reported success without ever seeing a terminal answer (it stopped polling early).".into(),
                        "a 200 on Location (or status Succeeded) before exit 0".into(),
                        format!("exit 0 after {} poll(s), the last one still running", lro.polls.len()),
                        Some(seq),
                    );
                }
            }
        }
        let _ = &lro.op;
    }

    fn failure_surfaced(&mut self, code: Option<String>, exit: &ClientExit, seq: u64) {
        self.exercise("outcome.failure-surfaced");
        let printed = code
            .as_deref()
            .is_none_or(|c| exit.stdout.contains(c) || exit.stderr.contains(c));
        let failed = exit.code.is_some_and(|c| c != 0) || exit.killed;
        if !failed || !printed {
            self.finding(
                "outcome.failure-surfaced",
                "The operation failed, but the client did not report it as a failure with the ARM error code.".into(),
                format!("non-zero exit and '{}' in the output", code.unwrap_or_default()),
                format!(
                    "exit {}{}",
                    exit.code.map(|c| c.to_string()).unwrap_or_else(|| "(killed)".into()),
                    if printed { "" } else { ", code not printed" }
                ),
                Some(seq),
            );
        }
    }
}

/// Judges a client run from its journal entries (only the client's) and its exit.
pub fn judge(entries: &[JournalEntry], exit: &ClientExit, ctx: &Context) -> Verdict {
    let mut j = Judge {
        entries,
        ctx,
        verdict: Verdict::default(),
    };
    let lros = j.lros();
    for lro in &lros {
        j.judge_lro(lro, exit);
    }
    // A POST refused outright is a failed operation too.
    if lros.is_empty() {
        if let Some(e) = entries.iter().rev().find(|e| {
            (e.route == "service.backup" || e.route == "service.restore")
                && e.method == "POST"
                && e.status >= 400
                && j.delivered(e)
        }) {
            j.situation("action refused synchronously");
            if !is_transient_status(e.status) {
                let code = error_code(e);
                j.failure_surfaced(code, exit, e.seq);
            }
        }
    }
    // Requests one by one.
    for (i, e) in entries.iter().enumerate() {
        let arm = !matches!(
            e.route.as_str(),
            "admin" | "other" | "metadata.endpoints" | "identity"
        );
        if arm {
            j.exercise("request.api-version-kept");
            let given = e.query_param("api-version");
            let want = lros
                .iter()
                .find(|l| l.polls.contains(&i))
                .and_then(|l| l.api_version.clone());
            if given.is_none() || (want.is_some() && given != want) {
                j.finding(
                    "request.api-version-kept",
                    "A request lost (or changed) its api-version.".into(),
                    format!("api-version={}", want.unwrap_or_else(|| "(any)".into())),
                    format!("{} {}", e.method, target(e)),
                    Some(e.seq),
                );
            }
        }
        if !arm {
            continue;
        }
        j.exercise("auth.token-renewed");
        if e.status == 401 && error_code(e).as_deref() == Some("ExpiredAuthenticationToken") {
            j.finding(
                "auth.token-renewed",
                "The client sent a token that had expired instead of getting a new one.".into(),
                "a token valid at the time of the request".into(),
                format!(
                    "401 ExpiredAuthenticationToken on {} {}",
                    e.method,
                    target(e)
                ),
                Some(e.seq),
            );
        }
        j.exercise("request.client-request-id");
        if e.request_header("x-ms-client-request-id")
            .is_none_or(|v| v.is_empty() || v.len() > 128)
        {
            j.finding(
                "request.client-request-id",
                "A request had no x-ms-client-request-id.".into(),
                "x-ms-client-request-id: <guid>".into(),
                format!("{} {} without it", e.method, target(e)),
                Some(e.seq),
            );
        }
        // Token requests are forms by the OAuth protocol; the rule is about ARM requests.
        if e.request_body.is_some() {
            j.exercise("request.content-type-json");
            let ct = e
                .request_header("content-type")
                .unwrap_or("")
                .to_ascii_lowercase();
            if !ct.starts_with("application/json") {
                j.finding(
                    "request.content-type-json",
                    "A request with a JSON body did not say Content-Type: application/json.".into(),
                    "Content-Type: application/json".into(),
                    format!(
                        "Content-Type: {}",
                        if ct.is_empty() { "(none)" } else { &ct }
                    ),
                    Some(e.seq),
                );
            }
        }
        // retries
        let key = |x: &JournalEntry| (x.method.clone(), x.path.clone());
        let not_yet = j.delivered(e) && is_not_yet(e);
        let transient = !j.delivered(e) || is_transient_status(e.status) || not_yet;
        if transient {
            if e.status == 429 {
                j.situation("429 Too Many Requests");
            } else if e.status >= 500 {
                j.situation("5xx answer");
            } else if not_yet {
                j.situation("4xx with Retry-After on a poll (not yet)");
            }
            if !j.delivered(e) {
                j.situation("broken answer (dropped, cut or not JSON)");
            }
            j.exercise("retry.transient-retried");
            let next = entries[i + 1..].iter().find(|x| key(x) == key(e));
            // Giving up after a few attempts of the same request is a bounded retry, not a bug.
            let attempts = entries[..=i].iter().filter(|x| key(x) == key(e)).count();
            match next {
                None if attempts >= 3 => {}
                None => j.finding(
                    "retry.transient-retried",
                    format!(
                        "The client gave up after a transient answer ({}) instead of retrying it.",
                        if j.delivered(e) {
                            e.status.to_string()
                        } else {
                            "broken answer".into()
                        }
                    ),
                    format!("{} {} again", e.method, target(e)),
                    "no retry".into(),
                    Some(e.seq),
                ),
                Some(n) => {
                    if let (Some(ra), true) = (j.required_wait_ms(e), j.delivered(e)) {
                        let gap = n.wall_ms.saturating_sub(e.wall_ms);
                        if gap + j.tolerance_ms() < ra {
                            j.finding(
                                "retry.transient-retried",
                                format!("The client retried {gap} ms after a {} that said Retry-After: {} s.", e.status, retry_after_secs(e).unwrap_or_default()),
                                format!("retry ≥ {ra} ms later"),
                                format!("{gap} ms"),
                                Some(n.seq),
                            );
                        }
                    }
                }
            }
        } else if e.status >= 400 && e.response_header("retry-after").is_none() {
            j.exercise("retry.no-retry-on-4xx");
            let same = |x: &JournalEntry| key(x) == key(e) && x.query == e.query;
            if let Some(n) = entries[i + 1..].iter().find(|x| same(x)) {
                j.finding(
                    "retry.no-retry-on-4xx",
                    format!(
                        "The client repeated a request that got {} {}.",
                        e.status,
                        error_code(e).unwrap_or_default()
                    ),
                    "no repeat of a request refused with a 4xx".into(),
                    format!("{} {} again", n.method, target(n)),
                    Some(n.seq),
                );
            }
        }
    }
    // No management writes on a busy service.
    for lro in &lros {
        let end = lro.terminal.map(|(t, _)| t).unwrap_or(entries.len());
        for e in &entries[lro.accept + 1..end.min(entries.len())] {
            let svc = e
                .path
                .split('/')
                .filter(|s| !s.is_empty())
                .nth(7)
                .unwrap_or("");
            let mgmt = matches!(
                e.route.as_str(),
                "service" | "service.backup" | "service.restore"
            ) && e.method != "GET";
            if svc.eq_ignore_ascii_case(&lro.service) {
                j.exercise("mgmt.no-concurrent-operation");
            }
            if mgmt && svc.eq_ignore_ascii_case(&lro.service) {
                j.finding(
                    "mgmt.no-concurrent-operation",
                    format!("The client sent a management request to '{}' while its operation was running.", lro.service),
                    "no PUT/PATCH/DELETE/POST on the service until the operation ends".into(),
                    format!("{} {} → {}", e.method, target(e), e.status),
                    Some(e.seq),
                );
            }
        }
    }
    if exit.killed {
        j.exercise("lro.gives-up");
        let seq = entries.last().map(|e| e.seq);
        j.finding(
            "lro.gives-up",
            format!(
                "The client was still running at the time limit ({} ms) and was stopped.",
                exit.wall_ms
            ),
            "the client exits on its own, with a failure, within the time limit".into(),
            format!("still running after {} request(s)", entries.len()),
            seq,
        );
    }
    j.verdict
}

/// Applies a scenario's severity overrides: `off` removes a rule's findings.
pub fn apply_overrides(
    verdict: &mut Verdict,
    overrides: &BTreeMap<String, crate::scenario::SeverityOverride>,
) {
    use crate::scenario::SeverityOverride as O;
    verdict
        .findings
        .retain_mut(|f| match overrides.get(&f.rule) {
            Some(O::Off) => false,
            Some(O::Error) => {
                f.severity = Severity::Error;
                true
            }
            Some(O::Warning) => {
                f.severity = Severity::Warning;
                true
            }
            None => true,
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use armsim_simulator::Timestamp;

    const SVC: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.ApiManagement/service/apim";
    const LOC: &str = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ApiManagement/service/apim/operationresults/op1";
    const Q: &str = "api-version=2024-05-01";

    fn entry(
        seq: u64,
        wall_ms: u64,
        method: &str,
        path: &str,
        status: u16,
        route: &str,
    ) -> JournalEntry {
        JournalEntry {
            seq,
            wall_ms,
            at: Timestamp::from_millis(0),
            method: method.into(),
            path: path.into(),
            query: Q.into(),
            request_headers: vec![
                ("x-ms-client-request-id".into(), "id".into()),
                ("content-type".into(), "application/json".into()),
            ],
            request_body: None,
            status,
            response_headers: Vec::new(),
            response_body: None,
            route: route.into(),
            operation_id: None,
            fault: None,
        }
    }

    fn accept(wall_ms: u64) -> JournalEntry {
        let mut e = entry(
            1,
            wall_ms,
            "POST",
            &format!("{SVC}/backup"),
            202,
            "service.backup",
        );
        e.operation_id = Some("op1".into());
        e.request_body = Some(serde_json::json!({"storageAccount": "a"}));
        e.response_headers = vec![
            ("location".into(), format!("http://127.0.0.1:1{LOC}?{Q}")),
            ("retry-after".into(), "1".into()),
        ];
        e
    }

    fn poll(seq: u64, wall_ms: u64, status: u16) -> JournalEntry {
        let mut e = entry(seq, wall_ms, "GET", LOC, status, "operation.poll");
        e.operation_id = Some("op1".into());
        if status == 202 {
            e.response_headers = vec![
                ("location".into(), format!("http://127.0.0.1:1{LOC}?{Q}")),
                ("retry-after".into(), "1".into()),
            ];
        }
        e
    }

    fn ok_exit() -> ClientExit {
        ClientExit {
            code: Some(0),
            ..ClientExit::default()
        }
    }

    fn rules(v: &Verdict) -> Vec<&str> {
        v.findings.iter().map(|f| f.rule.as_str()).collect()
    }

    #[test]
    fn a_patient_client_has_no_findings() {
        let j = vec![
            accept(0),
            poll(2, 1000, 202),
            poll(3, 2000, 202),
            poll(4, 3000, 200),
        ];
        let v = judge(&j, &ok_exit(), &Context::default());
        assert!(v.findings.is_empty(), "{:#?}", v.findings);
        assert!(v.exercised.contains("lro.retry-after-honoured"));
        assert!(v.situations.contains("202 with Location only"));
    }

    #[test]
    fn polling_sooner_than_retry_after_is_an_error_but_the_first_poll_only_a_warning() {
        let j = vec![
            accept(0),
            poll(2, 10, 202),
            poll(3, 1100, 202),
            poll(4, 1500, 200),
        ];
        let v = judge(&j, &ok_exit(), &Context::default());
        assert_eq!(
            rules(&v),
            vec!["lro.first-poll-delay", "lro.retry-after-honoured"]
        );
        assert_eq!(v.findings[0].severity, Severity::Warning);
        assert_eq!(v.findings[1].journal_seq, Some(4));
    }

    #[test]
    fn the_javascript_sdks_two_polls_right_after_the_202_are_one_warning() {
        let j = vec![
            accept(0),
            poll(2, 5, 202),
            poll(3, 9, 202),
            poll(4, 1010, 200),
        ];
        let v = judge(&j, &ok_exit(), &Context::default());
        assert_eq!(rules(&v), vec!["lro.first-poll-delay"]);
        assert_eq!(v.findings[0].severity, Severity::Warning);
        assert!(
            v.findings[0].message.starts_with("2 poll(s) came before"),
            "{}",
            v.findings[0].message
        );
    }

    #[test]
    fn polling_after_the_terminal_answer_is_an_error_but_one_more_get_of_location_is_tolerated() {
        let tolerated = vec![accept(0), poll(2, 1000, 200), poll(3, 1100, 200)];
        assert!(judge(&tolerated, &ok_exit(), &Context::default())
            .findings
            .is_empty());
        let j = vec![
            accept(0),
            poll(2, 1000, 200),
            poll(3, 2000, 200),
            poll(4, 3000, 200),
        ];
        assert_eq!(
            rules(&judge(&j, &ok_exit(), &Context::default())),
            vec!["lro.stop-after-terminal"]
        );
    }

    #[test]
    fn a_failed_operation_reported_as_success_is_an_error() {
        let mut failed = poll(3, 2000, 400);
        failed.response_body =
            Some(serde_json::json!({"error": {"code": "RestoreFailed", "message": "x"}}));
        let j = vec![accept(0), poll(2, 1000, 202), failed];
        let v = judge(&j, &ok_exit(), &Context::default());
        assert_eq!(rules(&v), vec!["outcome.failure-surfaced"]);
        let printed = ClientExit {
            code: Some(1),
            stderr: "ERROR: RestoreFailed: x".into(),
            ..ClientExit::default()
        };
        assert!(judge(&j, &printed, &Context::default()).findings.is_empty());
    }

    #[test]
    fn a_dropped_answer_must_be_retried_and_is_not_terminal() {
        let mut dropped = poll(2, 1000, 200);
        dropped.fault = Some("drop".into());
        let ctx = Context {
            undelivered_faults: ["drop".to_string()].into_iter().collect(),
            ..Context::default()
        };
        let gave_up = vec![accept(0), dropped.clone()];
        let exit = ClientExit {
            code: Some(1),
            ..ClientExit::default()
        };
        assert!(rules(&judge(&gave_up, &exit, &ctx)).contains(&"retry.transient-retried"));
        let retried = vec![accept(0), dropped, poll(3, 2000, 200)];
        assert!(judge(&retried, &ok_exit(), &ctx).findings.is_empty());
    }

    fn with_retry_after(mut e: JournalEntry, secs: &str) -> JournalEntry {
        e.response_headers.retain(|(n, _)| n != "retry-after");
        e.response_headers.push(("retry-after".into(), secs.into()));
        e
    }

    fn not_found(seq: u64, wall_ms: u64) -> JournalEntry {
        let mut e = poll(seq, wall_ms, 404);
        e.response_body = Some(
            serde_json::json!({"error": {"code": "ResourceNotFound", "message": "Operation result was not found."}}),
        );
        e
    }

    #[test]
    fn retry_after_zero_asks_for_no_wait_so_polling_at_once_or_later_is_fine() {
        let at_once = vec![
            accept(0),
            with_retry_after(poll(2, 1000, 202), "0"),
            poll(3, 1005, 202),
            poll(4, 2010, 200),
        ];
        let v = judge(&at_once, &ok_exit(), &Context::default());
        assert!(v.findings.is_empty(), "{:#?}", v.findings);
        assert!(v.exercised.contains("lro.retry-after-honoured"));
        // The official SDKs' reading: no usable hint, so their own interval.
        let own_interval = vec![
            accept(0),
            with_retry_after(poll(2, 1000, 202), "0"),
            poll(3, 2000, 202),
            poll(4, 3000, 200),
        ];
        assert!(judge(&own_interval, &ok_exit(), &Context::default())
            .findings
            .is_empty());
        // A 202 that says 0: the first poll may come at once (no startup window at all).
        let zero_202 = vec![with_retry_after(accept(0), "0"), poll(2, 3, 200)];
        assert!(judge(&zero_202, &ok_exit(), &Context::default())
            .findings
            .is_empty());
    }

    #[test]
    fn waits_are_judged_at_the_pace_of_the_context() {
        let paced = Context {
            pace: 0.1,
            ..Context::default()
        };
        // Retry-After 1 at pace 0.1: 100 ms is a full wait, 50 ms is not.
        let patient = vec![accept(0), poll(2, 100, 202), poll(3, 200, 200)];
        assert!(judge(&patient, &ok_exit(), &paced).findings.is_empty());
        let hasty = vec![accept(0), poll(2, 100, 202), poll(3, 150, 200)];
        let v = judge(&hasty, &ok_exit(), &paced);
        assert_eq!(rules(&v), vec!["lro.retry-after-honoured"]);
        assert!(
            v.findings[0].message.contains("Retry-After: 1 s"),
            "the message quotes the header as sent: {}",
            v.findings[0].message
        );
        assert_eq!(v.findings[0].expected, "≥ 100 ms between polls");
        // The same journal at pace 1 is hasty everywhere.
        assert!(!judge(&patient, &ok_exit(), &Context::default())
            .findings
            .is_empty());
    }

    #[test]
    fn a_404_with_retry_after_on_a_poll_means_not_yet_and_must_be_retried() {
        let early_404 = with_retry_after(not_found(2, 1000), "1");
        let retried = vec![accept(0), early_404.clone(), poll(3, 2000, 200)];
        let v = judge(&retried, &ok_exit(), &Context::default());
        assert!(v.findings.is_empty(), "{:#?}", v.findings);
        assert!(v.situations.contains("operation succeeded"));
        assert!(v
            .situations
            .contains("4xx with Retry-After on a poll (not yet)"));
        let gave_up = vec![accept(0), early_404];
        let exit = ClientExit {
            code: Some(1),
            stderr: "ERROR: ResourceNotFound: Operation result was not found.".into(),
            ..ClientExit::default()
        };
        let v = judge(&gave_up, &exit, &Context::default());
        assert_eq!(rules(&v), vec!["retry.transient-retried"]);
        assert!(
            v.findings[0].message.contains("(404)"),
            "{}",
            v.findings[0].message
        );
    }

    #[test]
    fn a_404_without_retry_after_on_a_poll_stays_terminal() {
        let exit = ClientExit {
            code: Some(1),
            stderr: "ERROR: ResourceNotFound: Operation result was not found.".into(),
            ..ClientExit::default()
        };
        let gave_up = vec![accept(0), not_found(2, 1000)];
        assert!(judge(&gave_up, &exit, &Context::default())
            .findings
            .is_empty());
        // Polling on to a success: the 404 was the (failed) end, and the repeat a retried 4xx.
        let kept_polling = vec![accept(0), not_found(2, 1000), poll(3, 2000, 200)];
        assert_eq!(
            rules(&judge(&kept_polling, &ok_exit(), &Context::default())),
            vec!["outcome.failure-surfaced", "retry.no-retry-on-4xx"]
        );
    }

    #[test]
    fn a_write_on_the_service_while_its_backup_runs_is_an_error() {
        let patch = entry(3, 1500, "PATCH", SVC, 409, "service");
        let j = vec![accept(0), poll(2, 1000, 202), patch, poll(4, 2500, 200)];
        assert_eq!(
            rules(&judge(&j, &ok_exit(), &Context::default())),
            vec!["mgmt.no-concurrent-operation"]
        );
    }

    #[test]
    fn severity_overrides_turn_rules_off_or_up() {
        use crate::scenario::SeverityOverride;
        let j = vec![accept(0), poll(2, 10, 202), poll(3, 1100, 200)];
        let mut v = judge(&j, &ok_exit(), &Context::default());
        let overrides = [("lro.first-poll-delay".to_string(), SeverityOverride::Off)]
            .into_iter()
            .collect();
        apply_overrides(&mut v, &overrides);
        assert!(v.findings.is_empty());
    }
}
