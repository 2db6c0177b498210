//! A real-enough Microsoft Entra ID (Azure AD) for the official clients, and ARM's checks of its tokens.
//!
//! MSAL (under the Python and JS SDKs and the Azure CLI) will not run without an identity provider, and the
//! SDKs will not send a bearer token over plain HTTP; this module is the provider. [`Identity`] holds the
//! tenant, its service principals ([`Principal`], each with a [`Role`]) and an RS256 signing key derived
//! from the run's seed. It serves, on armsim's own port:
//!
//! - OpenID configuration, v2 (`/{tenant}/v2.0/.well-known/openid-configuration`) and v1;
//! - the v2 and v1 token endpoints for `client_credentials` (`client_secret_post` and
//!   `client_secret_basic`), with Entra's `AADSTS…` error shapes;
//! - the signing keys (JWKS) and instance discovery (`/common/discovery/instance`), pointing back at armsim.
//!
//! On the ARM side, [`Identity::verify`] turns an `Authorization` header into a [`Caller`] under an
//! [`AuthMode`], failing with ARM's own codes and `WWW-Authenticate` challenges, and [`authorize`] applies
//! the caller's role to an action. Token times are virtual ([`Clock::now`]); the lifetimes told to clients
//! (`expires_in`) are wall seconds, so a client that refreshes on time survives a long restore and one that
//! caches a token forever fails, as it would against Azure.
//!
//! Nothing here logs, and no error or `Debug` output contains a client secret or a token.

mod access;
mod endpoint;
pub mod jwt;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::{Clock, Timestamp, VDuration};

pub use access::{authorize, may, Caller};

/// How strictly ARM routes check bearer tokens (`armsim serve --auth strict|permissive|off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Signature (armsim's key), expiry, audience, tenant and `oid`, as ARM checks them.
    Strict,
    /// Any `Bearer` token; its claims are read when it is a JWT, never checked.
    Permissive,
    /// No `Authorization` header needed: every request is an anonymous Contributor.
    Off,
}

impl FromStr for AuthMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "strict" => Ok(Self::Strict),
            "permissive" => Ok(Self::Permissive),
            "off" => Ok(Self::Off),
            _ => Err(format!(
                "'{s}' is not an auth mode: use strict, permissive or off"
            )),
        }
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Strict => "strict",
            Self::Permissive => "permissive",
            Self::Off => "off",
        })
    }
}

/// An Azure built-in role, as assigned on the subscription. Written as Azure names them (`Contributor`);
/// lower case is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Role {
    #[serde(alias = "owner")]
    Owner,
    #[serde(alias = "contributor")]
    Contributor,
    /// May read (GET) only.
    #[serde(alias = "reader")]
    Reader,
}

/// A service principal (app registration + its enterprise application) that can get tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Principal {
    /// The application (client) id: `client_id` at the token endpoint, `appid` in tokens.
    pub client_id: String,
    /// The one valid client secret.
    pub client_secret: String,
    /// The service principal's object id: `oid` in tokens, the id RBAC errors name.
    pub object_id: String,
    pub display_name: String,
    pub role: Role,
}

impl fmt::Debug for Principal {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("object_id", &self.object_id)
            .field("display_name", &self.display_name)
            .field("role", &self.role)
            .finish()
    }
}

/// The tenant and who lives in it; a world file may replace any part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// The directory (tenant) id; token `tid`, and the tenant ARM subscriptions belong to.
    pub tenant_id: String,
    /// A verified domain that names the same tenant in authority URLs (`/{domain}/oauth2/v2.0/token`).
    pub tenant_domain: String,
    pub principals: Vec<Principal>,
    /// How long an issued token is valid, in virtual time. Entra ID's default is 60–90 minutes; a scenario
    /// shortens it to make a token expire in the middle of a restore.
    pub token_lifetime: VDuration,
}

