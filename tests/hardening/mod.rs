//! Bounded resources and hostile input: header timeout, connection limit, journal ring, operation
//! retention, and a property test that throws random raw requests at `Simulator::handle`.
//!
//! The property test runs 256 cases here; a long run is
//! `PROPTEST_CASES=100000 cargo test --test main hardening::every_raw_request -- --nocapture`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use armsim_simulator::http::HttpRequest;
use armsim_simulator::identity::AuthMode;
use armsim_simulator::journal::MAX_KEPT_BODY;
use armsim_simulator::server::{run_with_limits, Limits};
use armsim_simulator::sim::{default_world, SimConfig, Simulator};
use armsim_simulator::VDuration;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::common::{backup_body, body, code, req, sim_with, start, svc, with_version, V};

/// Serves a fresh simulator with `limits` on a loopback port; the server stops with the runtime.
async fn serve_with(limits: Limits) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let sim = Arc::new(
        Simulator::new(SimConfig {
            auth: AuthMode::Permissive,
            ..SimConfig::default()
        })
        .expect("sim"),
    );
    tokio::spawn(run_with_limits(
        listener,
        sim,
        std::future::pending::<()>(),
        limits,
    ));
    addr
}

/// Reads one HTTP/1.1 answer (head + content-length body) from a kept-alive connection.
fn read_answer(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        bytes.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if bytes.len() >= end + 4 + length {
                return Ok(text);
            }
        }
    }
}

/// The header read timeout of the tests that wait for it: short, so they are quick, and still well
/// above a loaded CI machine's scheduling delays.
const HEADER_TIMEOUT: Duration = Duration::from_millis(200);

/// A server with serve's limits but a [`HEADER_TIMEOUT`] header read timeout.
async fn serve_with_header_timeout() -> String {
    serve_with(Limits {
        header_read_timeout: HEADER_TIMEOUT,
        ..Limits::default()
    })
    .await
}

const HEALTH: &[u8] = b"GET /_armsim/health HTTP/1.1\r\nhost: x\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let addr = serve_with_header_timeout().await;
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(b"GET /_armsim/health HTTP/1.1\r\nhost: x\r\n")
            .expect("write");
        let mut buf = Vec::new();
        // The server closes the connection (possibly after a 408); a read timeout would mean it did not.
        s.read_to_end(&mut buf).map(|_| ())
    })
    .await
    .expect("join");
    assert!(
        closed.is_ok(),
        "the slow client was not cut off: {closed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_slower_than_the_header_timeout_is_delivered_and_the_connection_kept() {
    let addr = serve_with_header_timeout().await;
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let plan = r#"[{"when":{"route":"subscription"},"action":{"latency":{"ms":900}}}]"#;
        write!(
            s,
            "PUT /_armsim/faults HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{plan}",
            plan.len()
        )
        .expect("write");
        let put = read_answer(&mut s).expect("the plan's answer");
        assert!(put.starts_with("HTTP/1.1 200"), "{put}");
        // Four timeouts and a half pass while the answer is made: none of it is the client's to spend.
        for _ in 0..2 {
            let asked = std::time::Instant::now();
            s.write_all(b"GET /subscriptions/00000000-0000-0000-0000-000000000000?api-version=2022-12-01 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer any\r\n\r\n")
                .expect("write");
            let answer = read_answer(&mut s).expect("the late answer, on the same connection");
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(asked.elapsed() >= Duration::from_millis(900), "the fault's delay was not applied");
        }
    })
    .await
    .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_connection_limit_a_client_waits_for_a_free_slot() {
    let addr = serve_with(Limits {
        max_connections: 1,
        ..Limits::default()
    })
    .await;
    tokio::task::spawn_blocking(move || {
        let mut first = TcpStream::connect(&addr).expect("connect");
        first.write_all(HEALTH).expect("write");
        assert!(read_answer(&mut first)
            .expect("answer")
            .starts_with("HTTP/1.1 200"));
        // The first connection is kept alive and holds the only slot.
        let mut second = TcpStream::connect(&addr).expect("the kernel queues the connection");
        second.write_all(HEALTH).expect("write");
        second
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        assert!(read_answer(&mut second).is_err(), "served above the limit");
        drop(first);
        second
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let answer = read_answer(&mut second).expect("served once the slot is free");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    })
    .await
    .expect("join");
}

