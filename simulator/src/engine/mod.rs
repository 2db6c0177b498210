//! The world and its rules: services, storage and operations. Synchronous, no I/O, no sleeping.
//!
//! Every command takes `now`. Before a command runs, [`Engine::settle`] finishes, in deadline order,
//! every operation whose end is at or before `now` and applies its effects (writing the backup blob,
//! replacing the restored configuration) at its own end time. So state is a function of the clock, and
//! advancing 30 days is one call.

pub mod action_body;
pub mod ids;
pub mod model;
mod operations;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use foldhash::HashMap;

use serde_json::Value;

use crate::arm::api_version::{body_rules, BodyRules, FIRST_ACCESS_TYPE_VERSION};
use crate::arm::error::ArmError;
use crate::arm::{region, wire};
use crate::clock::Timestamp;
use crate::http::route::{ServiceRef, StorageRef};
use action_body::{ActionBody, Member};
use ids::{IdStem, Ids};
use model::*;
use operations::{Operations, Slot};

/// What an operation-result poll finds.
#[derive(Debug, Clone, PartialEq)]
pub enum PollAnswer {
    Running,
    Succeeded(Value),
    Failed(FailureSpec),
}

/// A started operation: its id, for the Location header.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The engine's own copy of the id, shared.
    pub operation_id: Arc<str>,
}

/// The result of a PUT/PATCH on a service: either done at once, or an operation.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceWrite {
    Done {
        status: u16,
        body: Value,
    },
    Started {
        status: u16,
        body: Option<Value>,
        operation_id: Arc<str>,
    },
}

/// Remaining-request counters per subscription, as ARM reports them in `x-ms-ratelimit-remaining-*`.
#[derive(Debug, Clone, Default)]
struct RateLimits {
    window: BTreeMap<String, (i64, u32, u32)>,
}

impl RateLimits {
    const READS: u32 = 12_000;
    const WRITES: u32 = 1_200;

    /// Counts one request and returns what remains in the current virtual hour.
    fn take(&mut self, subscription: &str, write: bool, now: Timestamp) -> u32 {
        let hour = now.as_secs().div_euclid(3600);
        // Subscription ids are lower-case GUIDs as clients send them: no key to make on that path.
        let entry = if subscription.bytes().any(|b| b.is_ascii_uppercase()) {
            self.window.entry(subscription.to_ascii_lowercase())
        } else if let Some(entry) = self.window.get_mut(subscription) {
            return Self::count(entry, hour, write);
        } else {
            self.window.entry(subscription.to_string())
        }
        .or_insert((hour, Self::READS, Self::WRITES));
        Self::count(entry, hour, write)
    }

    fn count(entry: &mut (i64, u32, u32), hour: i64, write: bool) -> u32 {
        if entry.0 != hour {
            *entry = (hour, Self::READS, Self::WRITES);
        }
        let counter = if write { &mut entry.2 } else { &mut entry.1 };
        *counter = counter.saturating_sub(1);
        *counter
    }
}

/// What a lookup last found, and the texts it was asked with, kept as they were spelled: the next
/// lookup nearly always repeats them (a backup POST and its backup's end name one service, a client's
/// polls one group), and comparing them as they stand answers it before the lookup's own work, which
/// lower-cases, hashes or scans. Only what was found is kept, and only where a find stays true until
/// the owner starts afresh. Behind a `RefCell` because lookups take `&self`; were it ever borrowed
/// already, the lookup does its own work.
#[derive(Debug)]
struct LastFound<const N: usize, T>(std::cell::RefCell<Option<([String; N], T)>>);

impl<const N: usize, T> Default for LastFound<N, T> {
    fn default() -> Self {
        Self(std::cell::RefCell::new(None))
    }
}

impl<const N: usize, T: Copy> LastFound<N, T> {
    /// What `find` finds for `texts`: the kept value when they are the kept texts, else `find`'s,
    /// kept with them when it finds something.
    fn get_or(&self, texts: [&str; N], find: impl FnOnce() -> Option<T>) -> Option<T> {
        if let Ok(last) = self.0.try_borrow() {
            if let Some((kept, found)) = &*last {
                if kept.iter().zip(texts).all(|(k, t)| k == t) {
                    return Some(*found);
                }
            }
        }
        let found = find()?;
        if let Ok(mut last) = self.0.try_borrow_mut() {
            let (kept, value) =
                last.get_or_insert_with(|| (std::array::from_fn(|_| String::new()), found));
            for (k, t) in kept.iter_mut().zip(texts) {
                k.clear();
                k.push_str(t);
            }
            *value = found;
        }
        Some(found)
    }
}

/// `subscription/resourceGroup/name` (lower case) → position in `world.services`: lookups stay O(1) in
/// worlds of thousands of services, whose keys share a long prefix. The last service found is kept
/// by its spelling ([`LastFound`]), which spares making the key in lower case and hashing it: 480 of
/// the instructions a backup POST spends inside `handle` (callgrind, bench/README.md). Both are
/// rebuilt whenever services are added or removed.
#[derive(Debug, Default)]
struct ServiceAt {
    by_key: HashMap<Box<[u8]>, usize>,
    last: LastFound<3, usize>,
}

impl ServiceAt {
    fn find(&self, sub: &str, rg: &str, name: &str) -> Option<usize> {
        self.last.get_or([sub, rg, name], || {
            Engine::with_service_key(sub, rg, name, |key| self.by_key.get(key).copied())
        })
    }
}

pub struct Engine {
    world: World,
    /// Where each service is in `world.services`. Rebuilt whenever services are added or removed.
    service_at: ServiceAt,
    /// In reused slots, found by id through a hash table: a manual clock keeps every operation, a POST
    /// storm makes hundreds of thousands whose ids share a long prefix (which made ordered lookups the
    /// POST's largest cost), and serve forgets the oldest finished one on every new one (see
    /// [`Operations`]). The deadline and retention queues hold slots.
    operations: Operations,
    /// Running operations that will end, by end time then queueing order: what `settle` walks.
    deadlines: Queue,
    /// Finished operations by end time then queueing order: what retention forgets, oldest first.
    finished: ByEnd,
    ids: Ids,
    limits: RateLimits,
    /// The last operation id's stem, which the next of the same service and kind starts with, and
    /// where an id is written (kept to reuse its buffer).
    id_stem: IdStem,
    id_encoded: String,
    /// By service index: the resource the service's last finished operation kept, which the next one
    /// shares when the resource has not changed (see [`ServiceResult`]). Reset by `reindex`.
    last_results: Vec<Option<Arc<Service>>>,
    /// By service index: the configuration its last backup took, which the next backup shares when the
    /// configuration has not changed (see [`BackupObject`]). Reset by `reindex`.
    last_backups: Vec<Option<Arc<BackupConfig>>>,
    /// The texts the last operation kept, which the next shares when they are equal.
    texts: RepeatedTexts,
    /// The subscription and resource group `check_group` last found ([`LastFound`]): every poll checks
    /// its group, and the kept pair spares scanning both lists case-insensitively (380 of the
    /// instructions a poll spends inside `handle`, callgrind). Never stale: no request removes a group
    /// or a subscription, and a world replaced is a new engine.
    last_group: LastFound<2, ()>,
}

/// The texts an operation keeps that the ones before it mostly had too (its service's subscription,
/// group, name and api-version, its backup's target), each as the last operation had it: a storm of
/// backups of one service into one container keeps one copy of each, and forgetting one of serve's
/// 100,000 finished operations, long cold by then, frees none of them. Seven allocations fewer a
/// backup POST (22.2 → 15.2), 0.27 KB less a finished operation (RSS after a 4 s storm 111.5 → 84.3
/// MB), in process 3.0 → 2.85 µs a POST at 100,000 finished (bench/README.md).
///
/// The target is shared whole when all three of its texts are the last one's (a reference count to
/// take and, when the operation is forgotten, to give back, rather than three), and else made anew
/// from the last one's texts where they are equal (backups named apart, into one container).
#[derive(Debug, Default)]
struct RepeatedTexts {
    subscription: Option<Arc<str>>,
    resource_group: Option<Arc<str>>,
    service: Option<Arc<str>>,
    api_version: Option<Arc<str>>,
    target: Option<Arc<BlobTarget>>,
}

/// `text` as `last` holds it when the two are equal, else a new copy, which `last` then holds.
fn share(last: &mut Option<Arc<str>>, text: &str) -> Arc<str> {
    match last {
        Some(kept) if **kept == *text => kept.clone(),
        _ => last.insert(Arc::from(text)).clone(),
    }
}

/// Running operations by end time, first in first out among equal times: a counter breaks ties, so
/// ordering never compares the (long, shared-prefix) ids. Operations start in any order of their ends
/// (a backup's nine minutes, a restore's thirty), hence a B-tree; finished ones leave in order
/// ([`ByEnd`]).
#[derive(Debug, Default)]
struct Queue {
    by_time: BTreeMap<(Timestamp, u64), Slot>,
    pushed: u64,
}

impl Queue {
    fn push(&mut self, at: Timestamp, slot: Slot) {
        self.pushed += 1;
        self.by_time.insert((at, self.pushed), slot);
    }

    fn first_time(&self) -> Option<Timestamp> {
        self.by_time.first_key_value().map(|((t, _), _)| *t)
    }

