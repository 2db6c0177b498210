//! Snapshots of real-shaped answers. The clock is manual and ids come from the seed, so they are stable.

use crate::common::*;
use armsim_simulator::HttpResponse;
use serde_json::{json, Value};

fn shown(resp: &HttpResponse) -> Value {
    let headers: serde_json::Map<String, Value> = resp
        .header_pairs()
        .map(|(n, v)| (n.to_string(), Value::from(v)))
        .collect();
    json!({"status": resp.status, "headers": headers, "body": resp.json_body()})
}

#[test]
fn backup_accepted_polled_and_succeeded() {
    let sim = sim();
    let accepted = post(
        &sim,
        &format!("{}/backup", svc("contoso-apim")),
        &backup_body(&sim, "nightly"),
    );
    insta::assert_yaml_snapshot!("backup_202", shown(&accepted));
    let loc = location_path(&accepted);
    insta::assert_yaml_snapshot!("backup_poll_202", shown(&sim.handle(req("GET", &loc))));
    sim.advance(armsim_simulator::VDuration::from_mins(9));
    insta::assert_yaml_snapshot!("backup_poll_200", shown(&sim.handle(req("GET", &loc))));
}

#[test]
fn error_answers() {
    let sim = sim();
    backup(&sim, "contoso-apim", "dev.bak");
    let sku = restore(&sim, "contoso-apim-premium", "dev.bak");
    insta::assert_yaml_snapshot!("restore_sku_mismatch", shown(&sku));
    let tier = post(
        &sim,
        &format!("{}/backup", svc("contoso-apim-consumption")),
        &backup_body(&sim, "x"),
    );
    insta::assert_yaml_snapshot!("backup_consumption", shown(&tier));
    let missing = get(&sim, &svc("nope"));
    insta::assert_yaml_snapshot!("service_not_found", shown(&missing));
    let no_auth = sim.handle(armsim_simulator::HttpRequest::new(
        "GET",
        &with_version(&svc("nope"), V),
    ));
    insta::assert_yaml_snapshot!("missing_authorization", shown(&no_auth));
}
