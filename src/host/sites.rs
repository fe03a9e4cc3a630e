//! What the asset host serves, per domain: the live build's files as an in-memory map from
//! path to file, loaded once per deployment so the hot path queries no database, and a
//! bounded cache of file contents.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::HeaderValue;
use bytes::Bytes;

use crate::domain::versions::Visibility;
use crate::store::{ContainerKind, Site, StoreError};
use crate::AppState;

/// A precompressed copy of a file.
#[derive(Debug)]
pub struct Encoding {
    /// `br` or `gz` (the blob key suffix).
    pub key: &'static str,
    /// The `Content-Encoding` value.
    pub name: HeaderValue,
    pub size: u64,
    pub etag: HeaderValue,
    /// Set once the copy could not be read whole; it is not offered again.
    pub broken: AtomicBool,
}

/// One servable file of a build.
#[derive(Debug)]
pub struct File {
    pub kind: ContainerKind,
    /// The Asset or Function SID.
    pub container_sid: String,
    pub sha256: String,
    pub size: u64,
    pub content_type: HeaderValue,
    pub visibility: Visibility,
    pub etag: HeaderValue,
    pub last_modified: HeaderValue,
    pub modified_secs: i64,
    /// Brotli first: the order the host prefers.
    pub encodings: Vec<Encoding>,
}

/// An environment's domain as the host sees it.
#[derive(Debug)]
pub struct SiteView {
    pub account_sid: String,
    pub service_sid: String,
    pub environment_sid: String,
    pub build_sid: Option<String>,
    pub deployment_sid: Option<String>,
    pub files: HashMap<String, Arc<File>>,
}

impl SiteView {
    fn from_site(site: Site) -> SiteView {
        let mut encodings: HashMap<&str, Vec<&crate::store::Encoded>> = HashMap::new();
        for e in &site.encodings {
            encodings.entry(e.sha256.as_str()).or_default().push(e);
        }
        let files = site
            .files
            .iter()
            .map(|(kind, v)| {
                let mut variants: Vec<Encoding> = encodings
                    .get(v.sha256.as_str())
                    .map(|list| list.iter().filter_map(|e| encoding(&v.sha256, e)).collect())
                    .unwrap_or_default();
                variants.sort_by_key(|e| if e.key == "br" { 0 } else { 1 });
                let file = File {
                    kind: *kind,
                    container_sid: v.container_sid.clone(),
                    sha256: v.sha256.clone(),
                    size: u64::try_from(v.size).unwrap_or(0),
                    content_type: HeaderValue::from_str(&v.content_type)
                        .unwrap_or(HeaderValue::from_static("application/octet-stream")),
                    visibility: v.visibility,
                    etag: quoted(&v.sha256, ""),
                    last_modified: http_date(v.date_created),
                    modified_secs: v.date_created,
                    encodings: variants,
                };
                (v.path.clone(), Arc::new(file))
            })
            .collect();
        SiteView {
            account_sid: site.environment.account_sid,
            service_sid: site.environment.service_sid,
            environment_sid: site.environment.sid,
            build_sid: site.environment.build_sid,
            deployment_sid: site.deployment_sid,
            files,
        }
    }
}

fn encoding(sha256: &str, e: &crate::store::Encoded) -> Option<Encoding> {
    let (key, name) = match e.encoding.as_str() {
        "br" => ("br", "br"),
        "gz" => ("gz", "gzip"),
        _ => return None,
    };
    Some(Encoding {
        key,
        name: HeaderValue::from_static(name),
        size: u64::try_from(e.size).ok()?,
        etag: quoted(sha256, key),
        broken: AtomicBool::new(false),
    })
}

/// A strong ETag from the content hash; each encoding is its own representation.
fn quoted(sha256: &str, suffix: &str) -> HeaderValue {
    let text = if suffix.is_empty() {
        format!("\"{sha256}\"")
    } else {
        format!("\"{sha256}-{suffix}\"")
    };
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("\"\""))
}

