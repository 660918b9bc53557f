//! The one place that owns wasmtime: the engine, the compiled component and its cache, the
//! limits every guest call runs under, and instantiation.
//!
//! ```text
//! Runtime::new ─▶ Engine (trimmed features, epoch interruption, pooling allocator)
//!              ─▶ Component (embedded bytes → compiled, or loaded from the on-disk cache)
//!              ─▶ ProtocolPre (imports linked once: keystore, every other import traps)
//! Runtime::instantiate ─▶ Instance (a Store with a memory cap; each call gets a deadline)
//! ```
//!
//! A guest that loops is interrupted when its deadline passes; one that allocates without
//! bound is stopped at the memory cap. Either way the call returns [`GuestError`], that
//! instance is retired, and the runtime goes on serving new instances.

mod cache;
mod epoch;
mod limits;
pub mod pool;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use crate::bindings::{Protocol, ProtocolPre};
use crate::keystore::Keystore;
pub use limits::GuestError;
use limits::StoreLimiter;
pub use pool::InstancePool;

/// The protocol component this binary was built with (see `host/build.rs`).
pub const EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("DPOST_COMPONENT_WASM"));

/// Default cap on one instance's linear memory. Streaming keeps the guest well under it.
pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;
/// Default time a single guest call may run before it is interrupted.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Instances the pooling allocator keeps slots for; more concurrent instances fall back to
/// an error, so keep it above the number of worker threads that call the guest.
pub const DEFAULT_POOLED_INSTANCES: u32 = 128;

/// Bytes of each pooled linear memory kept mapped between instances.
const KEEP_RESIDENT: usize = 2 << 20;

/// How the runtime is set up.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The component to run; the embedded one by default.
    pub component: Vec<u8>,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Cap on each instance's linear memory, bytes.
    pub memory_limit: usize,
    /// Deadline for each guest call.
    pub call_timeout: Duration,
    /// Use the pooling allocator (fast instantiation); falls back to on-demand allocation
    /// when the machine cannot reserve the virtual memory it needs.
    pub pooling: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            component: EMBEDDED_COMPONENT.to_vec(),
            cache_dir: cache::default_dir(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            pooling: true,
        }
    }
}

/// What each instance's store holds: the host capabilities the guest may call, and its limits.
pub struct HostState {
    pub(crate) keystore: Keystore,
    limiter: StoreLimiter,
}

/// The compiled component, ready to instantiate many times.
pub struct Runtime {
    engine: Engine,
    component: Component,
    pre: InstancePre<HostState>,
    /// The typed exports, or why the component does not implement the world.
    protocol: Result<ProtocolPre<HostState>, String>,
    /// Shared with every instance, which needs the limits to name them in errors: cloning
    /// the options themselves copied the whole component (1.1 MB) into each instance.
    options: Arc<RuntimeOptions>,
    ticks_per_call: u64,
    _ticker: epoch::Ticker,
}

