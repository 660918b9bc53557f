//! Builds the protocol component (`guest/` for `wasm32-wasip2`) so that `cargo build` of the
//! host is all a user runs. The component is embedded in the `dpost` binary, which therefore
//! carries exactly the protocol code it was built and tested with.

use std::env;
use std::path::PathBuf;

include!("build_component.rs");

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host/ sits in the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    for watched in [
        "guest/src",
        "guest/Cargo.toml",
        "wit",
        "Cargo.lock",
        "host/build_component.rs",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=DPOST_COMPONENT");

    // A packager may hand in a component built elsewhere from the same source.
    let wasm = match env::var_os("DPOST_COMPONENT") {
        Some(prebuilt) => PathBuf::from(prebuilt),
        None => build_component(&root, "dpost-guest"),
    };
    let embedded = out_dir.join("dpost_protocol.wasm");
    std::fs::copy(&wasm, &embedded)
        .unwrap_or_else(|e| panic!("copying the component {} failed: {e}", wasm.display()));
    println!(
        "cargo:rustc-env=DPOST_COMPONENT_WASM={}",
        embedded.display()
    );
}