    /// Takes the earliest entry if it is at or before `now`.
    fn pop_due(&mut self, now: Timestamp) -> Option<(Timestamp, Slot)> {
        let entry = self.by_time.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        let ((at, _), slot) = entry.remove_entry();
        Some((at, slot))
    }
}

/// Finished operations by end time, oldest first, equal times in the order they finished. Operations
/// finish in time order (`settle` completes them by deadline, each after every earlier one), so a push
/// lands at the back of a ring, where a B-tree of serve's 100,000 finished cost a POST 685
/// instructions a push (callgrind) and an allocation now and then. A push out of time order is
/// inserted where it belongs, so order holds whatever the caller does; a loaded world's operations
/// are sorted first (`Engine::new`).
#[derive(Debug, Default)]
struct ByEnd {
    ends: VecDeque<(Timestamp, Slot)>,
}

impl ByEnd {
    fn push(&mut self, at: Timestamp, slot: Slot) {
        match self.ends.back() {
            Some(&(last, _)) if last > at => {
                let after_equals = self.ends.partition_point(|&(t, _)| t <= at);
                self.ends.insert(after_equals, (at, slot));
            }
            _ => self.ends.push_back((at, slot)),
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn pop_first(&mut self) -> Option<(Timestamp, Slot)> {
        self.ends.pop_front()
    }

    /// Takes the earliest entry if it is at or before `now`.
    fn pop_due(&mut self, now: Timestamp) -> Option<(Timestamp, Slot)> {
        match self.ends.front() {
            Some(&(at, _)) if at <= now => self.ends.pop_front(),
            _ => None,
        }
    }
}

/// Whether two ARM names are the same: ARM compares them case-insensitively. A name a client sends is
/// nearly always spelled as the world spells it, so the exact comparison (a length check and `memcmp`)
/// comes first; lowering both sides byte by byte is left for the rest. With the SKU and `accessType`
/// checks going through it too, that took 682 instructions off a backup POST inside `handle`, and 191
/// off a poll (callgrind, bench/README.md).
fn same(a: &str, b: &str) -> bool {
    a == b || a.eq_ignore_ascii_case(b)
}

/// Replaces a state text in place: a service's states change on every operation, and their strings'
/// buffers already fit each other.
fn set_text(field: &mut String, text: &str) {
    field.clear();
    field.push_str(text);
}

impl Engine {
    /// Builds the engine from a world, filling defaults and checking references. `now` is the clock's
    /// time, from which blob `age`s are counted.
    pub fn new(mut world: World, seed: u64, now: Timestamp) -> Result<Self, String> {
        let mut ids = Ids::new(seed);
        normalize(&mut world, &mut ids, now)?;
        let mut operations = Operations::default();
        let mut deadlines = Queue::default();
        let mut finished = Vec::new();
        for op in std::mem::take(&mut world.operations) {
            if operations.contains(&op.id) {
                return Err(format!("operation '{}' appears twice", op.id));
            }
            let (running, ends_at, ended) = (
                op.status == OperationStatus::Running,
                op.ends_at,
                op.ended_at.unwrap_or(op.started_at),
            );
            let slot = operations.insert(op);
            if running {
                if let Some(end) = ends_at {
                    deadlines.push(end, slot);
                }
            } else {
                finished.push((ended, slot));
            }
        }
        // Stable: operations that ended at the same time keep the world's order.
        finished.sort_by_key(|&(ended, _)| ended);
        let finished = ByEnd {
            ends: finished.into(),
        };
        let mut engine = Self {
            world,
            service_at: ServiceAt::default(),
            operations,
            deadlines,
            finished,
            ids,
            limits: RateLimits::default(),
            id_stem: IdStem::default(),
            id_encoded: String::new(),
            last_results: Vec::new(),
            last_backups: Vec::new(),
            texts: RepeatedTexts::default(),
            last_group: Default::default(),
        };
        engine.reindex();
        Ok(engine)
    }

    fn service_key(sub: &str, rg: &str, name: &str) -> Box<[u8]> {
        Self::with_service_key(sub, rg, name, |key| key.into())
    }

    /// Calls `f` with `subscription/resourceGroup/name` in ASCII lower case, built on the stack when it
    /// fits: every request on a service and every operation's end looks one up. As bytes: a key is only
    /// hashed and compared, and making it text again was a UTF-8 check (120 instructions) a lookup.
    fn with_service_key<T>(sub: &str, rg: &str, name: &str, f: impl FnOnce(&[u8]) -> T) -> T {
        let mut buf = [0u8; 160];
        let len = sub.len() + rg.len() + name.len() + 2;
        if len > buf.len() {
            return f([sub, rg, name].join("/").to_ascii_lowercase().as_bytes());
        }
        let mut at = 0;
        for (i, part) in [sub, rg, name].into_iter().enumerate() {
            if i > 0 {
                buf[at] = b'/';
                at += 1;
            }
            buf[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
        }
        buf[..len].make_ascii_lowercase();
        f(&buf[..len])
    }

    /// Rebuilds `service_at` after services were added or removed.
    fn reindex(&mut self) {
        let by_key = self.world.services.iter().enumerate();
        let by_key = by_key.map(|(i, s)| {
            let key = Self::service_key(&s.subscription, &s.resource_group, &s.name);
            (key, i)
        });
        self.service_at = ServiceAt {
            by_key: by_key.collect(),
            last: Default::default(),
        };
        self.last_results.clear();
        self.last_results.resize(self.world.services.len(), None);
        self.last_backups.clear();
        self.last_backups.resize(self.world.services.len(), None);
    }

    /// The world as it is now, operations included, stamped with `now`: loadable with [`Engine::new`].
    pub fn snapshot(&self, now: Timestamp) -> World {
        let mut w = self.world.clone();
        w.start = now;
        w.operations = self.operations.iter().cloned().collect();
        w.operations.sort_by(|a, b| a.id.cmp(&b.id));
        w
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    pub fn ids(&mut self) -> &mut Ids {
        &mut self.ids
    }

    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.get(id)
    }

    pub fn operations(&self) -> impl Iterator<Item = &Operation> {
        self.operations.iter()
    }

    /// The earliest time at which something will happen on its own (an operation ending).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first_time()
    }

    pub fn take_rate_limit(&mut self, subscription: &str, write: bool, now: Timestamp) -> u32 {
        self.limits.take(subscription, write, now)
    }

    /// Finishes every operation whose end is at or before `now`, in order of their ends.
    pub fn settle(&mut self, now: Timestamp) {
        while let Some((end, slot)) = self.deadlines.pop_due(now) {
            self.complete(slot, end);
        }
        self.expire(now);
    }

    /// Forgets finished operations that ended longer than `behaviour.operationRetention` before `now`,
    /// then the oldest finished ones beyond `behaviour.maxFinishedOperations`.
    fn expire(&mut self, now: Timestamp) {
        let behaviour = &self.world.behaviour;
        let (retention, max) = (
            behaviour.operation_retention,
            behaviour.max_finished_operations,
        );
        if let Some(retention) = retention {
            // Ended at or before `now - retention`.
            let cutoff =
                Timestamp::from_millis(now.as_millis().saturating_sub(retention.as_millis()));
            while let Some((_, slot)) = self.finished.pop_due(cutoff) {
                self.operations.forget(slot);
            }
        }
        if let Some(max) = max {
            while self.finished.len() > max {
                let Some((_, slot)) = self.finished.pop_first() else {
                    break;
                };
                self.operations.forget(slot);
            }
        }
    }

    // ---- lookups --------------------------------------------------------------------------------

    fn check_subscription(&self, sub: &str) -> Result<(), ArmError> {
        if self.world.subscriptions.iter().any(|s| same(&s.id, sub)) {
            Ok(())
        } else {
            Err(ArmError::subscription_not_found(sub))
        }
    }

    fn check_group(&self, sub: &str, rg: &str) -> Result<(), ArmError> {
        let found = self.last_group.get_or([sub, rg], || {
            self.check_subscription(sub).ok()?;
            let groups = &self.world.resource_groups;
            let this = |g: &&ResourceGroup| same(&g.subscription, sub) && same(&g.name, rg);
            groups.iter().find(this).map(|_| ())
        });
        if found.is_some() {
            return Ok(());
        }
        self.check_subscription(sub)?;
        Err(ArmError::resource_group_not_found(rg))
    }

    /// The service `r` names; else the error for the first of its subscription, group and name that
    /// is not there. A service found has both of the others: `normalize` checks every service's group
    /// when a world is loaded, and no request removes a group or a subscription. So they are checked
    /// only when it is not found, which spares a scan of both lists on every request to a service
    /// (462 instructions a backup POST inside `handle`, callgrind).
    fn service_index(&self, r: &ServiceRef) -> Result<usize, ArmError> {
        if let Some(index) = self
            .service_at
            .find(&r.subscription, &r.resource_group, &r.name)
        {
            debug_assert!(self.check_group(&r.subscription, &r.resource_group).is_ok());
            return Ok(index);
        }
        self.check_group(&r.subscription, &r.resource_group)?;
        Err(ArmError::resource_not_found(
            &format!("Microsoft.ApiManagement/service/{}", r.name),
            &r.resource_group,
        ))
    }

    pub fn service(&self, r: &ServiceRef) -> Result<&Service, ArmError> {
        Ok(&self.world.services[self.service_index(r)?])
    }

    /// The location (display form) of a resource group, for error texts.
    pub fn group_location(&self, sub: &str, rg: &str) -> Option<&str> {
        self.world
            .resource_groups
            .iter()
            .find(|g| same(&g.subscription, sub) && same(&g.name, rg))
            .map(|g| g.location.as_str())
    }

    pub fn subscriptions(&self) -> &[Subscription] {
        &self.world.subscriptions
    }

    pub fn subscription(&self, sub: &str) -> Result<&Subscription, ArmError> {
        self.world
            .subscriptions
            .iter()
            .find(|s| same(&s.id, sub))
            .ok_or_else(|| ArmError::subscription_not_found(sub))
    }

    pub fn resource_groups(&self, sub: &str) -> Result<Vec<&ResourceGroup>, ArmError> {
        self.check_subscription(sub)?;
        Ok(self
            .world
            .resource_groups
            .iter()
            .filter(|g| same(&g.subscription, sub))
            .collect())
    }

    pub fn resource_group(&self, sub: &str, rg: &str) -> Result<&ResourceGroup, ArmError> {
        self.check_group(sub, rg)?;
        self.world
            .resource_groups
            .iter()
            .find(|g| same(&g.subscription, sub) && same(&g.name, rg))
            .ok_or_else(|| ArmError::resource_group_not_found(rg))
    }

    pub fn put_resource_group(
        &mut self,
        sub: &str,
        rg: &str,
        body: Option<&Value>,
    ) -> Result<(u16, &ResourceGroup), ArmError> {
        self.check_subscription(sub)?;
        let location = required_location(body)?;
        let status = match self
            .world
            .resource_groups
            .iter()
            .position(|g| same(&g.subscription, sub) && same(&g.name, rg))
        {
            Some(i) => {
                self.world.resource_groups[i].location = region::canonical(&location);
                200
            }
            None => {
                self.world.resource_groups.push(ResourceGroup {
                    name: rg.to_string(),
                    location: region::canonical(&location),
                    subscription: sub.to_string(),
                });
                201
            }
        };
        let g = self.resource_group(sub, rg)?;
        Ok((status, g))
    }

    pub fn services_in(&self, sub: &str, rg: Option<&str>) -> Result<Vec<&Service>, ArmError> {
        match rg {
            Some(rg) => self.check_group(sub, rg)?,
            None => self.check_subscription(sub)?,
        }
        Ok(self
            .world
            .services
            .iter()
            .filter(|s| {
                same(&s.subscription, sub) && rg.is_none_or(|rg| same(&s.resource_group, rg))
            })
            .collect())
    }

    fn storage_index(&self, r: &StorageRef) -> Result<usize, ArmError> {
        self.check_group(&r.subscription, &r.resource_group)?;
        self.world
            .storage_accounts
            .iter()
            .position(|a| {
                same(&a.subscription, &r.subscription)
                    && same(&a.resource_group, &r.resource_group)
                    && same(&a.name, &r.account)
            })
            .ok_or_else(|| {
                ArmError::resource_not_found(
                    &format!("Microsoft.Storage/storageAccounts/{}", r.account),
                    &r.resource_group,
                )
            })
    }

    pub fn storage_account(&self, r: &StorageRef) -> Result<&StorageAccount, ArmError> {
        Ok(&self.world.storage_accounts[self.storage_index(r)?])
    }

    /// Storage accounts by name alone: names are global, and backup bodies carry only the name.
    pub fn storage_account_named(&self, name: &str) -> Option<&StorageAccount> {
        self.world
            .storage_accounts
            .iter()
            .find(|a| same(&a.name, name))
    }

    pub fn storage_accounts_in(
        &self,
        sub: &str,
        rg: Option<&str>,
    ) -> Result<Vec<&StorageAccount>, ArmError> {
        match rg {
            Some(rg) => self.check_group(sub, rg)?,
            None => self.check_subscription(sub)?,
        }
        Ok(self
            .world
            .storage_accounts
            .iter()
            .filter(|a| {
                same(&a.subscription, sub) && rg.is_none_or(|rg| same(&a.resource_group, rg))
            })
            .collect())
    }

    // ---- storage commands ----------------------------------------------------------------------

    pub fn put_storage_account(
        &mut self,
        r: &StorageRef,
        body: Option<&Value>,
        now: Timestamp,
    ) -> Result<(u16, &StorageAccount), ArmError> {
        self.check_group(&r.subscription, &r.resource_group)?;
        let location = required_location(body)?;
        if !valid_storage_name(&r.account) {
            return Err(ArmError::new(
                400,
                "AccountNameInvalid",
                format!("{} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.", r.account),
            ));
        }
        let status = match self.storage_index(r) {
            Ok(i) => {
                self.world.storage_accounts[i].location = region::canonical(&location);
                200
            }
            Err(_) => {
                if let Some(other) = self.storage_account_named(&r.account) {
                    return Err(ArmError::new(
                        409,
                        "StorageAccountAlreadyTaken",
                        format!("The storage account named {} is already taken.", other.name),
                    ));
                }
                let keys = vec![self.ids.storage_key(), self.ids.storage_key()];
                self.world.storage_accounts.push(StorageAccount {
                    name: r.account.to_string(),
                    resource_group: r.resource_group.to_string(),
                    subscription: r.subscription.to_string(),
                    location: region::canonical(&location),
                    keys,
                    containers: Vec::new(),
                    created_at: Some(now),
                });
                200
            }
        };
        Ok((status, self.storage_account(r)?))
    }

    pub fn delete_storage_account(&mut self, r: &StorageRef) -> Result<u16, ArmError> {
        self.check_group(&r.subscription, &r.resource_group)?;
        match self.storage_index(r) {
            Ok(i) => {
                self.world.storage_accounts.remove(i);
                Ok(200)
            }
            Err(_) => Ok(204),
        }
    }

    pub fn regenerate_key(
        &mut self,
        r: &StorageRef,
        body: Option<&Value>,
    ) -> Result<&StorageAccount, ArmError> {
        let i = self.storage_index(r)?;
        let name = body
            .and_then(|b| b.get("keyName"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let slot = match name.as_str() {
            "key1" => 0,
            "key2" => 1,
            _ => {
                return Err(ArmError::new(
                    400,
                    "InvalidValuesForRequestParameters",
                    "Values for request parameters are invalid: keyName. Use 'key1' or 'key2'.",
                ))
            }
        };
        let key = self.ids.storage_key();
        self.world.storage_accounts[i].keys[slot] = key;
        Ok(&self.world.storage_accounts[i])
    }

    pub fn container(
        &self,
        r: &StorageRef,
        name: &str,
    ) -> Result<(&StorageAccount, &Container), ArmError> {
        let a = self.storage_account(r)?;
        let c = a
            .containers
            .iter()
            .find(|c| c.name == name.to_ascii_lowercase())
            .ok_or_else(|| {
                ArmError::new(
                    404,
                    "ContainerNotFound",
                    format!(
                        "The specified container does not exist.\nRequestId:{}\nTime:{}",
                        "00000000-0000-0000-0000-000000000000", ""
                    ),
                )
            })?;
        Ok((a, c))
    }

    pub fn put_container(
        &mut self,
        r: &StorageRef,
        name: &str,
        now: Timestamp,
    ) -> Result<u16, ArmError> {
        let i = self.storage_index(r)?;
        if !valid_container_name(name) {
            return Err(ArmError::new(
                400,
                "ContainerOperationFailure",
                "The specified resource name contains invalid characters.",
            ));
        }
        let account = &mut self.world.storage_accounts[i];
        if account.containers.iter().any(|c| c.name == name) {
            return Ok(200);
        }
        account.containers.push(Container {
            name: name.to_string(),
            blobs: Blobs::default(),
            created_at: Some(now),
        });
        Ok(201)
    }

    pub fn delete_container(&mut self, r: &StorageRef, name: &str) -> Result<u16, ArmError> {
        let i = self.storage_index(r)?;
        let account = &mut self.world.storage_accounts[i];
        let before = account.containers.len();
        account
            .containers
            .retain(|c| c.name != name.to_ascii_lowercase());
        Ok(if account.containers.len() < before {
            200
        } else {
            204
        })
    }

    // ---- APIs (the configuration a backup carries) --------------------------------------------------

    pub fn put_api(
        &mut self,
        r: &ServiceRef,
        api: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ArmError> {
        let i = self.service_index(r)?;
        let props = body.and_then(|b| b.get("properties"));
        let text = |k: &str| {
            props
                .and_then(|p| p.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let svc = &mut self.world.services[i];
        let new = Api {
            name: api.to_string(),
            display_name: text("displayName").unwrap_or_else(|| api.to_string()),
            path: text("path").unwrap_or_else(|| api.to_ascii_lowercase()),
        };
        let status = match svc.apis.iter_mut().find(|a| same(&a.name, api)) {
            Some(existing) => {
                *existing = new.clone();
                200
            }
            None => {
                svc.apis.push(new.clone());
                201
            }
        };
        Ok((status, wire::api(svc, &new)))
    }

    pub fn delete_api(&mut self, r: &ServiceRef, api: &str) -> Result<u16, ArmError> {
        let i = self.service_index(r)?;
        let svc = &mut self.world.services[i];
        let before = svc.apis.len();
        svc.apis.retain(|a| !same(&a.name, api));
        Ok(if svc.apis.len() < before { 200 } else { 204 })
    }

    // ---- service lifecycle --------------------------------------------------------------------------

    fn ensure_idle(&self, svc: &Service) -> Result<(), ArmError> {
        match &svc.running_operation {
            Some(id) => {
                let what = self
                    .operations
                    .get(id)
                    .map(|op| op.kind.describe())
                    .unwrap_or("an operation");
                Err(ArmError::service_busy(&svc.name, what))
            }
            None => Ok(()),
        }
    }

    /// PUT: creates a service (an activation operation) or replaces one (an update operation).
    pub fn put_service(
        &mut self,
        r: &ServiceRef,
        api_version: &str,
        body: Option<&Value>,
        now: Timestamp,
    ) -> Result<ServiceWrite, ArmError> {
        self.check_group(&r.subscription, &r.resource_group)?;
        validate_service_name(&r.name)?;
        let body =
            body.ok_or_else(|| ArmError::validation_error("The request body is required."))?;
        let location = body
            .get("location")
            .and_then(Value::as_str)
            .ok_or_else(|| ArmError::validation_error("'location' is required."))?;
        let (sku, capacity) = parse_sku(body.get("sku"), api_version)?
            .ok_or_else(|| ArmError::validation_error("'sku' is required."))?;
        let props = body.get("properties");
        let publisher = |k: &str| -> Result<String, ArmError> {
            props
                .and_then(|p| p.get(k))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty() && v.len() <= 100)
                .map(str::to_string)
                .ok_or_else(|| {
                    ArmError::validation_error(&format!(
                        "'properties.{k}' is required and must be at most 100 characters."
                    ))
                })
        };
        let (email, name) = (publisher("publisherEmail")?, publisher("publisherName")?);
        let tags = parse_tags(body.get("tags"))?;
        let identity = parse_identity(body.get("identity"))?;
        match self.service_index(r) {
            Ok(i) => {
                let current = self.world.services[i].clone();
                self.ensure_idle(&current)?;
                if !same(
                    &region::canonical(&current.location),
                    &region::canonical(location),
                ) {
                    return Err(ArmError::new(
                        400,
                        "InvalidResourceLocation",
                        format!("The resource '{}' already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{}'. Please select a new resource name.", current.name, region::canonical(&current.location), current.resource_group, region::canonical(location)),
                    ));
                }
                check_sku_change(&current.sku, sku)?;
                let mut desired = current.clone();
                desired.sku = sku.to_string();
                desired.capacity = Some(capacity);
                desired.publisher_email = email;
                desired.publisher_name = name;
                desired.tags = tags.unwrap_or_default();
                if identity.is_some() {
                    desired.identity = identity;
                }
                let id =
                    self.start_operation(i, OperationKind::Update, r, api_version, now, |op| {
                        op.desired = Some(Box::new(desired));
                    });
                Ok(ServiceWrite::Started {
                    status: 202,
                    body: None,
                    operation_id: id,
                })
            }
            Err(e) if e.code != "ResourceNotFound" => Err(e),
            Err(_) => {
                let svc = Service {
                    name: r.name.to_string(),
                    resource_group: self
                        .resource_group(&r.subscription, &r.resource_group)?
                        .name
                        .clone(),
                    subscription: self.subscription(&r.subscription)?.id.clone(),
                    location: region::display(location),
                    sku: sku.to_string(),
                    capacity: Some(capacity),
                    publisher_email: email,
                    publisher_name: name,
                    tags: tags.unwrap_or_default(),
                    identity,
                    apis: Vec::new(),
                    usage: Usage::default(),
                    created_at: Some(now),
                    version: 1,
                    provisioning_state: "Activating".into(),
                    target_provisioning_state: "Succeeded".into(),
                    running_operation: None,
                };
                self.world.services.push(svc);
                self.reindex();
                let i = self.world.services.len() - 1;
                let id =
                    self.start_operation(i, OperationKind::Create, r, api_version, now, |_| {});
                let svc = &mut self.world.services[i];
                svc.provisioning_state = "Activating".into();
                let body = wire::service(svc, api_version);
                Ok(ServiceWrite::Started {
                    status: 201,
                    body: Some(body),
                    operation_id: id,
                })
            }
        }
    }

    /// PATCH: SKU or capacity changes are an update operation; other changes apply at once.
    pub fn patch_service(
        &mut self,
        r: &ServiceRef,
        api_version: &str,
        body: Option<&Value>,
        now: Timestamp,
    ) -> Result<ServiceWrite, ArmError> {
        let i = self.service_index(r)?;
        let body =
            body.ok_or_else(|| ArmError::validation_error("The request body is required."))?;
        let current = self.world.services[i].clone();
        self.ensure_idle(&current)?;
        if let Some(loc) = body.get("location").and_then(Value::as_str) {
            if !same(
                &region::canonical(loc),
                &region::canonical(&current.location),
            ) {
                return Err(ArmError::validation_error("'location' cannot be changed."));
            }
        }
        let mut desired = current.clone();
        let sku = parse_sku(body.get("sku"), "2016-07-07")?;
        if let Some((name, capacity)) = sku {
            check_sku_change(&current.sku, name)?;
            desired.sku = name.to_string();
            desired.capacity = Some(capacity);
        }
        if let Some(props) = body.get("properties") {
            for (key, field) in [
                ("publisherEmail", &mut desired.publisher_email),
                ("publisherName", &mut desired.publisher_name),
            ] {
                if let Some(v) = props.get(key) {
                    *field = v
                        .as_str()
                        .filter(|v| !v.is_empty() && v.len() <= 100)
                        .ok_or_else(|| {
                            ArmError::validation_error(&format!(
                                "'properties.{key}' must be a string of 1 to 100 characters."
                            ))
                        })?
                        .to_string();
                }
            }
        }
        if let Some(tags) = parse_tags(body.get("tags"))? {
            desired.tags = tags;
        }
        if let Some(identity) = parse_identity(body.get("identity"))? {
            desired.identity = Some(identity);
        }
        let infrastructure = desired.sku != current.sku || desired.capacity != current.capacity;
        if infrastructure {
            let id = self.start_operation(i, OperationKind::Update, r, api_version, now, |op| {
                op.desired = Some(Box::new(desired));
            });
            return Ok(ServiceWrite::Started {
                status: 202,
                body: None,
                operation_id: id,
            });
        }
        desired.version += 1;
        self.world.services[i] = desired;
        Ok(ServiceWrite::Done {
            status: 200,
            body: wire::service(&self.world.services[i], api_version),
        })
    }

    /// DELETE: removes an idle service at once (a documented simplification of the real LRO).
    pub fn delete_service(
        &mut self,
        r: &ServiceRef,
        api_version: &str,
    ) -> Result<(u16, Option<Value>), ArmError> {
        self.check_group(&r.subscription, &r.resource_group)?;
        let Ok(i) = self.service_index(r) else {
            return Ok((204, None));
        };
        self.ensure_idle(&self.world.services[i])?;
        let svc = self.world.services.remove(i);
        self.reindex();
        Ok((200, Some(wire::service(&svc, api_version))))
    }

    // ---- backup and restore -------------------------------------------------------------------------

    /// The synchronous checks backup and restore share, in the order the service makes them: the
    /// service exists, the body is valid for the api-version, the tier has backup, the service is idle,
    /// and the storage access works.
    fn accept_action<'a>(
        &self,
        r: &ServiceRef,
        api_version: &str,
        body: &ActionBody<'a>,
    ) -> Result<(usize, BackupParams<'a>), ArmError> {
        let i = self.service_index(r)?;
        let params = BackupParams::parse(body, api_version)?;
        let svc = &self.world.services[i];
        if !sku_supports_backup(&svc.sku) {
            return Err(ArmError::method_not_allowed_in_tier(&svc.sku));
        }
        self.ensure_idle(svc)?;
        self.check_access(svc, &params)?;
        Ok((i, params))
    }

    /// POST …/backup: validates synchronously, then starts the operation. Failures that the real service
    /// reports only when polling are planned here and revealed at the end (see docs/fidelity.md).
    pub fn backup<'a>(
        &mut self,
        r: &ServiceRef,
        api_version: &str,
        body: &ActionBody<'a>,
        now: Timestamp,
    ) -> Result<Accepted, ArmError> {
        let (i, params) = self.accept_action(r, api_version, body)?;
        let snapshot = BackupObject {
            snapshot_at: Some(now),
            config: self.backup_config(i),
        };
        let target = params.target(&mut self.texts);
        let id = self.start_operation(i, OperationKind::Backup, r, api_version, now, |op| {
            op.payload = Some(snapshot);
            op.target = Some(target);
        });
        Ok(Accepted { operation_id: id })
    }

    /// The configuration a backup of service `i` takes now: the last backup's when it is unchanged.
    fn backup_config(&mut self, i: usize) -> Arc<BackupConfig> {
        let svc = &self.world.services[i];
        match self.last_backups.get_mut(i) {
            Some(Some(last)) if last.describes(svc) => last.clone(),
            Some(slot) => slot.insert(Arc::new(BackupConfig::of(svc))).clone(),
            None => Arc::new(BackupConfig::of(svc)),
        }
    }

    /// POST …/restore: validates synchronously, reads the backup, and plans the outcome.
    pub fn restore<'a>(
        &mut self,
        r: &ServiceRef,
        api_version: &str,
        body: &ActionBody<'a>,
        now: Timestamp,
    ) -> Result<Accepted, ArmError> {
        let (i, params) = self.accept_action(r, api_version, body)?;
        let svc = &self.world.services[i];
        let (payload, failure) = match self.read_backup(&params, now) {
            Ok(backup) if !same(&backup.config.sku, &svc.sku) => (
                None,
                Some(ArmError::restore_failed(format!(
                    "Cannot restore: current SKU is '{}', backup SKU is '{}'",
                    svc.sku, backup.config.sku
                ))),
            ),
            Ok(backup) => (Some(backup), None),
            Err(e) => (None, Some(e)),
        };
        let target = params.target(&mut self.texts);
        let id = self.start_operation(i, OperationKind::Restore, r, api_version, now, |op| {
            op.payload = payload;
            op.target = Some(target);
            if let (Some(e), false) = (failure, op.forced_success) {
                op.planned_failure = Some(Box::new(FailureSpec {
                    status: e.status,
                    code: e.code,
                    message: e.message,
                }));
            }
        });
        Ok(Accepted { operation_id: id })
    }

    fn read_backup(&self, p: &BackupParams, now: Timestamp) -> Result<BackupObject, ArmError> {
        let account = self
            .storage_account_named(&p.storage_account)
            .ok_or_else(|| {
                ArmError::restore_failed(format!(
                    "Cannot restore: storage account '{}' was not found.",
                    p.storage_account
                ))
            })?;
        let container = account
            .containers
            .iter()
            .find(|c| c.name == p.container)
            .ok_or_else(|| {
                ArmError::restore_failed(format!(
                    "Cannot restore: container '{}' was not found in storage account '{}'.",
                    p.container, account.name
                ))
            })?;
        let blob = container.blobs.get(&p.backup_name).ok_or_else(|| {
            ArmError::restore_failed(format!(
                "Cannot restore: backup '{}' was not found in container '{}'.",
                p.backup_name, container.name
            ))
        })?;
        let backup = blob.backup.clone().ok_or_else(|| {
            ArmError::restore_failed(format!(
                "Cannot restore: blob '{}' is not an API Management backup.",
                blob.name
            ))
        })?;
        let created = blob.created_at.unwrap_or(now);
        if now.since(created) >= self.world.behaviour.backup_validity {
            return Err(ArmError::restore_failed("Cannot restore: backup expired"));
        }
        Ok(backup)
    }

    /// The synchronous storage checks: the account exists, the key is current, the identity is attached.
    fn check_access(&self, svc: &Service, p: &BackupParams) -> Result<(), ArmError> {
        let account = self
            .storage_account_named(&p.storage_account)
            .ok_or_else(|| {
                ArmError::invalid_parameter(
                    &format!("Storage account '{}' was not found.", p.storage_account),
                    "backupStorageAccount",
                )
            })?;
        match p.access {
            Access::Key(ref key) => {
                if !account.keys.iter().any(|k| *k == **key) {
                    return Err(ArmError::invalid_parameter(
                        &format!("The access key is not valid for storage account '{}': it is not one of the account's current keys.", account.name),
                        "backupStorageAccessKey",
                    ));
                }
            }
            Access::SystemIdentity => {
                if !svc.identity.as_ref().is_some_and(|i| i.system_assigned) {
                    return Err(ArmError::invalid_parameter(
                        &format!("The API Management service '{}' has no system-assigned managed identity.", svc.name),
                        "accessType",
                    ));
                }
            }
            Access::UserIdentity(ref client_id) => {
                let attached = svc.identity.as_ref().is_some_and(|i| {
                    i.user_assigned
                        .iter()
                        .any(|u| same(&u.client_id, client_id))
                });
                if !attached {
                    return Err(ArmError::invalid_parameter(
                        &format!("No user-assigned managed identity with client id '{client_id}' is attached to the API Management service '{}'.", svc.name),
                        "clientId",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Creates the operation, applies any outcome override, and marks the service busy.
    fn start_operation(
        &mut self,
        service_index: usize,
        kind: OperationKind,
        r: &ServiceRef,
        api_version: &str,
        now: Timestamp,
        fill: impl FnOnce(&mut Operation),
    ) -> Arc<str> {
        let svc = &self.world.services[service_index];
        // `{region}:{name}_{Kind}_{8 hex digits}`, base64.
        self.id_stem.set(&svc.location, &r.name, kind.id_word());
        // A loaded world (PUT /_armsim/state) may hold ids this generator will hand out again: skip them.
        let key = loop {
            let (counter, suffix) = self.ids.next_operation_suffix();
            self.id_stem.write_id(&suffix, &mut self.id_encoded);
            // An id armsim made is filed under its counter (engine/operations.rs).
            if self
                .operations
                .find_keyed(counter, &self.id_encoded)
                .is_none()
            {
                break counter;
            }
        };
        // One shared copy of the id is the operation's, keys it, queues it and holds the service.
        let shared: Arc<str> = Arc::from(self.id_encoded.as_str());
        let behaviour = &self.world.behaviour;
        let mut duration = match kind {
            OperationKind::Backup => behaviour.durations.backup,
            OperationKind::Restore => behaviour.durations.restore,
            OperationKind::Create => behaviour.durations.create,
            OperationKind::Update => behaviour.durations.update,
        };
        let rule = behaviour.outcomes.iter().find(|o| {
            o.kind.is_none_or(|k| k == kind)
                && o.service.as_deref().is_none_or(|s| same(s, &svc.name))
        });
        let mut op = Operation::started(
            shared.clone(),
            kind,
            share(&mut self.texts.subscription, &r.subscription),
            share(&mut self.texts.resource_group, &r.resource_group),
            share(&mut self.texts.service, &r.name),
            share(&mut self.texts.api_version, api_version),
            now,
        );
        let mut never = false;
        if let Some(rule) = rule {
            if let Some(d) = rule.duration {
                duration = d;
            }
            never = rule.never_finish;
            match &rule.fail {
                Some(f) => op.planned_failure = Some(Box::new(f.clone())),
                None => op.forced_success = !never,
            }
        }
        let forced_failure = op.planned_failure.clone();
        fill(&mut op);
        if forced_failure.is_some() {
            op.planned_failure = forced_failure;
        }
        let end = (!never).then(|| now.plus(duration));
        op.ends_at = end;
        let slot = self.operations.insert_keyed(key, op);
        if let Some(end) = end {
            self.deadlines.push(end, slot);
        }
        let svc = &mut self.world.services[service_index];
        svc.running_operation = Some(shared.clone());
        if kind != OperationKind::Create {
            set_text(&mut svc.provisioning_state, "Updating");
        }
        set_text(&mut svc.target_provisioning_state, "Succeeded");
        shared
    }

    /// Ends an operation at `at`, applying its effects once.
    fn complete(&mut self, slot: Slot, at: Timestamp) {
        // Changed where it sits, the engine's other fields borrowed apart, rather than taken out and
        // put back.
        let Some(op) = self.operations.at_mut(slot) else {
            return;
        };
        let index = self
            .service_at
            .find(&op.subscription, &op.resource_group, &op.service);
        let outcome = match (index, op.planned_failure.clone()) {
            (None, _) => Err(Box::new(FailureSpec {
                status: 500,
                code: "InternalServerError".into(),
                message: format!(
                    "The API Management service '{}' no longer exists.",
                    op.service
                ),
            })),
            (Some(_), Some(f)) if !op.forced_success => Err(f),
            (Some(i), _) => Self::apply(&mut self.world, op, i, at).map_err(Box::new),
        };
        if let Some(i) = index {
            let svc = &mut self.world.services[i];
            // The operation's own id when it still holds the service: the same allocation, which
            // `Arc`'s equality finds without comparing the text.
            if svc.running_operation.as_ref() == Some(&op.id) {
                svc.running_operation = None;
            }
            svc.target_provisioning_state.clear();
            let state = match (&outcome, op.kind) {
                (Err(_), OperationKind::Create) => "Failed",
                _ => "Succeeded",
            };
            set_text(&mut svc.provisioning_state, state);
            if outcome.is_ok() {
                svc.version += 1;
                let last = self.last_results.get(i).and_then(Option::as_ref);
                let result = ServiceResult::of(svc, last);
                if let Some(slot) = self.last_results.get_mut(i) {
                    *slot = Some(result.view().clone());
                }
                op.result = Some(result);
            }
        }
        op.status = match outcome {
            Ok(()) => OperationStatus::Succeeded,
            Err(error) => OperationStatus::Failed { error },
        };
        op.ended_at = Some(at);
        self.finished.push(at, slot);
    }

    /// Applies a succeeding operation's effects. Its payload moves into the world (the blob written, the
    /// configuration restored): a finished operation no longer needs it, and a POST storm keeps
    /// hundreds of thousands of finished operations.
    fn apply(
        world: &mut World,
        op: &mut Operation,
        service_index: usize,
        at: Timestamp,
    ) -> Result<(), FailureSpec> {
        match op.kind {
            OperationKind::Backup => {
                let (Some(target), Some(payload)) = (&op.target, op.payload.take()) else {
                    return Ok(());
                };
                let account = world
                    .storage_accounts
                    .iter_mut()
                    .find(|a| same(&a.name, &target.account));
                let container = account.and_then(|a| {
                    a.containers
                        .iter_mut()
                        .find(|c| *c.name == *target.container)
                });
                match container {
                    Some(c) => {
                        c.blobs.put_named(&target.blob, |name| Blob {
                            name,
                            created_at: Some(at),
                            age: None,
                            backup: Some(payload),
                            content: None,
                        });
                        Ok(())
                    }
                    None if op.forced_success => Ok(()),
                    None => {
                        let e = ArmError::backup_failed(format!(
                            "Cannot backup: container '{}' was not found in storage account '{}'.",
                            target.container, target.account
                        ));
                        Err(FailureSpec {
                            status: e.status,
                            code: e.code,
                            message: e.message,
                        })
                    }
                }
            }
            OperationKind::Restore => {
                if let Some(backup) = op.payload.take() {
                    let config = Arc::unwrap_or_clone(backup.config);
                    let svc = &mut world.services[service_index];
                    svc.apis = config.apis;
                    svc.publisher_email = config.publisher_email;
                    svc.publisher_name = config.publisher_name;
                }
                Ok(())
            }
            OperationKind::Create | OperationKind::Update => {
                if let Some(desired) = op.desired.take() {
                    let svc = &mut world.services[service_index];
                    let keep = (
                        svc.apis.clone(),
                        svc.usage.clone(),
                        svc.version,
                        svc.created_at,
                    );
                    *svc = *desired;
                    (svc.apis, svc.usage, svc.version, svc.created_at) = keep;
                }
                Ok(())
            }
        }
    }

    /// GET …/operationresults/{id}: what a poll of operation `id` of service `r` answers, with the
    /// engine's shared copy of the id.
    pub fn poll(&self, r: &ServiceRef, id: &str) -> Result<(Arc<str>, PollAnswer), ArmError> {
        self.check_group(&r.subscription, &r.resource_group)?;
        let op = self
            .operations
            .get(id)
            .filter(|op| same(&op.service, &r.name) && same(&op.resource_group, &r.resource_group))
            .ok_or_else(|| ArmError::operation_not_found(id))?;
        let answer = match &op.status {
            OperationStatus::Running => PollAnswer::Running,
            OperationStatus::Succeeded => PollAnswer::Succeeded(
                op.result
                    .as_ref()
                    .map(|r| wire::service_at(r.view(), r.version(), &op.api_version))
                    .unwrap_or(Value::Null),
            ),
            OperationStatus::Failed { error } => PollAnswer::Failed((**error).clone()),
        };
        Ok((op.id.clone(), answer))
    }

    /// The blobs of a container (by account name), for the admin API.
    pub fn blobs(&self, account: &str, container: &str) -> Option<&Blobs> {
        self.storage_account_named(account)?
            .containers
            .iter()
            .find(|c| c.name == container.to_ascii_lowercase())
            .map(|c| &c.blobs)
    }
}

// ---- request bodies ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Access<'a> {
    Key(Cow<'a, str>),
    SystemIdentity,
    UserIdentity(Cow<'a, str>),
}

/// `ApiManagementServiceBackupRestoreParameters`, validated per api-version; its text borrowed from the
/// request where it can be.
#[derive(Debug, Clone, PartialEq)]
struct BackupParams<'a> {
    storage_account: Cow<'a, str>,
    container: Cow<'a, str>,
    backup_name: Cow<'a, str>,
    access: Access<'a>,
}

impl<'a> BackupParams<'a> {
    fn parse(body: &ActionBody<'a>, api_version: &str) -> Result<Self, ArmError> {
        if !body.is_object {
            return Err(ArmError::validation_error(
                "The request body must be a JSON object with storageAccount, containerName and backupName.",
            ));
        }
        // Each member by its field (looking one up by its JSON name compared the name with up to six
        // texts, five times a POST), named in the message.
        let field =
            |member: &Option<Member<'a>>, k: &str| -> Result<Option<Cow<'a, str>>, ArmError> {
                match member {
                    None | Some(Member::Null) => Ok(None),
                    Some(Member::Str(s)) if s.is_empty() => Ok(None),
                    Some(Member::Str(s)) => Ok(Some(s.clone())),
                    Some(Member::Other) => Err(ArmError::validation_error(&format!(
                        "'{k}' must be a string."
                    ))),
                }
            };
        let required = |member: &Option<Member<'a>>, k: &str| -> Result<Cow<'a, str>, ArmError> {
            field(member, k)?
                .ok_or_else(|| ArmError::validation_error(&format!("'{k}' is required.")))
        };
        let storage_account = required(&body.storage_account, "storageAccount")?;
        let container = required(&body.container_name, "containerName")?;
        let backup_name = required(&body.backup_name, "backupName")?;
        let access = match body_rules(api_version) {
            BodyRules::Legacy => {
                for k in ["accessType", "clientId"] {
                    if body.member(k).is_some() {
                        return Err(ArmError::validation_error(&format!(
                            "'{k}' is not supported in api-version '{api_version}'; managed identity access needs api-version {FIRST_ACCESS_TYPE_VERSION} or later."
                        )));
                    }
                }
                Access::Key(required(&body.access_key, "accessKey")?)
            }
            BodyRules::AccessType => {
                let kind =
                    field(&body.access_type, "accessType")?.unwrap_or(Cow::Borrowed("AccessKey"));
                if same(&kind, "AccessKey") {
                    Access::Key(field(&body.access_key, "accessKey")?.ok_or_else(|| {
                        ArmError::validation_error(
                            "'accessKey' is required when 'accessType' is 'AccessKey'.",
                        )
                    })?)
                } else if same(&kind, "SystemAssignedManagedIdentity") {
                    Access::SystemIdentity
                } else if same(&kind, "UserAssignedManagedIdentity") {
                    Access::UserIdentity(field(&body.client_id, "clientId")?.ok_or_else(|| {
                        ArmError::validation_error("'clientId' is required when 'accessType' is 'UserAssignedManagedIdentity'.")
                    })?)
                } else {
                    return Err(ArmError::validation_error(&format!(
                        "'accessType' has an invalid value '{kind}'. Allowed values: AccessKey, SystemAssignedManagedIdentity, UserAssignedManagedIdentity."
                    )));
                }
            }
        };
        if !valid_container_name(&container) {
            return Err(ArmError::invalid_container_name());
        }
        Ok(Self {
            storage_account,
            container,
            backup_name,
            access,
        })
    }

    fn target(&self, texts: &mut RepeatedTexts) -> Arc<BlobTarget> {
        let (account, container, blob) =
            (&*self.storage_account, &*self.container, &*self.backup_name);
        if let Some(last) = &texts.target {
            if *last.account == *account && *last.container == *container && *last.blob == *blob {
                return last.clone();
            }
        }
        let last = texts.target.as_deref();
        let text = |kept: Option<&Arc<str>>, text: &str| match kept {
            Some(kept) if **kept == *text => kept.clone(),
            _ => Arc::from(text),
        };
        let target = Arc::new(BlobTarget {
            account: text(last.map(|t| &t.account), account),
            container: text(last.map(|t| &t.container), container),
            blob: text(last.map(|t| &t.blob), blob),
        });
        texts.target.insert(target).clone()
    }
}

/// The `location` a PUT of a resource group or storage account must carry.
fn required_location(body: Option<&Value>) -> Result<String, ArmError> {
    body.and_then(|b| b.get("location"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            ArmError::new(
                400,
                "LocationRequired",
                "The location property is required for this definition.",
            )
        })
}

fn parse_sku(
    v: Option<&Value>,
    api_version: &str,
) -> Result<Option<(&'static str, u32)>, ArmError> {
    let Some(v) = v else { return Ok(None) };
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ArmError::validation_error("'sku.name' is required."))?;
    let sku = canonical_sku(name).ok_or_else(|| {
        ArmError::validation_error(&format!(
            "'sku.name' has an invalid value '{name}'. Allowed values: {}.",
            SKUS.join(", ")
        ))
    })?;
    let capacity = match v.get("capacity") {
        Some(c) => c
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .ok_or_else(|| {
                ArmError::validation_error("'sku.capacity' must be a non-negative integer.")
            })?,
        None if api_version >= "2019-12-01" => {
            return Err(ArmError::validation_error("'sku.capacity' is required."))
        }
        None => 1,
    };
    if sku == "Consumption" && capacity != 0 {
        return Err(ArmError::validation_error(
            "For Consumption SKU capacity must be specified as 0.",
        ));
    }
    Ok(Some((sku, capacity)))
}

fn check_sku_change(from: &str, to: &str) -> Result<(), ArmError> {
    let family = |s: &str| match s {
        "Consumption" => 0,
        "BasicV2" | "StandardV2" | "PremiumV2" => 1,
        _ => 2,
    };
    if family(from) != family(to) {
        return Err(ArmError::apim(
            400,
            "InvalidParameters",
            format!("Invalid parameter: Cannot change the SKU from '{from}' to '{to}'.\r\nParameter name: sku"),
        ));
    }
    Ok(())
}

fn parse_tags(v: Option<&Value>) -> Result<Option<BTreeMap<String, String>>, ArmError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_string()))
                    .ok_or_else(|| {
                        ArmError::validation_error(&format!("Tag '{k}' must have a string value."))
                    })
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(ArmError::validation_error("'tags' must be an object.")),
    }
}

fn parse_identity(v: Option<&Value>) -> Result<Option<ServiceIdentity>, ArmError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("None")
        .to_ascii_lowercase();
    let system_assigned = kind.contains("systemassigned");
    let mut user_assigned = Vec::new();
    if kind.contains("userassigned") {
        if let Some(map) = v.get("userAssignedIdentities").and_then(Value::as_object) {
            for (rid, val) in map {
                let name = rid.rsplit('/').next().unwrap_or(rid).to_string();
                let client_id = val
                    .get("clientId")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| name.clone());
                user_assigned.push(UserAssignedIdentity { name, client_id });
            }
        }
    }
    Ok(Some(ServiceIdentity {
        system_assigned,
        user_assigned,
    }))
}

fn validate_service_name(name: &str) -> Result<(), ArmError> {
    let ok = !name.is_empty()
        && name.len() <= 50
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ArmError::validation_error(&format!(
            "The service name '{name}' is invalid: it must start with a letter, contain only letters, digits and hyphens, not end with a hyphen, and be at most 50 characters."
        )))
    }
}

