//! A guest that loops or hoards memory is stopped with a clear error, and the runtime keeps
//! serving. Driven by a real misbehaving component (tests/guests/hostile) under the same
//! engine, limits and deadlines as the protocol component.

use std::time::Duration;

use dpost::keystore::Keystore;
use dpost::runtime::{GuestError, Instance, Runtime, RuntimeOptions};
use dpost_tests::{runtime, test_options};
use wasmtime::component::Instance as Exports;

fn hostile_runtime() -> Runtime {
    hostile_runtime_with_deadline(Duration::from_millis(200))
}

/// The hoarding test must fail on memory, never on time: on a loaded CI machine an unoptimised
/// guest can take longer than the looping test's short deadline to reach the cap.
fn hostile_runtime_with_deadline(call_timeout: Duration) -> Runtime {
    let component =
        std::fs::read(env!("DPOST_HOSTILE_GUEST_WASM")).expect("the hostile guest was built");
    Runtime::new(RuntimeOptions {
        component,
        call_timeout,
        memory_limit: 32 << 20,
        ..test_options()
    })
    .expect("the hostile guest compiles and links")
}

fn call0(instance: &mut Instance<Exports>, name: &str) -> Result<(), GuestError> {
    instance.call(|exports, store| {
        let f = exports.get_typed_func::<(), ()>(&mut *store, name)?;
        f.call(&mut *store, ())
    })
}

fn answer(instance: &mut Instance<Exports>) -> Result<u32, GuestError> {
    instance.call(|exports, store| {
        let f = exports.get_typed_func::<(), (u32,)>(&mut *store, "answer")?;
        Ok(f.call(&mut *store, ())?.0)
    })
}

#[test]
fn a_looping_guest_is_interrupted_and_the_runtime_keeps_serving() {
    let rt = hostile_runtime();
    let mut instance = rt.instantiate_untyped(Keystore::new()).unwrap();
    let err = call0(&mut instance, "spin").unwrap_err();
    assert!(matches!(err, GuestError::TimeLimit(_)), "{err:?}");
    assert!(err.to_string().contains("ran longer than"), "{err}");

    // The trapped instance is retired, not re-entered.
    assert!(instance.is_retired());
    assert!(matches!(answer(&mut instance), Err(GuestError::Retired)));

    // A new instance from the same runtime serves.
    let mut fresh = rt.instantiate_untyped(Keystore::new()).unwrap();
    assert_eq!(answer(&mut fresh).unwrap(), 42);
}

#[test]
fn a_hoarding_guest_is_stopped_at_the_memory_cap() {
    let rt = hostile_runtime_with_deadline(Duration::from_secs(120));
    let mut instance = rt.instantiate_untyped(Keystore::new()).unwrap();
    let err = call0(&mut instance, "hoard").unwrap_err();
    assert!(
        matches!(err, GuestError::MemoryLimit { limit } if limit == 32 << 20),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("more than 33554432 bytes"),
        "{err}"
    );
    assert!(instance.peak_memory() <= 32 << 20);

    let mut fresh = rt.instantiate_untyped(Keystore::new()).unwrap();
    assert_eq!(answer(&mut fresh).unwrap(), 42);
}

#[test]
fn a_component_of_another_world_is_refused_as_protocol() {
    let err = hostile_runtime()
        .instantiate(Keystore::new())
        .err()
        .expect("not the protocol world");
    assert!(matches!(err, GuestError::WrongWorld(_)), "{err:?}");
}

#[test]
fn the_real_component_is_unaffected_by_a_hostile_neighbour() {
    let rt = hostile_runtime();
    let mut bad = rt.instantiate_untyped(Keystore::new()).unwrap();
    let _ = call0(&mut bad, "spin");

    let mut good = runtime().instantiate(Keystore::new()).unwrap();
    let date = good
        .call(|b, s| {
            b.dpost_protocol_digipost_signing()
                .call_format_date(s, 1_467_212_291)
        })
        .unwrap();
    assert_eq!(date, "Wed, 29 Jun 2016 14:58:11 GMT");
}

#[test]
fn many_instances_in_a_row_reuse_pool_slots() {
    // More instantiations than the pool has slots: each dropped instance frees its slot.
    for _ in 0..(dpost::runtime::DEFAULT_POOLED_INSTANCES + 16) {
        let mut i = runtime().instantiate(Keystore::new()).unwrap();
        i.call(|b, s| {
            b.dpost_protocol_digipost_signing()
                .call_max_clock_skew_seconds(s)
        })
        .unwrap();
    }
}

#[test]
fn the_compiled_component_is_cached_and_reused() {
    let dir = dpost_tests::scratch_dir("cache-reuse");
    let _ = std::fs::remove_dir_all(&dir);
    let options = RuntimeOptions {
        cache_dir: Some(dir.clone()),
        ..RuntimeOptions::default()
    };
    let first = Runtime::new(options.clone()).unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].to_string_lossy().ends_with(".cwasm"));
    drop(first);
    // A second runtime loads it; a corrupted artifact is ignored and replaced.
    Runtime::new(options.clone()).unwrap();
    std::fs::write(&files[0], b"garbage").unwrap();
    let rt = Runtime::new(options).unwrap();
    assert!(std::fs::metadata(&files[0]).unwrap().len() > 1000);
    let mut i = rt.instantiate(Keystore::new()).unwrap();
    assert_eq!(
        i.call(|b, s| b
            .dpost_protocol_digipost_signing()
            .call_max_clock_skew_seconds(s))
            .unwrap(),
        300
    );
}
