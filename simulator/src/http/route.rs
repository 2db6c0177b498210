//! Every path the simulator answers, parsed in one place.
//!
//! ARM matches path keywords (`subscriptions`, `resourceGroups`, `providers`, namespaces, types)
//! case-insensitively and echoes names in the caller's case; empty segments are ignored, which is how the
//! real service's `service/{name}//operationresults/{id}` Location (2021 recordings) resolves.

use crate::arm::error::ArmError;
use crate::http::percent_decode;

/// Names of an API Management service as the caller spelled them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

impl ServiceRef {
    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

/// Names of a storage account as the caller spelled them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    pub subscription: String,
    pub resource_group: String,
    pub account: String,
}

impl StorageRef {
    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Storage/storageAccounts/{}",
            self.subscription, self.resource_group, self.account
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    Backup,
    Restore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageAction {
    ListKeys,
    RegenerateKey,
}

/// The admin API, under `/_armsim/`, a prefix no ARM path can start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRoute {
    Health,
    Reset,
    Clock,
    ClockAdvance,
    Journal,
    State,
    /// `GET /_armsim/blobs/{account}/{container}[/{blob}]`: the objects a backup wrote.
    Blobs {
        account: String,
        container: String,
        blob: Option<String>,
    },
    Faults,
}

/// A parsed route. The HTTP method is checked by the handler, which knows which methods each route allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Admin(AdminRoute),
    /// `GET /metadata/endpoints`: the cloud description `az cloud register` reads.
    MetadataEndpoints,
    /// `GET /subscriptions`: the tenant-level list `az login` reads.
    Subscriptions,
    Subscription {
        subscription: String,
    },
    ResourceGroups {
        subscription: String,
    },
    ResourceGroup {
        subscription: String,
        resource_group: String,
    },
    /// `…/providers/Microsoft.ApiManagement/service` under a subscription (`resource_group` None) or group.
    Services {
        subscription: String,
        resource_group: Option<String>,
    },
    Service(ServiceRef),
    ServiceAction(ServiceRef, ServiceAction),
    OperationResult(ServiceRef, String),
    /// `…/service/{name}/operationsStatus/{id}`: the Azure-AsyncOperation status a fault can announce.
    OperationStatus(ServiceRef, String),
    Apis(ServiceRef),
    Api(ServiceRef, String),
    StorageAccounts {
        subscription: String,
        resource_group: Option<String>,
    },
    StorageAccount(StorageRef),
    StorageAction(StorageRef, StorageAction),
    Containers(StorageRef),
    Container(StorageRef, String),
    /// Any other path: the identity surface gets a chance to claim it before it becomes a 404.
    Other,
}

