//! Digipost request signing and response verification through the real component, against the
//! official client's test vector and against the same code compiled natively.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dpost::digipost::signing::{self as dsign, Body, DigipostError, Header, Request, Response};
use dpost::keystore::Keystore;
use dpost_guest::digipost::verification::VerifyError;
use dpost_tests::*;
use proptest::prelude::*;

const VECTOR_SIGNATURE: &str = "HEZfhL+mu0Pb9Owvfs7pHLUXxZPthONK53nWTwXPFtFVjslr4AIxLqUSbAO7PerzBcRryYa84SellVabx8t16Ixg52afLQb02qyeDx1qF23YAIvvv01NmEJkVUUTV/oN7MgDAb4NGeujzVoUzXKTV+b5YC4W2c4M/RWSGYF1HxEEo+82SDyTlwGa3XxhcVem2Kg0LOgZvKaJnFWk0fsVDI7J9xWdOY0NWbtlm/xu77w2IlR+91lbr2G5A75lyzboXVEYvOj3UGzKwFTqGDpR7var+/PzWh00lQ/dKtILKzDGz3E80CxCOtlU/6kczk9MtYVQvLCy7QR0GMUI6ypTzg==";

fn header<'h>(headers: &'h [Header], name: &str) -> &'h str {
    &headers
        .iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .value
}

#[test]
fn reproduces_the_dotnet_client_vector_byte_for_byte() {
    let mut instance = runtime()
        .instantiate(keystore_with("broker", legacy_key()))
        .unwrap();
    let req = Request {
        method: "POST".into(),
        target: "/someendpoint".into(),
        date: "Mon, 07 Jul 2014 12:00:02 GMT".into(),
        user_id: "1337".into(),
        body: Some(Body::Sha256Base64("TheHashOfContentForHeader".into())),
    };
    let signed = dsign::sign_request(&mut instance, &req, "broker").unwrap();
    assert_eq!(
        signed.canonical,
        "POST\n/someendpoint\ndate: Mon, 07 Jul 2014 12:00:02 GMT\nx-content-sha256: TheHashOfContentForHeader\nx-digipost-userid: 1337\n\n"
    );
    let names: Vec<_> = signed.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Date",
            "X-Digipost-UserId",
            "X-Content-SHA256",
            "X-Digipost-Signature"
        ]
    );
    assert_eq!(
        header(&signed.headers, "X-Digipost-Signature"),
        VECTOR_SIGNATURE
    );
}

#[test]
fn hashes_a_real_body_in_the_component() {
    let mut instance = runtime().instantiate(Keystore::new()).unwrap();
    let req = Request {
        method: "post".into(),
        target: "/x".into(),
        date: "Mon, 07 Jul 2014 12:00:02 GMT".into(),
        user_id: "1".into(),
        body: Some(Body::Bytes(b"This is the content to hash.".to_vec())),
    };
    let c = dsign::canonical_request(&mut instance, &req).unwrap();
    assert!(
        c.contains("\nx-content-sha256: gvXOB75lBGBY6LVTAVVpapZkBOv531VUE0EHrP2rryE=\n"),
        "{c}"
    );
}

#[test]
fn bodiless_get_with_query() {
    let mut instance = runtime().instantiate(Keystore::new()).unwrap();
    let req = Request {
        method: "GET".into(),
        target: "/9999/inbox?offset=0&limit=100".into(),
        date: "Wed, 29 Jun 2016 14:58:11 GMT".into(),
        user_id: "9999".into(),
        body: None,
    };
    assert_eq!(
        dsign::canonical_request(&mut instance, &req).unwrap(),
        "GET\n/9999/inbox\ndate: Wed, 29 Jun 2016 14:58:11 GMT\nx-digipost-userid: 9999\noffset=0&limit=100\n"
    );
}

#[test]
fn percent_encoded_and_upper_case_query_is_lowercased_not_reencoded() {
    let mut instance = runtime().instantiate(Keystore::new()).unwrap();
    let req = Request {
        method: "GET".into(),
        target: "https://api.test.digipost.no/1000/Inbox?Subject=Hei%20P%C3%A5%2FDeg&Offset=0"
            .into(),
        date: "Wed, 29 Jun 2016 14:58:11 GMT".into(),
        user_id: "1000".into(),
        body: None,
    };
    let c = dsign::canonical_request(&mut instance, &req).unwrap();
    assert_eq!(
        c,
        "GET\n/1000/inbox\ndate: Wed, 29 Jun 2016 14:58:11 GMT\nx-digipost-userid: 1000\nsubject=hei%20p%c3%a5%2fdeg&offset=0\n"
    );
}

