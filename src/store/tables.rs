//! Table names and column lists shared by every SQL backend: both schemas name their tables and
//! columns alike, so each query reads the same columns into the same records.

use super::ContainerKind;

pub const ACCOUNT_COLUMNS: &str = "seq, sid, auth_token, friendly_name, status, \
     owner_account_sid, date_created, date_updated";
pub const KEY_COLUMNS: &str =
    "seq, sid, account_sid, friendly_name, secret_hash, date_created, date_updated";
pub const SERVICE_COLUMNS: &str = "seq, sid, account_sid, friendly_name, unique_name, \
     include_credentials, ui_editable, domain_base, date_created, date_updated";
pub const CONTAINER_COLUMNS: &str =
    "seq, sid, account_sid, service_sid, friendly_name, date_created, date_updated";
pub const ENVIRONMENT_COLUMNS: &str = "seq, sid, account_sid, service_sid, build_sid, \
     unique_name, domain_suffix, domain_name, date_created, date_updated";
pub const BUILD_COLUMNS: &str = "seq, sid, account_sid, service_sid, status, runtime, \
     dependencies, failure, date_created, date_updated";
pub const DEPLOYMENT_COLUMNS: &str =
    "seq, sid, account_sid, service_sid, environment_sid, build_sid, date_created, date_updated";
pub const VARIABLE_COLUMNS: &str = "seq, sid, account_sid, service_sid, environment_sid, key, \
     value, date_created, date_updated";
pub const SESSION_COLUMNS: &str =
    "id_hash, account_sid, key_sid, csrf_token, date_created, expires";
pub const LOG_COLUMNS: &str = "seq, sid, account_sid, service_sid, environment_sid, build_sid, \
     deployment_sid, function_sid, request_sid, level, message, date_created";

/// Table of the Assets or the Functions.
pub fn container_table(kind: ContainerKind) -> &'static str {
    match kind {
        ContainerKind::Asset => "assets",
        ContainerKind::Function => "functions",
    }
}

/// Table of the versions of `kind`, and the column naming their Asset or Function.
pub fn version_table(kind: ContainerKind) -> (&'static str, &'static str) {
    match kind {
        ContainerKind::Asset => ("asset_versions", "asset_sid"),
        ContainerKind::Function => ("function_versions", "function_sid"),
    }
}

/// Version columns with the parent column renamed to `container_sid`.
pub fn version_columns(kind: ContainerKind) -> String {
    let (_, parent) = version_table(kind);
    format!(
        "seq, sid, account_sid, service_sid, {parent} AS container_sid, path, visibility, \
         content_type, size, sha256, date_created"
    )
}

/// How `build_versions.kind` names a kind of version.
pub fn kind_name(kind: ContainerKind) -> &'static str {
    match kind {
        ContainerKind::Asset => "asset",
        ContainerKind::Function => "function",
    }
}
