//! Bytes ↔ typed requests. [`HttpRequest`] and [`HttpResponse`] are plain data, free of hyper, so the
//! engine can be driven in-process (tests, property tests, fuzzing) exactly as over the network. Their
//! headers are the `http` crate's `HeaderMap`, the type hyper parses into and encodes from, so the server
//! moves them across instead of copying them.

pub mod route;

use std::borrow::Cow;

use bytes::Bytes;
pub use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::arm::error::ArmError;

/// One request as the simulator sees it.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// Upper case; the standard methods as constants.
    method: Cow<'static, str>,
    target: Target,
    /// As received: the map hyper parsed, moved rather than copied (names lower-case, values as bytes).
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A request's path and query, percent-encoded as sent.
#[derive(Debug, Clone)]
enum Target {
    /// A request served: hyper's parsed copy, moved rather than copied (copying the method, path and
    /// query into three strings was 640 instructions a served request, and freeing them 270 more).
    Served(http::uri::PathAndQuery),
    /// A request made in code (tests, the harness, the fuzzer), which may hold what no URI parser
    /// takes: the text, and where its `?` is.
    Made {
        text: String,
        query_at: Option<usize>,
    },
}

impl Default for Target {
    fn default() -> Self {
        Target::Made {
            text: String::new(),
            query_at: None,
        }
    }
}

impl HttpRequest {
    pub fn new(method: &str, path_and_query: &str) -> Self {
        Self {
            method: method_text(method),
            target: Target::Made {
                text: path_and_query.to_string(),
                query_at: path_and_query.find('?'),
            },
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// A request as hyper parsed it, its method, path and query moved in rather than copied.
    pub fn served(method: &http::Method, target: Option<http::uri::PathAndQuery>) -> Self {
        Self {
            method: method_text(method.as_str()),
            target: match target {
                Some(target) => Target::Served(target),
                None => Target::Made {
                    text: "/".to_string(),
                    query_at: None,
                },
            },
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// The method, upper case.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path as sent, percent-encoded, without the query.
    pub fn path(&self) -> &str {
        match &self.target {
            Target::Served(target) => target.path(),
            Target::Made { text, query_at } => match query_at {
                Some(q) => text.get(..*q).unwrap_or(text),
                None => text,
            },
        }
    }

    /// The raw query string, without the `?`; empty when there is none.
    pub fn query(&self) -> &str {
        match &self.target {
            Target::Served(target) => target.query().unwrap_or(""),
            Target::Made { text, query_at } => match query_at {
                Some(q) => text.get(*q + 1..).unwrap_or(""),
                None => "",
            },
        }
    }

    /// Adds a header (for requests built in code: tests, the harness).
    ///
    /// # Panics
    /// On a name or value HTTP forbids (a control character, a space in the name): such a request
    /// cannot reach the server, so building one is a defect in the caller.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            panic!("not a valid HTTP header: {name:?}: {value:?}");
        };
        self.headers.append(n, v);
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = Bytes::from(body.to_string());
        self.header("content-type", "application/json")
    }

    /// The first value of a header, by case-insensitive name (text, or a [`HeaderName`] constant, which
    /// skips parsing the name); `None` when absent or not UTF-8.
    pub fn header_value(&self, name: impl header::AsHeaderName) -> Option<&str> {
        text(self.headers.get(name)?)
    }

    /// The decoded value of a query parameter, by case-insensitive name (ARM treats `API-VERSION` alike).
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        query_param(self.query(), name)
    }

    pub fn path_and_query(&self) -> String {
        if self.query().is_empty() {
            self.path().to_string()
        } else {
            format!("{}?{}", self.path(), self.query())
        }
    }

    /// The body as JSON. An empty body is `None`; a malformed one is ARM's `InvalidRequestContent`.
    pub fn json_body(&self) -> Result<Option<Value>, ArmError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&self.body)
            .map(Some)
            .map_err(|e| ArmError::invalid_request_content(&e.to_string()))
    }
}

/// A method as [`HttpRequest`] keeps it: upper case, the standard ones as constants.
fn method_text(method: &str) -> Cow<'static, str> {
    const STANDARD: [&str; 7] = ["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    match STANDARD.iter().find(|m| **m == method) {
        Some(m) => Cow::Borrowed(m),
        None => Cow::Owned(method.to_ascii_uppercase()),
    }
}

