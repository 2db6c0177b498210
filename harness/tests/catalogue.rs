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
