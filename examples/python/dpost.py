"""dpost's protocol component in Python, run by wasmtime-py's component model API.

The same .wasm the `dpost` program embeds. wasmtime-py has no bindings generator for
components that works for this world (see README.md), so this module calls exports by name
and converts values with the library's generic rules, made friendlier:

- records you pass are built with `record(user_id=...)` (WIT names are kebab-case);
- records you get back are `SimpleNamespace`s with snake_case attributes;
- a WIT `result` comes back as its `ok` value, and its `err` is raised as `DpostError`;
- variants are `wasmtime.component.Variant(tag, payload)`, except where wasmtime-py can tell the
  cases apart by Python type alone: then it passes the bare payload (e.g. a `body` is `bytes`
  for `bytes(...)` and `str` for `sha256-base64(...)`; an `option` is the value or `None`).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from wasmtime import Config, Engine, Store
from wasmtime.component import Component, Linker, Record, ResourceAny, ResultType, Variant

PACKAGE = "dpost:protocol@0.2.0"


class DpostError(Exception):
    """The `err` of a WIT `result`; `payload` is the typed error."""

    def __init__(self, payload: Any):
        super().__init__(payload)
        self.payload = payload


def record(**fields: Any) -> Record:
    """A WIT record from snake_case keyword arguments."""
    r = Record()
    for name, value in fields.items():
        setattr(r, name.replace("_", "-"), value)
    return r


def _friendly(value: Any) -> Any:
    if isinstance(value, Record):
        return SimpleNamespace(**{k.replace("-", "_"): _friendly(v) for k, v in vars(value).items()})
    if isinstance(value, Variant):
        return Variant(value.tag, _friendly(value.payload))
    if isinstance(value, list):
        return [_friendly(v) for v in value]
    return value


def _is_err(ty: ResultType, value: Any) -> tuple[bool, Any]:
    # wasmtime-py gives a result as Variant('ok'|'err', ...) only when the two cases hold the
    # same Python type; otherwise as the bare value, told apart here by type as the library
    # does (it uses these same methods to choose).
    if ty._tagged():
        return value.tag == "err", value.payload
    err_classes: set[type] = set()
    if ty.err is not None:
        ty.err.add_classes(err_classes)
    return bool(err_classes) and isinstance(value, tuple(err_classes)), value


class Keystore:
    """The `dpost:protocol/keystore` import: keys stay in Python, the component names them."""

    def __init__(self) -> None:
        self._keys: dict[str, Any] = {}

    def add(self, name: str, pem: bytes) -> "Keystore":
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        self._keys[name] = load_pem_private_key(pem, password=None)
        return self

    def sign(self, key: str, algorithm: str, data: bytes) -> Any:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        private_key = self._keys.get(key)
        if private_key is None:
            return Variant("unknown-key", key)
        if algorithm != "rsa-pkcs1-sha256" or not isinstance(private_key, rsa.RSAPrivateKey):
            return Variant("unsupported-algorithm", algorithm)
        try:
            # The whole message: the library hashes it, as the WIT contract asks.
            return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        except Exception as e:  # a keystore failure is the guest's typed error, not a trap
            return Variant("failed", str(e))


class Dpost:
    """One compiled component; `instance()` makes instances that each get their own store."""

    def __init__(self, wasm: Path, *, memory_limit: int = 64 << 20, fuel_per_call: int = 10_000_000_000):
        config = Config()
        # Fuel bounds every call's work; the Rust host uses epoch deadlines (wall time) instead.
        config.consume_fuel = True
        self.engine = Engine(config)
        self.component = Component.from_file(self.engine, str(wasm))
        self.memory_limit = memory_limit
        self.fuel_per_call = fuel_per_call

    def instance(self, keystore: Keystore | None = None) -> "Instance":
        return Instance(self, keystore if keystore is not None else Keystore())


class Instance:
    def __init__(self, dpost: Dpost, keystore: Keystore):
        linker = Linker(dpost.engine)
        with linker.root() as root:
            with root.add_instance(f"dpost:protocol/keystore@0.2.0") as ks:
                ks.add_func("sign", lambda _store, key, alg, data: keystore.sign(key, alg, data))
        # The WASI items Rust's standard library links are never called by the protocol code;
        # as in the Rust host, each traps instead of reaching the OS.
        linker.define_unknown_imports_as_traps(dpost.component)
        self.store = Store(dpost.engine)
        self.store.set_limits(memory_size=dpost.memory_limit)
        self._fuel = dpost.fuel_per_call
        self.store.set_fuel(self._fuel)  # instantiation runs guest code too
        self._instance = linker.instantiate(self.store, dpost.component)
        self._funcs: dict[str, Any] = {}

    def _func(self, interface: str, name: str) -> Any:
        key = f"{interface}#{name}"
        if key not in self._funcs:
            iface = self._instance.get_export_index(self.store, f"dpost:protocol/{interface}@0.2.0")
            index = self._instance.get_export_index(self.store, name, iface) if iface else None
            if index is None:
                raise LookupError(f"the component exports no {key}")
            self._funcs[key] = self._instance.get_func(self.store, index)
        return self._funcs[key]

    def call(self, interface: str, name: str, *args: Any) -> Any:
        """Calls an export, e.g. `call("memo", "validate", data)`."""
        func = self._func(interface, name)
        self.store.set_fuel(self._fuel)
        value = func(self.store, *args)
        ty = func.type(self.store).result
        if isinstance(ty, ResultType):
            is_err, value = _is_err(ty, value)
            if is_err:
                raise DpostError(_friendly(value))
        return _friendly(value)

    def reader(self) -> "MemoReader":
        return MemoReader(self)


class MemoReader:
    """The `memo.reader` resource: feed chunks, get events; `close()` drops it in the guest."""

    def __init__(self, instance: Instance):
        self._instance = instance
        self._handle: ResourceAny = instance.call("memo", "[constructor]reader")

    def feed(self, chunk: bytes) -> list:
        return self._instance.call("memo", "[method]reader.feed", self._handle, chunk)

    def finish(self) -> list:
        return self._instance.call("memo", "[method]reader.finish", self._handle)

    def close(self) -> None:
        self._handle.drop(self._instance.store)
