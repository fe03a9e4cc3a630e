//! What a Service holds, for incremental deploys: every Asset and Function with its latest
//! Version and that Version's content hash. A depot-specific read (`GET
//! /depot/v1/Services/{Service}/Contents`); Twilio's resources keep their own shapes.

use crate::domain::{services, Core, Ctx};
use crate::error::ApiError;
use crate::store::{Container, ContainerKind, Cursor, PageRequest, Version};

/// Rows per page read from the store.
const PAGE: u32 = 1000;

/// An Asset or a Function with its newest Version, if it has one.
pub struct Held {
    pub kind: ContainerKind,
    pub container: Container,
    pub latest: Option<Version>,
}

pub async fn list(core: &Core, ctx: &Ctx, service: &str) -> Result<Vec<Held>, ApiError> {
    let service = services::resolve(core, ctx, service).await?;
    let mut held = Vec::new();
    for kind in [ContainerKind::Asset, ContainerKind::Function] {
        let mut cursor = Cursor::Offset(0);
        loop {
            let page = core
                .store
                .list_containers(kind, &service.sid, PageRequest { cursor, size: PAGE })
                .await?;
            for container in &page.items {
                let latest = latest_version(core, kind, &container.sid).await?;
                held.push(Held {
                    kind,
                    container: container.clone(),
                    latest,
                });
            }
            match page.items.last() {
                Some(last) if page.has_next => cursor = Cursor::After(last.seq),
                _ => break,
            }
        }
    }
    Ok(held)
}

/// Versions list oldest first; the newest is the last of the last page.
async fn latest_version(
    core: &Core,
    kind: ContainerKind,
    container: &str,
) -> Result<Option<Version>, ApiError> {
    let mut cursor = Cursor::Offset(0);
    let mut latest = None;
    loop {
        let page = core
            .store
            .list_versions(kind, container, PageRequest { cursor, size: PAGE })
            .await?;
        let more = page.has_next;
        if let Some(last) = page.items.into_iter().last() {
            cursor = Cursor::After(last.seq);
            latest = Some(last);
        }
        if !more {
            return Ok(latest);
        }
    }
}
