//! [`Simulator`]: the whole mock behind one synchronous call, `handle(HttpRequest) -> HttpResponse`.
//!
//! The data path reads in one pass: route → auth and api-version → engine command at `now` → wire types →
//! ARM headers → journal. The lock is a std `Mutex` held only inside `handle`; nothing awaits under it.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::arm::api_version::{self, Provider};
use crate::arm::error::ArmError;
use crate::arm::wire;
use crate::clock::{Clock, ClockMode, Timestamp, VDuration};
use crate::engine::action_body::ActionBody;
use crate::engine::ids::{Ids, Position};
use crate::engine::model::World;
use crate::engine::{Engine, PollAnswer, ServiceWrite};
use crate::fault::{self, FaultPlan, FaultState, RequestFacts};
use crate::http::route::{AdminRoute, Route, ServiceAction, ServiceRef, StorageAction};
use crate::http::{
    header, names, number_value, text, HeaderValue, HttpRequest, HttpResponse, KnownHeaders,
};
use crate::identity::{authorize, may, AuthMode, Identity};
use crate::journal::{Exchange, Journal, JournalEntry, REDACTED};
use crate::persist::Persist;

/// The embedded default world (`simulator/worlds/default.yaml`).
pub const DEFAULT_WORLD_YAML: &str = include_str!("../worlds/default.yaml");

/// The default speed of virtual time for `armsim serve`: 180× makes a 30-minute restore take 10 s of
/// wall time, and the 60 s `Retry-After` become 1 s.
pub const DEFAULT_TIME_SCALE: f64 = 180.0;

/// How to build a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub world: World,
    pub clock: ClockMode,
    pub seed: u64,
    /// Entries kept in the journal ring.
    pub journal_capacity: usize,
    /// `scheme://host:port` the simulator is reached at; Location URLs use the request's `Host` with
    /// this scheme, or this whole URL when a request has no `Host`.
    pub base_url: String,
    /// How bearer tokens on ARM requests are checked.
    pub auth: AuthMode,
    /// Faults to inject (none by default); `PUT /_armsim/faults` replaces them at run time.
    pub faults: FaultPlan,
}

impl Default for SimConfig {
    /// The default world on a manual clock: what tests want.
    fn default() -> Self {
        Self {
            world: default_world(),
            clock: ClockMode::Manual,
            seed: 0,
            journal_capacity: 100_000,
            base_url: "https://management.azure.com".into(),
            auth: AuthMode::Strict,
            faults: FaultPlan::default(),
        }
    }
}

/// The embedded default world.
pub fn default_world() -> World {
    // The embedded file is checked by a unit test; a failure here is a build defect, not input.
    parse_world(DEFAULT_WORLD_YAML, "default.yaml")
        .unwrap_or_else(|e| panic!("embedded world: {e}"))
}

/// Parses a world from YAML (JSON is YAML too). Errors name the source and the line.
pub fn parse_world(text: &str, source: &str) -> Result<World, String> {
    serde_saphyr::from_str::<World>(text).map_err(|e| format!("{source}: {e}"))
}

/// Reads a world file (YAML or JSON).
pub fn load_world(path: &Path) -> Result<World, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_world(&text, &path.display().to_string())
}

struct Inner {
    clock: Clock,
    engine: Engine,
    journal: Journal,
    /// The fake Azure AD of the current world (its tenant and principals).
    identity: Identity,
    faults: FaultState,
    dates: DateTexts,
    /// The `Host` of the last request and the base URL made of it (see `Simulator::base_url`).
    last_base: Option<(Option<HeaderValue>, Arc<str>)>,
}

/// The `Date` header and the routing id's time, written once per virtual second: every answer carries
/// both, and formatting dates was a visible share of answering a poll.
#[derive(Default)]
struct DateTexts {
    secs: Option<i64>,
    /// Shared by every answer in the same second (cloning it counts a reference).
    http: Option<HeaderValue>,
    compact: String,
}

impl DateTexts {
    /// `(Date header, compact time)` of `now`.
    fn at(&mut self, now: Timestamp) -> (Option<&HeaderValue>, &str) {
        if self.secs != Some(now.as_secs()) {
            self.http = HeaderValue::from_maybe_shared(Bytes::from(now.to_http_date())).ok();
            self.compact = now.to_compact_string();
            self.secs = Some(now.as_secs());
        }
        (self.http.as_ref(), &self.compact)
    }
}

/// The mock ARM. Cheap to share behind an `Arc`; all state sits behind one mutex.
pub struct Simulator {
    config: SimConfig,
    /// The scheme of `config.base_url` (`https`, `http`), for Location URLs built from a caller's `Host`.
    scheme: String,
    started: Instant,
    inner: Mutex<Inner>,
    /// Where the world is saved after every request (`armsim serve --data-dir`); none: memory only.
    persist: OnceLock<Box<dyn Persist>>,
}

