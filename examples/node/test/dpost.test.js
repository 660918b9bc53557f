// The component in Node: the checks the Rust tests make through wasmtime, through jco.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createHash, sign, verify } from 'node:crypto';
import { Keystore, load } from '../dpost.js';

const root = new URL('../../../', import.meta.url);
const read = (path) => readFileSync(new URL(path, root));

// The Digipost .NET client's request-signing vector (tests/fixtures/digipost/README.md), made
// with its legacy test key (examples/keys/README.md says how the PEM was made).
const VECTOR_CANONICAL =
  'POST\n/someendpoint\ndate: Mon, 07 Jul 2014 12:00:02 GMT\nx-content-sha256: TheHashOfContentForHeader\nx-digipost-userid: 1337\n\n';
const VECTOR_SIGNATURE =
  'HEZfhL+mu0Pb9Owvfs7pHLUXxZPthONK53nWTwXPFtFVjslr4AIxLqUSbAO7PerzBcRryYa84SellVabx8t16Ixg52afLQb02qyeDx1qF23YAIvvv01NmEJkVUUTV/oN7MgDAb4NGeujzVoUzXKTV+b5YC4W2c4M/RWSGYF1HxEEo+82SDyTlwGa3XxhcVem2Kg0LOgZvKaJnFWk0fsVDI7J9xWdOY0NWbtlm/xu77w2IlR+91lbr2G5A75lyzboXVEYvOj3UGzKwFTqGDpR7var+/PzWh00lQ/dKtILKzDGz3E80CxCOtlU/6kczk9MtYVQvLCy7QR0GMUI6ypTzg==';
const VECTOR_REQUEST = {
  method: 'POST',
  target: '/someendpoint',
  date: 'Mon, 07 Jul 2014 12:00:02 GMT',
  userId: '1337',
  body: { tag: 'sha256-base64', val: 'TheHashOfContentForHeader' },
};

const brokerKeystore = () => new Keystore().add('broker', read('examples/keys/digipost-test.key.pem'));

/** The typed error a component call threw (jco's ComponentError carries it as `payload`). */
function payloadOf(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok('payload' in e, `not a component error: ${e}`);
    return e.payload;
  }
  assert.fail('expected the call to fail');
}

test('reproduces the Digipost .NET client vector byte for byte', async () => {
  const { digipostSigning } = await load(brokerKeystore());
  assert.equal(digipostSigning.canonicalRequest(VECTOR_REQUEST), VECTOR_CANONICAL);
  const headers = digipostSigning.signRequest(VECTOR_REQUEST, 'broker');
  assert.deepEqual(
    headers.map((h) => h.name),
    ['Date', 'X-Digipost-UserId', 'X-Content-SHA256', 'X-Digipost-Signature'],
  );
  const signature = headers.find((h) => h.name === 'X-Digipost-Signature').value;
  assert.equal(signature, VECTOR_SIGNATURE);
  // And the certificate's public key agrees, independently of the component.
  const cert = read('examples/keys/digipost-test.cert.pem');
  assert.ok(verify('sha256', Buffer.from(VECTOR_CANONICAL), cert, Buffer.from(signature, 'base64')));
});

test('hashes a body in the component', async () => {
  const { digipostSigning } = await load();
  const canonical = digipostSigning.canonicalRequest({
    ...VECTOR_REQUEST,
    body: { tag: 'bytes', val: new TextEncoder().encode('This is the content to hash.') },
  });
  assert.match(canonical, /\nx-content-sha256: gvXOB75lBGBY6LVTAVVpapZkBOv531VUE0EHrP2rryE=\n/);
});

test('keystore errors come back typed', async () => {
  const { digipostSigning } = await load(brokerKeystore());
  assert.deepEqual(payloadOf(() => digipostSigning.signRequest(VECTOR_REQUEST, 'nobody')), {
    tag: 'keystore',
    val: { tag: 'unknown-key', val: 'nobody' },
  });
  // An EC key cannot make an RSA signature.
  const ecKeystore = new Keystore().add('ec', read('tests/fixtures/tls/client.key.pem'));
  const { digipostSigning: ec } = await load(ecKeystore);
  assert.deepEqual(payloadOf(() => ec.signRequest(VECTOR_REQUEST, 'ec')), {
    tag: 'keystore',
    val: { tag: 'unsupported-algorithm', val: 'rsa-pkcs1-sha256' },
  });
});

// ---- responses ----

const DATE = 'Wed, 29 Jun 2016 14:58:11 GMT';
const NOW = 1_467_212_291n + 42n;
const serverCert = () => read('tests/fixtures/keys/server.cert.pem');

/** A response as the Digipost server sends it: signed over its canonical string. */
function signedResponse(digipostSigning, path, body) {
  const headers = [{ name: 'Date', value: DATE }];
  if (body !== undefined) {
    headers.push({ name: 'X-Content-SHA256', value: createHash('sha256').update(body).digest('base64') });
  }
  const response = {
    status: 200,
    requestPath: path,
    headers,
    body: body === undefined ? undefined : { tag: 'bytes', val: new Uint8Array(body) },
  };
  const canonical = digipostSigning.canonicalResponse(response);
  assert.equal(canonical, `200\n${path}\ndate: ${DATE}\n${body === undefined ? '' : `x-content-sha256: ${headers[1].value}\n`}`);
  const signature = sign('sha256', Buffer.from(canonical), read('tests/fixtures/keys/server.key.pem'));
  headers.push({ name: 'X-Digipost-Signature', value: signature.toString('base64') });
  return response;
}

