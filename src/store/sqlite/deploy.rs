//! SQLite statements for the deploy side: Environments, Builds, Deployments, Variables, Logs
//! and the asset host's site loading. Writes go through the group-commit [`Writer`].

use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Sqlite};

use super::writer::Writer;
use super::{list_rows, map_err, Arg, Listing};
use crate::store::tables::{
    kind_name, version_columns, version_table, BUILD_COLUMNS, DEPLOYMENT_COLUMNS,
    ENVIRONMENT_COLUMNS, LOG_COLUMNS, VARIABLE_COLUMNS,
};
use crate::store::{
    Build, BuildDetail, BuildQuota, BuildStatus, ContainerKind, Deployment, Encoded, Environment,
    Log, LogFilter, Page, PageRequest, Site, StoreError, StoreResult, Variable, Version,
};

pub async fn versions_by_sid(
    pool: &SqlitePool,
    kind: ContainerKind,
    service_sid: &str,
    sids: &[String],
) -> StoreResult<Vec<Version>> {
    let (table, _) = version_table(kind);
    let columns = version_columns(kind);
    let mut found = Vec::with_capacity(sids.len());
    for chunk in sids.chunks(500) {
        let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {columns} FROM {table} WHERE service_sid = "
        ));
        query.push_bind(service_sid).push(" AND sid IN (");
        let mut list = query.separated(", ");
        for sid in chunk {
            list.push_bind(sid.as_str());
        }
        query.push(")");
        let rows: Vec<Version> = query
            .build_query_as()
            .fetch_all(pool)
            .await
            .map_err(map_err)?;
        found.extend(rows);
    }
    Ok(found)
}

pub async fn create_environment(
    writer: &Writer,
    environment: &Environment,
    max_environments: u32,
) -> StoreResult<Environment> {
    let e = environment.clone();
    writer
        .write(move |conn| {
            Box::pin(async move {
                if max_environments > 0 {
                    let count: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM environments WHERE service_sid = ?",
                    )
                    .bind(&e.service_sid)
                    .fetch_one(&mut *conn)
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
                // Checked first so that a clash inside the service is reported as such, not
                // as the domain clash it also causes.
                let taken: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM environments WHERE service_sid = ? \
                     AND (unique_name = ? OR suffix_key = ?))",
                )
                .bind(&e.service_sid)
                .bind(&e.unique_name)
                .bind(&suffix_key)
                .fetch_one(&mut *conn)
                .await
                .map_err(map_err)?;
                if taken {
                    return Err(StoreError::Conflict(crate::store::Unique::EnvironmentName));
                }
                let sql = format!(
                    "INSERT INTO environments (sid, account_sid, service_sid, build_sid, \
                     unique_name, domain_suffix, suffix_key, domain_name, date_created, \
                     date_updated) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?) \
                     RETURNING {ENVIRONMENT_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&e.sid)
                    .bind(&e.account_sid)
                    .bind(&e.service_sid)
                    .bind(&e.unique_name)
                    .bind(&e.domain_suffix)
                    .bind(suffix_key)
                    .bind(&e.domain_name)
                    .bind(e.date_created)
                    .bind(e.date_updated)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn environment(
    pool: &SqlitePool,
    service_sid: &str,
    sid: &str,
) -> StoreResult<Environment> {
    let from = (ENVIRONMENT_COLUMNS, "environments");
    fetch_row(pool, from, "service_sid", service_sid, sid).await
}

pub async fn list_environments(
    pool: &SqlitePool,
    service_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Environment>> {
    let listing = Listing {
        columns: ENVIRONMENT_COLUMNS,
        table: "environments",
        conditions: vec![("service_sid = ", Arg::Text(service_sid))],
        descending: false,
    };
    list_rows(pool, &listing, page).await
}

/// One row of `table` by SID within a parent; `NotFound` when nothing matched.
pub async fn fetch_row<T>(
    pool: &SqlitePool,
    (columns, table): (&str, &str),
    parent_column: &str,
    parent: &str,
    sid: &str,
) -> StoreResult<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    let sql = format!("SELECT {columns} FROM {table} WHERE sid = ? AND {parent_column} = ?");
    sqlx::query_as(&sql)
        .bind(sid)
        .bind(parent)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

/// Deletes one row of `table` by SID within a parent; `NotFound` when nothing matched.
async fn delete_row(
    writer: &Writer,
    table: &'static str,
    parent_column: &'static str,
    parent: &str,
    sid: &str,
) -> StoreResult<()> {
    let (parent, sid) = (parent.to_owned(), sid.to_owned());
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!("DELETE FROM {table} WHERE sid = ? AND {parent_column} = ?");
                let done = sqlx::query(&sql)
                    .bind(&sid)
                    .bind(&parent)
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
        })
        .await
}

/// Deletes the environment; returns its domain, which no longer serves anything.
pub async fn delete_environment(
    writer: &Writer,
    service_sid: &str,
    sid: &str,
) -> StoreResult<String> {
    let (service_sid, sid) = (service_sid.to_owned(), sid.to_owned());
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                sqlx::query_scalar(
                    "DELETE FROM environments WHERE sid = ? AND service_sid = ? \
                     RETURNING domain_name",
                )
                .bind(&sid)
                .bind(&service_sid)
                .fetch_one(conn)
                .await
                .map_err(map_err)
            })
        })
        .await
}

