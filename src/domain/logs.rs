//! Logs (COMPAT §5.12): written for function invocations (RUNTIME §6.11), listed newest first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::domain::sid::{self, Prefix};
use crate::domain::Core;
use crate::domain::{environments, Ctx};
use crate::error::ApiError;
use crate::store::{Environment, Log, LogFilter, Page, PageRequest};

/// Parses the ListLog filters: RFC 3339 dates and a Function SID.
pub fn filter(
    start: Option<&str>,
    end: Option<&str>,
    function_sid: Option<&str>,
) -> Result<LogFilter, ApiError> {
    let date = |name: &str, value: Option<&str>| -> Result<Option<i64>, ApiError> {
        value
            .map(|v| {
                crate::clock::parse_rfc3339(v).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "Invalid {name}: {}",
                        crate::domain::names::truncate_for_message(v)
                    ))
                })
            })
            .transpose()
    };
    let now = crate::clock::now();
    let start = date("StartDate", start)?.unwrap_or(now - 24 * 3600);
    let end = date("EndDate", end)?;
    if let Some(function) = function_sid {
        if !sid::is_valid(Prefix::Container, function) {
            return Err(ApiError::invalid(format!(
                "Invalid FunctionSid: {}",
                crate::domain::names::truncate_for_message(function)
            )));
        }
    }
    Ok(LogFilter {
        start: Some(start),
        // Without EndDate, "now" is whatever is newest: logs written this second count.
        end,
        function_sid: function_sid.map(str::to_owned),
    })
}

pub async fn list(
    core: &Core,
    environment: &Environment,
    filter: &LogFilter,
    page: PageRequest,
) -> Result<Page<Log>, ApiError> {
    Ok(core.store.list_logs(&environment.sid, filter, page).await?)
}

/// Resolves Service, Environment and a Log SID.
pub async fn resolve(
    core: &Core,
    ctx: &Ctx,
    (service, environment, sid): (&str, &str, &str),
) -> Result<Log, ApiError> {
    let (_, environment) = environments::resolve(core, ctx, service, environment).await?;
    if !sid::is_valid(Prefix::Log, sid) {
        return Err(ctx.not_found());
    }
    ctx.found(core.store.log(&environment.sid, sid).await)
}

/// Applies the Log policy and trims the builds-per-hour records, now and then.
pub async fn keep_bounded_forever(core: std::sync::Arc<Core>) {
    let mut every = tokio::time::interval(core.config.upkeep.prune_every);
    loop {
        every.tick().await;
        match prune(&core).await {
            Ok(pruned) if pruned.logs > 0 => tracing::info!(logs = pruned.logs, "pruned logs"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "pruning failed"),
        }
        let dropped = core.log_budget.take_dropped();
        if dropped > 0 {
            tracing::warn!(dropped, "logs dropped: over the per-Environment rate");
        }
    }
}

/// Deletes Logs beyond the retention period and the per-Environment cap.
pub async fn prune(core: &Core) -> Result<crate::store::Pruned, crate::store::StoreError> {
    let policy = &core.config.logs;
    let now = crate::clock::now();
    let prune = crate::store::Prune {
        logs_before: policy
            .retention
            .map(|keep| now - i64::try_from(keep.as_secs()).unwrap_or(i64::MAX)),
        max_logs_per_environment: policy.max_per_environment,
        builds_before: now - 3600,
    };
    core.store.prune(&prune).await
}

/// Writes `log` unless its Environment is over its rate: anyone can cause a Log (a request to
/// a function path), so what they cost the database is bounded.
pub async fn record(core: &Core, log: &Log) {
    if !core.log_budget.allow(&log.environment_sid) {
        return;
    }
    if let Err(err) = core.store.create_log(log).await {
        tracing::error!(error = %err, "cannot write log");
    }
}

/// Token buckets, one per Environment: `rate` Logs per second on average, bursts of
/// [`BURST_SECONDS`] × `rate`.
pub struct LogBudget {
    rate: u32,
    buckets: quick_cache::sync::Cache<String, Arc<Mutex<Bucket>>>,
    dropped: AtomicU64,
}

/// Seconds of rate a bucket holds.
const BURST_SECONDS: f64 = 10.0;
/// Environments whose buckets are remembered; a forgotten one starts full again.
const MAX_BUCKETS: usize = 10_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl LogBudget {
    /// `rate` Logs per second per Environment; 0 for no limit.
    pub fn new(rate: u32) -> LogBudget {
        LogBudget {
            rate,
            buckets: quick_cache::sync::Cache::new(MAX_BUCKETS),
            dropped: AtomicU64::new(0),
        }
    }

    /// Takes one token from `environment_sid`'s bucket, if it has one.
    pub fn allow(&self, environment_sid: &str) -> bool {
        if self.rate == 0 {
            return true;
        }
        let rate = f64::from(self.rate);
        let burst = rate * BURST_SECONDS;
        let bucket = match self.buckets.get(environment_sid) {
            Some(bucket) => bucket,
            None => {
                let fresh = Arc::new(Mutex::new(Bucket {
                    tokens: burst,
                    at: Instant::now(),
                }));
                self.buckets
                    .insert(environment_sid.to_owned(), fresh.clone());
                fresh
            }
        };
        let allowed = match bucket.lock() {
            Ok(mut bucket) => {
                let now = Instant::now();
                let refill = now.duration_since(bucket.at).as_secs_f64() * rate;
                bucket.tokens = (bucket.tokens + refill).min(burst);
                bucket.at = now;
                let allowed = bucket.tokens >= 1.0;
                if allowed {
                    bucket.tokens -= 1.0;
                }
                allowed
            }
            Err(_) => false,
        };
        if !allowed {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        allowed
    }

    /// Logs dropped since the last call.
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let budget = LogBudget::new(2);
        let allowed = (0..100).filter(|_| budget.allow("ZE1")).count();
        assert_eq!(allowed, 20);
        assert!(budget.allow("ZE2"), "each environment has its own bucket");
        assert_eq!(budget.take_dropped(), 80);
        std::thread::sleep(std::time::Duration::from_millis(600));
        assert!(budget.allow("ZE1"), "tokens come back at the rate");
        assert!(LogBudget::new(0).allow("ZE1"));
    }
}
