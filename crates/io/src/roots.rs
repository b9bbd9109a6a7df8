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
//!
//! The read (about a millisecond: 150 certificates decoded and parsed) runs on a thread of its
//! own, started by [`PublicRoots::load`] at start-up, so it overlaps the rest of start-up and the
//! Lambda runtime's first request for an event instead of delaying them. Clients are built at
//! once all the same: their TLS verifier waits for the roots at the first handshake that needs
//! them (by then the read is long finished), then verifies exactly as rustls' own WebPKI
//! verifier does, which it delegates to.

use crate::error::Error;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

/// The roots, being read or read; cloning shares them.
#[derive(Clone)]
pub struct PublicRoots {
    inner: Arc<Inner>,
}

struct Inner {
    reading: Mutex<Option<JoinHandle<Result<RootCertStore, String>>>>,
    read: OnceLock<Result<Arc<RootCertStore>, String>>,
}

impl std::fmt::Debug for PublicRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.inner.read.get() {
            None => "reading".to_owned(),
            Some(Ok(store)) => format!("{} roots", store.len()),
            Some(Err(_)) => "unreadable".to_owned(),
        };
        f.debug_tuple("PublicRoots").field(&state).finish()
    }
}

impl PublicRoots {
    /// Start reading the system's roots (or `SSL_CERT_FILE` / `SSL_CERT_DIR`) on a thread of
    /// their own; see the module documentation.
    pub fn load() -> PublicRoots {
        let reading = std::thread::Builder::new()
            .name("read-roots".into())
            .spawn(read_system_roots);
        match reading {
            Ok(handle) => PublicRoots {
                inner: Arc::new(Inner {
                    reading: Mutex::new(Some(handle)),
                    read: OnceLock::new(),
                }),
            },
            // No thread to be had: read them here.
            Err(_) => Self::read_now(read_system_roots()),
        }
    }

    /// The roots in one PEM file, read now (tests, benchmarks).
    pub fn from_pem_file(path: &Path) -> PublicRoots {
        Self::read_now(read(Some(path.to_owned()), &path.display().to_string()))
    }

    fn read_now(result: Result<RootCertStore, String>) -> PublicRoots {
        let read = OnceLock::new();
        let _ = read.set(result.map(Arc::new));
        PublicRoots {
            inner: Arc::new(Inner {
                reading: Mutex::new(None),
                read,
            }),
        }
    }

    /// The roots, waiting for the read to finish. An error says why none could be read, and
    /// how to fix it.
    pub fn store(&self) -> Result<Arc<RootCertStore>, Error> {
        self.inner
            .read
            .get_or_init(|| {
                let handle = self
                    .inner
                    .reading
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                match handle.map(JoinHandle::join) {
                    Some(Ok(result)) => result.map(Arc::new),
                    Some(Err(_)) => Err("reading the system's root certificates panicked".into()),
                    None => Err("the system's root certificates were never read".into()),
                }
            })
            .clone()
            .map_err(Error::ClusterCa)
    }

    /// A client builder whose TLS trusts exactly these roots, over TLS 1.2 and 1.3, offering
    /// HTTP/2 and HTTP/1.1, as reqwest's own configuration does. It does not wait for the roots.
    pub fn client_builder(&self) -> Result<reqwest::ClientBuilder, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(RootsVerifier {
            roots: self.clone(),
            provider: provider.clone(),
            webpki: OnceLock::new(),
        });
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::ClusterCa(format!("cannot configure TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(reqwest::Client::builder().use_preconfigured_tls(tls))
    }
}

/// The system's roots: `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else the CA bundle file
/// alone, else whatever `rustls-native-certs` finds.
fn read_system_roots() -> Result<RootCertStore, String> {
    let env_set = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    match (env_set, openssl_probe::probe().cert_file) {
        (false, Some(bundle)) => {
            let from = bundle.display().to_string();
            read(Some(bundle), &from)
        }
        _ => read(
            None,
            "SSL_CERT_FILE, SSL_CERT_DIR or the system's certificate directories",
        ),
    }
}

/// Read one PEM file, or (`None`) what `rustls-native-certs` finds; `from` names it in errors.
fn read(file: Option<PathBuf>, from: &str) -> Result<RootCertStore, String> {
    let found = match &file {
        Some(file) => rustls_native_certs::load_certs_from_paths(Some(file), None),
        None => rustls_native_certs::load_native_certs(),
    };
    let mut store = RootCertStore::empty();
    let (valid, invalid) = store.add_parsable_certificates(found.certs);
    if valid == 0 {
        let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(format!(
            "no usable root certificate in {from} ({invalid} unparsable{}{}); install the \
             system's CA certificates or set SSL_CERT_FILE to a PEM bundle",
            if errors.is_empty() { "" } else { ": " },
            errors.join("; ")
        ));
    }
    Ok(store)
}

/// rustls' WebPKI verifier over [`PublicRoots`], built at the first handshake: the roots are
/// awaited there, not when the client is built.
#[derive(Debug)]
struct RootsVerifier {
    roots: PublicRoots,
    provider: Arc<CryptoProvider>,
    webpki: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl RootsVerifier {
    fn webpki(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        self.webpki
            .get_or_init(|| {
                let store = self.roots.store().map_err(|e| e.to_string())?;
                WebPkiServerVerifier::builder_with_provider(store, self.provider.clone())
                    .build()
                    .map_err(|e| format!("cannot build the TLS verifier: {e}"))
            })
            .as_ref()
            .map_err(|e| rustls::Error::General(e.clone()))
    }
}

impl ServerCertVerifier for RootsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        // What the WebPKI verifier supports, without waiting for the roots.
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("roots-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(name);
        std::fs::write(&file, contents).unwrap();
        file
    }

    #[test]
    fn a_file_without_certificates_is_refused_with_the_fix() {
        let file = temp_file("empty.pem", "not a certificate\n");
        let err = PublicRoots::from_pem_file(&file)
            .store()
            .unwrap_err()
            .to_string();
        assert!(err.contains("no usable root certificate"), "{err}");
        assert!(err.contains("SSL_CERT_FILE"), "{err}");
    }

    #[test]
    fn a_pem_bundle_gives_its_roots() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let file = temp_file("ca.pem", &ca.cert.pem());
        let roots = PublicRoots::from_pem_file(&file);
        assert_eq!(roots.store().unwrap().len(), 1);
        roots.client_builder().unwrap().build().unwrap();
    }

    #[test]
    fn the_system_roots_are_read_on_a_thread_and_waited_for() {
        let roots = PublicRoots::load();
        // Clients are built before the read is known to be over.
        roots.client_builder().unwrap().build().unwrap();
        let store = roots.store().expect("this machine has CA certificates");
        assert!(!store.is_empty());
        // Read once: a clone sees the same store.
        assert!(Arc::ptr_eq(&store, &roots.clone().store().unwrap()));
    }
}
