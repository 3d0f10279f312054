//! Opaque refresh tokens: 256 random bits shown to the client once and stored
//! only as SHA-256, so a leaked database does not leak usable tokens.

use crate::digest::sha256_hex;
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
}
