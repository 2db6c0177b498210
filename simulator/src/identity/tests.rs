//! Identity as the clients and ARM routes see it: requests in, responses and callers out.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};

use super::*;
use crate::clock::ClockMode;
use crate::http::{HttpRequest, HttpResponse};

const BASE: &str = "https://127.0.0.1:8443";
const TENANT: &str = "11111111-1111-1111-1111-111111111111";
const CONTRIBUTOR: &str = "22222222-2222-2222-2222-222222222222";
const READER: &str = "33333333-3333-3333-3333-333333333333";
const ARM_SCOPE: &str = "https%3A%2F%2Fmanagement.azure.com%2F.default";

fn identity() -> Identity {
    Identity::new(IdentityConfig::default(), 42).expect("identity")
}

fn clock() -> Clock {
    Clock::new(
        ClockMode::Manual,
        "2026-03-01T10:00:00Z".parse().expect("start"),
    )
}

fn get(id: &Identity, path: &str) -> HttpResponse {
    id.handle(&HttpRequest::new("GET", path), BASE, &clock())
        .expect("claimed")
}

fn post_form(id: &Identity, path: &str, form: &str, clock: &Clock) -> HttpResponse {
    let mut req =
        HttpRequest::new("POST", path).header("content-type", "application/x-www-form-urlencoded");
    req.body = form.to_string().into();
    id.handle(&req, BASE, clock).expect("claimed")
}

fn body(resp: &HttpResponse) -> Value {
    resp.json_body().expect("json body")
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
}

fn v2_token(id: &Identity, client: &str, secret: &str, scope: &str, clock: &Clock) -> HttpResponse {
    post_form(
        id,
        &format!("/{TENANT}/oauth2/v2.0/token"),
        &format!("client_id={client}&scope={scope}&grant_type=client_credentials&client_info=1&client_secret={secret}"),
        clock,
    )
}

/// Asserts Entra's error shape and returns the body.
fn assert_aad_error(resp: &HttpResponse, status: u16, error: &str, code: u64) -> Value {
    assert_eq!(resp.status, status, "{:?}", resp.json_body());
    let b = body(resp);
    assert_eq!(b["error"], error);
    assert_eq!(b["error_codes"], json!([code]));
    let description = b["error_description"].as_str().expect("description");
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    for line in [
        "\r\nTrace ID: ",
        "\r\nCorrelation ID: ",
        "\r\nTimestamp: 2026-03-01 10:00:00Z",
    ] {
        assert!(description.contains(line), "{line:?} in {description}");
    }
    assert_eq!(b["timestamp"], "2026-03-01 10:00:00Z");
    assert!(is_guid(b["trace_id"].as_str().expect("trace")));
    assert!(is_guid(b["correlation_id"].as_str().expect("correlation")));
    assert_eq!(b["error_uri"], format!("{BASE}/error?code={code}"));
    b
}

// ---- discovery -------------------------------------------------------------------------------------

#[test]
fn openid_documents_point_every_endpoint_at_the_base_url() {
    let id = identity();
    let v2 = body(&get(
        &id,
        &format!("/{TENANT}/v2.0/.well-known/openid-configuration"),
    ));
    assert_eq!(
        v2["token_endpoint"],
        format!("{BASE}/{TENANT}/oauth2/v2.0/token")
    );
    assert_eq!(
        v2["jwks_uri"],
        format!("{BASE}/{TENANT}/discovery/v2.0/keys")
    );
    assert_eq!(
        v2["authorization_endpoint"],
        format!("{BASE}/{TENANT}/oauth2/v2.0/authorize")
    );
    assert_eq!(v2["issuer"], format!("{BASE}/{TENANT}/v2.0"));
    assert_eq!(v2["tenant_region_scope"], "WW");

    let v1 = body(&get(
        &id,
        &format!("/{TENANT}/.well-known/openid-configuration"),
    ));
    assert_eq!(
        v1["token_endpoint"],
        format!("{BASE}/{TENANT}/oauth2/token")
    );
    assert_eq!(v1["jwks_uri"], format!("{BASE}/common/discovery/keys"));
    assert_eq!(v1["issuer"], format!("https://sts.windows.net/{TENANT}/"));
}

