//! Seeded fault plans: the ways a real ARM misbehaves, injected on purpose so clients can be judged on
//! how they cope.
//!
//! A [`FaultPlan`] is a list of [`FaultRule`]s. Each rule says *when* it applies ([`FaultMatch`]: a route
//! name, a method, a service, the n-th poll of an operation, a region), *what* it does ([`FaultAction`]),
//! and how often (`times`, `probability` drawn from the run's seed, so a run is reproducible). For every
//! request the simulator asks [`FaultState::decide`] which rules fire; a [`Decision`] then either replaces
//! the answer (an error, a 429: the request is not processed) or reshapes the simulator's own answer
//! (headers, body, and — through [`Delivery`] — how the server puts it on the wire: late, cut short, or
//! not at all). The journal records the names of the rules that fired.
//!
//! ```yaml
//! - name: throttle-first-poll
//!   when: { route: operation.poll, poll: 1 }
//!   action: { throttle: { retryAfter: 2 } }
//!   times: 1
//! - name: westus-outage
//!   when: { region: westus }
//!   action: { error: { status: 503 } }
//! ```

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::arm::error::ArmError;
use crate::arm::region;
use crate::engine::model::{Operation, OperationStatus};
use crate::engine::Engine;
use crate::http::route::Route;
use crate::http::{header, HttpRequest, HttpResponse};

/// The fault rules of a run, in the order they are checked. Every matching rule fires.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct FaultPlan {
    pub rules: Vec<FaultRule>,
}

impl FaultPlan {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// One fault: when it applies, what it does, and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// The name the journal records when the rule fires; defaults to `fault-{index}` (from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which requests it applies to; absent matches every ARM request.
    #[serde(default)]
    pub when: FaultMatch,
    pub action: FaultAction,
    /// How many times it fires at most; absent means every time it matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Chance (0..=1) of firing on a matching request, drawn from the run's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

/// Which requests a rule applies to. Every given field must match.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultMatch {
    /// A route name (`service.backup`, `service.restore`, `operation.poll`, `operation.status`,
    /// `service`, …), a prefix followed by `.*` (`service.*`), or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The API Management service named in the path (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The n-th poll (from 1) of one operation, counted over its Location and status URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<u32>,
    /// Every request for a resource in this region (`westus` or `West US`): a region outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// Where the `Azure-AsyncOperation` header goes relative to `Location`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum AsyncMode {
    /// `Azure-AsyncOperation` and no `Location`.
    Instead,
    /// Both headers.
    Besides,
}

/// A header value written as a number or as text (`120`, `"Wed, 21 Oct 2026 07:28:00 GMT"`). Text that
/// cannot be a header value (a newline, another control character) is refused when the plan is read, so
/// every rule a plan holds can be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged, try_from = "RawHeaderText")]
pub enum HeaderText {
    Number(u64),
    Text(String),
}

/// [`HeaderText`] as written, before its text is checked.
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum RawHeaderText {
    Number(u64),
    Text(String),
}

impl TryFrom<RawHeaderText> for HeaderText {
    type Error = String;

    fn try_from(raw: RawHeaderText) -> Result<Self, String> {
        match raw {
            RawHeaderText::Number(n) => Ok(HeaderText::Number(n)),
            RawHeaderText::Text(s) if http::HeaderValue::from_str(&s).is_ok() => {
                Ok(HeaderText::Text(s))
            }
            RawHeaderText::Text(s) => Err(format!(
                "{s:?} cannot be a header value: it holds a control character such as a newline"
            )),
        }
    }
}

