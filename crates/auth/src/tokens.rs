//! Short-lived JWT access tokens (HMAC), validated strictly.
//!
//! jsonwebtoken's defaults are weaker than they look (only `exp` required,
//! `iss`/`aud`/`sub` checked only when present, `nbf` ignored, 60 s leeway),
//! so the validation here pins the algorithm, requires `exp`, `nbf`, `iss`,
//! `aud` and `sub`, checks issuer and audience, keeps the leeway at 5 s and
//! accepts only tokens whose `typ` claim is `access`.

use crate::error::AuthError;
use crate::refresh::{NewRefreshToken, RefreshSuccessorKey};
use curatore_domain::{OrganizationId, Role, Secret, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 5;
/// The `typ` claim of an access token; anything else is refused as a bearer.
const ACCESS_TYP: &str = "access";

/// The HMAC algorithm access tokens are signed with; exactly one is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// HMAC-SHA-256.
    HS256,
    /// HMAC-SHA-384.
    HS384,
    /// HMAC-SHA-512.
    HS512,
}

impl SigningAlgorithm {
    fn to_jwt(self) -> Algorithm {
        match self {
            Self::HS256 => Algorithm::HS256,
            Self::HS384 => Algorithm::HS384,
            Self::HS512 => Algorithm::HS512,
        }
    }
}

/// What the signer needs from configuration. The secret should be at least
/// 32 random bytes; configuration loading enforces that.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// The HMAC key.
    pub secret: Secret,
    /// The one algorithm tokens are signed and accepted with.
    pub algorithm: SigningAlgorithm,
    /// The `iss` claim written and required.
    pub issuer: String,
    /// The `aud` claim written and required.
    pub audience: String,
    /// How long an access token stays valid.
    pub access_ttl: Duration,
}

/// Issues and verifies access tokens with one key and one algorithm; cheap to
/// clone and safe to print (its `Debug` omits the key).
#[derive(Clone)]
pub struct TokenSigner {
    algorithm: SigningAlgorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    successor_key: RefreshSuccessorKey,
    /// Tokens whose signature and claims were checked, shared by clones.
    verified: Arc<VerifiedTokens>,
}

/// Access tokens already verified, by their exact text: a client presents
/// the same token on every request until it expires, and checking it again
/// (HMAC, base64, JSON twice) was a third of what `/auth/me` cost. Only a
/// token that passed every check is kept, so a hit is exactly as good as a
/// verification, bar the clock: expiry is checked again on each hit.
/// Revocation is not a property of the token (the session store decides it
/// on every request), so it is unaffected.
#[derive(Default)]
struct VerifiedTokens(RwLock<HashMap<String, AccessClaims>>);

/// Beyond this many remembered tokens, expired ones are dropped, and if that
/// is not enough, all of them (they are verified again on their next use).
const MAX_VERIFIED: usize = 2_048;

impl VerifiedTokens {
    fn get(&self, token: &str) -> Option<AccessClaims> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(token).cloned()
    }

    fn insert(&self, token: &str, claims: &AccessClaims, now: i64) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_VERIFIED {
            map.retain(|_, c| !expired(c, now));
            if map.len() >= MAX_VERIFIED {
                map.clear();
            }
        }
        map.insert(token.to_owned(), claims.clone());
    }

    fn remove(&self, token: &str) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        map.remove(token);
    }
}

/// jsonwebtoken's rule: expired once `exp` is more than the leeway past.
fn expired(claims: &AccessClaims, now: i64) -> bool {
    claims.expires_at < now.saturating_sub(LEEWAY_SECONDS as i64)
}

/// The verified contents of an access token.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessClaims {
    /// Who the token was issued to (`sub`).
    pub user_id: UserId,
    /// The tenant the token is bound to (`org`); the only source of tenancy.
    pub organization_id: OrganizationId,
    /// The role at issue time (`role`).
    pub role: Role,
    /// The login session (`sid`), checked against the session store for revocation.
    pub session_id: Uuid,
    /// Unique id of this token (`jti`).
    pub token_id: Uuid,
    /// Issue time, seconds since the Unix epoch (`iat`).
    pub issued_at: i64,
    /// Expiry time, seconds since the Unix epoch (`exp`).
    pub expires_at: i64,
}

/// A freshly signed access token with what the login response reports.
#[derive(Debug, Clone)]
pub struct IssuedAccessToken {
    /// The compact JWT.
    pub token: String,
    /// Lifetime in seconds, for the `expires_in` field of the response.
    pub expires_in: u64,
    /// The claims inside the token.
    pub claims: AccessClaims,
}

