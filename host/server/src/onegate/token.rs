//! OneGate tokens: what binds a request to one VM. A token names the VM's
//! service and operation id (known before the VM exists, so it can go into
//! the VM's context at creation) and when it expires, signed with the
//! server's key (HMAC-SHA256). Changing any byte of it, or signing with
//! another server's key, makes it worthless.
//!
//! OpenNebula encrypts `<vmid>:<stime>` with the owner's token password;
//! a signature does the same job (the server can tell its own tokens)
//! without a key per user, and survives a change of owner as OneGate's
//! tokens do.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::{Path, PathBuf};

const VERSION: &str = "fg1";

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    #[serde(rename = "s")]
    pub service_id: u64,
    #[serde(rename = "o")]
    pub operation_id: String,
    /// Unix seconds after which the token is refused; 0: never.
    #[serde(rename = "e")]
    pub expires: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    BadSignature,
    Expired,
}

/// Why the OneGate key cannot be had; the server does not start.
#[derive(Debug)]
pub enum KeyError {
    /// The file is there but is no key.
    NotAKey(PathBuf),
    Read(PathBuf, std::io::Error),
    Write(PathBuf, std::io::Error),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::NotAKey(path) => write!(
                f,
                "{}: not a OneGate key (32 bytes); remove it to make a new one (VMs' tokens stop working)",
                path.display()
            ),
            KeyError::Read(path, e) => write!(f, "{}: {e}", path.display()),
            KeyError::Write(path, e) => write!(f, "writing {}: {e}", path.display()),
        }
    }
}

impl std::error::Error for KeyError {}

pub struct Signer {
    key: [u8; 32],
}

impl Signer {
    pub fn new(key: [u8; 32]) -> Signer {
        Signer { key }
    }

    /// The key kept in `<data>/onegate.key` (0600), made on first use: a
    /// restart keeps every VM's token valid.
    pub fn load_or_create(data_dir: &Path) -> Result<Signer, KeyError> {
        let path = data_dir.join("onegate.key");
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                Ok(Signer::new(key))
            }
            Ok(_) => Err(KeyError::NotAKey(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use argon2::password_hash::rand_core::{OsRng, RngCore};
                let mut key = [0u8; 32];
                OsRng.fill_bytes(&mut key);
                if let Err(e) = crate::access::users::write_private_bytes(&path, &key) {
                    return Err(KeyError::Write(path, e));
                }
                Ok(Signer::new(key))
            }
            Err(e) => Err(KeyError::Read(path, e)),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    pub fn issue(&self, claims: &Claims) -> String {
        let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signed = format!("{VERSION}.{payload}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let signature = B64.encode(mac.finalize().into_bytes());
        format!("{signed}.{signature}")
    }

    /// The claims of a token this server issued that has not expired at
    /// `now_s` (unix seconds).
    pub fn verify(&self, token: &str, now_s: u64) -> Result<Claims, TokenError> {
        let token = token.trim();
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (version, payload) = signed.split_once('.').ok_or(TokenError::Malformed)?;
        if version != VERSION {
            return Err(TokenError::Malformed);
        }
        let signature = B64.decode(signature).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        // Constant time: a signature cannot be guessed byte by byte.
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = B64
            .decode(payload)
            .ok()
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.expires != 0 && now_s >= claims.expires {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires: u64) -> Claims {
        Claims {
            service_id: 7,
            operation_id: "service-7-web-0".into(),
            expires,
        }
    }

    #[test]
    fn a_token_speaks_for_its_vm_until_it_expires() {
        let signer = Signer::new([1; 32]);
        let token = signer.issue(&claims(1_000));
        assert_eq!(signer.verify(&token, 999), Ok(claims(1_000)));
        assert_eq!(signer.verify(&token, 1_000), Err(TokenError::Expired));
        let forever = signer.issue(&claims(0));
        assert!(signer.verify(&forever, u64::MAX).is_ok());
    }

    #[test]
    fn tampered_and_foreign_tokens_are_refused() {
        let signer = Signer::new([1; 32]);
        let token = signer.issue(&claims(0));
        // Another VM's claims under the same signature.
        let (_, signature) = token.rsplit_once('.').unwrap();
        let other = Claims {
            operation_id: "service-8-web-0".into(),
            service_id: 8,
            ..claims(0)
        };
        let forged = format!(
            "{VERSION}.{}.{signature}",
            B64.encode(serde_json::to_vec(&other).unwrap())
        );
        assert_eq!(signer.verify(&forged, 0), Err(TokenError::BadSignature));
        // One character changed anywhere.
        for i in [4, token.len() / 2, token.len() - 2] {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(signer.verify(&changed, 0).is_err(), "{changed}");
        }
        assert!(Signer::new([2; 32]).verify(&token, 0).is_err());
        for junk in ["", "x", "fg1.", "fg1..", "fg0.a.b", "fg1.%%.%%"] {
            assert!(signer.verify(junk, 0).is_err(), "{junk}");
        }
    }
}
