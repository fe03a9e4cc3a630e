//! Installs handed from node to node. The node that runs `npm install` for a dependency set
//! puts the finished install in the bucket (`shared/installs/{key}.tar`) before its build
//! completes; a node that needs the same set later unpacks that instead of running npm. So a
//! deployment made on one node starts serving its functions on the others without an npm
//! install there, and without their reaching the npm registry at all.
//!
//! Only with a bucket (`s3://`): a local content folder is one node's own. Both steps are best
//! effort: a node that cannot fetch an install runs npm, one that cannot publish logs it.

use std::path::{Path, PathBuf};

use crate::domain::Core;

fn name(key: &str) -> String {
    format!("installs/{key}.tar")
}

/// A scratch archive beside the installs: a dot name, which their garbage collection removes
/// when a crash leaves one behind.
fn archive_for(dir: &Path, key: &str) -> PathBuf {
    let id = crate::domain::sid::generate(crate::domain::sid::Prefix::Request);
    dir.with_file_name(format!(".{key}.{id}.tar"))
}

/// Unpacks the shared install of `key` into `staging` (which must not exist yet); `true` when
/// `staging` now holds a complete install (its `marker` file included).
pub async fn fetch(core: &Core, key: &str, staging: &Path, marker: &str) -> bool {
    if !core.blobs.is_shared() {
        return false;
    }
    let archive = archive_for(staging, key);
    let fetched = match core.blobs.get_shared(&name(key), &archive).await {
        Ok(found) => found,
        Err(err) => {
            tracing::warn!(install = %key, error = %err, "cannot fetch a shared install; running npm");
            false
        }
    };
    let unpacked = fetched
        && {
            let (archive, staging) = (archive.clone(), staging.to_path_buf());
            let marker = staging.join(marker);
            let result = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
                std::fs::create_dir_all(&staging)?;
                let mut tar = tar::Archive::new(std::fs::File::open(&archive)?);
                tar.set_preserve_permissions(true);
                // Entries with `..` or absolute paths, and writes through links leaving the
                // folder, are refused by `unpack`.
                tar.unpack(&staging)?;
                Ok(marker.exists())
            })
            .await;
            match result {
                Ok(Ok(complete)) => complete,
                Ok(Err(err)) => {
                    tracing::warn!(install = %key, error = %err, "cannot unpack a shared install; running npm");
                    false
                }
                Err(err) => {
                    tracing::warn!(install = %key, error = %err, "unpacking a shared install failed");
                    false
                }
            }
        };
    let _ = tokio::fs::remove_file(&archive).await;
    if fetched && !unpacked {
        let _ = tokio::fs::remove_dir_all(staging).await;
    }
    if unpacked {
        tracing::info!(install = %key, "took the install another node shared");
    }
    unpacked
}

/// Puts the complete install `dir` of `key` in the bucket for the other nodes.
pub async fn publish(core: &Core, key: &str, dir: &Path) {
    if !core.blobs.is_shared() {
        return;
    }
    let archive = archive_for(dir, key);
    let packed = {
        let (archive, dir) = (archive.clone(), dir.to_path_buf());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut tar = tar::Builder::new(std::fs::File::create(&archive)?);
            // `node_modules/.bin` holds links: kept as links.
            tar.follow_symlinks(false);
            tar.append_dir_all(".", &dir)?;
            tar.into_inner()?.sync_all()
        })
        .await
    };
    let published = match packed {
        Ok(Ok(())) => core
            .blobs
            .put_shared(&name(key), &archive)
            .await
            .map_err(|e| e.to_string()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(err) => Err(err.to_string()),
    };
    let _ = tokio::fs::remove_file(&archive).await;
    match published {
        Ok(()) => tracing::info!(install = %key, "install shared with the other nodes"),
        Err(err) => {
            tracing::warn!(install = %key, error = %err, "cannot share an install; other nodes will run npm")
        }
    }
}
