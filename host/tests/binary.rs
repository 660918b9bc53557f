//! The binary starts and reports its version. (Also makes cargo build the `dpost` binary for
//! `cargo test --workspace`, which the end-to-end tests in `tests/` run.)

#[test]
fn version() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dpost"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("dpost "));
}
