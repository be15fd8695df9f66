//! Text forms of manufacturer keys, as key files hold them.
//!
//! - secret key file: `actr-ed25519-secret:<64 hex of the 32-byte seed>` and a newline;
//! - public key file: `actr-ed25519-public:<64 hex of the 32-byte key> <key id>` and a newline.
//!
//! Only the first whitespace-separated token counts; the key id after the
//! public key is a comment for people. Parsing also accepts bare 64 hex.

use ed25519_dalek::{SigningKey, VerifyingKey};

use super::error::PackageError;
use super::{hex, key_id, verifying_key};

pub const SECRET_PREFIX: &str = "actr-ed25519-secret:";
pub const PUBLIC_PREFIX: &str = "actr-ed25519-public:";
/// Longest key file accepted (a key plus a comment).
pub const MAX_KEY_FILE: usize = 4096;

/// The secret key file's text.
pub fn encode_secret_key(key: &SigningKey) -> String {
    format!("{SECRET_PREFIX}{}\n", hex::encode(key.as_bytes()))
}

/// The public key file's text, with the key id as a comment.
pub fn encode_public_key(key: &VerifyingKey) -> String {
    format!("{PUBLIC_PREFIX}{} {}\n", hex::encode(key.as_bytes()), key_id(key))
}

fn token<'a>(text: &'a str, prefix: &str) -> Result<[u8; 32], PackageError> {
    if text.len() > MAX_KEY_FILE {
        return Err(PackageError::InvalidKey("key file too large"));
    }
    let first = text.split_whitespace().next().unwrap_or_default();
    let hex_part: &'a str = first.strip_prefix(prefix).unwrap_or(first);
    hex::decode32(hex_part).ok_or(PackageError::InvalidKey("expected 64 lowercase hex characters"))
}

pub fn parse_secret_key(text: &str) -> Result<SigningKey, PackageError> {
    if text.trim_start().starts_with(PUBLIC_PREFIX) {
        return Err(PackageError::InvalidKey("this is a public key file"));
    }
    Ok(SigningKey::from_bytes(&token(text, SECRET_PREFIX)?))
}

pub fn parse_public_key(text: &str) -> Result<VerifyingKey, PackageError> {
    if text.trim_start().starts_with(SECRET_PREFIX) {
        return Err(PackageError::InvalidKey("this is a secret key file, give the .pub file"));
    }
    verifying_key(&token(text, PUBLIC_PREFIX)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip() {
        let sk = SigningKey::from_bytes(&[9u8; 32]);
        let pk = sk.verifying_key();
        let secret = encode_secret_key(&sk);
        let public = encode_public_key(&pk);
        assert!(public.contains(&key_id(&pk)));
        assert_eq!(parse_secret_key(&secret).unwrap().as_bytes(), sk.as_bytes());
        assert_eq!(parse_public_key(&public).unwrap(), pk);
        assert_eq!(parse_public_key(&hex::encode(pk.as_bytes())).unwrap(), pk);
        assert!(parse_public_key(&secret).is_err());
        assert!(parse_secret_key(&public).is_err());
        assert!(parse_public_key("actr-ed25519-public:abc").is_err());
    }
}
