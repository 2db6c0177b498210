//! A model-based test of the engine: random sequences of commands (start a backup or restore, poll,
//! advance the clock, change the world) applied both to the simulator and to a small reference model,
//! with the invariants the service promises checked after every step.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::common::*;
use armsim_simulator::clock::VDuration;
use armsim_simulator::http::HttpResponse;
use armsim_simulator::Simulator;

const SERVICES: [(&str, &str); 3] = [
    ("contoso-apim", "Developer"),
    ("contoso-apim-dr", "Developer"),
    ("contoso-apim-premium", "Premium"),
];
const BACKUPS: [&str; 3] = ["b0.apimbackup", "b1.apimbackup", "b2.apimbackup"];
const BACKUP_MS: i64 = 9 * 60_000;
const RESTORE_MS: i64 = 30 * 60_000;
const VALIDITY_MS: i64 = 30 * 86_400_000;

#[derive(Debug, Clone)]
enum Command {
    Backup { service: usize, name: usize },
    Restore { service: usize, name: usize },
    Poll { op: usize },
    Advance { ms: i64 },
    PutApi { service: usize, api: u8 },
    RegenerateKey,
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        2 => (0..3usize, 0..3usize).prop_map(|(service, name)| Command::Backup { service, name }),
        2 => (0..3usize, 0..3usize).prop_map(|(service, name)| Command::Restore { service, name }),
        4 => (0..8usize).prop_map(|op| Command::Poll { op }),
        2 => (1i64..=40 * 60).prop_map(|s| Command::Advance { ms: s * 1000 }),
        1 => (1i64..=12).prop_map(|d| Command::Advance { ms: d * 86_400_000 }),
        1 => (0..3usize, 0..4u8).prop_map(|(service, api)| Command::PutApi { service, api }),
        1 => Just(Command::RegenerateKey),
    ]
}

/// What the model knows about one accepted operation.
#[derive(Debug)]
struct ModelOp {
    location: String,
    started_at: i64,
    ends_at: i64,
    /// Must end in failure (an expired backup, a SKU mismatch, a missing backup).
    must_fail: bool,
    /// The backup it writes: (name, SKU of its service).
    writes: Option<(usize, &'static str)>,
    /// The first terminal answer, which every later poll must repeat.
    terminal: Option<(u16, Value)>,
}

#[derive(Debug, Default)]
struct Model {
    now: i64,
    ops: Vec<ModelOp>,
    /// Service index → end of the operation holding it.
    busy: BTreeMap<usize, i64>,
    /// Backup name → (time its backup ended, SKU if known), once a backup of that name succeeded.
    backups: BTreeMap<usize, (i64, Option<&'static str>)>,
}

fn start(sim: &Simulator, action: &str, service: usize, name: usize) -> HttpResponse {
    post(
        sim,
        &format!("{}/{action}", svc(SERVICES[service].0)),
        &backup_body(sim, BACKUPS[name]),
    )
}

fn body_of(resp: &HttpResponse) -> Value {
    resp.json_body().unwrap_or(Value::Null)
}

impl Model {
    fn settle(&mut self) {
        // A backup that ended successfully is now a blob the model knows (its end time, its SKU).
        let now = self.now;
        self.busy.retain(|_, end| *end > now);
        for op in &self.ops {
            if let (Some((name, sku)), true) = (op.writes, op.ends_at <= now) {
                let b = self.backups.entry(name).or_insert((op.ends_at, Some(sku)));
                if b.0 < op.ends_at {
                    *b = (op.ends_at, Some(sku));
                } else if b.0 == op.ends_at && b.1 != Some(sku) {
                    // Two backups of one name ending at the same instant: which writes last is the
                    // engine's business, so the SKU is unknown.
                    b.1 = None;
                }
            }
        }
    }

