//! The roots that public endpoints (Google's, AWS's, a GKE DNS endpoint without a CA) are
//! verified against: read once per container and shared by every client built from them.
//!
//! They are the system's roots, as `rustls-native-certs` finds them, with one difference that
//! matters for start-up: where the system has a CA bundle file (Debian's
//! `/etc/ssl/certs/ca-certificates.crt`, Amazon Linux's
//! `/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem`), only that file is read. The
//! certificate directory beside it holds the same certificates once more, one file each, and
//! reading it (a few hundred files on Debian) was most of what start-up cost above a hello-world
//! function. `SSL_CERT_FILE` and `SSL_CERT_DIR`, when set, are honoured exactly as
//! `rustls-native-certs` honours them, so a private CA still works.

use crate::error::Error;
use rustls::RootCertStore;
use std::path::Path;
use std::sync::Arc;

/// The parsed roots, shared (cloning is an `Arc` clone).
#[derive(Clone)]
pub struct PublicRoots {
    store: Arc<RootCertStore>,
}

impl std::fmt::Debug for PublicRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicRoots")
            .field("roots", &self.store.len())
            .finish()
    }
}

impl PublicRoots {
    /// Read the system's roots (or `SSL_CERT_FILE` / `SSL_CERT_DIR`), once.
    pub fn load() -> Result<PublicRoots, Error> {
        let env_set = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
            .iter()
            .any(|name| std::env::var_os(name).is_some());
        let bundle = if env_set {
            None
        } else {
            openssl_probe::probe().cert_file
        };
        let (found, from) = match &bundle {
            Some(file) => (
                rustls_native_certs::load_certs_from_paths(Some(file), None),
                file.display().to_string(),
            ),
            None => (
                rustls_native_certs::load_native_certs(),
                "SSL_CERT_FILE, SSL_CERT_DIR or the system's certificate directories".to_owned(),
            ),
        };
        Self::from_found(found, &from)
    }

    /// The roots in one PEM file (tests, benchmarks).
    pub fn from_pem_file(path: &Path) -> Result<PublicRoots, Error> {
        let found = rustls_native_certs::load_certs_from_paths(Some(path), None);
        Self::from_found(found, &path.display().to_string())
    }

    fn from_found(
        found: rustls_native_certs::CertificateResult,
        from: &str,
    ) -> Result<PublicRoots, Error> {
        let mut store = RootCertStore::empty();
        let (valid, invalid) = store.add_parsable_certificates(found.certs);
        if valid == 0 {
            let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
            return Err(Error::ClusterCa(format!(
                "no usable root certificate in {from} ({invalid} unparsable{}{}); install the \
                 system's CA certificates or set SSL_CERT_FILE to a PEM bundle",
                if errors.is_empty() { "" } else { ": " },
                errors.join("; ")
            )));
        }
        Ok(PublicRoots {
            store: Arc::new(store),
        })
    }

    /// How many roots were read.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether no root was read (never, for a loaded value).
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// A client builder whose TLS trusts exactly these roots, over TLS 1.2 and 1.3, offering
    /// HTTP/2 and HTTP/1.1, as reqwest's own configuration does.
    pub fn client_builder(&self) -> Result<reqwest::ClientBuilder, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::ClusterCa(format!("cannot configure TLS: {e}")))?
            .with_root_certificates(self.store.clone())
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(reqwest::Client::builder().use_preconfigured_tls(tls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused_with_the_fix() {
        let dir = std::env::temp_dir().join(format!("roots-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("empty.pem");
        std::fs::write(&file, "not a certificate\n").unwrap();
        let err = PublicRoots::from_pem_file(&file).unwrap_err().to_string();
        assert!(err.contains("no usable root certificate"), "{err}");
        assert!(err.contains("SSL_CERT_FILE"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pem_bundle_gives_its_roots() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let dir = std::env::temp_dir().join(format!("roots-test-ok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ca.pem");
        std::fs::write(&file, ca.cert.pem()).unwrap();
        let roots = PublicRoots::from_pem_file(&file).unwrap();
        assert_eq!(roots.len(), 1);
        roots.client_builder().unwrap().build().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
