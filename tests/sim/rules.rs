//! The rules of the service, each pinned by a test that names it.

use crate::common::*;
use armsim_simulator::clock::VDuration;
use armsim_simulator::sim::default_world;
use armsim_simulator::World;
use serde_json::{json, Value};

#[test]
fn backup_is_accepted_polled_at_retry_after_and_answers_200_with_the_service_forever() {
    let sim = sim();
    let loc = start(&sim, "contoso-apim", "backup", &backup_body(&sim, "b1"));
    let (done, polls) = poll_to_end(&sim, &loc);
    assert_eq!(done.status, 200);
    // 9 virtual minutes at Retry-After 60: the 10th poll sees the end.
    assert_eq!(polls, 10);
    let b = body(&done);
    assert_eq!(b["name"], "contoso-apim");
    assert_eq!(b["properties"]["provisioningState"], "Succeeded");
    assert_eq!(b["properties"]["targetProvisioningState"], "");
    assert!(done.header_value("location").is_none() && done.header_value("retry-after").is_none());
    sim.advance(VDuration::from_days(2));
    let again = sim.handle(req("GET", &loc));
    assert_eq!((again.status, body(&again)), (200, b));
}

#[test]
fn the_final_poll_carries_a_new_etag() {
    let sim = sim();
    let before = body(&get(&sim, &svc("contoso-apim")))["etag"].clone();
    let done = backup(&sim, "contoso-apim", "b1");
    assert_ne!(body(&done)["etag"], before);
    assert_eq!(
        body(&get(&sim, &svc("contoso-apim")))["etag"],
        body(&done)["etag"]
    );
}

#[test]
fn backup_writes_a_backup_object_with_configuration_sku_region_and_creation_time() {
    let sim = sim();
    backup(&sim, "contoso-apim", "nightly.bak");
    let blobs = sim
        .with_engine(|e| {
            e.blobs("contosobackups", "apim-backups")
                .map(|b| b.iter().cloned().collect::<Vec<_>>())
        })
        .expect("container");
    assert_eq!(blobs.len(), 1);
    let blob = &blobs[0];
    let object = &blob.backup.as_ref().expect("a backup object").config;
    assert_eq!(blob.name, "nightly.bak");
    assert_eq!(
        (
            object.service.as_str(),
            object.sku.as_str(),
            object.location.as_str()
        ),
        ("contoso-apim", "Developer", "West US")
    );
    assert_eq!(
        object
            .apis
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["echo-api", "orders-api"]
    );
    assert_eq!(
        blob.created_at,
        Some(sim.now()),
        "written when the backup ended"
    );
}

#[test]
fn backups_of_an_unchanged_service_share_one_configuration_and_a_change_makes_a_new_one() {
    let sim = sim();
    backup(&sim, "contoso-apim", "one");
    backup(&sim, "contoso-apim", "two");
    let changed = send(
        &sim,
        "PATCH",
        &svc("contoso-apim"),
        Some(&json!({"properties": {"publisherEmail": "dr@contoso.com"}})),
    );
    // A publisher change is not an infrastructure change: done at once.
    assert_eq!(changed.status, 200, "{:?}", changed.json_body());
    backup(&sim, "contoso-apim", "three");
    let blobs = sim
        .with_engine(|e| {
            e.blobs("contosobackups", "apim-backups")
                .map(|b| b.iter().cloned().collect::<Vec<_>>())
        })
        .expect("container");
    let config = |name: &str| {
        blobs
            .iter()
            .find(|b| b.name == name)
            .and_then(|b| b.backup.as_ref())
            .map(|b| b.config.clone())
            .unwrap_or_else(|| panic!("no backup {name}"))
    };
    assert!(std::sync::Arc::ptr_eq(&config("one"), &config("two")));
    assert!(!std::sync::Arc::ptr_eq(&config("two"), &config("three")));
    assert_eq!(config("three").publisher_email, "dr@contoso.com");
    assert_ne!(
        config("two").publisher_email,
        "dr@contoso.com",
        "an earlier backup keeps what it took"
    );
    // Shared in memory, written whole: the blob's object has every field, its own snapshot time.
    let written: Vec<Value> = ["one", "two"]
        .iter()
        .map(|name| {
            let b = blobs
                .iter()
                .find(|b| b.name == *name)
                .and_then(|b| b.backup.clone());
            serde_json::to_value(b).expect("json")
        })
        .collect();
    for w in &written {
        for field in [
            "format",
            "service",
            "sku",
            "capacity",
            "location",
            "snapshotAt",
            "publisherEmail",
            "publisherName",
            "apis",
        ] {
            assert!(w.get(field).is_some(), "{field} missing from {w}");
        }
    }
    assert_ne!(written[0]["snapshotAt"], written[1]["snapshotAt"]);
}

