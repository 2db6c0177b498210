//! `ArmError`: every rejection the simulator sends, turned into ARM's CloudError body in one place.
//!
//! The texts below are the real ones where `PROTOCOL.md` has them; the rest are documented choices (see
//! `docs/fidelity.md`).

use serde_json::{json, Value};

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

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ArmError {}
