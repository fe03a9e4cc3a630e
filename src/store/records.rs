//! Rows of the deploy side: Environments, Builds, Deployments, Variables, Logs, and what the
//! asset host loads for one domain.

use super::{BuildStatus, ContainerKind, Version};

/// An Environment row (COMPAT §5.2).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Environment {
    pub seq: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub build_sid: Option<String>,
    pub unique_name: String,
    pub domain_suffix: Option<String>,
    pub domain_name: String,
    pub date_created: i64,
    pub date_updated: i64,
}

/// A Build row (COMPAT §5.9). `dependencies` is the JSON array as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Build {
    pub seq: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub status: BuildStatus,
    pub runtime: String,
    pub dependencies: String,
    pub failure: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

/// A Build with the versions it includes, in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildDetail {
    pub build: Build,
    pub assets: Vec<Version>,
    pub functions: Vec<Version>,
}

/// Per-account build limits checked when a build is created (COMPAT §8).
#[derive(Debug, Clone, Copy)]
pub struct BuildQuota {
    /// Builds per account in any 60-minute window (0 = no limit).
    pub per_hour: u32,
    pub now: i64,
}

/// A Deployment row (COMPAT §5.11).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Deployment {
    pub seq: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub environment_sid: String,
    pub build_sid: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

/// A Variable row (COMPAT §5.3).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Variable {
    pub seq: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub environment_sid: String,
    pub key: String,
    pub value: String,
    pub date_created: i64,
    pub date_updated: i64,
}

/// A Log row (COMPAT §5.12).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Log {
    pub seq: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub environment_sid: String,
    pub build_sid: Option<String>,
    pub deployment_sid: Option<String>,
    pub function_sid: Option<String>,
    pub request_sid: String,
    pub level: String,
    pub message: String,
    pub date_created: i64,
}

/// ListLog filters; dates inclusive.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub function_sid: Option<String>,
}

/// A precompressed copy of some content.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Encoded {
    pub sha256: String,
    pub encoding: String,
    pub size: i64,
}

/// Everything the asset host needs to serve one environment domain.
#[derive(Debug, Clone)]
pub struct Site {
    pub environment: Environment,
    /// The latest deployment, if any.
    pub deployment_sid: Option<String>,
    /// The live build's versions (none when nothing is deployed).
    pub files: Vec<(ContainerKind, Version)>,
    /// Precompressed copies of the files' content.
    pub encodings: Vec<Encoded>,
}
