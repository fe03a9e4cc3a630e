//! The background builder: decides each Build's outcome (COMPAT §9.2) and precompresses its
//! text assets with gzip and brotli, so the asset host never compresses on the hot path.
//!
//! Every node runs one. A build is claimed in the database before it is worked on, so each is
//! built by one node; the claim is renewed while the work goes on, and a node that stops lets
//! it lapse, after which another node claims the build and finishes it. Building twice is
//! harmless.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use tokio::sync::Notify;

use crate::domain::Core;
use crate::store::{Build, BuildDetail, BuildStatus, Encoded, StoreError, Version};

/// Wakes this node's builder for a build created here; builds created on other nodes are
/// found by polling.
#[derive(Clone, Default)]
pub struct Builder {
    wake: Arc<Notify>,
}

/// Files smaller than this are not worth compressing.
const MIN_COMPRESS_BYTES: i64 = 256;
/// Files larger than this are served as they are (compressing them would hold them in memory).
const MAX_COMPRESS_BYTES: i64 = 16 << 20;
/// How long a claim lasts unless renewed: a stopped node's builds wait at most this long.
const CLAIM_SECS: i64 = 10;
/// Files checked or compressed at once by one build.
const IN_FLIGHT: usize = 16;
/// Rows of compressed copies handed to the store at once (its writer batches them).
const RECORDS_IN_FLIGHT: usize = 256;
/// Builds worked on at once by one node: an `npm install` takes seconds to minutes, and asset
/// builds must not wait behind it.
const BUILDS_AT_ONCE: usize = 4;
/// How often the builder looks for builds created on other nodes.
const POLL: Duration = Duration::from_secs(1);

impl Builder {
    pub fn enqueue(&self, _build: &Build) {
        self.wake.notify_one();
    }
}

/// Claims and builds builds, a few at once, for as long as the node runs.
pub async fn run(core: std::sync::Arc<Core>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(BUILDS_AT_ONCE));
    loop {
        // A slot first: a node claims no more builds than it works on.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let now = crate::clock::now();
        match core
            .store
            .claim_build(&core.node, now, now + CLAIM_SECS)
            .await
        {
            Ok(Some(build)) => {
                let core = core.clone();
                tokio::spawn(async move {
                    build_claimed(&core, build).await;
                    drop(slot);
                });
            }
            Ok(None) => {
                let _ = tokio::time::timeout(POLL, core.builder.wake.notified()).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot claim builds");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Builds a claimed build, renewing the claim meanwhile, and records the outcome.
async fn build_claimed(core: &std::sync::Arc<Core>, build: Build) {
    let renewing = tokio::spawn(renew_claim(core.clone(), build.sid.clone()));
    let outcome = match core.store.build(&build.service_sid, &build.sid).await {
        Ok(detail) if detail.build.status == BuildStatus::Building => package(core, &detail).await,
        // Deleted meanwhile, or already finished by another node.
        Ok(_) | Err(StoreError::NotFound) => {
            renewing.abort();
            return;
        }
        Err(err) => Err(format!("cannot read build: {err}")),
    };
    renewing.abort();
    let (status, failure) = match &outcome {
        Ok(()) => (BuildStatus::Completed, None),
        Err(reason) => {
            tracing::warn!(build = %build.sid, reason = %reason, "build failed");
            (BuildStatus::Failed, Some(reason.as_str()))
        }
    };
    crate::metrics::build(status.as_str());
    let now = crate::clock::now();
    if let Err(err) = core
        .store
        .finish_build(&build.sid, status, failure, now)
        .await
    {
        tracing::error!(build = %build.sid, error = %err, "cannot record build outcome");
    }
}

async fn renew_claim(core: std::sync::Arc<Core>, sid: String) {
    let mut every = tokio::time::interval(Duration::from_secs((CLAIM_SECS / 3) as u64));
    every.tick().await;
    loop {
        every.tick().await;
        let until = crate::clock::now() + CLAIM_SECS;
        match core.store.renew_build_claim(&sid, &core.node, until).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => tracing::warn!(build = %sid, error = %err, "cannot renew build claim"),
        }
    }
}

/// Checks paths and content, then precompresses the assets and, for a build with functions,
/// lays it out and installs its dependencies (`runtime::install`). `Err` carries the failure
/// reason.
async fn package(core: &Core, detail: &BuildDetail) -> Result<(), String> {
    let files: Vec<&Version> = detail.assets.iter().chain(&detail.functions).collect();
    let mut paths: HashMap<&str, &str> = HashMap::new();
    for file in &files {
        if let Some(other) = paths.insert(&file.path, &file.sid) {
            return Err(format!(
                "versions {other} and {} have the same path {}",
                file.sid, file.path
            ));
        }
    }
    // Each file costs a few round trips to the bucket and the database (and fsyncs), so they
    // overlap: a 1,000-file build takes a second, not ten. The futures are collected first so
    // that the stream holds no closure over borrowed data (which `tokio::spawn` cannot prove
    // general enough).
    let checks: Vec<_> = files
        .iter()
        .map(|file| content_present(core, file))
        .collect();
    stream::iter(checks)
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<()>()
        .await?;
    // Dependencies install while the assets compress: an install takes seconds, and neither
    // needs the other.
    let install = async {
        if detail.functions.is_empty() {
            return Ok(());
        }
        crate::runtime::install::ensure(core, detail)
            .await
            .map(drop)
    };
    tokio::try_join!(precompress_assets(core, detail), install).map(drop)
}

/// Stores compressed copies of the build's text assets and records them.
async fn precompress_assets(core: &Core, detail: &BuildDetail) -> Result<(), String> {
    // Function code is never served, so only assets are worth compressing.
    let copies: Vec<_> = detail
        .assets
        .iter()
        .filter(|f| compressible(f))
        .map(|file| precompress(core, file))
        .collect();
    let made: Vec<Vec<Encoded>> = stream::iter(copies)
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    // Made durable with one sync, then recorded together so that the SQLite writer commits the
    // rows in a few transactions: two fsyncs per file made a 1,000-file build take seconds.
    core.blobs
        .sync()
        .await
        .map_err(|e| format!("cannot store compressed copies: {e}"))?;
    let records: Vec<_> = made
        .iter()
        .flatten()
        .map(|encoded| core.store.record_encoding(encoded))
        .collect();
    stream::iter(records)
        .buffer_unordered(RECORDS_IN_FLIGHT)
        .try_collect::<()>()
        .await
        .map_err(|e| format!("cannot record compressed copy: {e}"))
}

async fn content_present(core: &Core, file: &Version) -> Result<(), String> {
    match core.blobs.exists(&file.sha256).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("content of version {} is missing", file.sid)),
        Err(err) => Err(format!("content of version {} unreadable: {err}", file.sid)),
    }
}

