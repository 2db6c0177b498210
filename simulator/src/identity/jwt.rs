//! RS256 JSON Web Tokens: the signing key, compact serialisation, verification and the JWKS entry.
//!
//! Written on `rsa` + `sha2` rather than the `jsonwebtoken` crate: jsonwebtoken ≥ 10.3 (9.x carries
//! CVE-2026-25537) needs a crypto backend, and its RustCrypto one adds p256, p384, ed25519-dalek, hmac and
//! rand (≈ 46 crates, +40 s to a cold debug build on the 2-core CI machine) while armsim needs one
//! algorithm; its aws-lc-rs one builds C. What is hand-written here is only the framing
//! (`base64url(header).base64url(claims).base64url(signature)`); signing and verification are `rsa`'s
//! PKCS#1 v1.5 with SHA-256. Verification accepts `alg: RS256` only, so `none`/HS256 confusion is
//! impossible.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use rand_chacha::rand_core::SeedableRng;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// base64url that accepts input with or without `=` padding (some clients pad).
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a compact JWT was not accepted. Never carries the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a compact JWS (three base64url parts with a JSON header and payload)")]
    Malformed,
    #[error("algorithm '{0}' is not accepted; only RS256 is")]
    UnsupportedAlgorithm(String),
    #[error("signed with key '{0}', which is not armsim's")]
    UnknownKey(String),
    #[error("the signature does not verify")]
    BadSignature,
}