impl HeaderText {
    pub fn as_header(&self) -> String {
        match self {
            HeaderText::Number(n) => n.to_string(),
            HeaderText::Text(s) => s.clone(),
        }
    }
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum FaultAction {
    /// Answer with this status and an ARM error body instead of processing the request.
    Error(ErrorFault),
    /// 429 `TooManyRequests` with `Retry-After` (wall seconds) instead of processing the request.
    Throttle(ThrottleFault),
    /// Hold the answer back this many wall milliseconds.
    Latency(LatencyFault),
    /// Process the request, then close the connection without answering.
    DropConnection,
    /// Send the headers and half the body, then close the connection.
    TruncateBody,
    /// Replace the body with text that is not JSON (the status and headers stay).
    InvalidJson,
    /// Remove `Location` from the answer.
    OmitLocation,
    /// Announce an `Azure-AsyncOperation` status URL (`…/operationsStatus/{id}`), instead of or besides
    /// `Location`.
    AsyncOperation(AsyncMode),
    /// Make `Location` (and `Azure-AsyncOperation`) relative: the path and query only.
    RelativeLocation,
    /// Put a different (but valid) URL in `Location`: the client must follow it.
    NewLocation,
    /// Remove `Retry-After`.
    NoRetryAfter,
    /// Send this `Retry-After` value as is.
    RetryAfter(HeaderText),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorFault {
    pub status: u16,
    /// Defaults to the usual code for the status (`InternalServerError`, `ServiceUnavailable`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A `Retry-After` (wall seconds) to send with the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrottleFault {
    /// Wall seconds.
    #[serde(default = "one")]
    pub retry_after: u64,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LatencyFault {
    pub ms: u64,
}

/// How the server should put an answer on the wire. The default is "normally".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivery {
    /// Wall milliseconds to wait before answering.
    pub delay_ms: u64,
    /// Close the connection without any answer.
    pub drop_connection: bool,
    /// Send the headers and this many body bytes, then close the connection.
    pub truncate_at: Option<usize>,
}

/// What the fault matcher knows about a request.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    pub route: String,
    pub method: String,
    pub service: Option<String>,
    pub operation_id: Option<String>,
    /// Canonical region of the resource addressed (`westus`).
    pub region: Option<String>,
}

impl RequestFacts {
    /// Facts about an ARM request; `None` for the admin API, which faults never touch.
    pub fn of(route: &Route, req: &HttpRequest, engine: &Engine) -> Option<Self> {
        let world = engine.world();
        let mut facts = RequestFacts {
            route: route.name().to_string(),
            method: req.method().to_string(),
            ..Self::default()
        };
        let group_region =
            |sub: &str, rg: &str| engine.group_location(sub, rg).map(region::canonical);
        match route {
            Route::Admin(_) => return None,
            Route::Service(r)
            | Route::ServiceAction(r, _)
            | Route::Apis(r)
            | Route::Api(r, _)
            | Route::OperationResult(r, _)
            | Route::OperationStatus(r, _) => {
                facts.service = Some(r.name.to_string());
                facts.region = world
                    .services
                    .iter()
                    .find(|s| {
                        s.name.eq_ignore_ascii_case(&r.name)
                            && s.resource_group.eq_ignore_ascii_case(&r.resource_group)
                    })
                    .map(|s| region::canonical(&s.location))
                    .or_else(|| group_region(&r.subscription, &r.resource_group));
                if let Route::OperationResult(_, id) | Route::OperationStatus(_, id) = route {
                    facts.operation_id = Some(id.to_string());
                }
            }
            Route::StorageAccount(r)
            | Route::StorageAction(r, _)
            | Route::Containers(r)
            | Route::Container(r, _) => {
                facts.region = engine
                    .storage_account_named(&r.account)
                    .map(|a| region::canonical(&a.location))
                    .or_else(|| group_region(&r.subscription, &r.resource_group));
            }
            Route::ResourceGroup {
                subscription,
                resource_group,
            } => facts.region = group_region(subscription, resource_group),
            _ => {}
        }
        Some(facts)
    }