pub async fn create_build(
    writer: &Writer,
    build: &Build,
    assets: &[String],
    functions: &[String],
    quota: BuildQuota,
) -> StoreResult<Build> {
    let (b, assets, functions) = (build.clone(), assets.to_vec(), functions.to_vec());
    writer
        .write(move |conn| {
            Box::pin(async move {
                if quota.per_hour > 0 {
                    let since = quota.now - 3600;
                    let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
                        "SELECT COUNT(*), MIN(date_created) FROM build_creations \
                         WHERE account_sid = ? AND date_created > ?",
                    )
                    .bind(&b.account_sid)
                    .bind(since)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    if count >= i64::from(quota.per_hour) {
                        let frees_at = oldest.unwrap_or(quota.now) + 3600;
                        let wait = u64::try_from(frees_at - quota.now).unwrap_or(1).max(1);
                        return Err(StoreError::RateLimited {
                            retry_after_secs: wait,
                        });
                    }
                }
                let sql = format!(
                    "INSERT INTO builds (sid, account_sid, service_sid, status, runtime, \
                     dependencies, failure, date_created, date_updated) \
                     VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?) RETURNING {BUILD_COLUMNS}"
                );
                let created: Build = sqlx::query_as(&sql)
                    .bind(&b.sid)
                    .bind(&b.account_sid)
                    .bind(&b.service_sid)
                    .bind(b.status)
                    .bind(&b.runtime)
                    .bind(&b.dependencies)
                    .bind(b.date_created)
                    .bind(b.date_updated)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(map_err)?;
                sqlx::query(
                    "INSERT INTO build_creations (account_sid, date_created) VALUES (?, ?)",
                )
                .bind(&b.account_sid)
                .bind(b.date_created)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
                for (kind, sids) in [
                    (ContainerKind::Asset, &assets),
                    (ContainerKind::Function, &functions),
                ] {
                    for (position, sid) in sids.iter().enumerate() {
                        sqlx::query(
                            "INSERT INTO build_versions (build_sid, kind, position, version_sid) \
                             VALUES (?, ?, ?, ?)",
                        )
                        .bind(&created.sid)
                        .bind(kind_name(kind))
                        .bind(i64::try_from(position).unwrap_or(i64::MAX))
                        .bind(sid)
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    }
                }
                Ok(created)
            })
        })
        .await
}

