//! ARM's side of authentication: the `Authorization` header → a [`Caller`], then role checks.
//!
//! Strict checks run in this order (ARM's own order is not documented; this one reports the most
//! actionable failure first for the rehearsals armsim runs): JWT shape and signature → expiry → audience →
//! issuer/tenant → `oid`. There is no clock-skew leeway: a token is expired from its `exp` second on, so a
//! scenario can place the expiry exactly. `nbf` is not checked (PROTOCOL.md §5: unknown whether ARM does).

use std::borrow::Cow;
use std::sync::Mutex;

use foldhash::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{jwt, AuthMode, Identity, Role};
use crate::arm::error::{ArmError, ARM_AUDIENCES};
use crate::clock::Timestamp;

/// Who is calling ARM, as read from the token (or made up when auth is off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `oid`: what RBAC errors name.
    pub object_id: String,
    /// `appid`: the client id.
    pub app_id: String,
    pub tenant_id: String,
    pub role: Role,
}

/// The object and app id of a caller armsim knows nothing about.
const ANONYMOUS: &str = "00000000-0000-0000-0000-000000000000";

impl Caller {
    /// A caller without a usable identity: a Contributor, so that `--auth off` and opaque tokens under
    /// `--auth permissive` can do everything a DR client needs.
    pub fn anonymous(tenant_id: &str) -> Self {
        Self {
            object_id: ANONYMOUS.into(),
            app_id: ANONYMOUS.into(),
            tenant_id: tenant_id.into(),
            role: Role::Contributor,
        }
    }
}

/// The claims ARM reads. Typed, so that a claim of the wrong JSON type (`"exp": "never"`) makes the
/// token invalid instead of being skipped.
#[derive(Clone, Deserialize)]
struct ArmClaims {
    aud: Option<String>,
    iss: Option<String>,
    exp: Option<i64>,
    tid: Option<String>,
    oid: Option<String>,
    appid: Option<String>,
}

impl ArmClaims {
    fn from_map(map: Map<String, Value>) -> Option<Self> {
        serde_json::from_value(Value::Object(map)).ok()
    }
}

/// Tokens whose RS256 signature this identity's key has verified, with their claims. Checking a
/// signature is a pure function of the token's text, and the costliest thing a request does by far
/// (≈ 0.25 ms, against ≈ 3 µs for the rest of a poll): a client sends the same token on every request
/// until it renews it, so each distinct token is verified once. Everything that depends on the request
/// or the clock — expiry, audience, tenant, `oid` — is still checked every time, from the cached claims.
/// Only tokens that verified are kept; the cache is emptied when it holds [`VerifiedTokens::MAX`].
#[derive(Default)]
pub(super) struct VerifiedTokens(Mutex<HashMap<String, ArmClaims>>);

/// The count only: tokens are secrets, and `Identity` is printed in debug logs.
impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifiedTokens({} tokens)", self.lock().len())
    }
}

impl VerifiedTokens {
    const MAX: usize = 4096;

    fn get(&self, token: &str) -> Option<ArmClaims> {
        self.lock().get(token).cloned()
    }

    fn insert(&self, token: &str, claims: &ArmClaims) {
        let mut map = self.lock();
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(token.to_string(), claims.clone());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ArmClaims>> {
        // Nothing panics while holding it; if something did, the map is still a valid cache.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Identity {
    /// Checks the `Authorization` header of an ARM request under `mode`. `base_url` is armsim's own URL,
    /// an accepted audience besides ARM's four (the JS SDK asks for `{endpoint}/.default`); `now` is
    /// virtual time.
    pub fn verify(
        &self,
        authorization: Option<&str>,
        mode: AuthMode,
        base_url: &str,
        now: Timestamp,
    ) -> Result<Caller, ArmError> {
        self.verify_lent(authorization, mode, base_url, now)
            .map(Cow::into_owned)
    }

    /// [`Identity::verify`], lending the anonymous caller instead of making one: what every request does.
    pub fn verify_lent(
        &self,
        authorization: Option<&str>,
        mode: AuthMode,
        base_url: &str,
        now: Timestamp,
    ) -> Result<Cow<'_, Caller>, ArmError> {
        let tenant = self.tenant_id();
        if mode == AuthMode::Off {
            return Ok(Cow::Borrowed(&self.anonymous));
        }
        // Trimmed of HTTP's whitespace (OWS: spaces and tabs; `trim_ascii` also takes CR, LF and FF),
        // byte by byte, and split at the first space with `memchr`: `str::trim` and `split_once`
        // decode characters and set up a search (with the JWT split's `memrchr`, 240 of the
        // instructions a poll spends inside `handle`, callgrind).
        let header = authorization
            .map(str::trim_ascii)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ArmError::missing_authorization(tenant))?;
        let token = match memchr::memchr(b' ', header.as_bytes()).map(|at| header.split_at(at)) {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim_ascii(),
            _ => "",
        };
        if token.is_empty() {
            return Err(ArmError::invalid_authorization_scheme(tenant));
        }
        match mode {
            AuthMode::Off => Ok(Cow::Borrowed(&self.anonymous)),
            AuthMode::Permissive => Ok(self.caller_unchecked(token)),
            AuthMode::Strict => self.caller_checked(token, base_url, now).map(Cow::Owned),
        }
    }

