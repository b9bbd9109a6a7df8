//! The one service account local-gke knows: its RSA key, its email and numeric id, the key file
//! a client loads, and the identity GKE sees for a token with given scopes. No I/O.

use std::fmt;

use rand::Rng;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::json;

use crate::Error;

/// The scope that lets a token call Google Cloud APIs such as GKE.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The scope that puts the account's email into a token's identity. Without it GKE sees the
/// service account by its numeric id, and RBAC bindings by email never match.
pub const USERINFO_EMAIL_SCOPE: &str = "https://www.googleapis.com/auth/userinfo.email";

/// The service account whose key local-gke hands out and whose assertions it accepts.
pub struct ServiceAccount {
    project_id: String,
    email: String,
    client_id: String,
    private_key_id: String,
    private_key: RsaPrivateKey,
    public_key: RsaPublicKey,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("email", &self.email)
            .field("client_id", &self.client_id)
            .field("private_key", &"..")
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Generates `queue-scaler@{project}.iam.gserviceaccount.com` with a fresh RSA-2048 key.
    pub fn generate(project_id: &str) -> Result<Self, Error> {
        let private_key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)?;
        let public_key = private_key.to_public_key();
        let mut rng = rand::rng();
        // Real ids are 21 decimal digits and start with 1.
        let client_id = std::iter::once('1')
            .chain((0..20).map(|_| char::from(b'0' + rng.random_range(0..10u8))))
            .collect();
        let private_key_id = (0..20)
            .map(|_| format!("{:02x}", rng.random::<u8>()))
            .collect();
        Ok(ServiceAccount {
            project_id: project_id.to_owned(),
            email: format!("queue-scaler@{project_id}.iam.gserviceaccount.com"),
            client_id,
            private_key_id,
            private_key,
            public_key,
        })
    }

    /// The account's email, `client_email` in the key file.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The account's numeric id, `client_id` in the key file.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The id of the key, `private_key_id` in the key file (an assertion's optional `kid`).
    pub fn private_key_id(&self) -> &str {
        &self.private_key_id
    }

    /// The key that verifies the account's assertions.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }

    /// The identity a token with these scopes has in GKE: the email with the
    /// `userinfo.email` scope, the numeric id without it.
    pub fn identity_for(&self, scopes: &[String]) -> &str {
        if scopes.iter().any(|s| s == USERINFO_EMAIL_SCOPE) {
            &self.email
        } else {
            &self.client_id
        }
    }

    /// The key file, with the fields of one downloaded from Google. `base_url` is the google
    /// listener's; the token URI is `{base_url}/token`.
    pub fn key_file(&self, base_url: &str) -> Result<serde_json::Value, Error> {
        let private_key = self.private_key.to_pkcs8_pem(LineEnding::LF)?;
        let email_in_path =
            url::form_urlencoded::byte_serialize(self.email.as_bytes()).collect::<String>();
        Ok(json!({
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": private_key.as_str(),
            "client_email": self.email,
            "client_id": self.client_id,
            "auth_uri": format!("{base_url}/o/oauth2/auth"),
            "token_uri": format!("{base_url}/token"),
            "auth_provider_x509_cert_url": format!("{base_url}/oauth2/v1/certs"),
            "client_x509_cert_url": format!("{base_url}/robot/v1/metadata/x509/{email_in_path}"),
            "universe_domain": "googleapis.com",
        }))
    }
}