/// The request headers armsim reads on every ARM request, found in one pass over the request's map.
/// A request carries a handful of headers, so comparing names is cheaper than a hash lookup for each
/// (hashing the long `x-ms-*` names was most of a lookup's cost). As with `HeaderMap::get`, the first
/// value of a repeated name is the one kept.
#[derive(Debug, Default, Clone, Copy)]
pub struct KnownHeaders<'a> {
    pub host: Option<&'a HeaderValue>,
    pub authorization: Option<&'a HeaderValue>,
    pub content_type: Option<&'a HeaderValue>,
    pub correlation_id: Option<&'a HeaderValue>,
    pub client_request_id: Option<&'a HeaderValue>,
    pub return_client_request_id: Option<&'a HeaderValue>,
}

impl<'a> KnownHeaders<'a> {
    pub fn of(headers: &'a HeaderMap) -> Self {
        let mut known = Self::default();
        for (name, value) in headers {
            let slot = if name == header::HOST {
                &mut known.host
            } else if name == header::AUTHORIZATION {
                &mut known.authorization
            } else if name == header::CONTENT_TYPE {
                &mut known.content_type
            } else if name == names::CORRELATION_ID {
                &mut known.correlation_id
            } else if name == names::CLIENT_REQUEST_ID {
                &mut known.client_request_id
            } else if name == names::RETURN_CLIENT_REQUEST_ID {
                &mut known.return_client_request_id
            } else {
                continue;
            };
            slot.get_or_insert(value);
        }
        known
    }
}

/// Whether a `Content-Type` names JSON: `application/json`, `text/json` or any `…+json`, in any case,
/// parameters (`; charset=utf-8`) aside. Compared in place: lower-casing a copy allocated on every PUT,
/// PATCH and POST with a body.
pub fn is_json_media_type(content_type: &str) -> bool {
    let end = memchr::memchr(b';', content_type.as_bytes()).unwrap_or(content_type.len());
    let media = content_type.get(..end).unwrap_or("").trim().as_bytes();
    media.eq_ignore_ascii_case(b"application/json")
        || media.eq_ignore_ascii_case(b"text/json")
        || media.len() >= 5 && media[media.len() - 5..].eq_ignore_ascii_case(b"+json")
}

/// A header value as text, when it is UTF-8 (HTTP allows other bytes; no ARM header uses them).
pub fn text(value: &HeaderValue) -> Option<&str> {
    std::str::from_utf8(value.as_bytes()).ok()
}

/// One response as the simulator produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    /// In http's own map, so answering moves it to hyper as is; the names and the values that never
    /// change (`Cache-Control: no-cache`, …) are constants, not allocations.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// How the server puts this answer on the wire (late, cut short, not at all): set by faults.
    pub delivery: crate::fault::Delivery,
}

