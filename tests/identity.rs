//! `armsim serve` with its defaults: HTTPS with a generated CA, the fake Azure AD, strict token checks.
//! Clients here trust only the CA file named in the ready line, exactly as a real SDK is configured.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::serve::start;

const TENANT: &str = "11111111-1111-1111-1111-111111111111";
const CONTRIBUTOR: (&str, &str) = (
    "22222222-2222-2222-2222-222222222222",
    "armsim-contributor-secret",
);
const READER: (&str, &str) = (
    "33333333-3333-3333-3333-333333333333",
    "armsim-reader-secret",
);

/// One HTTPS request trusting only `ca_pem`; `host` is what the client connects to by name.
async fn https(
    ca_pem: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, Value) {
    let config = crate::common::tls_trusting(ca_pem, &[]);
    let uri: hyper::Uri = url.parse().expect("url");
    let host = uri.host().expect("host").to_string();
    let port = uri.port_u16().expect("port");
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from(host.clone()).expect("server name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the served CA");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("http1");
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header("host", format!("{host}:{port}"));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = sender
        .send_request(
            req.body(Full::new(Bytes::from(body.to_string())))
                .expect("request"),
        )
        .await
        .expect("response");
    let status = resp.status().as_u16();
    let hs = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        hs,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn token(ca: &str, ep: &str, who: (&str, &str), scope: &str) -> String {
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
        who.0,
        who.1,
        armsim_simulator::http::percent_encode(scope)
    );
    let (status, _, body) = https(
        ca,
        "POST",
        &format!("{ep}/{TENANT}/oauth2/v2.0/token"),
        &[("content-type", "application/x-www-form-urlencoded")],
        &form,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

fn served() -> (crate::serve::Served, String, String) {
    let s = start(&["--tls", "on", "--auth", "strict", "--clock", "manual"]);
    let ep = s.endpoint();
    let ca_path = s.ready_field("ca_cert");
    let ca = std::fs::read_to_string(&ca_path).expect("the ready line names a readable CA file");
    (s, ep, ca)
}

#[tokio::test]
async fn serve_defaults_to_https_and_the_ready_line_names_the_ca_to_trust() {
    let s = start(&["--tls", "on", "--auth", "strict"]);
    assert!(
        s.endpoint().starts_with("https://127.0.0.1:"),
        "{}",
        s.endpoint()
    );
    assert_eq!(s.ready_field("auth"), "strict");
    let ca = std::fs::read_to_string(s.ready_field("ca_cert")).expect("ca");
    let (status, _, body) = https(
        &ca,
        "GET",
        &format!("{}/_armsim/health", s.endpoint()),
        &[],
        "",
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let localhost = s.endpoint().replace("127.0.0.1", "localhost");
    assert_eq!(
        https(&ca, "GET", &format!("{localhost}/_armsim/health"), &[], "")
            .await
            .0,
        200,
        "the certificate covers localhost too"
    );
}

#[tokio::test]
async fn a_contributor_token_from_the_token_endpoint_can_back_up_and_a_reader_gets_403_naming_the_action(
) {
    let (_s, ep, ca) = served();
    let svc = format!("{ep}/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers/Microsoft.ApiManagement/service/contoso-apim");
    let contributor = token(
        &ca,
        &ep,
        CONTRIBUTOR,
        "https://management.azure.com/.default",
    )
    .await;
    let bearer = format!("Bearer {contributor}");
    let (status, _, body) = https(
        &ca,
        "GET",
        &format!("{svc}?api-version=2024-05-01"),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!((status, body["name"].as_str()), (200, Some("contoso-apim")));
    let reader = format!(
        "Bearer {}",
        token(
            &ca,
            &ep,
            READER,
            "https://management.core.windows.net//.default"
        )
        .await
    );
    let (status, _, _) = https(
        &ca,
        "GET",
        &format!("{svc}?api-version=2024-05-01"),
        &[("authorization", &reader)],
        "",
    )
    .await;
    assert_eq!(status, 200, "a Reader may read");
    let (status, _, body) = https(
        &ca,
        "POST",
        &format!("{svc}/backup?api-version=2024-05-01"),
        &[
            ("authorization", &reader),
            ("content-type", "application/json"),
        ],
        "{}",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("AuthorizationFailed"))
    );
    let msg = body["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("'Microsoft.ApiManagement/service/backup/action'") && msg.contains("over scope '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers/Microsoft.ApiManagement/service/contoso-apim'"), "{msg}");
}

#[tokio::test]
async fn strict_mode_rejects_missing_foreign_and_expired_tokens_with_arm_codes() {
    let (_s, ep, ca) = served();
    let url =
        format!("{ep}/subscriptions/00000000-0000-0000-0000-000000000000?api-version=2022-12-01");
    let (status, headers, body) = https(&ca, "GET", &url, &[], "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("AuthenticationFailed"))
    );
    assert!(headers
        .iter()
        .any(|(n, v)| n == "www-authenticate" && v.starts_with("Bearer authorization_uri=")));
    let (status, _, body) = https(
        &ca,
        "GET",
        &url,
        &[("authorization", "Bearer not.a.token")],
        "",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken"))
    );
    let wrong_aud = token(&ca, &ep, CONTRIBUTOR, "https://vault.azure.net/.default").await;
    let (status, _, body) = https(
        &ca,
        "GET",
        &url,
        &[("authorization", &format!("Bearer {wrong_aud}"))],
        "",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationTokenAudience"))
    );
    // The JS SDK asks for `{endpoint}/.default`: that audience is accepted too.
    let own = token(&ca, &ep, CONTRIBUTOR, &format!("{ep}/.default")).await;
    assert_eq!(
        https(
            &ca,
            "GET",
            &url,
            &[("authorization", &format!("Bearer {own}"))],
            ""
        )
        .await
        .0,
        200
    );
    // Tokens live 60 virtual minutes; advance past that.
    let good = token(
        &ca,
        &ep,
        CONTRIBUTOR,
        "https://management.azure.com/.default",
    )
    .await;
    https(
        &ca,
        "POST",
        &format!("{ep}/_armsim/clock/advance"),
        &[],
        "{\"by\":\"61m\"}",
    )
    .await;
    let (status, _, body) = https(
        &ca,
        "GET",
        &url,
        &[("authorization", &format!("Bearer {good}"))],
        "",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("ExpiredAuthenticationToken"))
    );
    assert!(body["error"]["message"].as_str().unwrap_or("").starts_with("The access token expiry UTC time '1/1/2026 1:00:00 AM' is earlier than current UTC time '1/1/2026 1:01:00 AM'"), "{body}");
}

#[tokio::test]
async fn a_wrong_client_secret_gets_the_aadsts_error_and_the_secret_is_not_journaled() {
    let (_s, ep, ca) = served();
    let form = format!("grant_type=client_credentials&client_id={}&client_secret=wrong-secret-123&scope=https%3A%2F%2Fmanagement.azure.com%2F.default", CONTRIBUTOR.0);
    let (status, _, body) = https(
        &ca,
        "POST",
        &format!("{ep}/{TENANT}/oauth2/v2.0/token"),
        &[("content-type", "application/x-www-form-urlencoded")],
        &form,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or("")
            .starts_with("AADSTS7000215"),
        "{body}"
    );
    token(
        &ca,
        &ep,
        CONTRIBUTOR,
        "https://management.azure.com/.default",
    )
    .await;
    let (_, _, journal) = https(&ca, "GET", &format!("{ep}/_armsim/journal"), &[], "").await;
    let text = journal.to_string();
    assert!(
        !text.contains("wrong-secret-123") && !text.contains(CONTRIBUTOR.1),
        "a client secret reached the journal"
    );
    assert!(!text.contains("eyJ"), "a token reached the journal");
}

#[tokio::test]
async fn the_openid_document_and_the_cloud_metadata_point_at_armsim() {
    let (_s, ep, ca) = served();
    let (status, _, doc) = https(
        &ca,
        "GET",
        &format!("{ep}/{TENANT}/v2.0/.well-known/openid-configuration"),
        &[],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        doc["token_endpoint"],
        format!("{ep}/{TENANT}/oauth2/v2.0/token")
    );
    let (status, _, meta) = https(
        &ca,
        "GET",
        &format!("{ep}/metadata/endpoints?api-version=2022-09-01"),
        &[],
        "",
    )
    .await;
    assert_eq!(
        (status, meta["resourceManager"].as_str()),
        (200, Some(format!("{ep}/").as_str()))
    );
}
