//! Content storage through `object_store`, addressed by SHA-256: identical bytes are stored
//! once, and a stored object never changes.
//!
//! Keys: `sha256/{first two hex}/{hash}` for content, `tmp/{random}` while an upload streams
//! in. An upload is written to `tmp/`, hashed on the way, and moved to its content key only
//! when the caller accepts it ([`Staged::keep`]); a local file is fsynced before that returns,
//! so the version row that follows never points at bytes that a crash could lose.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

mod sweep;
use sweep::BlobName;

/// Failures of the content store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("content store: {0}")]
    Store(#[from] object_store::Error),
    #[error("content store I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("unsupported blob URL {0:?}: use file:///PATH or s3://BUCKET[/PREFIX]")]
    UnsupportedUrl(String),
    /// A stored object is not the size its row says: cut short by a crash, or replaced.
    #[error("stored object has {found} bytes, expected {expected}")]
    Size { expected: u64, found: u64 },
}

impl BlobError {
    /// The store could not be reached or refused to work (not a missing or damaged object):
    /// the request may succeed if repeated.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BlobError::Store(err) if !matches!(err, object_store::Error::NotFound { .. }))
    }
}

/// The content store and its key scheme.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// The same store without a sync per write, for writes made durable together by
    /// [`Blobs::sync`]. The same object as `store` where every write is durable anyway (S3).
    unsynced: Arc<dyn ObjectStore>,
    /// Root folder when the store is the local filesystem, for the garbage collector's walk.
    local_root: Option<PathBuf>,
    /// Part size of streamed uploads: small keeps memory flat per upload.
    part_size: usize,
}

/// Bytes of one upload part for the local filesystem.
const LOCAL_PART_SIZE: usize = 1024 * 1024;
/// Bytes of one multipart-upload part for S3: its smallest allowed part.
const S3_PART_SIZE: usize = 5 * 1024 * 1024;

impl Blobs {
    /// Opens the store named by `url`: `file:///path` (creating the folder if needed) or
    /// `s3://bucket[/prefix]`, configured by the standard `AWS_*` variables.
    pub fn open(url: &str) -> Result<Blobs, BlobError> {
        let parsed = url::Url::parse(url).map_err(|_| BlobError::UnsupportedUrl(url.into()))?;
        match parsed.scheme() {
            "file" => Self::open_local(url, &parsed),
            "s3" => Self::open_s3(url, &parsed),
            _ => Err(BlobError::UnsupportedUrl(url.into())),
        }
    }