impl HttpResponse {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: HeaderMap::with_capacity(16),
            body: Bytes::new(),
            delivery: Default::default(),
        }
    }

    pub fn json(status: u16, body: &Value) -> Self {
        let mut resp = Self::new(status);
        resp.set(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        resp.body = Bytes::from(body.to_string());
        resp
    }

    pub fn text(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        let mut resp = Self::new(status);
        resp.set_header("content-type", content_type);
        resp.body = body.into();
        resp
    }

    pub fn error(err: &ArmError) -> Self {
        let mut resp = Self::json(err.status, &err.body());
        for (n, v) in &err.headers {
            resp.set_header(n, v.as_str());
        }
        resp
    }

    /// Sets a header, replacing any with the same name: the hot path, with a name and value already made.
    pub fn set(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.insert(name, value);
    }

    /// Sets a header to text armsim made (an id, a URL), moving it rather than copying it.
    pub fn set_text(&mut self, name: HeaderName, value: String) {
        self.set_bytes(name, Bytes::from(value));
    }

    /// Sets a header to bytes armsim made (an id), moving them rather than copying them.
    pub fn set_bytes(&mut self, name: HeaderName, value: Bytes) {
        match HeaderValue::from_maybe_shared(value) {
            Ok(v) => self.set(name, v),
            Err(_) => tracing::warn!(header = %name, "left out a header with an invalid value"),
        }
    }

    /// Sets a header by name and text, replacing any with the same (case-insensitive) name. A name or
    /// value HTTP forbids (only possible from a fault plan's text, which is checked when read) is left
    /// out with a warning rather than failing the whole answer.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let name = match known_header(name) {
            Some(known) => known,
            None => match HeaderName::from_bytes(name.as_bytes()) {
                Ok(n) => n,
                Err(_) => {
                    tracing::warn!(header = %name, "left out a header with an invalid name");
                    return;
                }
            },
        };
        self.set_text(name, value.into());
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set_header(name, value);
        self
    }

    /// The first value of a header, by case-insensitive name (text, or a [`HeaderName`] constant, which
    /// skips parsing the name); `None` when absent or not UTF-8.
    pub fn header_value(&self, name: impl header::AsHeaderName) -> Option<&str> {
        text(self.headers.get(name)?)
    }

    /// Every header as `(name, value)` text, in the map's order (values not UTF-8 decoded lossily).
    pub fn header_pairs(&self) -> impl Iterator<Item = (&str, std::borrow::Cow<'_, str>)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v.as_bytes())))
    }

    pub fn json_body(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A number as a header value (`Content-Length`, `Retry-After`, the rate-limit counters). Up to 12,000 —
/// every `Retry-After`, most bodies' lengths, both rate-limit counters (ARM's hourly 12,000 reads and
/// 1,200 writes) — they are slices of one text written once (49 KB of digits and 48 KB of offsets): a
/// value is made without formatting or allocating, and cloned and dropped without counting references.
pub fn number_value(n: u64) -> HeaderValue {
    const SHARED: usize = 12_000;
    /// The digits of 0 to `SHARED` one after another, and where each number starts (one more offset
    /// at the end, so number `i` is `bounds[i]..bounds[i + 1]`).
    static TEXT: std::sync::LazyLock<(String, Vec<u32>)> = std::sync::LazyLock::new(|| {
        let mut text = String::with_capacity(5 * (SHARED + 1));
        let mut bounds = Vec::with_capacity(SHARED + 2);
        bounds.push(0);
        for i in 0..=SHARED {
            let _ = std::fmt::Write::write_fmt(&mut text, format_args!("{i}"));
            bounds.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        (text, bounds)
    });
    let (text, bounds) = &*TEXT;
    let shared = usize::try_from(n).ok().and_then(|i| {
        let (start, end) = (*bounds.get(i)? as usize, *bounds.get(i + 1)? as usize);
        let digits = text.get(start..end)?;
        HeaderValue::from_maybe_shared(Bytes::from_static(digits.as_bytes())).ok()
    });
    shared.unwrap_or_else(|| HeaderValue::from(n))
}

/// The header names on armsim's answers, and the non-standard ones it reads on every request, as
/// constants: no parsing or allocation on the way out, no name to parse on a lookup.
pub mod names {
    use super::HeaderName;

    const fn custom(name: &'static str) -> HeaderName {
        HeaderName::from_static(name)
    }
    pub const REQUEST_ID: HeaderName = custom("x-ms-request-id");
    pub const CORRELATION_ID: HeaderName = custom("x-ms-correlation-request-id");
    pub const ROUTING_ID: HeaderName = custom("x-ms-routing-request-id");
    pub const READS_LEFT: HeaderName = custom("x-ms-ratelimit-remaining-subscription-reads");
    pub const WRITES_LEFT: HeaderName = custom("x-ms-ratelimit-remaining-subscription-writes");
    pub const CLIENT_REQUEST_ID: HeaderName = custom("x-ms-client-request-id");
    pub const ASYNC_OPERATION: HeaderName = custom("azure-asyncoperation");
    /// Read on requests, never sent.
    pub const RETURN_CLIENT_REQUEST_ID: HeaderName = custom("x-ms-return-client-request-id");
}

/// The constant for a header name armsim sends, by its lower-case text.
fn known_header(name: &str) -> Option<HeaderName> {
    Some(match name {
        "x-ms-request-id" => names::REQUEST_ID,
        "x-ms-correlation-request-id" => names::CORRELATION_ID,
        "x-ms-routing-request-id" => names::ROUTING_ID,
        "x-ms-ratelimit-remaining-subscription-reads" => names::READS_LEFT,
        "x-ms-ratelimit-remaining-subscription-writes" => names::WRITES_LEFT,
        "x-ms-client-request-id" => names::CLIENT_REQUEST_ID,
        "azure-asyncoperation" => names::ASYNC_OPERATION,
        "retry-after" => header::RETRY_AFTER,
        "location" => header::LOCATION,
        "cache-control" => header::CACHE_CONTROL,
        "pragma" => header::PRAGMA,
        "expires" => header::EXPIRES,
        "strict-transport-security" => header::STRICT_TRANSPORT_SECURITY,
        "x-content-type-options" => header::X_CONTENT_TYPE_OPTIONS,
        "date" => header::DATE,
        "content-type" => header::CONTENT_TYPE,
        "content-length" => header::CONTENT_LENGTH,
        "www-authenticate" => header::WWW_AUTHENTICATE,
        _ => return None,
    })
}

/// The decoded value of the first parameter of `query` named `name` (case-insensitive), decoding only
/// what it must (a value with nothing to decode is borrowed): every ARM request looks up `api-version`.
///
/// Its `&` and `=` are found with the `memchr` crate: `str::split` and `split_once` set up a search
/// for each, which costs more than a query's few bytes.
pub fn query_param<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    if let Some(value) = first_pair_named(query, name) {
        return Some(value);
    }
    let mut rest = query;
    loop {
        let end = memchr::memchr(b'&', rest.as_bytes()).unwrap_or(rest.len());
        let pair = rest.get(..end)?;
        let (k, v) = match memchr::memchr(b'=', pair.as_bytes()) {
            Some(eq) => (pair.get(..eq)?, pair.get(eq + 1..)?),
            None => (pair, ""),
        };
        if percent_decoded(k).eq_ignore_ascii_case(name) {
            return Some(percent_decoded(v));
        }
        rest = rest.get(end + 1..)?;
    }
}

/// The first pair's value when the pair's name is `name` as written, as in ARM's usual
/// `api-version=…&…`; `None` tells the caller to search the whole query. A name with none of `%+=&` in
/// it can only equal a pair's name that has nothing to decode and ends at the first `=`, so the first
/// pair is found by one pass over the name and one over its value: the search's scans for `&` and `=`,
/// for escapes in the name and its case-insensitive comparison took a served POST 540 instructions
/// (callgrind), about 13 a byte for the comparison alone.
fn first_pair_named<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    let q = query.as_bytes();
    let n = name.len();
    if q.get(n) != Some(&b'=') {
        return None;
    }
    for (&a, &b) in q.get(..n)?.iter().zip(name.as_bytes()) {
        if (a != b && !a.eq_ignore_ascii_case(&b)) || matches!(a, b'%' | b'+' | b'=' | b'&') {
            return None;
        }
    }
    let rest = query.get(n + 1..)?;
    let end = rest.bytes().position(|b| b == b'&').unwrap_or(rest.len());
    Some(percent_decoded(rest.get(..end)?))
}

