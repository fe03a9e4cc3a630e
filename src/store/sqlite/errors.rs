//! SQLite's errors mapped onto the store's.

use crate::store::{StoreError, Unique};

pub fn backend(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(err))
}

/// Maps SQLite's errors onto [`StoreError`], naming the violated unique rule.
pub fn map_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let message = db.message();
            let which = if message.contains("services.unique_name") {
                Unique::ServiceUniqueName
            } else if message.contains("services.domain_base") {
                Unique::ServiceDomainBase
            } else if message.contains("environments.domain_name") {
                Unique::EnvironmentDomain
            } else if message.contains("environments.") {
                Unique::EnvironmentName
            } else if message.contains("variables.") {
                Unique::VariableKey
            } else {
                Unique::Other
            };
            StoreError::Conflict(which)
        }
        // A child inserted under a parent deleted meanwhile.
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => backend(err),
    }
}
