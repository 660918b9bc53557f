//! A misbehaving component for the runtime's limit tests: `spin` never returns, `hoard`
//! allocates until something stops it, `answer` behaves so a test can show the runtime still
//! serves. Its world is its own, so it needs no stubs as the protocol world grows; the host
//! runs it through `Runtime::instantiate_untyped`, under the same engine, limits and deadlines.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        inline: r#"
            package dpost-test:hostile;

            world hostile {
                /// Loops forever.
                export spin: func();
                /// Allocates 1 MiB blocks forever.
                export hoard: func();
                /// Returns 42.
                export answer: func() -> u32;
            }
        "#,
    });

    struct Hostile;
    export!(Hostile);

    impl Guest for Hostile {
        fn spin() {
            let mut n = 1u64;
            loop {
                n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }

        fn hoard() {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
            }
        }

        fn answer() -> u32 {
            42
        }
    }
}
