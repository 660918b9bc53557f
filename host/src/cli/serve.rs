//! `dpost serve`: the receiving system. The push listener, the business-receipt outbox and,
//! for pull systems, the periodic pull, on one embedded store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use clap::Args;
use tokio::sync::Notify;

use super::Exit;
use super::reload::{Reloader, certificate_end_dates};
use crate::api::ApiState;
use crate::clock::{self, Clock};
use crate::config::ConfigFile;
use crate::config::live::Live;
use crate::config::ngdp::{NgdpSettings, Protocol, ServeSettings};
use crate::config::preflight;
use crate::keystore::Keystore;
use crate::leased::{Leased, Leases};
use crate::ngdp::client::{NgdpClient, clients};
use crate::ngdp::metrics::Metrics;
use crate::ngdp::push::{PushService, router};
use crate::ngdp::{Receiving, outbox, pull};
use crate::runtime::pool::InstancePool;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::store::Store;
use crate::store::pool::StorePool;
use axum_server::Handle;

/// The configuration file and environment every NgDP command takes.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// The configuration file.
    #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
    pub config: PathBuf,
    /// test or production [default: the file's `[ngdp] environment`, else test].
    #[arg(long, value_name = "ENV")]
    pub environment: Option<String>,
}

impl ConfigArgs {
    /// Read the file (it must exist) and resolve the NgDP part.
    pub fn load(&self) -> anyhow::Result<(ConfigFile, NgdpSettings, ServeSettings)> {
        let file = super::config::load_existing(&self.config)?;
        let ngdp = file.ngdp(self.environment.as_deref())?;
        let serve = file.serve()?;
        Ok((file, ngdp, serve))
    }
}

/// Spool folders older than this at start-up are left by a crash and removed, when another
/// process receives into the same spool (else every leftover is removed, whatever its age).
const STALE_SPOOL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Start the receiving system.
#[derive(Debug, Args)]
pub struct ServeCommand {
    #[command(flatten)]
    config: ConfigArgs,
    /// Listen here instead of `[serve] listen` (e.g. 127.0.0.1:0 for any free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The platform API listens here instead of `[api] listen`.
    #[arg(long, value_name = "ADDR")]
    api_listen: Option<String>,
}

/// Everything the receiving side runs on, built from the configuration.
pub struct Service {
    /// The pipeline.
    pub receiving: Arc<Receiving>,
    /// Clients for NgDP's API, by system.
    pub clients: std::collections::BTreeMap<String, NgdpClient>,
    /// This process's share of the spool, held (never read) while it runs.
    _spool_lock: crate::store::owner::SpoolLock,
}

/// Open the store and set up the pipeline for `ngdp` and `serve`.
pub fn service(
    file: &ConfigFile,
    ngdp: NgdpSettings,
    serve: &ServeSettings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Service> {
    let mut store = Store::open_location(&file.store_location())?;
    store.ngdp_register_mailboxes(&ngdp.mailboxes, clock.now_unix())?;
    let mut options = RuntimeOptions::default();
    if let Some(limit) = serve.guest_memory_limit {
        options.memory_limit = limit;
    }
    if let Some(timeout) = serve.guest_call_timeout {
        options.call_timeout = timeout;
    }
    let runtime = Arc::new(Runtime::new(options)?);
    let pool = Arc::new(InstancePool::new(runtime, Keystore::new()));
    let clients = clients(&ngdp)?;
    crate::store::permissions::create_private_dir(&serve.data_dir)
        .with_context(|| format!("cannot create {}", serve.data_dir.display()))?;
    let (spool_lock, alone) = crate::store::owner::own_spool(&serve.data_dir)?;
    let receiving = Arc::new(Receiving {
        store: Arc::new(Mutex::new(store)),
        data_dir: serve.data_dir.clone(),
        pool,
        settings: crate::config::live::Live::new(ngdp),
        max_message_bytes: serve.max_message_bytes,
        clock,
        commits: Default::default(),
    });
    // Nobody else receives: whatever the spool holds was left by a process that is gone.
    let stale = if alone {
        std::time::Duration::ZERO
    } else {
        STALE_SPOOL
    };
    match receiving.clean_spool(stale) {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            removed = n,
            "removed half-received messages left by an earlier crash (never acknowledged; NgDP resends them)"
        ),
        Err(e) => tracing::warn!(error = %e, "could not clean the spool folder"),
    }
    Ok(Service {
        receiving,
        clients,
        _spool_lock: spool_lock,
    })
}

