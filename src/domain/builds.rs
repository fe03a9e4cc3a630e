//! Builds (COMPAT §5.9, §9): validation at create, then the background builder decides the
//! outcome (`domain::builder`).

use serde::{Deserialize, Serialize};

use crate::domain::sid::{self, Prefix};
use crate::domain::versions::Visibility;
use crate::domain::Core;
use crate::domain::{names, services, Ctx};
use crate::error::ApiError;
use crate::store::{
    Build, BuildDetail, BuildQuota, BuildStatus, ContainerKind, Page, PageRequest, Service,
    StoreError, Version,
};

/// Runtimes a Build may name (the spec's enum plus node24, COMPAT §5.9).
pub const RUNTIMES: &[&str] = &[
    "node8", "node10", "node12", "node14", "node16", "node18", "node20", "node22", "node24",
];
pub const DEFAULT_RUNTIME: &str = "node22";

/// One entry of `Dependencies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    pub name: String,
    pub version: String,
}

/// Parses `Dependencies` in every encoding clients send (COMPAT §9.3): plain JSON, JSON
/// wrapped in one extra pair of unescaped quotes (serverless-api), a JSON string holding JSON,
/// or an object mapping names to versions.
pub fn parse_dependencies(raw: &str) -> Result<Vec<Dependency>, ApiError> {
    let invalid = || {
        ApiError::invalid(format!(
            "Invalid Dependencies: {}: expected a JSON array of {{\"name\", \"version\"}}",
            names::truncate_for_message(raw)
        ))
    };
    let text = raw.trim();
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|inner| inner.trim_start().starts_with('['));
    let mut value: serde_json::Value = match inner.and_then(|i| serde_json::from_str(i).ok()) {
        Some(array) => array,
        None => serde_json::from_str(text).map_err(|_| invalid())?,
    };
    if let serde_json::Value::String(nested) = &value {
        value = serde_json::from_str(nested).map_err(|_| invalid())?;
    }
    let pairs: Vec<(String, serde_json::Value)> = match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::Object(mut o) => {
                    let name = o.remove("name").ok_or_else(invalid)?;
                    let version = o.remove("version").unwrap_or(serde_json::Value::Null);
                    Ok((name.as_str().ok_or_else(invalid)?.to_owned(), version))
                }
                _ => Err(invalid()),
            })
            .collect::<Result<_, _>>()?,
        serde_json::Value::Object(map) => map.into_iter().collect(),
        _ => return Err(invalid()),
    };
    pairs
        .into_iter()
        .map(|(name, version)| {
            let version = match version {
                serde_json::Value::String(v) if !v.is_empty() => v,
                serde_json::Value::String(_) | serde_json::Value::Null => "*".to_owned(),
                _ => return Err(invalid()),
            };
            if name.is_empty() {
                return Err(invalid());
            }
            Ok(Dependency { name, version })
        })
        .collect()
}

/// Raw CreateBuild parameters.
pub struct NewBuild<'a> {
    pub asset_versions: Vec<&'a str>,
    pub function_versions: Vec<&'a str>,
    pub dependencies: Option<&'a str>,
    pub runtime: Option<&'a str>,
}

/// SIDs in first-seen order without repeats.
fn dedup<'a>(sids: &[&'a str]) -> Vec<&'a str> {
    let mut seen = std::collections::HashSet::new();
    sids.iter().copied().filter(|s| seen.insert(*s)).collect()
}