/// The versions of `kind` in build `build_sid`, in request order.
async fn build_versions(
    pool: &SqlitePool,
    kind: ContainerKind,
    build_sid: &str,
) -> StoreResult<Vec<Version>> {
    let (table, _) = version_table(kind);
    let columns = version_columns(kind);
    let sql = format!(
        "SELECT {columns} FROM build_versions JOIN {table} ON {table}.sid = build_versions.version_sid \
         WHERE build_versions.build_sid = ? AND build_versions.kind = ? ORDER BY build_versions.position"
    );
    sqlx::query_as(&sql)
        .bind(build_sid)
        .bind(kind_name(kind))
        .fetch_all(pool)
        .await
        .map_err(map_err)
}

async fn detail(pool: &SqlitePool, build: Build) -> StoreResult<BuildDetail> {
    let assets = build_versions(pool, ContainerKind::Asset, &build.sid).await?;
    let functions = build_versions(pool, ContainerKind::Function, &build.sid).await?;
    Ok(BuildDetail {
        build,
        assets,
        functions,
    })
}

pub async fn build(pool: &SqlitePool, service_sid: &str, sid: &str) -> StoreResult<BuildDetail> {
    let build = fetch_row(
        pool,
        (BUILD_COLUMNS, "builds"),
        "service_sid",
        service_sid,
        sid,
    )
    .await?;
    detail(pool, build).await
}

pub async fn list_builds(
    pool: &SqlitePool,
    service_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<BuildDetail>> {
    let listing = Listing {
        columns: BUILD_COLUMNS,
        table: "builds",
        conditions: vec![("service_sid = ", Arg::Text(service_sid))],
        descending: false,
    };
    let builds: Page<Build> = list_rows(pool, &listing, page).await?;
    let mut items = Vec::with_capacity(builds.items.len());
    for build in builds.items {
        items.push(detail(pool, build).await?);
    }
    Ok(Page {
        items,
        has_next: builds.has_next,
    })
}

pub async fn finish_build(
    writer: &Writer,
    sid: &str,
    status: BuildStatus,
    failure: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    let (sid, failure) = (sid.to_owned(), failure.map(str::to_owned));
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE builds SET status = ?, failure = ?, date_updated = ?, \
                     claimed_by = NULL, claim_until = NULL WHERE sid = ? AND status = ?",
                )
                .bind(status)
                .bind(&failure)
                .bind(now)
                .bind(&sid)
                .bind(BuildStatus::Building)
                .execute(conn)
                .await
                .map_err(map_err)?;
                Ok(())
            })
        })
        .await
}

pub async fn delete_build(writer: &Writer, service_sid: &str, sid: &str) -> StoreResult<()> {
    let (service_sid, sid) = (service_sid.to_owned(), sid.to_owned());
    writer
        .write(move |conn| {
            Box::pin(async move {
                let live: Option<String> =
                    sqlx::query_scalar("SELECT sid FROM environments WHERE build_sid = ? LIMIT 1")
                        .bind(&sid)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(map_err)?;
                if let Some(environment) = live {
                    return Err(StoreError::InUse(environment));
                }
                let done = sqlx::query("DELETE FROM builds WHERE sid = ? AND service_sid = ?")
                    .bind(&sid)
                    .bind(&service_sid)
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
        })
        .await
}

/// The first build that includes a version of the Asset or Function `container_sid`.
pub async fn build_using(
    conn: &mut sqlx::SqliteConnection,
    kind: ContainerKind,
    container_sid: &str,
) -> StoreResult<Option<String>> {
    let (table, parent) = version_table(kind);
    let sql = format!(
        "SELECT build_versions.build_sid FROM build_versions JOIN {table} \
         ON {table}.sid = build_versions.version_sid WHERE {table}.{parent} = ? LIMIT 1"
    );
    sqlx::query_scalar(&sql)
        .bind(container_sid)
        .fetch_optional(conn)
        .await
        .map_err(map_err)
}

pub async fn record_encoding(writer: &Writer, encoded: &Encoded) -> StoreResult<()> {
    let e = encoded.clone();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO encodings (sha256, encoding, size) VALUES (?, ?, ?) \
                     ON CONFLICT (sha256, encoding) DO UPDATE SET size = excluded.size",
                )
                .bind(&e.sha256)
                .bind(&e.encoding)
                .bind(e.size)
                .execute(conn)
                .await
                .map_err(map_err)?;
                Ok(())
            })
        })
        .await
}

