//! Batched reads of the lookup every request below an Asset or Function starts with (its
//! Service and the container, [`Store::service_container`](crate::store::Store)).
//!
//! On a small machine a round trip to PostgreSQL costs more than everything else a fetch does
//! (context switches between depot and the server's backends). So concurrent lookups are
//! gathered and answered by one query per batch, the way SQLite's writer groups commits. Each
//! thread that asks (each of the listener's per-core runtimes) has its own batching task and
//! its own connection, so a lookup never wakes another thread.
//!
//! Reads stay exact: each batch's query starts after every request in it arrived, so it sees
//! every write acknowledged before any of them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, FromRow, Row};
use tokio::sync::{mpsc, oneshot, watch};

use super::errors::map_err;
use crate::store::tables::container_table;
use crate::store::{Container, ContainerKind, Service, ServiceKey, StoreError, StoreResult};

/// Lookups answered by one query at most.
const MAX_BATCH: usize = 256;

type Answer = StoreResult<(Service, Container)>;

struct Lookup {
    account_sid: String,
    /// The Service's SID or unique name, as `by_sid` says.
    service: String,
    by_sid: bool,
    kind: ContainerKind,
    sid: String,
    reply: oneshot::Sender<Answer>,
}

/// Per store: how each thread's batching task connects, and when it stops.
pub struct Lookups {
    id: u64,
    options: PgConnectOptions,
    /// Dropped with the store: every batching task then ends and closes its connection.
    alive: watch::Sender<()>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's batching task of each store.
    static QUEUES: RefCell<HashMap<u64, mpsc::Sender<Lookup>>> = RefCell::new(HashMap::new());
}

impl Lookups {
    pub fn new(options: PgConnectOptions) -> Lookups {
        Lookups {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            options,
            alive: watch::channel(()).0,
        }
    }

    pub async fn service_container(
        &self,
        account_sid: &str,
        key: ServiceKey<'_>,
        kind: ContainerKind,
        sid: &str,
    ) -> Answer {
        let (service, by_sid) = match key {
            ServiceKey::Sid(sid) => (sid, true),
            ServiceKey::UniqueName(name) => (name, false),
        };
        let (reply, answer) = oneshot::channel();
        let lookup = Lookup {
            account_sid: account_sid.to_owned(),
            service: service.to_owned(),
            by_sid,
            kind,
            sid: sid.to_owned(),
            reply,
        };
        let stopped = || StoreError::Unavailable("the store is shutting down".into());
        self.queue().send(lookup).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// This thread's queue, starting its batching task on the current runtime if there is
    /// none or it ended (its runtime stopped).
    fn queue(&self) -> mpsc::Sender<Lookup> {
        QUEUES.with(|queues| {
            let mut queues = queues.borrow_mut();
            if let Some(queue) = queues.get(&self.id).filter(|q| !q.is_closed()) {
                return queue.clone();
            }
            let (queue, receiver) = mpsc::channel(MAX_BATCH);
            tokio::spawn(run(self.options.clone(), receiver, self.alive.subscribe()));
            queues.insert(self.id, queue.clone());
            queue
        })
    }
}

/// Answers batches on one connection until the store is dropped.
async fn run(
    options: PgConnectOptions,
    mut receiver: mpsc::Receiver<Lookup>,
    mut alive: watch::Receiver<()>,
) {
    let mut conn: Option<PgConnection> = None;
    loop {
        let first = tokio::select! {
            lookup = receiver.recv() => match lookup {
                Some(lookup) => lookup,
                None => return,
            },
            _ = alive.changed() => return,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(lookup) => batch.push(lookup),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            match PgConnection::connect_with(&options).await {
                Ok(opened) => conn = Some(opened),
                Err(err) => {
                    let err = map_err(err);
                    for lookup in batch {
                        let _ = lookup.reply.send(Err(copy_of(&err)));
                    }
                    continue;
                }
            }
        }
        if let Some(open) = conn.as_mut() {
            if !answer_batch(open, batch).await {
                // A failed connection is replaced for the next batch.
                conn = None;
            }
        }
    }
}

/// Answers a batch with one query per kind of container and kind of Service key; `false`
/// when the connection failed.
async fn answer_batch(conn: &mut PgConnection, batch: Vec<Lookup>) -> bool {
    let mut healthy = true;
    let mut groups: Vec<((ContainerKind, bool), Vec<Lookup>)> = Vec::new();
    for lookup in batch {
        let group = (lookup.kind, lookup.by_sid);
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, members)) => members.push(lookup),
            None => groups.push((group, vec![lookup])),
        }
    }
    for ((kind, by_sid), members) in groups {
        match query(conn, kind, by_sid, &members).await {
            Ok(mut found) => {
                for (i, lookup) in members.into_iter().enumerate() {
                    let answer = found[i].take().ok_or(StoreError::NotFound);
                    let _ = lookup.reply.send(answer);
                }
            }
            Err(err) => {
                healthy &= !matches!(err, StoreError::Unavailable(_) | StoreError::Backend(_));
                for lookup in members {
                    let _ = lookup.reply.send(Err(copy_of(&err)));
                }
            }
        }
    }
    healthy
}

