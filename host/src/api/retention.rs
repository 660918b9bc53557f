//! The part of `dpost serve` that applies `[api] events_retention_days`: once before the
//! listeners open (so a platform never reads a feed older than the window says), then every
//! hour. What is deleted and what is kept is `store::events_retention`'s business; this
//! decides when, and says what it did.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::store::events_retention::Pruned;
use crate::store::pool::StorePool;
use crate::store::{Store, StoreError};

/// How often events are pruned: retention is counted in days, so an hour late is nothing.
const EVERY: Duration = Duration::from_secs(3600);

/// Delete what is older than `days` now.
pub fn prune(store: &mut Store, clock: &dyn Clock, days: u32) -> Result<Pruned, StoreError> {
    let now = clock.now_unix();
    let before = now - i64::from(days) * 86_400;
    let pruned = store.events_prune(before, now)?;
    if pruned.deleted > 0 {
        tracing::info!(
            deleted = pruned.deleted,
            through = pruned.through,
            days,
            "events older than the retention window deleted"
        );
    }
    Ok(pruned)
}

/// Prune every [`EVERY`], forever. A failure is logged and tried again at the next round:
/// keeping events a little longer harms nobody.
pub async fn run(store: StorePool, clock: Arc<dyn Clock>, days: u32) {
    loop {
        tokio::time::sleep(EVERY).await;
        let mut conn = match store.get().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "pruning old events: no store connection; trying again in an hour");
                continue;
            }
        };
        let clock = clock.clone();
        match tokio::task::spawn_blocking(move || prune(&mut conn, clock.as_ref(), days)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "pruning old events failed; trying again in an hour")
            }
            Err(e) => tracing::warn!(error = %e, "pruning old events did not finish"),
        }
    }
}
