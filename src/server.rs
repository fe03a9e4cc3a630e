//! The listener: accepts TCP connections and serves each with hyper (HTTP/1.1 and h2c) under
//! limits that keep slow, idle or numerous clients from exhausting depot.
//!
//! Each connection has a watchdog that knows, from the socket's own reads and writes and from
//! the requests in flight, which of three states it is in, and closes it when that state lasts
//! too long: reading a request head (`header_timeout`, from the first byte), idle between
//! requests (`idle_timeout`), or serving a request that makes no progress either way
//! (`body_timeout`: a stalled upload or a client that stopped reading). Closing drops the
//! request, so a stalled upload is abandoned like a disconnected one and leaves nothing behind.
//! Connections are capped; at the cap, idle ones are closed to make room for a new one, which
//! is turned away if none is idle within a second.
//!
//! With `--intercept-twilio` a connection may also become a tunnel (`CONNECT`, then TLS, then
//! HTTP again inside, [`crate::intercept`]); the tunnel stays on the same task, slot and
//! watchdog as the connection it came from. Without the flag, connections are served exactly
//! as before: no upgrade machinery on the asset host's path.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify, Semaphore};

use crate::intercept::tunnel::{self, Decision, Pending};
use crate::intercept::{Intercept, Tunneled};

/// Connection limits (`depot serve` flags; defaults follow nginx).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// From the first byte of a request head to its end.
    pub header_timeout: Duration,
    /// Between requests on a keep-alive connection.
    pub idle_timeout: Duration,
    /// Longest time a request may go without reading or writing a byte.
    pub body_timeout: Duration,
    /// Open connections at most; at the cap idle ones are closed to make room.
    pub max_connections: usize,
    /// Largest request head (request line and headers); more is answered 431.
    pub max_header_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(75),
            body_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_header_bytes: 32 << 10,
        }
    }
}

/// hyper's smallest read buffer: a head cap below it cannot be enforced.
pub const MIN_HEADER_BYTES: usize = 8192;

/// File descriptors kept for the database, blob files and logs beside the connections.
const RESERVED_FDS: u64 = 256;

/// What a connection serves: one function from a request to a response.
pub type Handler =
    Arc<dyn Fn(http::Request<Body>) -> BoxFuture<'static, http::Response<Body>> + Send + Sync>;

/// Raises the file-descriptor soft limit to the hard limit and returns how many connections
/// fit beside [`RESERVED_FDS`]; never more than asked.
pub fn connection_capacity(wanted: usize) -> usize {
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!(error = %err, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .map(|(soft, _)| soft)
                .unwrap_or(1024)
        }
    };
    let room = usize::try_from(soft.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX);
    if wanted > room {
        tracing::warn!(
            wanted,
            allowed = room,
            open_files = soft,
            "--max-connections lowered to fit the open-file limit"
        );
    }
    wanted.min(room).max(1)
}

/// The listening sockets: one per core, all on one port (`SO_REUSEPORT`), so the kernel
/// spreads connections over the cores and each is served start to end by one thread.
pub struct Listeners {
    sockets: Vec<std::net::TcpListener>,
}

