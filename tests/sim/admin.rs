//! The admin API under /_armsim/.

use crate::common::*;
use armsim_simulator::http::HttpRequest;
use serde_json::json;

fn admin(
    sim: &armsim_simulator::Simulator,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> armsim_simulator::HttpResponse {
    let mut r = HttpRequest::new(method, path);
    if let Some(b) = body {
        r = r.json(&b);
    }
    sim.handle(r)
}

#[test]
fn health_and_clock_need_no_token() {
    let sim = sim();
    assert_eq!(
        body(&admin(&sim, "GET", "/_armsim/health", None))["status"],
        "ok"
    );
    assert_eq!(
        body(&admin(&sim, "GET", "/_armsim/clock", None))["now"],
        "2026-01-01T00:00:00Z"
    );
}

#[test]
fn advancing_the_clock_takes_units_and_rejects_nonsense_clearly() {
    let sim = sim();
    let resp = admin(
        &sim,
        "POST",
        "/_armsim/clock/advance",
        Some(json!({"by": "31d"})),
    );
    assert_eq!(body(&resp)["now"], "2026-02-01T00:00:00Z");
    for (by, code_) in [
        (json!("soon"), "InvalidRequestContent"),
        (json!(5), "InvalidRequestContent"),
    ] {
        let bad = admin(
            &sim,
            "POST",
            "/_armsim/clock/advance",
            Some(json!({"by": by})),
        );
        assert_eq!((bad.status, code(&bad).as_str()), (400, code_));
    }
    let bad = admin(
        &sim,
        "POST",
        "/_armsim/clock/advance",
        Some(json!({"by": "soon"})),
    );
    assert!(
        message(&bad).contains("'soon' is not a duration"),
        "{}",
        message(&bad)
    );
}

#[test]
fn advancing_to_the_next_event_ends_the_running_operation() {
    let sim = sim();
    let loc = start(&sim, "contoso-apim", "backup", &backup_body(&sim, "b"));
    let resp = admin(
        &sim,
        "POST",
        "/_armsim/clock/advance",
        Some(json!({"toNextEvent": true})),
    );
    assert_eq!(body(&resp)["now"], "2026-01-01T00:09:00Z");
    assert_eq!(sim.handle(req("GET", &loc)).status, 200);
}

#[test]
fn state_round_trips_through_json_and_yaml() {
    let sim = sim();
    let loc = start(&sim, "contoso-apim", "backup", &backup_body(&sim, "b"));
    let json_state = admin(&sim, "GET", "/_armsim/state", None);
    let yaml_state = admin(&sim, "GET", "/_armsim/state?format=yaml", None);
    assert_eq!(
        yaml_state.header_value("content-type"),
        Some("application/yaml")
    );
    let other = crate::common::sim();
    let mut put = HttpRequest::new("PUT", "/_armsim/state");
    put.body = yaml_state.body.clone();
    put = put.header("content-type", "application/yaml");
    assert_eq!(other.handle(put).status, 200);
    assert_eq!(
        body(&admin(&other, "GET", "/_armsim/state", None)),
        body(&json_state)
    );
    // The running operation came along: it finishes in the copy too.
    other.advance(armsim_simulator::VDuration::from_mins(9));
    assert_eq!(other.handle(req("GET", &loc)).status, 200);
}

#[test]
fn a_bad_world_is_rejected_with_the_line_and_key_named() {
    let sim = sim();
    let mut put = HttpRequest::new("PUT", "/_armsim/state");
    put.body = bytes::Bytes::from_static(b"services:\n  - name: x\n    skew: Developer\n");
    let resp = sim.handle(put);
    assert_eq!(
        (resp.status, code(&resp).as_str()),
        (400, "InvalidRequestContent")
    );
    let m = message(&resp);
    assert!(m.contains("skew") && m.contains('3'), "{m}");
}

#[test]
fn reset_returns_to_the_configured_world_and_empties_the_journal() {
    let sim = sim();
    backup(&sim, "contoso-apim", "b");
    sim.advance(armsim_simulator::VDuration::from_days(3));
    assert_eq!(admin(&sim, "POST", "/_armsim/reset", None).status, 200);
    assert_eq!(
        body(&admin(&sim, "GET", "/_armsim/clock", None))["now"],
        "2026-01-01T00:00:00Z"
    );
    let routes: Vec<String> = sim.journal().into_iter().map(|e| e.route).collect();
    assert_eq!(
        routes,
        ["admin", "admin"],
        "only the reset and the clock read since the reset"
    );
    let blobs = admin(
        &sim,
        "GET",
        "/_armsim/blobs/contosobackups/apim-backups",
        None,
    );
    assert_eq!(body(&blobs)["value"], json!([]));
}

#[test]
fn unknown_admin_routes_and_methods_are_arm_shaped_errors() {
    let sim = sim();
    let resp = admin(&sim, "GET", "/_armsim/nothing", None);
    assert_eq!(resp.status, 404);
    assert!(message(&resp).contains("The admin routes are"));
    assert_eq!(admin(&sim, "DELETE", "/_armsim/clock", None).status, 405);
}

#[test]
fn the_journal_records_every_exchange_with_virtual_time_route_and_operation() {
    let sim = sim();
    let loc = start(&sim, "contoso-apim", "backup", &backup_body(&sim, "b"));
    sim.advance(armsim_simulator::VDuration::from_secs(60));
    sim.handle(req("GET", &loc));
    let j = sim.journal();
    let routes: Vec<&str> = j.iter().map(|e| e.route.as_str()).collect();
    assert_eq!(
        routes,
        ["storage.listKeys", "service.backup", "operation.poll"]
    );
    assert_eq!(j[1].operation_id, j[2].operation_id);
    assert!(j[1].operation_id.is_some());
    assert_eq!(j[2].at.since(j[1].at).as_millis(), 60_000);
    let since = admin(&sim, "GET", "/_armsim/journal?since=2", None);
    assert_eq!(body(&since).as_array().map(Vec::len), Some(1));
    // A poll of an operation that does not exist is journaled with the id it asked for.
    let unknown = svc("contoso-apim") + "/operationresults/bm8tc3VjaC1vcA==?api-version=2024-05-01";
    assert_eq!(sim.handle(req("GET", &unknown)).status, 404);
    let last = sim.journal().pop().expect("an entry");
    assert_eq!(
        (last.route.as_str(), last.operation_id.as_deref()),
        ("operation.poll", Some("bm8tc3VjaC1vcA=="))
    );
}