#[test]
fn backups_in_a_container_can_be_listed_through_the_admin_api() {
    let sim = sim();
    backup(&sim, "contoso-apim", "one");
    backup(&sim, "contoso-apim", "two");
    let resp = sim.handle(req("GET", "/_armsim/blobs/contosobackups/apim-backups"));
    let names: Vec<_> = body(&resp)["value"]
        .as_array()
        .expect("list")
        .iter()
        .map(|b| b["name"].clone())
        .collect();
    assert_eq!(names, [json!("one"), json!("two")]);
}

#[test]
fn backup_into_a_missing_container_fails_when_polled_with_backup_failed() {
    let sim = sim();
    let mut body = backup_body(&sim, "b1");
    body["containerName"] = json!("no-such-container");
    let loc = start(&sim, "contoso-apim", "backup", &body);
    let (done, _) = poll_to_end(&sim, &loc);
    assert_eq!((done.status, code(&done).as_str()), (400, "BackupFailed"));
    assert_eq!(message(&done), "Cannot backup: container 'no-such-container' was not found in storage account 'contosobackups'.");
    // The failure is terminal and answered the same way afterwards.
    sim.advance(VDuration::from_days(1));
    let again = sim.handle(req("GET", &loc));
    assert_eq!(
        (again.status, code(&again)),
        (400, "BackupFailed".to_string())
    );
    // The service is usable again.
    assert_eq!(body_state(&sim, "contoso-apim"), "Succeeded");
}

