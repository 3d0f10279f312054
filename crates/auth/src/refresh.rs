//! Opaque refresh tokens: 256 random bits shown to the client once and stored
//! only as SHA-256, so a leaked database does not leak usable tokens.
//!
//! A rotation's successor is not random but derived from the presented token
//! with a server key ([`RefreshSuccessorKey`]): every parallel or retried
//! refresh of one token computes the same successor, so the server can hand
//! it out again within the reuse grace although it stores only its digest.

use crate::digest::{hmac_sha256, sha256_hex};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use curatore_domain::Secret;
use rand::RngCore;

/// Prefix that makes a leaked refresh token recognisable to secret scanners
/// and distinguishes it from a JWT at a glance.
pub const REFRESH_TOKEN_PREFIX: &str = "crt_";

/// A freshly minted refresh token: the value for the client and the digest
/// for the database.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// The token itself; returned to the client once and never stored.
    pub token: Secret,
    /// SHA-256 hex of the token (64 characters); the only stored form.
    pub hash: String,
}

/// Mints a refresh token: `crt_` followed by 32 CSPRNG bytes in unpadded
/// base64url (43 characters), with its SHA-256 digest.
pub fn generate_refresh_token() -> NewRefreshToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{REFRESH_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_refresh_token(&token);
    NewRefreshToken {
        token: Secret::new(token),
        hash,
    }
}

/// Prefix of one-time password reset tokens.
pub const RESET_TOKEN_PREFIX: &str = "cpr_";

/// Mints a one-time password reset token: `cpr_` followed by 32 CSPRNG bytes
/// in unpadded base64url, with its SHA-256 digest (the only stored form).
pub fn generate_reset_token() -> NewRefreshToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{RESET_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = sha256_hex(token.as_bytes());
    NewRefreshToken {
        token: Secret::new(token),
        hash,
    }
}

/// The key successors are derived with: HMAC-SHA256 of a fixed label under the
/// JWT secret, so it changes when the secret does and is never the secret
/// itself. Safe to print (its `Debug` omits the key).
#[derive(Clone)]
pub struct RefreshSuccessorKey([u8; 32]);

impl RefreshSuccessorKey {
    /// Derives the key from the server secret (`JWT_SECRET_KEY`).
    pub fn from_secret(secret: &Secret) -> Self {
        Self(hmac_sha256(
            secret.expose().as_bytes(),
            b"curatore/refresh-successor-key/v1",
        ))
    }

    /// The successor of `presented`: `crt_` followed by
    /// base64url(HMAC-SHA256(key, "refresh-successor" || presented)), with its
    /// SHA-256 digest. The same presented token always gives the same
    /// successor; without the key it cannot be predicted.
    pub fn successor(&self, presented: &str) -> NewRefreshToken {
        let mut message = Vec::with_capacity(17 + presented.len());
        message.extend_from_slice(b"refresh-successor");
        message.extend_from_slice(presented.as_bytes());
        let token = format!(
            "{REFRESH_TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(hmac_sha256(&self.0, &message))
        );
        let hash = hash_refresh_token(&token);
        NewRefreshToken {
            token: Secret::new(token),
            hash,
        }
    }
}

impl std::fmt::Debug for RefreshSuccessorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshSuccessorKey(..)")
    }
}

/// SHA-256 hex of a presented refresh token, for the indexed lookup; a slow
/// hash buys nothing for 256 random bits.
pub fn hash_refresh_token(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hashed() {
        let a = generate_refresh_token();
        let b = generate_refresh_token();
        let raw = a.token.expose();
        assert!(raw.starts_with(REFRESH_TOKEN_PREFIX));
        let body = &raw[REFRESH_TOKEN_PREFIX.len()..];
        assert_eq!(body.len(), 43);
        assert!(
            body.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert_ne!(a.token, b.token);
        assert_ne!(a.hash, b.hash);
        assert_eq!(a.hash.len(), 64);
        assert!(
            a.hash
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(a.hash, hash_refresh_token(raw));
        assert!(!format!("{a:?}").contains(raw));
    }

    #[test]
    fn successors_are_deterministic_keyed_and_well_formed() {
        let key = RefreshSuccessorKey::from_secret(&Secret::new("a-long-random-secret-0123456789"));
        let other =
            RefreshSuccessorKey::from_secret(&Secret::new("another-secret-0123456789abcdef"));
        let presented = generate_refresh_token();
        let a = key.successor(presented.token.expose());
        let b = key.successor(presented.token.expose());
        assert_eq!(a.token, b.token, "same token, same successor");
        assert_eq!(a.hash, hash_refresh_token(a.token.expose()));
        assert_ne!(a.token, presented.token);
        assert_ne!(
            a.token,
            other.successor(presented.token.expose()).token,
            "another key, another successor"
        );
        assert_ne!(
            a.token,
            key.successor(generate_refresh_token().token.expose()).token
        );
        let raw = a.token.expose();
        assert!(raw.starts_with(REFRESH_TOKEN_PREFIX));
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(&raw[REFRESH_TOKEN_PREFIX.len()..])
                .unwrap()
                .len(),
            32
        );
        assert!(!format!("{key:?}").contains("secret"));
    }
}
