//! HTTPS for `armsim serve`: the official SDKs refuse to send a bearer token over plain HTTP, so the
//! simulator must speak TLS with a certificate the clients can be told to trust.
//!
//! [`self_signed`] makes a throwaway two-certificate chain at start: a tiny CA and a leaf for `localhost`,
//! `127.0.0.1` and `::1` signed by it. A single certificate cannot serve as both: rustls' webpki rejects an
//! end-entity certificate that says `CA:TRUE`, while OpenSSL in strict mode (Python ≥ 3.13's default)
//! wants a CA with `keyCertSign` and a leaf with an authority key identifier. The chain satisfies both.
//! [`TlsMaterial::cert_pem`] holds leaf then CA, and that same file is what clients are given as their
//! CA bundle (`REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS`, a rustls root store): each of them finds the
//! CA in it.
//!
//! [`load`] reads the user's own PEM files instead; [`acceptor`] turns either into a
//! `tokio_rustls::TlsAcceptor` offering `h2` and `http/1.1`. The crypto provider is `ring`, passed
//! explicitly, so no process-wide default has to be installed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate chain and its private key, both PEM.
#[derive(Clone)]
pub struct TlsMaterial {
    /// The chain the server presents, leaf first. For [`self_signed`] it is leaf + CA, and it doubles as
    /// the CA bundle clients trust.
    pub cert_pem: String,
    /// The leaf's private key (PKCS#8 for [`self_signed`]; PKCS#8, PKCS#1 or SEC1 from [`load`]).
    pub key_pem: String,
}

impl fmt::Debug for TlsMaterial {
    /// Never prints the private key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not generate the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("could not read the {what} file {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin} holds no PEM certificate (a block starting '-----BEGIN CERTIFICATE-----' is expected)")]
    NoCertificate { origin: String },
    #[error("{origin} holds no PEM private key (PKCS#8 'BEGIN PRIVATE KEY', PKCS#1 'BEGIN RSA PRIVATE KEY' or SEC1 'BEGIN EC PRIVATE KEY' is expected)")]
    NoPrivateKey { origin: String },
    #[error("{origin} is not valid PEM: {detail}")]
    BadPem { origin: String, detail: String },
    #[error("the certificate and key were refused by rustls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The names every self-signed certificate covers: what a local client may type to reach armsim.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A fresh CA + leaf chain for [`SELF_SIGNED_NAMES`], valid from last year to five years ahead (wall
/// clock: TLS clients check validity against their own clock, never the simulator's virtual one).
pub fn self_signed() -> Result<TlsMaterial, TlsError> {
    let year = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .year();
    let not_before = rcgen::date_time_ymd(i32::from(year) - 1, 1, 1);
    let not_after = rcgen::date_time_ymd(i32::from(year) + 5, 1, 1);

    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "armsim local CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "armsim");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;

    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|n| n.to_string()).collect();
    let mut leaf = CertificateParams::new(names)?;
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.distinguished_name
        .push(DnType::OrganizationName, "armsim");
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf.signed_by(&leaf_key, &ca)?;

    Ok(TlsMaterial {
        cert_pem: format!("{}{}", leaf_cert.pem(), ca.pem()),
        key_pem: leaf_key.serialize_pem(),
    })
}

/// Reads a user-provided certificate chain (leaf first) and private key, checking both parse.
pub fn load(cert: &Path, key: &Path) -> Result<TlsMaterial, TlsError> {
    let read = |what: &'static str, path: &Path| {
        std::fs::read_to_string(path).map_err(|source| TlsError::Read {
            what,
            path: path.to_path_buf(),
            source,
        })
    };
    let material = TlsMaterial {
        cert_pem: read("certificate", cert)?,
        key_pem: read("private key", key)?,
    };
    parse_chain(&material.cert_pem, &cert.display().to_string())?;
    parse_key(&material.key_pem, &key.display().to_string())?;
    Ok(material)
}

/// A TLS acceptor presenting `m`, offering ALPN `h2` then `http/1.1`.
pub fn acceptor(m: &TlsMaterial) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let chain = parse_chain(&m.cert_pem, "the certificate PEM")?;
    let key = parse_key(&m.key_pem, "the private key PEM")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Every certificate in a PEM text, in order.
pub fn parse_chain(pem: &str, origin: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            origin: origin.to_string(),
            detail: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: origin.to_string(),
        });
    }
    Ok(chain)
}

