//! The Entra ID HTTP surface: discovery documents, token endpoints, keys, instance discovery.
//!
//! Shapes follow PROTOCOL.md §5 and the MSAL recording in `shared/reference/data/recordings`. Where the
//! real answer is unknown the choice is marked "choice" below. Error codes and texts are Entra's
//! public ones:
//! - `AADSTS90002` tenant not found (`invalid_request` at the token endpoint, `invalid_tenant` on
//!   discovery documents), 400;
//! - `AADSTS900144` a required body parameter is missing, `invalid_request` 400;
//! - `AADSTS70003` unsupported grant type, `unsupported_grant_type` 400;
//! - `AADSTS700016` application not found in the directory, `unauthorized_client` 400;
//! - `AADSTS7000218` neither `client_secret` nor `client_assertion`, `invalid_client` 401;
//! - `AADSTS7000215` invalid client secret, `invalid_client` 401;
//! - `AADSTS700027` client assertion not accepted (armsim has no certificate credentials),
//!   `invalid_client` 401;
//! - `AADSTS1002012` a client-credentials scope without `/.default`, `invalid_scope` 400;
//! - `AADSTS500011` resource principal not found, `invalid_resource` 400 — only for an audience that is
//!   neither a URI nor a GUID (choice: any well-formed resource gets a token, so a client asking for the
//!   wrong one meets ARM's `InvalidAuthenticationTokenAudience`, as against Azure);
//! - `AADSTS900561` wrong HTTP method, `invalid_request` 400.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::{is_guid, Identity, Principal};
use crate::clock::{Clock, Timestamp};
use crate::http::{percent_decode, query_pairs, HttpRequest, HttpResponse};

/// A route this module answers.
enum Route {
    OpenIdV2,
    OpenIdV1,
    TokenV2,
    TokenV1,
    KeysV2,
    KeysV1,
    InstanceDiscovery,
}

impl Route {
    fn method(&self) -> &'static str {
        match self {
            Route::TokenV2 | Route::TokenV1 => "POST",
            _ => "GET",
        }
    }
}

/// How the tenant segment of the path resolved.
enum Tenant {
    /// The tenant, by id or domain.
    Ours,
    /// `common` or `organizations`: multi-tenant authorities, kept as written in endpoint URLs.
    Multi(String),
    /// Anything else, as written.
    Unknown(String),
}

fn parse(path: &str) -> Option<(String, Route)> {
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let is = |i: usize, word: &str| {
        segments
            .get(i)
            .is_some_and(|s| s.eq_ignore_ascii_case(word))
    };
    let route = match segments.len() {
        3 if is(0, "common") && is(1, "discovery") && is(2, "instance") => Route::InstanceDiscovery,
        4 if is(1, "v2.0") && is(2, ".well-known") && is(3, "openid-configuration") => {
            Route::OpenIdV2
        }
        3 if is(1, ".well-known") && is(2, "openid-configuration") => Route::OpenIdV1,
        4 if is(1, "oauth2") && is(2, "v2.0") && is(3, "token") => Route::TokenV2,
        3 if is(1, "oauth2") && is(2, "token") => Route::TokenV1,
        4 if is(1, "discovery") && is(2, "v2.0") && is(3, "keys") => Route::KeysV2,
        3 if is(1, "discovery") && is(2, "keys") => Route::KeysV1,
        _ => return None,
    };
    let tenant = segments.first().filter(|t| !t.is_empty())?.clone();
    Some((tenant, route))
}

/// One Entra error: OAuth `error`, AADSTS number, text and HTTP status.
struct AadError {
    status: u16,
    error: &'static str,
    code: u32,
    description: String,
}

impl AadError {
    fn new(status: u16, error: &'static str, code: u32, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    fn missing_parameter(name: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    fn tenant_not_found(tenant: &str, error: &'static str) -> Self {
        Self::new(400, error, 90002, format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."))
    }
}

/// What one request needs to answer: where armsim is, what time it is, which ids to use.
struct Ctx<'a> {
    base: &'a str,
    clock: &'a Clock,
    now: Timestamp,
    trace_id: String,
    correlation_id: String,
}