/// Splits and percent-decodes a query string.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// [`percent_decode`], borrowing `s` when it has nothing to decode (most paths and queries).
pub fn percent_decoded(s: &str) -> Cow<'_, str> {
    // A byte scan: `str::contains` with a set of chars decodes UTF-8 char by char; on a served poll's path
    // and query this saves about 800 instructions of 34,000 (callgrind, bench/instructions.sh).
    if s.bytes().any(|b| b == b'%' || b == b'+') {
        Cow::Owned(percent_decode(s))
    } else {
        Cow::Borrowed(s)
    }
}

/// Decodes `%XX` escapes and `+` (as space, the form encoding the token endpoints receive).
/// Invalid escapes are kept as written.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes a query value (unreserved characters kept).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_served_and_one_made_in_code_split_their_path_and_query_alike() {
        for text in ["/a/b?x=1&y=", "/a", "/a?", "/?q", "/a?b?c", "*"] {
            let made = HttpRequest::new("post", text);
            let served = HttpRequest::served(
                &http::Method::POST,
                Some(
                    http::uri::PathAndQuery::from_maybe_shared(Bytes::copy_from_slice(
                        text.as_bytes(),
                    ))
                    .expect("a request target"),
                ),
            );
            let expected = text.split_once('?').unwrap_or((text, ""));
            for req in [&made, &served] {
                assert_eq!((req.path(), req.query()), expected, "{text}");
                assert_eq!(req.method(), "POST");
                assert_eq!(req.path_and_query(), text.trim_end_matches('?'), "{text}");
            }
        }
        let none = HttpRequest::served(&http::Method::GET, None);
        assert_eq!((none.method(), none.path(), none.query()), ("GET", "/", ""));
        let other = http::Method::from_bytes(b"PURGE").expect("a method");
        assert_eq!(HttpRequest::served(&other, None).method(), "PURGE");
        assert_eq!(HttpRequest::new("purge", "/").method(), "PURGE");
        assert_eq!(HttpRequest::default().path(), "");
    }

    #[test]
    fn known_headers_are_the_first_value_of_each_name_in_any_case() {
        let req = HttpRequest::new("GET", "/")
            .header("Host", "a:1")
            .header("X-MS-Correlation-Request-Id", "c1")
            .header("x-ms-correlation-request-id", "c2")
            .header("user-agent", "wrk")
            .header("x-ms-return-client-request-id", "true");
        let known = KnownHeaders::of(&req.headers);
        for (name, got) in [
            ("host", known.host),
            ("x-ms-correlation-request-id", known.correlation_id),
            (
                "x-ms-return-client-request-id",
                known.return_client_request_id,
            ),
            ("authorization", known.authorization),
            ("content-type", known.content_type),
            ("x-ms-client-request-id", known.client_request_id),
        ] {
            assert_eq!(
                got,
                req.headers.get(name),
                "{name}: as HeaderMap::get finds it"
            );
        }
        assert_eq!(known.correlation_id.and_then(text), Some("c1"));
    }

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("https%3A%2F%2Fx"), "https://x");
    }

    #[test]
    fn query_params_match_names_case_insensitively() {
        let req = HttpRequest::new("get", "/x?API-Version=2024-05-01&a=1");
        assert_eq!(
            req.query_param("api-version").as_deref(),
            Some("2024-05-01")
        );
        assert_eq!(req.method, "GET");
        assert_eq!(
            query_param("&api%2Dversion=2021%2D08%2D01&api-version=x", "API-version").as_deref(),
            Some("2021-08-01"),
            "the first match wins, with both the name and the value decoded"
        );
        assert_eq!(query_param("a=1&b", "b").as_deref(), Some(""));
        assert_eq!(
            query_param("a=1&", "").as_deref(),
            Some(""),
            "the empty last pair"
        );
        assert_eq!(
            query_param("", "").as_deref(),
            Some(""),
            "an empty query is one empty pair"
        );
        assert_eq!(query_param("a=1=2&&b=", "a").as_deref(), Some("1=2"));
        assert_eq!(query_param("a=1=2&&b=", "b").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "b"), None);
        // A first pair that reads as the name only before decoding, or only when split elsewhere.
        assert_eq!(query_param("%61=1", "%61"), None);
        assert_eq!(query_param("%61=1", "a").as_deref(), Some("1"));
        assert_eq!(query_param("a=b=c", "a=b"), None);
        assert_eq!(query_param("a&b=c", "a&b"), None);
        assert_eq!(query_param("a+b=c", "a+b"), None);
        assert_eq!(query_param("a+b=c", "a b").as_deref(), Some("c"));
        assert!(
            matches!(
                query_param("api-version=2024-05-01", "api-version"),
                Some(Cow::Borrowed(_))
            ),
            "a value with nothing to decode is not copied"
        );
    }

    proptest::proptest! {
        /// The byte scan finds what splitting on `&`, then on the first `=`, finds.
        #[test]
        fn query_param_is_the_first_pair_named_so_after_splitting(
            query in "[a=&%+2Dé-]{0,24}",
            name in "[a=%+2Dé-]{0,3}",
        ) {
            let split = query.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                percent_decoded(k).eq_ignore_ascii_case(&name).then(|| percent_decoded(v))
            });
            proptest::prop_assert_eq!(query_param(&query, &name), split);
        }

        /// The same when the first pair is named `name` as written, in any case: the shortcut's case.
        #[test]
        fn a_first_pair_named_as_written_is_found_as_the_search_finds_it(
            name in "[aB=&%+2Dé-]{0,4}",
            upper in proptest::collection::vec(proptest::bool::ANY, 4),
            rest in "[a=&%+2Dé-]{0,16}",
        ) {
            let written: String = name
                .chars()
                .zip(upper.iter().chain(std::iter::repeat(&false)))
                .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            let query = format!("{written}={rest}");
            let split = query.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                percent_decoded(k).eq_ignore_ascii_case(&name).then(|| percent_decoded(v))
            });
            proptest::prop_assert_eq!(query_param(&query, &name), split);
        }
    }

    #[test]
    fn json_media_types_in_any_case_and_with_parameters() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            " text/json ",
            "application/merge-patch+JSON",
            "+json",
        ] {
            assert!(is_json_media_type(yes), "{yes:?}");
        }
        for no in [
            "application/xml",
            "json",
            "application/jsonx",
            "",
            ";application/json",
        ] {
            assert!(!is_json_media_type(no), "{no:?}");
        }
    }

    proptest::proptest! {
        /// The in-place comparison agrees with lower-casing the media type and comparing that.
        #[test]
        fn json_media_type_is_the_lower_cased_comparison(ct in "[ \u{a0}]{0,2}(application/|text/|Text/|x/y\\+|é/|)(json|JSON|Json|xml|jsonx|)[ \u{a0}]{0,2}(;[ a-z=+-]{0,6})?") {
            let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            let lowered = media == "application/json" || media.ends_with("+json") || media == "text/json";
            proptest::prop_assert_eq!(is_json_media_type(&ct), lowered);
        }
    }

    #[test]
    fn number_values_are_the_numbers_shared_or_not() {
        for n in (0..=12_100).chain([u64::from(u32::MAX), u64::MAX]) {
            assert_eq!(
                number_value(n).to_str().ok(),
                Some(n.to_string().as_str()),
                "{n}"
            );
        }
    }
}
