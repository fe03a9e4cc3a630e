//! Deployments: an environment pointed at a completed build, atomically.

use sqlx::sqlite::SqlitePool;

use super::errors::map_err;
use super::listing::{fetch_row, list_rows, Arg, Listing};
use super::writer::Writer;
use crate::store::paging::{Page, PageRequest};
use crate::store::tables::*;
use crate::store::{BuildStatus, Deployment, StoreError, StoreResult};

/// Inserts the deployment; returns it with the domain that now serves its build.
pub async fn create_deployment(
    writer: &Writer,
    deployment: &Deployment,
) -> StoreResult<(Deployment, String)> {
    let d = deployment.clone();
    writer
        .write(move |conn| {
            Box::pin(async move {
                if let Some(build_sid) = &d.build_sid {
                    let build: Option<(BuildStatus, String)> =
                        sqlx::query_as("SELECT status, service_sid FROM builds WHERE sid = ?")
                            .bind(build_sid)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(map_err)?;
                    match build {
                        Some((_, service)) if service != d.service_sid => {
                            return Err(StoreError::NotFound)
                        }
                        None => return Err(StoreError::NotFound),
                        Some((status, _)) if status != BuildStatus::Completed => {
                            return Err(StoreError::NotCompleted)
                        }
                        Some(_) => {}
                    }
                }
                let sql = format!(
                    "INSERT INTO deployments (sid, account_sid, service_sid, environment_sid, \
                     build_sid, date_created, date_updated) VALUES (?, ?, ?, ?, ?, ?, ?) \
                     RETURNING {DEPLOYMENT_COLUMNS}"
                );
                let created: Deployment = sqlx::query_as(&sql)
                    .bind(&d.sid)
                    .bind(&d.account_sid)
                    .bind(&d.service_sid)
                    .bind(&d.environment_sid)
                    .bind(&d.build_sid)
                    .bind(d.date_created)
                    .bind(d.date_updated)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(map_err)?;
                let domain: String = sqlx::query_scalar(
                    "UPDATE environments SET build_sid = ?, date_updated = ? WHERE sid = ? \
                     RETURNING domain_name",
                )
                .bind(&d.build_sid)
                .bind(d.date_created)
                .bind(&d.environment_sid)
                .fetch_one(conn)
                .await
                .map_err(map_err)?;
                Ok((created, domain))
            })
        })
        .await
}

pub async fn deployment(
    pool: &SqlitePool,
    environment_sid: &str,
    sid: &str,
) -> StoreResult<Deployment> {
    let from = (DEPLOYMENT_COLUMNS, "deployments");
    fetch_row(pool, from, "environment_sid", environment_sid, sid).await
}

pub async fn list_deployments(
    pool: &SqlitePool,
    environment_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Deployment>> {
    let listing = Listing {
        columns: DEPLOYMENT_COLUMNS,
        table: "deployments",
        conditions: vec![("environment_sid = ", Arg::Text(environment_sid))],
        descending: false,
    };
    list_rows(pool, &listing, page).await
}
