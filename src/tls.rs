//! Whom nurture trusts over TLS, for every server it reaches (SMTP, IMAP,
//! PostgreSQL): the system's CA store (Debian's `/etc/ssl/certs`, where an
//! enterprise installs its private CA with `update-ca-certificates`), plus
//! the certificates of a server's optional `ca_file` (PEM: a managed
//! database's CA bundle, an internal relay's CA).

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The certificates of a PEM file; an error names the file and what to do.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let at = path.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("ca_file {at}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("ca_file {at}: {e}; it must hold PEM certificates (-----BEGIN CERTIFICATE-----)"))?;
    if certs.is_empty() {
        return Err(format!("ca_file {at}: no certificate in it; it must hold PEM certificates"));
    }
    Ok(certs)
}

/// The system's CA store, and `ca_file`'s certificates when given.
pub fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!("No CA certificate in the system's store (install ca-certificates); only ca_file is trusted.");
    }
    if let Some(path) = ca_file {
        for cert in certificates(path)? {
            roots.add(cert).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(certificates(&empty).unwrap_err().contains("no certificate"), "{:?}", certificates(&empty));
        assert!(certificates(&dir.path().join("missing.pem")).unwrap_err().contains("missing.pem"));
    }
}
