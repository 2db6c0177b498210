//! `armsim fuzz` against the broken-client zoo and the reference client (tests/clients/).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn armsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_armsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ARMSIM_LOG", "warn")
        .output()
        .expect("armsim runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("armsim-fuzz-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn only_yaml_in(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the out directory exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn fuzz_shrinks_a_client_that_stops_polling_early_and_the_written_scenario_reproduces_it() {
    let out = scratch("early");
    let client = "python3 tests/clients/broken_stops_polling_early.py";
    let o = armsim(&[
        "fuzz",
        "--client",
        client,
        "--cases",
        "16",
        "--seed",
        "1",
        "--max-shrink-runs",
        "12",
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("shrunk from size"), "{t}");
    // The rule broken by the shrunk case (a poll mistaken for the end: waits-for-terminal, or a
    // status Succeeded taken for the result: final-get).
    let rule = t
        .lines()
        .map(str::trim)
        .find_map(|l| {
            l.split_once(": ")
                .map(|(r, _)| r)
                .filter(|r| r.starts_with("lro.") && !r.contains(' '))
        })
        .expect("the findings name a rule")
        .to_string();
    assert!(
        ["lro.waits-for-terminal", "lro.final-get"].contains(&rule.as_str()),
        "{t}"
    );
    let file = only_yaml_in(&out);
    let replay = armsim(&[
        "run",
        file.to_str().expect("utf-8 path"),
        "--client",
        client,
        "--seed",
        "1",
    ]);
    let r = text(&replay);
    assert_eq!(replay.status.code(), Some(1), "{r}");
    assert!(r.contains(&rule), "the replay breaks {rule} too: {r}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_reference_client_passes_generated_backups_and_restores() {
    for op in ["backup", "restore"] {
        let out = scratch(op);
        let o = armsim(&[
            "fuzz",
            "--client",
            "python3 tests/clients/reference.py",
            "--operation",
            op,
            "--ability",
            "custom-poll-interval",
            "--cases",
            "24",
            "--seed",
            "7",
            "--jobs",
            "12",
            "--out",
            out.to_str().expect("utf-8 path"),
        ]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "{op}: {t}");
        assert!(t.contains("24 cases passed"), "{t}");
    }
}
