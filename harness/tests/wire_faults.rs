//! Faults that act on the wire reach a real HTTP client as such: a dropped connection is an error with no
//! answer, a truncated body an error after the headers, latency a late answer.

use std::time::{Duration, Instant};

use armsim_harness::http::HttpClient;
use armsim_simulator::server::RunningServer;
use armsim_simulator::SimConfig;

const SVC: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers/Microsoft.ApiManagement/service/contoso-apim?api-version=2024-05-01";

async fn server(plan: &str) -> RunningServer {
    RunningServer::start(SimConfig {
        faults: serde_saphyr::from_str(plan).expect("plan"),
        auth: armsim_simulator::identity::AuthMode::Permissive,
        ..SimConfig::default()
    })
    .await
    .expect("server")
}

#[tokio::test]
async fn a_dropped_connection_gives_the_client_no_answer_and_the_journal_names_the_fault() {
    let s =
        server("- {name: drop, when: {route: service}, action: dropConnection, times: 1}\n").await;
    let http = HttpClient::new(&s.endpoint, Some("t".into())).expect("client");
    assert!(http.send("GET", SVC, &[], None, false).await.is_err());
    let again = http
        .send("GET", SVC, &[], None, false)
        .await
        .expect("second answer");
    assert_eq!(again.status, 200);
    let journal = s.sim.journal();
    assert_eq!(journal[0].fault.as_deref(), Some("drop"));
    assert_eq!(journal[1].fault, None);
}

#[tokio::test]
async fn a_truncated_body_fails_after_the_headers() {
    let s = server("- {name: cut, when: {route: service}, action: truncateBody, times: 1}\n").await;
    let http = HttpClient::new(&s.endpoint, Some("t".into())).expect("client");
    let err = http
        .send("GET", SVC, &[], None, false)
        .await
        .expect_err("cut body");
    assert!(err.contains("body"), "{err}");
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let s = server("- {name: slow, when: {route: service}, action: {latency: {ms: 300}}}\n").await;
    let http = HttpClient::new(&s.endpoint, Some("t".into())).expect("client");
    let started = Instant::now();
    let resp = http
        .send("GET", SVC, &[], None, false)
        .await
        .expect("answer");
    assert_eq!(resp.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}
