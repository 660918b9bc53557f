//! Loading keys: legacy and modern PKCS#12, PEM, and the errors a person gets when it fails.

use dpost::keystore::{KeyError, PasswordSource, PrivateKey};
use dpost_tests::*;

#[test]
fn legacy_rc2_3des_pkcs12_loads() {
    let key = legacy_key();
    assert_eq!(key.bits(), 2048);
    assert_eq!(key.certificates().len(), 1);
}

#[test]
fn modern_pbes2_aes_pkcs12_loads_and_signs_like_the_pem_key() {
    let p12 = PrivateKey::load(
        &fixture("keys/broker-modern.p12"),
        &PasswordSource::File(fixture("keys/broker-modern.password")),
    )
    .unwrap();
    let pem = PrivateKey::load(&fixture("keys/broker.pkcs1.pem"), &PasswordSource::None).unwrap();
    // PKCS#1 v1.5 signatures are deterministic: the same key gives the same bytes.
    assert_eq!(
        p12.sign_pkcs1_sha256(b"abc").unwrap(),
        pem.sign_pkcs1_sha256(b"abc").unwrap()
    );
    assert_eq!(p12.certificates().len(), 1);
}

#[test]
fn pkcs8_pem_loads() {
    let key = server_key();
    assert_eq!(key.bits(), 2048);
}

#[test]
fn wrong_password_is_named() {
    let dir = scratch_dir("keystore");
    let file = dir.join("wrong.password");
    std::fs::write(&file, "not-it").unwrap();
    let err = PrivateKey::load(
        &fixture("digipost/DigipostTestCertWithPassword.p12"),
        &PasswordSource::File(file),
    )
    .unwrap_err();
    assert!(matches!(err, KeyError::WrongPassword { .. }), "{err:?}");
    assert!(err.to_string().contains("wrong password"), "{err}");
}

#[test]
fn pkcs12_without_a_password_source_says_how_to_give_one() {
    let err =
        PrivateKey::load(&fixture("keys/broker-modern.p12"), &PasswordSource::None).unwrap_err();
    assert!(matches!(err, KeyError::PasswordRequired { .. }), "{err:?}");
    assert!(err.to_string().contains("--password-env"), "{err}");
}

#[test]
fn unset_password_variable_is_named() {
    let err = PrivateKey::load(
        &fixture("keys/broker-modern.p12"),
        &PasswordSource::Env("DPOST_TEST_SURELY_UNSET_VARIABLE".into()),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("DPOST_TEST_SURELY_UNSET_VARIABLE is not set"),
        "{err}"
    );
}

#[test]
fn a_certificate_alone_is_not_a_key() {
    let err =
        PrivateKey::load(&fixture("keys/server.cert.pem"), &PasswordSource::None).unwrap_err();
    assert!(matches!(err, KeyError::NoPrivateKey { .. }), "{err:?}");
}

#[test]
fn garbage_and_missing_files_are_named() {
    let dir = scratch_dir("keystore");
    let garbage = dir.join("garbage.p12");
    std::fs::write(&garbage, [0x30, 0x03, 0x02, 0x01, 0x07, 0xff]).unwrap();
    let err = PrivateKey::load(
        &garbage,
        &PasswordSource::File(fixture("keys/broker-modern.password")),
    )
    .unwrap_err();
    assert!(matches!(err, KeyError::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("garbage.p12"), "{err}");

    let err = PrivateKey::load(&dir.join("absent.pem"), &PasswordSource::None).unwrap_err();
    assert!(matches!(err, KeyError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("absent.pem"), "{err}");
}

#[test]
fn debug_output_never_shows_key_material() {
    let shown = format!("{:?}", legacy_key());
    assert!(shown.contains("bits: 2048"), "{shown}");
    assert!(shown.len() < 200, "{shown}");
}