/// Why an access token was refused; only expiry is told apart, so clients
/// know to refresh.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Genuine, but past its `exp`.
    #[error("the access token has expired")]
    Expired,
    /// Anything else: bad signature, wrong or `none` algorithm, missing
    /// claim, wrong `iss`/`aud`/`typ`, `nbf` in the future, malformed.
    #[error("the access token is invalid")]
    Invalid,
}

/// Claims as written on the wire.
#[derive(Serialize)]
struct WireClaims<'a> {
    sub: String,
    org: String,
    role: &'static str,
    typ: &'static str,
    sid: String,
    jti: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    iss: &'a str,
    aud: &'a str,
}

/// Claims as read back; `iss`, `aud` and `nbf` are checked by jsonwebtoken.
#[derive(Deserialize)]
struct ReadClaims {
    sub: String,
    org: String,
    role: String,
    typ: String,
    sid: String,
    jti: String,
    iat: i64,
    exp: i64,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_ttl", &self.access_ttl)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// Builds the keys and the strict validation rules from the settings.
    pub fn new(settings: TokenSettings) -> Self {
        crate::hmac_jwt::install();
        let key = settings.secret.expose().as_bytes();
        let alg = settings.algorithm.to_jwt();
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = LEEWAY_SECONDS;
        Self {
            algorithm: settings.algorithm,
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            issuer: settings.issuer,
            audience: settings.audience,
            access_ttl: settings.access_ttl,
            successor_key: RefreshSuccessorKey::from_secret(&settings.secret),
            verified: Arc::default(),
        }
    }

    /// The refresh token that rotating `presented` issues, derived with a key
    /// from the same secret (see [`RefreshSuccessorKey`]).
    pub fn refresh_successor(&self, presented: &str) -> NewRefreshToken {
        self.successor_key.successor(presented)
    }

    /// Signs an access token for a user in an organization and session, valid
    /// from now for the configured lifetime.
    pub fn issue_access(
        &self,
        user_id: UserId,
        organization_id: OrganizationId,
        role: Role,
        session_id: Uuid,
    ) -> Result<IssuedAccessToken, AuthError> {
        let now = now_seconds()?;
        let expires_in = self.access_ttl.as_secs();
        let ttl = i64::try_from(expires_in)
            .map_err(|_| AuthError::Internal("access token lifetime is too long".into()))?;
        let claims = AccessClaims {
            user_id,
            organization_id,
            role,
            session_id,
            token_id: Uuid::new_v4(),
            issued_at: now,
            expires_at: now.saturating_add(ttl),
        };
        let wire = WireClaims {
            sub: claims.user_id.to_string(),
            org: claims.organization_id.to_string(),
            role: claims.role.as_str(),
            typ: ACCESS_TYP,
            sid: claims.session_id.to_string(),
            jti: claims.token_id.to_string(),
            iat: claims.issued_at,
            nbf: claims.issued_at,
            exp: claims.expires_at,
            iss: &self.issuer,
            aud: &self.audience,
        };
        let token =
            jsonwebtoken::encode(&Header::new(self.algorithm.to_jwt()), &wire, &self.encoding)
                .map_err(|e| {
                    AuthError::Internal(format!("signing the access token failed: {e}"))
                })?;
        Ok(IssuedAccessToken {
            token,
            expires_in,
            claims,
        })
    }

    /// Verifies signature, algorithm, time window, issuer, audience and `typ`,
    /// and returns the claims; only an expired token is told apart.
    /// A token verified before is recognised by its exact text (only its
    /// expiry is checked again).
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let now = now_seconds().map_err(|_| TokenError::Invalid)?;
        if let Some(claims) = self.verified.get(token) {
            if expired(&claims, now) {
                self.verified.remove(token);
                return Err(TokenError::Expired);
            }
            return Ok(claims);
        }
        let claims = self.decode_access(token)?;
        self.verified.insert(token, &claims, now);
        Ok(claims)
    }

    fn decode_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let data = jsonwebtoken::decode::<ReadClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let claims = data.claims;
        if claims.typ != ACCESS_TYP {
            return Err(TokenError::Invalid);
        }
        Ok(AccessClaims {
            user_id: claims.sub.parse().map_err(|_| TokenError::Invalid)?,
            organization_id: claims.org.parse().map_err(|_| TokenError::Invalid)?,
            role: claims.role.parse().map_err(|_| TokenError::Invalid)?,
            session_id: claims.sid.parse().map_err(|_| TokenError::Invalid)?,
            token_id: claims.jti.parse().map_err(|_| TokenError::Invalid)?,
            issued_at: claims.iat,
            expires_at: claims.exp,
        })
    }
}

