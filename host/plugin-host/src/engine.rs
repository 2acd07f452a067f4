//! One wasmtime Engine for the whole process, the on-disk cache of
//! precompiled components, and loading a component into a [`LoadedPlugin`].

use super::bindings::{network::NetworkPluginPre, plumbing::PlumbingPluginPre};
use super::capability::OutboundPolicy;
use super::driver::DriverPre;
use super::manifest::{Grant, Limits, MAX_MEMORY_BYTES, Manifest, PluginKind, effective_limits};
use super::state::PluginState;
use anyhow::Context as _;
use flotilla_model::FieldError;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

/// How often the engine's epoch advances: the granularity of call deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Why a plugin cannot be loaded, or cannot serve as what it is asked to
/// be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Its manifest or the operator's grant is wrong, naming the field.
    Invalid(FieldError),
    /// The component is not the plugin it is taken for: it does not
    /// compile, exports no contract, implements another kind than its
    /// manifest (or its caller) says, or cannot be linked.
    Component(String),
    /// Its manifest or its component could not be read from disk.
    Unreadable(String),
    /// An installed plugin takes the id of a built-in one, which it
    /// would replace.
    BuiltinId(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Invalid(e) => write!(f, "{e}"),
            LoadError::Component(m) | LoadError::Unreadable(m) => f.write_str(m),
            LoadError::BuiltinId(id) => write!(
                f,
                "id `{id}` is a built-in plugin's; give this one another id"
            ),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<FieldError> for LoadError {
    fn from(e: FieldError) -> LoadError {
        LoadError::Invalid(e)
    }
}

/// Loads plugins. Cheap to clone; all clones share one Engine.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<HostInner>,
}

struct HostInner {
    engine: Engine,
    pooling: bool,
    cache_dir: Option<PathBuf>,
    driver: Linker<PluginState>,
    elasticity: Linker<PluginState>,
    network: Linker<PluginState>,
    plumbing: Linker<PluginState>,
    networks: Arc<crate::registry::RegistrySlot>,
}

/// How much of a linear memory's written pages a freed pooling slot resets
/// by copying (from the memory's initial image, or zeros) and keeps mapped,
/// and of a table's. See [`engine_config`].
const MEMORY_KEEP_RESIDENT: usize = 1 << 20;
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

