//! The component must stay deterministic and sandbox-friendly: it may import its own
//! interfaces and the WASI basics the Rust standard library links (streams, environment, exit),
//! but never a clock, randomness, the file system or sockets.

use dpost_tests::runtime;

const FORBIDDEN: [&str; 4] = [
    "wasi:clocks",
    "wasi:random",
    "wasi:filesystem",
    "wasi:sockets",
];

#[test]
fn component_imports_no_clock_randomness_files_or_sockets() {
    let imports = runtime().component_imports();
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("dpost:protocol/keystore@")),
        "{imports:?}"
    );
    let bad: Vec<_> = imports
        .iter()
        .filter(|i| FORBIDDEN.iter().any(|f| i.starts_with(f)))
        .collect();
    assert!(
        bad.is_empty(),
        "the component imports {bad:?}; the guest must read no clock, randomness, file or socket"
    );
}

#[test]
fn component_exports_the_signing_interface() {
    let exports = runtime().component_exports();
    assert!(
        exports
            .iter()
            .any(|e| e.starts_with("dpost:protocol/digipost-signing@")),
        "{exports:?}"
    );
}