/// An RSA 2048 key pair with its `kid`.
pub struct RsaKey {
    signer: SigningKey<Sha256>,
    verifier: VerifyingKey<Sha256>,
    public: RsaPublicKey,
    kid: String,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl RsaKey {
    /// The key for `seed`: derived deterministically (ChaCha20 seeded with `seed`), so one seed gives the
    /// same `kid` and byte-identical tokens on every run. Generation costs ≈ 0.2–0.4 s with the
    /// workspace's `opt-level = 1` for dependencies (4–6 s at opt-level 0), so keys are memoised per
    /// seed for the life of the process. Not a secret worth protecting: armsim is a local rehearsal
    /// tool, and anyone with the seed can mint tokens.
    pub fn for_seed(seed: u64) -> Result<Arc<RsaKey>, String> {
        type Cell = Arc<OnceLock<Result<Arc<RsaKey>, String>>>;
        static KEYS: OnceLock<Mutex<HashMap<u64, Cell>>> = OnceLock::new();
        let keys = KEYS.get_or_init(|| Mutex::new(HashMap::new()));
        let cell = Arc::clone(
            keys.lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(seed)
                .or_default(),
        );
        // One thread derives the key; any other asking for the same seed meanwhile waits for it.
        cell.get_or_init(|| {
            Self::generate(seed)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
    }

    /// Starts deriving the key for `seed` on a background thread, so a server can answer at once and
    /// only the first token request or check waits for the key (≈ 0.3 s).
    pub fn warm(seed: u64) {
        std::thread::spawn(move || {
            if let Err(e) = Self::for_seed(seed) {
                tracing::error!(error = %e, "could not derive the token signing key");
            }
        });
    }

    fn generate(seed: u64) -> Result<RsaKey, rsa::Error> {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let private = RsaPrivateKey::new(&mut rng, 2048)?;
        let public = private.to_public_key();
        let kid = thumbprint(&public);
        Ok(RsaKey {
            signer: SigningKey::<Sha256>::new(private),
            verifier: VerifyingKey::<Sha256>::new(public.clone()),
            public,
            kid,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `header` gets `typ`, `alg` and `kid` first; `claims` is serialised as given.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = self.signer.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// The claims of `token` if it is RS256, names this key (or no key) and its signature verifies.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, JwtError> {
        let parts = split(token)?;
        match parts.header.get("alg").and_then(Value::as_str) {
            Some("RS256") => {}
            other => {
                return Err(JwtError::UnsupportedAlgorithm(
                    other.unwrap_or("(none)").to_string(),
                ))
            }
        }
        if let Some(kid) = parts.header.get("kid").and_then(Value::as_str) {
            if kid != self.kid {
                return Err(JwtError::UnknownKey(kid.to_string()));
            }
        }
        let signature = URL_SAFE_LENIENT
            .decode(parts.signature)
            .map_err(|_| JwtError::Malformed)?;
        let signature =
            Signature::try_from(signature.as_slice()).map_err(|_| JwtError::BadSignature)?;
        self.verifier
            .verify(parts.signing_input.as_bytes(), &signature)
            .map_err(|_| JwtError::BadSignature)?;
        Ok(parts.claims)
    }

    /// This key as a JWKS entry (RFC 7517), as Entra ID publishes its signing keys.
    pub fn jwk(&self, issuer: Option<&str>) -> Value {
        let mut jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(self.public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(self.public.e().to_bytes_be()),
        });
        if let (Some(issuer), Some(obj)) = (issuer, jwk.as_object_mut()) {
            obj.insert("issuer".into(), Value::String(issuer.to_string()));
        }
        jwk
    }
}

/// The claims of a compact JWT, signature unchecked (for `--auth permissive`).
pub fn claims_unverified(token: &str) -> Result<Map<String, Value>, JwtError> {
    split(token).map(|p| p.claims)
}

struct Parts<'a> {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signing_input: &'a str,
    signature: &'a str,
}

fn split(token: &str) -> Result<Parts<'_>, JwtError> {
    // `memrchr`, not `rsplit_once('.')`: an opaque token (no dot) is told apart on every request
    // under permissive auth, where the character search cost some 130 instructions more.
    let dot = memchr::memrchr(b'.', token.as_bytes()).ok_or(JwtError::Malformed)?;
    let (signing_input, signature) = token.split_at(dot);
    let signature = signature.get(1..).unwrap_or_default();
    let (header, claims) = signing_input.split_once('.').ok_or(JwtError::Malformed)?;
    if header.is_empty() || claims.is_empty() || signature.is_empty() || claims.contains('.') {
        return Err(JwtError::Malformed);
    }
    let object = |part: &str| -> Result<Map<String, Value>, JwtError> {
        let bytes = URL_SAFE_LENIENT
            .decode(part)
            .map_err(|_| JwtError::Malformed)?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(JwtError::Malformed),
        }
    };
    Ok(Parts {
        header: object(header)?,
        claims: object(claims)?,
        signing_input,
        signature,
    })
}

/// RFC 7638 JWK thumbprint: SHA-256 of `{"e":…,"kty":"RSA","n":…}`, base64url.
fn thumbprint(public: &RsaPublicKey) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        URL_SAFE_NO_PAD.encode(public.n().to_bytes_be())
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_gives_one_key_and_signed_claims_round_trip() {
        let key = RsaKey::for_seed(7).expect("key");
        assert!(Arc::ptr_eq(&key, &RsaKey::for_seed(7).expect("again")));
        assert_eq!(key.kid().len(), 43);

        let token = key.sign(&json!({"aud": "x", "exp": 5}));
        let claims = key.verify(&token).expect("verifies");
        assert_eq!(claims.get("aud"), Some(&json!("x")));
        assert_eq!(
            token,
            key.sign(&json!({"aud": "x", "exp": 5})),
            "deterministic"
        );
    }

    #[test]
    fn tampered_unsigned_and_foreign_tokens_are_rejected() {
        let key = RsaKey::for_seed(7).expect("key");
        let token = key.sign(&json!({"aud": "x"}));
        let (input, sig) = token.rsplit_once('.').expect("parts");
        let (header, _) = input.split_once('.').expect("header");

        let forged = format!(
            "{header}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(r#"{"aud":"y"}"#)
        );
        assert_eq!(key.verify(&forged), Err(JwtError::BadSignature));

        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let unsigned = format!("{none_header}.{}.x", URL_SAFE_NO_PAD.encode("{}"));
        assert!(matches!(
            key.verify(&unsigned),
            Err(JwtError::UnsupportedAlgorithm(_))
        ));

        assert_eq!(key.verify("garbage"), Err(JwtError::Malformed));
        assert_eq!(key.verify("a.b.c.d"), Err(JwtError::Malformed));

        let other = RsaKey::for_seed(8).expect("other");
        let foreign = other.sign(&json!({"aud": "x"}));
        assert!(matches!(key.verify(&foreign), Err(JwtError::UnknownKey(_))));
    }
}
