//! Reports: the human summary (failures side by side, the closest journal entry, the command to
//! reproduce), coverage, JUnit XML and JSON.
//!
//! JUnit XML is written by hand (a dozen lines of escaping) rather than through a crate, to keep the
//! build lean on small CI machines.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use armsim_simulator::journal::JournalEntry;

use crate::oracle::{Finding, Severity, RULES};
use crate::run::{Outcome, RunReport, ScenarioResult};

/// Options for the human report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Render {
    /// Show wall times (off for snapshots).
    pub timings: bool,
}

fn entry_line(e: &JournalEntry) -> String {
    let q = if e.query.is_empty() {
        String::new()
    } else {
        format!("?{}", e.query)
    };
    let fault = e
        .fault
        .as_deref()
        .map(|f| format!(" [fault: {f}]"))
        .unwrap_or_default();
    let code = e
        .response_body
        .as_ref()
        .and_then(|b| b.pointer("/error/code"))
        .and_then(|c| c.as_str())
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    format!(
        "#{} {} {}{} → {}{} ({}){}",
        e.seq, e.method, e.path, q, e.status, code, e.route, fault
    )
}

fn finding_block(out: &mut String, r: &ScenarioResult, f: &Finding, reproduce: &str) {
    let sev = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let _ = writeln!(out, "  {} [{sev}] {}", f.rule, f.message);
    let _ = writeln!(out, "      expected: {}", f.expected);
    let _ = writeln!(out, "      actual:   {}", f.actual);
    if let Some(seq) = f.journal_seq {
        if let Some(e) = r.journal.iter().find(|e| e.seq == seq) {
            let _ = writeln!(out, "      journal:  {}", entry_line(e));
        }
    }
    let _ = reproduce;
}

/// The human report.
pub fn human(report: &RunReport, opts: Render) -> String {
    let mut out = String::new();
    let (mut passed, mut failed, mut skipped, mut warnings) = (0, 0, 0, 0);
    for r in &report.results {
        match r.outcome {
            Outcome::Passed => passed += 1,
            Outcome::Failed => failed += 1,
            Outcome::Skipped => skipped += 1,
        }
        warnings += r
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count();
    }
    for r in &report.results {
        let time = if opts.timings {
            format!(" ({} ms)", r.wall_ms)
        } else {
            String::new()
        };
        match r.outcome {
            Outcome::Passed => {
                let _ = writeln!(out, "PASS {} — {}{time}", r.file, r.name);
            }
            Outcome::Skipped => {
                let _ = writeln!(
                    out,
                    "SKIP {} — {}: {}",
                    r.file,
                    r.name,
                    r.skip_reason.as_deref().unwrap_or("")
                );
            }
            Outcome::Failed => {
                let _ = writeln!(out, "FAIL {} — {}{time}", r.file, r.name);
            }
        }
        if r.outcome != Outcome::Skipped {
            for f in &r.findings {
                finding_block(&mut out, r, f, &report.reproduce);
            }
            if r.outcome == Outcome::Failed {
                let _ = writeln!(out, "  reproduce: {} {}", report.reproduce, r.file);
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", coverage(report));
    let time = if opts.timings {
        format!(" in {:.1} s", report.wall_ms as f64 / 1000.0)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{} scenarios: {passed} passed, {failed} failed, {skipped} skipped, {warnings} warning(s){time} (mode {}, seed {})",
        report.results.len(),
        report.mode,
        report.seed
    );
    out
}

/// Which rules and protocol situations the run exercised.
pub fn coverage(report: &RunReport) -> String {
    let mut rules: BTreeMap<&str, (usize, usize)> = RULES.iter().map(|r| (r.id, (0, 0))).collect();
    let mut situations: BTreeMap<String, usize> = BTreeMap::new();
    for r in &report.results {
        for x in &r.exercised {
            if let Some(c) = rules.get_mut(x.as_str()) {
                c.0 += 1;
            }
        }
        for f in &r.findings {
            if let Some(c) = rules.get_mut(f.rule.as_str()) {
                c.1 += 1;
            }
        }
        for s in &r.situations {
            *situations.entry(s.clone()).or_default() += 1;
        }
    }
    let mut out =
        String::from("coverage: oracle rules (scenarios checked / scenarios with a finding)\n");
    for (id, (checked, found)) in &rules {
        let _ = writeln!(out, "  {id:32} {checked:3} / {found}");
    }
    if situations.is_empty() {
        out.push_str("coverage: no protocol situations (no client run)\n");
    } else {
        out.push_str("coverage: protocol situations (scenarios)\n");
        for (s, n) in &situations {
            let _ = writeln!(out, "  {s:44} {n:3}");
        }
    }
    out
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one testsuite, one testcase per scenario.
pub fn junit(report: &RunReport) -> String {
    let failures = report.failed();
    let skipped = report
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Skipped)
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"armsim\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
        report.results.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"armsim-{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        report.mode,
        report.results.len(),
        report.wall_ms as f64 / 1000.0
    );
    for r in &report.results {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml(&r.file),
            xml(&r.name),
            r.wall_ms as f64 / 1000.0
        );
        match r.outcome {
            Outcome::Passed => out.push_str("/>\n"),
            Outcome::Skipped => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    xml(r.skip_reason.as_deref().unwrap_or(""))
                );
            }
            Outcome::Failed => {
                let first = r.findings.iter().find(|f| f.severity == Severity::Error);
                let mut text = String::new();
                for f in &r.findings {
                    finding_block(&mut text, r, f, &report.reproduce);
                }
                let _ = writeln!(text, "reproduce: {} {}", report.reproduce, r.file);
                let _ = writeln!(
                    out,
                    ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                    xml(first.map(|f| f.rule.as_str()).unwrap_or("")),
                    xml(first.map(|f| f.message.as_str()).unwrap_or("")),
                    xml(&text)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// The JSON report: results with their journals (secrets are redacted by the journal itself).
pub fn json(report: &RunReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
