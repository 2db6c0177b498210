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
    // Serve as a user would (HTTPS, strict tokens), with tokens that outlive the fast clock: at 1800x
    // the default 60 virtual minutes pass in 2 s, long before the run ends.
    let world =
        std::env::temp_dir().join(format!("armsim-target-world-{}.yaml", std::process::id()));
    let yaml = armsim_simulator::sim::DEFAULT_WORLD_YAML
        .replace("tokenLifetime: 60m", "tokenLifetime: 30d");
    assert!(
        yaml.contains("tokenLifetime: 30d"),
        "the default world names its token lifetime"
    );
    std::fs::write(&world, yaml).expect("world file");
    let _world_file = crate::common::Scratch::file(&world);
    let mut child = Command::new(armsim)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--time-scale",
            "1800",
            "--world",
        ])
        .arg(&world)
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
    let ca = ready["ca_cert"].as_str().expect("ca_cert").to_string();
    let _ca_file = crate::common::ca_of(&ready);
    assert!(endpoint.starts_with("https://"), "{endpoint}");
    // A token from the served Azure AD, as a team would get one from Entra ID for the real endpoint.
    let token = Command::new("curl")
        .args([
            "-sf",
            "--cacert",
            &ca,
            &format!("{endpoint}/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token"),
        ])
        .args([
            "-d",
            "grant_type=client_credentials",
            "-d",
            "client_id=22222222-2222-2222-2222-222222222222",
        ])
        .args([
            "-d",
            "client_secret=armsim-contributor-secret",
            "-d",
            "scope=https://management.azure.com/.default",
        ])
        .output()
        .expect("curl");
    let token: serde_json::Value = serde_json::from_slice(&token.stdout).expect("token answer");
    let token = token["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();

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
            "--ca-cert",
            &ca,
        ])
        .env("ARMSIM_TEST_TOKEN", &token)
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