/// Validates in the order of COMPAT §9.2, creates the Build as `building` and queues it.
#[tracing::instrument(skip_all)]
pub async fn create(
    core: &Core,
    ctx: &Ctx,
    service: &str,
    input: NewBuild<'_>,
) -> Result<BuildDetail, ApiError> {
    let service = services::resolve(core, ctx, service).await?;
    if input.asset_versions.is_empty() && input.function_versions.is_empty() {
        return Err(ApiError::invalid(
            "Missing required parameter AssetVersions or FunctionVersions in the post body",
        ));
    }
    for (name, sids) in [
        ("AssetVersions", &input.asset_versions),
        ("FunctionVersions", &input.function_versions),
    ] {
        if let Some(bad) = sids.iter().find(|s| !sid::is_valid(Prefix::Version, s)) {
            return Err(ApiError::invalid(format!(
                "Invalid {name}: {}",
                names::truncate_for_message(bad)
            )));
        }
    }
    let runtime = input.runtime.unwrap_or(DEFAULT_RUNTIME);
    if !RUNTIMES.contains(&runtime) {
        return Err(ApiError::invalid(format!(
            "Invalid Runtime: {}",
            names::truncate_for_message(runtime)
        )));
    }
    let dependencies = match input.dependencies {
        Some(raw) => parse_dependencies(raw)?,
        None => Vec::new(),
    };
    let assets = existing(
        core,
        &service,
        ContainerKind::Asset,
        &dedup(&input.asset_versions),
    )
    .await?;
    let functions = existing(
        core,
        &service,
        ContainerKind::Function,
        &dedup(&input.function_versions),
    )
    .await?;
    check_counts(core, &assets, &functions)?;

    let now = crate::clock::now();
    let build = Build {
        seq: 0,
        sid: sid::generate(Prefix::Build),
        account_sid: service.account_sid.clone(),
        service_sid: service.sid.clone(),
        status: BuildStatus::Building,
        runtime: runtime.to_owned(),
        dependencies: serde_json::to_string(&dependencies).map_err(ApiError::internal)?,
        failure: None,
        date_created: now,
        date_updated: now,
    };
    let asset_sids: Vec<String> = assets.iter().map(|v| v.sid.clone()).collect();
    let function_sids: Vec<String> = functions.iter().map(|v| v.sid.clone()).collect();
    let quota = BuildQuota {
        per_hour: core.config.limits.max_builds_per_hour,
        now,
    };
    let created = match core
        .store
        .create_build(&build, &asset_sids, &function_sids, quota)
        .await
    {
        Ok(created) => created,
        Err(StoreError::RateLimited { retry_after_secs }) => {
            return Err(ApiError::TooManyRequests { retry_after_secs })
        }
        Err(StoreError::NotFound) => return Err(ctx.not_found()),
        Err(err) => return Err(err.into()),
    };
    core.builder.enqueue(&created);
    Ok(BuildDetail {
        build: created,
        assets,
        functions,
    })
}

/// The versions named, in request order; 404 for the first that is not a version of `kind`
/// in this Service.
async fn existing(
    core: &Core,
    service: &Service,
    kind: ContainerKind,
    sids: &[&str],
) -> Result<Vec<Version>, ApiError> {
    let owned: Vec<String> = sids.iter().map(|s| (*s).to_owned()).collect();
    let found = core
        .store
        .versions_by_sid(kind, &service.sid, &owned)
        .await?;
    let mut by_sid: std::collections::HashMap<&str, &Version> =
        found.iter().map(|v| (v.sid.as_str(), v)).collect();
    let mut ordered = Vec::with_capacity(sids.len());
    for sid in sids {
        match by_sid.remove(sid) {
            Some(version) => ordered.push(version.clone()),
            None => {
                let segment = match kind {
                    ContainerKind::Asset => "AssetVersions",
                    ContainerKind::Function => "FunctionVersions",
                };
                return Err(ApiError::not_found(format!(
                    "/Services/{}/{segment}/{sid}",
                    service.sid
                )));
            }
        }
    }
    Ok(ordered)
}

