//! `armsim run --target` against a separately started `armsim serve`, the stand-in for the real ARM
//! endpoint: scenarios any endpoint can run pass, simulator-only ones are skipped with the reason.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn target_mode_runs_portable_scenarios_and_skips_simulator_only_ones() {
    let armsim = env!("CARGO_BIN_EXE_armsim");
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new(armsim)
        .args(["serve", "--addr", "127.0.0.1:0", "--time-scale", "1800"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("armsim serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let serve = Serve(child);
    let mut ready = String::new();
    BufReader::new(stdout)
        .read_line(&mut ready)
        .expect("ready line");
    let ready: serde_json::Value = serde_json::from_str(&ready).expect("ready is JSON");
    let endpoint = ready["endpoint"].as_str().expect("endpoint").to_string();

    let out = Command::new(armsim)
        .current_dir(root)
        .args([
            "run",
            "scenarios/rules",
            "scenarios/api-versions",
            "--target",
            &endpoint,
            "--token-env",
            "ARMSIM_TEST_TOKEN",
        ])
        .env("ARMSIM_TEST_TOKEN", "any-token-the-simulator-accepts")
        .output()
        .expect("armsim run");
    drop(serve);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        report.contains("SKIP scenarios/rules/access-system-identity-succeeds.yaml")
            && report.contains("simulator-only: seeds the world"),
        "{report}"
    );
    assert!(
        report.contains("PASS scenarios/api-versions/backup-api-version-2016-10-10.yaml"),
        "{report}"
    );
    assert!(report.contains("(mode target, seed 0)"), "{report}");
}