impl ServeCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        // First of all, before the configuration is read: a SIGHUP from here on is a reload
        // (applied once everything runs), never the default action, which ends the process.
        // A supervisor that reloads right after starting dpost would otherwise kill it.
        ignore_file_size_signal();
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let hangup = {
            let _runtime = tokio.enter();
            hangup_signal()?
        };
        tracing::debug!("a SIGHUP reloads the configuration from now on");
        let (file, ngdp, mut serve) = self.config.load()?;
        let mut problems = preflight::serve_problems(&file, &ngdp);
        problems.extend(preflight::public_problems(&file));
        if !problems.is_empty() {
            let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
            anyhow::bail!(
                "dpost serve does not start: business receipts could not reach NgDP or the portal's values are wrong ({} problem(s); `dpost config check` lists them too):\n{}",
                problems.len(),
                lines.join("\n")
            );
        }
        if let Some(l) = self.listen {
            serve.listen = l;
        }
        let addr: SocketAddr = serve
            .listen
            .parse()
            .with_context(|| format!("{:?} is not an address", serve.listen))?;
        let mut api = file.api()?;
        let webhooks = file.webhooks(|name| std::env::var(name).ok())?;
        warn_short_claims(serve.claim_seconds, &webhooks);
        let retention = file.retention()?;
        let store_pool = file.store_pool()?;
        crate::store::permissions::create_private_dir(&serve.data_dir)
            .with_context(|| format!("cannot create {}", serve.data_dir.display()))?;
        // Held until the process ends: one serve per data folder, found by its pid.
        let _serve_lock = crate::store::owner::lock_serve(&serve.data_dir)?;
        let console = file.console(|name| std::env::var(name).ok())?;
        let webhook_names: Vec<String> = webhooks.iter().map(|w| w.name.clone()).collect();
        if let Some(l) = self.api_listen {
            api.listen = l;
        }
        let api_addr: SocketAddr = api
            .listen
            .parse()
            .with_context(|| format!("{:?} is not an address", api.listen))?;
        tokio.block_on(async move {
            let svc = service(&file, ngdp, &serve, clock::system())?;
            let receiving = svc.receiving.clone();
            let metrics = Arc::new(Metrics::default());
            start_metrics(&metrics, &receiving, &file.store_location())?;
            let app = router(Arc::new(PushService {
                receiving: receiving.clone(),
                metrics: metrics.clone(),
                body_read_timeout: serve.body_read_timeout,
            }));
            let wake = Arc::new(Notify::new());
            let worker = outbox::Outbox {
                store: receiving.store.clone(),
                clients: svc.clients.clone(),
                clock: receiving.clock.clone(),
                pool: receiving.pool.clone(),
                metrics: metrics.clone(),
                give_up_after_seconds: receiving.settings.get().receipt_give_up_after_seconds,
                claim_seconds: serve.claim_seconds.unwrap_or(outbox::CLAIM_SECONDS),
            };
            tokio::spawn(outbox::run(worker, wake));
            // One id for every lease this process takes, made once: replicas sharing the
            // store tell each other apart by it (issue 18).
            let leases = Leases::new(
                Arc::new(Mutex::new(Store::open_location(&file.store_location())?)),
                crate::store::leases::new_holder(),
                receiving.clock.clone(),
            );
            tracing::info!(holder = %leases.holder(), "background work is leased as this process");
            for system in receiving
                .settings
                .get()
                .systems
                .iter()
                .filter(|s| s.protocol == Protocol::Pull)
            {
                let Some(client) = svc.clients.get(&system.id).cloned() else {
                    continue;
                };
                let every = system.pull_interval_seconds;
                tokio::spawn(pull_periodically(
                    client,
                    receiving.clone(),
                    system.id.clone(),
                    every,
                    metrics.clone(),
                    leases.clone(),
                ));
            }
            let shutdown = async {
                let ctrl_c = tokio::signal::ctrl_c();
                #[cfg(unix)]
                {
                    let mut term =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                    tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
                }
                #[cfg(not(unix))]
                ctrl_c.await?;
                anyhow::Ok(())
            };
            let settings = receiving.settings.get();
            let systems: Vec<_> = settings.systems.iter().map(|s| s.id.clone()).collect();
            let sending = start_sender(&file, &svc, &serve)?;
            let api_state = Arc::new(ApiState {
                store: StorePool::new(file.store_location(), store_pool),
                clients: Live::new(api.clients.clone()),
                mailboxes: Live::new(settings.mailboxes.clone()),
                clock: receiving.clock.clone(),
                metrics: metrics.clone(),
                sending,
            });
            // Before the listeners open: no platform reads events older than the window. The
            // pool's first connection is opened here, so a store the API cannot reach stops
            // the start.
            crate::api::retention::prune(
                &mut *api_state.store.get().await?,
                api_state.clock.as_ref(),
                api.events_retention_days,
            )?;
            tokio::spawn(crate::api::retention::run(
                api_state.store.clone(),
                api_state.clock.clone(),
                api.events_retention_days,
            ));
            let console_users = Arc::new(Live::new(console.users.clone()));
            let mut reloader = Reloader::new(
                self.config.config.clone(),
                self.config.environment.clone(),
                serve.data_dir.clone(),
                receiving.clone(),
                api_state.clone(),
                metrics,
                console_users.clone(),
            );
            reloader.claim_seconds = serve.claim_seconds;
            let reloader = Arc::new(reloader);
            // Before the listeners open: a webhook's cursor starts where the log is now, so
            // an event committed from here on is never taken for history.
            reloader.start_webhooks(webhooks)?;
            spawn_reload_on_hangup(reloader, hangup);
            if let Some(every) = retention.purge_every {
                tokio::spawn(purge_periodically(
                    file.store_location(),
                    retention.days.clone(),
                    every,
                    receiving.clock.clone(),
                ));
            }
            let console = crate::console::start(
                &api_state,
                console,
                console_users,
                &serve.data_dir,
                api.tls.is_some(),
                webhook_names,
                &receiving.settings.get(),
            )?;
            let push = Handle::new();
            let api_handle = Handle::new();
            let (p, a) = (push.clone(), api_handle.clone());
            tokio::spawn(async move {
                let _ = shutdown.await;
                p.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
                a.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
            });
            let (push_url, serving_push) = listen(
                addr,
                serve.tls.as_ref(),
                app,
                serve.header_read_timeout,
                push,
            )
            .await?;
            let (api_url, serving_api) = listen(
                api_addr,
                api.tls.as_ref(),
                crate::api::router(api_state).merge(console),
                serve.header_read_timeout,
                api_handle,
            )
            .await
            .context("the API listener ([api] listen)")?;
            announce(
                &push_url,
                &api_url,
                &settings.environment,
                &systems,
                api.clients.len(),
            );
            // Either listener failing ends the service: a gateway whose platform cannot
            // reach it must not look healthy to NgDP.
            tokio::select! {
                r = serving_push => r??,
                r = serving_api => r??,
            }
            anyhow::Ok(())
        })?;
        Ok(Exit::Ok)
    }
}