fn engine_config(pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    if pooling {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(512)
            .total_core_instances(2048)
            .total_memories(1024)
            .total_tables(2048)
            .max_memory_size(MAX_MEMORY_BYTES as usize);
        // A freed slot must be reset before the next instance gets it. By
        // default every page the guest touched is given back with
        // madvise(MADV_DONTNEED): on a policy evaluation (a fresh instance
        // each) that is a system call and a TLB shootdown on every other
        // core running the process, and the next instance faults the same
        // pages in again; together about a third of an evaluation. With
        // several threads instantiating at once, their madvise calls and
        // page faults contend in the kernel (the process's memory map, the
        // shootdown interrupts), so two threads evaluated fewer per second
        // than one. Where the kernel has the PAGEMAP_SCAN ioctl (Linux
        // 6.7), the pages the guest wrote are found with it and copied back
        // from the memory's initial image (or zeroed) in place, up to
        // MEMORY_KEEP_RESIDENT bytes per memory, anything beyond given back
        // as before: no page fault, no shootdown, and the next instance
        // starts from the same contents either way. Without the ioctl,
        // keeping the first bytes resident would copy the bottom of the
        // guest's stack (Rust places the stack first, growing down from its
        // top), which is seldom touched, so memories keep the default.
        // Tables are small and written from their start (lazily filled
        // function references), so theirs are kept either way.
        pool.table_keep_resident(TABLE_KEEP_RESIDENT);
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            pool.pagemap_scan(wasmtime::Enabled::Yes)
                .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

impl PluginHost {
    /// `cache_dir`: where precompiled components are kept; `None` compiles
    /// in memory every time (tests, `plugin check`).
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<PluginHost> {
        // The pooling allocator makes instantiation several times faster
        // but reserves address space up front; where that fails (small
        // virtual memory limits), fall back to on-demand allocation.
        let (engine, pooling) = match Engine::new(&engine_config(true)) {
            Ok(engine) => (engine, true),
            Err(e) => {
                tracing::warn!("pooling allocator unavailable ({e:#}); using on-demand allocation");
                (Engine::new(&engine_config(false))?, false)
            }
        };
        start_epoch_ticker(&engine);

        let mut driver = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut driver)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut driver)?;
        super::bindings::driver::DriverPlugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut driver,
            |s| s,
        )?;
        // Network modes reach their SDN over HTTP like drivers do.
        let mut network = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut network)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut network)?;
        super::bindings::network::NetworkPlugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut network,
            |s| s,
        )?;
        // Plumbing reaches the host's devices through `link` only: no
        // wasi:http.
        let mut plumbing = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut plumbing)?;
        super::bindings::plumbing::PlumbingPlugin::add_to_linker::<
            _,
            wasmtime::component::HasSelf<_>,
        >(&mut plumbing, |s| s)?;
        // Policies are pure: no wasi:http at all. A policy that imports it
        // fails to load.
        let mut elasticity = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut elasticity)?;
        super::bindings::elasticity::ElasticityPlugin::add_to_linker::<
            _,
            wasmtime::component::HasSelf<_>,
        >(&mut elasticity, |s| s)?;

        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the plugin cache {}", dir.display()))?;
        }
        Ok(PluginHost {
            inner: Arc::new(HostInner {
                engine,
                pooling,
                cache_dir,
                driver,
                elasticity,
                network,
                plumbing,
                networks: Default::default(),
            }),
        })
    }

    /// Give network modes Flotilla's virtual networks
    /// (`flotilla:network/registry`); until then their calls to it are
    /// `unsupported`. Applies to plugins loaded before and after.
    pub fn set_network_registry(&self, registry: Arc<dyn crate::NetworkRegistry>) {
        self.inner.networks.set(registry);
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn allocation(&self) -> &'static str {
        if self.inner.pooling {
            "pooling"
        } else {
            "on-demand"
        }
    }

    /// Compile a component, or load it precompiled from the cache, keyed by
    /// the component's content hash and the engine's compatibility hash
    /// (so a wasmtime upgrade or a different CPU never loads a stale
    /// artifact).
    pub fn compile(&self, wasm: &[u8]) -> anyhow::Result<Component> {
        let Some(dir) = &self.inner.cache_dir else {
            return Ok(Component::new(&self.inner.engine, wasm)?);
        };
        let path = self.cache_path(dir, wasm);
        if path.exists() {
            match self.load_precompiled(&path) {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "discarding cached plugin artifact: {e:#}")
                }
            }
        }
        let artifact = self.inner.engine.precompile_component(wasm)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &artifact)?;
        std::fs::rename(&tmp, &path)?;
        self.load_precompiled(&path)
    }

    /// Load an artifact from the cache directory.
    pub fn load_precompiled(&self, path: &Path) -> anyhow::Result<Component> {
        // SAFETY: only files in our own cache directory come here, written
        // by `precompile_component` of an engine whose compatibility hash
        // is in the file name; wasmtime checks the header again.
        Ok(unsafe { Component::deserialize_file(&self.inner.engine, path) }?)
    }

    /// Where the precompiled artifact of `wasm` lives in `dir`.
    pub fn cache_path(&self, dir: &Path, wasm: &[u8]) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.inner
            .engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        let digest = hex(&Sha256::digest(wasm));
        dir.join(format!("{}-{:016x}.cwasm", &digest[..32], hasher.finish()))
    }

    /// The kind a component implements, from the interfaces it exports.
    pub fn detect_kind(&self, component: &Component) -> Result<PluginKind, LoadError> {
        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(&self.inner.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        PluginKind::ALL
            .into_iter()
            .find(|kind| exports.iter().any(|e| e.starts_with(&format!("{}@0.1.", kind.export()))))
            .ok_or_else(|| {
                LoadError::Component(format!(
                    "the component exports none of flotilla:driver/driver, flotilla:elasticity/policy, flotilla:network/mode, flotilla:network/plumbing at 0.1 (it exports: {})",
                    if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") }
                ))
            })
    }

    /// Load a plugin: compile (or fetch from cache), check that it is the
    /// kind its manifest says, and link it against that kind's imports.
    pub fn load(
        &self,
        manifest: Manifest,
        wasm: &[u8],
        grant: Grant,
    ) -> Result<Arc<LoadedPlugin>, LoadError> {
        manifest.validate()?;
        grant.validate(&manifest.id)?;
        let component = self.compile(wasm).map_err(|e| {
            LoadError::Component(format!(
                "plugin `{}`: not a valid component: {e:#}",
                manifest.id
            ))
        })?;
        let kind = self
            .detect_kind(&component)
            .map_err(|e| LoadError::Component(format!("plugin `{}`: {e}", manifest.id)))?;
        if kind != manifest.kind {
            return Err(LoadError::Component(format!(
                "plugin `{}`: manifest says kind = \"{}\" but the component implements a {} plugin",
                manifest.id, manifest.kind, kind
            )));
        }
        let linker = match kind {
            PluginKind::Driver => &self.inner.driver,
            PluginKind::Elasticity => &self.inner.elasticity,
            PluginKind::Network => &self.inner.network,
            PluginKind::Plumbing => &self.inner.plumbing,
        };
        let link_err = |e: wasmtime::Error| {
            LoadError::Component(format!(
                "plugin `{}`: cannot be linked as a {kind} plugin: {e:#}",
                manifest.id
            ))
        };
        let instance_pre = linker.instantiate_pre(&component).map_err(link_err)?;
        let pre = match kind {
            PluginKind::Driver => KindPre::Driver(DriverPre::new(instance_pre).map_err(link_err)?),
            PluginKind::Elasticity => {
                KindPre::Elasticity(crate::policy::PolicyPre::new(instance_pre).map_err(link_err)?)
            }
            PluginKind::Network => {
                KindPre::Network(NetworkPluginPre::new(instance_pre).map_err(link_err)?)
            }
            PluginKind::Plumbing => {
                KindPre::Plumbing(PlumbingPluginPre::new(instance_pre).map_err(link_err)?)
            }
        };
        let wasi = imports_wasi(&self.inner.engine, &component);
        let id: Arc<str> = Arc::from(manifest.id.as_str());
        let link_backend = Arc::new(crate::link::LinkSlot::default());
        let terms = Terms::new(
            &manifest,
            grant,
            id.clone(),
            self.inner.networks.clone(),
            link_backend.clone(),
        )?;
        Ok(Arc::new(LoadedPlugin {
            id,
            digest: format!("sha256:{}", hex(&Sha256::digest(wasm))),
            size: wasm.len() as u64,
            terms: std::sync::RwLock::new(Arc::new(terms)),
            generation: AtomicU64::new(0),
            manifest,
            engine: self.inner.engine.clone(),
            pre,
            wasi,
            stats: PluginStats::default(),
            networks: self.inner.networks.clone(),
            link_backend,
        }))
    }
}

