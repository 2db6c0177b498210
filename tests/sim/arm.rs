//! ARM-wide behaviour: authentication, 404s, malformed input, headers and case.

use crate::common::*;
use armsim_simulator::http::HttpRequest;
use serde_json::json;

#[test]
fn a_request_without_authorization_gets_401_with_the_bearer_challenge() {
    let sim = sim();
    let resp = sim.handle(HttpRequest::new(
        "GET",
        &with_version(&svc("contoso-apim"), V),
    ));
    assert_eq!(
        (resp.status, code(&resp).as_str()),
        (401, "AuthenticationFailed")
    );
    assert_eq!(
        message(&resp),
        "Authentication failed. The 'Authorization' header is missing."
    );
    let challenge = resp.header_value("www-authenticate").expect("challenge");
    assert!(challenge.starts_with("Bearer authorization_uri=\"https://login.windows.net/11111111-1111-1111-1111-111111111111\", error=\"invalid_token\""), "{challenge}");
    let basic = sim.handle(
        HttpRequest::new("GET", &with_version(&svc("contoso-apim"), V))
            .header("authorization", "Basic dXNlcjpwYXNz"),
    );
    assert_eq!(
        (basic.status, code(&basic).as_str()),
        (401, "AuthenticationFailed")
    );
}

#[test]
fn missing_subscription_group_and_service_get_their_own_404s_with_real_texts() {
    let sim = sim();
    let nosub = get(&sim, "/subscriptions/99999999-9999-9999-9999-999999999999/resourceGroups/contoso-dr/providers/Microsoft.ApiManagement/service/x");
    assert_eq!(
        (nosub.status, code(&nosub).as_str()),
        (404, "SubscriptionNotFound")
    );
    assert_eq!(
        message(&nosub),
        "The subscription '99999999-9999-9999-9999-999999999999' could not be found."
    );
    let norg = get(&sim, &svc("x").replace("contoso-dr", "Nope-RG"));
    assert_eq!(
        (norg.status, message(&norg).as_str()),
        (404, "Resource group 'Nope-RG' could not be found.")
    );
    let nosvc = get(&sim, &svc("Missing-Apim"));
    assert_eq!(
        (nosvc.status, code(&nosvc).as_str()),
        (404, "ResourceNotFound")
    );
    assert_eq!(message(&nosvc), "The Resource 'Microsoft.ApiManagement/service/Missing-Apim' under resource group 'contoso-dr' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix");
    assert_eq!(nosvc.header_value("x-ms-failure-cause"), Some("gateway"));
}

#[test]
fn malformed_bodies_unknown_routes_and_wrong_methods_are_arm_errors() {
    let sim = sim();
    let bad_json = sim.handle(
        req(
            "POST",
            &with_version(&format!("{}/backup", svc("contoso-apim")), V),
        )
        .header("content-type", "application/json"),
    );
    assert_eq!(bad_json.status, 400, "empty body");
    let mut r = req(
        "POST",
        &with_version(&format!("{}/backup", svc("contoso-apim")), V),
    )
    .header("content-type", "application/json");
    r.body = bytes::Bytes::from_static(b"{\"storageAccount\": ");
    let resp = sim.handle(r);
    assert_eq!(
        (resp.status, code(&resp).as_str()),
        (400, "InvalidRequestContent")
    );
    let mut xml = req(
        "POST",
        &with_version(&format!("{}/backup", svc("contoso-apim")), V),
    )
    .header("content-type", "application/xml");
    xml.body = bytes::Bytes::from_static(b"<backup/>");
    assert_eq!(code(&sim.handle(xml)), "UnsupportedMediaType");
    for path in [
        "/",
        "/nope",
        "/subscriptions/x/resourceGroups/y/providers/Microsoft.Web/sites/z",
    ] {
        let resp = sim.handle(req("GET", path));
        assert_eq!(resp.status, 404, "{path}");
        assert!(body(&resp)["error"]["code"].is_string(), "{path}");
    }
    let resp = sim.handle(req(
        "DELETE",
        &with_version(&format!("{}/backup", svc("contoso-apim")), V),
    ));
    assert_eq!(
        (resp.status, code(&resp).as_str()),
        (405, "MethodNotAllowed")
    );
}

#[test]
fn path_keywords_match_in_any_case_and_names_keep_the_callers_case() {
    let sim = sim();
    let shouting = format!("/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/Contoso-DR/PROVIDERS/microsoft.apimanagement/SERVICE/Contoso-APIM/BACKUP?api-version={V}");
    let resp = sim.handle(req("POST", &shouting).json(&backup_body(&sim, "b")));
    assert_eq!(resp.status, 202);
    let loc = resp.header_value("location").expect("location");
    assert!(loc.contains("/resourceGroups/Contoso-DR/providers/Microsoft.ApiManagement/service/Contoso-APIM/operationresults/"), "{loc}");
    let (done, _) = poll_to_end(&sim, &location_path(&resp));
    assert_eq!(done.status, 200);
}

