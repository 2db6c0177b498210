//! The world's resources. The same types are the world file format (YAML or JSON, `--world FILE`,
//! `PUT /_armsim/state`) and the engine's state, so what `GET /_armsim/state` shows can be loaded back.
//! Optional fields have defaults, so a world file only says what matters to it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::{Timestamp, VDuration};

/// Everything the simulator knows: the world file's top level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct World {
    /// Virtual time at which the clock starts (and, in a state snapshot, the time it was taken).
    #[serde(default = "default_start")]
    pub start: Timestamp,
    /// The tenant, its service principals and token lifetime (the fake Azure AD).
    #[serde(default)]
    pub identity: crate::identity::IdentityConfig,
    #[serde(default = "default_subscriptions")]
    pub subscriptions: Vec<Subscription>,
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroup>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub storage_accounts: Vec<StorageAccount>,
    #[serde(default)]
    pub behaviour: Behaviour,
    /// Operations started (and, in a snapshot, not yet forgotten).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<Operation>,
}

pub fn default_start() -> Timestamp {
    // A fixed, recent start keeps snapshots and ids stable across runs.
    Timestamp::from_millis(1_767_225_600_000) // 2026-01-01T00:00:00Z
}

fn default_subscriptions() -> Vec<Subscription> {
    vec![Subscription {
        id: "00000000-0000-0000-0000-000000000000".into(),
        display_name: "armsim".into(),
    }]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subscription {
    pub id: String,
    #[serde(default = "default_sub_name")]
    pub display_name: String,
}

fn default_sub_name() -> String {
    "armsim".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceGroup {
    pub name: String,
    #[serde(default = "default_region")]
    pub location: String,
    /// Defaults to the first subscription.
    #[serde(default)]
    pub subscription: String,
}

fn default_region() -> String {
    "westus".into()
}

/// How operations behave: durations, `Retry-After`, validity of backups, protocol quirks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Behaviour {
    /// Virtual durations per operation kind (PROTOCOL.md §3.1: backup ≈ 9 min, restore ≈ 30 min).
    pub durations: Durations,
    /// Virtual `Retry-After` on every 202 (the real service always sends 60).
    pub retry_after: VDuration,
    /// How long a backup stays restorable (the docs: 30 days).
    pub backup_validity: VDuration,
    /// Reproduce the 2021-era `service/{name}//operationresults/{id}` Location on the initial 202.
    pub double_slash_location: bool,
    /// Overrides of what operations do; the first entry matching an operation decides its outcome.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<OutcomeOverride>,
    /// How long a finished operation stays pollable (virtual time after its end); later polls answer
    /// 404. Absent: kept forever (in-process default); `armsim serve` defaults to 24h. What keeps memory
    /// flat under a POST storm is `max_finished_operations`: at 180×, 24h is eight wall minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_retention: Option<VDuration>,
    /// At most this many finished operations stay pollable; past it the oldest are forgotten first, as
    /// if their retention had run out. Absent: no limit (in-process default); `armsim serve` defaults
    /// to 100,000, so memory stays bounded under a POST storm whatever the retention.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_finished_operations: Option<usize>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            durations: Durations::default(),
            retry_after: VDuration::from_secs(60),
            backup_validity: VDuration::from_days(30),
            double_slash_location: false,
            outcomes: Vec::new(),
            operation_retention: None,
            max_finished_operations: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Durations {
    pub backup: VDuration,
    pub restore: VDuration,
    /// Creating a service (the 2021 recording took an hour; shorter here keeps rehearsals quick).
    pub create: VDuration,
    /// SKU or capacity changes.
    pub update: VDuration,
}

impl Default for Durations {
    fn default() -> Self {
        Self {
            backup: VDuration::from_mins(9),
            restore: VDuration::from_mins(30),
            create: VDuration::from_mins(45),
            update: VDuration::from_mins(20),
        }
    }
}

/// Forces the outcome (and optionally the duration) of matching operations, e.g. "the next restore of
/// contoso-apim fails with 500 InternalServerError".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutcomeOverride {
    /// `backup`, `restore`, `create`, `update`, or absent for any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<OperationKind>,
    /// Service name (case-insensitive), or absent for any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<VDuration>,
    /// The failure to report; absent means the operation succeeds (whatever the rules would say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<FailureSpec>,
    /// Never finish (polls answer 202 forever): for clients that must give up.
    #[serde(default)]
    pub never_finish: bool,
}

/// A failure as reported on the operation-result URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailureSpec {
    #[serde(default = "default_fail_status")]
    pub status: u16,
    pub code: String,
    pub message: String,
}

