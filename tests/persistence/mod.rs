//! `armsim serve --data-dir`: the world survives a restart and a `kill -9` at any moment.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use armsim_simulator::engine::ids::Ids;
use armsim_simulator::World;
use serde_json::{json, Value};

use crate::common::http1::{call, Served};
use crate::common::{storage, svc, with_version, V};

fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("armsim-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn serve_on(dir: &std::path::Path) -> Served {
    Served::start(
        &[
            "--clock",
            "manual",
            "--operation-retention",
            "1000d",
            "--data-dir",
            dir.to_str().expect("utf-8 path"),
        ],
        &[],
    )
}

fn key(s: &Served) -> String {
    let r = s.call(
        "POST",
        &with_version(&format!("{}/listKeys", storage()), V),
        None,
    );
    r.json()["keys"][0]["value"]
        .as_str()
        .expect("key")
        .to_string()
}

fn body(key: &str, blob: &str) -> Value {
    json!({"storageAccount": "contosobackups", "containerName": "apim-backups", "backupName": blob,
           "accessType": "AccessKey", "accessKey": key})
}

/// The path and query of a Location URL (the port changes across restarts).
fn path_of(location: &str) -> String {
    let rest = location
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(location);
    rest[rest.find('/').unwrap_or(0)..].to_string()
}

fn advance(s: &Served, by: &str) -> Value {
    s.call("POST", "/_armsim/clock/advance", Some(&json!({"by": by})))
        .json()
}

#[test]
fn a_restarted_server_resumes_the_world_the_clock_and_running_operations() {
    let dir = data_dir("resume");
    let mut s = serve_on(&dir);
    assert_eq!(s.ready["restored"], false);
    let k = key(&s);
    let r = s.call(
        "POST",
        &with_version(&format!("{}/backup", svc("contoso-apim")), V),
        Some(&body(&k, "nightly")),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let backup = path_of(r.header("location").expect("location"));
    advance(&s, "9m");
    assert_eq!(s.call("GET", &backup, None).status, 200);
    let r = s.call(
        "POST",
        &with_version(&format!("{}/restore", svc("contoso-apim-dr")), V),
        Some(&body(&k, "nightly")),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let restore = path_of(r.header("location").expect("location"));
    advance(&s, "5m");
    s.kill9();

    let s = serve_on(&dir);
    assert_eq!(s.ready["restored"], true, "{}", s.logs());
    assert_eq!(
        s.ready["now"], "2026-01-01T00:14:00Z",
        "the clock resumes where it stood"
    );
    assert_eq!(key(&s), k, "storage keys survive");
    let blob = s.call(
        "GET",
        "/_armsim/blobs/contosobackups/apim-backups/nightly",
        None,
    );
    assert_eq!(blob.status, 200, "{}", blob.text());
    assert_eq!(
        s.call("GET", &backup, None).status,
        200,
        "finished operations stay pollable"
    );
    assert_eq!(
        s.call("GET", &restore, None).status,
        202,
        "the restore is still running"
    );
    advance(&s, "25m");
    let done = s.call("GET", &restore, None);
    assert_eq!(done.status, 200, "{}", done.text());
    let apis = s.call(
        "GET",
        &with_version(&format!("{}/apis", svc("contoso-apim-dr")), V),
        None,
    );
    assert_eq!(apis.json()["value"].as_array().map(Vec::len), Some(2));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_data_dir_nothing_is_written_and_nothing_restored() {
    let s = Served::start(&["--clock", "manual"], &[]);
    assert_eq!(s.ready["restored"], false);
    assert_eq!(s.ready["dataDir"], Value::Null);
}

/// What the driver saw answered, so what must survive.
#[derive(Default)]
struct Seen {
    /// Backups whose operation answered 200.
    completed: BTreeSet<String>,
    /// Every accepted operation: (poll path, blob), and whether a final answer was seen.
    accepted: Vec<(String, String, bool)>,
}

/// Random backups, restores, clock advances and polls until the server stops answering.
fn drive(addr: String, key: String, seed: u64, round: usize, seen: Arc<Mutex<Seen>>) {
    let mut rng = Ids::new(seed);
    let deadline = Instant::now() + Duration::from_secs(5);
    for i in 0..5_000 {
        if Instant::now() > deadline {
            return;
        }
        let pick = rng.next_u64() % 10;
        let result = match pick {
            0..=2 => {
                let blob = format!("r{round}-{i}");
                let path = with_version(&format!("{}/backup", svc("contoso-apim")), V);
                call(&addr, "POST", &path, Some(&body(&key, &blob))).map(|r| {
                    if let (202, Some(l)) = (r.status, r.header("location")) {
                        let op = (path_of(l), blob, false);
                        seen.lock().expect("seen").accepted.push(op);
                    }
                })
            }
            3..=4 => {
                let blob = {
                    let seen = seen.lock().expect("seen");
                    let n = seen.completed.len();
                    if n == 0 {
                        continue;
                    }
                    seen.completed
                        .iter()
                        .nth(rng.next_u64() as usize % n)
                        .cloned()
                };
                let Some(blob) = blob else { continue };
                let path = with_version(&format!("{}/restore", svc("contoso-apim-dr")), V);
                call(&addr, "POST", &path, Some(&body(&key, &blob))).map(|r| {
                    if let (202, Some(l)) = (r.status, r.header("location")) {
                        let op = (path_of(l), String::new(), false);
                        seen.lock().expect("seen").accepted.push(op);
                    }
                })
            }
            5..=6 => {
                let by = format!("{}m", 1 + rng.next_u64() % 12);
                call(
                    &addr,
                    "POST",
                    "/_armsim/clock/advance",
                    Some(&json!({"by": by})),
                )
                .map(|_| ())
            }
            _ => {
                let open: Vec<(usize, String, String)> = {
                    let seen = seen.lock().expect("seen");
                    seen.accepted
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, _, done))| !done)
                        .map(|(i, (p, b, _))| (i, p.clone(), b.clone()))
                        .collect()
                };
                if open.is_empty() {
                    continue;
                }
                let (index, path, blob) = open[rng.next_u64() as usize % open.len()].clone();
                call(&addr, "GET", &path, None).map(|r| {
                    let mut seen = seen.lock().expect("seen");
                    if r.status != 202 {
                        seen.accepted[index].2 = true;
                    }
                    if r.status == 200 && !blob.is_empty() {
                        seen.completed.insert(blob);
                    }
                })
            }
        };
        if result.is_err() {
            return; // killed
        }
    }
}

