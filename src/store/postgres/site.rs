//! What the asset host loads for one domain.

use sqlx::postgres::PgPool;

use super::builds::build_versions;
use super::errors::map_err;
use super::SNAPSHOT;
use crate::store::tables::ENVIRONMENT_COLUMNS;
use crate::store::{ContainerKind, Environment, Site, StoreResult};

/// The environment at `domain_name` with its live build's files, read from one snapshot so
/// that a deployment committing meanwhile is seen either wholly or not at all.
pub async fn site(pool: &PgPool, domain_name: &str) -> StoreResult<Option<Site>> {
    let mut tx = pool.begin_with(SNAPSHOT).await.map_err(map_err)?;
    let sql = format!("SELECT {ENVIRONMENT_COLUMNS} FROM environments WHERE domain_name = $1");
    let environment: Option<Environment> = sqlx::query_as(&sql)
        .bind(domain_name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    let Some(environment) = environment else {
        return Ok(None);
    };
    let deployment_sid: Option<String> = sqlx::query_scalar(
        "SELECT sid FROM deployments WHERE environment_sid = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(&environment.sid)
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_err)?;
    let mut files = Vec::new();
    let mut encodings = Vec::new();
    if let Some(build_sid) = &environment.build_sid {
        for kind in [ContainerKind::Asset, ContainerKind::Function] {
            for version in build_versions(&mut tx, kind, build_sid).await? {
                files.push((kind, version));
            }
        }
        encodings = sqlx::query_as(
            "SELECT encodings.sha256, encodings.encoding, encodings.size FROM encodings \
             JOIN asset_versions ON asset_versions.sha256 = encodings.sha256 \
             JOIN build_versions ON build_versions.version_sid = asset_versions.sid \
             WHERE build_versions.build_sid = $1",
        )
        .bind(build_sid)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
    }
    tx.commit().await.map_err(map_err)?;
    Ok(Some(Site {
        environment,
        deployment_sid,
        files,
        encodings,
    }))
}
