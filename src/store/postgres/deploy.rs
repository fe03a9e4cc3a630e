//! Environments, Deployments, Variables and Logs.

use sqlx::postgres::PgPool;

use super::errors::map_err;
use super::listing::{delete_row, fetch_row, list_rows, Listing};
use crate::store::tables::{
    DEPLOYMENT_COLUMNS, ENVIRONMENT_COLUMNS, LOG_COLUMNS, VARIABLE_COLUMNS,
};
use crate::store::{
    BuildStatus, Deployment, Environment, Log, LogFilter, Page, PageRequest, StoreError,
    StoreResult, Unique, Variable,
};

pub async fn create_environment(
    pool: &PgPool,
    e: &Environment,
    max_environments: u32,
) -> StoreResult<Environment> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    // Environment creations in one service queue here, so that the count and the name check
    // below stay true until this insert commits (see `services::create_service` on the mode).
    sqlx::query("SELECT 1 FROM services WHERE sid = $1 FOR NO KEY UPDATE")
        .bind(&e.service_sid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    if max_environments > 0 {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM environments WHERE service_sid = $1")
                .bind(&e.service_sid)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
        if count >= i64::from(max_environments) {
            return Err(StoreError::LimitReached);
        }
    }
    let suffix_key = e
        .domain_suffix
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    // Checked first so that a clash inside the service is reported as such, not as the
    // domain clash it also causes.
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM environments WHERE service_sid = $1 \
         AND (unique_name = $2 OR suffix_key = $3))",
    )
    .bind(&e.service_sid)
    .bind(&e.unique_name)
    .bind(&suffix_key)
    .fetch_one(&mut *tx)
    .await
    .map_err(map_err)?;
    if taken {
        return Err(StoreError::Conflict(Unique::EnvironmentName));
    }
    let sql = format!(
        "INSERT INTO environments (sid, account_sid, service_sid, build_sid, unique_name, \
         domain_suffix, suffix_key, domain_name, date_created, date_updated) \
         VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9) RETURNING {ENVIRONMENT_COLUMNS}"
    );
    let created = sqlx::query_as(&sql)
        .bind(&e.sid)
        .bind(&e.account_sid)
        .bind(&e.service_sid)
        .bind(&e.unique_name)
        .bind(&e.domain_suffix)
        .bind(&suffix_key)
        .bind(&e.domain_name)
        .bind(e.date_created)
        .bind(e.date_updated)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok(created)
}

pub async fn environment(pool: &PgPool, service_sid: &str, sid: &str) -> StoreResult<Environment> {
    let from = (ENVIRONMENT_COLUMNS, "environments");
    fetch_row(pool, from, "service_sid", service_sid, sid).await
}

