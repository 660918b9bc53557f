//! Builds the test guests (components that misbehave on purpose) for the runtime tests.

use std::env;
use std::path::PathBuf;

include!("../host/build_component.rs");

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf();
    for watched in ["tests/guests", "wit", "host/build_component.rs"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let wasm = build_component(&root, "dpost-hostile-guest");
    println!(
        "cargo:rustc-env=DPOST_HOSTILE_GUEST_WASM={}",
        wasm.display()
    );
}
