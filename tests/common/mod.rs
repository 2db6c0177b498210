//! Helpers shared by the integration tests: a simulator on a manual clock and ARM requests against it.
#![allow(dead_code, unreachable_pub)]

pub mod http1;

use armsim_simulator::clock::VDuration;
use armsim_simulator::http::{HttpRequest, HttpResponse};
use armsim_simulator::sim::{default_world, SimConfig, Simulator};
use armsim_simulator::World;
use serde_json::{json, Value};

pub use armsim_harness::scratch::Scratch;

/// The CA certificate a server's ready line names, if it wrote one: removed when dropped, so that a
/// test's killed server leaves nothing behind.
pub fn ca_of(ready: &Value) -> Option<Scratch> {
    ready["ca_cert"].as_str().map(Scratch::in_own_folder)
}

pub const SUB: &str = "00000000-0000-0000-0000-000000000000";
pub const RG: &str = "contoso-dr";
pub const V: &str = "2024-05-01";

pub fn sim() -> Simulator {
    sim_with(default_world())
}

pub fn sim_with(world: World) -> Simulator {
    Simulator::new(SimConfig {
        world,
        auth: armsim_simulator::identity::AuthMode::Permissive,
        ..SimConfig::default()
    })
    .expect("world loads")
}

pub fn svc(name: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ApiManagement/service/{name}"
    )
}

pub fn storage() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/contosobackups")
}

pub fn with_version(path: &str, v: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}api-version={v}")
}

pub fn req(method: &str, path: &str) -> HttpRequest {
    HttpRequest::new(method, path)
        .header("authorization", "Bearer test-token")
        .header("host", "127.0.0.1:8443")
}

pub fn get(sim: &Simulator, path: &str) -> HttpResponse {
    sim.handle(req("GET", &with_version(path, V)))
}

pub fn post(sim: &Simulator, path: &str, body: &Value) -> HttpResponse {
    sim.handle(req("POST", &with_version(path, V)).json(body))
}

pub fn send(sim: &Simulator, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
    let mut r = req(method, &with_version(path, V));
    if let Some(b) = body {
        r = r.json(b);
    }
    sim.handle(r)
}

pub fn body(resp: &HttpResponse) -> Value {
    resp.json_body().unwrap_or(Value::Null)
}

pub fn code(resp: &HttpResponse) -> String {
    body(resp)["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

pub fn message(resp: &HttpResponse) -> String {
    body(resp)["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

pub fn storage_key(sim: &Simulator, slot: usize) -> String {
    let resp = post(sim, &format!("{}/listKeys", storage()), &json!({}));
    body(&resp)["keys"][slot]["value"]
        .as_str()
        .expect("key")
        .to_string()
}

pub fn backup_body(sim: &Simulator, backup: &str) -> Value {
    json!({
        "storageAccount": "contosobackups", "containerName": "apim-backups", "backupName": backup,
        "accessType": "AccessKey", "accessKey": storage_key(sim, 0)
    })
}

/// Starts a backup or restore and returns the Location URL's path and query.
pub fn start(sim: &Simulator, service: &str, action: &str, body: &Value) -> String {
    let resp = post(sim, &format!("{}/{action}", svc(service)), body);
    assert_eq!(
        resp.status,
        202,
        "{action} of {service}: {}",
        String::from_utf8_lossy(&resp.body)
    );
    location_path(&resp)
}

pub fn location_path(resp: &HttpResponse) -> String {
    let loc = resp.header_value("location").expect("Location header");
    let after_scheme = loc.split_once("://").map(|(_, r)| r).unwrap_or(loc);
    after_scheme[after_scheme.find('/').expect("path")..].to_string()
}

/// Polls the Location until it stops answering 202, advancing the clock by each Retry-After
/// (manual clock: Retry-After is in virtual seconds). Returns the final answer and the number of polls.
pub fn poll_to_end(sim: &Simulator, location: &str) -> (HttpResponse, usize) {
    for polls in 1..10_000 {
        let resp = sim.handle(req("GET", location));
        if resp.status != 202 {
            return (resp, polls);
        }
        let wait: i64 = resp
            .header_value("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("integer");
        sim.advance(VDuration::from_secs(wait));
    }
    panic!("operation never ended");
}

pub fn backup(sim: &Simulator, service: &str, name: &str) -> HttpResponse {
    let loc = start(sim, service, "backup", &backup_body(sim, name));
    poll_to_end(sim, &loc).0
}

pub fn restore(sim: &Simulator, service: &str, name: &str) -> HttpResponse {
    let loc = start(sim, service, "restore", &backup_body(sim, name));
    poll_to_end(sim, &loc).0
}

pub fn apis(sim: &Simulator, service: &str) -> Vec<String> {
    let resp = get(sim, &format!("{}/apis", svc(service)));
    body(&resp)["value"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["name"].as_str().unwrap_or("").to_string())
        .collect()
}

/// A TLS client configuration that trusts only `ca_pem` (armsim's CA, as a real SDK is configured) and
/// offers `alpn` (empty: no ALPN).
pub fn tls_trusting(ca_pem: &str, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in armsim_simulator::tls::parse_chain(ca_pem, "ca").expect("ca") {
        roots.add(cert).expect("root");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}
