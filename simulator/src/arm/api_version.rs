//! api-versions: which ones each resource provider accepts and which body rules apply to each.

use std::borrow::Cow;

use crate::arm::error::ArmError;

/// Versions of `Microsoft.ApiManagement` the simulator accepts (PROTOCOL.md §1; the previews between the
/// stables are the ones the REST specs publish).
pub const APIM_VERSIONS: [&str; 26] = [
    "2016-07-07",
    "2016-10-10",
    "2017-03-01",
    "2018-01-01",
    "2018-06-01-preview",
    "2019-01-01",
    "2019-12-01",
    "2019-12-01-preview",
    "2020-06-01-preview",
    "2020-12-01",
    "2021-01-01-preview",
    "2021-04-01-preview",
    "2021-08-01",
    "2021-12-01-preview",
    "2022-04-01-preview",
    "2022-08-01",
    "2022-09-01-preview",
    "2023-03-01-preview",
    "2023-05-01-preview",
    "2023-09-01-preview",
    "2024-05-01",
    "2024-06-01-preview",
    "2024-10-01-preview",
    "2025-03-01-preview",
    "2025-09-01-preview",
    "2026-03-01-preview",
];

/// The first version whose backup/restore body has `accessType` (managed identities came with it; the
/// docs say "REST API 2021-04-01-preview or later").
pub const FIRST_ACCESS_TYPE_VERSION: &str = "2021-04-01-preview";

/// The body rules of `ApiManagementServiceBackupRestoreParameters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRules {
    /// storageAccount, accessKey, containerName, backupName all required; no accessType.
    Legacy,
    /// storageAccount, containerName, backupName required; accessType AccessKey (default) needs
    /// accessKey, UserAssignedManagedIdentity needs clientId.
    AccessType,
}

/// An api-version string as ARM parses it: `YYYY-MM-DD` with an optional `-suffix`.
pub fn is_well_formed(v: &str) -> bool {
    let date = v.get(..10).unwrap_or("");
    let rest = v.get(10..).unwrap_or("");
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        r.into_iter()
            .all(|i| b.get(i).is_some_and(u8::is_ascii_digit))
    };
    date.len() == 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (rest.is_empty()
            || (rest.starts_with('-')
                && rest.len() > 1
                && rest[1..].bytes().all(|c| c.is_ascii_alphanumeric())))
}

/// Which resource provider a route belongs to, for api-version checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    ApiManagement,
    /// Storage, subscriptions and resource groups: any well-formed version is accepted (documented
    /// simplification: DR clients pin many versions of these).
    Other,
}

/// Checks the request's `api-version` and returns it (for API Management, the supported version's own
/// `&'static str`); `location` (the region a `NoRegisteredProviderFound` message names) is asked for
/// only when that is the answer.
pub fn check<'a>(
    given: Option<Cow<'a, str>>,
    provider: Provider,
    location: impl FnOnce() -> String,
) -> Result<Cow<'a, str>, ArmError> {
    let Some(v) = given.filter(|v| !v.is_empty()) else {
        return Err(ArmError::missing_api_version());
    };
    if !is_well_formed(&v) {
        let supported = match provider {
            Provider::ApiManagement => APIM_VERSIONS.to_vec(),
            Provider::Other => vec!["2022-12-01", "2021-04-01", "2020-01-01"],
        };
        return Err(ArmError::invalid_api_version(&v, &supported));
    }
    if provider == Provider::ApiManagement {
        // The supported version itself, so the answer borrows nothing from the request.
        return match APIM_VERSIONS.iter().find(|known| **known == v) {
            Some(known) => Ok(Cow::Borrowed(*known)),
            None => Err(ArmError::no_registered_provider(
                &v,
                "service",
                &APIM_VERSIONS,
                &location(),
            )),
        };
    }
    Ok(v)
}

pub fn body_rules(api_version: &str) -> BodyRules {
    // Date-prefixed versions compare correctly as strings ("2021-01-01-preview" < "2021-04-01-preview").
    if api_version < FIRST_ACCESS_TYPE_VERSION {
        BodyRules::Legacy
    } else {
        BodyRules::AccessType
    }
}

/// Whether the service resource carries `systemData` (added in 2021-08-01; absent from older answers).
pub fn has_system_data(api_version: &str) -> bool {
    api_version >= "2021-08-01"
}

/// Whether answers use the 2016-era property names (`runtimeUrl`, `staticIPs`, `vpnType`).
pub fn is_legacy_layout(api_version: &str) -> bool {
    api_version < "2017-03-01"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_version_is_well_formed_and_sorted() {
        for w in APIM_VERSIONS.windows(2) {
            assert!(w[0] < w[1], "{w:?}");
        }
        assert!(APIM_VERSIONS.iter().all(|v| is_well_formed(v)));
    }

    #[test]
    fn body_rules_switch_at_2021_04_01_preview() {
        assert_eq!(body_rules("2020-12-01"), BodyRules::Legacy);
        assert_eq!(body_rules("2021-01-01-preview"), BodyRules::Legacy);
        assert_eq!(body_rules("2021-04-01-preview"), BodyRules::AccessType);
        assert_eq!(body_rules("2024-05-01"), BodyRules::AccessType);
    }

    #[test]
    fn missing_malformed_and_unknown_versions_get_arm_codes() {
        let code = |v: Option<&str>| {
            check(v.map(Cow::Borrowed), Provider::ApiManagement, || {
                "westus".into()
            })
            .map(Cow::into_owned)
            .map_err(|e| e.code)
        };
        assert_eq!(code(None), Err("MissingApiVersionParameter".into()));
        assert_eq!(code(Some("")), Err("MissingApiVersionParameter".into()));
        assert_eq!(
            code(Some("yesterday")),
            Err("InvalidApiVersionParameter".into())
        );
        assert_eq!(
            code(Some("2099-01-01")),
            Err("NoRegisteredProviderFound".into())
        );
        assert_eq!(code(Some("2024-05-01")), Ok("2024-05-01".into()));
    }
}