impl Identity {
    /// Answers the identity routes (under any tenant segment: a GUID, a domain, `common`,
    /// `organizations`) and returns `None` for every other path. `base_url` is how clients reach armsim
    /// (`https://127.0.0.1:8443`); every URL in the documents starts with it.
    pub fn handle(&self, req: &HttpRequest, base_url: &str, clock: &Clock) -> Option<HttpResponse> {
        let (tenant_segment, route) = parse(req.path())?;
        let trace_id = self.next_id();
        let correlation_id = req
            .header_value("client-request-id")
            .map(str::to_string)
            .or_else(|| req.query_param("client-request-id").map(Cow::into_owned))
            .filter(|id| is_guid(id))
            .unwrap_or_else(|| self.next_id());
        let ctx = Ctx {
            base: base_url.trim_end_matches('/'),
            clock,
            now: clock.now(),
            trace_id,
            correlation_id,
        };
        let answer = self.answer(req, &tenant_segment, &route, &ctx);
        let mut resp = match answer {
            Ok(resp) => resp,
            Err(err) => error_response(&err, &ctx),
        };
        resp.set_header("x-ms-request-id", ctx.trace_id.clone());
        if req.header_value("client-request-id").is_some() {
            resp.set_header("client-request-id", ctx.correlation_id.clone());
        }
        Some(resp)
    }

