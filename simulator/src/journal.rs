//! The journal: every exchange the simulator answered, with wall and virtual timestamps, secrets redacted.
//!
//! The harness's oracle judges clients from this record alone, so it keeps what the rules need: when each
//! request arrived (wall time, which is what a client's sleeping spends, and virtual time), what was asked,
//! what was answered, which route and operation it touched, and which fault (if any) shaped the answer.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::Timestamp;
use crate::http::{HttpRequest, HttpResponse};

/// The text that stands where a secret was.
pub const REDACTED: &str = "<redacted>";

/// Header names whose values are secrets.
const SECRET_HEADERS: [&str; 3] = ["authorization", "x-ms-storage-key", "cookie"];

/// JSON keys (at any depth, case-insensitive) whose values are secrets.
const SECRET_KEYS: [&str; 8] = [
    "accesskey",
    "client_secret",
    "clientsecret",
    "access_token",
    "refresh_token",
    "client_assertion",
    "value", // the key values in listKeys answers, only under a "keys" array (see `redact_json`)
    "password",
];

/// One request and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    /// Position in the run, from 1.
    pub seq: u64,
    /// Wall milliseconds since the simulator started: what a client's own waiting spends.
    pub wall_ms: u64,
    /// Virtual time at which the request was handled.
    pub at: Timestamp,
    pub method: String,
    pub path: String,
    pub query: String,
    pub request_headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<Value>,
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<Value>,
    /// The route's stable name (`service.backup`, `operation.poll`, …).
    pub route: String,
    /// The operation this exchange started or polled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// The fault that shaped this answer, by its name in the fault plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

impl JournalEntry {
    pub fn request_header(&self, name: &str) -> Option<&str> {
        find(&self.request_headers, name)
    }
    pub fn response_header(&self, name: &str) -> Option<&str> {
        find(&self.response_headers, name)
    }
    /// The decoded value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        crate::http::query_pairs(&self.query)
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What a new journal entry is made from; the journal assigns `seq`.
pub struct Exchange<'a> {
    pub wall_ms: u64,
    pub at: Timestamp,
    pub request: &'a HttpRequest,
    pub response: &'a HttpResponse,
    pub route: &'static str,
    pub operation_id: Option<String>,
    pub fault: Option<String>,
}

/// A bounded ring of entries: the oldest are dropped once `capacity` is reached, so memory stays flat.
#[derive(Debug)]
pub struct Journal {
    entries: VecDeque<Raw>,
    capacity: usize,
    next_seq: u64,
}

/// An exchange as recorded: bodies kept as the bytes that were sent (a cheap reference-counted copy) and
/// parsed and redacted only when the journal is read. Recording is on every request's path; reading is
/// rare. What leaves the journal is always redacted.
#[derive(Debug)]
struct Raw {
    seq: u64,
    wall_ms: u64,
    at: Timestamp,
    method: String,
    path: String,
    query: String,
    request_headers: Vec<(String, String)>,
    request_body: KeptBody,
    status: u16,
    response_headers: Vec<(String, String)>,
    response_body: KeptBody,
    route: &'static str,
    operation_id: Option<String>,
    fault: Option<String>,
}

#[derive(Debug)]
enum KeptBody {
    Bytes(bytes::Bytes),
    /// Larger than [`MAX_KEPT_BODY`]: only its size is kept.
    TooLarge(usize),
}

impl KeptBody {
    fn keep(body: &bytes::Bytes) -> Self {
        if body.len() > MAX_KEPT_BODY {
            KeptBody::TooLarge(body.len())
        } else {
            KeptBody::Bytes(body.clone())
        }
    }

    fn value(&self) -> Option<Value> {
        match self {
            KeptBody::Bytes(b) => body_value(b),
            KeptBody::TooLarge(n) => Some(Value::String(format!("<body of {n} bytes not kept>"))),
        }
    }
}

impl Raw {
    fn entry(&self) -> JournalEntry {
        JournalEntry {
            seq: self.seq,
            wall_ms: self.wall_ms,
            at: self.at,
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            request_headers: redact_headers(&self.request_headers),
            request_body: self.request_body.value(),
            status: self.status,
            response_headers: redact_headers(&self.response_headers),
            response_body: self.response_body.value(),
            route: self.route.to_string(),
            operation_id: self.operation_id.clone(),
            fault: self.fault.clone(),
        }
    }
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 1,
        }
    }

    pub fn record(&mut self, x: Exchange<'_>) {
        let entry = Raw {
            seq: self.next_seq,
            wall_ms: x.wall_ms,
            at: x.at,
            method: x.request.method.clone(),
            path: x.request.path.clone(),
            query: x.request.query.clone(),
            request_headers: x.request.headers.clone(),
            request_body: KeptBody::keep(&x.request.body),
            status: x.response.status,
            response_headers: x.response.headers.clone(),
            response_body: KeptBody::keep(&x.response.body),
            route: x.route,
            operation_id: x.operation_id,
            fault: x.fault,
        };
        self.next_seq += 1;
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries.iter().map(Raw::entry).collect()
    }

    /// Entries with `seq > after`.
    pub fn since(&self, after: u64) -> Vec<JournalEntry> {
        self.entries
            .iter()
            .filter(|e| e.seq > after)
            .map(Raw::entry)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.next_seq = 1;
    }
}