fn body_state(sim: &armsim_simulator::Simulator, service: &str) -> String {
    body(&get(sim, &svc(service)))["properties"]["provisioningState"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn backup_to_an_unknown_storage_account_is_rejected_on_the_post() {
    let sim = sim();
    let mut b = backup_body(&sim, "b1");
    b["storageAccount"] = json!("nosuchaccount");
    let resp = post(&sim, &format!("{}/backup", svc("contoso-apim")), &b);
    assert_eq!(
        (resp.status, code(&resp).as_str()),
        (400, "InvalidParameters")
    );
    assert!(
        message(&resp).contains("nosuchaccount"),
        "{}",
        message(&resp)
    );
}

#[test]
fn a_wrong_access_key_is_rejected_on_the_post() {
    let sim = sim();
    let mut b = backup_body(&sim, "b1");
    b["accessKey"] = json!("bm90IGEga2V5");
    let resp = post(&sim, &format!("{}/backup", svc("contoso-apim")), &b);
    assert_eq!(
        (resp.status, code(&resp).as_str()),
        (400, "InvalidParameters")
    );
    assert!(message(&resp).contains("Parameter name: backupStorageAccessKey"));
}

#[test]
fn regenerating_a_key_breaks_scripts_holding_the_old_one_and_the_other_key_still_works() {
    let sim = sim();
    let stale = backup_body(&sim, "b1");
    let key2 = storage_key(&sim, 1);
    let regen = post(
        &sim,
        &format!("{}/regenerateKey", storage()),
        &json!({"keyName": "key1"}),
    );
    assert_eq!(regen.status, 200);
    assert_ne!(body(&regen)["keys"][0]["value"], stale["accessKey"]);
    let resp = post(&sim, &format!("{}/backup", svc("contoso-apim")), &stale);
    assert_eq!(
        (resp.status, code(&resp).as_str()),
        (400, "InvalidParameters")
    );
    let mut with_key2 = stale.clone();
    with_key2["accessKey"] = json!(key2);
    start(&sim, "contoso-apim", "backup", &with_key2);
}

#[test]
fn managed_identity_access_needs_the_identity_attached_to_the_service() {
    let mut world = default_world();
    world.services[0].identity = Some(armsim_simulator::engine::model::ServiceIdentity {
        system_assigned: true,
        user_assigned: vec![armsim_simulator::engine::model::UserAssignedIdentity {
            name: "dr-identity".into(),
            client_id: "aaaaaaaa-0000-4000-8000-000000000001".into(),
        }],
    });
    let sim = sim_with(world);
    let base = json!({"storageAccount": "contosobackups", "containerName": "apim-backups", "backupName": "mi"});
    let with = |extra: serde_json::Value| {
        let mut b = base.clone();
        b.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        b
    };
    let system = with(json!({"accessType": "SystemAssignedManagedIdentity"}));
    let user = with(
        json!({"accessType": "UserAssignedManagedIdentity", "clientId": "aaaaaaaa-0000-4000-8000-000000000001"}),
    );
    let stranger = with(
        json!({"accessType": "UserAssignedManagedIdentity", "clientId": "bbbbbbbb-0000-4000-8000-000000000002"}),
    );
    assert_eq!(
        poll_to_end(&sim, &start(&sim, "contoso-apim", "backup", &system))
            .0
            .status,
        200
    );
    assert_eq!(
        poll_to_end(&sim, &start(&sim, "contoso-apim", "backup", &user))
            .0
            .status,
        200
    );
    let resp = post(&sim, &format!("{}/backup", svc("contoso-apim")), &stranger);
    assert_eq!(
        (resp.status, code(&resp).as_str()),
        (400, "InvalidParameters")
    );
    assert!(message(&resp).contains("bbbbbbbb-0000-4000-8000-000000000002"));
    // contoso-apim-dr has no identity at all.
    let resp = post(&sim, &format!("{}/backup", svc("contoso-apim-dr")), &system);
    assert_eq!(
        (resp.status, code(&resp).as_str()),
        (400, "InvalidParameters")
    );
    assert!(message(&resp).contains("no system-assigned managed identity"));
}

fn world_with_backup(age: &str, sku: &str) -> World {
    let mut world = default_world();
    let yaml = format!(
        "name: old.bak\nage: {age}\nbackup:\n  service: contoso-apim\n  sku: {sku}\n  location: West US\n  apis: [{{name: restored-api}}]\n"
    );
    let blob = serde_saphyr::from_str(&yaml).expect("blob yaml");
    world.storage_accounts[0].containers[0].blobs.put(blob);
    world
}

#[test]
fn a_backup_29_days_23_hours_old_restores() {
    let sim = sim_with(world_with_backup("29d23h", "Developer"));
    let done = restore(&sim, "contoso-apim-dr", "old.bak");
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    assert_eq!(apis(&sim, "contoso-apim-dr"), ["restored-api"]);
}

#[test]
fn restore_fails_when_the_backup_is_30_days_old() {
    let sim = sim_with(world_with_backup("30d", "Developer"));
    let loc = start(
        &sim,
        "contoso-apim-dr",
        "restore",
        &backup_body(&sim, "old.bak"),
    );
    let (done, _) = poll_to_end(&sim, &loc);
    assert_eq!(
        (done.status, code(&done).as_str(), message(&done).as_str()),
        (400, "RestoreFailed", "Cannot restore: backup expired")
    );
    assert!(
        apis(&sim, "contoso-apim-dr").is_empty(),
        "a failed restore changes nothing"
    );
}

#[test]
fn a_backup_becomes_unrestorable_after_advancing_31_days() {
    let sim = sim();
    backup(&sim, "contoso-apim", "b1");
    sim.advance(VDuration::from_days(31));
    let done = restore(&sim, "contoso-apim-dr", "b1");
    assert_eq!(message(&done), "Cannot restore: backup expired");
}

#[test]
fn restore_fails_when_the_target_sku_differs_from_the_backup_in_either_direction() {
    let sim = sim();
    backup(&sim, "contoso-apim", "dev.bak");
    let done = restore(&sim, "contoso-apim-premium", "dev.bak");
    assert_eq!((done.status, code(&done).as_str()), (400, "RestoreFailed"));
    assert_eq!(
        message(&done),
        "Cannot restore: current SKU is 'Premium', backup SKU is 'Developer'"
    );
    backup(&sim, "contoso-apim-premium", "premium.bak");
    let done = restore(&sim, "contoso-apim-dr", "premium.bak");
    assert_eq!(
        message(&done),
        "Cannot restore: current SKU is 'Developer', backup SKU is 'Premium'"
    );
}

#[test]
fn restore_of_a_missing_backup_or_a_foreign_blob_fails_when_polled() {
    let mut world = default_world();
    world.storage_accounts[0].containers[0]
        .blobs
        .put(serde_saphyr::from_str("name: notes.txt\ncontent: hello\n").expect("blob"));
    let sim = sim_with(world);
    assert_eq!(
        message(&restore(&sim, "contoso-apim-dr", "missing.bak")),
        "Cannot restore: backup 'missing.bak' was not found in container 'apim-backups'."
    );
    assert_eq!(
        message(&restore(&sim, "contoso-apim-dr", "notes.txt")),
        "Cannot restore: blob 'notes.txt' is not an API Management backup."
    );
}

#[test]
fn consumption_and_v2_tiers_refuse_backup_and_restore() {
    let mut world = default_world();
    world.services.push(
        serde_saphyr::from_str("name: contoso-v2\nsku: StandardV2\nlocation: West US\n")
            .expect("svc"),
    );
    let sim = sim_with(world);
    for (service, tier) in [
        ("contoso-apim-consumption", "Consumption"),
        ("contoso-v2", "StandardV2"),
    ] {
        for action in ["backup", "restore"] {
            let resp = post(
                &sim,
                &format!("{}/{action}", svc(service)),
                &backup_body(&sim, "x"),
            );
            assert_eq!(
                (resp.status, code(&resp).as_str()),
                (400, "MethodNotAllowedInPricingTier"),
                "{service} {action}"
            );
            assert_eq!(
                message(&resp),
                format!("Method not allowed in {tier} pricing tier")
            );
        }
    }
}

#[test]
fn management_operations_get_409_while_a_backup_runs_and_the_service_shows_it() {
    let sim = sim();
    let loc = start(&sim, "contoso-apim", "backup", &backup_body(&sim, "b1"));
    let state = body(&get(&sim, &svc("contoso-apim")))["properties"].clone();
    assert_eq!(
        (
            state["provisioningState"].as_str(),
            state["targetProvisioningState"].as_str()
        ),
        (Some("Updating"), Some("Succeeded"))
    );
    let path = svc("contoso-apim");
    let attempts = [
        send(
            &sim,
            "POST",
            &format!("{path}/backup"),
            Some(&backup_body(&sim, "b2")),
        ),
        send(
            &sim,
            "POST",
            &format!("{path}/restore"),
            Some(&backup_body(&sim, "b1")),
        ),
        send(
            &sim,
            "PATCH",
            &path,
            Some(&json!({"sku": {"name": "Developer", "capacity": 2}})),
        ),
        send(&sim, "PATCH", &path, Some(&json!({"tags": {"a": "b"}}))),
        send(
            &sim,
            "PUT",
            &path,
            Some(
                &json!({"location": "West US", "sku": {"name": "Developer", "capacity": 1}, "properties": {"publisherEmail": "a@b.c", "publisherName": "X"}}),
            ),
        ),
        send(&sim, "DELETE", &path, None),
    ];
    for resp in &attempts {
        assert_eq!((resp.status, code(resp).as_str()), (409, "Conflict"));
        assert!(message(resp).contains("a backup"), "{}", message(resp));
    }
    // Another service is not held.
    start(
        &sim,
        "contoso-apim-dr",
        "backup",
        &backup_body(&sim, "other"),
    );
    poll_to_end(&sim, &loc);
    assert_eq!(
        send(&sim, "PATCH", &path, Some(&json!({"tags": {"a": "b"}}))).status,
        200
    );
}

#[test]
fn changes_made_during_a_backup_are_not_in_it() {
    let sim = sim();
    let loc = start(&sim, "contoso-apim", "backup", &backup_body(&sim, "b1"));
    sim.advance(VDuration::from_mins(3));
    let put = send(
        &sim,
        "PUT",
        &format!("{}/apis/late-api", svc("contoso-apim")),
        Some(&json!({"properties": {"displayName": "Late", "path": "late"}})),
    );
    assert_eq!(put.status, 201);
    poll_to_end(&sim, &loc);
    assert_eq!(
        apis(&sim, "contoso-apim"),
        ["echo-api", "orders-api", "late-api"]
    );
    restore(&sim, "contoso-apim-dr", "b1");
    assert_eq!(apis(&sim, "contoso-apim-dr"), ["echo-api", "orders-api"]);
}

#[test]
fn a_restore_replaces_the_configuration_at_its_end_overwriting_changes_made_meanwhile() {
    let sim = sim();
    backup(&sim, "contoso-apim", "b1");
    let loc = start(&sim, "contoso-apim-dr", "restore", &backup_body(&sim, "b1"));
    sim.advance(VDuration::from_mins(10));
    send(
        &sim,
        "PUT",
        &format!("{}/apis/during-restore", svc("contoso-apim-dr")),
        Some(&json!({})),
    );
    assert_eq!(
        apis(&sim, "contoso-apim-dr"),
        ["during-restore"],
        "nothing restored before the end"
    );
    let (done, _) = poll_to_end(&sim, &loc);
    assert_eq!(done.status, 200);
    assert_eq!(apis(&sim, "contoso-apim-dr"), ["echo-api", "orders-api"]);
}

#[test]
fn usage_data_is_never_part_of_a_backup() {
    let sim = sim();
    backup(&sim, "contoso-apim", "b1");
    let blob = sim.handle(req("GET", "/_armsim/blobs/contosobackups/apim-backups/b1"));
    assert!(
        !String::from_utf8_lossy(&blob.body).contains("usage"),
        "{}",
        String::from_utf8_lossy(&blob.body)
    );
    restore(&sim, "contoso-apim-dr", "b1");
    let usage = sim.with_engine(|e| {
        e.world()
            .services
            .iter()
            .find(|s| s.name == "contoso-apim-dr")
            .map(|s| s.usage.requests)
    });
    assert_eq!(usage, Some(0), "the DR service keeps its own (empty) usage");
}

#[test]
fn restore_into_another_region_keeps_the_target_region_and_sku() {
    let sim = sim();
    backup(&sim, "contoso-apim", "b1");
    let done = restore(&sim, "contoso-apim-dr", "b1");
    let b = body(&done);
    assert_eq!(
        (b["location"].as_str(), b["sku"]["name"].as_str()),
        (Some("East US"), Some("Developer"))
    );
    assert_eq!(
        b["properties"]["gatewayRegionalUrl"],
        "https://contoso-apim-dr-eastus-01.regional.azure-api.net"
    );
}

#[test]
fn operation_ids_are_base64_of_region_service_kind_and_8_hex() {
    use base64::Engine as _;
    let sim = sim();
    let loc = start(&sim, "contoso-apim-dr", "backup", &backup_body(&sim, "b1"));
    let id = loc
        .split("/operationresults/")
        .nth(1)
        .and_then(|r| r.split('?').next())
        .expect("id");
    let raw = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(id)
            .expect("standard base64"),
    )
    .expect("utf8");
    let (prefix, hex) = raw.rsplit_once('_').expect("suffix");
    assert_eq!(prefix, "eastus:contoso-apim-dr_Backup");
    assert!(
        hex.len() == 8
            && hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "{raw}"
    );
}

#[test]
fn create_is_an_activation_operation_and_the_service_appears_activating() {
    let sim = sim();
    let path = svc("contoso-new");
    let body_in = json!({"location": "North Europe", "sku": {"name": "Developer", "capacity": 1}, "properties": {"publisherEmail": "ops@contoso.com", "publisherName": "Ops"}});
    let resp = send(&sim, "PUT", &path, Some(&body_in));
    assert_eq!(resp.status, 201);
    assert_eq!(body(&resp)["properties"]["provisioningState"], "Activating");
    let loc = location_path(&resp);
    let raw = loc
        .split("/operationresults/")
        .nth(1)
        .expect("id")
        .split('?')
        .next()
        .expect("id")
        .to_string();
    use base64::Engine as _;
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .expect("b64"),
    )
    .expect("utf8");
    assert!(
        decoded.starts_with("northeurope:contoso-new_Act_"),
        "{decoded}"
    );
    let (done, _) = poll_to_end(&sim, &loc);
    assert_eq!(body(&done)["properties"]["provisioningState"], "Succeeded");
}

