// Rough per-call costs of the component under Node (jco), for docs/embedding.md:
//   node bench.js   (after run.sh has transpiled the component into gen/)
import { readFileSync } from 'node:fs';
import { createPrivateKey, sign } from 'node:crypto';
import { Keystore, load } from './dpost.js';

const root = new URL('../../', import.meta.url);
function rate(label, fn, ms = 1500) {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    fn();
    n++;
    now = process.hrtime.bigint();
  }
  const us = Number(now - start) / 1000 / n;
  console.log(`${label}: ${us.toFixed(2)} µs/call (${Math.round(1e6 / us)}/s)`);
}

let t = process.hrtime.bigint();
const dp = await load(new Keystore().add('broker', readFileSync(new URL('examples/keys/digipost-test.key.pem', root))));
console.log(`first load (compile + instantiate): ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms`);
t = process.hrtime.bigint();
const N = 20;
for (let i = 0; i < N; i++) await load();
console.log(`instantiate (modules compiled): ${(Number(process.hrtime.bigint() - t) / 1e6 / N).toFixed(2)} ms`);

const req = { method: 'GET', target: '/9999/inbox?offset=0&limit=100', date: 'Wed, 29 Jun 2016 14:58:11 GMT', userId: '9999' };
rate('empty call (max-clock-skew-seconds)', () => dp.digipostSigning.maxClockSkewSeconds());
rate('canonical request string', () => dp.digipostSigning.canonicalRequest(req));
rate('sign request (RSA-2048 in node:crypto)', () => dp.digipostSigning.signRequest(req, 'broker'));
const key = createPrivateKey(readFileSync(new URL('examples/keys/digipost-test.key.pem', root)));
rate('node:crypto RSA-2048 signature alone', () => sign('sha256', Buffer.alloc(120), key));

// A 1 MB document in a MeMo, streamed in 256 KiB chunks.
const memo = readFileSync(new URL('tests/fixtures/memo/MeMo_v1.2_Minimum_Example.xml', root), 'utf8');
const big = Buffer.from(memo.replace('VGhpcyBpcyBhIHRlc3Q=', Buffer.alloc(1 << 20, 7).toString('base64')));
const runs = 10;
t = process.hrtime.bigint();
for (let i = 0; i < runs; i++) {
  const reader = new dp.memo.Reader();
  for (let at = 0; at < big.length; at += 256 << 10) reader.feed(big.subarray(at, at + (256 << 10)));
  reader.finish();
}
const s = Number(process.hrtime.bigint() - t) / 1e9;
console.log(`memo reader, ${(big.length / 1e6).toFixed(2)} MB of XML in 256 KiB chunks: ${((big.length * runs) / 1e6 / s).toFixed(0)} MB/s`);
