//! `armsim fuzz` against the broken-client zoo and the reference client (tests/clients/).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use armsim_harness::fuzz::{self, Poll, RetryAfter, Script};
use armsim_harness::scenario::ClientOperation;

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
            "--ability",
            "tolerates-early-404",
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

/// A client's CA certificate is written to the temporary folder for it to read; once the run is
/// over, the folder is gone, whether the client passed or failed.
#[test]
fn a_client_run_leaves_nothing_in_the_temporary_folder() {
    for client in [
        "python3 tests/clients/reference.py",
        "python3 tests/clients/broken_stops_polling_early.py",
    ] {
        let child = Command::new(env!("CARGO_BIN_EXE_armsim"))
            .args([
                "run",
                "scenarios/client/backup-succeeds.yaml",
                "scenarios/client/backup-wrong-key.yaml",
                "--client",
                client,
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("ARMSIM_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("armsim runs");
        let dir = std::env::temp_dir().join(format!("armsim-run-{}", child.id()));
        let o = child.wait_with_output().expect("armsim ends");
        let t = text(&o);
        assert!(
            t.contains("backup-succeeds") && t.contains("backup-wrong-key"),
            "{client}: both scenarios ran: {t}"
        );
        assert!(
            !dir.exists(),
            "{client}: {} is left behind: {t}",
            dir.display()
        );
    }
}

/// One running poll, plain headers, success: what the tests below vary.
fn plain(operation: ClientOperation) -> Script {
    Script {
        polls: vec![Poll {
            retry_after: RetryAfter::One,
            new_location: false,
        }],
        ..Script::plainest(operation)
    }
}

/// `armsim run FILE --client CMD --ability …` with the given abilities.
fn replay(file: &Path, client: &str, abilities: &[&str]) -> Output {
    let mut args = vec![
        "run",
        file.to_str().expect("utf-8 path"),
        "--client",
        client,
    ];
    for a in abilities {
        args.extend(["--ability", a]);
    }
    armsim(&args)
}

#[test]
fn an_early_404_is_survived_by_the_reference_client_and_fails_one_that_gives_up_on_it() {
    let out = scratch("early-404");
    std::fs::create_dir_all(&out).expect("scratch dir");
    let file = out.join("fuzz-early-404.yaml");
    let script = Script {
        not_found: Some(1),
        ..plain(ClientOperation::Backup)
    };
    fuzz::write_scenario(&file, &script, "fuzz-early-404").expect("written");
    let abilities = ["tolerates-early-404"];

    let passed = replay(&file, "python3 tests/clients/reference.py", &abilities);
    let t = text(&passed);
    assert_eq!(passed.status.code(), Some(0), "{t}");
    assert!(
        t.contains("1 passed, 0 failed, 0 skipped, 0 warning(s)"),
        "{t}"
    );

    let failed = replay(
        &file,
        "python3 tests/clients/broken_gives_up_on_404.py",
        &abilities,
    );
    let t = text(&failed);
    assert_eq!(failed.status.code(), Some(1), "{t}");
    assert!(t.contains("retry.transient-retried"), "{t}");
    assert!(t.contains("(404)"), "{t}");

    // A client that does not declare the ability is not asked to survive it.
    let skipped = replay(
        &file,
        "python3 tests/clients/broken_gives_up_on_404.py",
        &[],
    );
    let t = text(&skipped);
    assert_eq!(skipped.status.code(), Some(0), "{t}");
    assert!(t.contains("tolerates-early-404"), "{t}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn retry_after_zero_and_a_long_retry_after_leave_the_reference_client_unflagged() {
    let out = scratch("retry-after-values");
    std::fs::create_dir_all(&out).expect("scratch dir");
    let file = out.join("fuzz-retry-after-values.yaml");
    let script = Script {
        accepted_retry_after: RetryAfter::Zero,
        polls: vec![
            Poll {
                retry_after: RetryAfter::Zero,
                new_location: false,
            },
            Poll {
                retry_after: RetryAfter::Long,
                new_location: true,
            },
        ],
        ..plain(ClientOperation::Restore)
    };
    fuzz::write_scenario(&file, &script, "fuzz-retry-after-values").expect("written");
    let yaml = std::fs::read_to_string(&file).expect("the file");
    assert!(yaml.contains("retryAfter: 0"), "{yaml}");
    assert!(yaml.contains("retryAfter: 5"), "{yaml}");

    let passed = replay(
        &file,
        "python3 tests/clients/reference.py",
        &["custom-poll-interval"],
    );
    let t = text(&passed);
    assert_eq!(passed.status.code(), Some(0), "{t}");
    assert!(
        t.contains("1 passed, 0 failed, 0 skipped, 0 warning(s)"),
        "{t}"
    );
    // A client that ignores Retry-After polls far too soon after the long one.
    let hasty = replay(
        &file,
        "python3 tests/clients/broken_ignores_retry_after.py",
        &["custom-poll-interval"],
    );
    let t = text(&hasty);
    assert_eq!(hasty.status.code(), Some(1), "{t}");
    assert!(t.contains("lro.retry-after-honoured"), "{t}");
    let _ = std::fs::remove_dir_all(&out);
}