    fn answer(
        &self,
        req: &HttpRequest,
        tenant_segment: &str,
        route: &Route,
        ctx: &Ctx<'_>,
    ) -> Result<HttpResponse, AadError> {
        if !req.method().eq_ignore_ascii_case(route.method()) {
            return Err(AadError::new(
                400,
                "invalid_request",
                900561,
                format!(
                    "The endpoint only accepts {} requests. Received a {} request.",
                    route.method(),
                    req.method()
                ),
            ));
        }
        if let Route::InstanceDiscovery = route {
            return Ok(self.instance_discovery(req, ctx));
        }
        let tenant = self.resolve(tenant_segment);
        let is_token = matches!(route, Route::TokenV2 | Route::TokenV1);
        // The tenant as endpoint URLs show it (Entra resolves a domain to the tenant id) and as issuers
        // show it (a multi-tenant document has the literal placeholder `{tenantid}`).
        let (in_urls, in_issuer) = match &tenant {
            Tenant::Ours => (self.tenant_id().to_string(), self.tenant_id().to_string()),
            Tenant::Multi(name) => (name.clone(), "{tenantid}".to_string()),
            Tenant::Unknown(name) => {
                let error = if is_token {
                    "invalid_request"
                } else {
                    "invalid_tenant"
                };
                return Err(AadError::tenant_not_found(name, error));
            }
        };
        let b = ctx.base;
        match route {
            Route::OpenIdV2 => Ok(discovery_doc(json!({
                "token_endpoint": format!("{b}/{in_urls}/oauth2/v2.0/token"),
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                "jwks_uri": format!("{b}/{in_urls}/discovery/v2.0/keys"),
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": format!("{b}/{in_issuer}/v2.0"),
                "request_uri_parameter_supported": false,
                "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
                "authorization_endpoint": format!("{b}/{in_urls}/oauth2/v2.0/authorize"),
                "device_authorization_endpoint": format!("{b}/{in_urls}/oauth2/v2.0/devicecode"),
                "http_logout_supported": true,
                "frontchannel_logout_supported": true,
                "end_session_endpoint": format!("{b}/{in_urls}/oauth2/v2.0/logout"),
                "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                    "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce",
                    "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
                "kerberos_endpoint": format!("{b}/{in_urls}/kerberos"),
                "tenant_region_scope": "WW",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net",
            }))),
            Route::OpenIdV1 => Ok(discovery_doc(json!({
                "token_endpoint": format!("{b}/{in_urls}/oauth2/token"),
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                "jwks_uri": format!("{b}/common/discovery/keys"),
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
                "scopes_supported": ["openid"],
                // v1 tokens (ARM's) carry this issuer, whichever endpoint issued them.
                "issuer": format!("https://sts.windows.net/{in_issuer}/"),
                "microsoft_multi_refresh_token": true,
                "authorization_endpoint": format!("{b}/{in_urls}/oauth2/authorize"),
                "device_authorization_endpoint": format!("{b}/{in_urls}/oauth2/devicecode"),
                "http_logout_supported": true,
                "frontchannel_logout_supported": true,
                "end_session_endpoint": format!("{b}/{in_urls}/oauth2/logout"),
                "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                    "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr",
                    "nonce", "email", "given_name", "family_name", "nickname"],
                "check_session_iframe": format!("{b}/{in_urls}/oauth2/checksession"),
                "userinfo_endpoint": format!("{b}/{in_urls}/openid/userinfo"),
                "kerberos_endpoint": format!("{b}/{in_urls}/kerberos"),
                "tenant_region_scope": "WW",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net",
            }))),
            Route::KeysV2 => Ok(discovery_doc(json!({
                "keys": [self.signing_key()?.jwk(Some(&format!("{b}/{in_issuer}/v2.0")))]
            }))),
            Route::KeysV1 => Ok(discovery_doc(
                json!({"keys": [self.signing_key()?.jwk(None)]}),
            )),
            Route::TokenV2 => self.token(req, true, ctx),
            Route::TokenV1 => self.token(req, false, ctx),
            Route::InstanceDiscovery => Ok(self.instance_discovery(req, ctx)),
        }
    }

    fn resolve(&self, segment: &str) -> Tenant {
        let c = &self.config;
        if segment.eq_ignore_ascii_case(&c.tenant_id)
            || (!c.tenant_domain.is_empty() && segment.eq_ignore_ascii_case(&c.tenant_domain))
        {
            Tenant::Ours
        } else if segment.eq_ignore_ascii_case("common")
            || segment.eq_ignore_ascii_case("organizations")
        {
            // Choice: Entra refuses client credentials on /common for single-tenant apps (AADSTS50194);
            // armsim has one tenant and lets it stand for both, so no client configuration can trip on it.
            Tenant::Multi(segment.to_ascii_lowercase())
        } else {
            Tenant::Unknown(segment.to_string())
        }
    }

    /// `GET /common/discovery/instance?api-version=…&authorization_endpoint=https://host/{tenant}/…`:
    /// everything points at armsim, so MSAL accepts it as an authority even with discovery left on.
    fn instance_discovery(&self, req: &HttpRequest, ctx: &Ctx<'_>) -> HttpResponse {
        let requested = req
            .query_param("authorization_endpoint")
            .unwrap_or_default();
        let after_scheme = requested.split_once("://").map_or("", |(_, rest)| rest);
        let (req_host, req_path) = after_scheme.split_once('/').unwrap_or((after_scheme, ""));
        let tenant = req_path
            .split('/')
            .next()
            .filter(|t| !t.is_empty())
            .unwrap_or("common");

        let host_port = ctx
            .base
            .split_once("://")
            .map_or(ctx.base, |(_, rest)| rest)
            .to_string();
        let host_only = strip_port(&host_port).to_string();
        let mut aliases = vec![host_port.clone()];
        for alias in [
            host_only,
            req_host.to_string(),
            strip_port(req_host).to_string(),
        ] {
            if !alias.is_empty() && !aliases.contains(&alias) {
                aliases.push(alias);
            }
        }
        let api_version = req
            .query_param("api-version")
            .unwrap_or(Cow::Borrowed("1.1"));
        discovery_doc(json!({
            "tenant_discovery_endpoint": format!("{}/{tenant}/v2.0/.well-known/openid-configuration", ctx.base),
            "api-version": api_version,
            "metadata": [{
                "preferred_network": host_port,
                "preferred_cache": host_port,
                "aliases": aliases,
            }],
        }))
    }

    /// The client-credentials grant at either token endpoint.
    /// The signing key, or a server error if it could not be derived.
    fn signing_key(&self) -> Result<std::sync::Arc<super::jwt::RsaKey>, AadError> {
        self.key()
            .map_err(|e| AadError::new(500, "server_error", 50000, e.to_string()))
    }

    fn token(&self, req: &HttpRequest, v2: bool, ctx: &Ctx<'_>) -> Result<HttpResponse, AadError> {
        let form = query_pairs(&String::from_utf8_lossy(&req.body));
        let param = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let basic = basic_credentials(req.header_value("authorization"));

        let grant_type =
            param("grant_type").ok_or_else(|| AadError::missing_parameter("grant_type"))?;
        if grant_type != "client_credentials" {
            return Err(AadError::new(
                400,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{grant_type}'."),
            ));
        }
        let client_id = basic
            .as_ref()
            .map(|(id, _)| id.clone())
            .or_else(|| param("client_id"))
            .ok_or_else(|| AadError::missing_parameter("client_id"))?;
        let principal = self.principal(&client_id).ok_or_else(|| {
            AadError::new(400, "unauthorized_client", 700016, format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                self.tenant_id()
            ))
        })?;
        let secret = basic.map(|(_, s)| s).or_else(|| param("client_secret"));
        match secret {
            Some(secret) if secrets_match(&secret, &principal.client_secret) => {}
            Some(_) => {
                return Err(AadError::new(401, "invalid_client", 7000215, format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                    principal.client_id
                )))
            }
            None if param("client_assertion").is_some() => {
                return Err(AadError::new(
                    401,
                    "invalid_client",
                    700027,
                    "Client assertion failed signature validation. armsim accepts client secrets only.",
                ))
            }
            None => {
                return Err(AadError::new(
                    401,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ))
            }
        }

        let audience = if v2 {
            let scope = param("scope").ok_or_else(|| AadError::missing_parameter("scope"))?;
            audience_of_scope(&scope)?
        } else {
            param("resource").ok_or_else(|| AadError::missing_parameter("resource"))?
        };
        if !(audience.contains("://") || is_guid(&audience)) {
            return Err(AadError::new(400, "invalid_resource", 500011, format!(
                "The resource principal named {audience} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
                self.tenant_id()
            )));
        }
        self.token_response(principal, &audience, v2, ctx)
    }

    fn token_response(
        &self,
        principal: &Principal,
        audience: &str,
        v2: bool,
        ctx: &Ctx<'_>,
    ) -> Result<HttpResponse, AadError> {
        let token = self
            .mint(principal, audience, ctx.now)
            .map_err(|e| AadError::new(500, "server_error", 50000, e.to_string()))?;
        // Wall seconds, so a client's own expiry arithmetic matches virtual expiry; rounded down so it
        // refreshes a little early rather than late.
        let expires_in = ctx
            .clock
            .wall_span(self.config.token_lifetime)
            .as_secs()
            .max(1);
        let body = if v2 {
            json!({
                "token_type": "Bearer",
                "expires_in": expires_in,
                "ext_expires_in": expires_in,
                "access_token": token,
            })
        } else {
            // v1 carries absolute times too; they are wall-clock epoch seconds (choice), for the same
            // reason as expires_in. Numbers are strings in v1.
            let wall_now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            json!({
                "token_type": "Bearer",
                "expires_in": expires_in.to_string(),
                "ext_expires_in": expires_in.to_string(),
                "expires_on": (wall_now + expires_in).to_string(),
                "not_before": wall_now.to_string(),
                "resource": audience,
                "access_token": token,
            })
        };
        Ok(no_store(HttpResponse::json(200, &body)))
    }
}