impl Listeners {
    /// Binds `addr` once per core (port 0 picks one free port for all of them). A port that
    /// another process listens on is an error, as with a single socket: `SO_REUSEPORT` would
    /// otherwise let a second depot quietly share it.
    pub fn bind(addr: SocketAddr) -> io::Result<Listeners> {
        if addr.port() != 0 {
            drop(listening(addr, false)?);
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let first = listening(addr, true)?;
        let addr = first.local_addr()?;
        let mut sockets = vec![first];
        for _ in 1..cores {
            sockets.push(listening(addr, true)?);
        }
        Ok(Listeners { sockets })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sockets[0].local_addr()
    }
}

/// A non-blocking listening socket on `addr`. `SO_REUSEADDR` always, so connections of an
/// earlier run still in TIME_WAIT do not block the port; `SO_REUSEPORT` when `shared`, so the
/// sockets of one depot can share it (and a check without it finds another process's).
fn listening(addr: SocketAddr, shared: bool) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(shared)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// What every accept loop shares.
struct Shared {
    handler: Handler,
    limits: Arc<ConnectionLimits>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    slots: Arc<Semaphore>,
    pressure: Arc<Notify>,
    intercept: Option<Arc<Intercept>>,
}

/// Accepts and serves connections until `shutdown` resolves, then lets in-flight requests
/// finish and returns once every connection has closed. Each listening socket has a thread
/// with a single-threaded runtime of its own: a connection never crosses cores.
pub async fn serve(
    listeners: Listeners,
    handler: Handler,
    limits: ConnectionLimits,
    intercept: Option<Arc<Intercept>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let capacity = connection_capacity(limits.max_connections);
    let limits = Arc::new(limits);
    let shared = Arc::new(Shared {
        handler,
        builder: Arc::new(builder(&limits)),
        limits,
        slots: Arc::new(Semaphore::new(capacity)),
        pressure: Arc::new(Notify::new()),
        intercept,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut threads = Vec::new();
    for (n, socket) in listeners.sockets.into_iter().enumerate() {
        let (shared, stop) = (shared.clone(), stop_rx.clone());
        let thread = std::thread::Builder::new()
            .name(format!("depot-http-{n}"))
            .spawn(move || -> io::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(accept_loop(socket, shared, stop))
            })?;
        threads.push(thread);
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    let joined = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(io::Error::other("listener thread panicked")))
            })
            .collect::<io::Result<Vec<()>>>()
    })
    .await
    .map_err(io::Error::other)?;
    joined.map(|_| ())
}