pub async fn encodings(pool: &SqlitePool, sha256: &str) -> StoreResult<Vec<Encoded>> {
    sqlx::query_as("SELECT sha256, encoding, size FROM encodings WHERE sha256 = ?")
        .bind(sha256)
        .fetch_all(pool)
        .await
        .map_err(map_err)
}

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

pub async fn create_variable(writer: &Writer, variable: &Variable) -> StoreResult<Variable> {
    let v = variable.clone();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "INSERT INTO variables (sid, account_sid, service_sid, environment_sid, key, \
                     value, date_created, date_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
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
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn variable(
    pool: &SqlitePool,
    environment_sid: &str,
    sid: &str,
) -> StoreResult<Variable> {
    let from = (VARIABLE_COLUMNS, "variables");
    fetch_row(pool, from, "environment_sid", environment_sid, sid).await
}

pub async fn list_variables(
    pool: &SqlitePool,
    environment_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Variable>> {
    let listing = Listing {
        columns: VARIABLE_COLUMNS,
        table: "variables",
        conditions: vec![("environment_sid = ", Arg::Text(environment_sid))],
        descending: false,
    };
    list_rows(pool, &listing, page).await
}

pub async fn update_variable(
    writer: &Writer,
    (environment_sid, sid): (&str, &str),
    key: Option<&str>,
    value: Option<&str>,
    now: i64,
) -> StoreResult<Variable> {
    let (environment_sid, sid) = (environment_sid.to_owned(), sid.to_owned());
    let (key, value) = (key.map(str::to_owned), value.map(str::to_owned));
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE variables SET key = COALESCE(?, key), value = COALESCE(?, value), \
                     date_updated = ? WHERE sid = ? AND environment_sid = ? \
                     RETURNING {VARIABLE_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&key)
                    .bind(&value)
                    .bind(now)
                    .bind(&sid)
                    .bind(&environment_sid)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn delete_variable(writer: &Writer, environment_sid: &str, sid: &str) -> StoreResult<()> {
    delete_row(writer, "variables", "environment_sid", environment_sid, sid).await
}

pub async fn create_log(writer: &Writer, log: &Log) -> StoreResult<Log> {
    let l = log.clone();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "INSERT INTO logs (sid, account_sid, service_sid, environment_sid, build_sid, \
                     deployment_sid, function_sid, request_sid, level, message, date_created) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {LOG_COLUMNS}"
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
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn log(pool: &SqlitePool, environment_sid: &str, sid: &str) -> StoreResult<Log> {
    fetch_row(
        pool,
        (LOG_COLUMNS, "logs"),
        "environment_sid",
        environment_sid,
        sid,
    )
    .await
}

pub async fn list_logs(
    pool: &SqlitePool,
    environment_sid: &str,
    filter: &LogFilter,
    page: PageRequest,
) -> StoreResult<Page<Log>> {
    let mut conditions = vec![("environment_sid = ", Arg::Text(environment_sid))];
    if let Some(start) = filter.start {
        conditions.push(("date_created >= ", Arg::Int(start)));
    }
    if let Some(end) = filter.end {
        conditions.push(("date_created <= ", Arg::Int(end)));
    }
    if let Some(function) = &filter.function_sid {
        conditions.push(("function_sid = ", Arg::Text(function)));
    }
    let listing = Listing {
        columns: LOG_COLUMNS,
        table: "logs",
        conditions,
        descending: true,
    };
    list_rows(pool, &listing, page).await
}

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
