//! A real `depot serve` on a free port with a temporary data dir, and a raw `CONNECT` + TLS
//! client for the protocol tests.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use tokio::io::{
    AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader as Buffered,
};
use tokio::net::TcpStream;

pub const SID: &str = "AC1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c";
pub const TOKEN: &str = "intercept-token";

/// `depot serve`; killed when dropped, so a failed assertion leaks nothing.
pub struct Depot {
    child: Child,
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    /// What it printed up to and including the lines to export.
    pub printed: Vec<String>,
}

impl Drop for Depot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Depot {
    pub fn start(args: &[&str]) -> Depot {
        Depot::start_in(tempfile::tempdir().unwrap(), args)
    }

    /// Starts on `data` (a restart when it was used before).
    pub fn start_in(data: tempfile::TempDir, args: &[&str]) -> Depot {
        Depot::start_with(data, args, &[])
    }

    /// Starts on `data` with `vars` set in depot's environment.
    pub fn start_with(data: tempfile::TempDir, args: &[&str], vars: &[(&str, &str)]) -> Depot {
        let mut command = Command::new(env!("CARGO_BIN_EXE_depot"));
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .args(args)
            .env("DEPOT_ACCOUNT_SID", SID)
            .env("DEPOT_AUTH_TOKEN", TOKEN)
            .env("DEPOT_NPM_CACHE", npm_cache())
            .env_remove("DEPOT_PUBLIC_URL")
            .env_remove("DEPOT_HOST_DOMAIN")
            .env_remove("DEPOT_INTERCEPT_TWILIO")
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let intercepting =
            args.contains(&"--intercept-twilio") || vars.contains(&("DEPOT_INTERCEPT_TWILIO", "1"));
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut printed = Vec::new();
        let mut addr = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                let _ = child.kill();
                panic!("depot exited early; printed {printed:?}");
            }
            if let Some(at) = line.find("listening on http://") {
                addr = Some(line[at + 20..].trim().parse().unwrap());
            }
            let done = addr.is_some() && (!intercepting || line.contains("NODE_EXTRA_CA_CERTS"));
            printed.push(line.trim_end().to_owned());
            if done {
                break;
            }
        }
        // Keep draining stdout so that depot never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        Depot {
            child,
            addr: addr.unwrap(),
            data,
            printed,
        }
    }

    /// Stops depot and hands back its data dir.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.data, tempfile::tempdir().unwrap())
    }

    pub fn proxy(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.data.path().join("ca.pem")).unwrap()
    }
}

/// npm's cache for function builds, shared with the API tests (under the target dir).
pub fn npm_cache() -> std::path::PathBuf {
    std::env::var_os("DEPOT_TEST_NPM_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("depot-npm"))
        .join("npm-cache")
}

/// Sends `head` (a request line and headers, without the blank line) and returns the status
/// line of the answer and the connection, positioned after the answer's head.
pub async fn send_head(addr: SocketAddr, head: &str) -> (String, Buffered<TcpStream>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{head}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut reader = Buffered::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).await.unwrap();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).await.unwrap();
        if n == 0 || line == "\r\n" {
            break;
        }
    }
    (status.trim_end().to_owned(), reader)
}

pub type Tls = tokio_rustls::client::TlsStream<Buffered<TcpStream>>;

/// TLS over an open tunnel, trusting only depot's CA, with `server_name` as SNI.
pub async fn open_tls(
    tunnel: Buffered<TcpStream>,
    ca_pem: &str,
    server_name: &str,
    alpn: &[&[u8]],
) -> std::io::Result<Tls> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = rustls_pki_types::ServerName::try_from(server_name.to_owned()).unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tunnel)
        .await
}

/// One HTTP/1.1 request on `tls`, kept alive; the status and the body.
pub async fn get(tls: &mut Tls, host: &str, path: &str) -> (u16, String) {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tls.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a content-length");
    let mut body = vec![0; length];
    tls.read_exact(&mut body).await.unwrap();
    (status, String::from_utf8(body).unwrap())
}