fn redact_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            let secret = SECRET_HEADERS.iter().any(|s| n.eq_ignore_ascii_case(s));
            let value = if secret {
                // Keep the scheme so a reader can still see *how* the client authenticated.
                match v.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} {REDACTED}"),
                    None => REDACTED.to_string(),
                }
            } else {
                v.clone()
            };
            (n.to_ascii_lowercase(), value)
        })
        .collect()
}

/// Bodies larger than this are not kept (a note with their size stands instead): ARM bodies in this API
/// are a few hundred bytes, and an entry must stay small for the ring to bound memory (a 4 MiB body or a
/// journal dump would otherwise be copied into every entry).
pub const MAX_KEPT_BODY: usize = 64 * 1024;

/// The body as redacted JSON; a form body (token requests) becomes an object of its fields; anything else
/// becomes a string of at most 4 KiB.
fn body_value(body: &[u8]) -> Option<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    if let Ok(mut v) = serde_json::from_slice::<Value>(body) {
        redact_json(&mut v, false);
        return Some(v);
    }
    let text = String::from_utf8_lossy(body);
    if text.contains('=') && !text.contains(' ') && !text.contains('{') {
        let mut obj = serde_json::Map::new();
        for (k, v) in crate::http::query_pairs(&text) {
            obj.insert(k, Value::String(v));
        }
        let mut v = Value::Object(obj);
        redact_json(&mut v, false);
        return Some(v);
    }
    let mut s: String = text.chars().take(4096).collect();
    for key in ["accessKey", "client_secret", "access_token"] {
        if s.contains(key) {
            s = format!("{REDACTED} (unparsed body that mentions {key})");
        }
    }
    Some(Value::String(s))
}

/// Replaces secret values in place. `in_keys` is true under a `keys` array, where `value` holds a
/// storage key (listKeys / regenerateKey answers).
pub fn redact_json(v: &mut Value, in_keys: bool) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let lower = k.to_ascii_lowercase();
                let secret = SECRET_KEYS.contains(&lower.as_str()) && (lower != "value" || in_keys);
                if secret && !val.is_null() {
                    *val = Value::String(REDACTED.into());
                } else {
                    redact_json(val, lower == "keys");
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_json(i, in_keys)),
        Value::String(s) if in_keys => *s = REDACTED.into(), // a state dump's `keys: [..]`
        Value::String(s) if s.starts_with("Bearer ") => *s = format!("Bearer {REDACTED}"),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_hides_access_keys_storage_keys_and_tokens() {
        let mut v = json!({
            "storageAccount": "acct", "accessKey": "SECRET1",
            "keys": [{"keyName": "key1", "value": "SECRET2", "permissions": "FULL"}],
            "nested": {"client_secret": "SECRET3", "access_token": "SECRET4"},
            "value": [{"name": "not-a-secret"}]
        });
        redact_json(&mut v, false);
        let text = v.to_string();
        for s in ["SECRET1", "SECRET2", "SECRET3", "SECRET4"] {
            assert!(!text.contains(s), "{s} leaked: {text}");
        }
        assert!(text.contains("not-a-secret"), "{text}");
        assert!(text.contains("key1"), "{text}");
    }

    #[test]
    fn authorization_keeps_its_scheme_only() {
        let h = redact_headers(&[("Authorization".into(), "Bearer abc.def.ghi".into())]);
        assert_eq!(
            h,
            vec![("authorization".into(), format!("Bearer {REDACTED}"))]
        );
    }

    #[test]
    fn form_bodies_are_parsed_and_redacted() {
        let v = body_value(b"grant_type=client_credentials&client_id=app&client_secret=s3cr3t%21")
            .expect("body");
        assert_eq!(v["client_id"], "app");
        assert_eq!(v["client_secret"], REDACTED);
    }

    #[test]
    fn the_ring_drops_the_oldest_entries() {
        let mut j = Journal::new(2);
        let req = HttpRequest::new("GET", "/x");
        let resp = HttpResponse::new(200);
        for _ in 0..3 {
            j.record(Exchange {
                wall_ms: 0,
                at: Timestamp::from_millis(0),
                request: &req,
                response: &resp,
                route: "other",
                operation_id: None,
                fault: None,
            });
        }
        let seqs: Vec<u64> = j.entries().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![2, 3]);
    }
}
