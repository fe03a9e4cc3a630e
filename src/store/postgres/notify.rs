//! Site changes made by any node, heard through PostgreSQL's LISTEN/NOTIFY.
//!
//! A row trigger on `environments` (see `migrations/postgres`) notifies channel `depot_sites`
//! with the domain whose site changed, delivered when the change commits. One task per store
//! listens on a connection of its own and forwards each domain to the store's subscribers.
//! Notifications sent while nobody listens are lost, so losing the connection is announced as
//! [`SiteChange::All`], and again at least once a second until listening resumes: a cache
//! must not serve sites that may have changed unseen.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::broadcast::Sender;

use super::errors::map_err;
use crate::store::{SiteChange, StoreResult};

const CHANNEL: &str = "depot_sites";
/// How long one attempt to connect and LISTEN may take.
const ATTEMPT: Duration = Duration::from_secs(10);
/// Wait after a failed attempt: doubling from the first to the last.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// While disconnected, every cached site is forgotten this often.
const FORGET_EVERY: Duration = Duration::from_secs(1);
/// A connection quiet this long is asked whether it is still there: one cut without a word
/// (a network partition) would otherwise look quiet forever.
const QUIET: Duration = Duration::from_secs(30);
const PING: Duration = Duration::from_secs(5);

/// Starts listening (an error when that fails: the store cannot keep caches right without it)
/// and spawns the task that forwards changes to `sites` from then on.
pub(super) async fn follow(
    options: PgConnectOptions,
    sites: Sender<SiteChange>,
) -> StoreResult<tokio::task::JoinHandle<()>> {
    let listener = listen(&options).await.map_err(map_err)?;
    Ok(tokio::spawn(forward(options, listener, sites)))
}

/// A listener on a connection of its own. Each gets a new one-connection pool: a listener
/// dropped on a dead connection keeps that connection busy (sqlx sends UNLISTEN from a task
/// of its own, which may wait a long time), and must not keep its successor from connecting.
async fn listen(options: &PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    let attempt = async {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ATTEMPT)
            // The listening connection stays checked out for as long as it lives.
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with(options.clone())
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        // A lost connection makes `try_recv` answer `Ok(None)` at once, and `forward`
        // reconnects, announcing `All` meanwhile.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        Ok(listener)
    };
    match tokio::time::timeout(ATTEMPT, attempt).await {
        Ok(outcome) => outcome,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

async fn forward(options: PgConnectOptions, mut listener: PgListener, sites: Sender<SiteChange>) {
    loop {
        let lost = relay(&mut listener, &sites).await;
        tracing::warn!(
            error = %lost,
            "site changes unheard: forgetting cached sites until listening again"
        );
        drop(listener);
        let _ = sites.send(SiteChange::All);
        listener = reconnect(&options, &sites).await;
        // Changes committed between the loss and the new LISTEN were never heard.
        let _ = sites.send(SiteChange::All);
        tracing::info!("listening for site changes again");
    }
}

/// Forwards notifications until the connection is lost; returns why it was.
async fn relay(listener: &mut PgListener, sites: &Sender<SiteChange>) -> String {
    loop {
        match tokio::time::timeout(QUIET, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => {
                // No subscriber is not an error: nothing is cached yet.
                let _ = sites.send(SiteChange::Domain(notification.payload().to_owned()));
            }
            // sqlx's word for a connection closed under it (with eager reconnection off).
            Ok(Ok(None)) => return "the connection closed".to_owned(),
            Ok(Err(err)) => return err.to_string(),
            // `try_recv` only waits for the next message, so giving up on it loses nothing.
            Err(_) => {
                let ping = sqlx::query("SELECT 1").execute(&mut *listener);
                match tokio::time::timeout(PING, ping).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => return err.to_string(),
                    Err(_) => return "the connection did not answer a ping".to_owned(),
                }
            }
        }
    }
}

/// Connects and listens again, retrying with a growing (bounded) wait, and meanwhile tells
/// subscribers once a second that any site may have changed.
async fn reconnect(options: &PgConnectOptions, sites: &Sender<SiteChange>) -> PgListener {
    let mut forget = tokio::time::interval(FORGET_EVERY);
    forget.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retry = FIRST_RETRY;
    loop {
        let wait = retry;
        let attempt = async move {
            match listen(options).await {
                Ok(listener) => Some(listener),
                Err(err) => {
                    tracing::warn!(error = %err, retry_in = ?wait, "cannot listen for site changes");
                    tokio::time::sleep(wait).await;
                    None
                }
            }
        };
        tokio::pin!(attempt);
        let listener = loop {
            tokio::select! {
                _ = forget.tick() => {
                    let _ = sites.send(SiteChange::All);
                }
                listener = &mut attempt => break listener,
            }
        };
        match listener {
            Some(listener) => return listener,
            None => retry = (retry * 2).min(LAST_RETRY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn while_unreachable_every_site_is_forgotten_each_second() {
        // Nothing listens on port 1: every attempt is refused.
        let options = PgConnectOptions::new()
            .host("127.0.0.1")
            .port(1)
            .username("nobody");
        let (sites, mut heard) = tokio::sync::broadcast::channel(64);
        let reconnected =
            tokio::time::timeout(Duration::from_millis(2500), reconnect(&options, &sites)).await;
        assert!(reconnected.is_err());
        let mut forgotten = 0;
        while let Ok(change) = heard.try_recv() {
            assert_eq!(change, SiteChange::All);
            forgotten += 1;
        }
        // At 0 s, 1 s and 2 s.
        assert!(forgotten >= 3, "{forgotten}");
    }
}