    fn is_poll(&self) -> bool {
        self.route == "operation.poll" || self.route == "operation.status"
    }
}

/// A plan with its counters: how often each rule fired, how often each operation was polled, and the
/// seeded generator behind `probability`.
#[derive(Debug, Clone)]
pub struct FaultState {
    plan: FaultPlan,
    fired: Vec<u32>,
    polls: BTreeMap<String, u32>,
    rng: u64,
}

impl FaultState {
    pub fn new(plan: FaultPlan, seed: u64) -> Self {
        Self {
            fired: vec![0; plan.rules.len()],
            plan,
            polls: BTreeMap::new(),
            rng: seed ^ 0xD1B5_4A32_D192_ED03,
        }
    }

    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// SplitMix64 in [0, 1).
    fn draw(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Which rules fire for this request. Counts the request as a poll of its operation first.
    /// Whether any fault is planned: with none, requests skip fault matching (and poll counting) entirely.
    pub fn is_active(&self) -> bool {
        !self.plan.is_empty()
    }

    pub fn decide(&mut self, facts: &RequestFacts) -> Decision {
        let poll = match (&facts.operation_id, facts.is_poll()) {
            (Some(id), true) => {
                let n = self.polls.entry(id.clone()).or_insert(0);
                *n += 1;
                Some(*n)
            }
            _ => None,
        };
        let mut decision = Decision::default();
        for i in 0..self.plan.rules.len() {
            let rule = &self.plan.rules[i];
            if !matches(&rule.when, facts, poll) {
                continue;
            }
            if rule.times.is_some_and(|t| self.fired[i] >= t) {
                continue;
            }
            if let Some(p) = rule.probability {
                if self.draw() >= p {
                    continue;
                }
            }
            let rule = &self.plan.rules[i];
            decision.names.push(
                rule.name
                    .clone()
                    .unwrap_or_else(|| format!("fault-{}", i + 1)),
            );
            decision.actions.push(rule.action.clone());
            self.fired[i] += 1;
        }
        decision
    }
}

fn matches(m: &FaultMatch, facts: &RequestFacts, poll: Option<u32>) -> bool {
    let route_ok = match m.route.as_deref() {
        None | Some("any") | Some("*") => true,
        Some(r) => match r.strip_suffix(".*") {
            Some(prefix) => facts.route == prefix || facts.route.starts_with(&format!("{prefix}.")),
            None => facts.route == r,
        },
    };
    route_ok
        && m.method
            .as_deref()
            .is_none_or(|x| x.eq_ignore_ascii_case(&facts.method))
        && m.service.as_deref().is_none_or(|x| {
            facts
                .service
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(x))
        })
        && m.poll.is_none_or(|n| poll == Some(n))
        && m.region.as_deref().is_none_or(|x| {
            facts
                .region
                .as_deref()
                .is_some_and(|r| r == region::canonical(x))
        })
}

/// The rules that fired for one request and what they do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub names: Vec<String>,
    pub actions: Vec<FaultAction>,
}

impl Decision {
    /// What the journal records: the names of the rules that fired, comma-separated.
    pub fn fault_name(&self) -> Option<String> {
        (!self.names.is_empty()).then(|| self.names.join(","))
    }

    /// The answer that replaces the simulator's, when a rule says the request is not processed.
    pub fn short_circuit(&self) -> Option<HttpResponse> {
        self.actions.iter().find_map(|a| match a {
            FaultAction::Error(e) => {
                let code = e
                    .code
                    .clone()
                    .unwrap_or_else(|| default_code(e.status).to_string());
                let message = e.message.clone().unwrap_or_else(|| {
                    format!("armsim injected a {} {code} (fault plan).", e.status)
                });
                let mut resp = HttpResponse::error(&ArmError::new(e.status, code, message));
                if let Some(s) = e.retry_after {
                    resp.set_header("retry-after", s.to_string());
                }
                Some(resp)
            }
            FaultAction::Throttle(t) => {
                let resp = HttpResponse::error(&ArmError::new(
                    429,
                    "TooManyRequests",
                    "The request is being throttled. Retry after the number of seconds in the Retry-After header.",
                ))
                .with_header("retry-after", t.retry_after.to_string());
                Some(resp)
            }
            _ => None,
        })
    }