    fn apply(&mut self, sim: &Simulator, c: &Command) -> Result<(), TestCaseError> {
        self.settle();
        match *c {
            Command::Backup { service, name } | Command::Restore { service, name } => {
                let is_backup = matches!(c, Command::Backup { .. });
                let resp = start(
                    sim,
                    if is_backup { "backup" } else { "restore" },
                    service,
                    name,
                );
                if self.busy.contains_key(&service) {
                    prop_assert_eq!(resp.status, 409, "a busy service refuses a new operation");
                    return Ok(());
                }
                prop_assert_eq!(resp.status, 202, "{}", String::from_utf8_lossy(&resp.body));
                let ra = resp.header_value("retry-after");
                prop_assert!(ra.is_some(), "a 202 carries Retry-After");
                let duration = if is_backup { BACKUP_MS } else { RESTORE_MS };
                let sku = SERVICES[service].1;
                let must_fail = !is_backup
                    && match self.backups.get(&name) {
                        // Expired (whenever its blob was stamped, it is at least this old) or
                        // another SKU.
                        Some((taken, from)) => {
                            self.now - taken >= VALIDITY_MS || from.is_some_and(|f| f != sku)
                        }
                        // Not yet written: the restore cannot find it.
                        None => !self
                            .ops
                            .iter()
                            .any(|o| o.writes.is_some_and(|w| w.0 == name)),
                    };
                self.busy.insert(service, self.now + duration);
                self.ops.push(ModelOp {
                    location: location_path(&resp),
                    started_at: self.now,
                    ends_at: self.now + duration,
                    must_fail,
                    writes: is_backup.then_some((name, sku)),
                    terminal: None,
                });
            }
            Command::Poll { op } => {
                let Some(i) = (!self.ops.is_empty()).then(|| op % self.ops.len()) else {
                    return Ok(());
                };
                let resp = sim.handle(req("GET", &self.ops[i].location));
                let o = &mut self.ops[i];
                if self.now < o.ends_at {
                    prop_assert_eq!(resp.status, 202, "a poll before the end is 202");
                    let ra: i64 = resp
                        .header_value("retry-after")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(-1);
                    prop_assert!(ra > 0, "a running poll carries a positive Retry-After");
                } else if self.now > o.ends_at {
                    prop_assert_ne!(resp.status, 202, "a poll after the end is terminal");
                }
                if resp.status != 202 {
                    let answer = (resp.status, body_of(&resp));
                    if o.must_fail {
                        prop_assert!(
                            resp.status >= 400,
                            "this operation must fail (expired, other SKU or missing): {:?}",
                            answer
                        );
                    }
                    match &o.terminal {
                        Some(first) => {
                            prop_assert_eq!(first, &answer, "a terminal answer never changes")
                        }
                        None => o.terminal = Some(answer),
                    }
                    let status_url = o.location.replace("operationresults", "operationsStatus");
                    let status = body_of(&sim.handle(req("GET", &status_url)));
                    let (s, e) = (status["startTime"].as_str(), status["endTime"].as_str());
                    if let (Some(s), Some(e)) = (s, e) {
                        let s: jiff::Timestamp =
                            s.parse().map_err(|x| TestCaseError::fail(format!("{x}")))?;
                        let e: jiff::Timestamp =
                            e.parse().map_err(|x| TestCaseError::fail(format!("{x}")))?;
                        prop_assert!(e >= s, "endTime {} before startTime {}", e, s);
                    }
                    let _ = o.started_at;
                }
            }
            Command::Advance { ms } => {
                sim.advance(VDuration::from_millis(ms));
                self.now += ms;
            }
            Command::PutApi { service, api } => {
                let path = format!("{}/apis/model-api-{api}", svc(SERVICES[service].0));
                send(
                    sim,
                    "PUT",
                    &path,
                    Some(
                        &json!({"properties": {"displayName": "Model", "path": format!("m{api}")}}),
                    ),
                );
            }
            Command::RegenerateKey => {
                send(
                    sim,
                    "POST",
                    &format!("{}/regenerateKey", storage()),
                    Some(&json!({"keyName": "key1"})),
                );
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_agrees_with_the_model(commands in prop::collection::vec(command(), 1..60)) {
        let sim = sim();
        let mut model = Model::default();
        for c in &commands {
            model.apply(&sim, c)?;
        }
    }
}