#[test]
fn a_domain_resolves_to_the_tenant_id_and_common_keeps_its_name() {
    let id = identity();
    let by_domain = body(&get(
        &id,
        "/armsim.onmicrosoft.com/v2.0/.well-known/openid-configuration",
    ));
    assert_eq!(
        by_domain["token_endpoint"],
        format!("{BASE}/{TENANT}/oauth2/v2.0/token")
    );

    let common = body(&get(&id, "/common/v2.0/.well-known/openid-configuration"));
    assert_eq!(
        common["token_endpoint"],
        format!("{BASE}/common/oauth2/v2.0/token")
    );
    assert_eq!(common["issuer"], format!("{BASE}/{{tenantid}}/v2.0"));
}

#[test]
fn an_unknown_tenant_gets_aadsts90002_on_discovery_and_token_requests() {
    let id = identity();
    let doc = get(&id, "/nope.example/v2.0/.well-known/openid-configuration");
    let b = assert_aad_error(&doc, 400, "invalid_tenant", 90002);
    assert!(b["error_description"]
        .as_str()
        .expect("d")
        .contains("Tenant 'nope.example' not found."));

    let token = post_form(
        &id,
        "/nope.example/oauth2/v2.0/token",
        &format!("client_id={CONTRIBUTOR}&client_secret=armsim-contributor-secret&grant_type=client_credentials&scope={ARM_SCOPE}"),
        &clock(),
    );
    assert_aad_error(&token, 400, "invalid_request", 90002);
}

#[test]
fn jwks_publishes_the_signing_key_under_its_kid() {
    let id = identity();
    for path in [
        format!("/{TENANT}/discovery/v2.0/keys"),
        "/common/discovery/keys".to_string(),
    ] {
        let keys = body(&get(&id, &path));
        let key = &keys["keys"][0];
        assert_eq!(key["kid"], id.kid(), "{path}");
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["e"], "AQAB");
        let n = URL_SAFE_NO_PAD
            .decode(key["n"].as_str().expect("n"))
            .expect("b64");
        assert_eq!(n.len(), 256, "RSA 2048");
    }
}

#[test]
fn instance_discovery_sends_msal_back_to_armsim() {
    let id = identity();
    let resp = get(
        &id,
        &format!("/common/discovery/instance?api-version=1.1&authorization_endpoint=https%3A%2F%2F127.0.0.1%3A8443%2F{TENANT}%2Foauth2%2Fv2.0%2Fauthorize"),
    );
    let b = body(&resp);
    assert_eq!(
        b["tenant_discovery_endpoint"],
        format!("{BASE}/{TENANT}/v2.0/.well-known/openid-configuration")
    );
    assert_eq!(b["metadata"][0]["preferred_network"], "127.0.0.1:8443");
    assert_eq!(
        b["metadata"][0]["aliases"],
        json!(["127.0.0.1:8443", "127.0.0.1"])
    );
    assert_eq!(
        resp.header_value("cache-control"),
        Some("max-age=86400, private")
    );
}

#[test]
fn other_paths_are_left_to_arm() {
    let id = identity();
    let req = HttpRequest::new("GET", "/subscriptions?api-version=2022-12-01");
    assert!(id.handle(&req, BASE, &clock()).is_none());
}

// ---- tokens ----------------------------------------------------------------------------------------