#[test]
fn a_sku_change_is_an_operation_and_a_tag_change_is_immediate() {
    let sim = sim();
    let path = svc("contoso-apim");
    let tags = send(&sim, "PATCH", &path, Some(&json!({"tags": {"env": "dr"}})));
    assert_eq!(
        (tags.status, body(&tags)["tags"]["env"].as_str()),
        (200, Some("dr"))
    );
    let scale = send(
        &sim,
        "PATCH",
        &path,
        Some(&json!({"sku": {"name": "Premium", "capacity": 2}})),
    );
    assert_eq!(scale.status, 202);
    let (done, _) = poll_to_end(&sim, &location_path(&scale));
    assert_eq!(
        body(&done)["sku"],
        json!({"name": "Premium", "capacity": 2})
    );
    let to_v2 = send(
        &sim,
        "PATCH",
        &path,
        Some(&json!({"sku": {"name": "StandardV2", "capacity": 1}})),
    );
    assert_eq!(
        (to_v2.status, code(&to_v2).as_str()),
        (400, "InvalidParameters")
    );
}

#[test]
fn outcome_overrides_force_failures_durations_and_never_ending_operations() {
    let mut world = default_world();
    world.behaviour.outcomes = serde_saphyr::from_str(
        "- kind: backup\n  service: contoso-apim\n  duration: 2m\n  fail: {status: 500, code: InternalServerError, message: Storage unreachable}\n- kind: backup\n  neverFinish: true\n",
    )
    .expect("outcomes");
    let sim = sim_with(world);
    let (done, polls) = poll_to_end(
        &sim,
        &start(&sim, "contoso-apim", "backup", &backup_body(&sim, "b")),
    );
    assert_eq!(
        (done.status, code(&done).as_str(), polls),
        (500, "InternalServerError", 3)
    );
    let loc = start(&sim, "contoso-apim-dr", "backup", &backup_body(&sim, "b"));
    sim.advance(VDuration::from_days(3));
    assert_eq!(sim.handle(req("GET", &loc)).status, 202);
}

#[test]
fn polling_an_unknown_operation_is_404() {
    let sim = sim();
    let resp = get(
        &sim,
        &format!("{}/operationresults/bm9wZQ==", svc("contoso-apim")),
    );
    assert_eq!(
        (resp.status, code(&resp).as_str()),
        (404, "ResourceNotFound")
    );
}