/// After a restart: the world loads, every completed backup is there, every accepted operation is
/// known (running, done, or failed with an error code).
fn check(s: &Served, seen: &Seen, seed: u64, round: usize) {
    let ctx = format!("seed {seed}, after kill {round}; reproduce with ARMSIM_KILL_SEED={seed}");
    assert_eq!(s.ready["restored"], true, "{ctx}: {}", s.logs());
    let state = s.call("GET", "/_armsim/state", None);
    assert_eq!(state.status, 200, "{ctx}");
    let world: World = serde_json::from_slice(&state.body)
        .unwrap_or_else(|e| panic!("{ctx}: the state is a world: {e}"));
    for service in &world.services {
        if let Some(id) = &service.running_operation {
            let op = world.operations.iter().find(|o| *o.id == **id);
            assert!(
                op.is_some_and(
                    |o| o.status == armsim_simulator::engine::model::OperationStatus::Running
                ),
                "{ctx}: {} is held by {id}, which is not a running operation",
                service.name
            );
        }
    }
    for blob in &seen.completed {
        let r = s.call(
            "GET",
            &format!("/_armsim/blobs/contosobackups/apim-backups/{blob}"),
            None,
        );
        assert_eq!(
            r.status,
            200,
            "{ctx}: completed backup {blob} is lost: {}",
            r.text()
        );
    }
    for (path, _, _) in &seen.accepted {
        let r = s.call("GET", path, None);
        let code = r.json()["error"]["code"].as_str().unwrap_or("").to_string();
        assert!(
            matches!(r.status, 200 | 202)
                || (r.status >= 400 && !code.is_empty() && r.status != 404),
            "{ctx}: accepted operation {path} answers {} {}",
            r.status,
            r.text()
        );
    }
}

#[test]
fn kill_9_at_twenty_random_moments_loses_no_completed_backup() {
    let seed: u64 = std::env::var("ARMSIM_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    eprintln!("kill -9 loop: seed {seed} (ARMSIM_KILL_SEED={seed} reproduces the choices)");
    let dir = data_dir("kill9");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut rng = Ids::new(seed);
    let started = Instant::now();
    let rounds = 20;
    for round in 0..rounds {
        let mut s = serve_on(&dir);
        if round > 0 {
            check(&s, &seen.lock().expect("seen"), seed, round);
        }
        let k = key(&s);
        let (addr, seen2, drive_seed) = (s.addr.clone(), seen.clone(), rng.next_u64());
        let driver = std::thread::spawn(move || drive(addr, k, drive_seed, round, seen2));
        std::thread::sleep(Duration::from_millis(20 + rng.next_u64() % 300));
        s.kill9();
        driver.join().expect("driver");
    }
    let s = serve_on(&dir);
    let seen = seen.lock().expect("seen");
    check(&s, &seen, seed, rounds);
    // In-flight operations continue on the restored clock: a day later every one has ended.
    advance(&s, "1d");
    for (path, _, _) in &seen.accepted {
        let r = s.call("GET", path, None);
        assert_ne!(
            r.status, 202,
            "seed {seed}: {path} still running a day later"
        );
    }
    let completed = seen.completed.len();
    eprintln!(
        "kill -9 loop: {rounds} kills, {} operations accepted, {completed} backups completed, {:.1} s",
        seen.accepted.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        completed > 0,
        "seed {seed}: the driver completed no backup; the loop tested little"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
