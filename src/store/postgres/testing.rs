//! Fresh schemas for tests against a real PostgreSQL: each test gets a schema of its own in
//! the database named by `DEPOT_TEST_POSTGRES_URL`, so tests can run side by side and leave
//! nothing behind. Used by the store's conformance tests and by the HTTP integration tests.

use sqlx::{Connection, PgConnection};

use super::errors::{backend, map_err};
use crate::store::StoreResult;

/// The variable naming the database tests may use, e.g.
/// `postgres://postgres@127.0.0.1:5432/test`.
pub const TEST_DATABASE_VAR: &str = "DEPOT_TEST_POSTGRES_URL";

/// A schema made for one test.
#[derive(Debug, Clone)]
pub struct TestSchema {
    /// Opens the schema: the database URL with `options=-c search_path=<name>`, which sqlx
    /// hands to the server as startup options (libpq's `options` parameter), and with the
    /// schema's name as `application_name`, so that its connections can be told apart in
    /// `pg_stat_activity`.
    pub url: String,
    pub name: String,
    database: String,
}

/// A new empty schema when `DEPOT_TEST_POSTGRES_URL` is set; `None` when it is not.
pub async fn postgres_test_schema() -> StoreResult<Option<TestSchema>> {
    match std::env::var(TEST_DATABASE_VAR) {
        Ok(database) if !database.is_empty() => TestSchema::create(&database).await.map(Some),
        _ => Ok(None),
    }
}

impl TestSchema {
    /// Creates a schema with a random name in the database at `database`.
    pub async fn create(database: &str) -> StoreResult<TestSchema> {
        let name = format!("depot_test_{:016x}", rand::random::<u64>());
        let mut conn = PgConnection::connect(database).await.map_err(map_err)?;
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .map_err(map_err)?;
        conn.close().await.map_err(map_err)?;
        let mut url = url::Url::parse(database).map_err(backend)?;
        url.query_pairs_mut()
            .append_pair("options", &format!("-c search_path={name}"))
            .append_pair("application_name", &name);
        Ok(TestSchema {
            url: url.into(),
            name,
            database: database.to_owned(),
        })
    }

    /// Ends every session on the schema and drops it with everything in it.
    pub async fn drop_schema(&self) -> StoreResult<()> {
        let mut conn = PgConnection::connect(&self.database)
            .await
            .map_err(map_err)?;
        // A server still running on the schema may be stopped in the middle of a transaction
        // (its tasks are not polled while a test ends), whose locks would keep DROP waiting.
        // Its sessions are known by their application_name.
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&self.name)
        .execute(&mut conn)
        .await
        .map_err(map_err)?;
        // Terminated sessions release their locks as they exit; anything else holding a lock
        // on the schema makes DROP fail rather than wait forever.
        sqlx::query("SET lock_timeout = '10s'")
            .execute(&mut conn)
            .await
            .map_err(map_err)?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .execute(&mut conn)
            .await
            .map_err(map_err)?;
        conn.close().await.map_err(map_err)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::postgres::PgConnectOptions;

    #[test]
    fn the_schema_travels_in_the_url() {
        let mut url =
            url::Url::parse("postgres://postgres@127.0.0.1:5432/test?sslmode=disable").unwrap();
        url.query_pairs_mut()
            .append_pair("options", "-c search_path=depot_test_00");
        let options = PgConnectOptions::from_str(url.as_str()).unwrap();
        assert_eq!(options.get_options(), Some("-c search_path=depot_test_00"));
        assert_eq!(options.get_database(), Some("test"));
    }
}