/// Per-build counts (COMPAT §8); messages say "limit" as clients and tools expect.
fn check_counts(core: &Core, assets: &[Version], functions: &[Version]) -> Result<(), ApiError> {
    let limits = &core.config.limits;
    let private = assets
        .iter()
        .filter(|v| v.visibility == Visibility::Private)
        .count();
    let checks = [
        (
            "Function Versions per Build",
            functions.len(),
            limits.max_build_functions,
        ),
        (
            "Asset Versions per Build",
            assets.len() - private,
            limits.max_build_assets,
        ),
        (
            "private Asset Versions per Build",
            private,
            limits.max_build_private_assets,
        ),
    ];
    for (what, count, max) in checks {
        if max > 0 && count > max as usize {
            return Err(ApiError::invalid(format!(
                "{what} limit ({max}) exceeded: {count}"
            )));
        }
    }
    Ok(())
}

/// Resolves the Service segment and a Build SID.
pub async fn resolve(
    core: &Core,
    ctx: &Ctx,
    service: &str,
    sid: &str,
) -> Result<BuildDetail, ApiError> {
    let service = services::resolve(core, ctx, service).await?;
    if !sid::is_valid(Prefix::Build, sid) {
        return Err(ctx.not_found());
    }
    ctx.found(core.store.build(&service.sid, sid).await)
}

pub async fn list(
    core: &Core,
    service: &Service,
    page: PageRequest,
) -> Result<Page<BuildDetail>, ApiError> {
    Ok(core.store.list_builds(&service.sid, page).await?)
}

/// One page of builds without their versions, for lists that show only status and date.
pub async fn list_rows(
    core: &Core,
    service: &Service,
    page: PageRequest,
) -> Result<Page<Build>, ApiError> {
    Ok(core.store.list_build_rows(&service.sid, page).await?)
}

#[tracing::instrument(skip_all, fields(sid = %sid))]
pub async fn delete(core: &Core, ctx: &Ctx, service: &str, sid: &str) -> Result<(), ApiError> {
    let detail = resolve(core, ctx, service, sid).await?;
    match core
        .store
        .delete_build(&detail.build.service_sid, &detail.build.sid)
        .await
    {
        Err(StoreError::InUse(environment)) => Err(ApiError::Conflict(format!(
            "Build {sid} is deployed to Environment {environment}"
        ))),
        other => ctx.found(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, version: &str) -> Dependency {
        Dependency {
            name: name.into(),
            version: version.into(),
        }
    }

    #[test]
    fn dependencies_in_every_client_encoding() {
        let plain = r#"[{"name":"twilio","version":"3.29.2"},{"name":"@twilio/runtime-handler","version":"1.0.1"}]"#;
        let expected = vec![
            dep("twilio", "3.29.2"),
            dep("@twilio/runtime-handler", "1.0.1"),
        ];
        assert_eq!(parse_dependencies(plain).unwrap(), expected);
        // serverless-api wraps the JSON in raw quotes.
        assert_eq!(
            parse_dependencies(&format!("\"{plain}\"")).unwrap(),
            expected
        );
        // A JSON string holding JSON.
        let nested = serde_json::to_string(plain).unwrap();
        assert_eq!(parse_dependencies(&nested).unwrap(), expected);
        // An object of name -> version; empty versions become "*".
        let object = r#"{"twilio":"^4.0.0","lodash":""}"#;
        let mut got = parse_dependencies(object).unwrap();
        got.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(got, vec![dep("lodash", "*"), dep("twilio", "^4.0.0")]);
        assert_eq!(parse_dependencies(" [] ").unwrap(), vec![]);
        let empty_version = r#"[{"name":"x","version":""}]"#;
        assert_eq!(
            parse_dependencies(empty_version).unwrap(),
            vec![dep("x", "*")]
        );
    }

    #[test]
    fn bad_dependencies_are_rejected() {
        for bad in [
            "",
            "nope",
            "[1]",
            r#"[{"version":"1"}]"#,
            r#"[{"name":""}]"#,
            "42",
            r#"[{"name":"a","version":3}]"#,
        ] {
            assert!(parse_dependencies(bad).is_err(), "{bad}");
        }
    }
}