/// A `[serve] claim_seconds` shorter than a post's time limit is allowed (faster takeover is
/// the operator's choice) but said once at start: a replica whose post outlasts its claim may
/// see another replica post the same item again.
fn warn_short_claims(claim_seconds: Option<i64>, webhooks: &[crate::config::webhooks::Webhook]) {
    let Some(claim) = claim_seconds else {
        return;
    };
    let longest = webhooks
        .iter()
        .map(|w| w.timeout)
        .chain([crate::ngdp::client::DEFAULT_TIMEOUT])
        .max()
        .unwrap_or_default()
        .as_secs();
    if claim <= longest as i64 {
        tracing::warn!(
            claim_seconds = claim,
            longest_post_seconds = longest,
            "[serve] claim_seconds is not longer than the longest post (NgDP's 60 s, a webhook's timeout_seconds): a post still under way when its claim ends may be made again by another replica"
        );
    }
}

/// Pull `system` every `every` seconds, each run while holding its lease
/// ([`pull::lease_name`]), so that of several replicas on one store one pulls a system at a
/// time.
async fn pull_periodically(
    client: NgdpClient,
    receiving: Arc<Receiving>,
    system: String,
    every: u64,
    metrics: Arc<Metrics>,
    leases: Leases,
) {
    let lease = pull::lease_name(&system);
    loop {
        let run = pull::pull_once(&client, &receiving, &system, Some(&metrics.receipts));
        match leases.run(&lease, pull::LEASE_SECONDS, run).await {
            Ok(Leased::Done(Ok(s))) => {
                for (what, why) in &s.failed {
                    tracing::warn!(%system, item = %what, reason = %why, "pull: left at NgDP");
                }
                if s.listed > 0 || s.receipts_stored > 0 || !s.failed.is_empty() {
                    let summary = serde_json::to_string(&s).unwrap_or_default();
                    tracing::info!(%system, %summary, "pulled");
                }
            }
            Ok(Leased::Done(Err(e))) => {
                tracing::warn!(%system, error = %crate::error_text::of(&e), "pull failed");
            }
            Ok(Leased::Busy(held)) => {
                let holder = held.map(|l| l.holder).unwrap_or_default();
                tracing::debug!(%system, %holder, "another process is pulling this system; not pulling now");
            }
            Ok(Leased::Lost(why)) => {
                tracing::warn!(%system, reason = %why, "pull stopped half-way (what it did is kept; the next run goes on)");
            }
            Err(e) => {
                tracing::warn!(%system, error = %e, "pull: its lease cannot be taken just now")
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(every)).await;
    }
}

/// The metrics read from the store and files at start: when each system last received a
/// message (so an alert on silence survives a restart) and the certificates' end dates.
fn start_metrics(
    metrics: &Metrics,
    receiving: &Receiving,
    store: &crate::store::Location,
) -> anyhow::Result<()> {
    let mut store = Store::open_location(store)?;
    for (system, at) in store.ngdp_last_received()? {
        metrics.message_received_at(&system, at);
    }
    metrics.set_certificates(certificate_end_dates(&receiving.settings.get()));
    Ok(())
}

#[cfg(unix)]
type Hangup = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type Hangup = ();

/// SIGHUP, caught from now on.
fn hangup_signal() -> anyhow::Result<Hangup> {
    #[cfg(unix)]
    return Ok(tokio::signal::unix::signal(
        tokio::signal::unix::SignalKind::hangup(),
    )?);
    #[cfg(not(unix))]
    Ok(())
}

/// Reload the configuration on every SIGHUP.
fn spawn_reload_on_hangup(reloader: Arc<Reloader>, hangup: Hangup) {
    #[cfg(unix)]
    {
        let mut hangup = hangup;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                let r = reloader.clone();
                // Reading files and the store blocks.
                let _ = tokio::task::spawn_blocking(move || r.reload()).await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (reloader, hangup);
}

/// Purge by retention every `every`, the first time one interval after start.
async fn purge_periodically(
    store: crate::store::Location,
    days: std::collections::BTreeMap<String, u32>,
    every: std::time::Duration,
    clock: Arc<dyn Clock>,
) {
    loop {
        tokio::time::sleep(every).await;
        let (location, days, now) = (store.clone(), days.clone(), clock.now_unix());
        let done = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
            let mut store = Store::open_location(&location)?;
            Ok(
                crate::store::retention::purge(&mut store, &days, now, false)?
                    .messages
                    .len(),
            )
        })
        .await;
        match done {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %crate::error_text::of(&e), "retention: the purge failed; it is tried again next interval")
            }
            Err(e) => tracing::warn!(error = %e, "retention: the purge stopped"),
        }
    }
}

