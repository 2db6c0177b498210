//! Resources as ARM writes them, per api-version. Shapes follow the REST spec examples and the 2021/2023
//! recordings (`../shared/reference/data/`).

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::arm::api_version::{has_system_data, is_legacy_layout};
use crate::arm::region;
use crate::clock::Timestamp;
use crate::engine::model::{Api, Container, Service, StorageAccount};

/// The etag of a resource version: base64 of the big-endian counter, as APIM writes it (`AAAAAAAHZ4g=`).
pub fn etag(version: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(version.to_be_bytes())
}

pub fn service_id(s: &Service) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}",
        s.subscription, s.resource_group, s.name
    )
}

/// A public IP for the service, stable per name (documentation range 203.0.113.0/24).
fn public_ip(name: &str) -> String {
    let h = name
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    format!("203.0.113.{}", 1 + h % 250)
}

/// The `ApiManagementServiceResource` body.
pub fn service(s: &Service, api_version: &str) -> Value {
    service_at(s, s.version, api_version)
}

/// [`service`] as of `version` (its etag): a finished operation's shared resource, with its own version.
pub fn service_at(s: &Service, version: u64, api_version: &str) -> Value {
    let name = &s.name;
    let host = format!("{}.azure-api.net", name.to_ascii_lowercase());
    let created = s
        .created_at
        .map(Timestamp::to_arm_string)
        .unwrap_or_default();
    let mut props = Map::new();
    props.insert("publisherEmail".into(), json!(s.publisher_email));
    props.insert("publisherName".into(), json!(s.publisher_name));
    if !is_legacy_layout(api_version) {
        props.insert(
            "notificationSenderEmail".into(),
            json!("apimgmt-noreply@mail.windowsazure.com"),
        );
    }
    props.insert("provisioningState".into(), json!(s.provisioning_state));
    props.insert(
        "targetProvisioningState".into(),
        json!(s.target_provisioning_state),
    );
    props.insert("createdAtUtc".into(), json!(created));
    if is_legacy_layout(api_version) {
        props.insert("runtimeUrl".into(), json!(format!("https://{host}")));
        props.insert(
            "portalUrl".into(),
            json!(format!("https://{name}.portal.azure-api.net")),
        );
        props.insert(
            "managementApiUrl".into(),
            json!(format!("https://{name}.management.azure-api.net")),
        );
        props.insert(
            "scmUrl".into(),
            json!(format!("https://{name}.scm.azure-api.net")),
        );
        props.insert("staticIPs".into(), json!([public_ip(name)]));
        props.insert("vpnType".into(), json!("None"));
    } else {
        let region = region::canonical(&s.location);
        props.insert("gatewayUrl".into(), json!(format!("https://{host}")));
        props.insert(
            "gatewayRegionalUrl".into(),
            json!(format!("https://{name}-{region}-01.regional.azure-api.net")),
        );
        for (key, sub) in [
            ("portalUrl", "portal"),
            ("developerPortalUrl", "developer"),
            ("managementApiUrl", "management"),
            ("scmUrl", "scm"),
        ] {
            props.insert(
                key.into(),
                json!(format!("https://{name}.{sub}.azure-api.net")),
            );
        }
        props.insert(
            "hostnameConfigurations".into(),
            json!([{
                "type": "Proxy", "hostName": host, "negotiateClientCertificate": false,
                "defaultSslBinding": true, "certificateSource": "BuiltIn"
            }]),
        );
        props.insert("publicIPAddresses".into(), json!([public_ip(name)]));
        props.insert("virtualNetworkType".into(), json!("None"));
        props.insert("disableGateway".into(), json!(false));
        props.insert("natGatewayState".into(), json!("Disabled"));
        props.insert("outboundPublicIPAddresses".into(), json!([public_ip(name)]));
        props.insert("publicNetworkAccess".into(), json!("Enabled"));
        props.insert("platformVersion".into(), json!("stv2"));
    }
    let mut body = Map::new();
    body.insert("id".into(), json!(service_id(s)));
    body.insert("name".into(), json!(name));
    body.insert("type".into(), json!("Microsoft.ApiManagement/service"));
    body.insert("tags".into(), json!(s.tags));
    body.insert("location".into(), json!(s.location));
    body.insert("etag".into(), json!(etag(version)));
    body.insert("properties".into(), Value::Object(props));
    body.insert(
        "sku".into(),
        json!({"name": s.sku, "capacity": s.capacity.unwrap_or(1)}),
    );
    if let Some(identity) = &s.identity {
        let kind = match (identity.system_assigned, !identity.user_assigned.is_empty()) {
            (true, true) => "SystemAssigned, UserAssigned",
            (true, false) => "SystemAssigned",
            (false, true) => "UserAssigned",
            (false, false) => "None",
        };
        let mut id = json!({"type": kind});
        if identity.system_assigned {
            let seed = name
                .bytes()
                .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(b as u64));
            id["principalId"] = json!(crate::engine::ids::Ids::new(seed).guid());
            id["tenantId"] = json!("11111111-1111-1111-1111-111111111111");
        }
        if !identity.user_assigned.is_empty() {
            let mut map = Map::new();
            for u in &identity.user_assigned {
                map.insert(
                    format!(
                        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}",
                        s.subscription, s.resource_group, u.name
                    ),
                    json!({"principalId": u.client_id, "clientId": u.client_id}),
                );
            }
            id["userAssignedIdentities"] = Value::Object(map);
        }
        body.insert("identity".into(), id);
    }
    if has_system_data(api_version) {
        body.insert(
            "systemData".into(),
            json!({
                "createdBy": "armsim", "createdByType": "Application", "createdAt": created,
                "lastModifiedBy": "armsim", "lastModifiedByType": "Application", "lastModifiedAt": created
            }),
        );
    }
    Value::Object(body)
}

