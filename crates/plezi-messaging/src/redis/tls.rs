//! TLS to Redis, settled once at start: the certificate and key files read and checked, the rustls
//! client configuration the bus's own connections use, and the same files in the form the `redis`
//! crate's connections (mailbox store, session store) take.
//!
//! Built on rustls with the `ring` provider (no OpenSSL, no cmake). The server's certificate is always
//! verified for the host in the URL: against the CA file when one is set, else against the system's
//! root certificates (`rustls-native-certs`, as the `redis` crate does).

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore};

use super::conn::redact;
use crate::config::RedisTls;
use crate::error::BusError;

/// Checked TLS settings: what the bus's connections and the `redis` crate's connections use.
pub(crate) struct TlsSetup {
    /// For the bus's own connections (`link.rs`).
    pub(crate) client: Arc<ClientConfig>,
    /// The same files for `redis::Client::build_with_tls`.
    certs: redis::TlsCertificates,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup").finish_non_exhaustive()
    }
}

impl TlsSetup {
    /// The same files as `redis` crate certificates (for `redis::Client::build_with_tls`, or a
    /// cluster client's `certs`).
    pub(crate) fn certificates(&self) -> &redis::TlsCertificates {
        &self.certs
    }

    /// Reads and checks the files: a missing or unreadable file, a file with no PEM certificate (or
    /// key), a key that does not match the certificate, or no system roots at all is a
    /// [`BusError::Tls`] that names the variable to fix.
    pub(crate) fn load(settings: &RedisTls) -> Result<TlsSetup, BusError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // The `redis` crate builds its rustls configuration with the process-wide provider; name one
        // unless the application already did (a build with two providers compiled in has none).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (roots, root_pem) = match &settings.ca_file {
            Some(path) => {
                let pem = read(path, "PL_REDIS_CA_FILE")?;
                let certs = certificates(&pem, path, "PL_REDIS_CA_FILE")?;
                let mut roots = RootCertStore::empty();
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        BusError::Tls(format!(
                            "{} (PL_REDIS_CA_FILE) holds a certificate that cannot be a trust \
                             anchor ({e}); it must be the PEM certificate of the CA that signed the \
                             Redis server's certificate",
                            path.display()
                        ))
                    })?;
                }
                (roots, Some(pem))
            }
            None => (system_roots()?, None),
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| BusError::Tls(format!("no TLS protocol version available: {e}")))?
            .with_root_certificates(roots);
        let (client, client_tls) = match (&settings.cert_file, &settings.key_file) {
            (None, None) => (builder.with_no_client_auth(), None),
            (Some(cert_path), Some(key_path)) => {
                let cert_pem = read(cert_path, "PL_REDIS_CERT_FILE")?;
                let key_pem = read(key_path, "PL_REDIS_KEY_FILE")?;
                let chain = certificates(&cert_pem, cert_path, "PL_REDIS_CERT_FILE")?;
                let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                    BusError::Tls(format!(
                        "{} (PL_REDIS_KEY_FILE) holds no PEM private key ({e}); it must be the \
                         private key of PL_REDIS_CERT_FILE, in PEM",
                        key_path.display()
                    ))
                })?;
                let client = builder.with_client_auth_cert(chain, key).map_err(|e| {
                    BusError::Tls(format!(
                        "the client certificate {} and key {} do not go together ({e}); \
                         PL_REDIS_KEY_FILE must be the private key of PL_REDIS_CERT_FILE",
                        cert_path.display(),
                        key_path.display()
                    ))
                })?;
                let client_tls = redis::ClientTlsConfig {
                    client_cert: cert_pem,
                    client_key: key_pem,
                };
                (client, Some(client_tls))
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(BusError::Config(
                    "a client certificate needs both PL_REDIS_CERT_FILE and PL_REDIS_KEY_FILE; \
                     set both, or neither"
                        .into(),
                ));
            }
        };
        Ok(TlsSetup {
            client: Arc::new(client),
            certs: redis::TlsCertificates {
                client_tls,
                root_cert: root_pem,
            },
        })
    }
}

/// Whether `url` asks for TLS, with the settings checked: `Ok(None)` for a plain URL without TLS
/// settings; a plain URL with TLS settings, or a `rediss://` URL that turns verification off
/// (`#insecure`), is a [`BusError::Config`].
pub(crate) fn tls_for(
    url: &str,
    info: &redis::ConnectionInfo,
    settings: &RedisTls,
) -> Result<Option<Arc<TlsSetup>>, BusError> {
    match info.addr() {
        redis::ConnectionAddr::TcpTls { insecure: true, .. } => Err(BusError::Config(format!(
            "Redis URL {:?} turns certificate verification off (#insecure), which plezi does not \
             do; remove #insecure and set PL_REDIS_CA_FILE to the CA that signed the server's \
             certificate",
            redact(url)
        ))),
        redis::ConnectionAddr::TcpTls { .. } => Ok(Some(Arc::new(TlsSetup::load(settings)?))),
        _ if settings.is_set() => Err(BusError::Config(format!(
            "PL_REDIS_CA_FILE, PL_REDIS_CERT_FILE or PL_REDIS_KEY_FILE is set but the Redis URL {:?} \
             is not TLS; use rediss:// to connect with TLS, or unset them",
            redact(url)
        ))),
        _ => Ok(None),
    }
}