#[test]
fn the_v2_endpoint_issues_a_v1_style_arm_token_with_numeric_lifetimes() {
    let id = identity();
    let resp = v2_token(
        &id,
        CONTRIBUTOR,
        "armsim-contributor-secret",
        ARM_SCOPE,
        &clock(),
    );
    assert_eq!(resp.status, 200, "{:?}", resp.json_body());
    assert_eq!(
        resp.header_value("cache-control"),
        Some("no-store, no-cache")
    );
    let b = body(&resp);
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], json!(3600));
    assert_eq!(b["ext_expires_in"], json!(3600));

    let token = b["access_token"].as_str().expect("token");
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().expect("h"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(
        header,
        json!({"typ": "JWT", "alg": "RS256", "kid": id.kid()})
    );

    let c = claims_of(token);
    let start = clock().now().as_secs();
    assert_eq!(c["aud"], "https://management.azure.com");
    assert_eq!(c["iss"], format!("https://sts.windows.net/{TENANT}/"));
    assert_eq!(c["tid"], TENANT);
    assert_eq!(c["appid"], CONTRIBUTOR);
    assert_eq!(c["oid"], "22222222-0000-0000-0000-00000000c0de");
    assert_eq!(c["sub"], c["oid"]);
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["ver"], "1.0");
    assert_eq!(
        (c["iat"].as_i64(), c["nbf"].as_i64(), c["exp"].as_i64()),
        (Some(start), Some(start), Some(start + 3600))
    );
}

#[test]
fn the_v1_endpoint_takes_a_resource_and_answers_with_string_numbers() {
    let id = identity();
    let resp = post_form(
        &id,
        &format!("/{TENANT}/oauth2/token"),
        &format!("grant_type=client_credentials&client_id={CONTRIBUTOR}&client_secret=armsim-contributor-secret&resource=https%3A%2F%2Fmanagement.azure.com%2F"),
        &clock(),
    );
    assert_eq!(resp.status, 200, "{:?}", resp.json_body());
    let b = body(&resp);
    assert_eq!(b["expires_in"], "3600");
    assert_eq!(b["resource"], "https://management.azure.com/");
    for field in ["ext_expires_in", "expires_on", "not_before"] {
        let text = b[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} is a string"));
        assert!(text.parse::<u64>().is_ok(), "{field}: {text}");
    }
    assert_eq!(
        claims_of(b["access_token"].as_str().expect("token"))["aud"],
        "https://management.azure.com/"
    );
}

#[test]
fn scopes_from_the_cli_and_the_js_sdk_become_their_audiences() {
    let id = identity();
    let cases = [
        (
            "https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default",
            "https://management.core.windows.net/",
        ),
        ("https%3A%2F%2F127.0.0.1%3A8443%2F.default", BASE),
    ];
    for (scope, audience) in cases {
        let resp = v2_token(
            &id,
            CONTRIBUTOR,
            "armsim-contributor-secret",
            scope,
            &clock(),
        );
        assert_eq!(resp.status, 200);
        assert_eq!(
            claims_of(body(&resp)["access_token"].as_str().expect("t"))["aud"],
            audience
        );
    }
}