    /// An S3-compatible bucket. `object_store` requests path-style unless
    /// `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`: self-hosted servers rarely have a DNS name per
    /// bucket.
    fn open_s3(url: &str, parsed: &url::Url) -> Result<Blobs, BlobError> {
        let bucket = parsed
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| BlobError::UnsupportedUrl(url.into()))?;
        // A request waits for a bucket that does not answer a few seconds, not minutes: then
        // the client hears 503 and may try again.
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(10),
            ..Default::default()
        };
        let s3 = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry)
            .build()?;
        let prefix = parsed.path().trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
        };
        Ok(Blobs {
            unsynced: store.clone(),
            store,
            local_root: None,
            part_size: S3_PART_SIZE,
        })
    }

    fn open_local(url: &str, parsed: &url::Url) -> Result<Blobs, BlobError> {
        let root = parsed
            .to_file_path()
            .map_err(|_| BlobError::UnsupportedUrl(url.into()))?;
        std::fs::create_dir_all(&root)?;
        // Every write is durable (file and directory entries) before it returns.
        let store = LocalFileSystem::new_with_prefix(&root)?.with_fsync(true);
        // Still written whole (a temporary file renamed into place), only not yet synced.
        let unsynced = LocalFileSystem::new_with_prefix(&root)?;
        Ok(Blobs {
            store: Arc::new(store),
            unsynced: Arc::new(unsynced),
            local_root: Some(root),
            part_size: LOCAL_PART_SIZE,
        })
    }

    /// Starts streaming a new upload into `tmp/`.
    pub async fn begin(&self) -> Result<Upload, BlobError> {
        let key = Key::from(format!("tmp/{}", random_name()));
        let upload = self.store.put_multipart(&key).await?;
        Ok(Upload {
            blobs: self.clone(),
            key,
            writer: Some(WriteMultipart::new_with_chunk_size(upload, self.part_size)),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    fn content_key(sha256: &str) -> Key {
        Self::encoded_key(sha256, None)
    }

    /// `sha256/{xx}/{hash}`, or `…/{hash}.{gz|br}` for a precompressed copy.
    fn encoded_key(sha256: &str, encoding: Option<&str>) -> Key {
        let prefix = sha256.get(..2).unwrap_or("00");
        match encoding {
            None => Key::from(format!("sha256/{prefix}/{sha256}")),
            Some(ext) => Key::from(format!("sha256/{prefix}/{sha256}.{ext}")),
        }
    }

    /// The whole content of `sha256` (function code, a few MiB at most).
    pub async fn read(&self, sha256: &str) -> Result<Bytes, BlobError> {
        self.read_encoded(sha256, None).await
    }

    /// The whole content of `sha256`, or of its `encoding` copy (`gz`, `br`).
    pub async fn read_encoded(
        &self,
        sha256: &str,
        encoding: Option<&str>,
    ) -> Result<Bytes, BlobError> {
        let got = self.store.get(&Self::encoded_key(sha256, encoding)).await?;
        Ok(got.bytes().await?)
    }

    /// A byte range of the content of `sha256` (or its `encoding` copy), as a stream; an
    /// error unless the object has exactly `length` bytes.
    pub async fn stream(
        &self,
        sha256: &str,
        encoding: Option<&str>,
        length: u64,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<futures_util::stream::BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        let options = object_store::GetOptions {
            range: range.map(Into::into),
            ..Default::default()
        };
        let key = Self::encoded_key(sha256, encoding);
        let got = self.store.get_opts(&key, options).await?;
        if got.meta.size != length {
            return Err(BlobError::Size {
                expected: length,
                found: got.meta.size,
            });
        }
        Ok(got
            .into_stream()
            .map(|r| r.map_err(BlobError::from))
            .boxed())
    }

    /// Stores a precompressed copy beside the content, durably: its row may be written next.
    pub async fn put_encoded(
        &self,
        sha256: &str,
        encoding: &str,
        data: Bytes,
    ) -> Result<(), BlobError> {
        let key = Self::encoded_key(sha256, Some(encoding));
        self.store.put(&key, data.into()).await?;
        Ok(())
    }

    /// Like [`Blobs::put_encoded`], but durable only once [`Blobs::sync`] has returned: a
    /// build writes hundreds of copies and makes them durable with one sync, not two each.
    pub async fn put_encoded_unsynced(
        &self,
        sha256: &str,
        encoding: &str,
        data: Bytes,
    ) -> Result<(), BlobError> {
        let key = Self::encoded_key(sha256, Some(encoding));
        self.unsynced.put(&key, data.into()).await?;
        Ok(())
    }

    /// Makes every earlier write durable: one `syncfs` of the local filesystem; nothing to do
    /// for S3, where a write is durable when it returns.
    pub async fn sync(&self) -> Result<(), BlobError> {
        let Some(root) = self.local_root.clone() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let dir = std::fs::File::open(root)?;
            rustix::fs::syncfs(&dir)?;
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(())
    }

    /// The size of the stored `encoding` copy of `sha256`, if there is one.
    pub async fn encoded_size(
        &self,
        sha256: &str,
        encoding: &str,
    ) -> Result<Option<u64>, BlobError> {
        match self
            .store
            .head(&Self::encoded_key(sha256, Some(encoding)))
            .await
        {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Whether other depot nodes see this store (a bucket), rather than this node alone.
    pub fn is_shared(&self) -> bool {
        self.local_root.is_none()
    }

    /// Stores the file at `path` under `name` in `shared/`, streamed, replacing what was there.
    /// `shared/` holds what nodes hand each other (function installs), outside the content key
    /// scheme: garbage collection never touches it.
    pub async fn put_shared(&self, name: &str, path: &std::path::Path) -> Result<(), BlobError> {
        use tokio::io::AsyncReadExt;
        let key = Key::from(format!("shared/{name}"));
        let mut file = tokio::fs::File::open(path).await?;
        let mut upload = WriteMultipart::new_with_chunk_size(
            self.store.put_multipart(&key).await?,
            self.part_size,
        );
        let mut buffer = vec![0u8; 256 * 1024];
        let written: Result<(), BlobError> = async {
            loop {
                let read = file.read(&mut buffer).await?;
                if read == 0 {
                    return Ok(());
                }
                upload.wait_for_capacity(4).await?;
                upload.write(&buffer[..read]);
            }
        }
        .await;
        match written {
            Ok(()) => Ok(upload.finish().await.map(drop)?),
            Err(err) => {
                // Aborted, so that the bucket keeps no parts of it.
                let _ = upload.abort().await;
                Err(err)
            }
        }
    }

    /// Copies `shared/{name}` into the file at `path`, streamed; `false` when there is none.
    pub async fn get_shared(&self, name: &str, path: &std::path::Path) -> Result<bool, BlobError> {
        use tokio::io::AsyncWriteExt;
        let key = Key::from(format!("shared/{name}"));
        let got = match self.store.get(&key).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(err) => return Err(err.into()),
        };
        let mut file = tokio::fs::File::create(path).await?;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk?).await?;
        }
        file.flush().await?;
        Ok(true)
    }

    /// The size of stored content `sha256`.
    pub async fn size(&self, sha256: &str) -> Result<u64, BlobError> {
        Ok(self.store.head(&Self::content_key(sha256)).await?.size)
    }

    /// Whether content `sha256` is stored.
    pub async fn exists(&self, sha256: &str) -> Result<bool, BlobError> {
        match self.store.head(&Self::content_key(sha256)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// What garbage collection may remove now: content no version references (with its
    /// precompressed copies) and upload leftovers, all older than `grace`. Content is only a
    /// candidate: the caller keeps what the store does not mark for deletion
    /// ([`Garbage::keep_only`]) before calling [`Blobs::remove`].
    pub async fn garbage(
        &self,
        referenced: &HashSet<String>,
        grace: Duration,
    ) -> Result<Garbage, BlobError> {
        let cutoff = std::time::SystemTime::now()
            .checked_sub(grace)
            .unwrap_or(std::time::UNIX_EPOCH);
        let mut garbage = Garbage::default();
        let mut hashes = HashSet::new();
        for found in self.own_files().await? {
            if found.modified > cutoff {
                continue;
            }
            if let BlobName::Content { sha256, staging } = &found.name {
                // A finished object of referenced content stays; a staging file of it is a
                // write that never finished.
                if referenced.contains(sha256) && !staging {
                    continue;
                }
                if !staging {
                    hashes.insert(sha256.clone());
                    garbage.files.push((found.location, Some(sha256.clone())));
                    continue;
                }
            }
            garbage.files.push((found.location, None));
        }
        garbage.content = hashes.into_iter().collect();
        Ok(garbage)
    }

    /// Deletes what [`Blobs::garbage`] found; returns how many files went.
    pub async fn remove(&self, garbage: Garbage) -> Result<usize, BlobError> {
        let mut removed = 0;
        for (location, _) in garbage.files {
            let gone = match location {
                Location::Local(path) => match tokio::fs::remove_file(&path).await {
                    Ok(()) => true,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
                    Err(err) => return Err(err.into()),
                },
                Location::Key(key) => match self.store.delete(&key).await {
                    Ok(()) => true,
                    Err(object_store::Error::NotFound { .. }) => false,
                    Err(err) => return Err(err.into()),
                },
            };
            removed += usize::from(gone);
        }
        Ok(removed)
    }

    /// Removes every upload leftover in `tmp/`: called at start, before any upload begins, so
    /// whatever is there was cut short by a stop or crash. Only the local store keeps them;
    /// an object store's unfinished uploads are its own lifecycle's business.
    pub async fn remove_interrupted_uploads(&self) -> Result<usize, BlobError> {
        let Some(root) = self.local_root.clone() else {
            return Ok(0);
        };
        let found = tokio::task::spawn_blocking(move || sweep::walk(&root, "tmp"))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        let files = found
            .into_iter()
            .map(|f| (Location::Local(f.path), None))
            .collect();
        self.remove(Garbage {
            files,
            content: Vec::new(),
        })
        .await
    }

    /// Every file of depot's key scheme, found without following links.
    async fn own_files(&self) -> Result<Vec<Owned>, BlobError> {
        if let Some(root) = self.local_root.clone() {
            let found = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<_>> {
                let mut all = sweep::walk(&root, "sha256")?;
                all.extend(sweep::walk(&root, "tmp")?);
                Ok(all)
            })
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
            return Ok(found
                .into_iter()
                .map(|f| Owned {
                    location: Location::Local(f.path),
                    name: f.name,
                    modified: f.modified,
                })
                .collect());
        }
        let mut owned = Vec::new();
        for top in ["sha256", "tmp"] {
            let mut listing = self.store.list(Some(&Key::from(top)));
            while let Some(meta) = listing.next().await {
                let meta = meta?;
                if let Some(name) = BlobName::parse(meta.location.as_ref()) {
                    owned.push(Owned {
                        location: Location::Key(meta.location),
                        name,
                        modified: meta.last_modified.into(),
                    });
                }
            }
        }
        Ok(owned)
    }
}

/// Where a file of the scheme is.
#[derive(Debug)]
pub enum Location {
    Local(PathBuf),
    Key(Key),
}

struct Owned {
    location: Location,
    name: BlobName,
    modified: std::time::SystemTime,
}

/// Files garbage collection will remove, and the content hashes among them.
#[derive(Debug, Default)]
pub struct Garbage {
    /// Each file, with the content it stores (or a precompressed copy of), if finished.
    pub files: Vec<(Location, Option<String>)>,
    /// The content candidates: each goes only once the store has marked it for deletion.
    pub content: Vec<String>,
}

impl Garbage {
    /// Keeps, of the content, only the files of `doomed`; leftovers of unfinished writes stay.
    pub fn keep_only(&mut self, doomed: &[String]) {
        let doomed: HashSet<&str> = doomed.iter().map(String::as_str).collect();
        self.files
            .retain(|(_, sha256)| sha256.as_deref().is_none_or(|s| doomed.contains(s)));
        self.content.retain(|s| doomed.contains(s.as_str()));
    }

    /// Every file a content hash may have: the content and its precompressed copies (for
    /// content a collector marked and then stopped before deleting).
    pub fn of_content(sha256s: &[String]) -> Garbage {
        let mut files = Vec::new();
        for sha256 in sha256s {
            for encoding in [None, Some("gz"), Some("br")] {
                let key = Blobs::encoded_key(sha256, encoding);
                files.push((Location::Key(key), Some(sha256.clone())));
            }
        }
        Garbage {
            files,
            content: sha256s.to_vec(),
        }
    }
}

fn random_name() -> String {
    let sid = crate::domain::sid::generate(crate::domain::sid::Prefix::Request);
    sid[2..].to_owned()
}

/// An upload streaming into `tmp/`. Dropping it unfinished removes what was written.
pub struct Upload {
    blobs: Blobs,
    key: Key,
    /// `None` once finished.
    writer: Option<WriteMultipart>,
    hasher: Sha256,
    size: u64,
}

impl Upload {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `chunk`, waiting while too many parts are in flight (bounded memory).
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        self.size += chunk.len() as u64;
        self.hasher.update(&chunk);
        writer.wait_for_capacity(2).await?;
        writer.put(chunk);
        Ok(())
    }

    /// Completes the temporary object; the caller then keeps or discards it.
    pub async fn finish(mut self) -> Result<Staged, BlobError> {
        if let Some(writer) = self.writer.take() {
            writer.finish().await?;
        }
        Ok(Staged {
            blobs: self.blobs.clone(),
            tmp: Some(self.key.clone()),
            sha256: hex::encode(self.hasher.clone().finalize()),
            size: self.size,
        })
    }
}

impl Drop for Upload {
    /// An upload cut short (a client gone, a limit passed) is aborted, so an object store
    /// does not keep its parts.
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = writer.abort().await;
                });
            }
        }
    }
}

