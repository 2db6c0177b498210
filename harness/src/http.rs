//! The harness's own HTTP client: HTTP/1.1 over hyper, `http://` or `https://` (rustls, trusting the
//! system's roots plus an optional extra CA such as armsim's), one request at a time, with a timeout.

use std::sync::Arc;
use std::time::Duration;

use armsim_simulator::Simulator;

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

/// Where the bearer token on each request comes from.
#[derive(Clone)]
pub enum Token {
    None,
    /// The same token every time (`--token-env`).
    Static(String),
    /// A fresh token from an in-process simulator's Azure AD for every request, as a client that
    /// refreshes its tokens would have: scenarios may advance the clock by days.
    Minted(Arc<Simulator>),
}

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// A client bound to one base URL (`https://127.0.0.1:PORT`, `https://management.azure.com`, …).
#[derive(Clone)]
pub struct HttpClient {
    base: String,
    token: Token,
    inner: Client<Connector, Full<Bytes>>,
}

impl HttpClient {
    /// A client with a static token (or none) trusting the system's roots.
    pub fn new(base: &str, token: Option<String>) -> Result<Self, String> {
        Self::with(base, token.map_or(Token::None, Token::Static), None)
    }

    /// A client with a token source, trusting the system's roots plus `extra_ca_pem` (armsim's CA).
    pub fn with(base: &str, token: Token, extra_ca_pem: Option<&str>) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs_load();
        roots.add_parsable_certificates(native);
        if let Some(pem) = extra_ca_pem {
            for cert in armsim_simulator::tls::parse_chain(pem, "the CA certificate")
                .map_err(|e| e.to_string())?
            {
                roots
                    .add(cert)
                    .map_err(|e| format!("the CA certificate: {e}"))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            inner: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    fn bearer(&self) -> Result<Option<String>, String> {
        match &self.token {
            Token::None => Ok(None),
            Token::Static(t) => Ok(Some(t.clone())),
            Token::Minted(sim) => sim.writer_token(None).map(Some),
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
        if !anonymous {
            if let Some(t) = self.bearer()? {
                all.push(("authorization".into(), format!("Bearer {t}")));
            }
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

/// The system's trusted roots (an empty list when none can be read: `--ca-cert` still works).
fn rustls_native_certs_load() -> Vec<rustls::pki_types::CertificateDer<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "system CA store");
    }
    found.certs
}
