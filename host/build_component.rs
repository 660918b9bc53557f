// Shared by the build scripts that compile WebAssembly guests (host/build.rs for the protocol
// component, tests/build.rs for the test guests); included with `include!`, because a build
// script cannot depend on code from its own workspace's crates without a crate of its own.

/// Build `package`'s library for wasm32-wasip2 into `<target>/guest-wasm` and return the path
/// of the component. Runs a nested cargo on its own target folder, as wasmtime's
/// test-programs do: nesting cargo on the same folder would wait on its own lock.
fn build_component(root: &std::path::Path, package: &str) -> std::path::PathBuf {
    const TARGET: &str = "wasm32-wasip2";
    const PROFILE: &str = "component";
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("guest-wasm");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--package", package, "--lib", "--target", TARGET])
        .args(["--profile", PROFILE, "--target-dir"])
        .arg(&target_dir);
    // What cargo set for *this* build script must not steer the inner build (flags for the
    // host target, the outer package's features and profile).
    for (key, _) in std::env::vars_os() {
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
    let status = cmd.status().expect("could not run cargo to build a WebAssembly guest");
    if !status.success() {
        panic!(
            "building the WebAssembly guest {package} failed (see above). If the error says the \
             {TARGET} target is missing, run: rustup target add {TARGET}"
        );
    }
    target_dir.join(TARGET).join(PROFILE).join(format!("{}.wasm", package.replace('-', "_")))
}