#[test]
fn every_arm_answer_carries_request_correlation_routing_and_ratelimit_headers() {
    let sim = sim();
    let resp = sim.handle(
        req(
            "POST",
            &with_version(&format!("{}/backup", svc("contoso-apim")), V),
        )
        .header(
            "x-ms-correlation-request-id",
            "c0ffee00-0000-4000-8000-000000000001",
        )
        .json(&backup_body(&sim, "b")),
    );
    assert_eq!(
        resp.header_value("x-ms-correlation-request-id"),
        Some("c0ffee00-0000-4000-8000-000000000001")
    );
    let routing = resp
        .header_value("x-ms-routing-request-id")
        .expect("routing");
    assert!(
        routing.starts_with("WESTUS:20260101T000000Z:c0ffee00"),
        "{routing}"
    );
    assert_eq!(resp.header_value("x-ms-request-id").map(str::len), Some(36));
    assert_ne!(
        resp.header_value("x-ms-request-id"),
        resp.header_value("x-ms-correlation-request-id")
    );
    let writes: u32 = resp
        .header_value("x-ms-ratelimit-remaining-subscription-writes")
        .expect("writes")
        .parse()
        .expect("n");
    let second = post(&sim, &format!("{}/listKeys", storage()), &json!({}));
    let writes2: u32 = second
        .header_value("x-ms-ratelimit-remaining-subscription-writes")
        .expect("writes")
        .parse()
        .expect("n");
    assert_eq!(writes2, writes - 1);
    let read = get(&sim, &svc("contoso-apim"));
    assert!(read
        .header_value("x-ms-ratelimit-remaining-subscription-reads")
        .is_some());
    for h in [
        "cache-control",
        "pragma",
        "expires",
        "strict-transport-security",
        "x-content-type-options",
        "date",
    ] {
        assert!(read.header_value(h).is_some(), "{h}");
    }
    let err = get(&sim, &svc("missing"));
    assert!(
        err.header_value("x-ms-request-id").is_some(),
        "errors carry ids too"
    );
}

#[test]
fn the_202_has_an_empty_body_location_and_retry_after_and_polls_repeat_them() {
    let sim = sim();
    let resp = post(
        &sim,
        &format!("{}/backup", svc("contoso-apim")),
        &backup_body(&sim, "b"),
    );
    assert_eq!((resp.status, resp.body.len()), (202, 0));
    assert_eq!(resp.header_value("content-length"), Some("0"));
    assert_eq!(resp.header_value("retry-after"), Some("60"));
    let loc = resp.header_value("location").expect("location").to_string();
    assert!(
        loc.starts_with(&format!(
            "https://127.0.0.1:8443{}/operationresults/",
            svc("contoso-apim")
        )),
        "{loc}"
    );
    let poll = sim.handle(req("GET", &location_path(&resp)));
    assert_eq!((poll.status, poll.body.len()), (202, 0));
    assert_eq!(poll.header_value("location"), Some(loc.as_str()));
    assert_eq!(poll.header_value("retry-after"), Some("60"));
}

#[test]
fn the_2021_double_slash_location_can_be_reproduced_and_is_followable() {
    let mut world = armsim_simulator::sim::default_world();
    world.behaviour.double_slash_location = true;
    let sim = sim_with(world);
    let resp = post(
        &sim,
        &format!("{}/backup", svc("contoso-apim")),
        &backup_body(&sim, "b"),
    );
    let loc = resp.header_value("location").expect("location");
    assert!(loc.contains("/contoso-apim//operationresults/"), "{loc}");
    let poll = sim.handle(req("GET", &location_path(&resp)));
    assert_eq!(poll.status, 202);
    assert!(!poll
        .header_value("location")
        .expect("loc")
        .contains("//operationresults"));
}

#[test]
fn the_journal_redacts_access_keys_storage_keys_and_authorization() {
    let sim = sim();
    let key = storage_key(&sim, 0);
    backup(&sim, "contoso-apim", "b");
    let journal = serde_json::to_string(&sim.journal()).expect("json");
    assert!(
        !journal.contains(&key),
        "storage key leaked into the journal"
    );
    assert!(
        !journal.contains("test-token"),
        "bearer token leaked into the journal"
    );
    assert!(journal.contains("Bearer <redacted>"));
    assert!(journal.contains("\"accessKey\":\"<redacted>\""));
    let over_http = sim.handle(req("GET", "/_armsim/journal"));
    let text = String::from_utf8_lossy(&over_http.body);
    assert!(!text.contains(&key) && !text.contains("test-token"));
}

#[test]
fn storage_accounts_and_containers_can_be_managed() {
    let sim = sim();
    let acct = storage().replace("contosobackups", "drsecondary");
    assert_eq!(
        send(
            &sim,
            "PUT",
            &acct,
            Some(
                &json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"})
            )
        )
        .status,
        200
    );
    let c = format!("{acct}/blobServices/default/containers/dr-backups");
    assert_eq!(send(&sim, "PUT", &c, None).status, 201);
    assert_eq!(send(&sim, "PUT", &c, None).status, 200);
    assert_eq!(body(&get(&sim, &c))["name"], "dr-backups");
    let list = get(&sim, &format!("{acct}/blobServices/default/containers"));
    assert_eq!(body(&list)["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        code(&send(
            &sim,
            "PUT",
            &format!("{acct}/blobServices/default/containers/Bad_Name"),
            None
        )),
        "ContainerOperationFailure"
    );
    assert_eq!(send(&sim, "DELETE", &c, None).status, 200);
    assert_eq!(get(&sim, &c).status, 404);
    let in_rg = get(
        &sim,
        &format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts"
        ),
    );
    assert_eq!(body(&in_rg)["value"].as_array().map(Vec::len), Some(2));
}

#[test]
fn services_are_listed_by_group_and_by_subscription() {
    let sim = sim();
    let by_rg = get(
        &sim,
        &format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ApiManagement/service"
        ),
    );
    let by_sub = get(
        &sim,
        &format!("/subscriptions/{SUB}/providers/Microsoft.ApiManagement/service"),
    );
    assert_eq!(body(&by_rg)["value"].as_array().map(Vec::len), Some(4));
    assert_eq!(body(&by_rg), body(&by_sub));
}