#[test]
fn unknown_key_is_a_typed_keystore_error() {
    let mut instance = runtime().instantiate(Keystore::new()).unwrap();
    let req = Request {
        method: "GET".into(),
        target: "/x".into(),
        date: "Wed, 29 Jun 2016 14:58:11 GMT".into(),
        user_id: "1".into(),
        body: None,
    };
    let err = dsign::sign_request(&mut instance, &req, "nobody").unwrap_err();
    assert!(matches!(&err, DigipostError::Signing(_)), "{err:?}");
    assert!(err.to_string().contains("\"nobody\""), "{err}");
}

// ---- responses ----

const DATE: &str = "Wed, 29 Jun 2016 14:58:11 GMT";
const NOW: i64 = 1_467_212_291 + 42;

fn server_cert() -> Vec<u8> {
    std::fs::read(fixture("keys/server.cert.pem")).unwrap()
}

/// A response as the server sends it: signed over its canonical string with the server key.
fn signed_response(status: u16, path: &str, body: Option<&[u8]>) -> Response {
    let mut headers = vec![Header {
        name: "Date".into(),
        value: DATE.into(),
    }];
    if let Some(b) = body {
        headers.push(Header {
            name: "X-Content-SHA256".into(),
            value: dpost_guest::digipost::message::content_sha256(b),
        });
    }
    let mut resp = Response {
        status,
        request_path: path.into(),
        headers,
        body: body.map(|b| Body::Bytes(b.to_vec())),
    };
    let mut instance = runtime().instantiate(Keystore::new()).unwrap();
    let canonical = dsign::canonical_response(&mut instance, &resp).unwrap();
    let signature = server_key()
        .sign_pkcs1_sha256(canonical.as_bytes())
        .unwrap();
    resp.headers.push(Header {
        name: "X-Digipost-Signature".into(),
        value: STANDARD.encode(signature),
    });
    resp
}

fn verify(resp: &Response, cert: &[u8], now: i64) -> Result<(), DigipostError> {
    let mut instance = runtime().instantiate(Keystore::new()).unwrap();
    dsign::verify_response(&mut instance, resp, cert, now)
}

fn verify_error(resp: &Response) -> VerifyError {
    match verify(resp, &server_cert(), NOW) {
        Err(DigipostError::Verify(e)) => e,
        other => panic!("expected a verification error, got {other:?}"),
    }
}

#[test]
fn accepts_a_good_response_with_and_without_body() {
    verify(
        &signed_response(200, "/9999/inbox", Some(b"<inbox/>")),
        &server_cert(),
        NOW,
    )
    .unwrap();
    verify(
        &signed_response(200, "/9999/inbox/1", None),
        &server_cert(),
        NOW,
    )
    .unwrap();
    // The query of the request does not take part.
    let mut resp = signed_response(200, "/9999/inbox", Some(b"<inbox/>"));
    resp.request_path = "/9999/inbox?offset=0&limit=100".into();
    verify(&resp, &server_cert(), NOW).unwrap();
    // DER works as well as PEM.
    let pem = String::from_utf8(server_cert()).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    verify(
        &signed_response(200, "/x", None),
        &STANDARD.decode(b64).unwrap(),
        NOW,
    )
    .unwrap();
}

#[test]
fn rejects_a_tampered_status() {
    let mut resp = signed_response(200, "/9999/inbox", Some(b"<inbox/>"));
    resp.status = 201;
    assert!(matches!(
        verify_error(&resp),
        VerifyError::BadSignature { .. }
    ));
}

#[test]
fn rejects_a_tampered_path() {
    let mut resp = signed_response(200, "/9999/inbox", Some(b"<inbox/>"));
    resp.request_path = "/9998/inbox".into();
    assert!(matches!(
        verify_error(&resp),
        VerifyError::BadSignature { .. }
    ));
}

#[test]
fn rejects_a_tampered_date() {
    let mut resp = signed_response(200, "/9999/inbox", Some(b"<inbox/>"));
    resp.headers[0].value = "Wed, 29 Jun 2016 14:58:12 GMT".into();
    assert!(matches!(
        verify_error(&resp),
        VerifyError::BadSignature { .. }
    ));
}

#[test]
fn rejects_a_tampered_body() {
    let mut resp = signed_response(200, "/9999/inbox", Some(b"<inbox/>"));
    resp.body = Some(Body::Bytes(b"<inbox><document/></inbox>".to_vec()));
    assert!(matches!(
        verify_error(&resp),
        VerifyError::BodyHashMismatch { .. }
    ));
}

#[test]
fn rejects_a_tampered_signature() {
    let mut resp = signed_response(200, "/9999/inbox", None);
    let sig = resp
        .headers
        .iter_mut()
        .find(|h| h.name == "X-Digipost-Signature")
        .unwrap();
    let mut raw = STANDARD.decode(&sig.value).unwrap();
    raw[10] ^= 1;
    sig.value = STANDARD.encode(raw);
    assert!(matches!(
        verify_error(&resp),
        VerifyError::BadSignature { .. }
    ));
    sig_value_garbage(&mut resp);
    assert!(matches!(
        verify_error(&resp),
        VerifyError::BadSignature { .. }
    ));
}

