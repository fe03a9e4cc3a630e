//! What garbage collection may touch: only names of depot's own key scheme, found without
//! following symbolic links. Anything else under the blob root (an operator's file, a link to
//! elsewhere) is left alone.
//!
//! Names (relative to the root): `sha256/{xx}/{hash}` (content, `xx` = the hash's first two
//! digits), `sha256/{xx}/{hash}.gz|.br` (precompressed copies), `tmp/{32 hex}` (an upload
//! streaming in), and any of these followed by `#{digits}` (the local store's staging file
//! for a write in progress, left behind when a write is cut short).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A name of depot's key scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobName {
    /// Content or one of its precompressed copies.
    Content { sha256: String, staging: bool },
    /// An upload's temporary object.
    Tmp { staging: bool },
}

impl BlobName {
    /// Parses a `/`-separated key relative to the blob root.
    pub fn parse(key: &str) -> Option<BlobName> {
        let mut parts = key.split('/');
        let (top, rest) = (parts.next()?, parts.collect::<Vec<_>>());
        match (top, rest.as_slice()) {
            ("sha256", [dir, file]) => {
                let (file, staging) = split_staging(file)?;
                let hash = file
                    .strip_suffix(".gz")
                    .or_else(|| file.strip_suffix(".br"))
                    .unwrap_or(file);
                let valid = is_lower_hex(hash, 64) && hash.get(..2) == Some(*dir);
                valid.then(|| BlobName::Content {
                    sha256: hash.to_owned(),
                    staging,
                })
            }
            ("tmp", [file]) => {
                let (file, staging) = split_staging(file)?;
                is_lower_hex(file, 32).then_some(BlobName::Tmp { staging })
            }
            _ => None,
        }
    }
}

/// `name#123` → (`name`, true); `name` → (`name`, false); `name#x` → None.
fn split_staging(file: &str) -> Option<(&str, bool)> {
    match file.split_once('#') {
        None => Some((file, false)),
        Some((name, digits)) => (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then_some((name, true)),
    }
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A file of the scheme found on disk.
#[derive(Debug)]
pub struct Found {
    pub path: PathBuf,
    pub name: BlobName,
    pub modified: SystemTime,
}

/// Every regular file under `root/{top}` whose name is of the scheme, without following links.
/// Blocking: run it off the async threads.
pub fn walk(root: &Path, top: &str) -> std::io::Result<Vec<Found>> {
    let mut found = Vec::new();
    let base = root.join(top);
    let Ok(meta) = std::fs::symlink_metadata(&base) else {
        return Ok(found);
    };
    if !meta.is_dir() {
        return Ok(found);
    }
    walk_dir(root, &base, 0, &mut found)?;
    Ok(found)
}

fn walk_dir(root: &Path, dir: &Path, depth: u8, found: &mut Vec<Found>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // `DirEntry::file_type` does not follow symbolic links.
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() && depth == 0 {
            walk_dir(root, &path, depth + 1, found)?;
        } else if kind.is_file() {
            let Some(key) = path
                .strip_prefix(root)
                .ok()
                .and_then(|k| k.to_str())
                .map(str::to_owned)
            else {
                continue;
            };
            if let Some(name) = BlobName::parse(&key) {
                let modified = entry.metadata()?.modified()?;
                found.push(Found {
                    path,
                    name,
                    modified,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "ab00000000000000000000000000000000000000000000000000000000000001";

    #[test]
    fn only_the_scheme_is_recognised() {
        let content = |staging| {
            Some(BlobName::Content {
                sha256: HASH.into(),
                staging,
            })
        };
        assert_eq!(
            BlobName::parse(&format!("sha256/ab/{HASH}")),
            content(false)
        );
        assert_eq!(
            BlobName::parse(&format!("sha256/ab/{HASH}.br")),
            content(false)
        );
        assert_eq!(
            BlobName::parse(&format!("sha256/ab/{HASH}.gz#3")),
            content(true)
        );
        assert_eq!(
            BlobName::parse("tmp/0123456789abcdef0123456789abcdef#1"),
            Some(BlobName::Tmp { staging: true })
        );
        for other in [
            format!("sha256/cd/{HASH}"),
            format!("sha256/ab/{HASH}.zip"),
            format!("sha256/ab/{HASH}#"),
            format!("sha256/ab/{HASH}#x1"),
            format!("sha256/ab/x/{HASH}"),
            format!("sha256/ab/{}", HASH.to_uppercase()),
            "tmp/notes.txt".into(),
            "tmp/0123456789abcdef0123456789abcdef/x".into(),
            "depot.db".into(),
        ] {
            assert_eq!(BlobName::parse(&other), None, "{other}");
        }
    }

    #[test]
    fn the_walk_skips_links_and_foreign_names() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let ours = root.path().join("tmp/0123456789abcdef0123456789abcdef#1");
        std::fs::create_dir_all(ours.parent().unwrap()).unwrap();
        std::fs::write(&ours, b"x").unwrap();
        std::fs::write(root.path().join("tmp/keep-me"), b"x").unwrap();
        let victim = outside.path().join("0123456789abcdef0123456789abcdee");
        std::fs::write(&victim, b"x").unwrap();
        std::os::unix::fs::symlink(
            &victim,
            root.path().join("tmp/0123456789abcdef0123456789abcdee"),
        )
        .unwrap();
        std::fs::create_dir_all(root.path().join("sha256")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("sha256/ab")).unwrap();

        let tmp = walk(root.path(), "tmp").unwrap();
        assert_eq!(tmp.len(), 1);
        assert_eq!(tmp[0].path, ours);
        assert!(walk(root.path(), "sha256").unwrap().is_empty());
    }
}
