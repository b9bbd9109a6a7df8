//! The key local-gke signs Google ID tokens with, as `accounts.google.com` does: RS256, named by
//! a `kid` that Google's JWKS (`/oauth2/v3/certs`) publishes with the key's public half. Made once,
//! at the first use (generating an RSA key takes a noticeable moment, and most runs issue no ID
//! token), and kept for the life of the server. No I/O.

use std::fmt;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::Sha256;

/// The issuer of Google's ID tokens.
pub(crate) const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// Google's ID-token signing key: made at the first use, then the same for every token.
#[derive(Default)]
pub(crate) struct IdTokenKey {
    key: OnceLock<Result<Key, String>>,
}

struct Key {
    kid: String,
    private: RsaPrivateKey,
}

impl fmt::Debug for IdTokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kid = self.key.get().and_then(|k| k.as_ref().ok()).map(|k| &k.kid);
        f.debug_struct("IdTokenKey")
            .field("kid", &kid)
            .finish_non_exhaustive()
    }
}

impl IdTokenKey {
    fn key(&self) -> Result<&Key, String> {
        self.key
            .get_or_init(|| {
                let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                    .map_err(|e| e.to_string())?;
                // Google's key ids are 40 hexadecimal digits.
                let mut rng = rand::rng();
                let kid = (0..20)
                    .map(|_| format!("{:02x}", rng.random::<u8>()))
                    .collect();
                Ok(Key { kid, private })
            })
            .as_ref()
            .map_err(|e| format!("could not generate the ID-token signing key: {e}"))
    }

    /// The JWKS Google publishes at `https://www.googleapis.com/oauth2/v3/certs`: the public half
    /// of the key, with its `kid`.
    pub(crate) fn jwks(&self) -> Result<Value, String> {
        let key = self.key()?;
        let public = key.private.to_public_key();
        Ok(json!({"keys": [{
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": key.kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }]}))
    }

    /// `claims` signed as an RS256 JWT whose header names the key's `kid`. Fails only when the key
    /// could not be generated.
    pub(crate) fn sign(&self, claims: &Value) -> Result<String, String> {
        let key = self.key()?;
        let header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
        let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
        let signed = format!("{}.{}", encode(&header), encode(claims));
        let signature = SigningKey::<Sha256>::new(key.private.clone())
            .sign(signed.as_bytes())
            .to_vec();
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    use rsa::{BigUint, RsaPublicKey};

    #[test]
    fn a_token_verifies_with_the_published_key_its_kid_names(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let key = IdTokenKey::default();
        let token = key.sign(&json!({"sub": "1"}))?;
        let jwks = key.jwks()?;
        let published = &jwks["keys"][0];
        let parts: Vec<&str> = token.split('.').collect();
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0])?)?;
        assert_eq!(header["kid"], published["kid"]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(published["kid"].as_str().map(str::len), Some(40));
        let decode = |field: &str| -> Result<BigUint, Box<dyn std::error::Error>> {
            let text = published[field].as_str().ok_or("no field")?;
            Ok(BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(text)?))
        };
        let public = RsaPublicKey::new(decode("n")?, decode("e")?)?;
        let verifier = VerifyingKey::<Sha256>::new(public);
        let signature = Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2])?.as_slice())?;
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifier.verify(signed.as_bytes(), &signature)?;
        assert!(
            verifier.verify(b"another message", &signature).is_err(),
            "the signature is of this token only"
        );
        // The same key for every token.
        assert_eq!(key.jwks()?, jwks);
        Ok(())
    }
}
