//! What the listener does with a request when `--intercept-twilio` is on, before any
//! authentication: a `CONNECT` to an intercepted host becomes a tunnel, any other `CONNECT` and
//! any absolute-form request for a foreign host is refused, the rest is served as usual.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;

use super::{hosts, Intercept};

/// A tunnel the client asked for and depot agreed to: the host its TLS must present, and the
/// connection as it will be once hyper has written the `200` and let go of it.
pub(crate) struct Pending {
    pub host: String,
    pub upgrade: hyper::upgrade::OnUpgrade,
}

/// The fate of one request on an intercepting listener.
pub(crate) enum Decision {
    /// Answer `200` and open the tunnel once the answer is out.
    Tunnel(Pending),
    /// Answer this, without authentication or routing.
    Answer(Response<Body>),
    /// An ordinary request: serve it.
    Serve,
}

/// Decides what to do with `req`. `CONNECT` carries its target in the request line (clients
/// may send no Host header at all), and only that target counts.
pub(crate) fn decide(intercept: &Intercept, req: &mut Request<Incoming>) -> Decision {
    if req.method() == Method::CONNECT {
        // A tunnel takes over the whole connection, which an HTTP/2 stream cannot (and no
        // Twilio client tunnels over h2c).
        if req.version() >= Version::HTTP_2 {
            return Decision::Answer(refused("CONNECT is served over HTTP/1.1 only\n"));
        }
        let target = req.uri().authority().map(|a| a.as_str().to_owned());
        return match target.as_deref().and_then(hosts::connect_target) {
            Some(host) => Decision::Tunnel(Pending {
                host,
                upgrade: hyper::upgrade::on(req),
            }),
            None => {
                tracing::debug!(target = ?target, "CONNECT refused: not an intercepted host");
                Decision::Answer(refused(
                    "depot intercepts only serverless, serverless-upload and api.twilio.com \
                     (and their edge/region forms) on port 443\n",
                ))
            }
        };
    }
    // `GET http://example.com/` is a request to forward; depot forwards nothing. Environment
    // domains may be addressed in absolute form (RFC 9112 §3.2.2) and stay served.
    if req.version() < Version::HTTP_2 && req.uri().scheme().is_some() {
        let host = req.uri().host().unwrap_or_default();
        if !crate::host::is_environment_domain(host, &intercept.host_domain) {
            return Decision::Answer(refused("depot is not a forwarding proxy\n"));
        }
    }
    Decision::Serve
}

/// The `200` that opens a tunnel: no body, so hyper hands over the connection right after.
pub(crate) fn established() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::OK;
    response
}

fn refused(message: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Terminates TLS on the tunnel with a certificate for `host`.
pub(crate) async fn accept<IO>(
    intercept: &Intercept,
    host: &str,
    io: IO,
) -> std::io::Result<tokio_rustls::server::TlsStream<IO>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let config = intercept.tls_config(host).map_err(std::io::Error::other)?;
    tokio_rustls::TlsAcceptor::from(config).accept(io).await
}