/// One listening socket's loop: accept, serve on this thread, and on stop wait for this
/// thread's connections to close.
async fn accept_loop(
    socket: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let listener = TcpListener::from_std(socket)?;
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.changed() => break,
            Some(_) = connections.join_next() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(&err).await;
                    continue;
                }
            },
        };
        let Some(slot) = make_room(&shared.slots, &shared.pressure).await else {
            tracing::warn!(%peer, "connection refused: at --max-connections and none idle");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            handler: shared.handler.clone(),
            limits: shared.limits.clone(),
            builder: shared.builder.clone(),
            pressure: shared.pressure.clone(),
            stop: stop.clone(),
            intercept: shared.intercept.clone(),
        };
        connections.spawn(async move {
            connection.run(stream, peer).await;
            drop(slot);
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// How long a new connection waits for idle ones to make room at the cap.
const ROOM_WAIT: Duration = Duration::from_secs(1);

/// A free connection slot; at the cap, idle connections are asked to close and the new one
/// waits a moment for one of them.
async fn make_room(
    slots: &Arc<Semaphore>,
    pressure: &Notify,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    if let Ok(slot) = slots.clone().try_acquire_owned() {
        return Some(slot);
    }
    pressure.notify_waiters();
    tokio::time::timeout(ROOM_WAIT, slots.clone().acquire_owned())
        .await
        .ok()?
        .ok()
}

/// Logs a failed accept; out of file descriptors or memory, waits a moment instead of spinning.
async fn accept_failed(err: &io::Error) {
    tracing::warn!(error = %err, "accept failed");
    let exhausted = matches!(err.raw_os_error(), Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
        || code == rustix::io::Errno::NFILE.raw_os_error()
        || code == rustix::io::Errno::NOBUFS.raw_os_error()
        || code == rustix::io::Errno::NOMEM.raw_os_error());
    if exhausted {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // The watchdog times request heads itself (from the first byte, not from idle).
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(32)
        .max_pending_accept_reset_streams(64);
    builder
}

struct Connection {
    handler: Handler,
    limits: Arc<ConnectionLimits>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    pressure: Arc<Notify>,
    stop: watch::Receiver<bool>,
    intercept: Option<Arc<Intercept>>,
}

/// What the watchdog tells its connection.
enum Verdict {
    /// Close now, for this reason.
    Close(&'static str),
    /// Finish the request in flight, then close.
    Drain,
}

impl Connection {
    /// Serves the connection. Its watchdog runs as a task of its own, so that the connection's
    /// hot path polls one private channel and never the listener's shared signals.
    async fn run(self, stream: TcpStream, peer: SocketAddr) {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            stream,
            activity: activity.clone(),
        });
        let service = ConnService {
            handler: self.handler.clone(),
            activity: activity.clone(),
            tunnel: None,
        };
        let (tell, mut told) = mpsc::unbounded_channel();
        let watchdog = tokio::spawn(oversee(
            activity.clone(),
            self.limits.clone(),
            self.pressure.clone(),
            self.stop.clone(),
            tell,
        ));
        match self.intercept.clone() {
            None => {
                let conn = self.builder.serve_connection(io, service);
                tokio::pin!(conn);
                drive(conn, |c| c.graceful_shutdown(), &mut told, peer).await;
            }
            Some(intercept) => {
                let opened = Arc::new(std::sync::Mutex::new(None));
                let service = ProxyService {
                    inner: service,
                    intercept: intercept.clone(),
                    opened: opened.clone(),
                };
                let conn = self.builder.serve_connection_with_upgrades(io, service);
                tokio::pin!(conn);
                let ended = drive(conn, |c| c.graceful_shutdown(), &mut told, peer).await;
                let pending = opened.lock().ok().and_then(|mut slot| slot.take());
                if let (true, Some(pending)) = (ended, pending) {
                    self.tunnel(pending, &intercept, activity, &mut told, peer)
                        .await;
                }
            }
        }
        watchdog.abort();
    }

    /// Serves a tunnel the client opened with `CONNECT`: TLS with a certificate for its host,
    /// then HTTP inside, every request marked [`Tunneled`]. The handshake is timed like a
    /// request head (the watchdog saw its first byte).
    async fn tunnel(
        &self,
        pending: Pending,
        intercept: &Intercept,
        activity: Arc<Activity>,
        told: &mut mpsc::UnboundedReceiver<Verdict>,
        peer: SocketAddr,
    ) {
        let host = pending.host;
        let handshake = async {
            let upgraded = pending.upgrade.await.map_err(io::Error::other)?;
            tunnel::accept(intercept, &host, TokioIo::new(upgraded)).await
        };
        let tls = tokio::select! {
            biased;
            _ = told.recv() => {
                tracing::debug!(%peer, %host, "tunnel closed during its TLS handshake");
                return;
            }
            accepted = handshake => match accepted {
                Ok(tls) => tls,
                Err(err) => {
                    tracing::debug!(%peer, %host, error = %err, "tunnel TLS handshake failed");
                    return;
                }
            },
        };
        let service = ConnService {
            handler: self.handler.clone(),
            activity,
            tunnel: Some(Tunneled { host: host.into() }),
        };
        let conn = self.builder.serve_connection(TokioIo::new(tls), service);
        tokio::pin!(conn);
        drive(conn, |c| c.graceful_shutdown(), told, peer).await;
    }
}

/// Polls a connection to its end, acting on its watchdog's verdicts (`drain` is its graceful
/// shutdown). True when the connection ended by itself, false when the watchdog closed it.
async fn drive<C, E>(
    mut conn: Pin<&mut C>,
    drain: impl Fn(Pin<&mut C>),
    told: &mut mpsc::UnboundedReceiver<Verdict>,
    peer: SocketAddr,
) -> bool
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    loop {
        tokio::select! {
            biased;
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                return true;
            }
            verdict = told.recv() => match verdict {
                Some(Verdict::Close(reason)) => {
                    tracing::debug!(%peer, reason, "closing connection");
                    return false;
                }
                Some(Verdict::Drain) => drain(conn.as_mut()),
                None => {
                    let _ = conn.as_mut().await;
                    return true;
                }
            },
        }
    }
}

