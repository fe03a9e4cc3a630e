//! Asset Versions and Function Versions (COMPAT §5.5, §5.8, §7, §8): path and visibility
//! rules, size limits, and creation — content made durable first, then the row.

use crate::blob::{Garbage, Staged};
use crate::config::Limits;
use crate::domain::sid::{self, Prefix};
use crate::domain::Core;
use crate::domain::{containers, names, Ctx};
use crate::error::ApiError;
use crate::store::{Container, ContainerKind, Page, PageRequest, Service, StoreError, Version};

pub use crate::store::Visibility;

/// Parses a `Visibility` parameter, case-insensitively (COMPAT §7.2).
pub fn parse_visibility(value: &str) -> Result<Visibility, ApiError> {
    use crate::store::Named;
    Visibility::from_name(&value.to_ascii_lowercase()).ok_or_else(|| {
        ApiError::invalid(format!(
            "Invalid Visibility: {}",
            names::truncate_for_message(value)
        ))
    })
}

/// Normalises and checks an upload `Path` (COMPAT §7.3): a leading `/` is added; at most 255
/// characters; no control characters, `?`, `#`, `.` or `..` segments. Nothing is decoded.
pub fn normalize_path(raw: &str) -> Result<String, ApiError> {
    let path = if raw.starts_with('/') {
        raw.to_owned()
    } else {
        format!("/{raw}")
    };
    let invalid = |why: &str| {
        ApiError::invalid(format!(
            "Invalid Path: {}: {why}",
            names::truncate_for_message(raw)
        ))
    };
    if path.chars().count() > 255 {
        return Err(invalid("must be at most 255 characters"));
    }
    if path
        .chars()
        .any(|c| c.is_ascii_control() || c == '?' || c == '#')
    {
        return Err(invalid("must not contain control characters, '?' or '#'"));
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(invalid("must not contain '.' or '..' segments"));
    }
    Ok(path)
}

/// Content bytes allowed for `kind` at `visibility` (`None`: no limit).
pub fn size_limit(limits: &Limits, kind: ContainerKind, visibility: Visibility) -> Option<u64> {
    let limit = match (kind, visibility) {
        (ContainerKind::Function, _) => limits.max_function_bytes,
        (ContainerKind::Asset, Visibility::Private) => limits.max_private_asset_bytes,
        (ContainerKind::Asset, _) => limits.max_public_asset_bytes,
    };
    (limit > 0).then_some(limit)
}

/// The most content bytes any visibility of `kind` allows: what an upload may stream before
/// its visibility is known.
pub fn largest_limit(limits: &Limits, kind: ContainerKind) -> Option<u64> {
    [
        Visibility::Public,
        Visibility::Protected,
        Visibility::Private,
    ]
    .into_iter()
    .map(|v| size_limit(limits, kind, v))
    .try_fold(0u64, |max, limit| limit.map(|l| max.max(l)))
}

/// What an upload carried, as parsed from its multipart body.
pub struct Upload {
    pub path: Option<String>,
    pub visibility: Option<String>,
    /// The staged content and the `Content` part's own Content-Type, if it had one.
    pub content: Option<(Staged, Option<String>)>,
}