fn parse_key(pem: &str, origin: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    use rustls::pki_types::pem::Error as PemError;
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        PemError::NoItemsFound => TlsError::NoPrivateKey {
            origin: origin.to_string(),
        },
        // Not echoing the PEM text: it is a private key.
        other => TlsError::BadPem {
            origin: origin.to_string(),
            detail: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Serves one plain `HTTP/1.1 200` answer per connection, `connections` times, on 127.0.0.1.
    async fn serve(material: &TlsMaterial, connections: usize) -> std::net::SocketAddr {
        let acceptor = acceptor(material).expect("acceptor");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            for _ in 0..connections {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = [0u8; 2048];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        addr
    }

    fn client_trusting(pem: &str) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        let (added, _ignored) =
            roots.add_parsable_certificates(parse_chain(pem, "test").expect("chain"));
        assert!(added > 0);
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    #[tokio::test]
    async fn a_rustls_client_trusting_only_the_self_signed_pem_connects_by_ip_and_by_localhost() {
        let material = self_signed().expect("self-signed");
        let addr = serve(&material, 2).await;
        let connector = client_trusting(&material.cert_pem);

        for name in ["127.0.0.1", "localhost"] {
            let tcp = TcpStream::connect(addr).await.expect("tcp");
            let server_name = ServerName::try_from(name.to_string()).expect("name");
            let mut tls = connector
                .connect(server_name, tcp)
                .await
                .unwrap_or_else(|e| panic!("handshake as {name}: {e}"));
            tls.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .expect("write");
            let mut answer = Vec::new();
            let _ = tls.read_to_end(&mut answer).await;
            assert!(answer.starts_with(b"HTTP/1.1 200"), "{name}");
        }
    }

    #[tokio::test]
    async fn a_client_trusting_another_self_signed_chain_is_refused() {
        let served = self_signed().expect("served");
        let other = self_signed().expect("other");
        let addr = serve(&served, 1).await;
        let tcp = TcpStream::connect(addr).await.expect("tcp");
        let name = ServerName::try_from("127.0.0.1").expect("name");
        let result = client_trusting(&other.cert_pem).connect(name, tcp).await;
        assert!(result.is_err());
    }

    #[test]
    fn the_acceptor_offers_h2_then_http1() {
        let material = self_signed().expect("self-signed");
        let chain = parse_chain(&material.cert_pem, "x").expect("chain");
        assert_eq!(chain.len(), 2, "leaf then CA");
        assert!(acceptor(&material).is_ok());
    }

    #[test]
    fn loading_names_the_missing_file_and_what_it_should_hold() {
        let dir = std::env::temp_dir().join(format!("armsim-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");

        let err = load(&cert, &key).expect_err("missing");
        assert!(err.to_string().contains("cert.pem"), "{err}");

        let material = self_signed().expect("self-signed");
        std::fs::write(&cert, &material.cert_pem).expect("write cert");
        std::fs::write(&key, "not a key").expect("write key");
        let err = load(&cert, &key).expect_err("bad key");
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");

        std::fs::write(&key, &material.key_pem).expect("write key");
        let loaded = load(&cert, &key).expect("load");
        assert_eq!(loaded.cert_pem, material.cert_pem);
        assert!(!format!("{loaded:?}").contains("PRIVATE KEY"));

        std::fs::write(&cert, &material.key_pem).expect("key as cert");
        let err = load(&cert, &key).expect_err("no cert");
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Python's `ssl` (OpenSSL 3, default and strict verification) and Node must trust the same PEM file
    /// the server would write for `ca_cert`. Skipped, with a note, where the interpreter is missing.
    #[tokio::test]
    async fn python_and_node_trust_the_self_signed_pem_as_their_ca_bundle() {
        let material = self_signed().expect("self-signed");
        let addr = serve(&material, 6).await;
        let dir = std::env::temp_dir().join(format!("armsim-tls-clients-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &material.cert_pem).expect("write");
        let port = addr.port();

        let python = format!(
            r#"
import ssl, sys, urllib.request
for strict in (False, True):
    for host in ("127.0.0.1", "localhost"):
        ctx = ssl.create_default_context(cafile=sys.argv[1])
        if strict:
            ctx.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
        body = urllib.request.urlopen("https://%s:{port}/" % host, context=ctx, timeout=10).read()
        assert body == b"ok", body
print("python ok")
"#
        );
        let node = format!(
            r#"
const https = require("https");
const get = (host) => new Promise((ok, fail) => https.get({{host, port: {port}, path: "/"}}, (r) => {{
  let b = ""; r.on("data", (c) => b += c); r.on("end", () => b === "ok" ? ok() : fail(new Error(b)));
}}).on("error", fail));
get("127.0.0.1").then(() => get("localhost")).then(() => console.log("node ok"), (e) => {{ console.error(e); process.exit(1); }});
"#
        );
        /// A program, its arguments and its environment.
        type Run<'a> = (&'a str, Vec<String>, Vec<(&'a str, String)>);
        let runs: [Run; 2] = [
            (
                "python3",
                vec!["-c".into(), python, ca.display().to_string()],
                vec![],
            ),
            (
                "node",
                vec!["-e".into(), node],
                vec![("NODE_EXTRA_CA_CERTS", ca.display().to_string())],
            ),
        ];
        for (program, args, envs) in runs {
            let out = tokio::process::Command::new(program)
                .args(&args)
                .envs(envs)
                .output()
                .await;
            match out {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    eprintln!("note: {program} not installed; its trust check was skipped");
                }
                Err(e) => panic!("{program}: {e}"),
                Ok(out) => assert!(
                    out.status.success(),
                    "{program} refused the certificate:\n{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
