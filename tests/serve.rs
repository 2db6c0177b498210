//! `armsim serve` as a user starts it: a real process, real HTTP, the ready line, Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

pub(crate) struct Served {
    child: Child,
    ready: Value,
}

impl Served {
    pub(crate) fn ready_field(&self, name: &str) -> String {
        self.ready[name]
            .as_str()
            .unwrap_or_else(|| panic!("ready line has {name}: {}", self.ready))
            .to_string()
    }

    pub(crate) fn endpoint(&self) -> String {
        self.ready_field("endpoint")
    }

    /// Ctrl-C, as a user stops it; how it exited.
    fn interrupt(&mut self) -> Option<i32> {
        let pid = self.ready["pid"].as_u64().expect("pid").to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill")
            .success());
        self.child.wait().expect("exits").code()
    }
}

/// Starts `armsim serve --addr 127.0.0.1:0 ARGS…` and waits for its ready line.
pub(crate) fn start(args: &[&str]) -> Served {
    serve(args)
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(crate::common::ca_of(&self.ready));
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_armsim"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(plain_unless_asked(args))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("armsim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let ready: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line is JSON: {e}: {line}"));
    Served { child, ready }
}

/// Most tests here drive plain HTTP with any token; tests of TLS and tokens pass `--tls`/`--auth`.
fn plain_unless_asked(args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if !args.contains(&"--tls") {
        all.extend(["--tls".into(), "off".into()]);
    }
    if !args.contains(&"--auth") {
        all.extend(["--auth".into(), "permissive".into()]);
    }
    all
}

async fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Vec<(String, String)>, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let data = body.map(|b| b.to_string()).unwrap_or_default();
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", "Bearer t")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(data)))
        .expect("request");
    let resp = client.request(req).await.expect("response");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn serve_prints_a_ready_line_and_answers_arm_over_http() {
    let s = serve(&["--clock", "manual"]);
    assert_eq!(s.ready["event"], "ready");
    assert_eq!(s.ready["clock"], "manual");
    let ep = s.ready["endpoint"].as_str().expect("endpoint").to_string();
    assert!(ep.starts_with("http://127.0.0.1:"), "{ep}");
    let base = format!("{ep}/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers");
    let (_, _, keys) = call("POST", &format!("{base}/Microsoft.Storage/storageAccounts/contosobackups/listKeys?api-version=2023-01-01"), None).await;
    let key = keys["keys"][0]["value"].as_str().expect("key");
    let body = json!({"storageAccount": "contosobackups", "containerName": "apim-backups", "backupName": "b", "accessKey": key});
    let (status, headers, _) = call(
        "POST",
        &format!(
            "{base}/Microsoft.ApiManagement/service/contoso-apim/backup?api-version=2024-05-01"
        ),
        Some(body),
    )
    .await;
    assert_eq!(status, 202);
    let location = headers
        .iter()
        .find(|(n, _)| n == "location")
        .map(|(_, v)| v.clone())
        .expect("location");
    assert!(
        location.starts_with(&ep),
        "Location points back at armsim: {location}"
    );
    let (status, _, _) = call("GET", &location, None).await;
    assert_eq!(status, 202);
    let (_, _, clock) = call(
        "POST",
        &format!("{ep}/_armsim/clock/advance"),
        Some(json!({"by": "9m"})),
    )
    .await;
    assert_eq!(clock["now"], "2026-01-01T00:09:00Z");
    let (status, _, done) = call("GET", &location, None).await;
    assert_eq!(
        (status, done["properties"]["provisioningState"].as_str()),
        (200, Some("Succeeded"))
    );
    let (status, _, err) = call("GET", &format!("{ep}/no/such/route"), None).await;
    assert_eq!((status, err["error"]["code"].is_string()), (404, true));
}

#[tokio::test]
async fn an_oversized_body_gets_an_arm_shaped_413() {
    let s = serve(&["--clock", "manual"]);
    let ep = s.ready["endpoint"].as_str().expect("endpoint");
    let huge = json!({"storageAccount": "x".repeat(5 * 1024 * 1024)});
    let (status, _, body) = call("POST", &format!("{ep}/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers/Microsoft.ApiManagement/service/contoso-apim/backup?api-version=2024-05-01"), Some(huge)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );
}

#[test]
fn a_bad_world_file_is_exit_2_naming_the_file_and_line_and_leaves_no_ca() {
    let dir = std::env::temp_dir().join(format!("armsim-world-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "resourceGroups: [{name: rg}]\nservices:\n  - name: x\n    sku: Gold\n",
    )
    .expect("write");
    let _file = crate::common::Scratch::in_own_folder(&file);
    // A port known beforehand, to look for the CA serve writes before it reads the world's services.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_armsim"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--world"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml") && err.contains("Gold"), "{err}");
    let ca = std::env::temp_dir().join(format!("armsim-{port}"));
    assert!(!ca.exists(), "{} is left behind", ca.display());
}

#[test]
fn ctrl_c_shuts_down_gracefully_with_exit_0() {
    let mut s = serve(&[]);
    assert_eq!(s.interrupt(), Some(0));
}

/// The CA certificate serve writes to the temporary folder goes when it stops; one written where
/// `--ca-out` asked is kept.
#[test]
fn a_graceful_stop_removes_the_ca_it_wrote_and_keeps_one_asked_for() {
    let asked = std::env::temp_dir().join(format!("armsim-ca-out-{}.pem", std::process::id()));
    let asked_arg = asked.display().to_string();
    for (args, kept) in [
        (vec!["--tls", "on"], false),
        (vec!["--tls", "on", "--ca-out", asked_arg.as_str()], true),
    ] {
        let mut s = serve(&args);
        let ca = std::path::PathBuf::from(s.ready["ca_cert"].as_str().expect("ca_cert"));
        assert!(ca.exists(), "{args:?}: {} written", ca.display());
        assert_eq!(s.interrupt(), Some(0), "{args:?}");
        assert_eq!(ca.exists(), kept, "{args:?}: {}", ca.display());
        if !kept {
            let dir = ca.parent().expect("a folder");
            assert!(!dir.exists(), "{args:?}: {} removed", dir.display());
        }
    }
    let _ = std::fs::remove_file(&asked);
}
