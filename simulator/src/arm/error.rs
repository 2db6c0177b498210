//! `ArmError`: every rejection the simulator sends, turned into ARM's CloudError body in one place.
//!
//! The texts below are the real ones where `PROTOCOL.md` has them; the rest are documented choices (see
//! `docs/fidelity.md`).

use serde_json::{json, Value};

use crate::clock::Timestamp;

/// Who produced an error: ARM's front door writes `{"error":{"code","message"}}`, API Management adds
/// explicit `"details":null,"innerError":null` (seen in real APIM answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorSource {
    Arm,
    ApiManagement,
}

/// An ARM error: HTTP status, code, message and the extra headers some errors carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub source: ErrorSource,
    pub headers: Vec<(String, String)>,
}

/// The four audiences ARM accepts, in the order its error message lists them.
pub const ARM_AUDIENCES: [&str; 4] = [
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
];

impl ArmError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            source: ErrorSource::Arm,
            headers: Vec::new(),
        }
    }

    /// An error raised by API Management itself (rather than ARM's front door).
    pub fn apim(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            source: ErrorSource::ApiManagement,
            ..Self::new(status, code, message)
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The CloudError body.
    pub fn body(&self) -> Value {
        match self.source {
            ErrorSource::Arm => json!({"error": {"code": self.code, "message": self.message}}),
            ErrorSource::ApiManagement => json!({"error": {
                "code": self.code, "message": self.message, "details": null, "innerError": null
            }}),
        }
    }

    // ---- ARM front door -------------------------------------------------------------------------

    pub fn missing_api_version() -> Self {
        Self::new(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    }

    pub fn invalid_api_version(given: &str, supported: &[&str]) -> Self {
        Self::new(
            400,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{given}' is invalid. The supported versions are '{}'.",
                supported.join(",")
            ),
        )
    }

    pub fn no_registered_provider(
        api_version: &str,
        resource_type: &str,
        supported: &[&str],
        location: &str,
    ) -> Self {
        Self::new(
            400,
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location '{location}' and API version '{api_version}' for type '{resource_type}'. The supported api-versions are '{}'. The supported locations are 'westus,eastus,westeurope,northeurope,westcentralus,centraluseuap'.",
                supported.join(", ")
            ),
        )
    }

    pub fn subscription_not_found(sub: &str) -> Self {
        Self::new(
            404,
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        )
    }

    pub fn resource_group_not_found(rg: &str) -> Self {
        Self::new(
            404,
            "ResourceGroupNotFound",
            format!("Resource group '{rg}' could not be found."),
        )
    }

    /// `type_and_name` is e.g. `Microsoft.ApiManagement/service/contoso-apim`.
    pub fn resource_not_found(type_and_name: &str, rg: &str) -> Self {
        Self::new(
            404,
            "ResourceNotFound",
            format!("The Resource '{type_and_name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"),
        )
        .with_header("x-ms-failure-cause", "gateway")
    }

    /// An unknown path: ARM answers 404 with this code when no provider route matches.
    pub fn no_route(method: &str, path: &str) -> Self {
        Self::new(
            404,
            "InvalidResourceType",
            format!("The resource type could not be found for the request '{method} {path}'. No route matches this path in the API Management and Storage surfaces that armsim simulates."),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("The requested resource does not support http method '{method}' on '{path}'."),
        )
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("The content media type '{content_type}' is not supported. Only 'application/json' is supported."),
        )
    }

    pub fn invalid_request_content(detail: &str) -> Self {
        Self::new(
            400,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{detail}'."),
        )
    }

    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("The request content length exceeds the limit of {limit} bytes."),
        )
    }

    pub fn missing_authorization(tenant: &str) -> Self {
        Self::new(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
        .with_header(
            "WWW-Authenticate",
            format!(
                "Bearer authorization_uri=\"https://login.windows.net/{tenant}\", error=\"invalid_token\", error_description=\"The authentication failed because of missing 'Authorization' header.\""
            ),
        )
    }

    pub fn invalid_authorization_scheme(tenant: &str) -> Self {
        Self::new(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        )
        .with_header(
            "WWW-Authenticate",
            format!(
                "Bearer authorization_uri=\"https://login.windows.net/{tenant}\", error=\"invalid_token\", error_description=\"The authentication failed because of an invalid 'Authorization' header.\""
            ),
        )
    }

    /// A token that is not a JWT, is not RS256, or whose signature does not verify. ARM's text for this
    /// case is the one seen in public reports ("The access token is invalid."); the challenge's
    /// `error_description` repeating it is armsim's choice (PROTOCOL.md §7 q6).
    pub fn invalid_authentication_token(tenant: &str) -> Self {
        let message = "The access token is invalid.";
        Self::new(401, "InvalidAuthenticationToken", message)
            .with_header("WWW-Authenticate", bearer_challenge(tenant, message))
    }

    /// A token without `oid` (or `puid`/`altsecid`): PROTOCOL.md §2.6.
    pub fn missing_object_id_claim(tenant: &str) -> Self {
        let message = "The received access token is not valid: at least one of the claims 'puid' or 'altsecid' or 'oid' should be present. If you are accessing as application please make sure service principal is properly created in the tenant.";
        Self::new(401, "InvalidAuthenticationToken", message)
            .with_header("WWW-Authenticate", bearer_challenge(tenant, message))
    }

    /// PROTOCOL.md §2.6: both times in ARM's US format (`1/18/2023 5:10:42 PM`).
    pub fn expired_authentication_token(tenant: &str, expiry: Timestamp, now: Timestamp) -> Self {
        let message = format!(
            "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
            expiry.to_us_string(),
            now.to_us_string()
        );
        Self::new(401, "ExpiredAuthenticationToken", message.clone())
            .with_header("WWW-Authenticate", bearer_challenge(tenant, &message))
    }

    /// PROTOCOL.md §2.6. The message lists ARM's four audiences, as ARM does; armsim also accepts its
    /// own base URL (the JS SDK derives its scope from the endpoint), which the message does not name.
    pub fn invalid_authentication_token_audience(tenant: &str, audience: &str) -> Self {
        let allowed = ARM_AUDIENCES
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(",");
        let message = format!(
            "The access token has been obtained for wrong audience or resource '{audience}'. It should exactly match with one of the allowed audiences {allowed}."
        );
        Self::new(401, "InvalidAuthenticationTokenAudience", message.clone())
            .with_header("WWW-Authenticate", bearer_challenge(tenant, &message))
    }

    /// A token from another tenant's issuer (public reports of ARM's `InvalidAuthenticationTokenTenant`).
    /// The challenge names the expected tenant, so a client that follows it asks the right authority.
    pub fn invalid_authentication_token_tenant(expected_tenant: &str, issuer: &str) -> Self {
        let message = format!(
            "The access token is from the wrong issuer '{issuer}'. It must match the tenant 'https://sts.windows.net/{expected_tenant}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{expected_tenant}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later."
        );
        Self::new(401, "InvalidAuthenticationTokenTenant", message).with_header(
            "WWW-Authenticate",
            bearer_challenge(
                expected_tenant,
                "The access token is from the wrong issuer.",
            ),
        )
    }

    /// PROTOCOL.md §2.6: RBAC refusal. The client id and object id are both the caller's `oid`, as in
    /// the public reports; the text after "If acce…" was cut in every report and is inferred.
    pub fn authorization_failed(object_id: &str, action: &str, scope: &str) -> Self {
        Self::new(
            403,
            "AuthorizationFailed",
            format!(
                "The client '{object_id}' with object id '{object_id}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
            ),
        )
    }

    /// 409 for a management operation on a service while another one runs. The real code and text are
    /// unknown (PROTOCOL.md §7 q3); this is armsim's documented choice.
    pub fn service_busy(service: &str, running: &str) -> Self {
        Self::apim(
            409,
            "Conflict",
            format!("Another operation is in progress on the API Management service '{service}': {running}. Wait until it completes and retry."),
        )
    }

    // ---- API Management backup / restore ---------------------------------------------------------

    pub fn invalid_parameter(detail: &str, parameter: &str) -> Self {
        Self::apim(
            400,
            "InvalidParameters",
            format!("Invalid parameter: {detail}\r\nParameter name: {parameter}"),
        )
    }

    pub fn validation_error(detail: &str) -> Self {
        Self::apim(
            400,
            "ValidationError",
            format!("One or more fields contain incorrect values: {detail}"),
        )
    }

    pub fn method_not_allowed_in_tier(tier: &str) -> Self {
        Self::apim(
            400,
            "MethodNotAllowedInPricingTier",
            format!("Method not allowed in {tier} pricing tier"),
        )
    }

    pub fn invalid_container_name() -> Self {
        Self::apim(
            400,
            "InvalidParameters",
            "Invalid parameter: The specifed resource name contains invalid characters.\r\n\r\nParameter name: backupContainerName",
        )
    }

    pub fn restore_failed(message: impl Into<String>) -> Self {
        Self::apim(400, "RestoreFailed", message)
    }

    pub fn backup_failed(message: impl Into<String>) -> Self {
        Self::apim(400, "BackupFailed", message)
    }

    pub fn operation_not_found(op_id: &str) -> Self {
        Self::apim(
            404,
            "ResourceNotFound",
            format!("Operation result '{op_id}' was not found."),
        )
    }
}

/// The `WWW-Authenticate` value ARM sends with a 401 (PROTOCOL.md §2.6). Double quotes in the description
/// are replaced by single ones so the header stays parseable.
fn bearer_challenge(tenant: &str, description: &str) -> String {
    format!(
        "Bearer authorization_uri=\"https://login.windows.net/{tenant}\", error=\"invalid_token\", error_description=\"{}\"",
        description.replace('"', "'")
    )
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ArmError {}
