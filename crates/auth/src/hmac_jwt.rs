//! The only signatures our access tokens use, HMAC-SHA-256/384/512, given
//! to jsonwebtoken as its crypto provider. Built without its `rust_crypto`
//! feature, jsonwebtoken brings no RSA, elliptic-curve or Ed25519 code (and
//! with no provider it would panic on first use); this provider answers
//! every other algorithm with an error, so a token claiming one is refused.

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::{Sha256, Sha384, Sha512};

/// One HMAC key for one of the three algorithms.
#[derive(Clone)]
enum Key {
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

impl Key {
    fn new(algorithm: Algorithm, secret: &[u8]) -> Result<Self> {
        let bad = |_| ErrorKind::InvalidKeyFormat;
        Ok(match algorithm {
            Algorithm::HS256 => Self::Sha256(Hmac::new_from_slice(secret).map_err(bad)?),
            Algorithm::HS384 => Self::Sha384(Hmac::new_from_slice(secret).map_err(bad)?),
            Algorithm::HS512 => Self::Sha512(Hmac::new_from_slice(secret).map_err(bad)?),
            _ => return Err(ErrorKind::InvalidAlgorithm.into()),
        })
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            Self::Sha256(_) => Algorithm::HS256,
            Self::Sha384(_) => Algorithm::HS384,
            Self::Sha512(_) => Algorithm::HS512,
        }
    }

    fn tag(&self, message: &[u8]) -> Vec<u8> {
        match self.clone() {
            Self::Sha256(mut m) => {
                m.update(message);
                m.finalize().into_bytes().to_vec()
            }
            Self::Sha384(mut m) => {
                m.update(message);
                m.finalize().into_bytes().to_vec()
            }
            Self::Sha512(mut m) => {
                m.update(message);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// Compares in constant time (the MAC's own `verify_slice`).
    fn check(&self, message: &[u8], tag: &[u8]) -> bool {
        match self.clone() {
            Self::Sha256(mut m) => {
                m.update(message);
                m.verify_slice(tag).is_ok()
            }
            Self::Sha384(mut m) => {
                m.update(message);
                m.verify_slice(tag).is_ok()
            }
            Self::Sha512(mut m) => {
                m.update(message);
                m.verify_slice(tag).is_ok()
            }
        }
    }
}

impl Signer<Vec<u8>> for Key {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.tag(message))
    }
}

impl Verifier<Vec<u8>> for Key {
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        if self.check(message, tag) {
            Ok(())
        } else {
            Err(signature::Error::new())
        }
    }
}

impl JwtSigner for Key {
    fn algorithm(&self) -> Algorithm {
        Key::algorithm(self)
    }
}

impl JwtVerifier for Key {
    fn algorithm(&self) -> Algorithm {
        Key::algorithm(self)
    }
}

static HMAC_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: |algorithm, key: &EncodingKey| {
        Ok(Box::new(Key::new(*algorithm, key.try_get_hmac_secret()?)?) as Box<dyn JwtSigner>)
    },
    verifier_factory: |algorithm, key: &DecodingKey| {
        Ok(Box::new(Key::new(*algorithm, key.try_get_hmac_secret()?)?) as Box<dyn JwtVerifier>)
    },
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes HMAC the process's JWT crypto. A provider installed before us (by
/// an embedding program) is kept: it signs HMAC too.
pub(crate) fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = HMAC_ONLY.install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_algorithms_are_refused_not_panicked_on() {
        for algorithm in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            assert!(Key::new(algorithm, b"secret").is_err(), "{algorithm:?}");
        }
        let key = Key::new(Algorithm::HS256, b"secret").unwrap();
        let tag = key.tag(b"message");
        assert!(key.check(b"message", &tag));
        assert!(!key.check(b"massage", &tag));
        assert_eq!(tag.len(), 32);
        assert_eq!(
            Key::new(Algorithm::HS512, b"s").unwrap().tag(b"m").len(),
            64
        );
    }
}
