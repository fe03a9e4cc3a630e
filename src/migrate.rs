//! `depot migrate`: copies everything from one store and content store to another — typically
//! from the embedded SQLite + files to PostgreSQL + S3 — keeping every SID, date and order,
//! and every byte, verified by its SHA-256.
//!
//! The copy goes through the `Store` trait, so any backend can be a source or a target. Rows
//! are inserted in their list order, so page tokens keep their order; the target must be
//! empty, and no depot may serve the target while the copy runs.

use std::collections::BTreeSet;

use futures_util::StreamExt;

use crate::blob::{BlobError, Blobs};
use crate::store::{
    BuildStatus, ContainerKind, Cursor, LogFilter, Page, PageRequest, Positioned, Store, StoreError,
};

/// Failures of a migration, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("content store: {0}")]
    Blobs(#[from] BlobError),
    #[error("the target already holds account {0}: migrate into an empty database")]
    TargetNotEmpty(String),
    #[error("content {expected} arrived as {found}: the source is damaged")]
    HashMismatch { expected: String, found: String },
}

/// What a migration copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub accounts: usize,
    pub rows: usize,
    pub blobs: usize,
    pub bytes: u64,
}

/// Rows per page read from the source.
const PAGE: u32 = 500;

/// Reads every row of a paged list, in list order.
async fn all<T, F, Fut>(mut page: F) -> Result<Vec<T>, StoreError>
where
    T: Positioned,
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    let mut rows: Vec<T> = Vec::new();
    let mut cursor = Cursor::Offset(0);
    loop {
        let got = page(PageRequest { cursor, size: PAGE }).await?;
        let more = got.has_next;
        rows.extend(got.items);
        match rows.last() {
            Some(last) if more => cursor = Cursor::After(last.seq()),
            _ => return Ok(rows),
        }
    }
}

/// Copies every account and what it owns from `from` to `to`, then every blob they
/// reference. `progress` hears one line per service.
pub async fn copy(
    (from, from_blobs): (&dyn Store, &Blobs),
    (to, to_blobs): (&dyn Store, &Blobs),
    progress: &(dyn Fn(String) + Sync),
) -> Result<Copied, MigrateError> {
    let mut copied = Copied::default();
    let accounts = from.list_accounts().await?;
    for account in &accounts {
        if to.account(&account.sid).await?.is_some() {
            return Err(MigrateError::TargetNotEmpty(account.sid.clone()));
        }
    }
    // Every field of each account, main accounts before the subaccounts they own.
    let mut records = Vec::new();
    for account in &accounts {
        if let Some(record) = from.account_record(&account.sid).await? {
            records.push(record);
        }
    }
    records.sort_by_key(|r| (r.owner_account_sid.is_some(), r.date_created, r.seq));
    for record in &records {
        to.create_account(record).await?;
        copied.accounts += 1;
        // Keys keep their SIDs and secret hashes: their secrets go on working.
        for key in all(|p| from.list_keys(&record.sid, p)).await? {
            to.create_key(&key).await?;
            copied.rows += 1;
        }
    }
    let mut contents = BTreeSet::new();
    for account in &accounts {
        let services = all(|p| from.list_services(&account.sid, p)).await?;
        for service in services {
            progress(format!("service {} ({})", service.sid, service.unique_name));
            to.create_service(&service, 0).await?;
            copied.rows += 1;
            copied.rows += copy_service(from, to, &service.sid, &mut contents).await?;
        }
    }
    for sha256 in &contents {
        copied.bytes += copy_blob(from_blobs, to_blobs, sha256).await?;
        copied.blobs += 1;
        for encoded in from.encodings(sha256).await? {
            let encoding = encoded.encoding.as_str();
            let data = from_blobs.read_encoded(sha256, Some(encoding)).await?;
            to_blobs.put_encoded(sha256, encoding, data).await?;
            to.record_encoding(&encoded).await?;
        }
    }
    Ok(copied)
}

/// Copies the rows below one service; returns how many.
async fn copy_service(
    from: &dyn Store,
    to: &dyn Store,
    service: &str,
    contents: &mut BTreeSet<String>,
) -> Result<usize, MigrateError> {
    let mut rows = 0;
    for kind in [ContainerKind::Asset, ContainerKind::Function] {
        let containers = all(|p| async move {
            from.list_containers(kind, service, p)
                .await
                .map(|page| (*page).clone())
        })
        .await?;
        for container in containers {
            to.create_container(kind, &container).await?;
            rows += 1;
            for version in all(|p| from.list_versions(kind, &container.sid, p)).await? {
                contents.insert(version.sha256.clone());
                to.create_version(kind, &version).await?;
                rows += 1;
            }
        }
    }
    for detail in all(|p| from.list_builds(service, p)).await? {
        let build = &detail.build;
        let sids = |versions: &[crate::store::Version]| {
            versions.iter().map(|v| v.sid.clone()).collect::<Vec<_>>()
        };
        let mut building = build.clone();
        building.status = BuildStatus::Building;
        let quota = crate::store::BuildQuota {
            per_hour: 0,
            now: build.date_created,
        };
        to.create_build(
            &building,
            &sids(&detail.assets),
            &sids(&detail.functions),
            quota,
        )
        .await?;
        if build.status != BuildStatus::Building {
            to.finish_build(
                &build.sid,
                build.status,
                build.failure.as_deref(),
                build.date_updated,
            )
            .await?;
        }
        rows += 1;
    }
    for environment in all(|p| from.list_environments(service, p)).await? {
        to.create_environment(&environment, 0).await?;
        rows += 1;
        let sid = environment.sid.as_str();
        // In order: the last deployment leaves the environment on its live build.
        for deployment in all(|p| from.list_deployments(sid, p)).await? {
            to.create_deployment(&deployment).await?;
            rows += 1;
        }
        for variable in all(|p| from.list_variables(sid, p)).await? {
            to.create_variable(&variable).await?;
            rows += 1;
        }
        let filter = LogFilter::default();
        let mut logs = all(|p| from.list_logs(sid, &filter, p)).await?;
        // Listed newest first; inserted oldest first to keep that order.
        logs.reverse();
        for log in logs {
            to.create_log(&log).await?;
            rows += 1;
        }
    }
    Ok(rows)
}

/// Streams one blob across, checking its hash on the way; returns its size.
async fn copy_blob(from: &Blobs, to: &Blobs, sha256: &str) -> Result<u64, MigrateError> {
    let length = from.size(sha256).await?;
    let mut source = from.stream(sha256, None, length, None).await?;
    let mut upload = to.begin().await?;
    while let Some(chunk) = source.next().await {
        upload.write(chunk?).await?;
    }
    let staged = upload.finish().await?;
    if staged.sha256 != sha256 {
        return Err(MigrateError::HashMismatch {
            expected: sha256.to_owned(),
            found: staged.sha256.clone(),
        });
    }
    staged.keep().await?;
    Ok(length)
}
