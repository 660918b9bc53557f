//! Builds the protocol component (`guest/` for `wasm32-wasip2`) so that `cargo build` of the
//! host is all a user runs. The component is embedded in the `dpost` binary, which therefore
//! carries exactly the protocol code it was built and tested with.
//!
//! The inner build uses a target folder of its own (`target/guest-wasm`), as wasmtime's
//! test-programs do: nesting cargo inside cargo on the same folder would wait on its own lock.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "component";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.parent().expect("host/ sits in the workspace root").to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    for watched in ["guest/src", "guest/Cargo.toml", "wit", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=DPOST_COMPONENT");

    // A packager may hand in a component built elsewhere (the same source, other toolchain).
    let wasm = if let Some(prebuilt) = env::var_os("DPOST_COMPONENT") {
        PathBuf::from(prebuilt)
    } else {
        let target_dir = env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
            .join("guest-wasm");
        let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root)
            .args(["build", "--package", "dpost-guest", "--lib", "--target", TARGET])
            .args(["--profile", PROFILE, "--target-dir"])
            .arg(&target_dir);
        // What cargo set for *this* build script must not steer the inner build (flags for the
        // host target, the host's features and profile).
        for (key, _) in env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_FEATURE_")
                || key.starts_with("CARGO_CFG_")
                || key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_MANIFEST_")
                || matches!(
                    &*key,
                    "CARGO_ENCODED_RUSTFLAGS" | "RUSTFLAGS" | "CARGO_TARGET_DIR" | "CARGO_BUILD_TARGET"
                        | "CARGO_PRIMARY_PACKAGE" | "OUT_DIR" | "TARGET" | "HOST" | "PROFILE"
                        | "OPT_LEVEL" | "DEBUG" | "RUSTC_WORKSPACE_WRAPPER"
                )
            {
                cmd.env_remove(&*key);
            }
        }
        let status = cmd.status().expect("could not run cargo to build the guest component");
        if !status.success() {
            panic!(
                "building the protocol component failed (see above). If the error says the \
                 {TARGET} target is missing, run: rustup target add {TARGET}"
            );
        }
        target_dir.join(TARGET).join(PROFILE).join("dpost_guest.wasm")
    };
    let embedded = out_dir.join("dpost_protocol.wasm");
    std::fs::copy(&wasm, &embedded)
        .unwrap_or_else(|e| panic!("copying the component {} failed: {e}", wasm.display()));
    println!("cargo:rustc-env=DPOST_COMPONENT_WASM={}", embedded.display());
}