/// Text assets (and the like) that compress well.
fn compressible(file: &Version) -> bool {
    let kind = file
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let texty = kind.starts_with("text/")
        || kind.ends_with("+xml")
        || kind.ends_with("+json")
        || matches!(
            kind,
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "application/manifest+json"
                | "image/svg+xml"
                | "image/x-icon"
                | "font/ttf"
                | "font/otf"
                | "application/vnd.ms-fontobject"
        );
    texty && (MIN_COMPRESS_BYTES..=MAX_COMPRESS_BYTES).contains(&file.size)
}

/// Stores gzip and brotli copies of `file` unless they are already stored whole or do not save
/// space. The files decide, not the rows: a copy lost to a crash or to garbage collection is
/// made again. The copies are written whole but not yet durable: the caller syncs them all
/// before writing their rows.
async fn precompress(core: &Core, file: &Version) -> Result<Vec<Encoded>, String> {
    let known = core
        .store
        .encodings(&file.sha256)
        .await
        .map_err(|e| format!("cannot read encodings: {e}"))?;
    let mut wanted = Vec::with_capacity(ENCODINGS.len());
    for encoding in ENCODINGS {
        let row = known.iter().find(|k| k.encoding == encoding);
        let stored = core
            .blobs
            .encoded_size(&file.sha256, encoding)
            .await
            .map_err(|e| format!("cannot check compressed copy: {e}"))?;
        let whole = row.is_some_and(|r| u64::try_from(r.size).ok() == stored);
        if !whole {
            wanted.push(encoding);
        }
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let content = core
        .blobs
        .read(&file.sha256)
        .await
        .map_err(|e| format!("content of version {} unreadable: {e}", file.sid))?;
    let compressed = tokio::task::spawn_blocking(move || compress_both(&content))
        .await
        .map_err(|e| format!("compression failed: {e}"))?;
    let mut made = Vec::with_capacity(wanted.len());
    for (encoding, data) in compressed {
        if !wanted.contains(&encoding) || data.len() as i64 >= file.size {
            continue;
        }
        let size = data.len() as i64;
        core.blobs
            .put_encoded_unsynced(&file.sha256, encoding, data)
            .await
            .map_err(|e| format!("cannot store compressed copy: {e}"))?;
        made.push(Encoded {
            sha256: file.sha256.clone(),
            encoding: encoding.to_owned(),
            size,
        });
    }
    Ok(made)
}

/// The precompressed copies depot makes, by blob key suffix.
const ENCODINGS: [&str; 2] = ["gz", "br"];

/// Below this size brotli's quality 9 costs more in table set-up than it saves: its encoder
/// zeroes megabytes of tables per call (mimalloc zeroes them eagerly), 4 ms for a 1 KiB file
/// where quality 6 takes 0.2 ms and yields the same bytes.
const BROTLI_BEST_FROM: usize = 64 << 10;

fn brotli_quality(len: usize) -> i32 {
    if len >= BROTLI_BEST_FROM {
        9
    } else {
        6
    }
}

/// gzip at level 9 and brotli at quality 9 (6 for small files): slower than a server's on-the-fly level, paid
/// once per content instead of once per request.
fn compress_both(content: &[u8]) -> Vec<(&'static str, Bytes)> {
    let mut out = Vec::with_capacity(2);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    if gzip.write_all(content).is_ok() {
        if let Ok(data) = gzip.finish() {
            out.push(("gz", Bytes::from(data)));
        }
    }
    let mut brotli = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: brotli_quality(content.len()),
        size_hint: content.len(),
        ..Default::default()
    };
    if brotli::BrotliCompress(&mut &content[..], &mut brotli, &params).is_ok() {
        out.push(("br", Bytes::from(brotli)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn both_encodings_decompress_to_the_original() {
        let text = "body { color: red; }\n".repeat(200);
        let out = compress_both(text.as_bytes());
        assert_eq!(out.len(), 2);
        let mut gunzipped = String::new();
        flate2::read::GzDecoder::new(&out[0].1[..])
            .read_to_string(&mut gunzipped)
            .unwrap();
        assert_eq!(gunzipped, text);
        let mut unbrotli = Vec::new();
        brotli::BrotliDecompress(&mut &out[1].1[..], &mut unbrotli).unwrap();
        assert_eq!(unbrotli, text.as_bytes());
        assert!(out[1].1.len() < text.len() / 10);
    }
}