/// Watches one connection: wakes at the deadline of its current state, when the listener is
/// at its cap, and when the server stops.
async fn oversee(
    activity: Arc<Activity>,
    limits: Arc<ConnectionLimits>,
    pressure: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    tell: mpsc::UnboundedSender<Verdict>,
) {
    let mut draining = false;
    loop {
        let deadline = activity.deadline(&limits);
        tokio::select! {
            () = tokio::time::sleep_until(deadline.into()) => {
                if let Some(reason) = activity.expired(&limits) {
                    let _ = tell.send(Verdict::Close(reason));
                    return;
                }
            }
            () = pressure.notified() => {
                if activity.is_idle() {
                    let _ = tell.send(Verdict::Close("idle at the connection cap"));
                    return;
                }
            }
            changed = stop.changed(), if !draining => {
                if changed.is_err() || *stop.borrow() {
                    draining = true;
                    // Requests in flight finish; a connection between requests or still
                    // sending a head has nothing to finish.
                    let verdict = match activity.in_flight.load(Ordering::Relaxed) {
                        0 => Verdict::Close("stopping"),
                        _ => Verdict::Drain,
                    };
                    let _ = tell.send(verdict);
                }
            }
        }
    }
}

/// What the watchdog knows about one connection. Times are milliseconds since `origin`.
struct Activity {
    origin: Instant,
    /// Last read or write of at least one byte (or the end of a response).
    progress: AtomicU64,
    /// When bytes of a request head first arrived with no request in flight; 0 for none.
    head_started: AtomicU64,
    in_flight: AtomicU32,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            origin: Instant::now(),
            progress: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
        }
    }

    fn now(&self) -> u64 {
        // +1 keeps 0 free to mean "none" in `head_started`.
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
    }

    fn read(&self) {
        let now = self.now();
        self.progress.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let _ =
                self.head_started
                    .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.progress.store(self.now(), Ordering::Relaxed);
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
        InFlight(self.clone())
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
    }

    /// The state's start and its time limit.
    fn state(&self, limits: &ConnectionLimits) -> (u64, Duration, &'static str) {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            let since = self.progress.load(Ordering::Relaxed);
            return (
                since,
                limits.body_timeout,
                "request made no progress in time",
            );
        }
        match self.head_started.load(Ordering::Relaxed) {
            0 => (
                self.progress.load(Ordering::Relaxed),
                limits.idle_timeout,
                "idle too long",
            ),
            since => (
                since,
                limits.header_timeout,
                "request head not received in time",
            ),
        }
    }

    /// When the watchdog must look again: the current state's deadline, but no later than the
    /// shortest limit from now, since a state that starts later (a head after idling) may have
    /// a shorter limit and its deadline is never earlier than that.
    fn deadline(&self, limits: &ConnectionLimits) -> Instant {
        let (since, limit, _) = self.state(limits);
        let shortest = limits
            .header_timeout
            .min(limits.idle_timeout)
            .min(limits.body_timeout);
        (self.origin + Duration::from_millis(since) + limit).min(Instant::now() + shortest)
    }

    /// Why the connection must close now, if it must.
    fn expired(&self, limits: &ConnectionLimits) -> Option<&'static str> {
        let (since, limit, reason) = self.state(limits);
        let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        (self.now().saturating_sub(since) >= limit_ms).then_some(reason)
    }
}

/// A request in flight on its connection; dropped when its response has been written.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.wrote();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The TCP stream, reporting every read and write to the connection's [`Activity`].
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The hyper service of one connection: counts requests in flight around the handler.
#[derive(Clone)]
struct ConnService {
    handler: Handler,
    activity: Arc<Activity>,
    /// Set on the connection inside a tunnel; every request carries it.
    tunnel: Option<Tunneled>,
}

impl ConnService {
    /// A response made without the handler, counted in flight like any other.
    fn answer(&self, response: http::Response<Body>) -> Tracked {
        Tracked {
            in_flight: Some(self.activity.begin()),
            response: Box::pin(std::future::ready(response)),
        }
    }
}