/// Azure container names: 3–63 characters, lower-case letters, digits and single hyphens, starting and
/// ending with a letter or digit.
pub fn valid_container_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        // Not `contains("--")`: setting up its searcher cost more than the scan, about 300
        // instructions a backup POST inside `handle` (callgrind).
        && !name.as_bytes().windows(2).any(|pair| pair == b"--")
}

fn valid_storage_name(name: &str) -> bool {
    (3..=24).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

// ---- world normalization ---------------------------------------------------------------------------

/// Fills defaults (subscription, resource group, capacity, keys, creation times) and checks that every
/// reference resolves, so a world file's mistakes are found at load, not mid-run.
fn normalize(w: &mut World, ids: &mut Ids, now: Timestamp) -> Result<(), String> {
    if w.subscriptions.is_empty() {
        return Err("the world has no subscription".into());
    }
    let first_sub = w.subscriptions[0].id.clone();
    for g in &mut w.resource_groups {
        if g.subscription.is_empty() {
            g.subscription = first_sub.clone();
        }
        g.location = region::canonical(&g.location);
    }
    let groups = w.resource_groups.clone();
    let group_of = |sub: &mut String, rg: &mut String, what: &str| -> Result<(), String> {
        if sub.is_empty() {
            *sub = first_sub.clone();
        }
        if rg.is_empty() {
            *rg = groups
                .iter()
                .find(|g| same(&g.subscription, sub))
                .map(|g| g.name.clone())
                .ok_or_else(|| {
                    format!("{what}: no resource group to put it in; add one under resourceGroups")
                })?;
        }
        if !groups
            .iter()
            .any(|g| same(&g.subscription, sub) && same(&g.name, rg))
        {
            return Err(format!(
                "{what}: resource group '{rg}' is not in the world's resourceGroups"
            ));
        }
        Ok(())
    };
    let mut seen = BTreeSet::new();
    for s in &mut w.services {
        let what = format!("service '{}'", s.name);
        group_of(&mut s.subscription, &mut s.resource_group, &what)?;
        validate_service_name(&s.name).map_err(|e| format!("{what}: {}", e.message))?;
        s.sku = canonical_sku(&s.sku)
            .ok_or_else(|| {
                format!(
                    "{what}: unknown sku '{}' (known: {})",
                    s.sku,
                    SKUS.join(", ")
                )
            })?
            .to_string();
        s.capacity = Some(
            s.capacity
                .unwrap_or(if s.sku == "Consumption" { 0 } else { 1 }),
        );
        s.location = region::display(&s.location);
        s.created_at.get_or_insert(now);
        if !seen.insert(
            format!("{}/{}/{}", s.subscription, s.resource_group, s.name).to_ascii_lowercase(),
        ) {
            return Err(format!("{what} is listed twice"));
        }
    }
    let mut names = BTreeSet::new();
    for a in &mut w.storage_accounts {
        let what = format!("storage account '{}'", a.name);
        group_of(&mut a.subscription, &mut a.resource_group, &what)?;
        if !valid_storage_name(&a.name) {
            return Err(format!(
                "{what}: names are 3 to 24 lower-case letters and digits"
            ));
        }
        if !names.insert(a.name.clone()) {
            return Err(format!(
                "{what} is listed twice (storage account names are global)"
            ));
        }
        a.location = region::canonical(&a.location);
        match a.keys.len() {
            0 => a.keys = vec![ids.storage_key(), ids.storage_key()],
            2 => {}
            n => {
                return Err(format!(
                    "{what}: give exactly two keys (key1, key2), not {n}"
                ))
            }
        }
        a.created_at.get_or_insert(now);
        for c in &mut a.containers {
            if !valid_container_name(&c.name) {
                return Err(format!("{what}: container name '{}' is not valid (3-63 lower-case letters, digits and hyphens)", c.name));
            }
            c.created_at.get_or_insert(now);
            for b in c.blobs.iter_mut() {
                if b.created_at.is_none() {
                    let age = b.age.take().unwrap_or_default();
                    b.created_at = Some(Timestamp::from_millis(now.as_millis() - age.as_millis()));
                }
                if let Some(backup) = &mut b.backup {
                    let config = Arc::make_mut(&mut backup.config);
                    config.sku = canonical_sku(&config.sku)
                        .ok_or_else(|| {
                            format!(
                                "{what}: backup '{}' has unknown sku '{}'",
                                b.name, config.sku
                            )
                        })?
                        .to_string();
                    config.location = region::display(&config.location);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::api_version::APIM_VERSIONS;

    proptest::proptest! {
        /// Two names are the same exactly when they are equal ignoring ASCII case, whichever way `same`
        /// gets there: spelled alike, in other cases, or apart (non-ASCII letters compare as written).
        #[test]
        fn names_are_the_same_as_eq_ignore_ascii_case_says(
            a in "[a-cA-Cé-]{0,4}",
            b in "[a-cA-Cé-]{0,4}",
        ) {
            proptest::prop_assert_eq!(same(&a, &b), a.eq_ignore_ascii_case(&b));
            proptest::prop_assert!(same(&a, &a.to_ascii_uppercase()));
        }
    }

    /// A named change to a service, for tests that try each.
    type Change = (&'static str, fn(&mut Service));

    #[test]
    fn a_service_has_its_resource_view_at_any_version_and_not_once_the_resource_changes() {
        for svc in &crate::sim::default_world().services {
            let mut view = svc.resource_view();
            view.version += 7;
            assert!(svc.has_resource_view(&view), "{}", svc.name);
            let changes: [Change; 5] = [
                ("tags", |s| {
                    s.tags.insert("team".into(), "dr".into());
                }),
                ("provisioning state", |s| s.provisioning_state.push('!')),
                ("capacity", |s| {
                    s.capacity = Some(s.capacity.unwrap_or(0) + 1)
                }),
                ("publisher", |s| s.publisher_email.push('x')),
                ("running operation", |s| {
                    s.running_operation = Some("op".into())
                }),
            ];
            for (what, change) in changes {
                let mut changed = svc.clone();
                change(&mut changed);
                assert!(!changed.has_resource_view(&view), "{}: {what}", svc.name);
            }
        }
    }

    #[test]
    fn a_backup_configuration_describes_its_service_until_anything_a_backup_takes_changes() {
        for svc in &crate::sim::default_world().services {
            let config = BackupConfig::of(svc);
            assert!(config.describes(svc), "{}", svc.name);
            let mut untaken = svc.clone();
            untaken.tags.insert("team".into(), "dr".into());
            untaken.version += 1;
            assert!(
                config.describes(&untaken),
                "{}: tags are not in a backup",
                svc.name
            );
            let changes: [Change; 7] = [
                ("name", |s| s.name.push('x')),
                ("sku", |s| s.sku.push('x')),
                ("capacity", |s| {
                    s.capacity = Some(s.capacity.unwrap_or(1) + 1)
                }),
                ("location", |s| s.location.push('x')),
                ("publisher email", |s| s.publisher_email.push('x')),
                ("publisher name", |s| s.publisher_name.push('x')),
                ("apis", |s| {
                    s.apis.push(Api {
                        name: "new".into(),
                        display_name: "New".into(),
                        path: "new".into(),
                    })
                }),
            ];
            for (what, change) in changes {
                let mut changed = svc.clone();
                change(&mut changed);
                assert!(!config.describes(&changed), "{}: {what}", svc.name);
            }
        }
    }

    #[test]
    fn a_services_resource_view_renders_as_the_service_does_in_every_api_version() {
        let world = crate::sim::default_world();
        let with_apis = world.services.iter().filter(|s| !s.apis.is_empty()).count();
        assert!(
            with_apis > 0,
            "the default world should have a service with APIs to leave out"
        );
        for svc in &world.services {
            let view = svc.resource_view();
            assert!(view.apis.is_empty());
            for v in APIM_VERSIONS {
                assert_eq!(
                    wire::service(&view, v),
                    wire::service(svc, v),
                    "{} at {v}",
                    svc.name
                );
            }
        }
    }

    /// The default world's engine, and its start.
    fn default_engine() -> (Engine, Timestamp) {
        let world = crate::sim::default_world();
        let start = world.start;
        (Engine::new(world, 7, start).expect("default world"), start)
    }

    /// Starts a backup of the default world's `contoso-apim` into blob `blob` at `now`.
    fn back_up(engine: &mut Engine, blob: &str, now: Timestamp) -> Arc<str> {
        let key = engine.world.storage_accounts[0].keys[0].clone();
        let service = ServiceRef {
            subscription: "00000000-0000-0000-0000-000000000000".into(),
            resource_group: "contoso-dr".into(),
            name: "contoso-apim".into(),
        };
        let body = format!(
            r#"{{"storageAccount":"contosobackups","containerName":"apim-backups","backupName":"{blob}","accessKey":"{key}"}}"#
        );
        let body = ActionBody::parse(body.as_bytes()).expect("JSON");
        let accepted = engine.backup(&service, "2024-05-01", &body, now);
        accepted.expect("accepted").operation_id
    }

    #[test]
    fn a_service_is_found_by_any_spelling_and_not_where_it_was_once_services_move() {
        let (mut engine, _) = default_engine();
        let r = |name: &str| ServiceRef {
            subscription: "00000000-0000-0000-0000-000000000000".into(),
            resource_group: "contoso-dr".into(),
            name: name.to_string().into(),
        };
        let name_of = |e: &Engine, name: &str| e.service(&r(name)).map(|s| s.name.clone());
        let first = engine.world.services[0].name.clone();
        let later = engine.world.services[1].name.clone();
        // Found, found again (the kept last one), found in another case, then the other service.
        for asked in [&first, &first, &first.to_uppercase(), &later, &later] {
            assert_eq!(
                name_of(&engine, asked).as_deref(),
                Ok(asked.to_lowercase().as_str())
            );
        }
        assert_eq!(name_of(&engine, &first).as_deref(), Ok(first.as_str()));
        // The first removed (the delete's own lookup the last one kept): it must not be found where
        // it was, and the later one, moved up, is found in its new place.
        let deleted = engine.delete_service(&r(&first), "2024-05-01");
        assert_eq!(deleted.map(|(status, _)| status), Ok(200));
        assert!(name_of(&engine, &first).is_err());
        assert_eq!(engine.world.services[0].name, later);
        assert_eq!(name_of(&engine, &later).as_deref(), Ok(later.as_str()));
    }

    #[test]
    fn a_group_found_once_is_found_again_and_no_other_pair_is_taken_for_it() {
        let (mut engine, _) = default_engine();
        let sub = "00000000-0000-0000-0000-000000000000";
        let code = |e: &Engine, s: &str, g: &str| e.check_group(s, g).map_err(|e| e.code);
        assert_eq!(code(&engine, sub, "contoso-dr"), Ok(()));
        assert_eq!(code(&engine, sub, "contoso-dr"), Ok(()), "the kept pair");
        // With the pair kept: the same group in a subscription that is not there, a group of
        // another name, a prefix of the kept one.
        let absent_sub = "11111111-1111-1111-1111-111111111111";
        let subscription_not_found = Err("SubscriptionNotFound".to_string());
        assert_eq!(
            code(&engine, absent_sub, "contoso-dr"),
            subscription_not_found
        );
        assert_eq!(code(&engine, sub, "contoso-dr"), Ok(()));
        let group_not_found = Err("ResourceGroupNotFound".to_string());
        assert_eq!(code(&engine, sub, "missing"), group_not_found);
        assert_eq!(code(&engine, sub, "contoso-d"), group_not_found);
        assert_eq!(code(&engine, sub, "CONTOSO-DR"), Ok(()), "any spelling");
        let body = serde_json::json!({"location": "westus"});
        let put = engine.put_resource_group(sub, "later", Some(&body));
        let put = put.map(|(status, _)| status);
        assert_eq!(put.map_err(|e| e.code), Ok(201));
        assert_eq!(code(&engine, sub, "later"), Ok(()));
    }

    #[test]
    fn a_world_that_names_one_operation_twice_is_refused_by_name() {
        let (mut engine, start) = default_engine();
        let id = back_up(&mut engine, "b", start);
        let mut world = engine.snapshot(start);
        assert_eq!(Engine::new(world.clone(), 7, start).map(|_| ()), Ok(()));
        let again = world.operations[0].clone();
        world.operations.push(again);
        let refused = Engine::new(world, 7, start).map(|_| ());
        assert_eq!(refused, Err(format!("operation '{id}' appears twice")));
    }

    #[test]
    fn operations_share_the_texts_they_repeat_and_keep_their_own_where_they_differ() {
        let (mut engine, start) = default_engine();
        // A day apart, so that each backup has ended before the next of the same service starts.
        let mut now = start;
        let mut backup = |blob: &str| {
            now = now.plus(crate::clock::VDuration::from_days(1));
            engine.settle(now);
            back_up(&mut engine, blob, now)
        };
        let (first, second, other) = (backup("b"), backup("b"), backup("c"));
        engine.settle(now.plus(crate::clock::VDuration::from_days(1)));
        let op = |id: &Arc<str>| engine.operation(id).expect("kept").clone();
        let (first, second, other) = (op(&first), op(&second), op(&other));
        let texts = |o: &Operation| {
            let t = o.target.clone().expect("a backup's target");
            [
                o.subscription.clone(),
                o.resource_group.clone(),
                o.service.clone(),
                o.api_version.clone(),
                t.account.clone(),
                t.container.clone(),
                t.blob.clone(),
            ]
        };
        let same_target = |a: &Operation, b: &Operation| match (&a.target, &b.target) {
            (Some(x), Some(y)) => Arc::ptr_eq(x, y),
            _ => false,
        };
        assert!(
            same_target(&first, &second),
            "the same target, shared whole"
        );
        assert!(
            !same_target(&second, &other),
            "another blob name, another target"
        );
        let shared = |a: &Operation, b: &Operation| -> Vec<bool> {
            texts(a)
                .iter()
                .zip(texts(b).iter())
                .map(|(x, y)| Arc::ptr_eq(x, y))
                .collect()
        };
        assert_eq!(shared(&first, &second), [true; 7], "the same backup again");
        assert_eq!(
            shared(&second, &other),
            [true, true, true, true, true, true, false],
            "another blob name"
        );
        assert_eq!(&*other.target.expect("target").blob, "c");
    }

    /// What keeps a POST storm's table work on lines the POST before touched
    /// (`engine/operations.rs`): the ids the engine makes read back as consecutive counters.
    #[test]
    fn the_engine_files_consecutive_operations_under_consecutive_keys() {
        let (mut engine, start) = default_engine();
        let mut now = start;
        let keys: Vec<u32> = (0..3)
            .map(|_| {
                now = now.plus(crate::clock::VDuration::from_days(1));
                engine.settle(now);
                let id = back_up(&mut engine, "b", now);
                engine.operations.key(&id)
            })
            .collect();
        let next = |k: u32| k.wrapping_add(1);
        assert_eq!([keys[1], keys[2]], [next(keys[0]), next(keys[1])]);
    }

    #[test]
    fn finished_operations_leave_oldest_first_and_in_finishing_order_among_equal_times() {
        let at = Timestamp::from_millis;
        let mut q = ByEnd::default();
        for (t, slot) in [(5, 0), (7, 1), (3, 2), (7, 3), (5, 4), (9, 5)] {
            q.push(at(t), Slot::for_tests(slot));
        }
        assert_eq!(q.len(), 6);
        assert_eq!(q.pop_due(at(2)), None, "nothing that early");
        let mut order = Vec::new();
        while let Some((t, slot)) = q.pop_due(at(7)) {
            order.push((t.as_millis(), slot));
        }
        let expected: Vec<_> = [(3, 2), (5, 0), (5, 4), (7, 1), (7, 3)]
            .map(|(t, s)| (t, Slot::for_tests(s)))
            .into();
        assert_eq!(order, expected);
        assert_eq!(q.pop_first(), Some((at(9), Slot::for_tests(5))));
        assert_eq!(q.pop_first(), None);
    }

    #[test]
    fn a_container_name_follows_storage_rules() {
        let long = "a".repeat(63);
        for ok in ["abc", "apim-backups", "a-b-c", "2026-12-07", long.as_str()] {
            assert!(valid_container_name(ok), "{ok}");
        }
        let too_long = "a".repeat(64);
        for bad in [
            "ab",
            too_long.as_str(),
            "Apim",
            "a_b",
            "-ab",
            "ab-",
            "a--b",
            "ab c",
            "é-ab",
        ] {
            assert!(!valid_container_name(bad), "{bad}");
        }
    }

    #[test]
    fn service_keys_are_the_lower_case_path_whether_built_on_the_stack_or_not() {
        let long = "r".repeat(200);
        for (sub, rg, name) in [("SUB", "Contoso-DR", "Apim-É"), ("s", long.as_str(), "n")] {
            let expected = format!("{sub}/{rg}/{name}").to_ascii_lowercase();
            assert_eq!(*Engine::service_key(sub, rg, name), *expected.as_bytes());
        }
    }
}