fn now_seconds() -> Result<i64, AuthError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or_else(|| AuthError::Internal("the system clock is before 1970".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

    fn settings() -> TokenSettings {
        TokenSettings {
            secret: Secret::new(SECRET),
            algorithm: SigningAlgorithm::HS256,
            issuer: "curatore".into(),
            audience: "curatore-api".into(),
            access_ttl: Duration::from_secs(900),
        }
    }

    fn signer() -> TokenSigner {
        TokenSigner::new(settings())
    }

    fn now() -> i64 {
        now_seconds().unwrap()
    }

    /// Valid claims as a JSON object, to tamper with.
    fn claims_json() -> Value {
        let now = now();
        json!({
            "sub": UserId::new().to_string(),
            "org": OrganizationId::new().to_string(),
            "role": "member",
            "typ": "access",
            "sid": Uuid::new_v4().to_string(),
            "jti": Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + 900,
            "iss": "curatore",
            "aud": "curatore-api",
        })
    }

    fn sign(claims: &Value, alg: Algorithm, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn sign_default(claims: &Value) -> String {
        sign(claims, Algorithm::HS256, SECRET)
    }

    #[test]
    fn issued_tokens_round_trip() {
        let signer = signer();
        let user = UserId::new();
        let org = OrganizationId::new();
        let sid = Uuid::new_v4();
        let issued = signer.issue_access(user, org, Role::OrgAdmin, sid).unwrap();
        assert_eq!(issued.expires_in, 900);
        assert_eq!(issued.claims.expires_at - issued.claims.issued_at, 900);
        let claims = signer.verify_access(&issued.token).unwrap();
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.user_id, user);
        assert_eq!(claims.organization_id, org);
        assert_eq!(claims.role, Role::OrgAdmin);
        assert_eq!(claims.session_id, sid);
        assert_eq!(claims.token_id.get_version_num(), 4);

        let other = signer.issue_access(user, org, Role::OrgAdmin, sid).unwrap();
        assert_ne!(other.claims.token_id, issued.claims.token_id);
    }

    #[test]
    fn wire_format_has_the_documented_claims() {
        let issued = signer()
            .issue_access(
                UserId::new(),
                OrganizationId::new(),
                Role::Viewer,
                Uuid::new_v4(),
            )
            .unwrap();
        let mut parts = issued.token.split('.');
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap())
                .unwrap();
        let payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap())
                .unwrap();
        assert_eq!(header["alg"], "HS256");
        let c = &issued.claims;
        assert_eq!(payload["sub"], c.user_id.to_string());
        assert_eq!(payload["org"], c.organization_id.to_string());
        assert_eq!(payload["role"], "viewer");
        assert_eq!(payload["typ"], "access");
        assert_eq!(payload["sid"], c.session_id.to_string());
        assert_eq!(payload["jti"], c.token_id.to_string());
        assert_eq!(payload["iat"], c.issued_at);
        assert_eq!(payload["nbf"], c.issued_at);
        assert_eq!(payload["exp"], c.expires_at);
        assert_eq!(payload["iss"], "curatore");
        assert_eq!(payload["aud"], "curatore-api");
        assert_eq!(payload.as_object().unwrap().len(), 11);
    }

    #[test]
    fn hand_signed_valid_claims_are_accepted() {
        assert!(
            signer()
                .verify_access(&sign_default(&claims_json()))
                .is_ok()
        );
    }

    #[test]
    fn expired_tokens_are_expired() {
        let mut claims = claims_json();
        claims["iat"] = json!(now() - 1000);
        claims["nbf"] = json!(now() - 1000);
        claims["exp"] = json!(now() - 60);
        assert_eq!(
            signer().verify_access(&sign_default(&claims)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_verified_token_is_remembered_and_its_expiry_checked_on_every_use() {
        let signer = signer();
        let token = sign_default(&claims_json());
        let claims = signer.verify_access(&token).unwrap();
        assert_eq!(signer.verified.get(&token), Some(claims.clone()));
        // Clones share what was verified.
        assert_eq!(signer.clone().verify_access(&token), Ok(claims.clone()));
        // Another text is verified on its own, whatever was remembered.
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(signer.verify_access(&forged), Err(TokenError::Invalid));
        assert_eq!(signer.verified.get(&forged), None);
        // Once past its expiry, a remembered token is expired, and forgotten.
        let past = AccessClaims {
            expires_at: now() - 60,
            ..claims
        };
        signer.verified.insert(&token, &past, now());
        assert_eq!(signer.verify_access(&token), Err(TokenError::Expired));
        assert_eq!(signer.verified.get(&token), None);
    }

    #[test]
    fn wrong_secret_is_invalid() {
        let token = sign(
            &claims_json(),
            Algorithm::HS256,
            "another-secret-another-secret-another-secret",
        );
        assert_eq!(signer().verify_access(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn other_algorithms_are_invalid() {
        let signer = signer();
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = sign(&claims_json(), alg, SECRET);
            assert_eq!(signer.verify_access(&token), Err(TokenError::Invalid));
        }
        // And the other way round: an HS512 signer refuses HS256.
        let hs512 = TokenSigner::new(TokenSettings {
            algorithm: SigningAlgorithm::HS512,
            ..settings()
        });
        assert_eq!(
            hs512.verify_access(&sign_default(&claims_json())),
            Err(TokenError::Invalid)
        );
        let own = hs512
            .issue_access(
                UserId::new(),
                OrganizationId::new(),
                Role::Member,
                Uuid::new_v4(),
            )
            .unwrap();
        assert!(hs512.verify_access(&own.token).is_ok());
        assert_eq!(signer.verify_access(&own.token), Err(TokenError::Invalid));
    }

    #[test]
    fn alg_none_is_invalid() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims_json().to_string());
        let signer = signer();
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert_eq!(signer.verify_access(&token), Err(TokenError::Invalid));
        }
        // "None" spelled differently, with an HS256 signature attached.
        let valid = sign_default(&claims_json());
        let signature = valid.rsplit('.').next().unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"NONE","typ":"JWT"}"#);
        assert_eq!(
            signer.verify_access(&format!("{header}.{payload}.{signature}")),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn non_access_typ_is_invalid() {
        let signer = signer();
        for typ in [json!("refresh"), json!("ACCESS"), json!(null), json!(1)] {
            let mut claims = claims_json();
            claims["typ"] = typ;
            assert_eq!(
                signer.verify_access(&sign_default(&claims)),
                Err(TokenError::Invalid)
            );
        }
        let mut claims = claims_json();
        claims.as_object_mut().unwrap().remove("typ");
        assert_eq!(
            signer.verify_access(&sign_default(&claims)),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn wrong_issuer_or_audience_is_invalid() {
        let signer = signer();
        for (field, value) in [
            ("iss", json!("someone-else")),
            ("aud", json!("another-api")),
            ("aud", json!(["another-api"])),
        ] {
            let mut claims = claims_json();
            claims[field] = value;
            assert_eq!(
                signer.verify_access(&sign_default(&claims)),
                Err(TokenError::Invalid),
                "{field}"
            );
        }
    }

    #[test]
    fn future_nbf_is_invalid() {
        let mut claims = claims_json();
        claims["nbf"] = json!(now() + 120);
        assert_eq!(
            signer().verify_access(&sign_default(&claims)),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn missing_claims_are_invalid() {
        let signer = signer();
        for field in [
            "sub", "org", "role", "typ", "sid", "jti", "iat", "nbf", "exp", "iss", "aud",
        ] {
            let mut claims = claims_json();
            claims.as_object_mut().unwrap().remove(field);
            assert_eq!(
                signer.verify_access(&sign_default(&claims)),
                Err(TokenError::Invalid),
                "{field}"
            );
        }
    }

    #[test]
    fn unparseable_claims_are_invalid() {
        let signer = signer();
        for (field, value) in [
            ("sub", json!("not-a-uuid")),
            ("org", json!("not-a-uuid")),
            ("sid", json!("")),
            ("jti", json!(42)),
            ("role", json!("admin")),
            ("exp", json!("9999999999")),
            ("nbf", json!("0")),
        ] {
            let mut claims = claims_json();
            claims[field] = value;
            assert_eq!(
                signer.verify_access(&sign_default(&claims)),
                Err(TokenError::Invalid),
                "{field}"
            );
        }
    }

    #[test]
    fn garbage_is_invalid() {
        let signer = signer();
        for token in [
            "",
            "garbage",
            "a.b.c",
            "...",
            "eyJhbGciOiJIUzI1NiJ9.e30.",
            "cur_0123456789abcdefghijklmnopqrstuvwxyz",
        ] {
            assert_eq!(
                signer.verify_access(token),
                Err(TokenError::Invalid),
                "{token}"
            );
        }
        // A valid token with one character of the signature changed.
        let mut token = sign_default(&claims_json()).into_bytes();
        let last = token.len() - 2;
        token[last] = if token[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            signer.verify_access(&String::from_utf8(token).unwrap()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let signer = signer();
        let debug = format!("{signer:?}");
        assert!(!debug.contains(SECRET));
        assert!(!debug.contains("0123456789abcdef"));
        assert!(debug.contains("HS256"));
        assert!(!format!("{:?}", settings()).contains(SECRET));
    }
}