impl Route {
    /// Stable short name for journals and reports (`service.backup`, `operation.poll`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Route::Admin(_) => "admin",
            Route::MetadataEndpoints => "metadata.endpoints",
            Route::Subscriptions => "subscription.list",
            Route::Subscription { .. } => "subscription",
            Route::ResourceGroups { .. } => "resourceGroup.list",
            Route::ResourceGroup { .. } => "resourceGroup",
            Route::Services { .. } => "service.list",
            Route::Service(_) => "service",
            Route::ServiceAction(_, ServiceAction::Backup) => "service.backup",
            Route::ServiceAction(_, ServiceAction::Restore) => "service.restore",
            Route::OperationResult(..) => "operation.poll",
            Route::OperationStatus(..) => "operation.status",
            Route::Apis(_) => "api.list",
            Route::Api(..) => "api",
            Route::StorageAccounts { .. } => "storage.list",
            Route::StorageAccount(_) => "storage.account",
            Route::StorageAction(_, StorageAction::ListKeys) => "storage.listKeys",
            Route::StorageAction(_, StorageAction::RegenerateKey) => "storage.regenerateKey",
            Route::Containers(_) => "storage.container.list",
            Route::Container(..) => "storage.container",
            Route::Other => "other",
        }
    }

    /// Whether this route is part of ARM (and so needs an `api-version` and a bearer token).
    pub fn is_arm(&self) -> bool {
        !matches!(
            self,
            Route::Admin(_) | Route::Other | Route::MetadataEndpoints
        )
    }

    pub fn parse(path: &str) -> Result<Route, ArmError> {
        // Most paths have nothing to decode: then the segments borrow from the path.
        let segments = path.split('/').filter(|s| !s.is_empty());
        let decoded: Vec<String>;
        let mut s: Vec<&str> = Vec::with_capacity(16); // the longest ARM path here has 12 segments
        if path.contains(['%', '+']) {
            decoded = segments.map(percent_decode).collect();
            s.extend(decoded.iter().map(String::as_str));
        } else {
            s.extend(segments);
        }
        let is = |i: usize, kw: &str| s.get(i).is_some_and(|v| v.eq_ignore_ascii_case(kw));

        if is(0, "_armsim") {
            return parse_admin(&s[1..]);
        }
        if is(0, "metadata") && is(1, "endpoints") && s.len() == 2 {
            return Ok(Route::MetadataEndpoints);
        }
        if !is(0, "subscriptions") {
            return Ok(Route::Other);
        }
        let Some(sub) = s.get(1).map(|v| v.to_string()) else {
            return Ok(Route::Subscriptions);
        };
        let rest = &s[2..];
        let isr = |i: usize, kw: &str| rest.get(i).is_some_and(|v| v.eq_ignore_ascii_case(kw));
        let route = match rest.len() {
            0 => Route::Subscription { subscription: sub },
            1 if isr(0, "resourcegroups") => Route::ResourceGroups { subscription: sub },
            2 if isr(0, "resourcegroups") => Route::ResourceGroup {
                subscription: sub,
                resource_group: rest[1].to_string(),
            },
            _ if isr(0, "providers") => provider_route(sub, None, &rest[1..]),
            _ if isr(0, "resourcegroups") && isr(2, "providers") => {
                provider_route(sub, Some(rest[1].to_string()), &rest[3..])
            }
            _ => Route::Other,
        };
        Ok(route)
    }
}

fn provider_route(subscription: String, rg: Option<String>, s: &[&str]) -> Route {
    let is = |i: usize, kw: &str| s.get(i).is_some_and(|v| v.eq_ignore_ascii_case(kw));
    let name = |i: usize| s[i].to_string();
    if is(0, "microsoft.apimanagement") && is(1, "service") {
        let Some(rg) = rg else {
            return if s.len() == 2 {
                Route::Services {
                    subscription,
                    resource_group: None,
                }
            } else {
                Route::Other
            };
        };
        if s.len() == 2 {
            return Route::Services {
                subscription,
                resource_group: Some(rg),
            };
        }
        let svc = ServiceRef {
            subscription,
            resource_group: rg,
            name: name(2),
        };
        return match s.len() {
            3 => Route::Service(svc),
            4 if is(3, "backup") => Route::ServiceAction(svc, ServiceAction::Backup),
            4 if is(3, "restore") => Route::ServiceAction(svc, ServiceAction::Restore),
            4 if is(3, "apis") => Route::Apis(svc),
            5 if is(3, "apis") => Route::Api(svc, name(4)),
            5 if is(3, "operationresults") => Route::OperationResult(svc, name(4)),
            5 if is(3, "operationsstatus") => Route::OperationStatus(svc, name(4)),
            _ => Route::Other,
        };
    }
    if is(0, "microsoft.storage") && is(1, "storageaccounts") {
        let Some(rg) = rg else {
            return if s.len() == 2 {
                Route::StorageAccounts {
                    subscription,
                    resource_group: None,
                }
            } else {
                Route::Other
            };
        };
        if s.len() == 2 {
            return Route::StorageAccounts {
                subscription,
                resource_group: Some(rg),
            };
        }
        let acct = StorageRef {
            subscription,
            resource_group: rg,
            account: name(2),
        };
        let blob_default = is(3, "blobservices") && is(4, "default") && is(5, "containers");
        return match s.len() {
            3 => Route::StorageAccount(acct),
            4 if is(3, "listkeys") => Route::StorageAction(acct, StorageAction::ListKeys),
            4 if is(3, "regeneratekey") => Route::StorageAction(acct, StorageAction::RegenerateKey),
            6 if blob_default => Route::Containers(acct),
            7 if blob_default => Route::Container(acct, name(6)),
            _ => Route::Other,
        };
    }
    Route::Other
}

