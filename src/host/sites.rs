//! What the asset host serves, per domain: the live build's files as an in-memory map from
//! path to file, loaded once per deployment so the hot path queries no database, and a
//! bounded cache of file contents.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use axum::http::HeaderValue;
use bytes::Bytes;

use crate::domain::versions::Visibility;
use crate::store::{ContainerKind, Site, StoreError};
use crate::AppState;

/// A precompressed copy of a file.
#[derive(Debug, Clone)]
pub struct Encoding {
    /// `br` or `gz` (the blob key suffix).
    pub key: &'static str,
    /// The `Content-Encoding` value.
    pub name: HeaderValue,
    pub size: u64,
    pub etag: HeaderValue,
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
                    visibility: Visibility::parse(&v.visibility).unwrap_or(Visibility::Private),
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

/// Unknown domains remembered at most; a flood of random Host headers cannot grow memory.
const MAX_SITES: usize = 10_000;

/// Files at most this big are kept in memory once read.
const MAX_CACHED_FILE: u64 = 8 << 20;

#[derive(Default)]
struct SiteMap {
    generation: u64,
    sites: HashMap<String, Option<Arc<SiteView>>>,
}

/// Content is keyed by the first 64 bits of its SHA-256 (no allocation per lookup); the full
/// hash is kept beside the bytes and compared.
type ContentKey = (u64, &'static str);

#[derive(Default)]
struct ContentMap {
    entries: HashMap<ContentKey, (String, Bytes)>,
    order: VecDeque<ContentKey>,
    bytes: u64,
}

fn content_key(sha256: &str, key: &'static str) -> ContentKey {
    let prefix = sha256
        .get(..16)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .unwrap_or(0);
    (prefix, key)
}

/// Site manifests and file contents, shared by all requests.
pub struct Sites {
    map: RwLock<SiteMap>,
    content: RwLock<ContentMap>,
    content_capacity: u64,
}

impl Sites {
    pub fn new(content_capacity: u64) -> Sites {
        Sites {
            map: RwLock::default(),
            content: RwLock::default(),
            content_capacity,
        }
    }

    /// The site at `domain` (lowercase, no port), loading it on first use.
    pub async fn get(
        &self,
        state: &AppState,
        domain: &str,
    ) -> Result<Option<Arc<SiteView>>, StoreError> {
        let generation = match self.map.read() {
            Ok(map) => {
                if let Some(site) = map.sites.get(domain) {
                    return Ok(site.clone());
                }
                map.generation
            }
            Err(_) => 0,
        };
        let loaded = state.store.site(domain).await?;
        let view = loaded.map(|site| Arc::new(SiteView::from_site(site)));
        if let Ok(mut map) = self.map.write() {
            // A deployment that happened while loading must not be overwritten by this read.
            if map.generation == generation {
                if map.sites.len() >= MAX_SITES {
                    map.sites.clear();
                }
                map.sites.insert(domain.to_owned(), view.clone());
            }
        }
        Ok(view)
    }

    /// Drops what is known of `domain` (after a deployment or an environment deletion).
    pub fn forget(&self, domain: &str) {
        if let Ok(mut map) = self.map.write() {
            map.generation += 1;
            map.sites.remove(domain);
        }
    }

    /// Drops every site (after a service deletion).
    pub fn forget_all(&self) {
        if let Ok(mut map) = self.map.write() {
            map.generation += 1;
            map.sites.clear();
        }
    }

    /// Cached content of `sha256` in encoding `key` (`""` for identity).
    pub fn cached(&self, sha256: &str, key: &'static str) -> Option<Bytes> {
        let content = self.content.read().ok()?;
        match content.entries.get(&content_key(sha256, key)) {
            Some((full, bytes)) if full == sha256 => Some(bytes.clone()),
            _ => None,
        }
    }

    /// Whether content of `size` bytes is worth keeping in memory.
    pub fn cacheable(&self, size: u64) -> bool {
        size <= MAX_CACHED_FILE && size <= self.content_capacity
    }

    /// Remembers content, evicting the oldest entries beyond capacity.
    pub fn remember(&self, sha256: &str, key: &'static str, data: Bytes) {
        let size = data.len() as u64;
        if !self.cacheable(size) {
            return;
        }
        let Ok(mut content) = self.content.write() else {
            return;
        };
        let id = content_key(sha256, key);
        if content.entries.contains_key(&id) {
            return;
        }
        while content.bytes + size > self.content_capacity {
            let Some(oldest) = content.order.pop_front() else {
                break;
            };
            if let Some((_, evicted)) = content.entries.remove(&oldest) {
                content.bytes -= evicted.len() as u64;
            }
        }
        content.bytes += size;
        content.order.push_back(id);
        content.entries.insert(id, (sha256.to_owned(), data));
    }
}