#[test]
fn client_secret_basic_authenticates_like_a_posted_secret() {
    let id = identity();
    let basic = STANDARD.encode(format!("{READER}:armsim-reader-secret"));
    let mut req = HttpRequest::new("POST", &format!("/{TENANT}/oauth2/v2.0/token"))
        .header("authorization", &format!("Basic {basic}"))
        .header("client-request-id", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
    req.body = format!("grant_type=client_credentials&scope={ARM_SCOPE}").into();
    let resp = id.handle(&req, BASE, &clock()).expect("claimed");
    assert_eq!(resp.status, 200, "{:?}", resp.json_body());
    assert_eq!(
        resp.header_value("client-request-id"),
        Some("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")
    );
    assert_eq!(
        claims_of(body(&resp)["access_token"].as_str().expect("t"))["appid"],
        READER
    );
}

#[test]
fn an_unknown_client_is_unauthorized_client_aadsts700016() {
    let id = identity();
    let resp = v2_token(
        &id,
        "44444444-4444-4444-4444-444444444444",
        "x",
        ARM_SCOPE,
        &clock(),
    );
    let b = assert_aad_error(&resp, 400, "unauthorized_client", 700016);
    assert!(b["error_description"].as_str().expect("d").contains(
        "Application with identifier '44444444-4444-4444-4444-444444444444' was not found in the directory '11111111-1111-1111-1111-111111111111'."
    ));
}

#[test]
fn a_wrong_secret_is_invalid_client_aadsts7000215_and_the_secret_is_not_echoed() {
    let id = identity();
    let resp = v2_token(&id, CONTRIBUTOR, "guessed-secret", ARM_SCOPE, &clock());
    let b = assert_aad_error(&resp, 401, "invalid_client", 7000215);
    let text = b.to_string();
    assert!(text.contains("Invalid client secret provided."));
    assert!(!text.contains("guessed-secret") && !text.contains("armsim-contributor-secret"));
}

#[test]
fn a_missing_secret_is_invalid_client_aadsts7000218() {
    let id = identity();
    let resp = post_form(
        &id,
        &format!("/{TENANT}/oauth2/v2.0/token"),
        &format!("client_id={CONTRIBUTOR}&grant_type=client_credentials&scope={ARM_SCOPE}"),
        &clock(),
    );
    assert_aad_error(&resp, 401, "invalid_client", 7000218);
}

#[test]
fn an_unsupported_grant_is_unsupported_grant_type_aadsts70003() {
    let id = identity();
    let resp = post_form(
        &id,
        &format!("/{TENANT}/oauth2/v2.0/token"),
        &format!(
            "client_id={CONTRIBUTOR}&grant_type=password&username=u&password=p&scope={ARM_SCOPE}"
        ),
        &clock(),
    );
    assert_aad_error(&resp, 400, "unsupported_grant_type", 70003);
}

#[test]
fn missing_parameters_are_named_with_aadsts900144() {
    let id = identity();
    let cases = [
        (format!("grant_type=client_credentials&scope={ARM_SCOPE}"), "'client_id'"),
        (format!("client_id={CONTRIBUTOR}&scope={ARM_SCOPE}"), "'grant_type'"),
        (format!("client_id={CONTRIBUTOR}&client_secret=armsim-contributor-secret&grant_type=client_credentials"), "'scope'"),
    ];
    for (form, name) in cases {
        let resp = post_form(
            &id,
            &format!("/{TENANT}/oauth2/v2.0/token"),
            &form,
            &clock(),
        );
        let b = assert_aad_error(&resp, 400, "invalid_request", 900144);
        assert!(
            b["error_description"].as_str().expect("d").contains(name),
            "{name}"
        );
    }
}

#[test]
fn a_scope_without_default_is_invalid_scope_aadsts1002012() {
    let id = identity();
    let resp = v2_token(
        &id,
        CONTRIBUTOR,
        "armsim-contributor-secret",
        "https%3A%2F%2Fmanagement.azure.com%2Fuser_impersonation",
        &clock(),
    );
    assert_aad_error(&resp, 400, "invalid_scope", 1002012);
}

#[test]
fn a_get_on_the_token_endpoint_is_refused_with_aadsts900561() {
    let id = identity();
    let resp = get(&id, &format!("/{TENANT}/oauth2/v2.0/token"));
    assert_aad_error(&resp, 400, "invalid_request", 900561);
}

#[test]
fn expires_in_is_in_wall_seconds_under_a_scaled_clock() {
    let id = identity();
    let scaled = Clock::new(
        ClockMode::Scaled { scale: 60.0 },
        "2026-03-01T10:00:00Z".parse().expect("start"),
    );
    let b = body(&v2_token(
        &id,
        CONTRIBUTOR,
        "armsim-contributor-secret",
        ARM_SCOPE,
        &scaled,
    ));
    assert_eq!(b["expires_in"], json!(60), "60 virtual minutes at ×60");
    let c = claims_of(b["access_token"].as_str().expect("t"));
    let lifetime = c["exp"].as_i64().expect("exp") - c["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 3600, "the token itself lives 60 virtual minutes");

    let fast = Clock::new(ClockMode::Scaled { scale: 10_000.0 }, clock().now());
    let b = body(&v2_token(
        &id,
        CONTRIBUTOR,
        "armsim-contributor-secret",
        ARM_SCOPE,
        &fast,
    ));
    assert_eq!(b["expires_in"], json!(1), "never 0");
}

#[test]
fn ids_in_answers_are_reproducible_from_the_seed() {
    let first = identity();
    let second = identity();
    let a = v2_token(&first, CONTRIBUTOR, "nope", ARM_SCOPE, &clock());
    let b = v2_token(&second, CONTRIBUTOR, "nope", ARM_SCOPE, &clock());
    assert_eq!(a, b);
    let t1 = v2_token(
        &first,
        CONTRIBUTOR,
        "armsim-contributor-secret",
        ARM_SCOPE,
        &clock(),
    );
    let t2 = v2_token(
        &second,
        CONTRIBUTOR,
        "armsim-contributor-secret",
        ARM_SCOPE,
        &clock(),
    );
    assert_eq!(t1, t2);
}

// ---- ARM's checks ----------------------------------------------------------------------------------

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn issue(id: &Identity, client: &str, audience: &str, clock: &Clock) -> String {
    id.issue_token(client, audience, clock).expect("token")
}

#[test]
fn strict_accepts_its_own_token_for_every_allowed_audience() {
    let id = identity();
    let c = clock();
    let mut audiences: Vec<String> = crate::arm::error::ARM_AUDIENCES
        .iter()
        .map(|a| a.to_string())
        .collect();
    audiences.push(BASE.to_string());
    audiences.push(format!("{BASE}/"));
    for aud in audiences {
        let token = issue(&id, CONTRIBUTOR, &aud, &c);
        let caller = id
            .verify(Some(&bearer(&token)), AuthMode::Strict, BASE, c.now())
            .unwrap_or_else(|e| panic!("{aud}: {e}"));
        assert_eq!(
            caller,
            Caller {
                object_id: "22222222-0000-0000-0000-00000000c0de".into(),
                app_id: CONTRIBUTOR.into(),
                tenant_id: TENANT.into(),
                role: Role::Contributor,
            }
        );
    }
}

#[test]
fn strict_rejects_a_token_once_virtual_time_passes_its_expiry() {
    let id = identity();
    let mut c = clock();
    let token = issue(&id, CONTRIBUTOR, "https://management.azure.com/", &c);
    c.advance(VDuration::from_mins(59));
    assert!(id
        .verify(Some(&bearer(&token)), AuthMode::Strict, BASE, c.now())
        .is_ok());

    c.advance(VDuration::from_mins(2));
    let err = id
        .verify(Some(&bearer(&token)), AuthMode::Strict, BASE, c.now())
        .expect_err("expired");
    assert_eq!(
        (err.status, err.code.as_str()),
        (401, "ExpiredAuthenticationToken")
    );
    assert_eq!(
        err.message,
        "The access token expiry UTC time '3/1/2026 11:00:00 AM' is earlier than current UTC time '3/1/2026 11:01:00 AM'."
    );
    let challenge = &err.headers[0];
    assert_eq!(challenge.0, "WWW-Authenticate");
    assert_eq!(
        challenge.1,
        format!("Bearer authorization_uri=\"https://login.windows.net/{TENANT}\", error=\"invalid_token\", error_description=\"{}\"", err.message)
    );
}

#[test]
fn strict_rejects_a_wrong_audience_naming_it_and_the_allowed_ones() {
    let id = identity();
    let c = clock();
    let token = issue(&id, CONTRIBUTOR, "https://storage.azure.com", &c);
    let err = id
        .verify(Some(&bearer(&token)), AuthMode::Strict, BASE, c.now())
        .expect_err("audience");
    assert_eq!(
        (err.status, err.code.as_str()),
        (401, "InvalidAuthenticationTokenAudience")
    );
    assert_eq!(
        err.message,
        "The access token has been obtained for wrong audience or resource 'https://storage.azure.com'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."
    );
    assert!(err.headers.iter().any(|(n, _)| n == "WWW-Authenticate"));
}

#[test]
fn strict_rejects_a_token_signed_by_another_key() {
    let id = identity();
    let stranger = Identity::new(IdentityConfig::default(), 4242).expect("other key");
    let c = clock();
    let token = issue(&stranger, CONTRIBUTOR, "https://management.azure.com", &c);
    let err = id
        .verify(Some(&bearer(&token)), AuthMode::Strict, BASE, c.now())
        .expect_err("foreign");
    assert_eq!(
        (err.status, err.code.as_str()),
        (401, "InvalidAuthenticationToken")
    );
    assert_eq!(err.message, "The access token is invalid.");

    // The same claims under armsim's kid but the stranger's signature.
    let mut parts: Vec<&str> = token.split('.').collect();
    let own = issue(&id, CONTRIBUTOR, "https://management.azure.com", &c);
    parts[0] = own.split('.').next().expect("header");
    let spliced = parts.join(".");
    let err = id
        .verify(Some(&bearer(&spliced)), AuthMode::Strict, BASE, c.now())
        .expect_err("spliced");
    assert_eq!(err.code, "InvalidAuthenticationToken");

    for garbage in ["not-a-jwt", "a.b.c"] {
        let err = id
            .verify(Some(&bearer(garbage)), AuthMode::Strict, BASE, c.now())
            .expect_err(garbage);
        assert_eq!(err.code, "InvalidAuthenticationToken");
    }
}

#[test]
fn strict_rejects_a_token_from_another_tenant() {
    let id = identity();
    let other = Identity::new(
        IdentityConfig {
            tenant_id: "99999999-9999-9999-9999-999999999999".into(),
            ..IdentityConfig::default()
        },
        42,
    )
    .expect("same key, other tenant");
    let c = clock();
    let token = issue(&other, CONTRIBUTOR, "https://management.azure.com", &c);
    let err = id
        .verify(Some(&bearer(&token)), AuthMode::Strict, BASE, c.now())
        .expect_err("tenant");
    assert_eq!(
        (err.status, err.code.as_str()),
        (401, "InvalidAuthenticationTokenTenant")
    );
    assert!(err.message.starts_with(
        "The access token is from the wrong issuer 'https://sts.windows.net/99999999-9999-9999-9999-999999999999/'. It must match the tenant 'https://sts.windows.net/11111111-1111-1111-1111-111111111111/' associated with this subscription."
    ));
    assert!(err.headers[0]
        .1
        .contains(&format!("https://login.windows.net/{TENANT}")));
}

#[test]
fn strict_rejects_a_token_without_oid() {
    let id = identity();
    let now = clock().now().as_secs();
    let token = id.key().expect("key").sign(&json!({
        "aud": "https://management.azure.com/",
        "iss": id.issuer(),
        "iat": now, "nbf": now, "exp": now + 600,
        "appid": CONTRIBUTOR,
        "tid": TENANT,
    }));
    let err = id
        .verify(Some(&bearer(&token)), AuthMode::Strict, BASE, clock().now())
        .expect_err("no oid");
    assert_eq!(
        (err.status, err.code.as_str()),
        (401, "InvalidAuthenticationToken")
    );
    assert!(err
        .message
        .contains("at least one of the claims 'puid' or 'altsecid' or 'oid' should be present"));
}

#[test]
fn strict_treats_a_mistyped_expiry_as_an_invalid_token_not_a_missing_one() {
    let id = identity();
    let token = id.key().expect("key").sign(&json!({
        "aud": "https://management.azure.com/", "iss": id.issuer(), "exp": "never",
        "oid": "x", "tid": TENANT,
    }));
    let err = id
        .verify(Some(&bearer(&token)), AuthMode::Strict, BASE, clock().now())
        .expect_err("mistyped exp");
    assert_eq!(err.code, "InvalidAuthenticationToken");
}

#[test]
fn a_missing_or_non_bearer_header_is_authentication_failed_unless_auth_is_off() {
    let id = identity();
    let now = clock().now();
    for mode in [AuthMode::Strict, AuthMode::Permissive] {
        let err = id.verify(None, mode, BASE, now).expect_err("missing");
        assert_eq!(
            (err.status, err.code.as_str()),
            (401, "AuthenticationFailed")
        );
        assert!(err.headers[0].1.contains("missing 'Authorization' header"));
        let err = id
            .verify(Some("Basic abc"), mode, BASE, now)
            .expect_err("scheme");
        assert_eq!(err.code, "AuthenticationFailed");
        // The scheme is the text before the first space, the token what follows it, both trimmed of
        // whitespace; a scheme without a token is no bearer.
        for refused in ["Bearer", "Bearer   ", "Bearer\tx", "Bearerx", " \t"] {
            let err = id.verify(Some(refused), mode, BASE, now);
            let code = err.map_err(|e| e.code);
            assert_eq!(code, Err("AuthenticationFailed".into()), "{refused:?}");
        }
    }
    for taken in ["Bearer x", " bearer x ", "BEARER   x\t\r\n"] {
        let caller = id.verify(Some(taken), AuthMode::Permissive, BASE, now);
        assert_eq!(caller, Ok(Caller::anonymous(TENANT)), "{taken:?}");
    }
    assert_eq!(
        id.verify(None, AuthMode::Off, BASE, now),
        Ok(Caller::anonymous(TENANT))
    );
}

#[test]
fn permissive_accepts_a_garbage_bearer_as_an_anonymous_contributor() {
    let id = identity();
    let caller = id
        .verify(
            Some("Bearer stub-static-token"),
            AuthMode::Permissive,
            BASE,
            clock().now(),
        )
        .expect("accepted");
    assert_eq!(caller, Caller::anonymous(TENANT));
    assert_eq!(caller.role, Role::Contributor);
}

#[test]
fn permissive_reads_but_does_not_check_the_claims_of_a_jwt() {
    let id = identity();
    let mut c = clock();
    let token = issue(&id, READER, "https://wrong.example", &c);
    c.advance(VDuration::from_days(1));
    let caller = id
        .verify(Some(&bearer(&token)), AuthMode::Permissive, BASE, c.now())
        .expect("expired and wrong audience, still accepted");
    assert_eq!(caller.app_id, READER);
    assert_eq!(caller.role, Role::Reader);
}

#[test]
fn a_reader_may_read_but_gets_403_on_backup_naming_action_and_scope() {
    let id = identity();
    let c = clock();
    let token = issue(&id, READER, "https://management.azure.com/", &c);
    let caller = id
        .verify(Some(&bearer(&token)), AuthMode::Strict, BASE, c.now())
        .expect("valid token");
    let scope = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-dr/providers/Microsoft.ApiManagement/service/apim-ok";
    assert!(authorize(&caller, "Microsoft.ApiManagement/service/read", scope, true).is_ok());

    let err = authorize(
        &caller,
        "Microsoft.ApiManagement/service/backup/action",
        scope,
        false,
    )
    .expect_err("reader");
    assert_eq!(
        (err.status, err.code.as_str()),
        (403, "AuthorizationFailed")
    );
    assert_eq!(
        err.message,
        format!("The client '33333333-0000-0000-0000-00000000c0de' with object id '33333333-0000-0000-0000-00000000c0de' does not have authorization to perform action 'Microsoft.ApiManagement/service/backup/action' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.")
    );

    let contributor = id
        .verify(
            Some(&bearer(&issue(
                &id,
                CONTRIBUTOR,
                "https://management.azure.com/",
                &c,
            ))),
            AuthMode::Strict,
            BASE,
            c.now(),
        )
        .expect("contributor");
    assert!(authorize(
        &contributor,
        "Microsoft.ApiManagement/service/backup/action",
        scope,
        false
    )
    .is_ok());
}

// ---- configuration ---------------------------------------------------------------------------------

#[test]
fn auth_modes_parse_from_the_command_line_words() {
    assert_eq!("strict".parse(), Ok(AuthMode::Strict));
    assert_eq!("Permissive".parse(), Ok(AuthMode::Permissive));
    assert_eq!("off".parse(), Ok(AuthMode::Off));
    let err = "lax".parse::<AuthMode>().expect_err("lax");
    assert!(err.contains("'lax'"), "{err}");
}

#[test]
fn a_world_file_can_list_principals_and_shorten_token_lifetime() {
    let yaml = r#"
tenantId: 11111111-1111-1111-1111-111111111111
tokenLifetime: 5m
principals:
  - clientId: 55555555-5555-5555-5555-555555555555
    clientSecret: s3cret
    objectId: 55555555-0000-0000-0000-000000000000
    displayName: dr-bot
    role: Owner
  - clientId: 66666666-6666-6666-6666-666666666666
    clientSecret: other
    objectId: 66666666-0000-0000-0000-000000000000
    displayName: auditor
    role: reader
"#;
    let config: IdentityConfig = serde_saphyr::from_str(yaml).expect("yaml");
    assert_eq!(config.token_lifetime, VDuration::from_mins(5));
    assert_eq!(config.tenant_domain, "armsim.onmicrosoft.com", "defaulted");
    assert_eq!(config.principals[0].role, Role::Owner);
    assert_eq!(config.principals[1].role, Role::Reader);
    let id = Identity::new(config, 42).expect("valid");
    assert!(id
        .principal("55555555-5555-5555-5555-555555555555")
        .is_some());
}

#[test]
fn invalid_configurations_are_refused_with_the_reason() {
    let mut config = IdentityConfig::default();
    config.principals.push(config.principals[0].clone());
    let err = Identity::new(config, 42).expect_err("duplicate");
    assert!(err.to_string().contains("listed twice"), "{err}");

    let config = IdentityConfig {
        tenant_id: "contoso".into(),
        ..IdentityConfig::default()
    };
    assert!(Identity::new(config, 42).is_err());

    let config = IdentityConfig {
        token_lifetime: VDuration::ZERO,
        ..IdentityConfig::default()
    };
    assert!(Identity::new(config, 42).is_err());
}

#[test]
fn debug_output_never_shows_a_client_secret() {
    let text = format!("{:?}", identity());
    assert!(
        !text.contains("armsim-contributor-secret") && !text.contains("armsim-reader-secret"),
        "{text}"
    );
}

#[test]
fn issuing_for_an_unknown_client_is_an_error() {
    let err = identity()
        .issue_token(
            "44444444-4444-4444-4444-444444444444",
            "https://management.azure.com",
            &clock(),
        )
        .expect_err("unknown");
    assert!(matches!(err, IdentityError::UnknownClient(_)));
}

#[test]
fn a_token_verified_once_is_still_checked_for_audience_on_every_request() {
    let id = identity();
    let c = clock();
    let token = issue(&id, CONTRIBUTOR, BASE, &c);
    assert!(id
        .verify(Some(&bearer(&token)), AuthMode::Strict, BASE, c.now())
        .is_ok());
    let err = id
        .verify(
            Some(&bearer(&token)),
            AuthMode::Strict,
            "https://127.0.0.1:9999",
            c.now(),
        )
        .expect_err("the same token, another armsim's audience");
    assert_eq!(err.code, "InvalidAuthenticationTokenAudience");
}

#[test]
fn a_token_altered_after_its_original_was_verified_is_rejected() {
    let id = identity();
    let c = clock();
    let token = issue(&id, READER, "https://management.azure.com/", &c);
    assert!(id
        .verify(Some(&bearer(&token)), AuthMode::Strict, BASE, c.now())
        .is_ok());
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("payload")).expect("json");
    claims["appid"] = json!(CONTRIBUTOR);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let err = id
        .verify(Some(&bearer(&forged)), AuthMode::Strict, BASE, c.now())
        .expect_err("the original's signature does not cover the forged claims");
    assert_eq!(err.code, "InvalidAuthenticationToken");
}

#[test]
fn the_identity_debug_text_names_no_token() {
    let id = identity();
    let c = clock();
    let token = issue(&id, CONTRIBUTOR, "https://management.azure.com/", &c);
    assert!(id
        .verify(Some(&bearer(&token)), AuthMode::Strict, BASE, c.now())
        .is_ok());
    let shown = format!("{id:?}");
    assert!(shown.contains("VerifiedTokens(1 tokens)"), "{shown}");
    let signature = token.rsplit('.').next().expect("signature");
    assert!(!shown.contains(signature), "{shown}");
}