test('verifies a signed response, and refuses a tampered one', async () => {
  const { digipostSigning } = await load();
  const good = signedResponse(digipostSigning, '/9999/inbox', Buffer.from('<inbox/>'));
  assert.equal(digipostSigning.verifyResponse(good, serverCert(), NOW), undefined);
  const bodiless = signedResponse(digipostSigning, '/9999/inbox/1', undefined);
  digipostSigning.verifyResponse(bodiless, serverCert(), NOW);

  const tamperedBody = { ...good, body: { tag: 'bytes', val: new TextEncoder().encode('<inbox></inbox>') } };
  assert.equal(payloadOf(() => digipostSigning.verifyResponse(tamperedBody, serverCert(), NOW)).tag, 'body-hash-mismatch');

  const otherPath = { ...good, requestPath: '/1000/inbox' };
  const bad = payloadOf(() => digipostSigning.verifyResponse(otherPath, serverCert(), NOW));
  assert.equal(bad.tag, 'bad-signature');
  assert.match(bad.val.canonical, /^200\n\/1000\/inbox\n/);

  // Signed by someone else: the broker's certificate does not verify the server's signature.
  const broker = read('tests/fixtures/keys/broker.cert.pem');
  assert.equal(payloadOf(() => digipostSigning.verifyResponse(good, broker, NOW)).tag, 'bad-signature');

  const late = payloadOf(() => digipostSigning.verifyResponse(good, serverCert(), NOW + 600n));
  assert.deepEqual(late, { tag: 'date-skew', val: -(600n + 42n) });
});

// ---- MeMo ----

const memoDir = 'tests/fixtures/memo/';
const memoFixtures = readdirSync(new URL(memoDir, root)).filter((f) => f.endsWith('.xml'));

test('parses and validates every MeMo fixture', async () => {
  assert.equal(memoFixtures.length, 4);
  const { memo } = await load();
  for (const name of memoFixtures) {
    const bytes = read(memoDir + name);
    const { message, problems } = memo.parse(bytes);
    const errors = problems.filter((p) => p.severity === 'error');
    assert.deepEqual(errors, [], name);
    assert.equal(message.header.memoVersion, name.includes('v1.1') ? 'v11' : 'v12', name);
    assert.match(message.header.messageUuid, /^[0-9a-f-]{36}$/i, name);
    assert.deepEqual(memo.validate(bytes).filter((p) => p.severity === 'error'), [], name);
  }
});

test('validation names the problem and its place', async () => {
  const { memo } = await load();
  const bytes = read(memoDir + 'MeMo_v1.2_Minimum_Example.xml').toString('utf8');
  // A CPR number is 10 digits.
  const broken = bytes.replace('<memo:recipientID>2211771212<', '<memo:recipientID>221177121<');
  assert.notEqual(broken, bytes);
  const problems = memo.validate(new TextEncoder().encode(broken));
  const error = problems.find((p) => p.severity === 'error');
  assert.equal(error?.path, '/Message/MessageHeader/Recipient/recipientID', JSON.stringify(problems));
  assert.equal(error.line, 13);
});

/** Feeds `bytes` to a fresh reader `chunk` bytes at a time; returns every event. */
function stream(memo, bytes, chunk) {
  const reader = new memo.Reader();
  const events = [];
  for (let at = 0; at < bytes.length; at += chunk) {
    events.push(...reader.feed(bytes.subarray(at, at + chunk)));
  }
  events.push(...reader.finish());
  // Frees the reader in the guest now rather than when the garbage collector gets to it.
  reader[Symbol.dispose]();
  return events;
}

test('streams a MeMo in chunks through the reader resource', async () => {
  const { memo } = await load();
  const bytes = read(memoDir + 'MeMo_v1.2_Full_Example.xml');
  const { message } = memo.parse(bytes);
  const files = message.body.documents.flatMap((d) => d.files);

  for (const chunk of [1, 7, 4096, bytes.length]) {
    const events = stream(memo, bytes, chunk);
    assert.deepEqual(events[0], { tag: 'header', val: message.header }, `chunk ${chunk}`);
    const end = events.at(-1);
    assert.equal(end.tag, 'end');
    assert.equal(end.val.documents, message.body.documents.length);
    assert.equal(end.val.files, files.length);

    // Reassemble each file from its file-data events; it must equal what `parse` decoded.
    const streamed = [];
    for (const e of events) {
      if (e.tag === 'file-start') streamed.push({ info: e.val, parts: [] });
      if (e.tag === 'file-data') streamed.at(-1).parts.push(e.val);
      if (e.tag === 'file-end') assert.equal(e.val, BigInt(Buffer.concat(streamed.at(-1).parts).length));
    }
    assert.deepEqual(
      streamed.map((f) => ({ info: f.info, content: new Uint8Array(Buffer.concat(f.parts)) })),
      files,
      `chunk ${chunk}`,
    );
    assert.equal(end.val.contentBytes, BigInt(files.reduce((n, f) => n + f.content.length, 0)));
  }
});

test('the reader refuses a DTD with a typed error, and keeps refusing', async () => {
  const { memo } = await load();
  const reader = new memo.Reader();
  const err = payloadOf(() => reader.feed(new TextEncoder().encode('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>')));
  assert.equal(err.kind.tag, 'dtd');
  assert.equal(err.line, 1);
  assert.deepEqual(payloadOf(() => reader.feed(new TextEncoder().encode('<x/>'))), err);
});
