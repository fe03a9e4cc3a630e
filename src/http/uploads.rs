//! Streaming multipart parser for version uploads (COMPAT §7): parts in any order, each fed to
//! the domain's upload sink (`domain::uploads`), which owns the limits and the staging. This
//! side bounds what only the wire format can: the body, part headers, text parts.

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::header;
use futures_util::Stream;

use crate::domain::uploads::{Field, Sink};
use crate::error::ApiError;
use crate::AppState;

/// Bytes a text part (`Path`, `Visibility`) may have.
const MAX_TEXT_PART: usize = 4096;

/// Room for part headers and text fields on top of the largest content.
const ENVELOPE_BYTES: u64 = 1 << 20;

/// Reads an upload body into `sink`. A body that is not multipart carries no parts.
pub async fn parse(state: &AppState, sink: &mut Sink<'_>, req: Request) -> Result<(), ApiError> {
    let Some(boundary) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
    else {
        return Ok(());
    };
    let largest = sink.largest();
    let body_cap = largest.map(|l| l.saturating_add(ENVELOPE_BYTES));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let (Some(cap), Some(len)) = (body_cap, declared) {
        if len > cap {
            return Err(ApiError::PayloadTooLarge);
        }
    }
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(body_cap.unwrap_or(u64::MAX)));
    let meter = Meter::default();
    let max_chunk = (state.config.connections.max_header_bytes as u64).max(MAX_H2_FRAME);
    let body = Arc::new(Mutex::new(req.into_body().into_data_stream()));
    let stream = Metered {
        inner: body.clone(),
        meter: meter.clone(),
    };
    let parts = multer::Multipart::with_constraints(stream, boundary, constraints);
    let read = read_parts(sink, parts, &meter, max_chunk).await;
    if read.is_err() {
        linger(&body).await;
    }
    read
}

/// Reads what a refused upload still sends, a little, so that the client sees the error
/// answer: a socket closed with unread data is reset, and the reset can swallow the answer.
async fn linger(body: &Body) {
    let drain = async {
        let mut read = 0;
        while read < LINGER_BYTES {
            let next = std::future::poll_fn(|cx| match body.lock() {
                Ok(mut stream) => std::pin::Pin::new(&mut *stream).poll_next(cx),
                Err(_) => std::task::Poll::Ready(None),
            });
            match next.await {
                Some(Ok(chunk)) => read += chunk.len(),
                _ => return,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// At most this much of a refused upload is read...
const LINGER_BYTES: usize = 1 << 20;
/// ...for at most this long.
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(1);

type Body = Arc<Mutex<axum::body::BodyDataStream>>;

async fn read_parts(
    sink: &mut Sink<'_>,
    mut parts: multer::Multipart<'static>,
    meter: &Meter,
    max_chunk: u64,
) -> Result<(), ApiError> {
    loop {
        // Between parts the parser reads only a delimiter and part headers: that much at most,
        // plus the chunks they arrive in (the listener reads at most a request head's worth).
        meter.arm(MAX_BETWEEN_PARTS + 2 * max_chunk);
        let next = parts.next_field().await;
        meter.disarm();
        let next = next.map_err(|err| match meter.exceeded() {
            true => ApiError::invalid("Invalid multipart body: part headers too large"),
            false => multipart_error(err),
        })?;
        let Some(mut field) = next else {
            break;
        };
        match sink.field(field.name()) {
            which @ (Field::Path | Field::Visibility) => {
                let value = text(field).await?;
                sink.set_text(which, value);
            }
            Field::Content => {
                let part_type = field.content_type().map(ToString::to_string);
                let mut content = sink.open_content(part_type).await?;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    content.write(chunk).await?;
                }
                sink.close_content(content).await?;
            }
            // Unknown and repeated parts are read and dropped here, so that the parser's own
            // draining never counts against the part-header allowance.
            Field::Ignored => while field.chunk().await.map_err(multipart_error)?.is_some() {},
        }
    }
    Ok(())
}

/// Bytes of delimiter and part headers the parser may read between two parts.
const MAX_BETWEEN_PARTS: u64 = 16 << 10;
/// The largest HTTP/2 DATA frame a client may send by default.
const MAX_H2_FRAME: u64 = 16 << 10;

/// Counts what the parser reads while armed, so part headers cannot grow its buffer without
/// bound (multer caps a part's header count, not its bytes).
#[derive(Clone, Default)]
struct Meter(std::sync::Arc<MeterState>);

#[derive(Default)]
struct MeterState {
    /// Bytes left while armed; `u64::MAX` when disarmed.
    left: std::sync::atomic::AtomicU64,
    exceeded: std::sync::atomic::AtomicBool,
}

impl Meter {
    fn arm(&self, bytes: u64) {
        self.0
            .left
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    fn disarm(&self) {
        self.0
            .left
            .store(u64::MAX, std::sync::atomic::Ordering::Relaxed);
    }

    fn exceeded(&self) -> bool {
        self.0.exceeded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether `bytes` more may be read.
    fn take(&self, bytes: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let left = self.0.left.load(Relaxed);
        if left == u64::MAX {
            return true;
        }
        if bytes > left {
            self.0.exceeded.store(true, Relaxed);
            return false;
        }
        self.0.left.store(left - bytes, Relaxed);
        true
    }
}

/// The request body as the parser reads it, through a [`Meter`].
struct Metered {
    inner: Body,
    meter: Meter,
}

impl futures_util::Stream for Metered {
    type Item = Result<bytes::Bytes, std::io::Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = match self.inner.lock() {
            Ok(mut stream) => std::pin::Pin::new(&mut *stream).poll_next(cx),
            Err(_) => std::task::Poll::Ready(None),
        };
        polled.map(|item| {
            item.map(|chunk| match chunk {
                Ok(bytes) if !self.meter.take(bytes.len() as u64) => {
                    Err(std::io::Error::other("part headers too large"))
                }
                Ok(bytes) => Ok(bytes),
                Err(err) => Err(std::io::Error::other(err)),
            })
        })
    }
}

/// A text part, bounded.
async fn text(mut field: multer::Field<'static>) -> Result<String, ApiError> {
    let name = field.name().unwrap_or("part").to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT_PART {
            return Err(ApiError::invalid(format!("Invalid {name}: too long")));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::invalid(format!("Invalid {name}: not UTF-8")))
}

fn multipart_error(err: multer::Error) -> ApiError {
    match err {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            ApiError::PayloadTooLarge
        }
        other => ApiError::invalid(format!("Invalid multipart body: {other}")),
    }
}
