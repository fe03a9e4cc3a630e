//! `--intercept-twilio`: depot as the HTTPS proxy of unmodified Twilio clients. A client told
//! `HTTPS_PROXY`/`HTTP_PROXY=http://depot` opens a `CONNECT` tunnel to, say,
//! `serverless.twilio.com:443`; depot answers it itself, terminates TLS with a certificate its
//! local CA mints for that host, and serves the decrypted requests as depot. Nothing is ever
//! forwarded anywhere: targets other than the hosts in [`hosts`] are refused (docs/intercept.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Uri};
use rustls::crypto::CryptoProvider;
use rustls::ServerConfig;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

pub mod ca;
pub mod hosts;
pub(crate) mod tunnel;

/// How long a minted leaf certificate is valid, and after how long depot mints a fresh one:
/// a long-running depot never serves one near its end.
const LEAF_VALID_DAYS: i64 = 30;
const LEAF_REMINT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Leaf certificates kept; the allowed hosts are few in practice, and the bound keeps a client
/// cycling through every edge/region form from growing memory.
const LEAF_CACHE: usize = 256;

/// The interception state the listener shares: the CA, the one key every leaf certificate
/// certifies, and a TLS configuration per host, minted on first use.
pub struct Intercept {
    ca: ca::Ca,
    leaf_key: rcgen::KeyPair,
    provider: Arc<CryptoProvider>,
    leaves: quick_cache::sync::Cache<String, (Instant, Arc<ServerConfig>)>,
    /// Environment domains stay reachable in absolute form (COMPAT §2.1).
    pub(crate) host_domain: String,
}

/// Why interception could not start or a tunnel could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InterceptError {
    #[error("local CA: {0}")]
    Ca(#[from] ca::CaError),
    #[error("cannot mint a certificate: {0}")]
    Mint(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// Marks a request that arrived inside an intercepted tunnel; set by the listener only, so no
/// client header can claim it. Its host is the validated `CONNECT` target.
#[derive(Debug, Clone)]
pub struct Tunneled {
    pub host: Arc<str>,
}

impl Tunneled {
    /// The base of response URLs inside the tunnel: `https://` and the request's Host when it
    /// is an intercepted host, else the tunnel's own. A client follows `next_page_url`; an
    /// `http://` or foreign URL would leave the proxy, credentials and all.
    pub fn base_url(&self, uri: &Uri, headers: &HeaderMap) -> String {
        let requested = crate::host::request_host(uri, headers)
            .map(crate::host::host_without_port)
            .map(str::to_ascii_lowercase);
        match requested {
            Some(host) if hosts::is_intercepted(&host) => format!("https://{host}"),
            _ => format!("https://{}", self.host),
        }
    }
}

impl Intercept {
    /// Loads or makes the CA under `data_dir`; a fresh leaf key per process.
    pub fn start(
        data_dir: &std::path::Path,
        host_domain: &str,
    ) -> Result<Intercept, InterceptError> {
        let ca = ca::load_or_create(data_dir)?;
        Ok(Intercept {
            ca,
            leaf_key: rcgen::KeyPair::generate()?,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            leaves: quick_cache::sync::Cache::new(LEAF_CACHE),
            host_domain: host_domain.to_owned(),
        })
    }

    /// Where the CA certificate is (`NODE_EXTRA_CA_CERTS`).
    pub fn ca_path(&self) -> &std::path::Path {
        &self.ca.cert_path
    }

    /// Where the system roots plus the CA are (`REQUESTS_CA_BUNDLE`).
    pub fn bundle_path(&self) -> &std::path::Path {
        &self.ca.bundle_path
    }

    /// The lines `depot serve` prints for a user to export, for a proxy at `proxy`.
    pub fn exports(&self, proxy: &str) -> Vec<String> {
        vec![
            format!("export HTTPS_PROXY={proxy}  # twilio-python"),
            format!("export HTTP_PROXY={proxy}  # twilio-node, twilio-run, the Twilio CLI"),
            format!("export REQUESTS_CA_BUNDLE={}", self.bundle_path().display()),
            format!("export NODE_EXTRA_CA_CERTS={}", self.ca_path().display()),
        ]
    }

    /// The TLS configuration for `host` (an allowed, lower-case host): cached, minted when
    /// missing or old.
    pub fn tls_config(&self, host: &str) -> Result<Arc<ServerConfig>, InterceptError> {
        if let Some((minted, config)) = self.leaves.get(host) {
            if minted.elapsed() < LEAF_REMINT {
                return Ok(config);
            }
        }
        let config = Arc::new(self.mint(host)?);
        self.leaves
            .insert(host.to_owned(), (Instant::now(), config.clone()));
        Ok(config)
    }

    fn mint(&self, host: &str) -> Result<ServerConfig, InterceptError> {
        let leaf =
            ca::leaf_params(host, LEAF_VALID_DAYS)?.signed_by(&self.leaf_key, &self.ca.issuer)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), self.ca.cert_der.clone()], key)?;
        // Clients offer http/1.1, h2 or nothing; the connection underneath speaks both.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(tunnel: &str, uri: &str, host: Option<&str>) -> String {
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(axum::http::header::HOST, host.parse().unwrap());
        }
        let tunneled = Tunneled {
            host: tunnel.into(),
        };
        tunneled.base_url(&uri.parse().unwrap(), &headers)
    }

    #[test]
    fn tunnel_urls_are_https_on_an_intercepted_host_only() {
        let t = "serverless.twilio.com";
        assert_eq!(
            base(t, "/v1/Services", Some("serverless.twilio.com")),
            "https://serverless.twilio.com"
        );
        assert_eq!(
            base(t, "/v1/Services", Some("SERVERLESS-UPLOAD.twilio.com:443")),
            "https://serverless-upload.twilio.com"
        );
        assert_eq!(
            base(t, "https://api.twilio.com/x", None),
            "https://api.twilio.com"
        );
        for foreign in [
            "evil.example",
            "serverless.twilio.com.evil.com",
            "127.0.0.1:4000",
        ] {
            assert_eq!(
                base(t, "/v1/Services", Some(foreign)),
                "https://serverless.twilio.com",
                "{foreign}"
            );
        }
        assert_eq!(
            base(t, "/v1/Services", None),
            "https://serverless.twilio.com"
        );
    }
}