/// How long the sender retries network errors and 5xx before it gives a message up (it stays
/// listed as failed, with the reason, and can be retried).
const SEND_GIVE_UP_SECONDS: i64 = 24 * 3600;

/// Start the task that sends what the platform API queues; what the API needs to queue.
fn start_sender(
    file: &ConfigFile,
    svc: &Service,
    serve: &ServeSettings,
) -> anyhow::Result<Arc<crate::api::outgoing::Sending>> {
    let receiving = &svc.receiving;
    let wake = Arc::new(Notify::new());
    let spool_dir = serve.data_dir.join("spool");
    crate::store::permissions::create_private_dir(&spool_dir)
        .with_context(|| format!("cannot create {}", spool_dir.display()))?;
    let sender = crate::ngdp::sender::Sender {
        store: Arc::new(Mutex::new(Store::open_location(&file.store_location())?)),
        clients: svc.clients.clone(),
        settings: receiving.settings.get(),
        pool: receiving.pool.clone(),
        clock: receiving.clock.clone(),
        spool_dir,
        claim_seconds: serve
            .claim_seconds
            .unwrap_or(crate::ngdp::outbox::CLAIM_SECONDS),
    };
    tokio::spawn(crate::ngdp::sender::run(sender, wake.clone()));
    let settings = receiving.settings.get();
    Ok(Arc::new(crate::api::outgoing::Sending {
        environment: settings.environment.clone(),
        systems: settings.systems.iter().map(|s| s.id.clone()).collect(),
        data_dir: serve.data_dir.clone(),
        files_in_store: file.store_location().holds_file_bytes(),
        max_bytes: serve.max_message_bytes,
        pool: receiving.pool.clone(),
        wake,
        give_up_seconds: SEND_GIVE_UP_SECONDS,
    }))
}

