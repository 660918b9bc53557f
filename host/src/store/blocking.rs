//! Calling a store connection that several tasks share (`Arc<Mutex<Store>>`) from async
//! code: on tokio's blocking pool, because every store call blocks (a commit waits for its
//! fsync, a PostgreSQL statement for its answer) and an async worker must not.

use std::sync::{Arc, Mutex, PoisonError};

use super::{Store, StoreError};

/// Run `f` on `store` on a blocking thread. A panic in `f` comes back as an error naming
/// `task`; the lock survives it (a poisoned lock is taken as it is: a store call leaves
/// nothing half-done in memory, its transaction is rolled back).
pub async fn run<R: Send + 'static>(
    store: Arc<Mutex<Store>>,
    task: &'static str,
    f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, StoreError> {
    match tokio::task::spawn_blocking(move || {
        f(&mut store.lock().unwrap_or_else(PoisonError::into_inner))
    })
    .await
    {
        Ok(r) => r,
        Err(e) => Err(StoreError::Corrupt {
            path: std::path::PathBuf::new(),
            what: format!("{task} did not finish: {e}"),
        }),
    }
}
