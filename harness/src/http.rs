//! The harness's own HTTP client: plain HTTP/1.1 over hyper, one request at a time, with a timeout.
//! (TLS for real endpoints comes with the simulator's TLS work; see `run::Target`.)

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// An answer as the harness saw it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A client bound to one base URL (`http://127.0.0.1:PORT`).
#[derive(Clone)]
pub struct HttpClient {
    base: String,
    token: Option<String>,
    inner: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    pub fn new(base: &str, token: Option<String>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            inner: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Absolute URL for a path, or the URL itself when it already is one.
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.contains("://") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.base, path_or_url)
        }
    }

    /// Sends one request. `anonymous` leaves the bearer token out.
    pub async fn send(
        &self,
        method: &str,
        path_or_url: &str,
        headers: &[(String, String)],
        body: Option<&Value>,
        anonymous: bool,
    ) -> Result<Response, String> {
        let url = self.url(path_or_url);
        let mut all: Vec<(String, String)> = vec![
            ("x-ms-client-request-id".into(), request_id()),
            ("accept".into(), "application/json".into()),
        ];
        if let (Some(t), false) = (&self.token, anonymous) {
            all.push(("authorization".into(), format!("Bearer {t}")));
        }
        let payload = match body {
            Some(v) => {
                all.push(("content-type".into(), "application/json".into()));
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        // A step's own headers replace the defaults of the same name.
        for (n, v) in headers {
            all.retain(|(m, _)| !m.eq_ignore_ascii_case(n));
            all.push((n.clone(), v.clone()));
        }
        let mut req = hyper::Request::builder().method(method).uri(&url);
        for (n, v) in &all {
            req = req.header(n.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(payload))
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let fut = async {
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| format!("{method} {url}: {e}"))?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{method} {url}: body: {e}"))?
                .to_bytes();
            Ok(Response {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(Duration::from_secs(30), fut)
            .await
            .map_err(|_| format!("{method} {url}: no answer within 30 s"))?
    }
}

fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}