/// A client gets `header_read` to send its request headers; a slower one (slowloris) has its
/// connection closed. Bodies have a timeout of their own in the push listener.
fn slow_client_limits(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header_read: std::time::Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_read);
}

/// A file-size limit (`ulimit -f`, RLIMIT_FSIZE) must make a write fail with EFBIG, which
/// the store turns into a 503, not kill the whole service with SIGXFSZ (whose default
/// action terminates the process).
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code; it is done
    // before any thread of ours (the runtime's included) starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Serve `app` on `addr`, over TLS when `tls` names a certificate and key; returns the URL it
/// listens at (the real port when `addr` asks for port 0) and the serving task.
async fn listen(
    addr: SocketAddr,
    tls: Option<&(PathBuf, PathBuf)>,
    app: axum::Router,
    header_read_timeout: std::time::Duration,
    handle: Handle,
) -> anyhow::Result<(String, tokio::task::JoinHandle<std::io::Result<()>>)> {
    match tls {
        None => {
            let listener = std::net::TcpListener::bind(addr)
                .with_context(|| format!("cannot listen on {addr}"))?;
            listener.set_nonblocking(true)?;
            let bound = listener.local_addr()?;
            let mut server = axum_server::from_tcp(listener).handle(handle);
            slow_client_limits(server.http_builder(), header_read_timeout);
            Ok((
                format!("http://{bound}"),
                tokio::spawn(server.serve(app.into_make_service())),
            ))
        }
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "the TLS certificate {} or key {}",
                        cert.display(),
                        key.display()
                    )
                })?;
            let mut server = axum_server::bind_rustls(addr, tls).handle(handle.clone());
            slow_client_limits(server.http_builder(), header_read_timeout);
            let serving = tokio::spawn(server.serve(app.into_make_service()));
            match handle.listening().await {
                Some(bound) => Ok((format!("https://{bound}"), serving)),
                None => match serving.await {
                    Ok(Err(e)) => {
                        Err(anyhow::Error::new(e).context(format!("cannot listen on {addr}")))
                    }
                    _ => anyhow::bail!("cannot listen on {addr}"),
                },
            }
        }
    }
}

/// The first line on standard output says where the push listener listens, the second
/// where the API does (tests and scripts read them when they ask for port 0).
fn announce(url: &str, api_url: &str, environment: &str, systems: &[String], clients: usize) {
    use std::io::Write as _;
    // One write for both lines (a reader may take the first and close the pipe), and a
    // service keeps serving when nobody reads its announcement.
    let _ = out!("listening on {url}\napi listening on {api_url}\n");
    let _ = std::io::stdout().flush();
    tracing::info!(%url, %api_url, %environment, ?systems, "dpost serve started");
    for s in systems {
        errln!("  message endpoint: {url}/api/MeMoV1/memos/?system-uuid={s}");
    }
    errln!(
        "  platform API: {api_url}/api/v1/ ({clients} client(s) configured), metrics: {api_url}/metrics"
    );
}
