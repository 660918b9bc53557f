"""The component in Python: the checks the Node example makes, through wasmtime-py."""

import base64
import hashlib
import os
import unittest
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509 import load_pem_x509_certificate
from wasmtime.component import Variant

from dpost import Dpost, DpostError, Keystore, record

ROOT = Path(__file__).resolve().parents[2]
WASM = Path(os.environ.get("DPOST_WASM", ROOT / "target/guest-wasm/wasm32-wasip2/component/dpost_guest.wasm"))
DPOST = Dpost(WASM)


def read(path: str) -> bytes:
    return (ROOT / path).read_bytes()


# The Digipost .NET client's request-signing vector (tests/fixtures/digipost/README.md).
VECTOR_CANONICAL = (
    "POST\n/someendpoint\ndate: Mon, 07 Jul 2014 12:00:02 GMT\n"
    "x-content-sha256: TheHashOfContentForHeader\nx-digipost-userid: 1337\n\n"
)
VECTOR_SIGNATURE = (
    "HEZfhL+mu0Pb9Owvfs7pHLUXxZPthONK53nWTwXPFtFVjslr4AIxLqUSbAO7PerzBcRryYa84SellVabx8t16Ixg52afLQb02qyeDx1qF23YAIvvv01NmEJkVUUTV/oN7MgDAb4NGeujzVoUzXKTV+b5YC4W2c4M/RWSGYF1HxEEo+82SDyTlwGa3XxhcVem2Kg0LOgZvKaJnFWk0fsVDI7J9xWdOY0NWbtlm/xu77w2IlR+91lbr2G5A75lyzboXVEYvOj3UGzKwFTqGDpR7var+/PzWh00lQ/dKtILKzDGz3E80CxCOtlU/6kczk9MtYVQvLCy7QR0GMUI6ypTzg=="
)


def vector_request(body="TheHashOfContentForHeader"):
    # `body` is option<body>, body a variant of bytes(...) | sha256-base64(...): wasmtime-py
    # takes bytes for the first, str for the second (see dpost.py).
    return record(method="POST", target="/someendpoint", date="Mon, 07 Jul 2014 12:00:02 GMT", user_id="1337", body=body)


def broker_keystore():
    return Keystore().add("broker", read("examples/keys/digipost-test.key.pem"))


class Signing(unittest.TestCase):
    def test_reproduces_the_dotnet_client_vector_byte_for_byte(self):
        dp = DPOST.instance(broker_keystore())
        self.assertEqual(dp.call("digipost-signing", "canonical-request", vector_request()), VECTOR_CANONICAL)
        headers = dp.call("digipost-signing", "sign-request", vector_request(), "broker")
        self.assertEqual([h.name for h in headers], ["Date", "X-Digipost-UserId", "X-Content-SHA256", "X-Digipost-Signature"])
        self.assertEqual(headers[-1].value, VECTOR_SIGNATURE)

    def test_hashes_a_body_in_the_component(self):
        dp = DPOST.instance()
        canonical = dp.call("digipost-signing", "canonical-request", vector_request(b"This is the content to hash."))
        self.assertIn("\nx-content-sha256: gvXOB75lBGBY6LVTAVVpapZkBOv531VUE0EHrP2rryE=\n", canonical)

    def test_keystore_errors_come_back_typed(self):
        dp = DPOST.instance(broker_keystore().add("ec", read("tests/fixtures/tls/client.key.pem")))
        with self.assertRaises(DpostError) as e:
            dp.call("digipost-signing", "sign-request", vector_request(), "nobody")
        self.assertEqual(e.exception.payload, Variant("keystore", Variant("unknown-key", "nobody")))
        with self.assertRaises(DpostError) as e:
            dp.call("digipost-signing", "sign-request", vector_request(), "ec")
        self.assertEqual(e.exception.payload, Variant("keystore", Variant("unsupported-algorithm", "rsa-pkcs1-sha256")))


DATE = "Wed, 29 Jun 2016 14:58:11 GMT"
NOW = 1_467_212_291 + 42


