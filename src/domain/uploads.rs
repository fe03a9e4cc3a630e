//! The upload sink: what an Asset or Function Version upload carries goes through here,
//! whatever the wire format parsed it: the text fields, the content (streamed into staging
//! while it is hashed, never held whole, and cut off the moment it passes the limit that
//! applies), then the Version — content made durable and protected first, then the row.

use crate::blob::{self, Staged};
use crate::domain::sid::{self, Prefix};
use crate::domain::versions::{largest_limit, normalize_path, parse_visibility, size_limit};
use crate::domain::{Core, Ctx};
use crate::error::ApiError;
use crate::store::{Container, ContainerKind, Version};

/// The fields of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Path,
    Visibility,
    Content,
    /// Unknown, or a repeat of a field already given: read and dropped.
    Ignored,
}

/// One upload in progress; see the module docs.
pub struct Sink<'c> {
    core: &'c Core,
    kind: ContainerKind,
    path: Option<String>,
    visibility: Option<String>,
    /// The staged content and the `Content` part's own Content-Type, if it had one.
    content: Option<(Staged, Option<String>)>,
}

/// The content of an upload, streaming into staging.
pub struct Content {
    blob: blob::Upload,
    limit: Option<u64>,
    part_type: Option<String>,
}

impl Content {
    /// Appends `chunk`; 413 once the content passes its limit.
    pub async fn write(&mut self, chunk: bytes::Bytes) -> Result<(), ApiError> {
        if self
            .limit
            .is_some_and(|max| self.blob.size() + chunk.len() as u64 > max)
        {
            return Err(ApiError::PayloadTooLarge);
        }
        Ok(self.blob.write(chunk).await?)
    }
}

impl<'c> Sink<'c> {
    pub fn new(core: &'c Core, kind: ContainerKind) -> Sink<'c> {
        Sink {
            core,
            kind,
            path: None,
            visibility: None,
            content: None,
        }
    }

    /// The most content bytes any upload of this kind may carry (`None`: no limit).
    pub fn largest(&self) -> Option<u64> {
        largest_limit(&self.core.config.limits, self.kind)
    }

    /// What a part named `name` is to this upload; the first of each name counts.
    pub fn field(&self, name: Option<&str>) -> Field {
        match name {
            Some("Path") if self.path.is_none() => Field::Path,
            Some("Visibility") if self.visibility.is_none() => Field::Visibility,
            Some("Content") if self.content.is_none() => Field::Content,
            _ => Field::Ignored,
        }
    }

    /// Sets a text field; empty counts as absent like any empty parameter.
    pub fn set_text(&mut self, field: Field, value: String) {
        let value = Some(value).filter(|v| !v.is_empty());
        match field {
            Field::Path => self.path = value,
            Field::Visibility => self.visibility = value,
            Field::Content | Field::Ignored => {}
        }
    }

    /// Starts the content. Once the visibility is known its own limit applies; before, the
    /// largest (it is checked again when the Version is made).
    pub async fn open_content(&self, part_type: Option<String>) -> Result<Content, ApiError> {
        let limits = &self.core.config.limits;
        let limit = match self.visibility.as_deref().map(parse_visibility) {
            Some(Ok(visibility)) => size_limit(limits, self.kind, visibility),
            _ => self.largest(),
        };
        Ok(Content {
            blob: self.core.blobs.begin().await?,
            limit,
            part_type,
        })
    }

    /// Completes the content: staged, waiting for [`Sink::create`].
    pub async fn close_content(&mut self, content: Content) -> Result<(), ApiError> {
        let staged = content.blob.finish().await?;
        self.content = Some((staged, content.part_type));
        Ok(())
    }

    /// Creates the Version in `container`, validating in the order of COMPAT §7.2.
    #[tracing::instrument(skip_all, fields(kind = ?self.kind, container = %container.sid))]
    pub async fn create(self, ctx: &Ctx, container: &Container) -> Result<Version, ApiError> {
        let (core, kind) = (self.core, self.kind);
        let path = normalize_path(
            self.path
                .as_deref()
                .ok_or(ApiError::MissingParameter("Path"))?,
        )?;
        let visibility = parse_visibility(
            self.visibility
                .as_deref()
                .ok_or(ApiError::MissingParameter("Visibility"))?,
        )?;
        let (staged, part_type) = self.content.ok_or(ApiError::MissingParameter("Content"))?;
        if size_limit(&core.config.limits, kind, visibility).is_some_and(|max| staged.size > max) {
            return Err(ApiError::PayloadTooLarge);
        }
        // `application/octet-stream` is what clients send when they could not tell (curl's
        // default for `-F Content=@file`), so the path's extension is the better guess then.
        let content_type = part_type
            .filter(|t| !t.eq_ignore_ascii_case("application/octet-stream"))
            .unwrap_or_else(|| {
                mime_guess::from_path(&path)
                    .first_raw()
                    .unwrap_or("application/octet-stream")
                    .to_owned()
            });
        let size = i64::try_from(staged.size).unwrap_or(i64::MAX);
        let sid = sid::generate(Prefix::Version);
        let sha256 = staged.sha256.clone();
        hold_content(core, &sha256, &sid).await?;
        if let Err(err) = staged.keep().await {
            release_content(core, &sha256, &sid).await;
            return Err(err.into());
        }
        let version = Version {
            seq: 0,
            sid: sid.clone(),
            account_sid: container.account_sid.clone(),
            service_sid: container.service_sid.clone(),
            container_sid: container.sid.clone(),
            path,
            visibility,
            content_type,
            size,
            sha256,
            date_created: crate::clock::now(),
        };
        // A Container deleted meanwhile leaves the blob as garbage for the collector.
        let created = core.store.create_version(kind, &version).await;
        release_content(core, &version.sha256, &sid).await;
        if created.is_ok() {
            crate::metrics::upload(version.size.unsigned_abs());
        }
        ctx.found(created)
    }
}

/// How long an upload may take from holding its content to writing its row.
const HOLD_SECS: i64 = 600;
/// How long an upload waits for a collector deleting the same content to finish.
const DOOMED_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Protects `sha256` from garbage collection for the upload of version `holder`. When a
/// collector (on any node) is deleting that content, waits until it is done, so that the
/// content this upload then writes is not deleted after it.
async fn hold_content(core: &Core, sha256: &str, holder: &str) -> Result<(), ApiError> {
    let started = std::time::Instant::now();
    loop {
        let until = crate::clock::now() + HOLD_SECS;
        if core.store.hold_blob(sha256, holder, until).await? {
            return Ok(());
        }
        if started.elapsed() > DOOMED_WAIT {
            return Err(ApiError::Unavailable(
                "content is being garbage collected; try again".into(),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Ends an upload's hold; a hold left behind by a failure expires by itself.
async fn release_content(core: &Core, sha256: &str, holder: &str) {
    if let Err(err) = core.store.release_blob(sha256, holder).await {
        tracing::warn!(error = %err, "cannot release content hold; it expires by itself");
    }
}
