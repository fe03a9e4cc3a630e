//! PostgreSQL's errors mapped onto [`StoreError`].

use crate::store::{StoreError, Unique};

pub(super) fn backend(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(err))
}

/// Maps a driver error: constraint violations by name (the migration names them), a lost or
/// refused connection as `Unavailable` (a 503 the client may retry, not a fault of depot).
pub(super) fn map_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => StoreError::Unavailable(err.to_string()),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some(code) if unreachable_state(code) => {
                StoreError::Unavailable(db.message().to_owned())
            }
            // unique_violation
            Some("23505") => StoreError::Conflict(unique_rule(db.constraint())),
            // foreign_key_violation: a child inserted under a parent deleted meanwhile.
            Some("23503") => StoreError::NotFound,
            _ => backend(err),
        },
        _ => backend(err),
    }
}

/// SQLSTATEs that say the server cannot serve this connection now, rather than that the
/// statement is wrong: connection exceptions (class 08), an administrator or crash shutdown
/// and a server still starting (57P01–57P03), and no connection slot free (53300).
fn unreachable_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// Which uniqueness rule a constraint enforces (names from `migrations/postgres`).
fn unique_rule(constraint: Option<&str>) -> Unique {
    match constraint {
        Some("services_unique_name") => Unique::ServiceUniqueName,
        Some("services_domain_base") => Unique::ServiceDomainBase,
        // The suffix is part of the environment's name as far as the API tells.
        Some("environments_unique_name" | "environments_suffix") => Unique::EnvironmentName,
        Some("environments_domain") => Unique::EnvironmentDomain,
        Some("variables_key") => Unique::VariableKey,
        _ => Unique::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_name_their_rules() {
        assert_eq!(
            unique_rule(Some("environments_suffix")),
            Unique::EnvironmentName
        );
        assert_eq!(unique_rule(Some("services_sid_key")), Unique::Other);
        assert_eq!(unique_rule(None), Unique::Other);
        assert!(unreachable_state("08006") && unreachable_state("57P01"));
        assert!(!unreachable_state("23505") && !unreachable_state("57014"));
    }

    #[test]
    fn connection_failures_are_unavailable() {
        assert!(matches!(
            map_err(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            map_err(sqlx::Error::Io(refused)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            map_err(sqlx::Error::RowNotFound),
            StoreError::NotFound
        ));
    }
}
