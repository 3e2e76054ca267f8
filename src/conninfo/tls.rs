//! libpq's sslmode semantics on rustls (ring provider).
//!
//! - disable: no TLS; allow is treated as prefer.
//! - prefer/require: TLS without checking the certificate, unless a root
//!   certificate file exists (sslrootcert or ~/.postgresql/root.crt), in
//!   which case libpq checks the chain like verify-ca; so do we.
//! - verify-ca: chain checked against the roots, host name not checked.
//! - verify-full: chain and host name checked.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::ConnInfo;

/// How much of the server certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// TLS policy: Prefer falls back to plain text, Require does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    Prefer(Check),
    Require(Check),
}

impl Verify {
    fn check(self) -> Check {
        match self {
            Verify::Prefer(c) | Verify::Require(c) => c,
        }
    }
}

fn postgresql_dir_file(info: &ConnInfo, name: &str) -> Option<PathBuf> {
    info.home.as_ref().map(|h| h.join(".postgresql").join(name))
}

/// sslrootcert, or libpq's default ~/.postgresql/root.crt.
fn rootcert(info: &ConnInfo) -> Option<PathBuf> {
    match info.get("sslrootcert") {
        Some(p) => Some(PathBuf::from(p)),
        None => postgresql_dir_file(info, "root.crt"),
    }
}

/// The TLS policy of `info`; None means no TLS at all.
pub(crate) fn sslmode(info: &ConnInfo) -> Result<Option<Verify>> {
    let system = info.get("sslrootcert") == Some("system");
    let mode = match info.get("sslmode") {
        Some(m) => m,
        None if info.get("requiressl") == Some("1") => "require",
        // libpq: trusting the system's CAs only makes sense with host names checked.
        None if system => "verify-full",
        None => "prefer",
    };
    let have_root = system || rootcert(info).is_some_and(|p| p.is_file());
    let weak = if have_root {
        Check::Chain
    } else {
        Check::Nothing
    };
    Ok(match mode {
        "disable" => None,
        "allow" | "prefer" => Some(Verify::Prefer(weak)),
        "require" => Some(Verify::Require(weak)),
        "verify-ca" => Some(Verify::Require(Check::Chain)),
        "verify-full" => Some(Verify::Require(Check::ChainAndName)),
        other => bail!("invalid sslmode value: \"{other}\""),
    })
}

/// The rustls connector for `info` (also what CancelToken::cancel_query needs).
pub(crate) fn make_tls(info: &ConnInfo) -> Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let check = sslmode(info)?.map_or(Check::Nothing, Verify::check);
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(AnyCertificate(provider.clone())),
        Check::Chain => Arc::new(IgnoreName(webpki(info, &provider)?)),
        Check::ChainAndName => webpki(info, &provider)?,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup")?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client_cert(info)? {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .context("invalid client certificate or key")?,
        None => builder.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

fn webpki(info: &ConnInfo, provider: &Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>> {
    let mut roots = RootCertStore::empty();
    match info.get("sslrootcert") {
        Some("system") => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
        _ => {
            let path = rootcert(info)
                .ok_or_else(|| anyhow!("no root certificate file: set sslrootcert"))?;
            if !path.is_file() {
                bail!(
                    "root certificate file \"{}\" does not exist; either provide the file, use the system's trusted roots with sslrootcert=system, or change sslmode to disable server certificate verification",
                    path.display()
                );
            }
            for cert in pem_certs(&path)? {
                roots.add(cert).with_context(|| {
                    format!("invalid root certificate in \"{}\"", path.display())
                })?;
            }
        }
    }
    if roots.is_empty() {
        bail!("no usable root certificate found");
    }
    let mut builder =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if let Some(crl) = info.get("sslcrl").map(Path::new).filter(|p| p.is_file()) {
        let crls = CertificateRevocationListDer::pem_file_iter(crl)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                anyhow!(
                    "could not load SSL certificate revocation list \"{}\": {e}",
                    crl.display()
                )
            })?;
        builder = builder.with_crls(crls);
    }
    builder.build().context("TLS verifier setup")
}

fn pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow!(
                "could not read certificate file \"{}\": {e}",
                path.display()
            )
        })
}

/// sslcert/sslkey, defaulting to ~/.postgresql/postgresql.{crt,key}; like
/// libpq, a missing certificate file simply means no client certificate.
fn client_cert(
    info: &ConnInfo,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
    let cert = match info.get("sslcert") {
        Some(p) => PathBuf::from(p),
        None => match postgresql_dir_file(info, "postgresql.crt") {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    if !cert.is_file() {
        return Ok(None);
    }
    let key = info
        .get("sslkey")
        .map(PathBuf::from)
        .or_else(|| postgresql_dir_file(info, "postgresql.key"))
        .filter(|k| k.is_file())
        .ok_or_else(|| anyhow!("certificate present, but not private key file"))?;
    let meta = std::fs::metadata(&key)?;
    // libpq's rule: 0600 or less for the owner, 0640 or less when owned by root.
    let allowed = if meta.uid() == 0 { 0o037 } else { 0o077 };
    if meta.mode() & allowed != 0 {
        bail!(
            "private key file \"{}\" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root",
            key.display()
        );
    }
    let certs = pem_certs(&cert)?;
    let key = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| anyhow!("could not load private key file \"{}\": {e}", key.display()))?;
    Ok(Some((certs, key)))
}

/// sslmode=prefer/require without roots: encryption without authentication,
/// as in libpq. The handshake signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// verify-ca: the full WebPKI check, minus the host name.
#[derive(Debug)]
struct IgnoreName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for IgnoreName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The name check comes last in WebPkiServerVerifier, so a name error
        // means everything else (chain, validity, revocation) passed.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