/// One GET of `/_armsim/health` over HTTP/2 on `io`; the answer's status and HTTP version.
async fn h2_health<IO>(io: IO, authority: &str) -> (u16, hyper::Version)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(io),
    )
    .await
    .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    let request = hyper::Request::get(format!("http://{authority}/_armsim/health"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let resp = sender.send_request(request).await.expect("HTTP/2 answer");
    (resp.status().as_u16(), resp.version())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_plain_port_serves_http1_and_http2_with_prior_knowledge() {
    let addr = serve_with(Limits::default()).await;
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    assert_eq!(h2_health(tcp, &addr).await, (200, hyper::Version::HTTP_2));
    let mut h1 = TcpStream::connect(&addr).expect("connect");
    h1.write_all(HEALTH).expect("send");
    let answer = read_answer(&mut h1).expect("HTTP/1.1 answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_after_the_header_timeout() {
    let addr = serve_with_header_timeout().await;
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("HTTP/2 handshake");
    let conn = tokio::spawn(conn);
    let request = hyper::Request::get(format!("http://{addr}/_armsim/health"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let answer = sender.send_request(request).await.expect("HTTP/2 answer");
    assert_eq!(answer.status().as_u16(), 200);
    // No stream opens after that one: the server closes the connection, and the client's ends.
    let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
    assert!(
        ended.is_ok(),
        "the idle HTTP/2 connection was still open after 5 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_protocol_is_the_one_alpn_chose() {
    let server = armsim_simulator::server::RunningServer::start_tls(SimConfig {
        auth: AuthMode::Permissive,
        ..SimConfig::default()
    })
    .await
    .expect("server");
    let ca = server.ca_pem.clone().expect("TLS serves a CA");
    let connect = |alpn: &'static [u8]| {
        let ca = ca.clone();
        let addr = server.addr;
        async move {
            let config = crate::common::tls_trusting(&ca, &[alpn]);
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .expect("TLS handshake")
        }
    };
    let authority = server.addr.to_string();
    let h2 = connect(b"h2").await;
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(b"h2".as_slice()));
    assert_eq!(
        h2_health(h2, &authority).await,
        (200, hyper::Version::HTTP_2)
    );

    let h1 = connect(b"http/1.1").await;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(h1))
            .await
            .expect("HTTP/1.1 handshake");
    tokio::spawn(conn);
    let request = hyper::Request::get("/_armsim/health")
        .header("host", &authority)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let resp = sender.send_request(request).await.expect("HTTP/1.1 answer");
    assert_eq!(
        (resp.status().as_u16(), resp.version()),
        (200, hyper::Version::HTTP_11)
    );
    server.shutdown().await;
}

fn retention_world(retention: &str) -> armsim_simulator::World {
    let mut world = default_world();
    world.behaviour.operation_retention = Some(retention.parse().expect("duration"));
    world
}

#[test]
fn a_finished_operation_is_forgotten_after_the_retention_and_its_poll_is_404() {
    let sim = sim_with(retention_world("1h"));
    let loc = start(&sim, "contoso-apim", "backup", &backup_body(&sim, "b"));
    sim.advance(VDuration::from_mins(9));
    assert_eq!(sim.handle(req("GET", &loc)).status, 200);
    sim.advance(VDuration::from_mins(59));
    assert_eq!(
        sim.handle(req("GET", &loc)).status,
        200,
        "still within the hour"
    );
    sim.advance(VDuration::from_mins(2));
    let gone = sim.handle(req("GET", &loc));
    assert_eq!(
        (gone.status, code(&gone).as_str()),
        (404, "ResourceNotFound")
    );
}

#[test]
fn operations_and_journal_stay_bounded_under_a_storm_of_backups() {
    let sim = Simulator::new(SimConfig {
        world: retention_world("1h"),
        journal_capacity: 100,
        auth: AuthMode::Permissive,
        ..SimConfig::default()
    })
    .expect("sim");
    let b = backup_body(&sim, "storm");
    for _ in 0..500 {
        start(&sim, "contoso-apim", "backup", &b);
        let busy = sim.handle(
            req(
                "POST",
                &with_version(&format!("{}/backup", svc("contoso-apim")), V),
            )
            .json(&b),
        );
        assert_eq!(busy.status, 409);
        sim.advance(VDuration::from_mins(10));
    }
    let kept = sim.with_engine(|e| e.operations().count());
    assert!(
        kept <= 7,
        "{kept} operations kept with a 1h retention and one every 10 min"
    );
    assert_eq!(sim.journal().len(), 100);
}

#[test]
fn past_the_limit_on_finished_operations_the_oldest_are_forgotten_first() {
    let mut world = default_world();
    world.behaviour.max_finished_operations = Some(3);
    let sim = sim_with(world);
    let b = backup_body(&sim, "capped");
    let locations: Vec<String> = (0..5)
        .map(|_| {
            let loc = start(&sim, "contoso-apim", "backup", &b);
            sim.advance(VDuration::from_mins(10));
            loc
        })
        .collect();
    // A running operation is not a finished one: it neither counts nor is forgotten.
    let running = start(&sim, "contoso-apim", "backup", &b);
    for (i, loc) in locations.iter().enumerate() {
        let answer = sim.handle(req("GET", loc));
        let expected = if i < 2 { 404 } else { 200 };
        assert_eq!(answer.status, expected, "backup {i} of 5, limit 3");
        if expected == 404 {
            assert_eq!(code(&answer), "ResourceNotFound");
        }
    }
    assert_eq!(sim.handle(req("GET", &running)).status, 202);
    assert_eq!(sim.with_engine(|e| e.operations().count()), 4);
}

#[test]
fn finished_backups_of_one_service_share_its_resource_but_keep_their_own_etags() {
    let sim = crate::common::sim();
    let b = backup_body(&sim, "shared");
    let mut answers = Vec::new();
    for _ in 0..3 {
        let loc = start(&sim, "contoso-apim", "backup", &b);
        sim.advance(VDuration::from_mins(10));
        answers.push(loc);
    }
    let bodies: Vec<Value> = answers
        .iter()
        .map(|loc| body(&sim.handle(req("GET", loc))))
        .collect();
    let etags: Vec<&str> = bodies
        .iter()
        .map(|b| b["etag"].as_str().unwrap_or(""))
        .collect();
    assert!(etags[0] != etags[1] && etags[1] != etags[2], "{etags:?}");
    // Each etag is the service's version as that backup left it: the last is the service's own now.
    let now = body(&sim.handle(req("GET", &with_version(&svc("contoso-apim"), V))));
    assert_eq!(etags[2], now["etag"].as_str().unwrap_or("?"));
    let (kept, shared) = sim.with_engine(|e| {
        let results: Vec<_> = e.operations().filter_map(|op| op.result.clone()).collect();
        let shared = results
            .windows(2)
            .all(|w| std::sync::Arc::ptr_eq(w[0].view(), w[1].view()));
        (results.len(), shared)
    });
    assert_eq!(kept, 3, "three finished backups, each with its result");
    assert!(
        shared,
        "three backups of an unchanged service keep more than one copy of it"
    );

    // A change to the resource (its tags) gives later results a copy of their own.
    let patched = sim.handle(
        req("PATCH", &with_version(&svc("contoso-apim"), V)).json(&json!({"tags": {"team": "dr"}})),
    );
    assert!(patched.status < 300, "{}", patched.status);
    let loc = start(&sim, "contoso-apim", "backup", &b);
    sim.advance(VDuration::from_mins(10));
    let last = body(&sim.handle(req("GET", &loc)));
    assert_eq!(last["tags"], json!({"team": "dr"}));
    assert_eq!(
        body(&sim.handle(req("GET", &answers[0])))["tags"],
        bodies[0]["tags"]
    );

    // Saved and loaded again, every result still answers as it did.
    let now = sim.now();
    let saved = sim.with_engine(|e| e.snapshot(now));
    let again = sim_with(saved);
    for (loc, before) in answers.iter().zip(&bodies) {
        assert_eq!(&body(&again.handle(req("GET", loc))), before, "{loc}");
    }
}

#[test]
fn a_large_body_is_not_copied_into_the_journal() {
    let sim = crate::common::sim();
    let big = json!({"storageAccount": "x".repeat(MAX_KEPT_BODY * 2)});
    let resp = sim.handle(
        req(
            "POST",
            &with_version(&format!("{}/backup", svc("contoso-apim")), V),
        )
        .json(&big),
    );
    assert_eq!(resp.status, 400);
    let entry = sim.journal().pop().expect("entry");
    let kept = entry
        .request_body
        .map(|b| b.to_string())
        .unwrap_or_default();
    assert!(kept.len() < 100 && kept.contains("not kept"), "{kept}");
}

// ---- the property test over raw requests ------------------------------------------------------------

const WORDS: &[&str] = &[
    "subscriptions",
    "00000000-0000-0000-0000-000000000000",
    "resourceGroups",
    "contoso-dr",
    "RESOURCEGROUPS",
    "providers",
    "Microsoft.ApiManagement",
    "microsoft.apimanagement",
    "service",
    "contoso-apim",
    "contoso-apim-dr",
    "contoso-apim-consumption",
    "backup",
    "restore",
    "operationresults",
    "operationResults",
    "apis",
    "echo-api",
    "Microsoft.Storage",
    "storageAccounts",
    "contosobackups",
    "listKeys",
    "regenerateKey",
    "blobServices",
    "default",
    "containers",
    "apim-backups",
    "_armsim",
    "state",
    "journal",
    "clock",
    "advance",
    "reset",
    "blobs",
    "health",
    "faults",
    "metadata",
    "endpoints",
    "",
    ".",
    "..",
];

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(WORDS).prop_map(str::to_string),
        1 => "[a-zA-Z0-9._~!$&'()*+,;=:@-]{0,16}",
        1 => "(%[0-9A-Fa-f]{2}|%[g-z]{0,2}|%){1,4}",
        1 => any::<String>().prop_map(|s| s.chars().take(12).collect()),
        1 => "[a-z]{1,3}".prop_map(|s| s.repeat(40)),
    ]
}

fn path() -> impl Strategy<Value = String> {
    (proptest::collection::vec(segment(), 0..12), any::<bool>()).prop_map(|(segs, double)| {
        let sep = if double { "//" } else { "/" };
        format!("/{}", segs.join(sep))
    })
}

fn query() -> impl Strategy<Value = String> {
    let pair = prop_oneof![
        4 => proptest::sample::select(&["2024-05-01", "2021-08-01", "2016-07-07", "2023-01-01", "2099-01-01", "bogus", "", "2024-05-01-preview"][..])
            .prop_map(|v| format!("api-version={v}")),
        1 => "[a-zA-Z%=&+0-9-]{0,20}",
        1 => proptest::sample::select(&["since=1", "since=-5", "since=99999999999999999999", "format=yaml", "secrets=true", "API-VERSION=2024-05-01"][..]).prop_map(str::to_string),
    ];
    proptest::collection::vec(pair, 0..4).prop_map(|p| p.join("&"))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[ -~]{0,20}".prop_map(Value::String),
        proptest::sample::select(
            &[
                "contosobackups",
                "apim-backups",
                "AccessKey",
                "SystemAssignedManagedIdentity",
                "Developer",
                "westus",
                "31d",
                "9m"
            ][..]
        )
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        proptest::sample::select(
                            &[
                                "storageAccount",
                                "containerName",
                                "backupName",
                                "accessType",
                                "accessKey",
                                "clientId",
                                "location",
                                "sku",
                                "name",
                                "capacity",
                                "properties",
                                "publisherEmail",
                                "publisherName",
                                "tags",
                                "identity",
                                "type",
                                "keyName",
                                "by",
                                "toNextEvent",
                                "services",
                                "storageAccounts",
                                "start"
                            ][..]
                        )
                        .prop_map(str::to_string),
                        "[a-zA-Z]{1,8}",
                    ],
                    inner,
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        4 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => "[ -~\n]{0,80}".prop_map(String::into_bytes),
        1 => Just(b"services:\n  - name: x\n    sku: Developer\nresourceGroups: [{name: rg}]\n".to_vec()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let auth = prop_oneof![
        6 => Just("Bearer test-token".to_string()),
        1 => Just("Basic dXNlcjpwYXNz".to_string()),
        1 => Just("Bearer ".to_string()),
        1 => "[ -~]{0,20}",
    ];
    let other = (
        proptest::sample::select(
            &[
                "content-type",
                "accept",
                "host",
                "x-ms-correlation-request-id",
                "x-ms-return-client-request-id",
                "x-ms-client-request-id",
                "x-junk",
            ][..],
        ),
        prop_oneof![
            proptest::sample::select(
                &[
                    "application/json",
                    "text/plain",
                    "application/yaml",
                    "true",
                    "",
                    "127.0.0.1:8443"
                ][..]
            )
            .prop_map(str::to_string),
            "[ -~]{0,200}",
        ],
    )
        .prop_map(|(n, v)| (n.to_string(), v));
    (
        proptest::option::weighted(0.9, auth),
        proptest::collection::vec(other, 0..4),
    )
        .prop_map(|(auth, mut rest)| {
            if let Some(a) = auth {
                rest.push(("authorization".into(), a));
            }
            rest
        })
}

fn raw_request() -> impl Strategy<Value = HttpRequest> {
    let method = proptest::sample::select(
        &[
            "GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "get", "post", "BREW",
        ][..],
    );
    (method, path(), query(), headers(), body_bytes()).prop_map(|(m, p, q, h, b)| {
        let target = if q.is_empty() { p } else { format!("{p}?{q}") };
        let mut r = h
            .iter()
            .fold(HttpRequest::new(m, &target), |r, (n, v)| r.header(n, v));
        r.body = b.into();
        r
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every raw request gets an ARM-shaped answer: a valid status, and on an error a JSON body with
    /// `error.code`; nothing panics. Sequences run on one simulator, so state changes are explored too.
    #[test]
    fn every_raw_request_gets_an_arm_shaped_answer(requests in proptest::collection::vec(raw_request(), 1..6)) {
        let sim = crate::common::sim();
        for r in requests {
            let shown = format!("{} {}?{}", r.method(), r.path(), r.query());
            let resp = sim.handle(r);
            prop_assert!((100..600).contains(&resp.status), "{shown}: status {}", resp.status);
            if resp.status >= 400 {
                let b = body(&resp);
                prop_assert!(
                    b["error"]["code"].as_str().is_some_and(|c| !c.is_empty()),
                    "{shown}: {} without error.code: {}", resp.status, String::from_utf8_lossy(&resp.body)
                );
            } else if resp.header_value("content-type").is_some_and(|c| c.contains("json")) {
                prop_assert!(resp.json_body().is_some(), "{shown}: JSON content-type, body not JSON");
            }
        }
    }
}
