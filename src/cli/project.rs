//! A Serverless Toolkit project folder as `depot deploy` reads it (COMPAT §12): the files of
//! `assets/` (or `static/`) and the `.js` files of `functions/` (or `src/`), each with the path
//! and visibility the toolkit derives from its name, and the hash of its content.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::store::{ContainerKind, Visibility};

/// One file to deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    pub kind: ContainerKind,
    /// Where it is on disk.
    pub source: PathBuf,
    /// Its path on the environment's domain, e.g. `/img/logo.png` or `/api/token`.
    pub path: String,
    pub visibility: Visibility,
    pub size: u64,
    /// Hex SHA-256 of the content: what decides whether it must be uploaded again.
    pub sha256: String,
}

/// What a project folder holds.
#[derive(Debug, Default)]
pub struct Project {
    pub files: Vec<LocalFile>,
    /// `dependencies` of `package.json`, as name and version.
    pub dependencies: Vec<(String, String)>,
}

/// Reads `dir`; an error (a sentence for the user) when it has neither an assets nor a
/// functions folder, or cannot be read.
pub fn scan(dir: &Path) -> Result<Project, String> {
    let assets = ["assets", "static"]
        .map(|d| dir.join(d))
        .into_iter()
        .find(|d| d.is_dir());
    let functions = ["functions", "src"]
        .map(|d| dir.join(d))
        .into_iter()
        .find(|d| d.is_dir());
    if assets.is_none() && functions.is_none() {
        return Err(format!(
            "{} has neither an assets/ nor a functions/ folder: nothing to deploy",
            dir.display()
        ));
    }
    let mut files = Vec::new();
    for (kind, root) in [
        (ContainerKind::Asset, assets),
        (ContainerKind::Function, functions),
    ] {
        let Some(root) = root else { continue };
        let mut found = Vec::new();
        walk(&root, &mut found).map_err(|e| format!("cannot read {}: {e}", root.display()))?;
        found.sort();
        for source in found {
            let Ok(relative) = source.strip_prefix(&root) else {
                continue;
            };
            let relative = relative.to_string_lossy().replace('\\', "/");
            if kind == ContainerKind::Function && !relative.ends_with(".js") {
                continue;
            }
            let (path, visibility) = toolkit_path(kind, &relative);
            let (size, sha256) =
                hash(&source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
            files.push(LocalFile {
                kind,
                source,
                path,
                visibility,
                size,
                sha256,
            });
        }
    }
    Ok(Project {
        files,
        dependencies: dependencies(&dir.join("package.json"))?,
    })
}

/// Every regular file below `dir` except `.DS_Store`, without following links.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, found)?;
        } else if kind.is_file() && entry.file_name() != ".DS_Store" {
            found.push(path);
        }
    }
    Ok(())
}

/// The toolkit's path and visibility for a file at `relative` (with `/` separators) below the
/// assets or functions folder: `.private.` / `.protected.` markers removed, functions without
/// `.js`, whitespace as `-`.
pub fn toolkit_path(kind: ContainerKind, relative: &str) -> (String, Visibility) {
    let (dir, name) = match relative.rsplit_once('/') {
        Some((dir, name)) => (format!("{dir}/"), name),
        None => (String::new(), relative),
    };
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, Some(ext)),
        _ => (name, None),
    };
    let (stem, visibility) = if let Some(stem) = stem.strip_suffix(".protected") {
        (stem, Visibility::Protected)
    } else if let Some(stem) = stem.strip_suffix(".private") {
        (stem, Visibility::Private)
    } else {
        (stem, Visibility::Public)
    };
    let name = match (kind, ext) {
        (ContainerKind::Function, _) | (_, None) => stem.to_owned(),
        (ContainerKind::Asset, Some(ext)) => format!("{stem}.{ext}"),
    };
    let path: String = format!("/{dir}{name}")
        .chars()
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .collect();
    (path, visibility)
}

/// Size and SHA-256 of a file, read in pieces.
fn hash(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// `dependencies` of a `package.json`, if there is one.
fn dependencies(package: &Path) -> Result<Vec<(String, String)>, String> {
    let Ok(text) = std::fs::read_to_string(package) else {
        return Ok(Vec::new());
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", package.display()))?;
    Ok(json
        .get("dependencies")
        .and_then(|d| d.as_object())
        .map(|deps| {
            deps.iter()
                .map(|(name, version)| (name.clone(), version.as_str().unwrap_or("*").to_owned()))
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_visibility_follow_the_toolkit() {
        let cases = [
            (
                ContainerKind::Function,
                "hello.js",
                "/hello",
                Visibility::Public,
            ),
            (
                ContainerKind::Function,
                "api/token.protected.js",
                "/api/token",
                Visibility::Protected,
            ),
            (
                ContainerKind::Asset,
                "img/logo.png",
                "/img/logo.png",
                Visibility::Public,
            ),
            (
                ContainerKind::Asset,
                "config.private.json",
                "/config.json",
                Visibility::Private,
            ),
            (
                ContainerKind::Asset,
                "assets/index.html",
                "/assets/index.html",
                Visibility::Public,
            ),
            (
                ContainerKind::Asset,
                "my file.txt",
                "/my-file.txt",
                Visibility::Public,
            ),
            (
                ContainerKind::Asset,
                "LICENSE",
                "/LICENSE",
                Visibility::Public,
            ),
            (
                ContainerKind::Asset,
                ".well-known",
                "/.well-known",
                Visibility::Public,
            ),
        ];
        for (kind, relative, path, visibility) in cases {
            assert_eq!(
                toolkit_path(kind, relative),
                (path.to_owned(), visibility),
                "{relative}"
            );
        }
    }

    #[test]
    fn a_folder_without_assets_or_functions_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = scan(dir.path()).unwrap_err();
        assert!(
            err.contains("assets/") && err.contains("functions/"),
            "{err}"
        );
    }

    #[test]
    fn only_js_functions_are_deployed_and_content_is_hashed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("functions")).unwrap();
        std::fs::create_dir_all(dir.path().join("assets/css")).unwrap();
        std::fs::write(dir.path().join("functions/hi.js"), "exports.handler = 1;").unwrap();
        std::fs::write(dir.path().join("functions/README.md"), "no").unwrap();
        std::fs::write(dir.path().join("assets/css/site.css"), "body{}").unwrap();
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"name":"p","dependencies":{"lodash":"^4.17.21"}}"#,
        )
        .unwrap();
        let project = scan(dir.path()).unwrap();
        let paths: Vec<_> = project.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/css/site.css", "/hi"]);
        assert_eq!(
            project.files[0].sha256,
            hex::encode(Sha256::digest(b"body{}"))
        );
        assert_eq!(
            project.dependencies,
            vec![("lodash".to_owned(), "^4.17.21".to_owned())]
        );
    }
}
