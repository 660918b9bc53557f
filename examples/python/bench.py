"""Rough per-call costs of the component under wasmtime-py, for docs/embedding.md:
    DPOST_WASM=... .venv/bin/python bench.py   (run.sh sets up .venv and prints the path)"""

import os
import time
from pathlib import Path

from dpost import Dpost, Keystore, record

ROOT = Path(__file__).resolve().parents[2]
WASM = Path(os.environ.get("DPOST_WASM", ROOT / "target/guest-wasm/wasm32-wasip2/component/dpost_guest.wasm"))


def rate(label, fn, seconds=1.5):
    for _ in range(20):
        fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    us = (time.perf_counter() - start) / n * 1e6
    print(f"{label}: {us:.2f} µs/call ({1e6 / us:.0f}/s)")


t = time.perf_counter()
dpost = Dpost(WASM)
print(f"compile the component: {(time.perf_counter() - t) * 1e3:.0f} ms")
keys = Keystore().add("broker", (ROOT / "examples/keys/digipost-test.key.pem").read_bytes())
t = time.perf_counter()
for _ in range(20):
    dp = dpost.instance(keys)
print(f"instantiate: {(time.perf_counter() - t) / 20 * 1e3:.2f} ms")

req = record(method="GET", target="/9999/inbox?offset=0&limit=100", date="Wed, 29 Jun 2016 14:58:11 GMT", user_id="9999", body=None)
rate("empty call (max-clock-skew-seconds)", lambda: dp.call("digipost-signing", "max-clock-skew-seconds"))
rate("canonical request string", lambda: dp.call("digipost-signing", "canonical-request", req))
rate("sign request (RSA-2048 in cryptography)", lambda: dp.call("digipost-signing", "sign-request", req, "broker"))
rate("cryptography RSA-2048 signature alone", lambda: keys.sign("broker", "rsa-pkcs1-sha256", bytes(120)))

memo = (ROOT / "tests/fixtures/memo/MeMo_v1.2_Minimum_Example.xml").read_text()
import base64

big = memo.replace("VGhpcyBpcyBhIHRlc3Q=", base64.b64encode(bytes([7]) * (1 << 20)).decode()).encode()
runs, chunk = 10, 256 << 10
t = time.perf_counter()
for _ in range(runs):
    reader = dp.reader()
    for at in range(0, len(big), chunk):
        reader.feed(big[at : at + chunk])
    reader.finish()
    reader.close()
print(f"memo reader, {len(big) / 1e6:.2f} MB of XML in 256 KiB chunks: {len(big) * runs / 1e6 / (time.perf_counter() - t):.0f} MB/s")