/// A complete upload waiting in `tmp/` for the caller's decision. Dropped without
/// [`Staged::keep`], it is deleted.
pub struct Staged {
    blobs: Blobs,
    tmp: Option<Key>,
    pub sha256: String,
    pub size: u64,
}

impl Staged {
    /// Moves the content to its durable content key (or drops it if that content is already
    /// stored) and returns its hash.
    pub async fn keep(mut self) -> Result<String, BlobError> {
        let Some(tmp) = self.tmp.take() else {
            return Ok(self.sha256.clone());
        };
        let blobs = &self.blobs;
        let target = Blobs::content_key(&self.sha256);
        // Always written, even when that content is stored: the caller's hold protects it from
        // here on, but not from a collector that marked it before the hold (see `Store::hold_blob`).
        blobs.store.rename(&tmp, &target).await?;
        Ok(self.sha256.clone())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let store = self.blobs.store.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = store.delete(&tmp).await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(blobs: &Blobs, data: &'static [u8]) -> String {
        let mut upload = blobs.begin().await.unwrap();
        upload.write(Bytes::from_static(data)).await.unwrap();
        upload.finish().await.unwrap().keep().await.unwrap()
    }

    #[tokio::test]
    async fn content_is_addressed_by_hash_and_garbage_is_collected() {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let blobs = Blobs::open(url.as_str()).unwrap();
        let kept = store(&blobs, b"kept").await;
        assert_eq!(kept, hex::encode(Sha256::digest(b"kept")));
        let dropped = store(&blobs, b"dropped").await;
        assert_eq!(
            blobs.read(&kept).await.unwrap(),
            Bytes::from_static(b"kept")
        );

        // A staged upload that is never kept disappears.
        let mut upload = blobs.begin().await.unwrap();
        upload.write(Bytes::from_static(b"never")).await.unwrap();
        drop(upload.finish().await.unwrap());

        blobs
            .put_encoded(&dropped, "gz", Bytes::from_static(b"gz"))
            .await
            .unwrap();
        // A write cut short by a crash leaves the local store's staging file behind.
        let interrupted = dir
            .path()
            .join(format!("sha256/{}/{kept}.br#1", &kept[..2]));
        std::fs::write(&interrupted, b"half").unwrap();

        let referenced: HashSet<String> = [kept.clone()].into_iter().collect();
        // Young content is spared whatever references it.
        let young = blobs
            .garbage(&referenced, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(young.files.is_empty() && young.content.is_empty());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let old = blobs.garbage(&referenced, Duration::ZERO).await.unwrap();
        assert_eq!(old.content, vec![dropped.clone()]);
        assert_eq!(blobs.remove(old).await.unwrap(), 3);
        assert!(blobs.exists(&kept).await.unwrap());
        assert!(!blobs.exists(&dropped).await.unwrap());
        assert_eq!(blobs.encoded_size(&dropped, "gz").await.unwrap(), None);
        assert!(!interrupted.exists());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    /// The same content lifecycle on a real S3-compatible server (`scripts/s3-server.sh`),
    /// in a prefix of its own: multipart upload, content addressing, ranges, collection.
    #[tokio::test]
    async fn s3_bucket_keeps_content_like_files() {
        let Ok(bucket) = std::env::var("DEPOT_TEST_S3_BUCKET") else {
            eprintln!("skipped: set DEPOT_TEST_S3_BUCKET (see scripts/s3-server.sh)");
            return;
        };
        let prefix = random_name();
        let blobs = Blobs::open(&format!("s3://{bucket}/{prefix}")).unwrap();
        // Three parts: more than one multipart part, never held whole by the writer.
        let part: Vec<u8> = (0..S3_PART_SIZE).map(|i| (i % 251) as u8).collect();
        let mut upload = blobs.begin().await.unwrap();
        let mut hasher = Sha256::new();
        for n in 0..3u8 {
            let mut chunk = part.clone();
            chunk[0] = n;
            hasher.update(&chunk);
            upload.write(Bytes::from(chunk)).await.unwrap();
        }
        upload.write(Bytes::from_static(b"tail")).await.unwrap();
        hasher.update(b"tail");
        let staged = upload.finish().await.unwrap();
        assert_eq!(staged.size, 3 * S3_PART_SIZE as u64 + 4);
        let big = staged.keep().await.unwrap();
        assert_eq!(big, hex::encode(hasher.finalize()));
        let length = 3 * S3_PART_SIZE as u64 + 4;
        let tail: Vec<Bytes> = blobs
            .stream(&big, None, length, Some(length - 4..length))
            .await
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
            .await;
        assert_eq!(tail.concat(), b"tail");
        // A stored object of another size is refused, never served as if whole.
        assert!(matches!(
            blobs.stream(&big, None, 5, None).await,
            Err(BlobError::Size { .. })
        ));

        let small = store(&blobs, b"small").await;
        assert_eq!(&blobs.read(&small).await.unwrap()[..], b"small");
        blobs
            .put_encoded(&small, "gz", Bytes::from_static(b"gz"))
            .await
            .unwrap();
        assert_eq!(blobs.encoded_size(&small, "gz").await.unwrap(), Some(2));

        let referenced: HashSet<String> = [big.clone()].into_iter().collect();
        let mut garbage = blobs.garbage(&referenced, Duration::ZERO).await.unwrap();
        assert_eq!(garbage.content, vec![small.clone()]);
        garbage.keep_only(std::slice::from_ref(&small));
        assert_eq!(blobs.remove(garbage).await.unwrap(), 2);
        assert!(!blobs.exists(&small).await.unwrap());
        assert!(blobs.exists(&big).await.unwrap());
        // Nothing is left in tmp/.
        let leftovers = blobs.garbage(&referenced, Duration::ZERO).await.unwrap();
        assert!(leftovers.files.is_empty(), "{leftovers:?}");
        blobs.remove(Garbage::of_content(&[big])).await.unwrap();
    }

    #[tokio::test]
    async fn interrupted_uploads_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let blobs = Blobs::open(url.as_str()).unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let leftover = dir.path().join("tmp/0123456789abcdef0123456789abcdef#1");
        std::fs::write(&leftover, b"half an upload").unwrap();
        let foreign = dir.path().join("tmp/README");
        std::fs::write(&foreign, b"not ours").unwrap();
        assert_eq!(blobs.remove_interrupted_uploads().await.unwrap(), 1);
        assert!(!leftover.exists());
        assert!(foreign.exists());
    }
}
