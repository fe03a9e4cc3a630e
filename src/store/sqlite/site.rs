//! What the asset host loads for one domain.

use sqlx::sqlite::SqlitePool;

use super::builds::build_versions;
use super::errors::map_err;
use crate::store::tables::*;
use crate::store::{ContainerKind, Environment, Site, StoreResult};

pub async fn site(pool: &SqlitePool, domain_name: &str) -> StoreResult<Option<Site>> {
    let sql = format!("SELECT {ENVIRONMENT_COLUMNS} FROM environments WHERE domain_name = ?");
    let environment: Option<Environment> = sqlx::query_as(&sql)
        .bind(domain_name)
        .fetch_optional(pool)
        .await
        .map_err(map_err)?;
    let Some(environment) = environment else {
        return Ok(None);
    };
    let deployment_sid: Option<String> = sqlx::query_scalar(
        "SELECT sid FROM deployments WHERE environment_sid = ? ORDER BY seq DESC LIMIT 1",
    )
    .bind(&environment.sid)
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    let mut files = Vec::new();
    let mut encodings = Vec::new();
    if let Some(build_sid) = &environment.build_sid {
        for kind in [ContainerKind::Asset, ContainerKind::Function] {
            for version in build_versions(pool, kind, build_sid).await? {
                files.push((kind, version));
            }
        }
        encodings = sqlx::query_as(
            "SELECT encodings.sha256, encodings.encoding, encodings.size FROM encodings \
             JOIN asset_versions ON asset_versions.sha256 = encodings.sha256 \
             JOIN build_versions ON build_versions.version_sid = asset_versions.sid \
             WHERE build_versions.build_sid = ?",
        )
        .bind(build_sid)
        .fetch_all(pool)
        .await
        .map_err(map_err)?;
    }
    Ok(Some(Site {
        environment,
        deployment_sid,
        files,
        encodings,
    }))
}
