//! api-versions: which are accepted, and the body rules of each family.

use crate::common::*;
use armsim_simulator::arm::api_version::APIM_VERSIONS;
use serde_json::{json, Value};

fn post_v(
    sim: &armsim_simulator::Simulator,
    v: &str,
    service: &str,
    body: &Value,
) -> armsim_simulator::HttpResponse {
    sim.handle(req("POST", &format!("{}/backup?api-version={v}", svc(service))).json(body))
}

#[test]
fn every_listed_version_is_accepted_and_echoed_in_the_location() {
    let sim = sim();
    let key = storage_key(&sim, 0);
    for (i, v) in APIM_VERSIONS.iter().enumerate() {
        let body = json!({"storageAccount": "contosobackups", "accessKey": key, "containerName": "apim-backups", "backupName": format!("b{i}")});
        let resp = post_v(&sim, v, "contoso-apim", &body);
        assert_eq!(
            resp.status,
            202,
            "{v}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        let loc = resp.header_value("location").expect("location");
        assert!(loc.ends_with(&format!("?api-version={v}")), "{v}: {loc}");
        let (done, _) = poll_to_end(&sim, &location_path(&resp));
        assert_eq!(done.status, 200, "{v}");
    }
}

#[test]
fn the_issue_named_versions_are_all_accepted() {
    for v in [
        "2016-07-07",
        "2016-10-10",
        "2019-12-01",
        "2020-12-01",
        "2021-08-01",
        "2022-08-01",
        "2023-05-01-preview",
        "2024-05-01",
        "2025-03-01-preview",
    ] {
        assert!(APIM_VERSIONS.contains(&v), "{v}");
    }
}

#[test]
fn before_2021_all_four_fields_are_required_and_access_type_is_refused() {
    let sim = sim();
    let key = storage_key(&sim, 0);
    let full = json!({"storageAccount": "contosobackups", "accessKey": key, "containerName": "apim-backups", "backupName": "b"});
    for v in [
        "2016-07-07",
        "2019-12-01",
        "2020-12-01",
        "2021-01-01-preview",
    ] {
        for field in ["storageAccount", "accessKey", "containerName", "backupName"] {
            let mut b = full.clone();
            b.as_object_mut().expect("obj").remove(field);
            let resp = post_v(&sim, v, "contoso-apim", &b);
            assert_eq!(
                (resp.status, code(&resp).as_str()),
                (400, "ValidationError"),
                "{v} without {field}"
            );
            assert!(message(&resp).contains(field), "{}", message(&resp));
        }
        let mut b = full.clone();
        b["accessType"] = json!("AccessKey");
        let resp = post_v(&sim, v, "contoso-apim", &b);
        assert_eq!(resp.status, 400, "{v} with accessType");
        assert!(
            message(&resp).contains("2021-04-01-preview"),
            "{}",
            message(&resp)
        );
    }
}

#[test]
fn from_2021_access_type_decides_which_credential_is_required() {
    let sim = sim();
    let base = json!({"storageAccount": "contosobackups", "containerName": "apim-backups", "backupName": "b"});
    let cases = [
        (
            json!({}),
            "'accessKey' is required when 'accessType' is 'AccessKey'.",
        ),
        (
            json!({"accessType": "AccessKey"}),
            "'accessKey' is required when 'accessType' is 'AccessKey'.",
        ),
        (
            json!({"accessType": "UserAssignedManagedIdentity"}),
            "'clientId' is required when 'accessType' is 'UserAssignedManagedIdentity'.",
        ),
        (
            json!({"accessType": "Password"}),
            "'accessType' has an invalid value 'Password'.",
        ),
        (json!({"accessKey": 42}), "'accessKey' must be a string."),
    ];
    for v in [
        "2021-08-01",
        "2022-08-01",
        "2024-05-01",
        "2025-03-01-preview",
    ] {
        for (extra, want) in &cases {
            let mut b = base.clone();
            b.as_object_mut()
                .expect("obj")
                .extend(extra.as_object().expect("obj").clone());
            let resp = post_v(&sim, v, "contoso-apim", &b);
            assert_eq!(
                (resp.status, code(&resp).as_str()),
                (400, "ValidationError"),
                "{v} {extra}"
            );
            assert!(
                message(&resp).contains(want),
                "{v}: {} lacks {want}",
                message(&resp)
            );
        }
        for required in ["storageAccount", "containerName", "backupName"] {
            let mut b = base.clone();
            b["accessKey"] = json!(storage_key(&sim, 0));
            b.as_object_mut().expect("obj").remove(required);
            let resp = post_v(&sim, v, "contoso-apim", &b);
            assert!(
                message(&resp).contains(&format!("'{required}' is required")),
                "{}",
                message(&resp)
            );
        }
    }
}

#[test]
fn missing_malformed_and_unknown_api_versions_get_arm_errors() {
    let sim = sim();
    let path = svc("contoso-apim");
    let missing = sim.handle(req("GET", &path));
    assert_eq!(
        (missing.status, code(&missing).as_str()),
        (400, "MissingApiVersionParameter")
    );
    assert_eq!(
        message(&missing),
        "The api-version query parameter (?api-version=) is required for all requests."
    );
    let malformed = sim.handle(req("GET", &format!("{path}?api-version=latest")));
    assert_eq!(
        (malformed.status, code(&malformed).as_str()),
        (400, "InvalidApiVersionParameter")
    );
    assert!(message(&malformed)
        .starts_with("The api-version 'latest' is invalid. The supported versions are '"));
    let unknown = sim.handle(req("GET", &format!("{path}?api-version=2015-01-01")));
    assert_eq!(
        (unknown.status, code(&unknown).as_str()),
        (400, "NoRegisteredProviderFound")
    );
    assert!(message(&unknown).starts_with("No registered resource provider found for location 'westus' and API version '2015-01-01' for type 'service'."), "{}", message(&unknown));
}

#[test]
fn legacy_versions_answer_with_the_2016_property_names() {
    let sim = sim();
    let old = sim.handle(req(
        "GET",
        &format!("{}?api-version=2016-10-10", svc("contoso-apim")),
    ));
    let props = body(&old)["properties"].clone();
    assert!(
        props.get("runtimeUrl").is_some()
            && props.get("staticIPs").is_some()
            && props.get("gatewayUrl").is_none(),
        "{props}"
    );
    let new = get(&sim, &svc("contoso-apim"));
    assert!(
        body(&new)["properties"].get("gatewayUrl").is_some()
            && body(&new).get("systemData").is_some()
    );
}
