//! Every path the simulator answers, parsed in one place.
//!
//! ARM matches path keywords (`subscriptions`, `resourceGroups`, `providers`, namespaces, types)
//! case-insensitively and echoes names in the caller's case; empty segments are ignored, which is how the
//! real service's `service/{name}//operationresults/{id}` Location (2021 recordings) resolves.
//!
//! A route's names borrow from the request's path (a `Cow`): a poll is answered without copying its
//! subscription, group, service and operation id, and only a path with percent escapes owns decoded ones.

use std::borrow::Cow;

use crate::arm::error::ArmError;
use crate::http::percent_decoded;

/// Names of an API Management service as the caller spelled them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef<'a> {
    pub subscription: Cow<'a, str>,
    pub resource_group: Cow<'a, str>,
    pub name: Cow<'a, str>,
}

impl ServiceRef<'_> {
    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

/// Names of a storage account as the caller spelled them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef<'a> {
    pub subscription: Cow<'a, str>,
    pub resource_group: Cow<'a, str>,
    pub account: Cow<'a, str>,
}

impl StorageRef<'_> {
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
pub enum Route<'a> {
    Admin(AdminRoute),
    /// `GET /metadata/endpoints`: the cloud description `az cloud register` reads.
    MetadataEndpoints,
    /// `GET /subscriptions`: the tenant-level list `az login` reads.
    Subscriptions,
    Subscription {
        subscription: Cow<'a, str>,
    },
    ResourceGroups {
        subscription: Cow<'a, str>,
    },
    ResourceGroup {
        subscription: Cow<'a, str>,
        resource_group: Cow<'a, str>,
    },
    /// `…/providers/Microsoft.ApiManagement/service` under a subscription (`resource_group` None) or group.
    Services {
        subscription: Cow<'a, str>,
        resource_group: Option<Cow<'a, str>>,
    },
    Service(ServiceRef<'a>),
    ServiceAction(ServiceRef<'a>, ServiceAction),
    OperationResult(ServiceRef<'a>, Cow<'a, str>),
    /// `…/service/{name}/operationsStatus/{id}`: the Azure-AsyncOperation status a fault can announce.
    OperationStatus(ServiceRef<'a>, Cow<'a, str>),
    Apis(ServiceRef<'a>),
    Api(ServiceRef<'a>, Cow<'a, str>),
    StorageAccounts {
        subscription: Cow<'a, str>,
        resource_group: Option<Cow<'a, str>>,
    },
    StorageAccount(StorageRef<'a>),
    StorageAction(StorageRef<'a>, StorageAction),
    Containers(StorageRef<'a>),
    Container(StorageRef<'a>, Cow<'a, str>),
    /// Any other path: the identity surface gets a chance to claim it before it becomes a 404.
    Other,
}

impl<'a> Route<'a> {
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

    pub fn parse(path: &'a str) -> Result<Route<'a>, ArmError> {
        // Each segment borrows from the path unless it has something to decode; they sit on the stack
        // (the longest ARM path here has 12), and a longer path spills into `more`.
        const ON_STACK: usize = 16;
        let mut stack: [Cow<'a, str>; ON_STACK] = Default::default();
        let mut n = 0;
        let mut more: Vec<Cow<'a, str>> = Vec::new();
        for segment in segments(path) {
            if n < ON_STACK {
                stack[n] = segment;
                n += 1;
            } else {
                more.push(segment);
            }
        }
        let s: &[Cow<'a, str>] = if more.is_empty() {
            &stack[..n]
        } else {
            more.splice(0..0, stack);
            &more
        };
        let is = |i: usize, kw: &str| s.get(i).is_some_and(|v| is_keyword(v, kw));

        if is(0, "_armsim") {
            let admin: Vec<&str> = s[1..].iter().map(|v| v.as_ref()).collect();
            return parse_admin(&admin);
        }
        if is(0, "metadata") && is(1, "endpoints") && s.len() == 2 {
            return Ok(Route::MetadataEndpoints);
        }
        if !is(0, "subscriptions") {
            return Ok(Route::Other);
        }
        let Some(sub) = s.get(1).cloned() else {
            return Ok(Route::Subscriptions);
        };
        let rest = &s[2..];
        let isr = |i: usize, kw: &str| rest.get(i).is_some_and(|v| is_keyword(v, kw));
        let route = match rest.len() {
            0 => Route::Subscription { subscription: sub },
            1 if isr(0, "resourcegroups") => Route::ResourceGroups { subscription: sub },
            2 if isr(0, "resourcegroups") => Route::ResourceGroup {
                subscription: sub,
                resource_group: rest[1].clone(),
            },
            _ if isr(0, "providers") => provider_route(sub, None, &rest[1..]),
            _ if isr(0, "resourcegroups") && isr(2, "providers") => {
                provider_route(sub, Some(rest[1].clone()), &rest[3..])
            }
            _ => Route::Other,
        };
        Ok(route)
    }
}

/// Whether a path segment is `keyword`, in any case (ARM's path keywords are case-insensitive);
/// `keyword` is written in lower case, so only the segment's bytes are lowered.
/// `str::eq_ignore_ascii_case` lowers both sides: 83 instructions more a poll inside `handle`, 205 a
/// backup POST (callgrind). (Lowering eight bytes at a time in a `u64` saved nothing more: copying
/// each chunk into a word cost what the lowering saved.)
fn is_keyword(segment: &str, keyword: &str) -> bool {
    debug_assert!(
        !keyword.bytes().any(|b| b.is_ascii_uppercase()),
        "the keyword {keyword} is not lower case"
    );
    segment.len() == keyword.len()
        && segment
            .bytes()
            .zip(keyword.bytes())
            .all(|(s, k)| s.to_ascii_lowercase() == k)
}

/// The path's non-empty segments, percent-decoded when the path has something to decode. Its slashes
/// are found in one SIMD pass (`memchr`): `str::split('/')` sets up a search for each one, which costs
/// more than a segment's few bytes, and a byte loop costs about ten instructions a byte.
fn segments(path: &str) -> impl Iterator<Item = Cow<'_, str>> {
    let escaped = memchr::memchr2(b'%', b'+', path.as_bytes()).is_some();
    let mut start = 0;
    memchr::memchr_iter(b'/', path.as_bytes())
        .chain(std::iter::once(path.len()))
        .filter_map(move |end| {
            let segment = path.get(start..end)?;
            start = end + 1;
            match (segment.is_empty(), escaped) {
                (true, _) => None,
                (false, true) => Some(percent_decoded(segment)),
                (false, false) => Some(Cow::Borrowed(segment)),
            }
        })
}

fn provider_route<'a>(
    subscription: Cow<'a, str>,
    rg: Option<Cow<'a, str>>,
    s: &[Cow<'a, str>],
) -> Route<'a> {
    let is = |i: usize, kw: &str| s.get(i).is_some_and(|v| is_keyword(v, kw));
    let name = |i: usize| s[i].clone();
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

fn parse_admin(s: &[&str]) -> Result<Route<'static>, ArmError> {
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

    proptest::proptest! {
        /// A segment is a (lower-case) keyword exactly when the two are equal ignoring ASCII case.
        #[test]
        fn a_keyword_matches_as_eq_ignore_ascii_case_does(
            segment in "[a-cA-C.é\\[{]{0,5}",
            keyword in "[a-c.]{0,5}",
        ) {
            proptest::prop_assert_eq!(
                is_keyword(&segment, &keyword),
                segment.eq_ignore_ascii_case(&keyword)
            );
        }
    }

    const SVC: &str =
        "/subscriptions/S/resourceGroups/Rg/providers/Microsoft.ApiManagement/service/Contoso";

    fn svc() -> ServiceRef<'static> {
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

    #[test]
    fn names_borrow_from_the_path_unless_they_had_to_be_decoded() {
        let plain = format!("{SVC}/operationresults/a=");
        let Ok(Route::OperationResult(r, id)) = Route::parse(&plain) else {
            panic!("not an operation result");
        };
        assert!(matches!(
            (&r.name, &id),
            (Cow::Borrowed("Contoso"), Cow::Borrowed("a="))
        ));
        let escaped = format!("{SVC}/operationresults/a%3D");
        let Ok(Route::OperationResult(r, id)) = Route::parse(&escaped) else {
            panic!("not an operation result");
        };
        assert!(
            matches!((&r.name, &id), (Cow::Borrowed("Contoso"), Cow::Owned(i)) if i == "a="),
            "only the segment with an escape is decoded into a copy"
        );
    }

    #[test]
    fn paths_longer_than_the_stack_buffer_parse_whole() {
        let deep = "/x".repeat(20);
        assert_eq!(Route::parse(&format!("{SVC}{deep}")), Ok(Route::Other));
        let Err(e) = Route::parse(&format!("/_armsim{deep}/end")) else {
            panic!("an unknown admin path is an error");
        };
        let message = e.body().to_string();
        assert!(
            message.contains(&format!("'/_armsim{deep}/end'")),
            "{message}"
        );
    }

    proptest::proptest! {
        /// The one-pass split is `str::split('/')` without the empty segments, each decoded as
        /// `percent_decoded` decodes it, for any text (escapes, `+`, runs of slashes, multi-byte chars).
        #[test]
        fn segments_are_the_non_empty_pieces_between_slashes_decoded(
            path in "[/a-zA-Z0-9%+\\-_.é€]{0,40}"
        ) {
            let ours: Vec<Cow<str>> = segments(&path).collect();
            let theirs: Vec<Cow<str>> = path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(percent_decoded)
                .collect();
            proptest::prop_assert_eq!(ours, theirs);
        }
    }
}
