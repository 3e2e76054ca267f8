//! A cluster that speaks TLS, with a self-signed certificate made by openssl.

use std::path::Path;
use std::process::Command;

use super::cluster::{hand_to_postgres, pgbin, Cluster};

/// A self-signed certificate and its key in a new directory given to the
/// servers' user; the directory must outlive the clusters using it.
pub fn self_signed_cert() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pgcopydb-test-cert-")
        .tempdir()
        .expect("create cert dir");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-days",
            "2",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .args(["-keyout", "server.key", "-out", "server.crt"])
        .current_dir(dir.path())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in ["", "server.key", "server.crt"] {
        hand_to_postgres(&dir.path().join(file));
    }
    dir
}

/// A cluster with ssl on, serving the certificate of `cert_dir`.
pub fn start_ssl(cert_dir: &Path) -> Cluster {
    let cert = cert_dir.join("server.crt");
    let key = cert_dir.join("server.key");
    Cluster::start_with(
        &pgbin(),
        &[
            ("ssl", "on"),
            ("ssl_cert_file", &cert.to_string_lossy()),
            ("ssl_key_file", &key.to_string_lossy()),
        ],
    )
}