/// The service of a connection on an intercepting listener: `CONNECT` and proxy requests are
/// decided here, before authentication; everything else goes to [`ConnService`].
#[derive(Clone)]
struct ProxyService {
    inner: ConnService,
    intercept: Arc<Intercept>,
    /// The tunnel agreed to, for [`Connection::run`] once hyper lets go of the connection.
    opened: Arc<std::sync::Mutex<Option<Pending>>>,
}

impl hyper::service::Service<http::Request<Incoming>> for ProxyService {
    type Response = http::Response<TrackedBody>;
    type Error = Infallible;
    type Future = Tracked;

    fn call(&self, mut req: http::Request<Incoming>) -> Tracked {
        match tunnel::decide(&self.intercept, &mut req) {
            Decision::Serve => self.inner.call(req),
            Decision::Answer(response) => self.inner.answer(response),
            Decision::Tunnel(pending) => match self.opened.lock() {
                Ok(mut slot) => {
                    *slot = Some(pending);
                    self.inner.answer(tunnel::established())
                }
                Err(_) => self.inner.answer(
                    http::Response::builder()
                        .status(http::StatusCode::INTERNAL_SERVER_ERROR)
                        .body(Body::empty())
                        .unwrap_or_default(),
                ),
            },
        }
    }
}

impl hyper::service::Service<http::Request<Incoming>> for ConnService {
    type Response = http::Response<TrackedBody>;
    type Error = Infallible;
    type Future = Tracked;

    fn call(&self, mut req: http::Request<Incoming>) -> Tracked {
        let in_flight = self.activity.begin();
        if let Some(tunnel) = &self.tunnel {
            req.extensions_mut().insert(tunnel.clone());
        }
        Tracked {
            response: (self.handler)(req.map(Body::new)),
            in_flight: Some(in_flight),
        }
    }
}

/// The handler's answer, with its request counted until the response body is dropped.
struct Tracked {
    response: BoxFuture<'static, http::Response<Body>>,
    in_flight: Option<InFlight>,
}

impl Future for Tracked {
    type Output = Result<http::Response<TrackedBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = std::task::ready!(self.response.as_mut().poll(cx));
        let in_flight = self.in_flight.take();
        Poll::Ready(Ok(response.map(|body| TrackedBody {
            body,
            _in_flight: in_flight,
        })))
    }
}

/// A response body that keeps its request counted as in flight until it is dropped.
struct TrackedBody {
    body: Body,
    _in_flight: Option<InFlight>,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(300),
            body_timeout: Duration::from_millis(200),
            ..ConnectionLimits::default()
        }
    }

    #[test]
    fn each_state_has_its_own_limit() {
        let activity = Arc::new(Activity::new());
        let limits = limits();
        assert!(activity.is_idle());
        assert_eq!(activity.state(&limits).1, limits.idle_timeout);
        activity.read();
        assert!(!activity.is_idle());
        assert_eq!(activity.state(&limits).1, limits.header_timeout);
        let request = activity.begin();
        assert_eq!(activity.state(&limits).1, limits.body_timeout);
        drop(request);
        assert!(activity.is_idle());
        assert_eq!(activity.state(&limits).1, limits.idle_timeout);
    }

    #[test]
    fn the_watchdog_never_sleeps_past_a_shorter_state_that_starts_later() {
        let activity = Arc::new(Activity::new());
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(75),
            body_timeout: Duration::from_secs(60),
            ..ConnectionLimits::default()
        };
        // Idle now (75 s), but a head may start at any moment and must end within 60 s of it.
        let wake = activity.deadline(&limits);
        assert!(wake <= Instant::now() + Duration::from_secs(60));
        assert!(wake > Instant::now() + Duration::from_secs(59));
    }

    #[test]
    fn a_head_expires_from_its_first_byte_even_if_bytes_keep_coming() {
        let activity = Arc::new(Activity::new());
        let limits = limits();
        activity.read();
        std::thread::sleep(Duration::from_millis(60));
        activity.read();
        assert_eq!(activity.expired(&limits), None);
        std::thread::sleep(Duration::from_millis(60));
        activity.read();
        assert_eq!(
            activity.expired(&limits),
            Some("request head not received in time")
        );
    }
}