fn parse_admin(s: &[&str]) -> Result<Route, ArmError> {
    let admin = match s {
        ["health"] => AdminRoute::Health,
        ["reset"] => AdminRoute::Reset,
        ["clock"] => AdminRoute::Clock,
        ["clock", "advance"] => AdminRoute::ClockAdvance,
        ["journal"] => AdminRoute::Journal,
        ["state"] => AdminRoute::State,
        ["faults"] => AdminRoute::Faults,
        ["blobs", account, container] => AdminRoute::Blobs {
            account: account.to_string(),
            container: container.to_string(),
            blob: None,
        },
        ["blobs", account, container, blob] => AdminRoute::Blobs {
            account: account.to_string(),
            container: container.to_string(),
            blob: Some(blob.to_string()),
        },
        _ => {
            return Err(ArmError::new(
                404,
                "NotFound",
                format!(
                    "No armsim admin route '/_armsim/{}'. The admin routes are health, reset, clock, clock/advance, journal, state, faults and blobs/{{account}}/{{container}}[/{{blob}}].",
                    s.join("/")
                ),
            ))
        }
    };
    Ok(Route::Admin(admin))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVC: &str =
        "/subscriptions/S/resourceGroups/Rg/providers/Microsoft.ApiManagement/service/Contoso";

    fn svc() -> ServiceRef {
        ServiceRef {
            subscription: "S".into(),
            resource_group: "Rg".into(),
            name: "Contoso".into(),
        }
    }

    #[test]
    fn keywords_match_in_any_case_and_names_keep_theirs() {
        let lower = SVC
            .to_lowercase()
            .replace("/contoso", "/Contoso")
            .replace("/rg/", "/Rg/")
            .replace("/s/", "/S/");
        assert_eq!(
            Route::parse(&format!("{lower}/BACKUP")),
            Ok(Route::ServiceAction(svc(), ServiceAction::Backup))
        );
        assert_eq!(Route::parse(SVC), Ok(Route::Service(svc())));
    }

    #[test]
    fn double_slash_before_operationresults_is_the_same_route() {
        let want = Route::OperationResult(svc(), "abc=".into());
        assert_eq!(
            Route::parse(&format!("{SVC}//operationresults/abc%3D")),
            Ok(want.clone())
        );
        assert_eq!(
            Route::parse(&format!("{SVC}/operationResults/abc=")),
            Ok(want)
        );
    }

    #[test]
    fn storage_routes_parse() {
        let base =
            "/subscriptions/S/resourceGroups/Rg/providers/Microsoft.Storage/storageAccounts/acct";
        assert!(matches!(
            Route::parse(&format!("{base}/listKeys")),
            Ok(Route::StorageAction(_, StorageAction::ListKeys))
        ));
        assert!(
            matches!(Route::parse(&format!("{base}/blobServices/default/containers/c1")), Ok(Route::Container(_, c)) if c == "c1")
        );
        assert!(matches!(
            Route::parse(&format!("{base}/blobServices/default/containers")),
            Ok(Route::Containers(_))
        ));
    }

    #[test]
    fn unknown_paths_are_other_and_unknown_admin_paths_are_errors() {
        assert_eq!(Route::parse("/tenant/oauth2/v2.0/token"), Ok(Route::Other));
        assert_eq!(
            Route::parse(&format!("{SVC}/nonsense/x/y")),
            Ok(Route::Other)
        );
        assert!(Route::parse("/_armsim/nope").is_err());
    }
}
