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
//! The read (a third of a millisecond to a millisecond: about 150 certificates decoded and parsed)
//! runs on a thread of its own, started by [`PublicRoots::load`] at start-up, which runs only when
//! a CPU would otherwise be idle (Linux's `SCHED_IDLE`): it must not delay the rest of start-up or
//! the Lambda runtime's first request for an event, which on a small function share a fraction of
//! one CPU. Clients are built at once all the same: their TLS verifier takes the roots at the first
//! handshake that needs them, by when the read is normally long over (a request to Google or AWS
//! waits for DNS and a TCP connection first). If it is not, the handshake reads them itself rather
//! than wait for a thread that may not be scheduled. The verifier then verifies exactly as rustls'
//! own WebPKI verifier does, which it delegates to.

use crate::error::Error;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The roots, being read or read; cloning shares them.
#[derive(Clone)]
pub struct PublicRoots {
    read: Arc<OnceLock<Result<Arc<RootCertStore>, String>>>,
    /// `SSL_CERT_FILE` or `SSL_CERT_DIR` names the roots.
    from_environment: bool,
}

impl std::fmt::Debug for PublicRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.read.get() {
            None => "reading".to_owned(),
            Some(Ok(store)) => format!("{} roots", store.len()),
            Some(Err(_)) => "unreadable".to_owned(),
        };
        f.debug_tuple("PublicRoots").field(&state).finish()
    }
}

impl PublicRoots {
    /// Start reading the system's roots (or `SSL_CERT_FILE` / `SSL_CERT_DIR`) on a thread of
    /// their own, which runs only when a CPU would otherwise be idle; see the module
    /// documentation.
    /// `from_environment`: `SSL_CERT_FILE` or `SSL_CERT_DIR` is set
    /// (`queue_scaler_core::config::roots_from_environment`), and names the roots.
    pub fn load(from_environment: bool) -> PublicRoots {
        Self::load_in_background(from_environment).0
    }

    /// [`Self::load`], and the reading thread, if one could be started (tests join it).
    fn load_in_background(
        from_environment: bool,
    ) -> (PublicRoots, Option<std::thread::JoinHandle<()>>) {
        let roots = PublicRoots {
            read: Arc::new(OnceLock::new()),
            from_environment,
        };
        let read = Arc::clone(&roots.read);
        // No thread to be had: the first handshake reads them.
        let reader = std::thread::Builder::new()
            .name("read-roots".into())
            .spawn(move || {
                yield_to_everything_else();
                let _ = read.set(read_system_roots(from_environment).map(Arc::new));
            })
            .ok();
        (roots, reader)
    }

    /// The roots in one PEM file, read now.
    #[cfg(test)]
    fn from_pem_file(path: &std::path::Path) -> PublicRoots {
        Self::read_now(
            read_file(Some(path.to_owned()), &path.display().to_string()),
            false,
        )
    }

    /// The system's roots, read now on the calling thread, as [`Self::store`] reads them when
    /// the background read has not finished (benchmarks); `from_environment` as for
    /// [`Self::load`].
    pub fn read_system_now(from_environment: bool) -> PublicRoots {
        Self::read_now(read_system_roots(from_environment), from_environment)
    }

    fn read_now(result: Result<RootCertStore, String>, from_environment: bool) -> PublicRoots {
        PublicRoots {
            read: Arc::new(OnceLock::from(result.map(Arc::new))),
            from_environment,
        }
    }

    /// The roots. If the background read has not finished (no CPU was idle for it yet), they
    /// are read here, at the caller's priority, and the background's result is dropped: the
    /// first handshake never waits on a thread that may not be scheduled. An error says why
    /// none could be read, and how to fix it.
    pub fn store(&self) -> Result<Arc<RootCertStore>, Error> {
        self.read
            .get_or_init(|| read_system_roots(self.from_environment).map(Arc::new))
            .clone()
            .map_err(Error::PublicTls)
    }

