//! Harness-driven steps, and the reference poller that `pollUntilDone` uses.
//!
//! Steps run against any endpoint through [`HttpClient`]; the few that only a simulator can do
//! (advance the clock, read blobs) use the in-process [`Simulator`] when there is one. A failed
//! expectation becomes a [`Finding`] naming the step; the run stops at the first failing step.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use armsim_simulator::{ClockMode, Simulator, VDuration};

use crate::http::{HttpClient, Response};
use crate::oracle::{Finding, Severity};
use crate::scenario::{
    PollStep, RequestStep, ResponseExpectation, Step, WorldChange, WorldExpectation,
};

/// Names the steps use in paths and bodies.
#[derive(Debug, Clone)]
pub struct Names {
    pub subscription: String,
    pub resource_group: String,
    pub storage_account: String,
    pub container: String,
    pub backup_name: String,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            subscription: "00000000-0000-0000-0000-000000000000".into(),
            resource_group: "contoso-dr".into(),
            storage_account: "contosobackups".into(),
            container: "apim-backups".into(),
            backup_name: "armsim.apimbackup".into(),
        }
    }
}

/// The operation a 202 started: its monitor URLs as given.
#[derive(Debug, Clone, Default)]
struct CurrentOp {
    aao: Option<String>,
    location: Option<String>,
    retry_after: Option<u64>,
}

pub struct StepRunner {
    pub http: HttpClient,
    pub sim: Option<Arc<Simulator>>,
    pub names: Names,
    storage_key: Option<String>,
    stale_key: Option<String>,
    op: Option<CurrentOp>,
    /// Operations started and not yet polled to the end: a shared endpoint must be left idle.
    pending: Vec<CurrentOp>,
}

fn fail(step: &str, message: String, expected: String, actual: String) -> Finding {
    Finding {
        rule: "scenario.step".into(),
        severity: Severity::Error,
        message: format!("{step}: {message}"),
        expected,
        actual,
        journal_seq: None,
    }
}

fn pointer(v: &Value, p: &str) -> Option<Value> {
    let p = if p.starts_with('/') || p.is_empty() {
        p.to_string()
    } else {
        format!("/{}", p.replace('.', "/"))
    };
    v.pointer(&p).cloned()
}

fn short(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    if s.len() > 300 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(300).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s.into_owned()
    }
}

impl StepRunner {
    pub fn new(http: HttpClient, sim: Option<Arc<Simulator>>, names: Names) -> Self {
        Self {
            http,
            sim,
            names,
            storage_key: None,
            stale_key: None,
            op: None,
            pending: Vec::new(),
        }
    }