fn default_fail_status() -> u16 {
    400
}

// ---- API Management ---------------------------------------------------------------------------------

/// A `Microsoft.ApiManagement/service` resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    pub name: String,
    /// Defaults to the first resource group of the subscription.
    #[serde(default)]
    pub resource_group: String,
    #[serde(default)]
    pub subscription: String,
    /// Display form (`West US`); the compact form (`westus`) is accepted and converted.
    #[serde(default = "default_region")]
    pub location: String,
    #[serde(default = "default_sku")]
    pub sku: String,
    /// Units; defaults to 1 (0 for Consumption).
    #[serde(default)]
    pub capacity: Option<u32>,
    #[serde(default = "default_publisher_email")]
    pub publisher_email: String,
    #[serde(default = "default_publisher_name")]
    pub publisher_name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ServiceIdentity>,
    /// The configuration a backup carries: here, the service's APIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apis: Vec<Api>,
    /// Analytics and usage data: never part of a backup.
    #[serde(default)]
    pub usage: Usage,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Bumped on every change; the etag is its base64.
    #[serde(default = "one")]
    pub version: u64,
    #[serde(default = "succeeded")]
    pub provisioning_state: String,
    #[serde(default)]
    pub target_provisioning_state: String,
    /// The operation that holds the service, if any.
    // Its id, the operation's own allocation (`Arc`'s equality finds it without comparing the text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub running_operation: Option<Arc<str>>,
}

impl Service {
    /// The service as its ARM resource shows it: everything but the APIs and usage data, which the
    /// resource does not carry. What a finished operation keeps to answer its polls with, so finishing
    /// one does not copy the service's configuration.
    pub fn resource_view(&self) -> Service {
        Service {
            name: self.name.clone(),
            resource_group: self.resource_group.clone(),
            subscription: self.subscription.clone(),
            location: self.location.clone(),
            sku: self.sku.clone(),
            capacity: self.capacity,
            publisher_email: self.publisher_email.clone(),
            publisher_name: self.publisher_name.clone(),
            tags: self.tags.clone(),
            identity: self.identity.clone(),
            apis: Vec::new(),
            usage: Usage::default(),
            created_at: self.created_at,
            version: self.version,
            provisioning_state: self.provisioning_state.clone(),
            target_provisioning_state: self.target_provisioning_state.clone(),
            running_operation: self.running_operation.clone(),
        }
    }

    /// Whether `view` is this service's [`Self::resource_view`] but for the version: compared in place,
    /// so a finished operation can share the last one's copy without building its own. Every field is
    /// named, so a new one cannot be forgotten here.
    pub fn has_resource_view(&self, view: &Service) -> bool {
        let Service {
            name,
            resource_group,
            subscription,
            location,
            sku,
            capacity,
            publisher_email,
            publisher_name,
            tags,
            identity,
            apis: _,
            usage: _,
            created_at,
            version: _,
            provisioning_state,
            target_provisioning_state,
            running_operation,
        } = self;
        view.apis.is_empty()
            && view.usage == Usage::default()
            && *name == view.name
            && *resource_group == view.resource_group
            && *subscription == view.subscription
            && *location == view.location
            && *sku == view.sku
            && *capacity == view.capacity
            && *publisher_email == view.publisher_email
            && *publisher_name == view.publisher_name
            && *tags == view.tags
            && *identity == view.identity
            && *created_at == view.created_at
            && *provisioning_state == view.provisioning_state
            && *target_provisioning_state == view.target_provisioning_state
            && *running_operation == view.running_operation
    }
}

