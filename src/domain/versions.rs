//! Asset Versions and Function Versions (COMPAT §5.5, §5.8, §7, §8): path and visibility
//! rules, size limits, and creation — content made durable first, then the row.

use crate::blob::Garbage;
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