    /// A client builder whose TLS trusts exactly these roots, over TLS 1.2 and 1.3, offering
    /// HTTP/2 and HTTP/1.1, as reqwest's own configuration does. It does not wait for the roots.
    pub(crate) fn client_builder(&self) -> Result<reqwest::ClientBuilder, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(RootsVerifier {
            roots: self.clone(),
            provider: provider.clone(),
            webpki: OnceLock::new(),
        });
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::PublicTls(format!("cannot configure TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(reqwest::Client::builder().use_preconfigured_tls(tls))
    }
}

/// Make the calling thread run only when a CPU would otherwise be idle (Linux's `SCHED_IDLE`).
///
/// The roots are not needed until the first TLS handshake, so their read must not take a CPU
/// from what start-up is waiting on: the function's own threads, and on a small Lambda
/// function, whose init phase gets a fraction of a CPU, the path to the runtime's first request.
/// Lowering one's own policy needs no privilege; if it is refused all the same, the read simply
/// runs at normal priority.
fn yield_to_everything_else() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadSchedulePolicy,
        };
        let _ = set_thread_priority_and_policy(
            thread_native_id(),
            thread_priority::ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
        );
    }
}

/// The system's roots: `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else the CA bundle file
/// alone, else whatever `rustls-native-certs` finds.
fn read_system_roots(from_environment: bool) -> Result<RootCertStore, String> {
    match (from_environment, openssl_probe::probe().cert_file) {
        (false, Some(bundle)) => {
            let from = bundle.display().to_string();
            read_file(Some(bundle), &from)
        }
        _ => read_file(
            None,
            "SSL_CERT_FILE, SSL_CERT_DIR or the system's certificate directories",
        ),
    }
}

/// Read one PEM file, or (`None`) what `rustls-native-certs` finds; `from` names it in errors.
fn read_file(file: Option<PathBuf>, from: &str) -> Result<RootCertStore, String> {
    let found = match &file {
        Some(file) => rustls_native_certs::load_certs_from_paths(Some(file), None),
        None => rustls_native_certs::load_native_certs(),
    };
    let mut store = RootCertStore::empty();
    let (valid, invalid) = store.add_parsable_certificates(found.certs);
    if valid == 0 {
        let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(format!(
            "no usable root certificate in {from} ({invalid} unparsable{}{})",
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
    fn unusable_roots_are_a_configuration_error_of_the_public_client_not_of_the_cluster_ca() {
        let file = temp_file("none.pem", "");
        let err = PublicRoots::from_pem_file(&file).store().unwrap_err();
        assert!(matches!(err, Error::PublicTls(_)), "{err:?}");
        assert_eq!(err.class(), crate::error::ErrorClass::Config);
        assert!(!err.to_string().contains("cluster CA"), "{err}");
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
    fn the_system_roots_are_read_in_the_background_once() {
        let (roots, reader) = PublicRoots::load_in_background(false);
        // Clients are built before the read is known to be over.
        roots.client_builder().unwrap().build().unwrap();
        // The thread reads them with nobody asking (when a CPU is idle, however long that takes).
        reader
            .expect("a thread to read the roots")
            .join()
            .expect("the reading thread does not panic");
        assert!(
            roots.read.get().is_some(),
            "the background read ended without setting the roots"
        );
        let store = roots.store().expect("this machine has CA certificates");
        assert!(!store.is_empty());
        // Read once: a clone sees the same store.
        assert!(Arc::ptr_eq(&store, &roots.clone().store().unwrap()));
    }

    #[test]
    fn a_read_not_over_is_done_by_the_first_that_needs_the_roots() {
        // As if the background thread were never scheduled.
        let roots = PublicRoots {
            read: Arc::new(OnceLock::new()),
            from_environment: false,
        };
        assert_eq!(format!("{roots:?}"), r#"PublicRoots("reading")"#);
        let store = roots.store().expect("this machine has CA certificates");
        assert!(!store.is_empty());
        assert!(Arc::ptr_eq(&store, &roots.store().unwrap()));
        assert_eq!(
            format!("{roots:?}"),
            format!("PublicRoots(\"{} roots\")", store.len())
        );
    }
}