pub async fn list_environments(
    pool: &PgPool,
    service_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Environment>> {
    let listing = Listing::scoped(
        ENVIRONMENT_COLUMNS,
        "environments",
        "service_sid = ",
        service_sid,
    );
    list_rows(pool, &listing, page).await
}

/// Deletes the environment (its rows below go by cascade); returns its domain, which no
/// longer serves anything.
pub async fn delete_environment(
    pool: &PgPool,
    service_sid: &str,
    sid: &str,
) -> StoreResult<String> {
    sqlx::query_scalar(
        "DELETE FROM environments WHERE sid = $1 AND service_sid = $2 RETURNING domain_name",
    )
    .bind(sid)
    .bind(service_sid)
    .fetch_one(pool)
    .await
    .map_err(map_err)
}

/// Inserts the deployment and points its environment at the build; returns it with the domain
/// that now serves the build.
pub async fn create_deployment(pool: &PgPool, d: &Deployment) -> StoreResult<(Deployment, String)> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    // The environment before the build: deleting the service cascades to its environments
    // before its builds, and taking them in the other order could deadlock with that. A
    // missing environment is found by the insert's foreign key below, after the build checks,
    // so that errors come in the same order as from every backend.
    sqlx::query("SELECT 1 FROM environments WHERE sid = $1 FOR NO KEY UPDATE")
        .bind(&d.environment_sid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    if let Some(build_sid) = &d.build_sid {
        // FOR SHARE keeps the build from being deleted (see `builds::delete_build`) or
        // changing status until this deployment commits.
        let build: Option<(BuildStatus, String)> =
            sqlx::query_as("SELECT status, service_sid FROM builds WHERE sid = $1 FOR SHARE")
                .bind(build_sid)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        match build {
            Some((_, service)) if service != d.service_sid => return Err(StoreError::NotFound),
            None => return Err(StoreError::NotFound),
            Some((status, _)) if status != BuildStatus::Completed => {
                return Err(StoreError::NotCompleted)
            }
            Some(_) => {}
        }
    }
    let sql = format!(
        "INSERT INTO deployments (sid, account_sid, service_sid, environment_sid, build_sid, \
         date_created, date_updated) VALUES ($1, $2, $3, $4, $5, $6, $7) \
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
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    // The row trigger announces the change to every node once this commits.
    let domain: String = sqlx::query_scalar(
        "UPDATE environments SET build_sid = $1, date_updated = $2 WHERE sid = $3 \
         RETURNING domain_name",
    )
    .bind(&d.build_sid)
    .bind(d.date_created)
    .bind(&d.environment_sid)
    .fetch_one(&mut *tx)
    .await
    .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok((created, domain))
}

pub async fn deployment(
    pool: &PgPool,
    environment_sid: &str,
    sid: &str,
) -> StoreResult<Deployment> {
    let from = (DEPLOYMENT_COLUMNS, "deployments");
    fetch_row(pool, from, "environment_sid", environment_sid, sid).await
}

pub async fn list_deployments(
    pool: &PgPool,
    environment_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Deployment>> {
    let listing = Listing::scoped(
        DEPLOYMENT_COLUMNS,
        "deployments",
        "environment_sid = ",
        environment_sid,
    );
    list_rows(pool, &listing, page).await
}

pub async fn create_variable(pool: &PgPool, v: &Variable) -> StoreResult<Variable> {
    let sql = format!(
        "INSERT INTO variables (sid, account_sid, service_sid, environment_sid, key, value, \
         date_created, date_updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING {VARIABLE_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(&v.sid)
        .bind(&v.account_sid)
        .bind(&v.service_sid)
        .bind(&v.environment_sid)
        .bind(&v.key)
        .bind(&v.value)
        .bind(v.date_created)
        .bind(v.date_updated)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

pub async fn variable(pool: &PgPool, environment_sid: &str, sid: &str) -> StoreResult<Variable> {
    let from = (VARIABLE_COLUMNS, "variables");
    fetch_row(pool, from, "environment_sid", environment_sid, sid).await
}

pub async fn list_variables(
    pool: &PgPool,
    environment_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Variable>> {
    let listing = Listing::scoped(
        VARIABLE_COLUMNS,
        "variables",
        "environment_sid = ",
        environment_sid,
    );
    list_rows(pool, &listing, page).await
}

pub async fn update_variable(
    pool: &PgPool,
    (environment_sid, sid): (&str, &str),
    key: Option<&str>,
    value: Option<&str>,
    now: i64,
) -> StoreResult<Variable> {
    let sql = format!(
        "UPDATE variables SET key = COALESCE($1, key), value = COALESCE($2, value), \
         date_updated = $3 WHERE sid = $4 AND environment_sid = $5 \
         RETURNING {VARIABLE_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(key)
        .bind(value)
        .bind(now)
        .bind(sid)
        .bind(environment_sid)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

pub async fn delete_variable(pool: &PgPool, environment_sid: &str, sid: &str) -> StoreResult<()> {
    delete_row(pool, "variables", "environment_sid", environment_sid, sid).await
}

pub async fn create_log(pool: &PgPool, l: &Log) -> StoreResult<Log> {
    let sql = format!(
        "INSERT INTO logs (sid, account_sid, service_sid, environment_sid, build_sid, \
         deployment_sid, function_sid, request_sid, level, message, date_created) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {LOG_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(&l.sid)
        .bind(&l.account_sid)
        .bind(&l.service_sid)
        .bind(&l.environment_sid)
        .bind(&l.build_sid)
        .bind(&l.deployment_sid)
        .bind(&l.function_sid)
        .bind(&l.request_sid)
        .bind(&l.level)
        .bind(&l.message)
        .bind(l.date_created)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

pub async fn log(pool: &PgPool, environment_sid: &str, sid: &str) -> StoreResult<Log> {
    fetch_row(
        pool,
        (LOG_COLUMNS, "logs"),
        "environment_sid",
        environment_sid,
        sid,
    )
    .await
}

/// Logs newest first, filtered.
pub async fn list_logs(
    pool: &PgPool,
    environment_sid: &str,
    filter: &LogFilter,
    page: PageRequest,
) -> StoreResult<Page<Log>> {
    list_rows(pool, &Listing::logs(environment_sid, filter), page).await
}