    /// Reshapes the simulator's answer (or the short-circuit answer) per the remaining actions.
    pub fn apply(&self, resp: &mut HttpResponse, hop: u32) {
        for action in &self.actions {
            match action {
                FaultAction::Error(_) | FaultAction::Throttle(_) => {}
                FaultAction::Latency(l) => resp.delivery.delay_ms += l.ms,
                FaultAction::DropConnection => resp.delivery.drop_connection = true,
                FaultAction::TruncateBody => {
                    resp.delivery.truncate_at = Some(resp.body.len() / 2);
                }
                FaultAction::InvalidJson => {
                    resp.body =
                        Bytes::from_static(b"{\"status\": \"InProgress\", <armsim: not json");
                    resp.set_header("content-type", "application/json; charset=utf-8");
                    resp.set_header("content-length", resp.body.len().to_string());
                }
                FaultAction::OmitLocation => {
                    resp.headers.remove(header::LOCATION);
                }
                FaultAction::AsyncOperation(mode) => {
                    if let Some(loc) = resp.header_value("location").map(str::to_string) {
                        resp.set_header("azure-asyncoperation", status_url(&loc));
                        if *mode == AsyncMode::Instead {
                            resp.headers.remove(header::LOCATION);
                        }
                    }
                }
                FaultAction::RelativeLocation => {
                    for name in ["location", "azure-asyncoperation"] {
                        if let Some(v) = resp.header_value(name).map(str::to_string) {
                            resp.set_header(name, relative(&v));
                        }
                    }
                }
                FaultAction::NewLocation => {
                    if let Some(v) = resp.header_value("location").map(str::to_string) {
                        let sep = if v.contains('?') { '&' } else { '?' };
                        resp.set_header("location", format!("{v}{sep}armsim-hop={hop}"));
                    }
                }
                FaultAction::NoRetryAfter => {
                    resp.headers.remove(header::RETRY_AFTER);
                }
                FaultAction::RetryAfter(v) => resp.set_header("retry-after", v.as_header()),
            }
        }
    }
}

fn default_code(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "AuthenticationFailed",
        403 => "AuthorizationFailed",
        404 => "NotFound",
        408 => "RequestTimeout",
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "InjectedFault",
    }
}

/// The `Azure-AsyncOperation` URL for a Location URL: `…/operationresults/{id}` → `…/operationsStatus/{id}`.
pub fn status_url(location: &str) -> String {
    match location.find("/operationresults/") {
        Some(i) => format!(
            "{}/operationsStatus/{}",
            &location[..i],
            &location[i + "/operationresults/".len()..]
        ),
        None => location.to_string(),
    }
}

/// `https://host:port/path?q` → `/path?q`.
fn relative(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => rest[i..].to_string(),
            None => "/".into(),
        },
        None => url.to_string(),
    }
}