/// Whether a component imports any `wasi:` interface: only then do its
/// stores get a WASI context (see [`PluginState`]).
fn imports_wasi(engine: &Engine, component: &Component) -> bool {
    component
        .component_type()
        .imports(engine)
        .any(|(name, _)| name.starts_with("wasi:"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Advance the epoch every tick for as long as the engine lives.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("plugin-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .expect("spawning the epoch thread");
}

pub(crate) enum KindPre {
    Driver(DriverPre),
    Elasticity(crate::policy::PolicyPre),
    Network(NetworkPluginPre<PluginState>),
    Plumbing(PlumbingPluginPre<PluginState>),
}

/// Counters per plugin, for `plugin list` and metrics.
#[derive(Debug, Default)]
pub struct PluginStats {
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    pub faults: AtomicU64,
    pub instances_started: AtomicU64,
    /// Until when (ms since the epoch) an instance of the plugin rests in
    /// quarantine after repeated faults; 0 when none has been.
    pub quarantined_until_ms: AtomicU64,
}

impl PluginStats {
    /// The end of the quarantine, in seconds since the epoch, while it
    /// lasts.
    pub fn quarantined_until(&self) -> Option<u64> {
        let until = self.quarantined_until_ms.load(Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        (until > now).then(|| until.div_ceil(1000))
    }

    pub fn snapshot(&self) -> [u64; 4] {
        [
            self.calls.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.faults.load(Ordering::Relaxed),
            self.instances_started.load(Ordering::Relaxed),
        ]
    }
}

/// A plugin ready to instantiate: compiled, linked, with its limits,
/// capabilities and configuration resolved.
pub struct LoadedPlugin {
    pub id: Arc<str>,
    pub manifest: Manifest,
    /// `sha256:<hex>` of the component.
    pub digest: String,
    pub size: u64,
    pub stats: PluginStats,
    /// What the operator grants it; replaced by [`LoadedPlugin::regrant`]
    /// when the configuration is reloaded, read at the start of every call.
    terms: std::sync::RwLock<Arc<Terms>>,
    /// The generation of `terms`, read without the lock: a store checks it
    /// before each call and takes the terms again only when it moved.
    generation: AtomicU64,
    engine: Engine,
    pub(crate) pre: KindPre,
    /// Whether the component imports WASI ([`imports_wasi`]).
    wasi: bool,
    networks: Arc<crate::registry::RegistrySlot>,
    /// What its link calls run on instead of `ip`, when set.
    link_backend: Arc<crate::link::LinkSlot>,
}

/// A plugin's grant and what follows from it with its manifest: all a
/// store needs of its plugin, shared by its stores in one `Arc` (a store
/// takes one reference, not one per part: the references are counted on
/// memory every thread evaluating the plugin writes to).
#[derive(Debug)]
pub struct Terms {
    pub grant: Grant,
    pub limits: Limits,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) outbound: OutboundPolicy,
    pub(crate) exec: crate::process::ExecPolicy,
    /// The network devices it may make and change.
    pub(crate) link: crate::link::LinkPolicy,
    pub(crate) link_backend: Arc<crate::link::LinkSlot>,
    /// The plugin's id, for the host's log lines.
    pub(crate) plugin: Arc<str>,
    /// Flotilla's virtual networks, for network modes.
    pub(crate) networks: Arc<crate::registry::RegistrySlot>,
    /// Which grant of the plugin this is: 0 at load, then one more per
    /// [`LoadedPlugin::regrant`] that changed it.
    pub(crate) generation: u64,
}

impl Terms {
    fn new(
        manifest: &Manifest,
        grant: Grant,
        plugin: Arc<str>,
        networks: Arc<crate::registry::RegistrySlot>,
        link_backend: Arc<crate::link::LinkSlot>,
    ) -> Result<Terms, FieldError> {
        grant.validate(&manifest.id)?;
        let outbound = OutboundPolicy::new(
            &manifest.capabilities.allowed_outbound_hosts,
            &grant.allowed_outbound_hosts,
            &manifest.id,
        )?;
        Ok(Terms {
            exec: crate::process::ExecPolicy::new(manifest, &grant),
            link: crate::link::LinkPolicy::new(manifest, &grant),
            link_backend,
            limits: effective_limits(manifest.kind, &manifest.limits, &grant.limits),
            config: grant.config.clone(),
            outbound,
            grant,
            plugin,
            networks,
            generation: 0,
        })
    }
}

impl LoadedPlugin {
    pub fn kind(&self) -> PluginKind {
        self.manifest.kind
    }

    /// Whether the plugin is a driver for a fleet: it exports
    /// `flotilla:driver/hosts` beside `flotilla:driver/driver`.
    pub fn manages_hosts(&self) -> bool {
        match &self.pre {
            KindPre::Driver(pre) => pre.manages_hosts(),
            _ => false,
        }
    }

    /// An error unless the plugin is of `kind` (`what`: "a driver").
    pub fn expect_kind(&self, kind: PluginKind, what: &str) -> Result<(), LoadError> {
        if self.kind() == kind {
            Ok(())
        } else {
            Err(LoadError::Component(format!(
                "plugin `{}` is a {} plugin, not {what}",
                self.id,
                self.kind()
            )))
        }
    }

    /// The grant in force now.
    pub fn terms(&self) -> Arc<Terms> {
        self.terms.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The limits in force now.
    pub fn limits(&self) -> Limits {
        self.terms().limits
    }

    /// Apply a new grant (a reloaded configuration): outbound hosts, the
    /// config and the call deadline apply from the next call, warm
    /// instances included; a new memory cap applies to instances started
    /// from now on. Returns whether anything changed; a grant that does
    /// not validate is refused and the old one stays.
    pub fn regrant(&self, grant: Grant) -> Result<bool, FieldError> {
        let mut new = Terms::new(
            &self.manifest,
            grant,
            self.id.clone(),
            self.networks.clone(),
            self.link_backend.clone(),
        )?;
        let mut terms = self.terms.write().unwrap_or_else(|e| e.into_inner());
        if terms.grant == new.grant {
            return Ok(false);
        }
        // Under the lock: whoever sees the new generation and then takes
        // the lock finds the new terms.
        new.generation = terms.generation + 1;
        self.generation.store(new.generation, Ordering::Release);
        *terms = Arc::new(new);
        Ok(true)
    }

    /// The generation of the terms in force (see [`Terms::generation`]).
    pub(crate) fn terms_generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The programs the plugin may really start.
    pub fn effective_programs(&self) -> Vec<String> {
        self.terms().exec.programs()
    }

    /// The network devices the plugin may really make and change: the
    /// link grant in force, when its manifest asks for it too.
    pub fn effective_link(&self) -> Option<crate::LinkGrant> {
        let terms = self.terms();
        terms.link.is_granted().then(|| crate::LinkGrant {
            prefixes: terms.link.prefixes().to_vec(),
            underlays: terms.link.underlays().to_vec(),
            ip: terms.grant.link.as_ref().and_then(|l| l.ip.clone()),
        })
    }

    /// Run the plugin's link calls on `backend` instead of the host's
    /// `ip` (`plugin check` uses [`crate::MemoryLinks`], so that checking
    /// a plugin never touches the host's devices). The grant's checks
    /// apply as before.
    pub fn set_link_backend(&self, backend: Arc<dyn crate::LinkBackend>) {
        self.link_backend.set(backend);
    }

    /// The outbound hosts the plugin may really reach.
    pub fn effective_outbound_hosts(&self) -> Vec<String> {
        self.terms().outbound.effective()
    }

    /// A fresh store with this plugin's memory cap, capabilities and call
    /// deadline (for its start functions; each call sets its own).
    pub(crate) fn new_store(&self) -> Store<PluginState> {
        let terms = self.terms();
        let ticks = crate::instance::deadline_ticks(&terms.limits);
        let state = PluginState::new(self.kind(), terms, self.wasi);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(ticks);
        store
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("id", &self.id)
            .field("kind", &self.kind())
            .field("digest", &self.digest)
            .finish()
    }
}
