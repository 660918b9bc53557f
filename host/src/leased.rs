//! Background work done under a named lease ([`crate::store::leases`]), so that of several
//! `dpost serve` replicas on one store (or a `dpost` command run beside them) one at a time
//! does it: pulling one NgDP system, syncing one Digipost inbox.
//!
//! The lease is taken before the work starts and renewed while it runs, every third of its
//! length, from a connection of its own, so that a long run (a slow NgDP, a big inbox) keeps
//! it. When a renewal fails (the store cannot be reached, or another process took the lease
//! over because this one stalled past its end) the work is stopped where it is: every piece
//! of work run this way is safe to stop at any point, as a crash would, and is picked up by
//! whoever holds the lease next. The lease is released when the work ends, so another
//! replica may take the next run without waiting for it to run out.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Clock;
use crate::store::leases::Lease;
use crate::store::{Store, StoreError};

/// The leases of one process: its holder id, made once ([`crate::store::leases::new_holder`]),
/// and the store connection the leases are kept through.
#[derive(Clone)]
pub struct Leases {
    store: Arc<Mutex<Store>>,
    holder: Arc<str>,
    clock: Arc<dyn Clock>,
}

/// What running work under a lease came to.
#[derive(Debug)]
pub enum Leased<T> {
    /// The work ran to its end, holding the lease throughout.
    Done(T),
    /// Another process holds the lease; the work did not start.
    Busy(Option<Lease>),
    /// The lease was lost while the work ran (why, for a person); the work was stopped.
    Lost(String),
}

impl Leases {
    /// Leases held as `holder` through `store`.
    pub fn new(store: Arc<Mutex<Store>>, holder: String, clock: Arc<dyn Clock>) -> Self {
        Leases {
            store,
            holder: holder.into(),
            clock,
        }
    }

    /// This process's holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Run `work` while holding the lease `name`, taken for `seconds` and renewed every
    /// third of that while it runs; released at the end.
    pub async fn run<F: Future>(
        &self,
        name: &str,
        seconds: i64,
        work: F,
    ) -> Result<Leased<F::Output>, StoreError> {
        let seconds = seconds.max(3);
        if !self.acquire(name, seconds).await? {
            let (store, lookup) = (self.store.clone(), name.to_owned());
            let held = blocking(store, move |s| s.lease(&lookup)).await?;
            return Ok(Leased::Busy(held));
        }
        let renewing = async {
            loop {
                tokio::time::sleep(Duration::from_secs((seconds / 3) as u64)).await;
                match self.acquire(name, seconds).await {
                    Ok(true) => {}
                    Ok(false) => {
                        break "another process took the lease over (this one was too slow to renew it)".to_owned();
                    }
                    Err(e) => {
                        break format!("the lease could not be renewed: {e}");
                    }
                }
            }
        };
        let outcome = tokio::select! {
            done = work => Leased::Done(done),
            why = renewing => Leased::Lost(why),
        };
        let (store, lease, holder) = (self.store.clone(), name.to_owned(), self.holder.clone());
        if let Err(e) = blocking(store, move |s| s.lease_release(&lease, &holder)).await {
            // It runs out by itself; the next run waits for that.
            tracing::warn!(lease = %name, error = %e, "a lease could not be released");
        }
        Ok(outcome)
    }

    async fn acquire(&self, name: &str, seconds: i64) -> Result<bool, StoreError> {
        let (store, lease, holder) = (self.store.clone(), name.to_owned(), self.holder.clone());
        let now = self.clock.now_unix();
        blocking(store, move |s| {
            s.lease_acquire(&lease, &holder, now, now + seconds)
        })
        .await
    }
}

async fn blocking<R: Send + 'static>(
    store: Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, StoreError> {
    crate::store::blocking::run(store, "a lease task", f).await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    /// A clock that stands still unless moved.
    #[derive(Debug)]
    struct Fixed(AtomicI64);

    impl Clock for Fixed {
        fn now_unix(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn leases(store: &Store, holder: &str, clock: &Arc<Fixed>) -> Leases {
        Leases::new(
            Arc::new(Mutex::new(crate::store::second_connection(store))),
            holder.to_owned(),
            clock.clone(),
        )
    }

    /// Two processes: while one runs the work, the other is told who holds it and does not
    /// run; after the first is done, the lease is free at once.
    #[tokio::test]
    async fn work_runs_in_one_process_at_a_time_and_frees_the_lease_when_done() {
        let store = crate::store::scratch_store("leased");
        let clock = Arc::new(Fixed(AtomicI64::new(1000)));
        let (a, b) = (leases(&store, "A", &clock), leases(&store, "B", &clock));
        let (started, finish) = (
            Arc::new(tokio::sync::Notify::new()),
            Arc::new(tokio::sync::Notify::new()),
        );
        let running = {
            let (a, started, finish) = (a.clone(), started.clone(), finish.clone());
            tokio::spawn(async move {
                a.run("pull:s", 60, async {
                    started.notify_one();
                    finish.notified().await;
                    7
                })
                .await
            })
        };
        started.notified().await;
        match b.run("pull:s", 60, async { 8 }).await.unwrap() {
            Leased::Busy(Some(l)) => assert_eq!((l.holder.as_str(), l.until), ("A", 1060)),
            other => panic!("expected busy, got {other:?}"),
        }
        finish.notify_one();
        assert!(matches!(running.await.unwrap().unwrap(), Leased::Done(7)));
        assert!(matches!(
            b.run("pull:s", 60, async { 8 }).await.unwrap(),
            Leased::Done(8)
        ));
    }

    /// A process whose lease another took over (it stalled past the end) stops its work at
    /// the next renewal instead of running on beside the other.
    #[tokio::test]
    async fn work_stops_when_its_lease_is_taken_over() {
        let store = crate::store::scratch_store("leased_lost");
        let clock = Arc::new(Fixed(AtomicI64::new(1000)));
        let a = leases(&store, "A", &clock);
        let mut other = crate::store::second_connection(&store);
        let work = async {
            // Past the lease's end before A renews it (every second for a 3-second lease),
            // B takes it over.
            clock.0.store(1003, Ordering::SeqCst);
            assert!(other.lease_acquire("pull:s", "B", 1003, 1033).unwrap());
            std::future::pending::<()>().await
        };
        match a.run("pull:s", 3, work).await.unwrap() {
            Leased::Lost(why) => assert!(why.contains("took the lease over"), "{why}"),
            other => panic!("expected lost, got {other:?}"),
        }
        // B's lease is left alone.
        assert_eq!(other.lease("pull:s").unwrap().unwrap().holder, "B");
    }
}