fn default_sku() -> String {
    "Developer".into()
}
fn default_publisher_email() -> String {
    "admin@contoso.com".into()
}
fn default_publisher_name() -> String {
    "Contoso".into()
}
fn one() -> u64 {
    1
}
fn succeeded() -> String {
    "Succeeded".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceIdentity {
    #[serde(default)]
    pub system_assigned: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_assigned: Vec<UserAssignedIdentity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserAssignedIdentity {
    /// The identity's resource name (under `Microsoft.ManagedIdentity/userAssignedIdentities`).
    pub name: String,
    pub client_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Api {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Usage {
    #[serde(default)]
    pub requests: u64,
}

/// SKUs API Management has, and which of them can back up and restore (the docs: Developer, Basic,
/// Standard, Premium; Isolated too, as a classic tier).
pub const SKUS: [&str; 9] = [
    "Developer",
    "Basic",
    "Standard",
    "Premium",
    "Isolated",
    "Consumption",
    "BasicV2",
    "StandardV2",
    "PremiumV2",
];

pub fn sku_supports_backup(sku: &str) -> bool {
    ["Developer", "Basic", "Standard", "Premium", "Isolated"]
        .iter()
        .any(|s| super::same(s, sku))
}

/// The SKU spelled as the service spells it, if it is one.
pub fn canonical_sku(sku: &str) -> Option<&'static str> {
    SKUS.iter().copied().find(|s| super::same(s, sku))
}

// ---- Storage --------------------------------------------------------------------------------------------

/// A `Microsoft.Storage/storageAccounts` resource with its blob containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageAccount {
    pub name: String,
    #[serde(default)]
    pub resource_group: String,
    #[serde(default)]
    pub subscription: String,
    #[serde(default = "default_region")]
    pub location: String,
    /// key1 and key2; generated from the seed when absent.
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Container {
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<Blob>"))]
    pub blobs: Blobs,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
}

/// A container's blobs by name, listed in name order, as Azure Storage lists them; written and read as a
/// list. A list searched by name made every backup's end scan every blob of its container: DR clients
/// name each backup apart (a date in the name), and a storm of such backups fell to 12,320 requests a
/// second at 65 µs of user time each within 4 s (bench/README.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<Blob>", into = "Vec<Blob>")]
pub struct Blobs(BTreeMap<String, Blob>);

impl Blobs {
    pub fn get(&self, name: &str) -> Option<&Blob> {
        self.0.get(name)
    }

    /// Writes the blob `make` makes from its name, `name`: in place of the one of that name if there is
    /// one, whose name (the map's key aside) it takes over. A backup rewriting its blob, as a storm's
    /// and a drill's repeated backups do, then allocates no name, nor frees the old one.
    pub fn put_named(&mut self, name: &str, make: impl FnOnce(String) -> Blob) {
        match self.0.get_mut(name) {
            Some(kept) => *kept = make(std::mem::take(&mut kept.name)),
            None => self.put(make(name.to_owned())),
        }
    }

    /// Writes `blob`, in place of the one of its name if there is one.
    pub fn put(&mut self, blob: Blob) {
        match self.0.get_mut(&blob.name) {
            Some(kept) => *kept = blob,
            None => {
                self.0.insert(blob.name.clone(), blob);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Blob> {
        self.0.values()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Blob> {
        self.0.values_mut()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A list of blobs as a world file gives it: of two of one name, the later is kept.
impl From<Vec<Blob>> for Blobs {
    fn from(list: Vec<Blob>) -> Self {
        let mut blobs = Blobs::default();
        for b in list {
            blobs.put(b);
        }
        blobs
    }
}

impl From<Blobs> for Vec<Blob> {
    fn from(blobs: Blobs) -> Self {
        blobs.0.into_values().collect()
    }
}

/// A blob. Backups are blobs whose `backup` is set; a world file can seed one with an `age`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Blob {
    pub name: String,
    /// When the blob was written. A world file may give `age` instead (relative to `start`).
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default, skip_serializing)]
    pub age: Option<VDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupObject>,
    /// Content of a blob that is not a backup (restore must refuse it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// What a backup writes: the service's configuration, its SKU, its region and when it was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(from = "BackupFile", into = "BackupFile")]
pub struct BackupObject {
    /// When the snapshot was taken (the backup's start): later changes are not in it.
    pub snapshot_at: Option<Timestamp>,
    /// What comes from the service, shared: backups of a service whose configuration has not changed
    /// hold one copy (a storm of backups of one service keeps one). Written and read with
    /// `snapshot_at` as one object, [`BackupFile`], as a blob holds it.
    pub config: Arc<BackupConfig>,
}

/// The part of a backup that comes from the service.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupConfig {
    pub format: String,
    pub service: String,
    pub sku: String,
    pub capacity: u32,
    pub location: String,
    pub publisher_email: String,
    pub publisher_name: String,
    pub apis: Vec<Api>,
}

impl BackupConfig {
    /// What a backup of `svc` takes: its configuration, SKU, capacity and region — never its usage
    /// data.
    pub fn of(svc: &Service) -> Self {
        Self {
            format: backup_format(),
            service: svc.name.clone(),
            sku: svc.sku.clone(),
            capacity: svc.capacity.unwrap_or(1),
            location: svc.location.clone(),
            publisher_email: svc.publisher_email.clone(),
            publisher_name: svc.publisher_name.clone(),
            apis: svc.apis.clone(),
        }
    }

    /// Whether a backup of `svc` taken now would hold exactly this configuration.
    pub fn describes(&self, svc: &Service) -> bool {
        self.format == BACKUP_FORMAT
            && self.service == svc.name
            && self.sku == svc.sku
            && self.capacity == svc.capacity.unwrap_or(1)
            && self.location == svc.location
            && self.publisher_email == svc.publisher_email
            && self.publisher_name == svc.publisher_name
            && self.apis == svc.apis
    }
}

/// A backup as a blob holds it, and as world files and saved worlds write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupFile {
    #[serde(default = "backup_format")]
    pub format: String,
    pub service: String,
    pub sku: String,
    #[serde(default = "one_u32")]
    pub capacity: u32,
    #[serde(default = "default_region")]
    pub location: String,
    /// When the snapshot was taken (the backup's start): later changes are not in it.
    #[serde(default)]
    pub snapshot_at: Option<Timestamp>,
    #[serde(default = "default_publisher_email")]
    pub publisher_email: String,
    #[serde(default = "default_publisher_name")]
    pub publisher_name: String,
    #[serde(default)]
    pub apis: Vec<Api>,
}

impl From<BackupFile> for BackupObject {
    fn from(f: BackupFile) -> Self {
        Self {
            snapshot_at: f.snapshot_at,
            config: Arc::new(BackupConfig {
                format: f.format,
                service: f.service,
                sku: f.sku,
                capacity: f.capacity,
                location: f.location,
                publisher_email: f.publisher_email,
                publisher_name: f.publisher_name,
                apis: f.apis,
            }),
        }
    }
}

impl From<BackupObject> for BackupFile {
    fn from(b: BackupObject) -> Self {
        let BackupConfig {
            format,
            service,
            sku,
            capacity,
            location,
            publisher_email,
            publisher_name,
            apis,
        } = Arc::unwrap_or_clone(b.config);
        Self {
            format,
            service,
            sku,
            capacity,
            location,
            snapshot_at: b.snapshot_at,
            publisher_email,
            publisher_name,
            apis,
        }
    }
}

const BACKUP_FORMAT: &str = "armsim-apim-backup/1";

fn backup_format() -> String {
    BACKUP_FORMAT.into()
}
fn one_u32() -> u32 {
    1
}

// ---- Operations -------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum OperationKind {
    Backup,
    Restore,
    Create,
    Update,
}

impl OperationKind {
    /// The word in the operation id (`westus:svc_Backup_1a2b3c4d`): `Act` for create and update.
    pub fn id_word(self) -> &'static str {
        match self {
            OperationKind::Backup => "Backup",
            OperationKind::Restore => "Restore",
            OperationKind::Create | OperationKind::Update => "Act",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            OperationKind::Backup => "a backup",
            OperationKind::Restore => "a restore",
            OperationKind::Create => "service activation",
            OperationKind::Update => "a service update",
        }
    }
}

/// Where an operation stands. Terminal states never change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum OperationStatus {
    Running,
    Succeeded,
    /// Boxed, as is `Operation::planned_failure`: most operations succeed, and an inline failure made
    /// every operation 88 bytes larger (336 → 248), which serve keeps 100,000 of once finished.
    Failed {
        error: Box<FailureSpec>,
    },
}

/// A long-running operation. Its progress is a function of `now`: it is running until `ends_at`, then
/// the engine settles it (applies its effects) exactly once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operation {
    /// Shared, not copied, with the request that started or polled it, which names it in its answer.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub id: Arc<str>,
    pub kind: OperationKind,
    // These four and the target's texts are shared with the operations before it that had the same
    // (`RepeatedTexts` in engine/mod.rs): a finished operation is kept long after it ends, and serve
    // forgets up to 100,000 of them oldest first.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub subscription: Arc<str>,
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub resource_group: Arc<str>,
    /// The service name as the caller spelled it (Location URLs echo it).
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub service: Arc<str>,
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub api_version: Arc<str>,
    pub started_at: Timestamp,
    /// `None`: the operation never finishes.
    pub ends_at: Option<Timestamp>,
    pub status: OperationStatus,
    /// When it settled (≥ `started_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// A failure decided at acceptance, revealed when the operation ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_failure: Option<Box<FailureSpec>>,
    /// Forced success (an outcome override said so).
    #[serde(default)]
    pub forced_success: bool,
    /// Backup: where to write. Restore: where the backup was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Arc<BlobTarget>>,
    /// Backup: the snapshot taken at the start. Restore: the backup read at the start. Taken when the
    /// operation ends; its configuration is shared (see [`BackupObject`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<BackupObject>,
    /// Create/update: the service as it will be when the operation completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<Box<Service>>,
    /// The service as it was when the operation succeeded: every later poll answers 200 with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<Service>"))]
    pub result: Option<ServiceResult>,
}

impl Operation {
    /// An operation just started at `started_at` on a service (named by its subscription, group,
    /// name and the api-version it was called with): running, its end not yet decided, nothing
    /// planned, targeted, taken or left.
    pub fn started(
        id: Arc<str>,
        kind: OperationKind,
        subscription: Arc<str>,
        resource_group: Arc<str>,
        service: Arc<str>,
        api_version: Arc<str>,
        started_at: Timestamp,
    ) -> Self {
        Self {
            id,
            kind,
            subscription,
            resource_group,
            service,
            api_version,
            started_at,
            ends_at: None,
            status: OperationStatus::Running,
            ended_at: None,
            planned_failure: None,
            forced_success: false,
            target: None,
            payload: None,
            desired: None,
            result: None,
        }
    }
}

/// The service as an operation left it, kept as the resource ([`Service::resource_view`]: no APIs or
/// usage), not its JSON, so finishing an operation costs no rendering. The resource is shared: a service's
/// finished operations hold one copy for as long as the resource does not change (a storm of backups of
/// one service keeps one), and each keeps only its own version, the etag. Written and read as the
/// service it stands for.
#[derive(Debug, Clone)]
pub struct ServiceResult {
    view: Arc<Service>,
    version: u64,
}

impl ServiceResult {
    /// `service`'s resource as of its version, sharing `last`'s copy when the two differ in nothing else.
    pub fn of(service: &Service, last: Option<&Arc<Service>>) -> Self {
        let view = match last {
            Some(last) if service.has_resource_view(last) => last.clone(),
            _ => Arc::new(service.resource_view()),
        };
        Self {
            view,
            version: service.version,
        }
    }

    /// The shared resource (its own `version` may be another operation's: use [`Self::version`]).
    pub fn view(&self) -> &Arc<Service> {
        &self.view
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// The service it stands for, owned.
    pub fn to_service(&self) -> Service {
        Service {
            version: self.version,
            ..(*self.view).clone()
        }
    }
}

/// Equal when they stand for the same service, whether or not they share a copy.
impl PartialEq for ServiceResult {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
            && (Arc::ptr_eq(&self.view, &other.view) || self.to_service() == other.to_service())
    }
}

impl Serialize for ServiceResult {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.view.version == self.version {
            self.view.serialize(serializer)
        } else {
            self.to_service().serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for ServiceResult {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let view = Service::deserialize(deserializer)?;
        Ok(Self {
            version: view.version,
            view: Arc::new(view),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlobTarget {
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub account: Arc<str>,
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub container: Arc<str>,
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub blob: Arc<str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(name: &str, content: &str) -> Blob {
        Blob {
            name: name.into(),
            created_at: None,
            age: None,
            backup: None,
            content: Some(content.into()),
        }
    }

    #[test]
    fn blobs_are_kept_by_name_listed_in_name_order_and_written_as_a_list() {
        let read: Blobs = serde_json::from_value(serde_json::json!([
            {"name": "b-2026-12-07", "content": "first"},
            {"name": "a-2026-12-08", "content": "other"},
            {"name": "b-2026-12-07", "content": "again"},
        ]))
        .expect("a list of blobs");
        assert_eq!(read.len(), 2, "of two blobs of one name the later is kept");
        assert_eq!(
            read.get("b-2026-12-07").and_then(|b| b.content.as_deref()),
            Some("again")
        );
        let mut blobs = read;
        // Rewritten in place under the name it had, and written anew.
        blobs.put_named("a-2026-12-08", |name| blob(&name, "rewritten"));
        blobs.put_named("c", |name| blob(&name, "new"));
        assert_eq!(blobs.get("missing"), None);
        let written = serde_json::to_value(&blobs).expect("serializes");
        assert_eq!(
            written,
            serde_json::json!([
                {"name": "a-2026-12-08", "createdAt": null, "content": "rewritten"},
                {"name": "b-2026-12-07", "createdAt": null, "content": "again"},
                {"name": "c", "createdAt": null, "content": "new"},
            ])
        );
        let names: Vec<&str> = blobs.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["a-2026-12-08", "b-2026-12-07", "c"]);
    }
}