/// The audience of a v2 client-credentials scope: `https://management.azure.com/.default` →
/// `https://management.azure.com`, `https://management.core.windows.net//.default` →
/// `https://management.core.windows.net/`. OIDC scopes MSAL may add are ignored.
fn audience_of_scope(scope: &str) -> Result<String, AadError> {
    let resources: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !matches!(*s, "openid" | "profile" | "offline_access"))
        .collect();
    match resources.as_slice() {
        [one] => match one.strip_suffix("/.default") {
            Some(aud) if !aud.is_empty() => Ok(aud.to_string()),
            _ => Err(invalid_scope(one)),
        },
        [] => Err(AadError::missing_parameter("scope")),
        // Choice: Entra refuses scopes of two resources in one request with AADSTS28000; armsim treats it
        // as the same invalid_scope as a malformed one.
        _ => Err(invalid_scope(scope)),
    }
}

fn invalid_scope(scope: &str) -> AadError {
    AadError::new(400, "invalid_scope", 1002012, format!(
        "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
    ))
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(header: Option<&str>) -> Option<(String, String)> {
    let (scheme, encoded) = header?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((percent_decode(id), percent_decode(secret)))
}

/// Compares without stopping at the first difference.
fn secrets_match(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn strip_port(host: &str) -> &str {
    if let Some(bracketed) = host.strip_prefix('[') {
        // [::1]:8443
        return bracketed.split_once(']').map_or(bracketed, |(h, _)| h);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn discovery_doc(body: Value) -> HttpResponse {
    HttpResponse::json(200, &body).with_header("cache-control", "max-age=86400, private")
}

fn no_store(resp: HttpResponse) -> HttpResponse {
    resp.with_header("cache-control", "no-store, no-cache")
        .with_header("pragma", "no-cache")
        .with_header("expires", "-1")
}

/// Entra's error body: `error`, `error_description` ending in trace/correlation/timestamp lines,
/// `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`.
fn error_response(err: &AadError, ctx: &Ctx<'_>) -> HttpResponse {
    let timestamp = aad_timestamp(ctx.now);
    let body = json!({
        "error": err.error,
        "error_description": format!(
            "AADSTS{}: {}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {timestamp}",
            err.code, err.description, ctx.trace_id, ctx.correlation_id
        ),
        "error_codes": [err.code],
        "timestamp": timestamp,
        "trace_id": ctx.trace_id,
        "correlation_id": ctx.correlation_id,
        "error_uri": format!("{}/error?code={}", ctx.base, err.code),
    });
    no_store(HttpResponse::json(err.status, &body))
}

/// `2023-06-02 21:00:26Z`, Entra's timestamp format.
fn aad_timestamp(t: Timestamp) -> String {
    jiff::Timestamp::from_second(t.as_secs())
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_lose_their_default_suffix_and_keep_the_double_slash_audience() {
        assert_eq!(
            audience_of_scope("https://management.azure.com/.default")
                .ok()
                .as_deref(),
            Some("https://management.azure.com")
        );
        assert_eq!(
            audience_of_scope("https://management.core.windows.net//.default offline_access")
                .ok()
                .as_deref(),
            Some("https://management.core.windows.net/")
        );
        assert!(audience_of_scope("https://management.azure.com/user_impersonation").is_err());
        assert!(audience_of_scope("/.default").is_err());
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("abc:s%3Acret+x"));
        assert_eq!(
            basic_credentials(Some(&header)),
            Some(("abc".to_string(), "s:cret x".to_string()))
        );
        assert_eq!(basic_credentials(Some("Bearer x")), None);
    }

    #[test]
    fn ports_are_stripped_from_hosts_and_ipv6_literals() {
        assert_eq!(strip_port("127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(strip_port("[::1]:8443"), "::1");
        assert_eq!(strip_port("localhost"), "localhost");
    }

    #[test]
    fn paths_outside_the_identity_surface_are_not_claimed() {
        for path in [
            "/subscriptions/x/resourceGroups/y",
            "/common/discovery",
            "/t/oauth2/v2.0/token/extra",
            "//oauth2/token",
        ] {
            assert!(parse(path).is_none(), "{path}");
        }
        assert!(parse("/T/OAuth2/V2.0/Token").is_some());
    }
}