pub fn api(s: &Service, a: &Api) -> Value {
    json!({
        "id": format!("{}/apis/{}", service_id(s), a.name),
        "type": "Microsoft.ApiManagement/service/apis",
        "name": a.name,
        "properties": {
            "displayName": a.display_name, "path": a.path, "protocols": ["https"],
            "apiRevision": "1", "isCurrent": true, "subscriptionRequired": true
        }
    })
}

pub fn storage_account_id(a: &StorageAccount) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Storage/storageAccounts/{}",
        a.subscription, a.resource_group, a.name
    )
}

pub fn storage_account(a: &StorageAccount) -> Value {
    let created = a
        .created_at
        .map(Timestamp::to_arm_string)
        .unwrap_or_default();
    let blob = format!("https://{}.blob.core.windows.net/", a.name);
    json!({
        "id": storage_account_id(a),
        "name": a.name,
        "type": "Microsoft.Storage/storageAccounts",
        "location": region::canonical(&a.location),
        "tags": {},
        "kind": "StorageV2",
        "sku": {"name": "Standard_LRS", "tier": "Standard"},
        "properties": {
            "provisioningState": "Succeeded",
            "creationTime": created,
            "primaryLocation": region::canonical(&a.location),
            "statusOfPrimary": "available",
            "accessTier": "Hot",
            "allowSharedKeyAccess": true,
            "minimumTlsVersion": "TLS1_2",
            "supportsHttpsTrafficOnly": true,
            "primaryEndpoints": {"blob": blob, "dfs": format!("https://{}.dfs.core.windows.net/", a.name)}
        }
    })
}

pub fn storage_keys(a: &StorageAccount) -> Value {
    let created = a
        .created_at
        .map(Timestamp::to_arm_string)
        .unwrap_or_default();
    let keys: Vec<Value> = a
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            json!({"creationTime": created, "keyName": format!("key{}", i + 1), "value": k, "permissions": "FULL"})
        })
        .collect();
    json!({ "keys": keys })
}

pub fn container(a: &StorageAccount, c: &Container) -> Value {
    let modified = c
        .created_at
        .map(Timestamp::to_arm_string)
        .unwrap_or_default();
    json!({
        "id": format!("{}/blobServices/default/containers/{}", storage_account_id(a), c.name),
        "name": c.name,
        "type": "Microsoft.Storage/storageAccounts/blobServices/containers",
        "etag": format!("\"0x8D{:013X}\"", c.created_at.map(Timestamp::as_millis).unwrap_or(0)),
        "properties": {
            "publicAccess": "None", "lastModifiedTime": modified, "leaseStatus": "Unlocked",
            "leaseState": "Available", "hasImmutabilityPolicy": false, "hasLegalHold": false,
            "deleted": false, "remainingRetentionDays": 0
        }
    })
}

/// A list answer: `{"value": [...]}`.
pub fn list(items: Vec<Value>) -> Value {
    json!({ "value": items })
}
