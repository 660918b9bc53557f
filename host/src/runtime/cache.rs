//! Compiled components on disk, so that a process starts in milliseconds instead of compiling.
//!
//! The file name carries the SHA-256 of the component and wasmtime's own compatibility hash
//! (its version and every setting that affects code generation), so a changed component or a
//! different wasmtime never loads a stale artifact. Loading compiled code is only as safe as
//! the directory: it is created private to the user (0700).

use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// `$DPOST_CACHE_DIR`, else the user's cache folder (e.g. `~/.cache/dpost`).
pub(super) fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DPOST_CACHE_DIR") {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "dpost").map(|d| d.cache_dir().to_path_buf())
}

/// The cache file name for `bytes` compiled by `engine`.
pub(super) fn artifact_name(engine: &Engine, bytes: &[u8]) -> String {
    let component = Sha256::digest(bytes);
    // DefaultHasher::new() uses fixed keys, so this is stable across processes.
    let mut h = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!(
        "dpost-protocol-{}-{:016x}.cwasm",
        hex(&component[..16]),
        h.finish()
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Load the compiled component from `dir`, or compile it and store it there.
pub(super) fn load_or_compile(
    engine: &Engine,
    bytes: &[u8],
    dir: Option<&Path>,
) -> anyhow::Result<Component> {
    let Some(dir) = dir else {
        return compile(engine, bytes);
    };
    let path = dir.join(artifact_name(engine, bytes));
    if path.exists() {
        // SAFETY: the file was written by `store` below from `Component::serialize` of this
        // very component and engine configuration (both are in its name), in a directory
        // only this user can write.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                tracing::debug!(path = %path.display(), "loaded compiled component from cache");
                return Ok(component);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable cached component")
            }
        }
    }
    let component = compile(engine, bytes)?;
    if let Err(e) = store(&component, dir, &path) {
        tracing::warn!(dir = %dir.display(), error = %e, "could not cache the compiled component");
    }
    Ok(component)
}

fn compile(engine: &Engine, bytes: &[u8]) -> anyhow::Result<Component> {
    Component::new(engine, bytes)
        .map_err(anyhow::Error::from)
        .context("compiling the protocol component")
}

fn store(component: &Component, dir: &Path, path: &Path) -> anyhow::Result<()> {
    create_private_dir(dir)?;
    let serialized = component.serialize().map_err(anyhow::Error::from)?;
    // Write beside, then rename: a reader never sees half a file.
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("c"),
        std::process::id()
    ));
    std::fs::write(&tmp, serialized)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}