impl Default for IdentityConfig {
    /// A clearly fake tenant with a Contributor and a Reader service principal (credentials documented
    /// in the README).
    fn default() -> Self {
        Self {
            tenant_id: "11111111-1111-1111-1111-111111111111".into(),
            tenant_domain: "armsim.onmicrosoft.com".into(),
            principals: vec![
                Principal {
                    client_id: "22222222-2222-2222-2222-222222222222".into(),
                    client_secret: "armsim-contributor-secret".into(),
                    object_id: "22222222-0000-0000-0000-00000000c0de".into(),
                    display_name: "armsim-contributor".into(),
                    role: Role::Contributor,
                },
                Principal {
                    client_id: "33333333-3333-3333-3333-333333333333".into(),
                    client_secret: "armsim-reader-secret".into(),
                    object_id: "33333333-0000-0000-0000-00000000c0de".into(),
                    display_name: "armsim-reader".into(),
                    role: Role::Reader,
                },
            ],
            token_lifetime: VDuration::from_mins(60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("no service principal has client id '{0}'")]
    UnknownClient(String),
    #[error("identity configuration: {0}")]
    Config(String),
    #[error("could not generate the token signing key: {0}")]
    Key(String),
}

/// The fake Entra ID of one simulator run.
#[derive(Debug)]
pub struct Identity {
    config: IdentityConfig,
    /// The signing key is derived from this seed, on a background thread from `new` on.
    seed: u64,
    /// Numbers trace ids, correlation ids and token ids, so a run's ids are reproducible from its seed.
    counter: AtomicU64,
    /// The caller of every request under `--auth off` and of opaque tokens under `permissive`: made once,
    /// lent to each request.
    anonymous: access::Caller,
    /// Tokens whose signature checked out, so each is verified once (see [`access::VerifiedTokens`]).
    verified: access::VerifiedTokens,
}

impl Identity {
    /// Checks `config` and starts deriving the signing key from `seed` in the background (≈ 0.3 s the
    /// first time per seed, see [`jwt::RsaKey::for_seed`]): serving starts at once, and only the first
    /// use of the key waits for it.
    pub fn new(config: IdentityConfig, seed: u64) -> Result<Self, IdentityError> {
        validate(&config)?;
        jwt::RsaKey::warm(seed);
        let anonymous = access::Caller::anonymous(&config.tenant_id);
        Ok(Self {
            config,
            seed,
            counter: AtomicU64::new(0),
            anonymous,
            verified: access::VerifiedTokens::default(),
        })
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    pub fn tenant_id(&self) -> &str {
        &self.config.tenant_id
    }

    /// The `kid` of the signing key, as published in the JWKS.
    pub fn kid(&self) -> String {
        self.key().map(|k| k.kid().to_string()).unwrap_or_default()
    }

    /// The signing key (waits while it is being derived).
    fn key(&self) -> Result<Arc<jwt::RsaKey>, IdentityError> {
        jwt::RsaKey::for_seed(self.seed).map_err(IdentityError::Key)
    }

    /// The principal with this client (application) id, compared case-insensitively like a GUID.
    pub fn principal(&self, client_id: &str) -> Option<&Principal> {
        self.config
            .principals
            .iter()
            .find(|p| p.client_id.eq_ignore_ascii_case(client_id.trim()))
    }

    /// A signed access token for `client_id` and `audience`, as the token endpoint would issue it now.
    /// The harness uses it to hand clients a ready token.
    pub fn issue_token(
        &self,
        client_id: &str,
        audience: &str,
        clock: &Clock,
    ) -> Result<String, IdentityError> {
        let principal = self
            .principal(client_id)
            .ok_or_else(|| IdentityError::UnknownClient(client_id.to_string()))?;
        self.mint(principal, audience, clock.now())
    }

    /// `https://sts.windows.net/{tenant}/`: the issuer of v1 tokens, which ARM tokens are even when they
    /// come from the v2 endpoint.
    pub fn issuer(&self) -> String {
        format!("https://sts.windows.net/{}/", self.config.tenant_id)
    }

    /// As [`Identity::issue_token`], valid for `lifetime` instead of the tenant's token lifetime: the
    /// harness hands clients one token for a whole scenario.
    pub fn issue_token_for(
        &self,
        client_id: &str,
        audience: &str,
        clock: &Clock,
        lifetime: VDuration,
    ) -> Result<String, IdentityError> {
        let principal = self
            .principal(client_id)
            .ok_or_else(|| IdentityError::UnknownClient(client_id.to_string()))?;
        self.mint_for(principal, audience, clock.now(), lifetime)
    }

    /// The first principal that may back up and restore (Owner or Contributor), if the tenant has one.
    pub fn writer(&self) -> Option<&Principal> {
        self.config
            .principals
            .iter()
            .find(|p| matches!(p.role, Role::Owner | Role::Contributor))
    }

    fn mint(
        &self,
        principal: &Principal,
        audience: &str,
        now: Timestamp,
    ) -> Result<String, IdentityError> {
        self.mint_for(principal, audience, now, self.config.token_lifetime)
    }

    fn mint_for(
        &self,
        principal: &Principal,
        audience: &str,
        now: Timestamp,
        lifetime: VDuration,
    ) -> Result<String, IdentityError> {
        let iat = now.as_secs();
        let exp = now.plus(lifetime).as_secs();
        let issuer = self.issuer();
        let claims = json!({
            "aud": audience,
            "iss": issuer,
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            "appid": principal.client_id,
            "appidacr": "1",
            "idp": issuer,
            "idtyp": "app",
            "oid": principal.object_id,
            "sub": principal.object_id,
            "tid": self.config.tenant_id,
            "uti": self.next_id().replace('-', ""),
            "ver": "1.0",
        });
        Ok(self.key()?.sign(&claims))
    }

    /// The next id of this run, GUID-shaped (version 4 layout), derived from the seed and a counter.
    fn next_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let hi = splitmix64(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let lo = splitmix64(hi ^ n);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0x0fff,
            0x8000 | ((lo >> 48) & 0x3fff),
            lo & 0xffff_ffff_ffff
        )
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn validate(config: &IdentityConfig) -> Result<(), IdentityError> {
    let bad = |m: String| Err(IdentityError::Config(m));
    if !is_guid(&config.tenant_id) {
        return bad(format!("tenantId '{}' is not a GUID", config.tenant_id));
    }
    if config.token_lifetime.as_millis() <= 0 {
        return bad(format!(
            "tokenLifetime must be positive, not {}",
            config.token_lifetime
        ));
    }
    for (i, p) in config.principals.iter().enumerate() {
        if !is_guid(&p.client_id) || !is_guid(&p.object_id) {
            return bad(format!(
                "principal '{}': clientId and objectId must be GUIDs",
                p.display_name
            ));
        }
        if p.client_secret.is_empty() {
            return bad(format!(
                "principal '{}': clientSecret is empty",
                p.display_name
            ));
        }
        if config.principals[..i]
            .iter()
            .any(|q| q.client_id.eq_ignore_ascii_case(&p.client_id))
        {
            return bad(format!("clientId '{}' is listed twice", p.client_id));
        }
    }
    Ok(())
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests;