/// A `redis` crate client for `url`, with TLS when the URL says `rediss://` (checked as in
/// [`tls_for`]).
pub(crate) fn redis_client(url: &str, settings: &RedisTls) -> Result<redis::Client, BusError> {
    let bad_url = |e: redis::RedisError| {
        BusError::Config(format!(
            "cannot use Redis URL {:?}: {e}; expected redis://[user:pass@]host:port/db or \
             rediss://...",
            redact(url)
        ))
    };
    let client = redis::Client::open(url).map_err(bad_url)?;
    match tls_for(url, client.get_connection_info(), settings)? {
        None => Ok(client),
        Some(tls) => redis::Client::build_with_tls(
            client.get_connection_info().clone(),
            tls.certificates().clone(),
        )
        .map_err(|e| BusError::Tls(format!("cannot set up TLS for the Redis client: {e}"))),
    }
}

/// A connection failed in TLS; the message says why and what to set.
#[derive(Debug)]
pub(crate) struct TlsFailure(pub(crate) String);

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsFailure {}

/// `e` as is, or, when it is a TLS failure, as an error carrying a [`TlsFailure`] that tells the
/// operator what to fix (for the log lines of the reconnect loops and for the start-up check).
pub(crate) fn explain(e: io::Error, host: &str) -> io::Error {
    match tls_failure(&e, host) {
        Some(why) => io::Error::new(io::ErrorKind::InvalidData, TlsFailure(why)),
        None => e,
    }
}

/// The [`TlsFailure`] inside `e`, if any.
pub(crate) fn as_tls_failure(e: &io::Error) -> Option<&TlsFailure> {
    e.get_ref()?.downcast_ref::<TlsFailure>()
}

/// What to tell the operator when a connection failed in TLS (`None`: not a TLS failure, e.g. Redis
/// is unreachable, which the bus rides out).
fn tls_failure(e: &io::Error, host: &str) -> Option<String> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the Redis server's certificate is not valid for {host:?} ({tls}); connect with a host \
             name or address the certificate names"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => format!(
            "the Redis server's certificate is outside its validity period ({tls}); renew it, or \
             check this machine's clock"
        ),
        rustls::Error::InvalidCertificate(_) => format!(
            "the Redis server's certificate does not verify ({tls}); set PL_REDIS_CA_FILE to the PEM \
             certificate of the CA that signed it (or, without PL_REDIS_CA_FILE, use a certificate \
             the system's roots trust)"
        ),
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::HandshakeFailure
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied,
        ) => format!(
            "the Redis server refused this client's TLS handshake ({tls}); if it requires client \
             certificates (tls-auth-clients), set PL_REDIS_CERT_FILE and PL_REDIS_KEY_FILE to a \
             certificate its CA signed and that certificate's key"
        ),
        rustls::Error::InvalidMessage(_) => format!(
            "the Redis server did not answer in TLS ({tls}); check that the port in the rediss:// \
             URL is Redis's tls-port, or use redis:// for a plain port"
        ),
        other => format!("the TLS handshake with Redis failed: {other}"),
    })
}

fn read(path: &Path, variable: &str) -> Result<Vec<u8>, BusError> {
    std::fs::read(path).map_err(|e| {
        BusError::Tls(format!(
            "cannot read {} ({variable}): {e}; point {variable} at a readable PEM file",
            path.display()
        ))
    })
}

fn certificates(
    pem: &[u8],
    path: &Path,
    variable: &str,
) -> Result<Vec<CertificateDer<'static>>, BusError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            BusError::Tls(format!(
                "{} ({variable}) is not valid PEM ({e}); it must hold PEM certificates \
                 (-----BEGIN CERTIFICATE-----)",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(BusError::Tls(format!(
            "{} ({variable}) holds no PEM certificate; it must hold PEM certificates \
             (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

fn system_roots() -> Result<RootCertStore, BusError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(BusError::Tls(format!(
            "no system root certificates found{why}; install the system's CA certificates \
             (ca-certificates) or set PL_REDIS_CA_FILE to the CA that signed the Redis server's \
             certificate"
        )));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(url: &str) -> redis::ConnectionInfo {
        redis::Client::open(url)
            .unwrap()
            .get_connection_info()
            .clone()
    }

    #[test]
    fn plain_urls_refuse_tls_settings_and_tls_urls_refuse_insecure() {
        let ca = RedisTls {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..RedisTls::default()
        };
        let url = "redis://127.0.0.1:6379";
        assert!(matches!(
            tls_for(url, &info(url), &RedisTls::default()),
            Ok(None)
        ));
        let err = tls_for(url, &info(url), &ca).unwrap_err();
        assert!(
            matches!(&err, BusError::Config(m) if m.contains("rediss://")),
            "{err}"
        );
        let url = "rediss://127.0.0.1:6379/#insecure";
        assert!(matches!(
            tls_for(url, &info(url), &ca),
            Err(BusError::Config(_))
        ));
        let url = "rediss://127.0.0.1:6379";
        let err = tls_for(url, &info(url), &ca).unwrap_err();
        assert!(
            matches!(&err, BusError::Tls(m) if m.contains("PL_REDIS_CA_FILE")),
            "{err}"
        );
        let half = RedisTls {
            cert_file: Some("/nonexistent/c.pem".into()),
            ..RedisTls::default()
        };
        assert!(matches!(
            tls_for(url, &info(url), &half),
            Err(BusError::Config(_))
        ));
    }

    #[test]
    fn files_without_pem_are_refused() {
        let dir = std::env::temp_dir().join(format!("plezi-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let err = TlsSetup::load(&RedisTls {
            ca_file: Some(junk),
            ..RedisTls::default()
        })
        .unwrap_err();
        assert!(
            matches!(&err, BusError::Tls(m) if m.contains("no PEM certificate")),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
