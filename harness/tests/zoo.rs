//! Proof that the harness judges: every broken client in `tests/clients/` fails with the rule that
//! names its bug, and the reference client passes every client scenario.
//!
//! The clients are Python 3 (stdlib only). Reports are snapshotted with wall times, journal sequence
//! numbers and counts redacted, so the snapshots do not depend on the machine's speed.

use std::path::PathBuf;

use armsim_harness::report::{self, Render};
use armsim_harness::run::{run_all, Outcome, RunOptions, RunReport};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn run_client(client: &str, scenarios: &[&str]) -> RunReport {
    run_client_with(client, scenarios, &[]).await
}

async fn run_client_with(client: &str, scenarios: &[&str], abilities: &[&str]) -> RunReport {
    let root = root();
    let opts = RunOptions {
        paths: scenarios
            .iter()
            .map(|s| root.join("scenarios/client").join(s))
            .collect(),
        client: Some(format!(
            "python3 {}",
            root.join("tests/clients").join(client).display()
        )),
        jobs: 4,
        abilities: abilities.iter().map(|a| a.to_string()).collect(),
        ..RunOptions::default()
    };
    run_all(&opts, |_, _, _| {})
        .await
        .expect("the harness runs")
}

/// Replaces what depends on timing: digits before " ms", counts of requests, journal seqs, the root.
fn redact(text: &str) -> String {
    let root = root().display().to_string();
    let text = text.replace(&root, "<root>");
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let rest: String = chars[i..chars.len().min(i + 16)].iter().collect();
            let before = if start > 0 { chars[start - 1] } else { ' ' };
            let timing = rest.starts_with(" ms")
                || rest.starts_with(" more request")
                || rest.starts_with(" request(s)")
                || rest.starts_with(" poll(s)")
                || before == '#';
            if timing {
                out.push('N');
            } else {
                out.extend(&chars[start..i]);
            }
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn failing_rules(report: &RunReport) -> Vec<String> {
    let mut rules: Vec<String> = report
        .results
        .iter()
        .flat_map(|r| r.findings.iter().map(|f| f.rule.clone()))
        .filter(|r| !r.starts_with("scenario."))
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

/// (client, the scenario that exposes its bug, the rule that must name it)
const ZOO: &[(&str, &str, &str)] = &[
    (
        "broken_ignores_retry_after.py",
        "backup-succeeds.yaml",
        "lro.retry-after-honoured",
    ),
    (
        "broken_stops_polling_early.py",
        "backup-succeeds.yaml",
        "lro.waits-for-terminal",
    ),
    (
        "broken_failed_as_success.py",
        "restore-expired-backup.yaml",
        "outcome.failure-surfaced",
    ),
    (
        "broken_polls_forever.py",
        "restore-expired-backup.yaml",
        "lro.stop-after-terminal",
    ),
    (
        "broken_polls_forever.py",
        "never-finishes.yaml",
        "lro.gives-up",
    ),
    (
        "broken_retries_400.py",
        "backup-wrong-key.yaml",
        "retry.no-retry-on-4xx",
    ),
    (
        "broken_gives_up_on_429.py",
        "throttled-first-poll.yaml",
        "retry.transient-retried",
    ),
    (
        "broken_loses_api_version.py",
        "backup-succeeds.yaml",
        "request.api-version-kept",
    ),
    (
        "broken_wrong_header.py",
        "aao-and-location.yaml",
        "lro.monitor-header-precedence",
    ),
    (
        "broken_polls_post_url.py",
        "backup-succeeds.yaml",
        "lro.polls-monitor-url",
    ),
    (
        "broken_caches_token.py",
        "token-expires-mid-restore.yaml",
        "auth.token-renewed",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broken_client_fails_with_the_rule_that_names_its_bug() {
    let runs = ZOO.iter().map(|(client, scenario, _)| async move {
        (*client, run_client(client, &[scenario]).await)
    });
    let reports = futures_join_all(runs).await;
    let mut snapshot = String::new();
    for ((client, scenario, rule), (_, report)) in ZOO.iter().zip(&reports) {
        assert_eq!(report.failed(), 1, "{client} on {scenario} should fail");
        let rules = failing_rules(report);
        assert!(
            rules.iter().any(|r| r == rule),
            "{client} on {scenario}: expected {rule}, got {rules:?}"
        );
        snapshot.push_str(&format!("### {client} on {scenario}\n"));
        let text = report::human(report, Render { timings: false });
        // The per-scenario part; the coverage table is snapshotted for the reference run.
        let head = text.split("\ncoverage:").next().unwrap_or("");
        snapshot.push_str(&redact(head));
        snapshot.push('\n');
    }
    insta::assert_snapshot!("zoo", snapshot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_client_passes_every_client_scenario() {
    // The reference client polls every second without Retry-After (ARMSIM_POLL_INTERVAL).
    let report = run_client_with("reference.py", &["."], &["custom-poll-interval"]).await;
    for r in &report.results {
        assert_eq!(r.outcome, Outcome::Passed, "{}: {:#?}", r.file, r.findings);
        assert!(
            r.findings.is_empty(),
            "the reference client should not even get warnings: {}: {:#?}",
            r.file,
            r.findings
        );
    }
    insta::assert_snapshot!(
        "reference",
        redact(&report::human(&report, Render { timings: false }))
    );
}

/// `join_all` without the futures crate: spawn each and await them in order.
async fn futures_join_all<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}
