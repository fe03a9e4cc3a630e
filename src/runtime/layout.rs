//! A build's files on this node's disk (RUNTIME §6.9): `{data}/functions/builds/{ZB}/` holds
//! `functions/{ZN}.js` and `assets/{ZN}{ext}` (private assets only: the others are served by
//! the host), named by version SID so that no user path ever reaches the file system.
//!
//! Any node may serve any environment, so a node lays a build out when it first needs it,
//! from the blob store. A directory is built under a temporary name and renamed into place
//! whole: a crash leaves no half-laid build behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::domain::Core;
use crate::store::{BuildDetail, Version, Visibility};

/// One function of a build.
#[derive(Debug, Clone)]
pub struct FunctionFile {
    /// The Function (`ZH…`), for Logs.
    pub function_sid: String,
    /// The Function Version (`ZN…`).
    pub version_sid: String,
    /// Its route, starting with `/`.
    pub path: String,
    pub visibility: Visibility,
    /// The `.js` file on disk.
    pub file: PathBuf,
}

/// A build laid out on disk.
#[derive(Debug, Clone)]
pub struct BuildDir {
    pub root: PathBuf,
    pub functions: Vec<FunctionFile>,
    /// Private asset path (with its leading `/`) → file on disk.
    pub private_assets: BTreeMap<String, PathBuf>,
}

/// Where builds are laid out on this node.
pub fn builds_root(core: &Core) -> PathBuf {
    core.config.data_dir.join("functions").join("builds")
}

/// The build's directory, laid out now unless it already is.
pub async fn prepare(core: &Core, detail: &BuildDetail) -> Result<BuildDir, String> {
    let root = builds_root(core).join(&detail.build.sid);
    let laid_out = describe(&root, detail);
    if tokio::fs::try_exists(root.join(READY))
        .await
        .unwrap_or(false)
    {
        return Ok(laid_out);
    }
    let parent = builds_root(core);
    tokio::fs::create_dir_all(&parent)
        .await
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let staging = parent.join(format!(
        ".{}.{}",
        detail.build.sid,
        crate::domain::sid::generate(crate::domain::sid::Prefix::Request)
    ));
    let result = lay_out(core, &staging, detail).await;
    if let Err(err) = result {
        let _ = tokio::fs::remove_dir_all(&staging).await;
        return Err(err);
    }
    match tokio::fs::rename(&staging, &root).await {
        Ok(()) => {}
        // Another task of this node laid it out first.
        Err(_)
            if tokio::fs::try_exists(root.join(READY))
                .await
                .unwrap_or(false) =>
        {
            let _ = tokio::fs::remove_dir_all(&staging).await;
        }
        Err(err) => {
            let _ = tokio::fs::remove_dir_all(&staging).await;
            return Err(format!("cannot move build into {}: {err}", root.display()));
        }
    }
    Ok(laid_out)
}

/// Marks a complete layout; written last.
const READY: &str = ".ready";

fn describe(root: &Path, detail: &BuildDetail) -> BuildDir {
    let functions = detail
        .functions
        .iter()
        .map(|v| FunctionFile {
            function_sid: v.container_sid.clone(),
            version_sid: v.sid.clone(),
            path: v.path.clone(),
            visibility: v.visibility,
            file: root.join(function_file(v)),
        })
        .collect();
    let private_assets = detail
        .assets
        .iter()
        .filter(|v| v.visibility == Visibility::Private)
        .map(|v| (v.path.clone(), root.join(asset_file(v))))
        .collect();
    BuildDir {
        root: root.to_path_buf(),
        functions,
        private_assets,
    }
}

fn function_file(version: &Version) -> PathBuf {
    Path::new("functions").join(format!("{}.js", version.sid))
}

/// `assets/{ZN}` plus the path's extension when it is a plain one, so that
/// `require(Runtime.getAssets()['/x.json'].path)` works.
fn asset_file(version: &Version) -> PathBuf {
    let ext = Path::new(&version.path)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| !e.is_empty() && e.len() <= 16 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    Path::new("assets").join(format!("{}{ext}", version.sid))
}

async fn lay_out(core: &Core, dir: &Path, detail: &BuildDetail) -> Result<(), String> {
    for sub in ["functions", "assets"] {
        tokio::fs::create_dir_all(dir.join(sub))
            .await
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    for version in &detail.functions {
        copy_content(core, version, &dir.join(function_file(version))).await?;
    }
    for version in detail
        .assets
        .iter()
        .filter(|v| v.visibility == Visibility::Private)
    {
        copy_content(core, version, &dir.join(asset_file(version))).await?;
    }
    tokio::fs::write(dir.join(READY), b"")
        .await
        .map_err(|e| format!("cannot write {}: {e}", dir.display()))
}

/// Streams a version's content into `to`.
async fn copy_content(core: &Core, version: &Version, to: &Path) -> Result<(), String> {
    let size = u64::try_from(version.size).unwrap_or(0);
    let mut stream = core
        .blobs
        .stream(&version.sha256, None, size, None)
        .await
        .map_err(|e| format!("content of version {} unreadable: {e}", version.sid))?;
    let mut file = tokio::fs::File::create(to)
        .await
        .map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| format!("content of version {} unreadable: {e}", version.sid))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    }
    file.flush()
        .await
        .map_err(|e| format!("cannot write {}: {e}", to.display()))
}