    /// Whatever the token says, without checking it; an opaque token is an anonymous Contributor.
    fn caller_unchecked(&self, token: &str) -> Cow<'_, Caller> {
        let tenant = self.tenant_id();
        let Some(claims) = jwt::claims_unverified(token)
            .ok()
            .and_then(ArmClaims::from_map)
        else {
            return Cow::Borrowed(&self.anonymous);
        };
        let mut caller = Caller::anonymous(claims.tid.as_deref().unwrap_or(tenant));
        if let Some(app_id) = claims.appid {
            caller.app_id = app_id;
        }
        if let Some(oid) = claims.oid {
            caller.object_id = oid;
        }
        caller.role = self.role_of(&caller.app_id, &caller.object_id);
        Cow::Owned(caller)
    }

    fn caller_checked(
        &self,
        token: &str,
        base_url: &str,
        now: Timestamp,
    ) -> Result<Caller, ArmError> {
        let tenant = self.tenant_id();
        let invalid = || ArmError::invalid_authentication_token(tenant);
        let claims = match self.verified.get(token) {
            Some(claims) => claims,
            None => {
                let key = self.key().map_err(|_| invalid())?;
                let claims = key.verify(token).map_err(|_| invalid())?;
                let claims = ArmClaims::from_map(claims).ok_or_else(invalid)?;
                self.verified.insert(token, &claims);
                claims
            }
        };

        let exp = claims.exp.ok_or_else(invalid)?;
        if now.as_secs() >= exp {
            let expiry = Timestamp::from_millis(exp.saturating_mul(1000));
            return Err(ArmError::expired_authentication_token(tenant, expiry, now));
        }

        let aud = claims.aud.unwrap_or_default();
        if !audience_allowed(&aud, base_url) {
            return Err(ArmError::invalid_authentication_token_audience(
                tenant, &aud,
            ));
        }

        let issuer = claims.iss.ok_or_else(invalid)?;
        let tid_ok = claims
            .tid
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case(tenant));
        if !issuer.eq_ignore_ascii_case(&self.issuer()) || !tid_ok {
            return Err(ArmError::invalid_authentication_token_tenant(
                tenant, &issuer,
            ));
        }

        let object_id = claims
            .oid
            .filter(|o| !o.is_empty())
            .ok_or_else(|| ArmError::missing_object_id_claim(tenant))?;
        let app_id = claims.appid.unwrap_or_default();
        let role = self.role_of(&app_id, &object_id);
        Ok(Caller {
            object_id,
            app_id,
            tenant_id: tenant.to_string(),
            role,
        })
    }

    /// The role of a known principal (by app id, else object id); an unknown one is a Contributor, the
    /// role a DR automation account is normally given.
    fn role_of(&self, app_id: &str, object_id: &str) -> Role {
        self.config
            .principals
            .iter()
            .find(|p| {
                p.client_id.eq_ignore_ascii_case(app_id)
                    || p.object_id.eq_ignore_ascii_case(object_id)
            })
            .map_or(Role::Contributor, |p| p.role)
    }
}

/// ARM's four audiences, or armsim's own URL with or without its trailing slash.
pub(super) fn audience_allowed(aud: &str, base_url: &str) -> bool {
    let base = base_url.trim_end_matches('/');
    ARM_AUDIENCES.contains(&aud)
        || (!base.is_empty()
            && aud
                .strip_suffix('/')
                .unwrap_or(aud)
                .eq_ignore_ascii_case(base))
}

/// Whether `caller`'s role allows a request, read or not: what [`authorize`] decides, without the
/// texts its error needs.
pub fn may(caller: &Caller, is_read: bool) -> bool {
    match caller.role {
        Role::Owner | Role::Contributor => true,
        Role::Reader => is_read,
    }
}

/// Whether `caller` may perform `action` on `scope`. A Reader may only read; Owner and Contributor may do
/// everything armsim simulates. `is_read` is the route's verdict (GET).
pub fn authorize(
    caller: &Caller,
    action: &str,
    scope: &str,
    is_read: bool,
) -> Result<(), ArmError> {
    if may(caller, is_read) {
        Ok(())
    } else {
        Err(ArmError::authorization_failed(
            &caller.object_id,
            action,
            scope,
        ))
    }
}