    async fn key(&mut self) -> Result<String, String> {
        if let Some(k) = &self.storage_key {
            return Ok(k.clone());
        }
        let path = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Storage/storageAccounts/{}/listKeys?api-version=2023-01-01",
            self.names.subscription, self.names.resource_group, self.names.storage_account
        );
        let resp = self.http.send("POST", &path, &[], None, false).await?;
        let key = resp
            .json()
            .and_then(|v| {
                v.pointer("/keys/0/value")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .ok_or_else(|| format!("listKeys answered {} without keys", resp.status))?;
        self.storage_key = Some(key.clone());
        Ok(key)
    }

    async fn fill(&mut self, text: &str, service: &str) -> Result<String, String> {
        let mut s = text
            .replace("{subscription}", &self.names.subscription)
            .replace("{resourceGroup}", &self.names.resource_group)
            .replace("{service}", service)
            .replace("{storageAccount}", &self.names.storage_account)
            .replace("{container}", &self.names.container)
            .replace("{backupName}", &self.names.backup_name);
        if s.contains("{staleKey}") {
            let stale = self
                .stale_key
                .clone()
                .ok_or("{staleKey} needs an earlier regenerateKey step")?;
            s = s.replace("{staleKey}", &stale);
        }
        if s.contains("{storageKey}") {
            let key = self.key().await?;
            s = s.replace("{storageKey}", &key);
        }
        Ok(s)
    }

    async fn fill_json(&mut self, v: &Value, service: &str) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => Value::String(self.fill(s, service).await?),
            Value::Array(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.push(Box::pin(self.fill_json(i, service)).await?);
                }
                Value::Array(out)
            }
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, i) in map {
                    out.insert(k.clone(), Box::pin(self.fill_json(i, service)).await?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    /// Runs every step; the first failure ends the run.
    pub async fn run(&mut self, steps: &[Step]) -> Option<Finding> {
        for (i, step) in steps.iter().enumerate() {
            let label = format!("step {} ({})", i + 1, describe(step));
            if let Err(f) = self.step(step, &label).await {
                return Some(f);
            }
        }
        None
    }

    async fn step(&mut self, step: &Step, label: &str) -> Result<(), Finding> {
        let io = |e: String| {
            fail(
                label,
                "the request could not be made".into(),
                "an answer".into(),
                e,
            )
        };
        match step {
            Step::Request(r) => self.request(r, label).await,
            Step::PollUntilDone(p) => self.poll(p, label).await,
            Step::AdvanceClock(by) => {
                let sim = self.sim.as_ref().ok_or_else(|| {
                    fail(
                        label,
                        "needs a simulator".into(),
                        "an in-process simulator".into(),
                        "none".into(),
                    )
                })?;
                sim.advance(*by);
                Ok(())
            }
            Step::ChangeWorld(c) => {
                let sub = self.names.subscription.clone();
                let rg = self.names.resource_group.clone();
                let (method, path, body) = match c {
                    WorldChange::PutApi { service, api } => (
                        "PUT",
                        format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ApiManagement/service/{service}/apis/{api}?api-version=2024-05-01"),
                        Some(json!({"properties": {"displayName": api, "path": api, "protocols": ["https"]}})),
                    ),
                    WorldChange::DeleteApi { service, api } => (
                        "DELETE",
                        format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ApiManagement/service/{service}/apis/{api}?api-version=2024-05-01"),
                        None,
                    ),
                    WorldChange::RegenerateKey { account, key } => {
                        let before = self.key().await.map_err(io)?;
                        self.stale_key = Some(before);
                        self.storage_key = None;
                        (
                            "POST",
                            format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{account}/regenerateKey?api-version=2023-01-01"),
                            Some(json!({"keyName": key})),
                        )
                    }
                };
                let resp = self
                    .http
                    .send(method, &path, &[], body.as_ref(), false)
                    .await
                    .map_err(io)?;
                if resp.status >= 300 {
                    return Err(fail(
                        label,
                        "the change was refused".into(),
                        "2xx".into(),
                        format!("{} {}", resp.status, short(&resp.body)),
                    ));
                }
                Ok(())
            }
            Step::ExpectWorld(x) => self.expect_world(x, label).await,
        }
    }

    async fn request(&mut self, r: &RequestStep, label: &str) -> Result<(), Finding> {
        let service = r.service.clone().unwrap_or_else(|| "contoso-apim".into());
        let io = |e: String| {
            fail(
                label,
                "the request could not be made".into(),
                "an answer".into(),
                e,
            )
        };
        let path = self.fill(&r.path, &service).await.map_err(io)?;
        let body = match &r.body {
            Some(b) => Some(self.fill_json(b, &service).await.map_err(io)?),
            None => None,
        };
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let resp = self
            .http
            .send(&r.method, &path, &headers, body.as_ref(), r.anonymous)
            .await
            .map_err(io)?;
        if resp.status == 202 {
            let op = CurrentOp {
                aao: resp.header("azure-asyncoperation").map(str::to_string),
                location: resp.header("location").map(str::to_string),
                retry_after: resp
                    .header("retry-after")
                    .and_then(|v| v.trim().parse().ok()),
            };
            self.pending.push(op.clone());
            self.op = Some(op);
        }
        check_response(&resp, &r.expect, label)
    }

    async fn wait(&self, retry_after: Option<u64>) {
        let secs = retry_after.unwrap_or(60);
        match &self.sim {
            Some(sim) if sim.clock_mode() == ClockMode::Manual => {
                sim.advance(VDuration::from_secs(secs as i64));
            }
            _ => tokio::time::sleep(Duration::from_secs(secs.min(120))).await,
        }
    }

    async fn get_retrying(&self, url: &str) -> Result<Response, String> {
        let mut last = String::new();
        for attempt in 0..6 {
            match self.http.send("GET", url, &[], None, false).await {
                Ok(r) if matches!(r.status, 408 | 429 | 500 | 502 | 503 | 504) => {
                    if attempt == 5 {
                        // Still transient after the retries: that answer is the result.
                        return Ok(r);
                    }
                    let ra = r
                        .header("retry-after")
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(1);
                    last = format!("{} {}", r.status, short(&r.body));
                    self.wait(Some(ra)).await;
                }
                Ok(r) => return Ok(r),
                Err(e) => {
                    last = e;
                    self.wait(Some(1)).await;
                }
            }
        }
        Err(format!("still failing after 6 tries: {last}"))
    }

    /// Polls every operation the steps started and left running, so the next scenario finds the
    /// endpoint idle (target mode: a real endpoint is shared state). Outcomes are not judged.
    pub async fn settle_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let quiet = PollStep {
            expect: Default::default(),
            max_polls: 200,
        };
        for op in pending {
            self.op = Some(op);
            let _ = Box::pin(self.poll(&quiet, "cleanup")).await;
        }
    }

    async fn poll(&mut self, p: &PollStep, label: &str) -> Result<(), Finding> {
        if let Some(current) = &self.op {
            let same = |o: &CurrentOp| o.location == current.location && o.aao == current.aao;
            self.pending.retain(|o| !same(o));
        }
        let Some(op) = self.op.clone() else {
            return Err(fail(
                label,
                "no operation to poll".into(),
                "an earlier request answered 202".into(),
                "none".into(),
            ));
        };
        let io = |e: String| {
            fail(
                label,
                "a poll could not be made".into(),
                "an answer".into(),
                e,
            )
        };
        let mut retry_after = op.retry_after;
        let mut location = op.location.clone();
        let mut polls = 0u32;
        let (outcome, status, body) = loop {
            if polls >= p.max_polls {
                break ("Running".to_string(), 202, Value::Null);
            }
            self.wait(retry_after).await;
            polls += 1;
            let url = match (&op.aao, &location) {
                (Some(a), _) => a.clone(),
                (None, Some(l)) => l.clone(),
                (None, None) => break ("Succeeded".to_string(), 202, Value::Null),
            };
            let resp = self.get_retrying(&url).await.map_err(io)?;
            retry_after = resp
                .header("retry-after")
                .and_then(|v| v.trim().parse().ok());
            if op.aao.is_some() {
                let body = resp.json().unwrap_or(Value::Null);
                if resp.status >= 400 {
                    break ("Failed".into(), resp.status, body);
                }
                let st = body
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                match st.to_ascii_lowercase().as_str() {
                    "succeeded" => {
                        if let Some(l) = &op.location {
                            let fin = self.get_retrying(l).await.map_err(io)?;
                            break (
                                "Succeeded".into(),
                                fin.status,
                                fin.json().unwrap_or(Value::Null),
                            );
                        }
                        break ("Succeeded".into(), resp.status, body);
                    }
                    "failed" | "canceled" => break ("Failed".into(), resp.status, body),
                    _ => continue,
                }
            }
            if resp.status == 202 {
                if let Some(l) = resp.header("location") {
                    location = Some(l.to_string());
                }
                continue;
            }
            let body = resp.json().unwrap_or(Value::Null);
            let outcome = if resp.status < 300 {
                "Succeeded"
            } else {
                "Failed"
            };
            break (outcome.to_string(), resp.status, body);
        };
        let x = &p.expect;
        let mismatch = |what: &str, want: String, got: String| {
            Err(fail(
                label,
                format!("the operation's {what} differs"),
                want,
                got,
            ))
        };
        if let Some(want) = &x.outcome {
            if !want.eq_ignore_ascii_case(&outcome) {
                return mismatch(
                    "outcome",
                    want.clone(),
                    format!("{outcome} ({status} {body})"),
                );
            }
        }
        if let Some(want) = x.status {
            if want != status {
                return mismatch("final status", want.to_string(), format!("{status} {body}"));
            }
        }
        let code = body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(want) = &x.code {
            if *want != code {
                return mismatch(
                    "error code",
                    want.clone(),
                    format!("'{code}' ({status} {body})"),
                );
            }
        }
        if let Some(want) = &x.message_contains {
            let msg = body
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !msg.contains(want.as_str()) {
                return mismatch("error message", format!("…{want}…"), msg.to_string());
            }
        }
        if let Some(min) = x.min_polls {
            if polls < min {
                return mismatch("poll count", format!("≥ {min}"), polls.to_string());
            }
        }
        Ok(())
    }

    async fn expect_world(&mut self, x: &WorldExpectation, label: &str) -> Result<(), Finding> {
        let io = |e: String| {
            fail(
                label,
                "the world could not be read".into(),
                "an answer".into(),
                e,
            )
        };
        match x {
            WorldExpectation::BlobExists {
                account,
                container,
                name,
                apis,
            } => {
                let resp = self
                    .http
                    .send(
                        "GET",
                        &format!("/_armsim/blobs/{account}/{container}/{name}"),
                        &[],
                        None,
                        true,
                    )
                    .await
                    .map_err(io)?;
                if resp.status != 200 {
                    return Err(fail(
                        label,
                        format!("blob '{name}' should exist in {account}/{container}"),
                        "200".into(),
                        format!("{} {}", resp.status, short(&resp.body)),
                    ));
                }
                if let Some(want) = apis {
                    let mut got: Vec<String> = resp
                        .json()
                        .and_then(|v| v.pointer("/backup/apis").cloned())
                        .and_then(|a| a.as_array().cloned())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|a| a.get("name").and_then(Value::as_str).map(str::to_string))
                        .collect();
                    got.sort();
                    let mut want = want.clone();
                    want.sort();
                    if got != want {
                        return Err(fail(
                            label,
                            format!("backup '{name}' holds other APIs"),
                            want.join(", "),
                            got.join(", "),
                        ));
                    }
                }
                Ok(())
            }
            WorldExpectation::BlobAbsent {
                account,
                container,
                name,
            } => {
                let resp = self
                    .http
                    .send(
                        "GET",
                        &format!("/_armsim/blobs/{account}/{container}/{name}"),
                        &[],
                        None,
                        true,
                    )
                    .await
                    .map_err(io)?;
                if resp.status == 200 {
                    return Err(fail(
                        label,
                        format!("blob '{name}' should not exist"),
                        "404".into(),
                        "200".into(),
                    ));
                }
                Ok(())
            }
            WorldExpectation::ServiceApis { service, apis } => {
                let path = format!(
                    "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{service}/apis?api-version=2024-05-01",
                    self.names.subscription, self.names.resource_group
                );
                let resp = self
                    .http
                    .send("GET", &path, &[], None, false)
                    .await
                    .map_err(io)?;
                let mut got: Vec<String> = resp
                    .json()
                    .and_then(|v| v.get("value").and_then(Value::as_array).cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|a| a.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect();
                got.sort();
                let mut want = apis.clone();
                want.sort();
                if got != want {
                    return Err(fail(
                        label,
                        format!("service '{service}' has other APIs"),
                        want.join(", "),
                        got.join(", "),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Checks an answer against a step's expectations.
pub fn check_response(
    resp: &Response,
    x: &ResponseExpectation,
    label: &str,
) -> Result<(), Finding> {
    if let Some(want) = x.status {
        if resp.status != want {
            return Err(fail(
                label,
                "unexpected status".into(),
                want.to_string(),
                format!("{} {}", resp.status, short(&resp.body)),
            ));
        }
    }
    for (name, want) in &x.headers {
        let got = resp.header(name);
        let ok = match want.as_str() {
            "present" => got.is_some(),
            "absent" => got.is_none(),
            exact => got == Some(exact),
        };
        if !ok {
            return Err(fail(
                label,
                format!("header '{name}'"),
                want.clone(),
                got.unwrap_or("(absent)").to_string(),
            ));
        }
    }
    for (name, want) in &x.header_contains {
        let got = resp.header(name);
        if !got.is_some_and(|g| g.contains(want.as_str())) {
            return Err(fail(
                label,
                format!("header '{name}' should contain the text"),
                want.clone(),
                got.unwrap_or("(absent)").to_string(),
            ));
        }
    }
    if !x.json.is_empty() || !x.contains.is_empty() {
        let body = resp.json().unwrap_or(Value::Null);
        for (p, want) in &x.json {
            let got = pointer(&body, p);
            if got.as_ref() != Some(want) {
                return Err(fail(
                    label,
                    format!("JSON at '{p}'"),
                    want.to_string(),
                    got.map(|g| g.to_string())
                        .unwrap_or_else(|| "(missing)".into()),
                ));
            }
        }
        for (p, want) in &x.contains {
            let got = pointer(&body, p).map(|g| match g {
                Value::String(s) => s,
                other => other.to_string(),
            });
            if !got.as_deref().is_some_and(|g| g.contains(want.as_str())) {
                return Err(fail(
                    label,
                    format!("JSON at '{p}' should contain the text"),
                    want.clone(),
                    got.unwrap_or_else(|| "(missing)".into()),
                ));
            }
        }
    }
    Ok(())
}

/// A one-line description of a step for reports.
pub fn describe(step: &Step) -> String {
    match step {
        Step::Request(r) => {
            let path = r.path.split('?').next().unwrap_or("");
            let tail: Vec<&str> = path.rsplit('/').take(2).collect();
            format!(
                "request {} …/{}",
                r.method,
                tail.into_iter().rev().collect::<Vec<_>>().join("/")
            )
        }
        Step::PollUntilDone(_) => "pollUntilDone".into(),
        Step::AdvanceClock(by) => format!("advanceClock {by}"),
        Step::ChangeWorld(c) => format!(
            "changeWorld {}",
            match c {
                WorldChange::PutApi { .. } => "putApi",
                WorldChange::DeleteApi { .. } => "deleteApi",
                WorldChange::RegenerateKey { .. } => "regenerateKey",
            }
        ),
        Step::ExpectWorld(_) => "expectWorld".into(),
    }
}