impl Simulator {
    /// Builds a simulator; an inconsistent world is an error that says what is wrong.
    pub fn new(config: SimConfig) -> Result<Self, String> {
        let inner = Self::fresh(&config, &config.world)?;
        let scheme = match config.base_url.split_once("://") {
            Some((scheme, _)) => scheme.to_string(),
            None => "https".to_string(),
        };
        Ok(Self {
            config,
            scheme,
            started: Instant::now(),
            inner: Mutex::new(inner),
            persist: OnceLock::new(),
        })
    }

    fn fresh(config: &SimConfig, world: &World) -> Result<Inner, String> {
        let clock = Clock::new(config.clock, world.start);
        let engine = Engine::new(world.clone(), config.seed, clock.now())?;
        let identity =
            Identity::new(world.identity.clone(), config.seed).map_err(|e| e.to_string())?;
        Ok(Inner {
            clock,
            engine,
            journal: Journal::new(config.journal_capacity),
            identity,
            faults: FaultState::new(config.faults.clone(), config.seed),
            dates: DateTexts::default(),
            last_base: None,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a bug; the state is still the best we have.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn now(&self) -> Timestamp {
        self.lock().clock.now()
    }

    pub fn clock_mode(&self) -> ClockMode {
        self.config.clock
    }

    /// Moves virtual time forward and settles what ended meanwhile.
    pub fn advance(&self, by: VDuration) -> Timestamp {
        let mut g = self.lock();
        g.clock.advance(by);
        let now = g.clock.now();
        g.engine.settle(now);
        now
    }

    /// Moves virtual time to the next operation end, if any: "advance to the next event".
    pub fn advance_to_next_event(&self) -> Option<Timestamp> {
        let mut g = self.lock();
        let next = g.engine.next_deadline()?;
        g.clock.advance_to(next);
        let now = g.clock.now();
        g.engine.settle(now);
        Some(now)
    }

    pub fn journal(&self) -> Vec<JournalEntry> {
        self.lock().journal.entries()
    }

    pub fn journal_since(&self, after: u64) -> Vec<JournalEntry> {
        self.lock().journal.since(after)
    }

    /// The world now, operations included.
    pub fn state(&self) -> World {
        let mut g = self.lock();
        let now = g.clock.now();
        g.engine.settle(now);
        g.engine.snapshot(now)
    }

    /// Replaces the world (the clock jumps to the world's `start`).
    pub fn set_state(&self, world: World) -> Result<(), String> {
        let mut g = self.lock();
        let clock = Clock::new(self.config.clock, world.start);
        let identity =
            Identity::new(world.identity.clone(), self.config.seed).map_err(|e| e.to_string())?;
        let engine = Engine::new(world, self.config.seed, clock.now())?;
        g.clock = clock;
        g.engine = engine;
        g.identity = identity;
        Ok(())
    }

    /// Saves the world after every request from now on (once; later calls are ignored).
    pub fn persist_to(&self, store: Box<dyn Persist>) {
        let _ = self.persist.set(store);
    }

    /// Loads a saved world and the id generator's position: the clock resumes at `world.start`.
    pub fn restore(&self, world: World, ids: Position) -> Result<(), String> {
        self.set_state(world)?;
        *self.lock().engine.ids() = Ids::resume(ids);
        Ok(())
    }

    /// Settles what ended and saves the world now (the scaled clock's periodic save).
    pub fn checkpoint(&self) -> Result<(), String> {
        let mut g = self.lock();
        let now = g.clock.now();
        g.engine.settle(now);
        self.save(&mut g)
    }

    fn save(&self, g: &mut Inner) -> Result<(), String> {
        match self.persist.get() {
            Some(store) => {
                let world = g.engine.snapshot(g.clock.now());
                store.save(&world, g.engine.ids().position())
            }
            None => Ok(()),
        }
    }

    /// Back to the configured world, clock and an empty journal.
    pub fn reset(&self) {
        if let Ok(inner) = Self::fresh(&self.config, &self.config.world) {
            *self.lock() = inner;
        }
    }

    /// A bearer token for `client_id` (a principal of the world) with audience `audience`, valid from now
    /// for the world's token lifetime: what the harness hands clients as `ARMSIM_TOKEN`.
    pub fn issue_token(&self, client_id: &str, audience: &str) -> Result<String, String> {
        let g = self.lock();
        g.identity
            .issue_token(client_id, audience, &g.clock)
            .map_err(|e| e.to_string())
    }

    /// A token for `client_id` valid for `lifetime` of virtual time.
    pub fn issue_token_for(
        &self,
        client_id: &str,
        audience: &str,
        lifetime: VDuration,
    ) -> Result<String, String> {
        let g = self.lock();
        g.identity
            .issue_token_for(client_id, audience, &g.clock, lifetime)
            .map_err(|e| e.to_string())
    }

    /// A token for the world's first Owner or Contributor, audience ARM, valid for `lifetime` of virtual
    /// time (the tenant's token lifetime when `None`).
    pub fn writer_token(&self, lifetime: Option<VDuration>) -> Result<String, String> {
        let g = self.lock();
        let writer = g
            .identity
            .writer()
            .ok_or("the world's tenant has no Owner or Contributor principal")?;
        let lifetime = lifetime.unwrap_or(g.identity.config().token_lifetime);
        g.identity
            .issue_token_for(
                &writer.client_id,
                "https://management.azure.com/",
                &g.clock,
                lifetime,
            )
            .map_err(|e| e.to_string())
    }

    /// The world's tenant and its first Owner or Contributor as `(tenant, client id, secret)`: the
    /// `AZURE_*` credentials handed to clients.
    pub fn writer_credentials(&self) -> Option<(String, String, String)> {
        let g = self.lock();
        let tenant = g.identity.tenant_id().to_string();
        g.identity
            .writer()
            .map(|p| (tenant, p.client_id.clone(), p.client_secret.clone()))
    }

    /// Read access to the engine under the lock, for tests and the harness.
    pub fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        let mut g = self.lock();
        let now = g.clock.now();
        g.engine.settle(now);
        f(&g.engine)
    }

    /// Answers one request. Never panics on input: every rejection is an ARM CloudError.
    pub fn handle(&self, req: HttpRequest) -> HttpResponse {
        let wall_ms = self.started.elapsed().as_millis() as u64;
        let mut g = self.lock();
        let now = g.clock.now();
        g.engine.settle(now);
        let route = Route::parse(req.path());
        let known = KnownHeaders::of(&req.headers);
        let mut route_name = route.as_ref().map(Route::name).unwrap_or("admin");
        let facts = route
            .as_ref()
            .ok()
            .filter(|_| g.faults.is_active())
            .and_then(|r| RequestFacts::of(r, &req, &g.engine));
        let decision = match &facts {
            Some(f) => g.faults.decide(f),
            None => fault::Decision::default(),
        };
        let injected = decision.short_circuit().map(|resp| {
            let op = facts
                .as_ref()
                .and_then(|f| f.operation_id.as_deref())
                .map(Arc::from);
            (resp, op)
        });
        let identity_answer = match (&injected, &route) {
            (None, Ok(Route::Other)) => {
                let base = self.base_url(&mut g, known);
                g.identity.handle(&req, &base, &g.clock)
            }
            _ => None,
        };
        let (mut resp, operation_id) = match (injected, identity_answer, route) {
            (Some(answer), _, _) => answer,
            (None, Some(answer), _) => {
                route_name = "identity";
                (answer, None)
            }
            (None, None, Ok(Route::Admin(admin))) => {
                drop(g);
                let resp = self.admin(admin, &req);
                g = self.lock();
                (resp, None)
            }
            (None, None, Ok(route)) => {
                let base = self.base_url(&mut g, known);
                let mut ctx = Ctx {
                    g: &mut g,
                    req: &req,
                    known,
                    now,
                    base,
                    auth: self.config.auth,
                    operation_id: None,
                };
                let mut resp = match ctx.arm(&route) {
                    Ok(resp) => resp,
                    Err(e) => HttpResponse::error(&e),
                };
                let op = ctx.operation_id.take();
                decorate(&mut g, &req, known, &route, &mut resp, now);
                (resp, op)
            }
            (None, None, Err(e)) => (HttpResponse::error(&e), None),
        };
        decision.apply(&mut resp, g.journal.len() as u32 + 1);
        resp.set(header::CONTENT_LENGTH, number_value(resp.body.len() as u64));
        let at = g.clock.now();
        g.journal.record(Exchange {
            wall_ms,
            at,
            request: &req,
            response: &resp,
            route: route_name,
            operation_id,
            fault: decision.fault_name(),
        });
        if let Err(e) = self.save(&mut g) {
            // What the answer reports is not durable: say so rather than promise it.
            tracing::error!(error = %e, "the world could not be saved");
            resp = HttpResponse::error(&ArmError::new(
                500,
                "InternalServerError",
                format!("armsim could not save the world: {e}"),
            ));
        }
        resp
    }

    /// `scheme://host` for Location URLs: the caller's `Host`, with the scheme the simulator serves.
    /// Made once per `Host` a client sends (kept for the next request, which nearly always sends the same).
    fn base_url(&self, g: &mut Inner, known: KnownHeaders) -> Arc<str> {
        if let Some((host, base)) = &g.last_base {
            if known.host == host.as_ref() {
                return base.clone();
            }
        }
        let base: Arc<str> = match known.host.and_then(text) {
            Some(host) if !host.is_empty() => [self.scheme.as_str(), "://", host].concat().into(),
            _ => self.config.base_url.trim_end_matches('/').into(),
        };
        g.last_base = Some((known.host.cloned(), base.clone()));
        base
    }

    fn admin(&self, route: AdminRoute, req: &HttpRequest) -> HttpResponse {
        let result = self.admin_inner(route, req);
        result.unwrap_or_else(|e| HttpResponse::error(&e))
    }

    fn admin_inner(&self, route: AdminRoute, req: &HttpRequest) -> Result<HttpResponse, ArmError> {
        let method = req.method();
        let wrong = || ArmError::method_not_allowed(method, req.path());
        match (route, method) {
            (AdminRoute::Health, "GET") => Ok(HttpResponse::json(
                200,
                &json!({"status": "ok", "now": self.now(), "version": env!("CARGO_PKG_VERSION")}),
            )),
            (AdminRoute::Reset, "POST") => {
                self.reset();
                Ok(HttpResponse::json(
                    200,
                    &json!({"status": "reset", "now": self.now()}),
                ))
            }
            (AdminRoute::Clock, "GET") => Ok(HttpResponse::json(200, &self.clock_json())),
            (AdminRoute::ClockAdvance, "POST") => {
                let body = req.json_body()?.unwrap_or(Value::Null);
                if let Some(by) = body.get("by") {
                    let by: VDuration = by
                        .as_str()
                        .ok_or_else(|| {
                            ArmError::invalid_request_content(
                                "'by' must be a string such as \"31d\"",
                            )
                        })?
                        .parse()
                        .map_err(|e: String| ArmError::invalid_request_content(&e))?;
                    self.advance(by);
                } else if body.get("toNextEvent").and_then(Value::as_bool) == Some(true) {
                    self.advance_to_next_event();
                } else {
                    return Err(ArmError::invalid_request_content(
                        "send {\"by\": \"31d\"} (units ms, s, m, h, d) or {\"toNextEvent\": true}",
                    ));
                }
                Ok(HttpResponse::json(200, &self.clock_json()))
            }
            (AdminRoute::Journal, "GET") => {
                let since = req
                    .query_param("since")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let entries = self.journal_since(since);
                Ok(HttpResponse::json(200, &json!(entries)))
            }
            (AdminRoute::State, "GET") => {
                let mut state = self.state();
                if req.query_param("secrets").as_deref() != Some("true") {
                    for a in &mut state.storage_accounts {
                        a.keys.iter_mut().for_each(|k| *k = REDACTED.into());
                    }
                }
                let yaml = req.query_param("format").as_deref() == Some("yaml")
                    || req
                        .header_value("accept")
                        .is_some_and(|a| a.contains("yaml"));
                if yaml {
                    let text = serde_saphyr::to_string(&state)
                        .map_err(|e| ArmError::new(500, "InternalServerError", e.to_string()))?;
                    Ok(HttpResponse::text(200, "application/yaml", text))
                } else {
                    Ok(HttpResponse::json(200, &json!(state)))
                }
            }
            (AdminRoute::Faults, "GET") => {
                let plan = self.lock().faults.plan().clone();
                Ok(HttpResponse::json(200, &json!(plan)))
            }
            (AdminRoute::Faults, "PUT") => {
                let text = std::str::from_utf8(&req.body).map_err(|_| {
                    ArmError::invalid_request_content("the fault plan must be UTF-8 YAML or JSON")
                })?;
                let plan: FaultPlan = serde_saphyr::from_str(text)
                    .map_err(|e| ArmError::invalid_request_content(&e.to_string()))?;
                let rules = plan.rules.len();
                self.lock().faults = FaultState::new(plan, self.config.seed);
                Ok(HttpResponse::json(
                    200,
                    &json!({"status": "replaced", "rules": rules}),
                ))
            }
            (AdminRoute::State, "PUT") => {
                let text = std::str::from_utf8(&req.body).map_err(|_| {
                    ArmError::invalid_request_content("the world must be UTF-8 YAML or JSON")
                })?;
                let mut world = parse_world(text, "request body")
                    .map_err(|e| ArmError::invalid_request_content(&e))?;
                self.keep_redacted_keys(&mut world);
                self.set_state(world)
                    .map_err(|e| ArmError::invalid_request_content(&e))?;
                Ok(HttpResponse::json(
                    200,
                    &json!({"status": "replaced", "now": self.now()}),
                ))
            }
            (
                AdminRoute::Blobs {
                    account,
                    container,
                    blob,
                },
                "GET",
            ) => {
                let found = self.with_engine(|e| {
                    e.blobs(&account, &container).map(|blobs| match &blob {
                        None => Some(json!({"value": blobs})),
                        Some(name) => blobs.get(name).map(|b| json!(b)),
                    })
                });
                match found {
                    Some(Some(v)) => Ok(HttpResponse::json(200, &v)),
                    Some(None) => Err(ArmError::new(
                        404,
                        "BlobNotFound",
                        format!(
                            "The blob '{}' does not exist in container '{container}'.",
                            blob.unwrap_or_default()
                        ),
                    )),
                    None => Err(ArmError::new(
                        404,
                        "ContainerNotFound",
                        format!(
                            "No container '{container}' in a storage account named '{account}'."
                        ),
                    )),
                }
            }
            _ => Err(wrong()),
        }
    }

    /// A dumped state has its storage keys redacted: loading it keeps each account's current keys (so
    /// clients holding a key go on working); an account new to this simulator gets fresh keys.
    fn keep_redacted_keys(&self, world: &mut World) {
        let current = self.state();
        for a in &mut world.storage_accounts {
            if a.keys.iter().any(|k| k == REDACTED) {
                a.keys = current
                    .storage_accounts
                    .iter()
                    .find(|c| c.name == a.name)
                    .map(|c| c.keys.clone())
                    .unwrap_or_default();
            }
        }
    }

    fn clock_json(&self) -> Value {
        let g = self.lock();
        let (mode, scale) = match g.clock.mode() {
            ClockMode::Manual => ("manual", None),
            ClockMode::Scaled { scale } => ("scaled", Some(scale)),
        };
        json!({"now": g.clock.now(), "mode": mode, "scale": scale, "nextEvent": g.engine.next_deadline()})
    }
}

/// One ARM request being answered.
struct Ctx<'a, 'g> {
    g: &'a mut MutexGuard<'g, Inner>,
    req: &'a HttpRequest,
    known: KnownHeaders<'a>,
    now: Timestamp,
    base: Arc<str>,
    auth: AuthMode,
    operation_id: Option<Arc<str>>,
}

impl Ctx<'_, '_> {
    fn arm(&mut self, route: &Route) -> Result<HttpResponse, ArmError> {
        let method = self.req.method();
        if *route == Route::Other {
            return Err(ArmError::no_route(method, self.req.path()));
        }
        if *route == Route::MetadataEndpoints {
            return Ok(HttpResponse::json(200, &metadata_endpoints(&self.base)));
        }
        let caller = self.g.identity.verify_lent(
            self.known.authorization.and_then(text),
            self.auth,
            &self.base,
            self.now,
        )?;
        let provider = match route {
            Route::Services { .. }
            | Route::Service(_)
            | Route::ServiceAction(..)
            | Route::OperationResult(..)
            | Route::OperationStatus(..)
            | Route::Apis(_)
            | Route::Api(..) => Provider::ApiManagement,
            _ => Provider::Other,
        };
        let v = api_version::check(self.req.query_param("api-version"), provider, || {
            self.location_hint(route)
        })?;
        let is_read = method == "GET";
        if !may(&caller, is_read) {
            let (action, scope) = permission(route, method);
            authorize(&caller, &action, &scope, is_read)?;
        }
        let tenant = match route {
            Route::Subscriptions | Route::Subscription { .. } => {
                self.g.identity.tenant_id().to_string()
            }
            _ => String::new(),
        };
        let is_action = matches!(route, Route::ServiceAction(..));
        let (body, action_body) = if matches!(method, "PUT" | "PATCH" | "POST") {
            self.check_content_type()?;
            if is_action {
                (None, ActionBody::parse(&self.req.body)?)
            } else {
                (self.req.json_body()?, ActionBody::default())
            }
        } else {
            (None, ActionBody::default())
        };
        let body = body.as_ref();
        let now = self.now;
        let e = &mut self.g.engine;
        let wrong = || Err(ArmError::method_not_allowed(method, self.req.path()));
        let ok = |v: Value| Ok(HttpResponse::json(200, &v));
        match (route, method) {
            (Route::Subscriptions, "GET") => {
                let subs: Vec<Value> = e
                    .subscriptions()
                    .iter()
                    .map(|s| subscription_json(s, &tenant))
                    .collect();
                ok(wire::list(subs))
            }
            (Route::Subscription { subscription }, "GET") => {
                ok(subscription_json(e.subscription(subscription)?, &tenant))
            }
            (Route::ResourceGroups { subscription }, "GET") => {
                let groups = e
                    .resource_groups(subscription)?
                    .into_iter()
                    .map(group_json)
                    .collect();
                ok(wire::list(groups))
            }
            (
                Route::ResourceGroup {
                    subscription,
                    resource_group,
                },
                "GET",
            ) => ok(group_json(e.resource_group(subscription, resource_group)?)),
            (
                Route::ResourceGroup {
                    subscription,
                    resource_group,
                },
                "PUT",
            ) => {
                let (status, g) = e.put_resource_group(subscription, resource_group, body)?;
                Ok(HttpResponse::json(status, &group_json(g)))
            }
            (
                Route::Services {
                    subscription,
                    resource_group,
                },
                "GET",
            ) => {
                let items = e
                    .services_in(subscription, resource_group.as_deref())?
                    .into_iter()
                    .map(|s| wire::service(s, &v))
                    .collect();
                ok(wire::list(items))
            }
            (Route::Service(r), "GET") => ok(wire::service(e.service(r)?, &v)),
            (Route::Service(r), "PUT") => {
                let w = e.put_service(r, &v, body, now)?;
                Ok(self.service_write(r, &v, w))
            }
            (Route::Service(r), "PATCH") => {
                let w = e.patch_service(r, &v, body, now)?;
                Ok(self.service_write(r, &v, w))
            }
            (Route::Service(r), "DELETE") => match e.delete_service(r, &v)? {
                (status, Some(body)) => Ok(HttpResponse::json(status, &body)),
                (status, None) => Ok(HttpResponse::new(status)),
            },
            (Route::ServiceAction(r, action), "POST") => {
                let accepted = match action {
                    ServiceAction::Backup => e.backup(r, &v, &action_body, now)?,
                    ServiceAction::Restore => e.restore(r, &v, &action_body, now)?,
                };
                let double = e.world().behaviour.double_slash_location;
                Ok(self.accepted(r, &v, accepted.operation_id, double))
            }
            (Route::OperationResult(r, id), "GET") => {
                let polled = e.poll(r, id);
                self.operation_id = Some(journaled_id(&polled, id));
                match polled?.1 {
                    PollAnswer::Running => Ok(self.running(r, &v, id)),
                    PollAnswer::Succeeded(body) => ok(body),
                    PollAnswer::Failed(f) => Err(ArmError::apim(f.status, f.code, f.message)),
                }
            }
            (Route::OperationStatus(r, id), "GET") => {
                let polled = e.poll(r, id);
                self.operation_id = Some(journaled_id(&polled, id));
                let running = polled?.1 == PollAnswer::Running;
                let body = e
                    .operation(id)
                    .map(|op| fault::operation_status_body(op, &r.resource_id()))
                    .ok_or_else(|| ArmError::operation_not_found(id))?;
                let resp = HttpResponse::json(200, &body);
                let mut resp = resp;
                if running {
                    resp.set(header::RETRY_AFTER, self.retry_after());
                }
                Ok(resp)
            }
            (Route::Apis(r), "GET") => {
                let svc = e.service(r)?;
                ok(wire::list(
                    svc.apis.iter().map(|a| wire::api(svc, a)).collect(),
                ))
            }
            (Route::Api(r, api), "GET") => {
                let svc = e.service(r)?;
                let a = svc
                    .apis
                    .iter()
                    .find(|a| a.name.eq_ignore_ascii_case(api))
                    .ok_or_else(|| ArmError::apim(404, "ResourceNotFound", "Api not found."))?;
                ok(wire::api(svc, a))
            }
            (Route::Api(r, api), "PUT") => {
                let (status, body) = e.put_api(r, api, body)?;
                Ok(HttpResponse::json(status, &body))
            }
            (Route::Api(r, api), "DELETE") => Ok(HttpResponse::new(e.delete_api(r, api)?)),
            (
                Route::StorageAccounts {
                    subscription,
                    resource_group,
                },
                "GET",
            ) => {
                let items = e
                    .storage_accounts_in(subscription, resource_group.as_deref())?
                    .into_iter()
                    .map(wire::storage_account)
                    .collect();
                ok(wire::list(items))
            }
            (Route::StorageAccount(r), "GET") => ok(wire::storage_account(e.storage_account(r)?)),
            (Route::StorageAccount(r), "PUT") => {
                let (status, a) = e.put_storage_account(r, body, now)?;
                Ok(HttpResponse::json(status, &wire::storage_account(a)))
            }
            (Route::StorageAccount(r), "DELETE") => {
                Ok(HttpResponse::new(e.delete_storage_account(r)?))
            }
            (Route::StorageAction(r, StorageAction::ListKeys), "POST") => {
                ok(wire::storage_keys(e.storage_account(r)?))
            }
            (Route::StorageAction(r, StorageAction::RegenerateKey), "POST") => {
                ok(wire::storage_keys(e.regenerate_key(r, body)?))
            }
            (Route::Containers(r), "GET") => {
                let a = e.storage_account(r)?;
                ok(wire::list(
                    a.containers.iter().map(|c| wire::container(a, c)).collect(),
                ))
            }
            (Route::Container(r, name), "GET") => {
                let (a, c) = e.container(r, name)?;
                ok(wire::container(a, c))
            }
            (Route::Container(r, name), "PUT") => {
                let status = e.put_container(r, name, now)?;
                let (a, c) = e.container(r, name)?;
                Ok(HttpResponse::json(status, &wire::container(a, c)))
            }
            (Route::Container(r, name), "DELETE") => {
                Ok(HttpResponse::new(e.delete_container(r, name)?))
            }
            _ => wrong(),
        }
    }

    /// The region named in a NoRegisteredProviderFound message: the resource group's, else West US.
    fn location_hint(&self, route: &Route) -> String {
        let (sub, rg) = match route {
            Route::Service(r)
            | Route::ServiceAction(r, _)
            | Route::OperationResult(r, _)
            | Route::OperationStatus(r, _)
            | Route::Apis(r)
            | Route::Api(r, _) => (r.subscription.as_ref(), r.resource_group.as_ref()),
            _ => ("", ""),
        };
        self.g
            .engine
            .group_location(sub, rg)
            .unwrap_or("westus")
            .to_string()
    }

    fn check_content_type(&self) -> Result<(), ArmError> {
        // The spelling nearly every client sends, compared as bytes before anything is decoded.
        if self.known.content_type.map(HeaderValue::as_bytes) == Some(b"application/json") {
            return Ok(());
        }
        match self.known.content_type.and_then(text) {
            Some(ct) if !self.req.body.is_empty() => {
                if crate::http::is_json_media_type(ct) {
                    Ok(())
                } else {
                    Err(ArmError::unsupported_media_type(ct))
                }
            }
            _ => Ok(()),
        }
    }

    /// `{base}{service id}/operationresults/{id}?api-version={v}`, written in one allocation.
    fn location_url(
        &self,
        r: &ServiceRef,
        api_version: &str,
        id: &str,
        double_slash: bool,
    ) -> String {
        let parts = [
            &*self.base,
            "/subscriptions/",
            &r.subscription,
            "/resourceGroups/",
            &r.resource_group,
            "/providers/Microsoft.ApiManagement/service/",
            &r.name,
            if double_slash { "//" } else { "/" },
            "operationresults/",
            id,
            "?api-version=",
            api_version,
        ];
        let mut url = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        parts.iter().for_each(|p| url.push_str(p));
        url
    }

    fn retry_after(&self) -> HeaderValue {
        let virtual_delay = self.g.engine.world().behaviour.retry_after;
        number_value(self.g.clock.mode().wall_retry_after_secs(virtual_delay))
    }

    /// 202 with an empty body, `Location` and `Retry-After`: the answer to every accepted LRO.
    fn accepted(
        &mut self,
        r: &ServiceRef,
        v: &str,
        id: Arc<str>,
        double_slash: bool,
    ) -> HttpResponse {
        let mut resp = HttpResponse::new(202);
        resp.set_text(header::LOCATION, self.location_url(r, v, &id, double_slash));
        resp.set(header::RETRY_AFTER, self.retry_after());
        self.operation_id = Some(id);
        resp
    }

    /// 202 on a poll of a running operation: `Location` (single slash) and `Retry-After` again.
    fn running(&self, r: &ServiceRef, v: &str, id: &str) -> HttpResponse {
        let mut resp = HttpResponse::new(202);
        resp.set_text(header::LOCATION, self.location_url(r, v, id, false));
        resp.set(header::RETRY_AFTER, self.retry_after());
        resp
    }

    fn service_write(&mut self, r: &ServiceRef, v: &str, w: ServiceWrite) -> HttpResponse {
        match w {
            ServiceWrite::Done { status, body } => HttpResponse::json(status, &body),
            ServiceWrite::Started {
                status,
                body,
                operation_id,
            } => {
                let mut resp = self.accepted(r, v, operation_id, false);
                if let Some(body) = body {
                    let headers = resp.headers;
                    resp = HttpResponse::json(status, &body);
                    resp.headers.extend(headers);
                }
                resp.status = status;
                resp
            }
        }
    }
}

/// The operation id a poll's journal entry carries: the engine's shared copy, or the id the poll asked
/// for when there is no such operation.
fn journaled_id(polled: &Result<(Arc<str>, PollAnswer), ArmError>, asked: &str) -> Arc<str> {
    match polled {
        Ok((known, _)) => known.clone(),
        Err(_) => Arc::from(asked),
    }
}

/// The ARM response headers every answer carries (PROTOCOL.md §2.4).
fn decorate(
    g: &mut Inner,
    req: &HttpRequest,
    known: KnownHeaders,
    route: &Route,
    resp: &mut HttpResponse,
    now: Timestamp,
) {
    const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
    const EXPIRES: HeaderValue = HeaderValue::from_static("-1");
    const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000; includeSubDomains");
    const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
    resp.set(header::CACHE_CONTROL, NO_CACHE);
    resp.set(header::PRAGMA, NO_CACHE);
    resp.set(header::EXPIRES, EXPIRES);
    resp.set_bytes(
        names::REQUEST_ID,
        Bytes::copy_from_slice(&g.engine.ids().guid_bytes()),
    );
    // The caller's correlation id is echoed when it is a sensible one; otherwise ARM makes one up.
    let echoed = known
        .correlation_id
        .filter(|v| !v.is_empty() && v.len() <= 128 && std::str::from_utf8(v.as_bytes()).is_ok());
    let made_up;
    let correlation = match echoed {
        Some(value) => {
            resp.set(names::CORRELATION_ID, value.clone());
            value.as_bytes()
        }
        None => {
            made_up = g.engine.ids().guid_bytes();
            resp.set_bytes(names::CORRELATION_ID, Bytes::copy_from_slice(&made_up));
            &made_up
        }
    };
    let (date, compact) = g.dates.at(now);
    let date = date.cloned();
    let routing = [b"WESTUS:", compact.as_bytes(), b":", correlation].concat();
    resp.set_bytes(names::ROUTING_ID, Bytes::from(routing));
    let subscription = match route {
        Route::Subscription { subscription }
        | Route::ResourceGroups { subscription }
        | Route::ResourceGroup { subscription, .. }
        | Route::Services { subscription, .. }
        | Route::StorageAccounts { subscription, .. } => Some(subscription),
        Route::Service(r)
        | Route::ServiceAction(r, _)
        | Route::OperationResult(r, _)
        | Route::OperationStatus(r, _)
        | Route::Apis(r)
        | Route::Api(r, _) => Some(&r.subscription),
        Route::StorageAccount(r)
        | Route::StorageAction(r, _)
        | Route::Containers(r)
        | Route::Container(r, _) => Some(&r.subscription),
        _ => None,
    };
    if let Some(sub) = subscription {
        let write = req.method() != "GET";
        let left = g.engine.take_rate_limit(sub, write, now);
        let name = if write {
            names::WRITES_LEFT
        } else {
            names::READS_LEFT
        };
        resp.set(name, number_value(u64::from(left)));
    }
    if known
        .return_client_request_id
        .and_then(text)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        if let Some(id) = known.client_request_id {
            resp.set(names::CLIENT_REQUEST_ID, id.clone());
        }
    }
    resp.set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    resp.set(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    if let Some(date) = date {
        resp.set(header::DATE, date);
    }
}

fn subscription_json(s: &crate::engine::model::Subscription, tenant: &str) -> Value {
    json!({
        "id": format!("/subscriptions/{}", s.id),
        "subscriptionId": s.id,
        "tenantId": tenant,
        "displayName": s.display_name,
        "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
        "authorizationSource": "RoleBased"
    })
}

fn group_json(g: &crate::engine::model::ResourceGroup) -> Value {
    json!({
        "id": format!("/subscriptions/{}/resourceGroups/{}", g.subscription, g.name),
        "name": g.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": g.location,
        "properties": {"provisioningState": "Succeeded"}
    })
}

/// `GET /metadata/endpoints`: the cloud description `az cloud register` reads, pointing at armsim.
fn metadata_endpoints(base: &str) -> Value {
    json!({
        "galleryEndpoint": format!("{base}/"),
        "graphEndpoint": format!("{base}/"),
        "portalEndpoint": format!("{base}/"),
        "graphAudience": format!("{base}/"),
        "authentication": {
            "loginEndpoint": format!("{base}/"),
            "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD"
        },
        "media": format!("{base}/"),
        "resourceManager": format!("{base}/"),
        "suffixes": {"storage": "core.windows.net", "keyVaultDns": "vault.azure.net", "acrLoginServer": "azurecr.io"},
        "name": "armsim"
    })
}

/// The RBAC action and scope a request needs, as ARM names them in `AuthorizationFailed`.
fn permission(route: &Route, method: &str) -> (String, String) {
    let verb = match method {
        "GET" => "read",
        "DELETE" => "delete",
        _ => "write",
    };
    match route {
        Route::Subscriptions => ("Microsoft.Resources/subscriptions/read".into(), "/".into()),
        Route::Subscription { subscription } | Route::ResourceGroups { subscription } => (
            format!("Microsoft.Resources/subscriptions/resourceGroups/{verb}"),
            format!("/subscriptions/{subscription}"),
        ),
        Route::ResourceGroup {
            subscription,
            resource_group,
        } => (
            format!("Microsoft.Resources/subscriptions/resourceGroups/{verb}"),
            format!("/subscriptions/{subscription}/resourceGroups/{resource_group}"),
        ),
        Route::Services {
            subscription,
            resource_group,
        }
        | Route::StorageAccounts {
            subscription,
            resource_group,
        } => {
            let kind = if matches!(route, Route::Services { .. }) {
                "Microsoft.ApiManagement/service"
            } else {
                "Microsoft.Storage/storageAccounts"
            };
            let scope = match resource_group {
                Some(rg) => format!("/subscriptions/{subscription}/resourceGroups/{rg}"),
                None => format!("/subscriptions/{subscription}"),
            };
            (format!("{kind}/{verb}"), scope)
        }
        Route::Service(r) | Route::OperationResult(r, _) | Route::OperationStatus(r, _) => (
            format!("Microsoft.ApiManagement/service/{verb}"),
            r.resource_id(),
        ),
        Route::ServiceAction(r, action) => {
            let name = match action {
                ServiceAction::Backup => "backup",
                ServiceAction::Restore => "restore",
            };
            (
                format!("Microsoft.ApiManagement/service/{name}/action"),
                r.resource_id(),
            )
        }
        Route::Apis(r) | Route::Api(r, _) => (
            format!("Microsoft.ApiManagement/service/apis/{verb}"),
            r.resource_id(),
        ),
        Route::StorageAccount(r) => (
            format!("Microsoft.Storage/storageAccounts/{verb}"),
            r.resource_id(),
        ),
        Route::StorageAction(r, action) => {
            let name = match action {
                StorageAction::ListKeys => "listkeys",
                StorageAction::RegenerateKey => "regeneratekey",
            };
            (
                format!("Microsoft.Storage/storageAccounts/{name}/action"),
                r.resource_id(),
            )
        }
        Route::Containers(r) | Route::Container(r, _) => (
            format!("Microsoft.Storage/storageAccounts/blobServices/containers/{verb}"),
            r.resource_id(),
        ),
        Route::Admin(_) | Route::MetadataEndpoints | Route::Other => (String::new(), String::new()),
    }
}