/// The Azure-AsyncOperation status resource (PROTOCOL.md §2.2): always 200, the operation's state in
/// `status`, `error` when it failed.
pub fn operation_status_body(op: &Operation, resource_id: &str) -> Value {
    let (status, error) = match &op.status {
        OperationStatus::Running => ("InProgress", None),
        OperationStatus::Succeeded => ("Succeeded", None),
        OperationStatus::Failed { error } => (
            "Failed",
            Some(json!({"code": error.code, "message": error.message})),
        ),
    };
    let mut body = json!({
        "id": format!("{resource_id}/operationsStatus/{}", op.id),
        "name": op.id,
        "status": status,
        "startTime": op.started_at.to_arm_string(),
    });
    if let Some(end) = op.ended_at {
        body["endTime"] = json!(end.to_arm_string());
    }
    if let Some(e) = error {
        body["error"] = e;
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(yaml: &str) -> FaultPlan {
        serde_saphyr::from_str(yaml).expect("plan parses")
    }

    fn poll(op: &str) -> RequestFacts {
        RequestFacts {
            route: "operation.poll".into(),
            method: "GET".into(),
            service: Some("contoso-apim".into()),
            operation_id: Some(op.into()),
            region: Some("westus".into()),
        }
    }

    #[test]
    fn a_plan_reads_every_action_from_yaml() {
        let p = plan(
            r#"
- name: boom
  when: { route: service.backup }
  action: { error: { status: 500 } }
- when: { route: operation.poll, poll: 2 }
  action: { throttle: { retryAfter: 3 } }
  times: 1
- action: { latency: { ms: 10 } }
- action: dropConnection
- action: truncateBody
- action: invalidJson
- action: omitLocation
- action: { asyncOperation: instead }
- action: relativeLocation
- action: newLocation
- action: noRetryAfter
- action: { retryAfter: 120 }
- action: { retryAfter: "Wed, 21 Oct 2026 07:28:00 GMT" }
  probability: 0.5
"#,
        );
        assert_eq!(p.rules.len(), 13);
        assert_eq!(
            p.rules[11].action,
            FaultAction::RetryAfter(HeaderText::Number(120))
        );
    }

    #[test]
    fn header_text_that_cannot_go_on_the_wire_is_refused_when_the_plan_is_read() {
        let err = serde_saphyr::from_str::<FaultPlan>(
            "- action: { retryAfter: \"soon\\r\\nx-injected: 1\" }\n",
        )
        .expect_err("a newline in a header value");
        assert!(
            err.to_string().contains("cannot be a header value"),
            "{err}"
        );
        let ok = plan("- action: { retryAfter: \"in a\\tbit\" }\n");
        assert_eq!(
            ok.rules[0].action,
            FaultAction::RetryAfter(HeaderText::Text("in a\tbit".into()))
        );
    }

    #[test]
    fn unknown_keys_in_a_plan_are_rejected() {
        let err = serde_saphyr::from_str::<FaultPlan>("- action: dropConnection\n  whne: {}\n")
            .expect_err("typo");
        assert!(err.to_string().contains("whne"), "{err}");
    }

    #[test]
    fn the_nth_poll_rule_fires_on_that_poll_only_and_times_limits_it() {
        let mut s = FaultState::new(
            plan("- when: { poll: 2 }\n  action: noRetryAfter\n  times: 1\n"),
            0,
        );
        let fired: Vec<bool> = (0..4)
            .map(|_| s.decide(&poll("op1")).fault_name().is_some())
            .collect();
        assert_eq!(fired, vec![false, true, false, false]);
        // another operation has its own count, but the rule is spent
        assert!(s.decide(&poll("op2")).fault_name().is_none());
        assert!(s.decide(&poll("op2")).fault_name().is_none());
    }

    #[test]
    fn probability_is_deterministic_per_seed() {
        let p = plan("- action: noRetryAfter\n  probability: 0.5\n");
        let run = |seed| {
            let mut s = FaultState::new(p.clone(), seed);
            (0..32)
                .map(|_| s.decide(&poll("op")).fault_name().is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().any(|f| *f) && run(7).iter().any(|f| !*f));
    }

    #[test]
    fn region_outage_matches_the_resource_region_in_either_spelling() {
        let mut s = FaultState::new(
            plan("- when: { region: West US }\n  action: { error: { status: 503 } }\n"),
            0,
        );
        let d = s.decide(&poll("op"));
        let resp = d.short_circuit().expect("outage answers");
        assert_eq!(resp.status, 503);
        assert!(String::from_utf8_lossy(&resp.body).contains("ServiceUnavailable"));
    }

    #[test]
    fn header_actions_reshape_location() {
        let loc = "http://127.0.0.1:9/subscriptions/s/resourceGroups/g/providers/Microsoft.ApiManagement/service/a/operationresults/b3A=?api-version=2024-05-01";
        let base = HttpResponse::new(202)
            .with_header("location", loc)
            .with_header("retry-after", "1");
        let d = |a: FaultAction| Decision {
            names: vec!["x".into()],
            actions: vec![a],
        };
        let mut r = base.clone();
        d(FaultAction::AsyncOperation(AsyncMode::Instead)).apply(&mut r, 1);
        assert_eq!(r.header_value("location"), None);
        assert!(r
            .header_value("azure-asyncoperation")
            .is_some_and(|v| v.contains("/operationsStatus/b3A=?api-version")));
        let mut r = base.clone();
        d(FaultAction::RelativeLocation).apply(&mut r, 1);
        assert!(r
            .header_value("location")
            .is_some_and(|v| v.starts_with("/subscriptions/")));
        let mut r = base.clone();
        d(FaultAction::NewLocation).apply(&mut r, 3);
        assert!(r
            .header_value("location")
            .is_some_and(|v| v.ends_with("&armsim-hop=3")));
        let mut r = base;
        d(FaultAction::NoRetryAfter).apply(&mut r, 1);
        assert_eq!(r.header_value("retry-after"), None);
    }

    mod end_to_end {
        use super::super::*;
        use crate::clock::VDuration;
        use crate::sim::{SimConfig, Simulator};

        const SVC: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers/Microsoft.ApiManagement/service/contoso-apim";

        fn sim(faults: &str) -> Simulator {
            Simulator::new(SimConfig {
                faults: serde_saphyr::from_str(faults).expect("plan"),
                auth: crate::identity::AuthMode::Permissive,
                ..SimConfig::default()
            })
            .expect("simulator")
        }

        fn backup(sim: &Simulator) -> HttpResponse {
            let key = sim.state().storage_accounts[0].keys[0].clone();
            sim.handle(
                HttpRequest::new("POST", &format!("{SVC}/backup?api-version=2024-05-01"))
                    .header("authorization", "Bearer t")
                    .json(
                        &json!({"storageAccount": "contosobackups", "containerName": "apim-backups",
                        "backupName": "b1", "accessKey": key}),
                    ),
            )
        }

        fn get(sim: &Simulator, url: &str) -> HttpResponse {
            let path = url
                .split_once("://")
                .map_or(url, |(_, r)| &r[r.find('/').unwrap_or(0)..]);
            sim.handle(HttpRequest::new("GET", path).header("authorization", "Bearer t"))
        }

        #[test]
        fn an_async_operation_fault_serves_a_status_url_that_ends_succeeded() {
            let sim = sim("- name: aao\n  when: { route: service.backup }\n  action: { asyncOperation: instead }\n");
            let resp = backup(&sim);
            assert_eq!(resp.status, 202);
            assert_eq!(resp.header_value("location"), None);
            let url = resp
                .header_value("azure-asyncoperation")
                .expect("AAO")
                .to_string();
            let running = get(&sim, &url);
            assert_eq!(running.status, 200);
            assert_eq!(running.json_body().expect("json")["status"], "InProgress");
            assert!(running.header_value("retry-after").is_some());
            sim.advance(VDuration::from_mins(10));
            let done = get(&sim, &url).json_body().expect("json");
            assert_eq!(done["status"], "Succeeded");
            assert!(done["endTime"].is_string());
            let journal = sim.journal();
            assert_eq!(journal[0].fault.as_deref(), Some("aao"));
            assert_eq!(journal[1].route, "operation.status");
        }

        #[test]
        fn an_error_fault_on_the_post_starts_no_operation() {
            let sim = sim("- when: { route: service.backup }\n  action: { error: { status: 500 } }\n  times: 1\n");
            assert_eq!(backup(&sim).status, 500);
            assert!(sim.with_engine(|e| e.operations().count() == 0));
            assert_eq!(backup(&sim).status, 202, "times: 1 spends the rule");
        }

        #[test]
        fn the_admin_route_replaces_and_shows_the_plan() {
            let sim = sim("[]");
            let put = sim.handle(
                HttpRequest::new("PUT", "/_armsim/faults")
                    .json(&json!([{"name": "slow", "action": {"latency": {"ms": 5}}}])),
            );
            assert_eq!(put.status, 200, "{:?}", put.body);
            let shown = sim.handle(HttpRequest::new("GET", "/_armsim/faults"));
            assert_eq!(shown.json_body().expect("json")[0]["name"], "slow");
            let resp = backup(&sim);
            assert_eq!(resp.delivery.delay_ms, 5);
            let bad =
                sim.handle(HttpRequest::new("PUT", "/_armsim/faults").json(&json!([{"acton": 1}])));
            assert_eq!(bad.status, 400);
        }
    }
}