class Responses(unittest.TestCase):
    def signed_response(self, dp, path, body):
        headers = [record(name="Date", value=DATE)]
        if body is not None:
            headers.append(record(name="X-Content-SHA256", value=base64.b64encode(hashlib.sha256(body).digest()).decode()))
        resp = record(status=200, request_path=path, headers=headers, body=body)
        canonical = dp.call("digipost-signing", "canonical-response", resp)
        key = load_pem_private_key(read("tests/fixtures/keys/server.key.pem"), password=None)
        signature = key.sign(canonical.encode(), padding.PKCS1v15(), hashes.SHA256())
        headers.append(record(name="X-Digipost-Signature", value=base64.b64encode(signature).decode()))
        return resp

    def test_verifies_a_signed_response_and_refuses_a_tampered_one(self):
        dp = DPOST.instance()
        cert = read("tests/fixtures/keys/server.cert.pem")
        good = self.signed_response(dp, "/9999/inbox", b"<inbox/>")
        self.assertIsNone(dp.call("digipost-signing", "verify-response", good, cert, NOW))
        dp.call("digipost-signing", "verify-response", self.signed_response(dp, "/9999/inbox/1", None), cert, NOW)

        setattr(good, "body", b"<inbox></inbox>")
        with self.assertRaises(DpostError) as e:
            dp.call("digipost-signing", "verify-response", good, cert, NOW)
        self.assertEqual(e.exception.payload.tag, "body-hash-mismatch")

        other_path = self.signed_response(dp, "/9999/inbox", b"<inbox/>")
        setattr(other_path, "request-path", "/1000/inbox")
        with self.assertRaises(DpostError) as e:
            dp.call("digipost-signing", "verify-response", other_path, cert, NOW)
        self.assertEqual(e.exception.payload.tag, "bad-signature")
        self.assertTrue(e.exception.payload.payload.canonical.startswith("200\n/1000/inbox\n"))

        with self.assertRaises(DpostError) as e:
            dp.call("digipost-signing", "verify-response", self.signed_response(dp, "/x", None), cert, NOW + 600)
        self.assertEqual(e.exception.payload, Variant("date-skew", -642))


MEMO = ROOT / "tests/fixtures/memo"
FIXTURES = sorted(MEMO.glob("*.xml"))


class Memo(unittest.TestCase):
    def test_parses_and_validates_every_fixture(self):
        self.assertEqual(len(FIXTURES), 4)
        dp = DPOST.instance()
        for path in FIXTURES:
            with self.subTest(path.name):
                data = path.read_bytes()
                parsed = dp.call("memo", "parse", data)
                self.assertEqual([p for p in parsed.problems if p.severity == "error"], [])
                self.assertEqual(parsed.message.header.memo_version, "v11" if "v1.1" in path.name else "v12")
                self.assertEqual([p for p in dp.call("memo", "validate", data) if p.severity == "error"], [])

    def test_validation_names_the_problem_and_its_place(self):
        data = (MEMO / "MeMo_v1.2_Minimum_Example.xml").read_bytes()
        broken = data.replace(b"<memo:recipientID>2211771212<", b"<memo:recipientID>221177121<")
        self.assertNotEqual(broken, data)
        errors = [p for p in DPOST.instance().call("memo", "validate", broken) if p.severity == "error"]
        self.assertEqual((errors[0].path, errors[0].line), ("/Message/MessageHeader/Recipient/recipientID", 13))

    def test_streams_a_memo_in_chunks_through_the_reader_resource(self):
        dp = DPOST.instance()
        data = (MEMO / "MeMo_v1.2_Full_Example.xml").read_bytes()
        message = dp.call("memo", "parse", data).message
        files = [(f.info, f.content) for d in message.body.documents for f in d.files]
        for chunk in (1, 7, 4096, len(data)):
            with self.subTest(chunk=chunk):
                reader = dp.reader()
                events = []
                for at in range(0, len(data), chunk):
                    events += reader.feed(data[at : at + chunk])
                events += reader.finish()
                reader.close()
                self.assertEqual(events[0], Variant("header", message.header))
                streamed = []
                for e in events:
                    if e.tag == "file-start":
                        streamed.append((e.payload, b""))
                    elif e.tag == "file-data":
                        streamed[-1] = (streamed[-1][0], streamed[-1][1] + e.payload)
                self.assertEqual(streamed, files)
                end = events[-1]
                self.assertEqual(end.tag, "end")
                self.assertEqual((end.payload.documents, end.payload.files), (len(message.body.documents), len(files)))

    def test_the_reader_refuses_a_dtd_and_keeps_refusing(self):
        reader = DPOST.instance().reader()
        with self.assertRaises(DpostError) as e:
            reader.feed(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>')
        self.assertEqual(e.exception.payload.kind.tag, "dtd")
        with self.assertRaises(DpostError) as again:
            reader.feed(b"<x/>")
        self.assertEqual(again.exception.payload, e.exception.payload)


class Limits(unittest.TestCase):
    def test_a_call_that_runs_out_of_fuel_traps_and_the_next_instance_works(self):
        data = (MEMO / "MeMo_v1.2_Full_Example.xml").read_bytes()
        starved = Dpost(WASM, fuel_per_call=10_000)
        with self.assertRaises(Exception) as e:
            starved.instance().call("memo", "validate", data)
        self.assertIn("fuel", str(e.exception))
        self.assertEqual([p for p in DPOST.instance().call("memo", "validate", data) if p.severity == "error"], [])


if __name__ == "__main__":
    unittest.main()