/// Creates a Version from a parsed upload, validating in the order of COMPAT §7.2.
#[tracing::instrument(skip_all, fields(kind = ?kind, container = %container.sid))]
pub async fn create(
    core: &Core,
    ctx: &Ctx,
    kind: ContainerKind,
    container: &Container,
    upload: Upload,
) -> Result<Version, ApiError> {
    let path = normalize_path(
        upload
            .path
            .as_deref()
            .ok_or(ApiError::MissingParameter("Path"))?,
    )?;
    let visibility = parse_visibility(
        upload
            .visibility
            .as_deref()
            .ok_or(ApiError::MissingParameter("Visibility"))?,
    )?;
    let (staged, part_type) = upload
        .content
        .ok_or(ApiError::MissingParameter("Content"))?;
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
    hold_content(core, &staged.sha256, &sid).await?;
    let held = staged.sha256.clone();
    let sha256 = match staged.keep().await {
        Ok(sha256) => sha256,
        Err(err) => {
            release_content(core, &held, &sid).await;
            return Err(err.into());
        }
    };
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
    ctx.found(created)
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

/// Resolves Service, Asset/Function and Version; 404 for any unknown or malformed part.
pub async fn resolve(
    core: &Core,
    ctx: &Ctx,
    kind: ContainerKind,
    (service, container, sid): (&str, &str, &str),
) -> Result<(Service, Version), ApiError> {
    let (service, container) = containers::resolve(core, ctx, kind, service, container).await?;
    if !sid::is_valid(Prefix::Version, sid) {
        return Err(ctx.not_found());
    }
    let version = ctx.found(core.store.version(kind, &container.sid, sid).await)?;
    Ok((service, version))
}

pub async fn list(
    core: &Core,
    kind: ContainerKind,
    container: &Container,
    page: PageRequest,
) -> Result<Page<Version>, ApiError> {
    Ok(core.store.list_versions(kind, &container.sid, page).await?)
}

/// The code of a Function Version as text; invalid UTF-8 becomes U+FFFD (COMPAT §5.6).
pub async fn content(core: &Core, version: &Version) -> Result<String, ApiError> {
    let bytes = core
        .blobs
        .read(&version.sha256)
        .await
        .map_err(ApiError::internal)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Removes content no version references any more (and stale `tmp/` leftovers), on one node
/// at a time (the `gc` lease). Content goes only once the store has marked it for deletion,
/// which no upload's hold allows (see [`crate::store::Store::doom_blobs`]); the marks, and the
/// rows of its precompressed copies, are cleared before the files go.
pub async fn collect_garbage(core: &Core) -> Result<usize, StoreError> {
    let blob_error = |e: crate::blob::BlobError| StoreError::Backend(Box::new(e));
    let now = crate::clock::now();
    let lease = i64::try_from(core.config.upkeep.gc_every.as_secs())
        .unwrap_or(i64::MAX / 4)
        .max(60)
        * 2;
    if !core
        .store
        .take_lease("gc", &core.node, now, now + lease)
        .await?
    {
        return Ok(0);
    }
    // Marked by a collector that stopped before deleting.
    let leftovers = core.store.doomed_blobs().await?;
    let mut removed = 0;
    if !leftovers.is_empty() {
        removed += core
            .blobs
            .remove(Garbage::of_content(&leftovers))
            .await
            .map_err(blob_error)?;
        core.store.clear_doomed(&leftovers).await?;
    }
    let referenced = core.store.referenced_blobs().await?.into_iter().collect();
    let mut garbage = core
        .blobs
        .garbage(&referenced, core.config.upkeep.gc_grace)
        .await
        .map_err(blob_error)?;
    let doomed = core.store.doom_blobs(&garbage.content, now).await?;
    garbage.keep_only(&doomed);
    removed += core.blobs.remove(garbage).await.map_err(blob_error)?;
    core.store.clear_doomed(&doomed).await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_gain_a_leading_slash_and_keep_everything_else() {
        assert_eq!(normalize_path("style.css").unwrap(), "/style.css");
        assert_eq!(normalize_path("/a/b.js").unwrap(), "/a/b.js");
        assert_eq!(normalize_path("my%20file.png").unwrap(), "/my%20file.png");
        assert_eq!(normalize_path("/A//B").unwrap(), "/A//B");
        assert_eq!(normalize_path("it's (1).png").unwrap(), "/it's (1).png");
        assert_eq!(normalize_path("/").unwrap(), "/");
    }

    #[test]
    fn bad_paths_are_rejected() {
        let long = "a".repeat(255);
        for bad in [
            "/a/../b", "./x", "/a/.", "a?b", "a#b", "a\0b", "a\nb", "\u{7f}", &long,
        ] {
            assert!(normalize_path(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_path(&"a".repeat(254)).is_ok());
    }

    #[test]
    fn visibility_is_case_insensitive() {
        assert_eq!(parse_visibility("PUBLIC").unwrap(), Visibility::Public);
        assert_eq!(parse_visibility("Private").unwrap(), Visibility::Private);
        assert!(parse_visibility("hidden").is_err());
    }

    #[test]
    fn limits_follow_kind_and_visibility() {
        let limits = Limits::default();
        let asset = ContainerKind::Asset;
        assert_eq!(
            size_limit(&limits, asset, Visibility::Public),
            Some(25 << 20)
        );
        assert_eq!(
            size_limit(&limits, asset, Visibility::Private),
            Some(10 << 20)
        );
        assert_eq!(largest_limit(&limits, asset), Some(25 << 20));
        assert_eq!(
            largest_limit(&limits, ContainerKind::Function),
            Some(10 << 20)
        );
        let unlimited = Limits {
            max_private_asset_bytes: 0,
            ..Limits::default()
        };
        assert_eq!(largest_limit(&unlimited, asset), None);
    }
}