/// The error every member of a failed batch hears.
fn copy_of(err: &StoreError) -> StoreError {
    match err {
        StoreError::Unavailable(reason) => StoreError::Unavailable(reason.clone()),
        other => StoreError::Backend(other.to_string().into()),
    }
}

/// One query for lookups of one kind; the answer of member `i` at index `i`.
async fn query(
    conn: &mut PgConnection,
    kind: ContainerKind,
    by_sid: bool,
    members: &[Lookup],
) -> StoreResult<Vec<Option<(Service, Container)>>> {
    let column = if by_sid { "sid" } else { "unique_name" };
    let sql = format!(
        "SELECT q.i, s.seq, s.sid, s.account_sid, s.friendly_name, s.unique_name, \
         s.include_credentials, s.ui_editable, s.domain_base, s.date_created, s.date_updated, \
         c.seq AS c_seq, c.sid AS c_sid, c.friendly_name AS c_friendly_name, \
         c.date_created AS c_date_created, c.date_updated AS c_date_updated \
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY \
              AS q(account_sid, service, container, i) \
         JOIN services s ON s.account_sid = q.account_sid AND s.{column} = q.service \
         JOIN {} c ON c.service_sid = s.sid AND c.sid = q.container",
        container_table(kind)
    );
    let accounts: Vec<&str> = members.iter().map(|m| m.account_sid.as_str()).collect();
    let services: Vec<&str> = members.iter().map(|m| m.service.as_str()).collect();
    let containers: Vec<&str> = members.iter().map(|m| m.sid.as_str()).collect();
    let rows = sqlx::query(&sql)
        .bind(&accounts)
        .bind(&services)
        .bind(&containers)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let mut found: Vec<Option<(Service, Container)>> = vec![None; members.len()];
    for row in rows {
        let position: i64 = row.try_get("i").map_err(map_err)?;
        let service = Service::from_row(&row).map_err(map_err)?;
        let container = Container {
            seq: row.try_get("c_seq").map_err(map_err)?,
            sid: row.try_get("c_sid").map_err(map_err)?,
            account_sid: service.account_sid.clone(),
            service_sid: service.sid.clone(),
            friendly_name: row.try_get("c_friendly_name").map_err(map_err)?,
            date_created: row.try_get("c_date_created").map_err(map_err)?,
            date_updated: row.try_get("c_date_updated").map_err(map_err)?,
        };
        // Ordinality counts from 1.
        if let Some(slot) = usize::try_from(position - 1)
            .ok()
            .and_then(|i| found.get_mut(i))
        {
            *slot = Some((service, container));
        }
    }
    Ok(found)
}