impl Runtime {
    /// Build the engine, compile (or load from the cache) the component, and link its imports.
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        let engine = match options.pooling {
            true => Engine::new(&config(Some(&options))).or_else(|e| {
                tracing::warn!(error = %e, "pooling allocator unavailable, using on-demand allocation");
                Engine::new(&config(None))
            }),
            false => Engine::new(&config(None)),
        }
        .map_err(anyhow::Error::from)
        .context("setting up the WebAssembly engine")?;
        let component =
            cache::load_or_compile(&engine, &options.component, options.cache_dir.as_deref())?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        Protocol::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(anyhow::Error::from)?;
        // The guest is built for wasm32-wasip2, whose standard library imports WASI; the
        // protocol core never needs it, so every such call traps instead of reaching the OS.
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(anyhow::Error::from)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)?;
        let protocol = ProtocolPre::new(pre.clone()).map_err(|e| format!("{e:#}"));
        let ticks_per_call = epoch::ticks_for(options.call_timeout);
        let ticker = epoch::Ticker::start(&engine);
        Ok(Runtime {
            engine,
            component,
            pre,
            protocol,
            options: Arc::new(options),
            ticks_per_call,
            _ticker: ticker,
        })
    }

    /// A fresh instance of the protocol component whose keystore holds `keystore`'s keys.
    pub fn instantiate(&self, keystore: Keystore) -> Result<Instance, GuestError> {
        let protocol = self.protocol.as_ref().map_err(|e| {
            GuestError::WrongWorld(format!("the component does not implement the dpost:protocol world this host was built for: {e}"))
        })?;
        let mut store = self.new_store(keystore);
        let bindings = protocol
            .instantiate(&mut store)
            .map_err(|e| limits::classify(e, &store, &self.options))?;
        Ok(self.wrap(store, bindings))
    }

    /// A fresh instance of any component under the same limits, with its exports untyped.
    /// For embedders' own components and for tests that drive misbehaving guests.
    pub fn instantiate_untyped(
        &self,
        keystore: Keystore,
    ) -> Result<Instance<wasmtime::component::Instance>, GuestError> {
        let mut store = self.new_store(keystore);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| limits::classify(e, &store, &self.options))?;
        Ok(self.wrap(store, instance))
    }

    fn new_store(&self, keystore: Keystore) -> Store<HostState> {
        let state = HostState {
            keystore,
            limiter: StoreLimiter::new(self.options.memory_limit),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(self.ticks_per_call);
        store
    }

    fn wrap<B>(&self, store: Store<HostState>, bindings: B) -> Instance<B> {
        Instance {
            store,
            bindings,
            poisoned: false,
            ticks_per_call: self.ticks_per_call,
            options: Arc::clone(&self.options),
        }
    }

    /// The engine, for callers that inspect types.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The compiled component.
    pub fn component(&self) -> &Component {
        &self.component
    }

    /// The names of everything the component imports, e.g. `dpost:protocol/keystore@0.2.0`.
    pub fn component_imports(&self) -> Vec<String> {
        self.component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// The names of everything the component exports.
    pub fn component_exports(&self) -> Vec<String> {
        self.component
            .component_type()
            .exports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect()
    }
}

fn config(pooling: Option<&RuntimeOptions>) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Component-model async is not used; leaving its support on costs every call.
    config.concurrency_support(false);
    if let Some(options) = pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(DEFAULT_POOLED_INSTANCES)
            .total_core_instances(DEFAULT_POOLED_INSTANCES * 4)
            .total_memories(DEFAULT_POOLED_INSTANCES * 2)
            .total_tables(DEFAULT_POOLED_INSTANCES * 4)
            .max_memory_size(options.memory_limit)
            // Reset a freed slot's first pages with memset instead of madvise, so that the
            // next instance in that slot does not page-fault them back in: the protocol core
            // stays near 1-2 MiB of linear memory even on a 100 MB MeMo (BENCHMARKS.md).
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 << 10)
            // With PAGEMAP_SCAN (Linux 6.7+) only the pages an instance dirtied are reset,
            // not all of KEEP_RESIDENT: 50 µs instead of 60 µs per instantiation here.
            .pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// One instance of the component: a store, the exports, and the rule that an instance which
/// trapped is never entered again (its memory may be half-updated).
pub struct Instance<B = Protocol> {
    store: Store<HostState>,
    bindings: B,
    poisoned: bool,
    ticks_per_call: u64,
    options: Arc<RuntimeOptions>,
}

impl<B> Instance<B> {
    /// Run one guest call under a fresh deadline. A trap retires the instance.
    pub fn call<R>(
        &mut self,
        f: impl FnOnce(&B, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, GuestError> {
        if self.poisoned {
            return Err(GuestError::Retired);
        }
        self.store.set_epoch_deadline(self.ticks_per_call);
        f(&self.bindings, &mut self.store).map_err(|e| {
            self.poisoned = true;
            limits::classify(e, &self.store, &self.options)
        })
    }

    /// True once a call has trapped; make a new instance.
    pub fn is_retired(&self) -> bool {
        self.poisoned
    }

    /// Bytes of linear memory the guest has grown to so far (the high-water mark).
    pub fn peak_memory(&self) -> usize {
        self.store.data().limiter.peak()
    }
}