fn http_date(secs: i64) -> HeaderValue {
    let time =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    HeaderValue::from_str(&httpdate::fmt_http_date(time))
        .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

/// Files at most this big are kept in memory once read.
const MAX_CACHED_FILE: u64 = 8 << 20;

/// Bytes a cache entry costs beyond its own data.
const ENTRY_OVERHEAD: u64 = 128;
/// Bytes a file of a site map costs beyond its path (the `File` and its header values).
const FILE_OVERHEAD: u64 = 512;

/// Site maps weigh what they hold: a domain nothing serves costs little, a build of a
/// thousand files much more.
#[derive(Clone)]
pub struct SiteWeight;

impl quick_cache::Weighter<String, Option<Arc<SiteView>>> for SiteWeight {
    fn weight(&self, domain: &String, site: &Option<Arc<SiteView>>) -> u64 {
        let files: u64 = site.as_ref().map_or(0, |site| {
            site.files
                .keys()
                .map(|path| path.len() as u64 + FILE_OVERHEAD)
                .sum()
        });
        ENTRY_OVERHEAD + domain.len() as u64 + files
    }
}

/// Content is keyed by the first 64 bits of its SHA-256 (no allocation per lookup); the full
/// hash is kept beside the bytes and compared.
type ContentKey = (u64, &'static str);

#[derive(Clone)]
pub struct ContentWeight;

impl quick_cache::Weighter<ContentKey, (String, Bytes)> for ContentWeight {
    fn weight(&self, _: &ContentKey, (hash, bytes): &(String, Bytes)) -> u64 {
        ENTRY_OVERHEAD + hash.len() as u64 + bytes.len() as u64
    }
}

fn content_key(sha256: &str, key: &'static str) -> ContentKey {
    let prefix = sha256
        .get(..16)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .unwrap_or(0);
    (prefix, key)
}

/// Site maps and file contents, shared by all requests; both bounded by bytes.
pub struct Sites {
    map: quick_cache::sync::Cache<String, Option<Arc<SiteView>>, SiteWeight>,
    /// Bumped by every `forget`, so a load that raced a deployment is not kept.
    generation: AtomicU64,
    /// Orders "check the generation, then insert" against "bump, then remove".
    filling: Mutex<()>,
    content: quick_cache::sync::Cache<ContentKey, (String, Bytes), ContentWeight>,
    content_capacity: u64,
}

impl Sites {
    /// At most `map_capacity` bytes of site maps and `content_capacity` bytes of contents.
    pub fn new(map_capacity: u64, content_capacity: u64) -> Sites {
        let map_capacity = map_capacity.max(64 << 10);
        Sites {
            map: quick_cache::sync::Cache::with_weighter(
                usize::try_from(map_capacity / 4096)
                    .unwrap_or(usize::MAX)
                    .max(16),
                map_capacity,
                SiteWeight,
            ),
            generation: AtomicU64::new(0),
            filling: Mutex::new(()),
            content: quick_cache::sync::Cache::with_weighter(
                usize::try_from(content_capacity / 16384)
                    .unwrap_or(usize::MAX)
                    .max(16),
                content_capacity.max(1),
                ContentWeight,
            ),
            content_capacity,
        }
    }

    /// The site at `domain` (lowercase, no port, already checked to be an environment
    /// domain), loading it on first use.
    pub async fn get(
        &self,
        state: &AppState,
        domain: &str,
    ) -> Result<Option<Arc<SiteView>>, StoreError> {
        if let Some(site) = self.map.get(domain) {
            return Ok(site);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let loaded = state.store.site(domain).await?;
        let view = loaded.map(|site| Arc::new(SiteView::from_site(site)));
        if let Ok(_filling) = self.filling.lock() {
            // A deployment that happened while loading must not be overwritten by this read.
            if self.generation.load(Ordering::Acquire) == generation {
                self.map.insert(domain.to_owned(), view.clone());
            }
        }
        Ok(view)
    }

    /// Drops what is known of `domain` (after a deployment or an environment deletion).
    pub fn forget(&self, domain: &str) {
        let _filling = self.filling.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.map.remove(domain);
    }

    /// Drops every site (after a service deletion).
    pub fn forget_all(&self) {
        let _filling = self.filling.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.map.clear();
    }

    /// Cached content of `sha256` in encoding `key` (`""` for identity).
    pub fn cached(&self, sha256: &str, key: &'static str) -> Option<Bytes> {
        match self.content.get(&content_key(sha256, key)) {
            Some((full, bytes)) if full == sha256 => Some(bytes),
            _ => None,
        }
    }

    /// Whether content of `size` bytes is worth keeping in memory.
    pub fn cacheable(&self, size: u64) -> bool {
        size <= MAX_CACHED_FILE && size <= self.content_capacity
    }

    /// Remembers content; the cache evicts what is used least beyond its capacity.
    pub fn remember(&self, sha256: &str, key: &'static str, data: Bytes) {
        if self.cacheable(data.len() as u64) {
            self.content
                .insert(content_key(sha256, key), (sha256.to_owned(), data));
        }
    }
}
