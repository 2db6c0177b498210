//! The scenario file format: one behaviour per YAML file.
//!
//! A [`Scenario`] names the world it starts from ([`WorldSpec`]: a patch on the simulator's default
//! world), how the simulator behaves (`behaviour`, `faults`, `clock`), and either harness-driven
//! [`Step`]s or a [`ClientRun`], plus expectations on the journal. Every struct denies unknown keys;
//! [`load`] turns a serde error into `file:line:col: message` so a typo is found at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use armsim_simulator::engine::model::{
    Api, BackupConfig, BackupObject, Behaviour, Blob, ResourceGroup, Service, StorageAccount,
};
use armsim_simulator::fault::FaultPlan;
use armsim_simulator::sim::default_world;
use armsim_simulator::{VDuration, World};

/// One scenario file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "armsim scenario")]
pub struct Scenario {
    /// Stable, unique name (kebab-case); reports and `--json` use it.
    pub name: String,
    /// What behaviour this scenario pins down, in a sentence or two.
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Client abilities the scenario needs (e.g. `custom-poll-interval`). `simulator` is added
    /// automatically when a step needs one.
    #[serde(default)]
    pub requires: Vec<String>,
    /// The world it starts from: a patch on the default world.
    #[serde(default)]
    pub world: WorldSpec,
    /// How operations behave (durations, `retryAfter`, `backupValidity`, `outcomes`); replaces the
    /// world's behaviour when given.
    #[serde(default)]
    pub behaviour: Option<Behaviour>,
    /// Faults to inject (see `simulator/src/fault.rs`): `[{name, when, action, times, probability}]`.
    #[serde(default)]
    pub faults: FaultPlan,
    /// Wall-clock limit for the whole scenario (a client still running then is stopped and judged).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub time_limit: Option<VDuration>,
    #[serde(default)]
    pub clock: Option<ClockSpec>,
    /// Harness-driven steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// A client run (with `--client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientRun>,
    /// Expectations on the journal of the run.
    #[serde(default)]
    pub expect_journal: Vec<JournalExpectation>,
    /// Severity overrides for oracle rules: `{lro.first-poll-delay: off}`.
    #[serde(default)]
    pub oracle: BTreeMap<String, SeverityOverride>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SeverityOverride {
    Error,
    Warning,
    Off,
}

/// Virtual time speed. Steps default to a manual clock (the harness advances it); client runs to 600×.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClockSpec {
    /// Virtual seconds per wall second; 0 means a manual clock.
    pub scale: f64,
}

/// A patch on the default world (or on an empty one with `base: empty`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorldSpec {
    #[serde(default)]
    pub base: WorldBase,
    /// Added, or replacing those with the same name.
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroup>,
    /// Added, or replacing those with the same name.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Added, or replacing those with the same name.
    #[serde(default)]
    pub storage_accounts: Vec<StorageAccount>,
    /// Existing backups, written as a service looked when the backup was taken.
    #[serde(default)]
    pub backups: Vec<SeedBackup>,
    /// How long tokens from the simulator's Azure AD live (virtual time; default 60m). Shorter than an
    /// operation, it makes a token expire mid-restore: clients that renew theirs survive.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub token_lifetime: Option<VDuration>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum WorldBase {
    /// `simulator/worlds/default.yaml`: contoso-apim (Developer, West US) and friends.
    #[default]
    Default,
    /// Only the default subscription.
    Empty,
}

/// A backup blob already in a container.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedBackup {
    pub name: String,
    #[serde(default = "default_account")]
    pub account: String,
    #[serde(default = "default_container")]
    pub container: String,
    /// How old it is when the scenario starts (`29d23h`, `30d`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub age: Option<VDuration>,
    /// The service it was taken from (its SKU, region and APIs), default `contoso-apim`.
    #[serde(default = "default_service")]
    pub from: String,
    /// Overrides the SKU recorded in the backup.
    #[serde(default)]
    pub sku: Option<String>,
    /// Overrides the APIs recorded in the backup (names).
    #[serde(default)]
    pub apis: Option<Vec<String>>,
}

