//! Rules and multi-step operations per resource. Handlers call exactly one operation here;
//! SQL stays in the store.

pub mod accounts;
pub mod builder;
pub mod builds;
pub mod containers;
pub mod contents;
pub mod deployments;
pub mod environments;
pub mod logs;
pub mod names;
pub mod services;
pub mod sid;
pub mod uploads;
pub mod variables;
pub mod versions;

use std::sync::Arc;

use crate::error::ApiError;
use crate::store::{Account, Store, StoreError};

/// What the rules and operations work with: storage, content, the build queue and the limits.
/// It knows nothing of HTTP or of the asset host.
pub struct Core {
    pub store: Arc<dyn Store>,
    pub blobs: crate::blob::Blobs,
    pub builder: builder::Builder,
    pub config: crate::config::Config,
    pub log_budget: logs::LogBudget,
    /// This process among the nodes sharing the store: it names claims and leases.
    pub node: String,
}

/// Who is asking, and how the request addressed things.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub account: Account,
    /// `DEPOT_PUBLIC_URL` or `http://` + Host, without a trailing `/`.
    pub base: String,
    /// The request path, for 404 messages.
    pub path: String,
}

impl Ctx {
    /// The 404 for this request's own path (COMPAT §4.2).
    pub fn not_found(&self) -> ApiError {
        ApiError::not_found_at(&self.path)
    }

    /// Turns a store's `NotFound` into this request's 404; other failures stay server faults.
    pub fn found<T>(&self, result: Result<T, StoreError>) -> Result<T, ApiError> {
        match result {
            Ok(value) => Ok(value),
            Err(StoreError::NotFound) => Err(self.not_found()),
            Err(err) => Err(err.into()),
        }
    }
}