fn sig_value_garbage(resp: &mut Response) {
    resp.headers
        .iter_mut()
        .find(|h| h.name == "X-Digipost-Signature")
        .unwrap()
        .value = "not base64!".into();
}

#[test]
fn rejects_a_signature_by_another_key() {
    let broker_cert = std::fs::read(fixture("keys/broker.cert.pem")).unwrap();
    let err = verify(&signed_response(200, "/x", None), &broker_cert, NOW).unwrap_err();
    assert!(
        matches!(err, DigipostError::Verify(VerifyError::BadSignature { .. })),
        "{err:?}"
    );
}

#[test]
fn rejects_missing_pieces_and_a_skewed_clock() {
    let mut no_sig = signed_response(200, "/x", None);
    no_sig.headers.retain(|h| h.name != "X-Digipost-Signature");
    assert_eq!(verify_error(&no_sig), VerifyError::MissingSignature);

    let mut no_date = signed_response(200, "/x", None);
    no_date.headers.retain(|h| h.name != "Date");
    assert_eq!(verify_error(&no_date), VerifyError::MissingDate);

    // A body the server did not hash: the signature is fine but the body is unprotected.
    let mut unhashed = signed_response(200, "/x", None);
    unhashed.body = Some(Body::Bytes(b"surprise".to_vec()));
    assert_eq!(verify_error(&unhashed), VerifyError::MissingBodyHash);

    let resp = signed_response(200, "/x", None);
    let err = verify(&resp, &server_cert(), NOW + 301 - 42).unwrap_err();
    assert!(
        matches!(err, DigipostError::Verify(VerifyError::DateSkew(-301))),
        "{err:?}"
    );
    verify(&resp, &server_cert(), NOW - 42 + 300).unwrap();
    let err = verify(&resp, &server_cert(), NOW - 42 - 301).unwrap_err();
    assert!(
        matches!(err, DigipostError::Verify(VerifyError::DateSkew(301))),
        "{err:?}"
    );

    let err = verify(&resp, b"not a certificate", NOW).unwrap_err();
    assert!(
        matches!(err, DigipostError::Verify(VerifyError::BadCertificate(_))),
        "{err:?}"
    );
}

// ---- the component and the native library agree ----

fn target_strategy() -> impl Strategy<Value = String> {
    let segment = "[A-Za-z0-9._~-]{1,8}|%[0-9A-Fa-f]{2}";
    let query = "([A-Za-z0-9%+=&._~-]|%[0-9A-Fa-f]{2}){0,24}";
    (
        prop::collection::vec(segment, 0..4),
        prop::option::of(query),
        any::<bool>(),
    )
        .prop_map(|(segs, q, absolute)| {
            let mut t = if absolute {
                "https://api.digipost.no".to_owned()
            } else {
                String::new()
            };
            t.push('/');
            t.push_str(&segs.join("/"));
            if let Some(q) = q {
                t.push('?');
                t.push_str(&q);
            }
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn component_and_native_library_agree(
        method in "GET|POST|DELETE|put|[A-Za-z]{1,6}|G ET|",
        target in prop_oneof![target_strategy(), "\\PC{0,12}"],
        when in 0i64..4_102_444_800,
        bad_date in prop::option::weighted(0.1, "\\PC{0,30}"),
        user_id in "[0-9]{1,6}|\\PC{0,4}",
        body in prop::option::of(prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64).prop_map(Body::Bytes),
            "[A-Za-z0-9+/=]{0,44}".prop_map(Body::Sha256Base64),
        ]),
    ) {
        let mut instance = runtime().instantiate(keystore_with("k", legacy_key())).unwrap();
        let date = bad_date.unwrap_or_else(|| dpost_guest::http_date::format(when));
        let req = Request { method, target, date, user_id, body };
        let native_body = req.body.as_ref().map(|b| match b {
            Body::Bytes(v) => dpost_guest::digipost::Body::Bytes(v),
            Body::Sha256Base64(h) => dpost_guest::digipost::Body::Sha256Base64(h),
        });
        let native_req = dpost_guest::digipost::signing::Request {
            method: &req.method, target: &req.target, date: &req.date, user_id: &req.user_id, body: native_body,
        };
        let native = dpost_guest::digipost::signing::sign_request(&native_req, "k", &NativeKeystore(legacy_key()));
        let wasm = dsign::sign_request(&mut instance, &req, "k");
        match (native, wasm) {
            (Ok(n), Ok(w)) => {
                let n: Vec<_> = n.into_iter().map(|h| (h.name, h.value)).collect();
                let w: Vec<_> = w.headers.into_iter().map(|h| (h.name, h.value)).collect();
                prop_assert_eq!(n, w);
            }
            (Err(n), Err(DigipostError::Signing(w))) => prop_assert_eq!(n, w),
            (n, w) => prop_assert!(false, "native {:?} but component {:?}", n, w),
        }
    }
}
