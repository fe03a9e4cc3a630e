//! The local certificate authority behind `--intercept-twilio`: made on first start, reused on
//! every later one, so a client told once to trust `{data-dir}/ca.pem` keeps trusting depot.
//! Its key never leaves the data dir (mode 0600, like everything depot writes there).
//!
//! Beside the CA certificate depot writes `ca-bundle.pem`: the system's roots plus the CA.
//! Python's `requests` takes `REQUESTS_CA_BUNDLE` *instead of* the system bundle, so pointing it
//! at `ca.pem` alone would break every other https call of the same program.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// The CA certificate a client trusts (`NODE_EXTRA_CA_CERTS`).
pub const CERT_FILE: &str = "ca.pem";
/// The CA's private key.
pub const KEY_FILE: &str = "ca-key.pem";
/// System roots plus the CA (`REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`).
pub const BUNDLE_FILE: &str = "ca-bundle.pem";

/// Where distributions keep their trusted roots as one PEM file (Debian/Ubuntu, Fedora/RHEL,
/// openSUSE, Alpine).
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Ten years: the CA is trusted once by hand and should not lapse under a running setup.
const CA_VALID_DAYS: i64 = 3650;

/// Why the CA could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a usable CA key or certificate ({source})")]
    Invalid { path: PathBuf, source: rcgen::Error },
    #[error("cannot make the CA: {0}")]
    Make(#[from] rcgen::Error),
}

/// The CA: its certificate (PEM and DER) and what signs leaf certificates.
pub struct Ca {
    pub cert_pem: String,
    pub cert_der: rustls_pki_types::CertificateDer<'static>,
    pub issuer: Issuer<'static, KeyPair>,
    /// Paths a client is told about.
    pub cert_path: PathBuf,
    pub bundle_path: PathBuf,
}

/// The CA's subject; fixed, so the issuer can be rebuilt from the key alone on a restart.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "depot local CA (--intercept-twilio)");
    name.push(DnType::OrganizationName, "depot");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Loads the CA from `dir`, or makes and stores one when either file is missing, then
/// (re)writes the bundle, since the system's roots may have changed since the last start.
pub fn load_or_create(dir: &Path) -> Result<Ca, CaError> {
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    let (cert_pem, key) = if cert_path.exists() && key_path.exists() {
        load(&cert_path, &key_path)?
    } else {
        create(&cert_path, &key_path)?
    };
    let cert_der = pem_to_der(&cert_pem).ok_or_else(|| CaError::Invalid {
        path: cert_path.clone(),
        source: rcgen::Error::CouldNotParseCertificate,
    })?;
    let bundle_path = dir.join(BUNDLE_FILE);
    write_private(&bundle_path, bundle(&cert_pem).as_bytes())?;
    Ok(Ca {
        cert_pem,
        cert_der,
        issuer: Issuer::new(ca_params(), key),
        cert_path,
        bundle_path,
    })
}

fn load(cert_path: &Path, key_path: &Path) -> Result<(String, KeyPair), CaError> {
    let read = |path: &Path| {
        // An older file may predate the data dir's private mode.
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        std::fs::read_to_string(path).map_err(|source| CaError::Io {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(cert_path)?;
    let key = KeyPair::from_pem(&read(key_path)?).map_err(|source| CaError::Invalid {
        path: key_path.to_owned(),
        source,
    })?;
    Ok((cert_pem, key))
}

fn create(cert_path: &Path, key_path: &Path) -> Result<(String, KeyPair), CaError> {
    let key = KeyPair::generate()?;
    let mut params = ca_params();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(CA_VALID_DAYS);
    let cert = params.self_signed(&key)?;
    // The key first: a certificate without its key would be reused and sign nothing.
    write_private(key_path, key.serialize_pem().as_bytes())?;
    let cert_pem = cert.pem();
    write_private(cert_path, cert_pem.as_bytes())?;
    tracing::info!(path = %cert_path.display(), "made a local CA for --intercept-twilio");
    Ok((cert_pem, key))
}

/// Parameters of a leaf certificate for `host`, valid for `days` from now.
pub fn leaf_params(host: &str, days: i64) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(vec![host.to_owned()])?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, host);
    params.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Strict verifiers (Python 3.13's VERIFY_X509_STRICT) require the authority key id.
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// The system's roots (the first bundle found) followed by the CA.
fn bundle(ca_pem: &str) -> String {
    let system = SYSTEM_BUNDLES
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok());
    let mut out = match system {
        Some(roots) => roots,
        None => {
            tracing::warn!(
                "no system CA bundle found: {BUNDLE_FILE} holds depot's CA only, so other https \
                 calls of a client that uses it will fail"
            );
            String::new()
        }
    };
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("# depot local CA (--intercept-twilio)\n");
    out.push_str(ca_pem);
    out
}

/// Writes `bytes` to `path` readable by depot's user only, replacing it whole.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CaError> {
    let io = |source| CaError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The DER of the first certificate in `pem`.
fn pem_to_der(pem: &str) -> Option<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject as _;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_ca_is_made_once_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        for file in [CERT_FILE, KEY_FILE, BUNDLE_FILE] {
            assert_eq!(mode(&dir.path().join(file)), 0o600, "{file}");
        }
        let second = load_or_create(dir.path()).unwrap();
        assert_eq!(first.cert_pem, second.cert_pem);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CERT_FILE)).unwrap(),
            first.cert_pem
        );
        let bundle = std::fs::read_to_string(dir.path().join(BUNDLE_FILE)).unwrap();
        assert!(bundle.ends_with(&first.cert_pem));
        assert_eq!(bundle.matches(first.cert_pem.as_str()).count(), 1);
    }

    #[test]
    fn a_missing_key_makes_a_new_ca() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        let second = load_or_create(dir.path()).unwrap();
        assert_ne!(first.cert_pem, second.cert_pem);
    }

    #[test]
    fn a_corrupt_key_is_an_error_not_a_new_ca() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "not a key").unwrap();
        assert!(matches!(
            load_or_create(dir.path()),
            Err(CaError::Invalid { .. })
        ));
    }

    #[test]
    fn a_reloaded_ca_signs_leaves_that_chain_to_the_stored_certificate() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        let ca = load_or_create(dir.path()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = leaf_params("serverless.twilio.com", 30)
            .unwrap()
            .signed_by(&key, &ca.issuer)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert_der.clone()).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .unwrap();
        let name = rustls_pki_types::ServerName::try_from("serverless.twilio.com").unwrap();
        let now = rustls_pki_types::UnixTime::now();
        use rustls::client::danger::ServerCertVerifier as _;
        verifier
            .verify_server_cert(leaf.der(), &[], &name, &[], now)
            .unwrap();
        let other = rustls_pki_types::ServerName::try_from("api.twilio.com").unwrap();
        assert!(verifier
            .verify_server_cert(leaf.der(), &[], &other, &[], now)
            .is_err());
    }
}
