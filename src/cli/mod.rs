//! The client commands of the `depot` binary (`depot deploy`, `ls`, `rollback`, `logs`): thin
//! clients of depot's HTTP API, run against any depot by URL.

pub mod accounts;
pub mod client;
pub mod deploy;
pub mod manage;
pub mod project;
