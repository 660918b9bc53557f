// dpost's protocol component in Node.js: the same .wasm the `dpost` program runs, transpiled by
// jco into ./gen (see run.sh), instantiated with a keystore written in JavaScript.
//
// The transpile uses `--instantiation async`, so the caller hands in the imports at run time
// rather than jco hard-wiring a module: each instance gets its own keystore, as in the Rust host.

import { readFile } from 'node:fs/promises';
import { createPrivateKey, sign } from 'node:crypto';
import { cli, io } from '@bytecodealliance/preview2-shim';
import { instantiate } from './gen/dpost.js';

/** A `keystore-error` for the component. jco turns an exception that carries `payload` into
 * the `err` case of the import's result; any other exception traps the guest. */
export class KeystoreError extends Error {
  constructor(payload) {
    super(`keystore: ${payload.tag}`);
    this.payload = payload;
  }
}

/** The `dpost:protocol/keystore` import: private keys stay here, the component only names them
 * and hands over the exact bytes to sign. */
export class Keystore {
  #keys = new Map();

  /** Holds `pem` (PKCS#8 or PKCS#1 private key) under `name`, the `key-ref` callers pass. */
  add(name, pem) {
    this.#keys.set(name, createPrivateKey(pem));
    return this;
  }

  sign(key, algorithm, data) {
    const privateKey = this.#keys.get(key);
    if (privateKey === undefined) throw new KeystoreError({ tag: 'unknown-key', val: key });
    if (algorithm !== 'rsa-pkcs1-sha256' || privateKey.asymmetricKeyType !== 'rsa') {
      throw new KeystoreError({ tag: 'unsupported-algorithm', val: algorithm });
    }
    try {
      // The whole message, not a digest: node:crypto hashes it (RSASSA-PKCS1-v1_5, SHA-256 is
      // the default padding for an RSA key).
      return new Uint8Array(sign('sha256', data, privateKey));
    } catch (e) {
      throw new KeystoreError({ tag: 'failed', val: String(e?.message ?? e) });
    }
  }
}

// The WASI items Rust's standard library links. The protocol code never calls them (the Rust
// host links every one as a trap); preview2-shim supplies them so that a guest panic's message
// still reaches stderr. The environment is empty: nothing of the host leaks into the guest.
const wasi = {
  'wasi:cli/environment': { ...cli.environment, getEnvironment: () => [] },
  'wasi:cli/exit': cli.exit,
  'wasi:cli/stdin': cli.stdin,
  'wasi:cli/stdout': cli.stdout,
  'wasi:cli/stderr': cli.stderr,
  'wasi:cli/terminal-input': cli.terminalInput,
  'wasi:cli/terminal-output': cli.terminalOutput,
  'wasi:cli/terminal-stdin': cli.terminalStdin,
  'wasi:cli/terminal-stdout': cli.terminalStdout,
  'wasi:cli/terminal-stderr': cli.terminalStderr,
  'wasi:io/error': io.error,
  'wasi:io/poll': io.poll,
  'wasi:io/streams': io.streams,
};

// Compiling the core modules is the expensive part; do it once per process.
const modules = new Map();
function getCoreModule(name) {
  if (!modules.has(name)) {
    modules.set(name, readFile(new URL(`./gen/${name}`, import.meta.url)).then((b) => WebAssembly.compile(b)));
  }
  return modules.get(name);
}

/** A fresh instance of the component whose keystore is `keystore`. Its exports are
 * `digipostSigning`, `memo`, `digipostInbox`, `contentToken` and `ngdp`; a function whose WIT
 * result is an error throws a `ComponentError` whose `payload` is the typed error. */
export async function load(keystore = new Keystore()) {
  // jco 1.35's generated code looks imports up by their unversioned names (its .d.ts spells
  // them with versions). It also calls `sign` detached from its object, hence the closure.
  const imports = { 'dpost:protocol/keystore': { sign: (...args) => keystore.sign(...args) }, ...wasi };
  return instantiate(getCoreModule, imports);
}
