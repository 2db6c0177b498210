//! The catalogue's harness-driven scenarios all pass against in-process simulators, and their report
//! (manual clocks, seed 0: deterministic) is snapshotted. Bad files stop the harness with exit-2 errors.

use std::path::PathBuf;

use armsim_harness::report::{self, Render};
use armsim_harness::run::{run_all, Outcome, RunOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_scenario_in_the_catalogue_passes() {
    let opts = RunOptions {
        paths: vec![root().join("scenarios")],
        jobs: 2,
        ..RunOptions::default()
    };
    let report = run_all(&opts, |_, _, _| {})
        .await
        .expect("the harness runs");
    assert!(
        report.results.len() >= 60,
        "catalogue size {}",
        report.results.len()
    );
    for r in &report.results {
        assert_ne!(r.outcome, Outcome::Failed, "{}: {:#?}", r.file, r.findings);
    }
    let text = report::human(&report, Render { timings: false });
    insta::assert_snapshot!(
        "catalogue",
        text.replace(&root().display().to_string(), "<root>")
    );
}

#[tokio::test]
async fn a_bad_scenario_file_is_a_harness_error_naming_file_line_and_key() {
    let dir = std::env::temp_dir().join(format!("armsim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "name: bad\nsteps:\n  - advanceClock: 1m\ntimelimit: 5s\n",
    )
    .expect("write");
    let opts = RunOptions {
        paths: vec![file.clone()],
        jobs: 1,
        ..RunOptions::default()
    };
    let err = run_all(&opts, |_, _, _| {}).await.expect_err("bad file");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        err.starts_with(&format!("{}:4:", file.display())) && err.contains("timelimit"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_names_the_file_step_expected_actual_journal_entry_and_reproduction() {
    let dir = std::env::temp_dir().join(format!("armsim-failing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("wrong.yaml");
    std::fs::write(
        &file,
        "name: wrong-expectation\nsteps:\n  - request:\n      method: POST\n      path: \"/subscriptions/{subscription}/resourceGroups/{resourceGroup}/providers/Microsoft.ApiManagement/service/{service}/backup?api-version=2024-05-01\"\n      body: {storageAccount: \"{storageAccount}\", containerName: \"{container}\", backupName: x.bak, accessKey: \"{storageKey}\"}\n      expect: {status: 200}\n",
    )
    .expect("write");
    let opts = RunOptions {
        paths: vec![file.clone()],
        jobs: 1,
        seed: 7,
        ..RunOptions::default()
    };
    let report = run_all(&opts, |_, _, _| {})
        .await
        .expect("the harness runs");
    let _ = std::fs::remove_dir_all(&dir);
    let text = report::human(&report, Render { timings: false });
    for want in [
        format!("FAIL {}", file.display()),
        "step 1 (request POST".to_string(),
        "expected: 200".to_string(),
        "actual:   202".to_string(),
        "journal:  #2 POST /subscriptions/".to_string(),
        "→ 202 (service.backup)".to_string(),
        format!("reproduce: armsim run --seed 7 {}", file.display()),
    ] {
        assert!(text.contains(&want), "the report lacks {want:?}:\n{text}");
    }
}