fn default_account() -> String {
    "contosobackups".into()
}
fn default_container() -> String {
    "apim-backups".into()
}
fn default_service() -> String {
    "contoso-apim".into()
}

/// One harness-driven step; exactly one key.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Step {
    /// An HTTP request with expectations on the answer. A 202 makes it the current operation.
    Request(RequestStep),
    /// Polls the current operation the way ARM says (monitor-header precedence, Retry-After, final GET).
    PollUntilDone(PollStep),
    /// Moves the simulator's clock (simulator-only).
    AdvanceClock(#[schemars(with = "String")] VDuration),
    /// Changes the world through ARM (works on any endpoint).
    ChangeWorld(WorldChange),
    /// Checks the world afterwards.
    ExpectWorld(WorldExpectation),
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestStep {
    pub method: String,
    /// Path and query; `{subscription}`, `{resourceGroup}`, `{service}`, `{storageAccount}`, `{container}`,
    /// `{backupName}` are replaced. `{service}` is `contoso-apim` unless `service` says otherwise.
    pub path: String,
    #[serde(default)]
    pub service: Option<String>,
    /// JSON body; `{storageKey}` (key1 now), `{staleKey}` (key1 before the last `regenerateKey`) and the
    /// other placeholders are replaced inside strings.
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Send no `Authorization` header.
    #[serde(default)]
    pub anonymous: bool,
    #[serde(default)]
    pub expect: ResponseExpectation,
}

/// What a response must look like. Header values: `present`, `absent`, or the exact value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseExpectation {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON pointer → expected value (`/error/code: RestoreFailed`).
    #[serde(default)]
    pub json: BTreeMap<String, Value>,
    /// JSON pointer → text the value must contain.
    #[serde(default)]
    pub contains: BTreeMap<String, String>,
    /// Header name → text its value must contain.
    #[serde(default)]
    pub header_contains: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollStep {
    /// The final answer: status, and for failures the ARM code.
    #[serde(default)]
    pub expect: PollExpectation,
    /// Give up after this many polls.
    #[serde(default = "default_max_polls")]
    pub max_polls: u32,
}

fn default_max_polls() -> u32 {
    100
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollExpectation {
    /// `Succeeded` or `Failed` (or `Running` with `maxPolls` for an operation that never ends).
    #[serde(default)]
    pub outcome: Option<String>,
    /// HTTP status of the final answer.
    #[serde(default)]
    pub status: Option<u16>,
    /// ARM error code of a failure.
    #[serde(default)]
    pub code: Option<String>,
    /// Text the failure message must contain.
    #[serde(default)]
    pub message_contains: Option<String>,
    /// Polls needed at least / at most.
    #[serde(default)]
    pub min_polls: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum WorldChange {
    /// PUT an API on a service.
    PutApi { service: String, api: String },
    /// DELETE an API.
    DeleteApi { service: String, api: String },
    /// Regenerate `key1` or `key2` of a storage account.
    RegenerateKey { account: String, key: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum WorldExpectation {
    /// A blob exists (simulator-only: read through the admin API).
    BlobExists {
        #[serde(default = "default_account")]
        account: String,
        #[serde(default = "default_container")]
        container: String,
        name: String,
        /// The APIs the backup must contain (names, sorted).
        #[serde(default)]
        apis: Option<Vec<String>>,
    },
    /// A blob does not exist (simulator-only).
    BlobAbsent {
        #[serde(default = "default_account")]
        account: String,
        #[serde(default = "default_container")]
        container: String,
        name: String,
    },
    /// The service's APIs are exactly these (names, any order).
    ServiceApis { service: String, apis: Vec<String> },
}

/// A client run: what to ask the client to do and what it must report.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientRun {
    pub operation: ClientOperation,
    #[serde(default = "default_service")]
    pub service: String,
    #[serde(default = "default_account")]
    pub storage_account: String,
    #[serde(default = "default_container")]
    pub container: String,
    #[serde(default = "default_backup_name")]
    pub backup_name: String,
    #[serde(default)]
    pub storage_key: KeyChoice,
    /// Whose credentials the client gets (`AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET` and `ARMSIM_TOKEN`):
    /// the world's first `contributor` (default) or first `reader` (who gets 403 on backup).
    #[serde(default, rename = "as")]
    pub principal: PrincipalChoice,
    /// How long `ARMSIM_TOKEN` stays valid, in virtual time (default 30d: the whole scenario). Clients
    /// that log in with `AZURE_*` get tokens of the world's `identity.tokenLifetime` instead, and
    /// refresh them; set this short to see a client that holds one token fail mid-operation.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub token_lifetime: Option<armsim_simulator::VDuration>,
    /// Start another management operation on the service before the client runs, so the client's
    /// backup or restore meets a service that is busy (409): `update` (a capacity change) or `backup`.
    /// Make it outlast the client with `behaviour.durations`.
    #[serde(default)]
    pub busy: Option<BusyWith>,
    pub expect: ClientExpectation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BusyWith {
    Update,
    Backup,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PrincipalChoice {
    #[default]
    Contributor,
    Reader,
}

fn default_backup_name() -> String {
    "armsim.apimbackup".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ClientOperation {
    Backup,
    Restore,
}

impl ClientOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientOperation::Backup => "backup",
            ClientOperation::Restore => "restore",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum KeyChoice {
    /// key1 as it is now.
    #[default]
    Current,
    /// key1 as it was before a regeneration.
    Stale,
    /// Something that was never a key of the account.
    Wrong,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientExpectation {
    pub exit: ExitExpectation,
    /// ARM error code the client must print.
    #[serde(default)]
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ExitExpectation {
    Success,
    Failure,
}

/// A count of matching journal entries.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JournalExpectation {
    #[serde(default)]
    pub route: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    /// Entries shaped by this fault.
    #[serde(default)]
    pub fault: Option<String>,
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub min: Option<u32>,
    #[serde(default)]
    pub max: Option<u32>,
}

/// A scenario read from disk, with what was computed from it.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub path: PathBuf,
    pub scenario: Scenario,
    /// Why only a simulator can run it (empty: any endpoint can).
    pub simulator_only: Vec<String>,
}

impl LoadedScenario {
    /// `requires` plus `simulator` when a step needs one.
    pub fn requires(&self) -> Vec<String> {
        let mut r = self.scenario.requires.clone();
        if !self.simulator_only.is_empty() && !r.iter().any(|x| x == "simulator") {
            r.push("simulator".into());
        }
        r
    }
}

/// A scenario file that could not be read: `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScenarioError(pub String);

/// Parses scenario text; `source` names it in errors.
pub fn parse(text: &str, source: &str) -> Result<Scenario, ScenarioError> {
    let scenario: Scenario = serde_saphyr::from_str(text).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        let message = e.without_snippet().to_string();
        let message = message
            .split_once(" at line ")
            .map(|(m, _)| m.to_string())
            .unwrap_or(message);
        ScenarioError(format!("{source}:{line}:{col}: {message}"))
    })?;
    check(&scenario, source)?;
    Ok(scenario)
}

fn check(s: &Scenario, source: &str) -> Result<(), ScenarioError> {
    let bad = |key: &str, msg: &str| Err(ScenarioError(format!("{source}:1:1: {key}: {msg}")));
    if s.name.trim().is_empty() {
        return bad("name", "must not be empty");
    }
    match (&s.client, s.steps.is_empty()) {
        (Some(_), false) => {
            return bad(
                "steps",
                "a scenario has either steps or a client run, not both",
            )
        }
        (None, true) => return bad("steps", "a scenario needs steps or a client run"),
        _ => {}
    }
    if let Some(c) = s.clock {
        if !(c.scale >= 0.0 && c.scale.is_finite()) {
            return bad("clock.scale", "must be 0 (manual) or a positive number");
        }
    }
    if s.faults
        .rules
        .iter()
        .any(|r| r.probability.is_some_and(|p| !(0.0..=1.0).contains(&p)))
    {
        return bad("faults.probability", "must be between 0 and 1");
    }
    Ok(())
}

/// Reads and checks one scenario file.
pub fn load(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError(format!("{}: {e}", path.display())))?;
    let scenario = parse(&text, &path.display().to_string())?;
    // The world must build, so a bad seed is a file error rather than a run failure.
    let world = build_world(&scenario)
        .map_err(|e| ScenarioError(format!("{}:1:1: world: {e}", path.display())))?;
    armsim_simulator::Simulator::new(armsim_simulator::SimConfig {
        world,
        ..Default::default()
    })
    .map_err(|e| ScenarioError(format!("{}:1:1: world: {e}", path.display())))?;
    let simulator_only = simulator_only(&scenario);
    Ok(LoadedScenario {
        path: path.to_path_buf(),
        scenario,
        simulator_only,
    })
}

/// Why a scenario needs a simulator (empty when any ARM endpoint can run it).
pub fn simulator_only(s: &Scenario) -> Vec<String> {
    let mut why = Vec::new();
    if !s.faults.is_empty() {
        why.push("injects faults".to_string());
    }
    if !s.world.backups.is_empty()
        || !s.world.services.is_empty()
        || !s.world.storage_accounts.is_empty()
        || !s.world.resource_groups.is_empty()
        || s.world.base != WorldBase::Default
    {
        why.push("seeds the world".to_string());
    }
    if s.behaviour.is_some() {
        why.push("sets operation behaviour".to_string());
    }
    if s.client.is_some() {
        why.push("runs a client against the simulator".to_string());
    }
    if !s.expect_journal.is_empty() {
        why.push("expects journal entries".to_string());
    }
    for step in &s.steps {
        match step {
            Step::AdvanceClock(_) => why.push("advances the clock".to_string()),
            Step::ExpectWorld(WorldExpectation::BlobExists { .. })
            | Step::ExpectWorld(WorldExpectation::BlobAbsent { .. }) => {
                why.push("reads blobs through the admin API".to_string())
            }
            _ => {}
        }
    }
    why.dedup();
    why
}

/// The world the scenario starts from.
pub fn build_world(s: &Scenario) -> Result<World, String> {
    let mut w = match s.world.base {
        WorldBase::Default => default_world(),
        WorldBase::Empty => World {
            resource_groups: vec![ResourceGroup {
                name: "contoso-dr".into(),
                location: "westus".into(),
                subscription: String::new(),
            }],
            services: Vec::new(),
            storage_accounts: Vec::new(),
            ..default_world()
        },
    };
    for g in &s.world.resource_groups {
        w.resource_groups
            .retain(|x| !x.name.eq_ignore_ascii_case(&g.name));
        w.resource_groups.push(g.clone());
    }
    for svc in &s.world.services {
        w.services
            .retain(|x| !x.name.eq_ignore_ascii_case(&svc.name));
        w.services.push(svc.clone());
    }
    for a in &s.world.storage_accounts {
        w.storage_accounts
            .retain(|x| !x.name.eq_ignore_ascii_case(&a.name));
        w.storage_accounts.push(a.clone());
    }
    if let Some(lifetime) = s.world.token_lifetime {
        w.identity.token_lifetime = lifetime;
    }
    for b in &s.world.backups {
        let svc = w
            .services
            .iter()
            .find(|x| x.name.eq_ignore_ascii_case(&b.from))
            .ok_or_else(|| {
                format!(
                    "backup '{}': no service '{}' to take it from",
                    b.name, b.from
                )
            })?;
        let apis = match &b.apis {
            Some(names) => names
                .iter()
                .map(|n| Api {
                    name: n.clone(),
                    display_name: n.clone(),
                    path: n.clone(),
                })
                .collect(),
            None => svc.apis.clone(),
        };
        let backup = BackupObject {
            snapshot_at: None,
            config: Arc::new(BackupConfig {
                sku: b.sku.clone().unwrap_or_else(|| svc.sku.clone()),
                apis,
                ..BackupConfig::of(svc)
            }),
        };
        let container = w
            .storage_accounts
            .iter_mut()
            .find(|a| a.name == b.account)
            .ok_or_else(|| format!("backup '{}': no storage account '{}'", b.name, b.account))?
            .containers
            .iter_mut()
            .find(|c| c.name == b.container)
            .ok_or_else(|| format!("backup '{}': no container '{}'", b.name, b.container))?;
        container.blobs.put(Blob {
            name: b.name.clone(),
            created_at: None,
            age: Some(b.age.unwrap_or(VDuration::from_mins(60))),
            backup: Some(backup),
            content: None,
        });
    }
    if let Some(behaviour) = &s.behaviour {
        w.behaviour = behaviour.clone();
    }
    Ok(w)
}

/// The JSON Schema of scenario files, as `armsim schema` prints it.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Scenario);
    serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
        + "\n"
}

/// Every `*.yaml` file under the given paths (files are taken as given), sorted.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(ScenarioError(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| ScenarioError(format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let path = entry
            .map_err(|e| ScenarioError(format!("{}: {e}", dir.display())))?
            .path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name: x\nsteps:\n  - advanceClock: 1m\n";

    #[test]
    fn a_minimal_scenario_parses_and_is_simulator_only() {
        let s = parse(MINIMAL, "x.yaml").expect("parses");
        assert_eq!(simulator_only(&s), vec!["advances the clock".to_string()]);
    }

    #[test]
    fn unknown_keys_name_the_file_line_and_key() {
        let err = parse(
            "name: x\nsteps:\n  - advanceClock: 1m\nclok: {scale: 1}\n",
            "s.yaml",
        )
        .expect_err("typo");
        assert!(err.0.starts_with("s.yaml:4:"), "{err}");
        assert!(err.0.contains("clok"), "{err}");
    }

    #[test]
    fn wrong_types_name_the_line() {
        let err = parse(
            "name: x\nsteps:\n  - request:\n      method: GET\n      path: /x\n      expect: {status: lots}\n",
            "t.yaml",
        )
        .expect_err("type");
        assert!(err.0.starts_with("t.yaml:6:"), "{err}");
    }

    #[test]
    fn seeded_backups_take_the_service_as_it_is() {
        let s = parse(
            "name: x\nworld:\n  backups:\n    - {name: old.bak, age: 29d23h, sku: Premium}\nsteps:\n  - advanceClock: 1m\n",
            "x.yaml",
        )
        .expect("parses");
        let w = build_world(&s).expect("world");
        let blob = w.storage_accounts[0].containers[0]
            .blobs
            .iter()
            .next()
            .expect("a blob");
        assert_eq!(
            blob.backup.as_ref().map(|b| b.config.sku.as_str()),
            Some("Premium")
        );
        assert_eq!(blob.age, Some("29d23h".parse().expect("d")));
    }
}

#[cfg(test)]
mod schema_tests {
    #[test]
    fn every_fault_action_the_simulator_knows_is_in_the_schema() {
        // Every action the simulator knows appears in the schema, spelled the same way.
        let schema = super::schema_json();
        for action in [
            "error",
            "throttle",
            "latency",
            "dropConnection",
            "truncateBody",
            "invalidJson",
            "omitLocation",
            "asyncOperation",
            "relativeLocation",
            "newLocation",
            "noRetryAfter",
            "retryAfter",
        ] {
            let yaml = match action {
                "error" => "- action: {error: {status: 500}}".to_string(),
                "throttle" => "- action: {throttle: {retryAfter: 1}}".to_string(),
                "latency" => "- action: {latency: {ms: 1}}".to_string(),
                "asyncOperation" => "- action: {asyncOperation: besides}".to_string(),
                "retryAfter" => "- action: {retryAfter: 5}".to_string(),
                unit => format!("- action: {unit}"),
            };
            serde_saphyr::from_str::<armsim_simulator::fault::FaultPlan>(&yaml)
                .unwrap_or_else(|e| panic!("{action}: {e}"));
            assert!(
                schema.contains(&format!("\"{action}\"")),
                "{action} missing from the schema"
            );
        }
    }

    #[test]
    fn the_committed_schema_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/schema.json");
        let committed = std::fs::read_to_string(path).expect("scenarios/schema.json");
        assert!(
            committed == super::schema_json(),
            "scenarios/schema.json is stale: run `cargo run -- schema > scenarios/schema.json`"
        );
    }
}
