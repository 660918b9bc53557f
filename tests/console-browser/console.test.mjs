// The operator console in a real browser: Debian's Chromium driven by playwright-core
// against a real `dpost serve` fed by `dpost sim ngdp` pushes. A second simulator plays
// NgDP's API and answers 401 to dpost's business receipts (dpost holds the wrong API token),
// so after the (shortened) give-up window they are refused, as NgDP refuses them.
//
// Checked: sign in, the overview's counts, a message and its PDF shown in the page, moving
// it, retrying a refused receipt, a viewer refused an action by the server; axe-core on every
// page with no serious or critical violation; a screenshot of each page in docs/console/.
// Everything is on 127.0.0.1; every wait is bounded.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import axe from "axe-core";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const dpost = process.env.DPOST_BIN || path.join(root, "target/debug/dpost");
const work = path.join(root, "target/console-browser");
const shots = path.join(root, "docs/console");
const SYSTEM = "7c4c7d2e-0b1a-4c5e-9f00-123456789abc";
const AUTH = "Bearer console-browser-push-secret";
const DAYCARE = "241d39f6-998e-4929-b198-ccacbbf4b330";
const PASSWORD = "correct horse battery";
const LETTER = "5b0e2a56-7d3c-4e6b-9a41-0c9d8e7f6a51";
const PHOTO = "6c1f3b67-8e4d-4f7c-8b52-1d0e9f8a7b62";
const NOTE = "7d2a4c78-9f5e-4a8d-9c63-2e1fa09b8c73";
const children = [];

fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
fs.mkdirSync(shots, { recursive: true });

function run(args, input) {
  const r = spawnSync(dpost, args, { input, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `dpost ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Start `dpost ARGS`; resolve with its first `count` lines of standard output. */
function start(args, count) {
  const child = spawn(dpost, args, { stdio: ["ignore", "pipe", "ignore"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`dpost ${args[0]} did not start: ${text}`)), 30_000);
    child.stdout.on("data", (d) => {
      text += d;
      const lines = text.split("\n");
      if (lines.length > count) {
        clearTimeout(timer);
        resolve(lines.slice(0, count));
      }
    });
    child.on("exit", (code) => reject(new Error(`dpost ${args[0]} exited ${code}: ${text}`)));
  });
}

/** A one-page PDF saying `text`, with a correct cross-reference table. */
function pdf(text) {
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    null,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  const stream = `BT /F1 20 Tf 30 120 Td (${text}) Tj ET`;
  objects[3] = `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
  let out = "%PDF-1.4\n";
  const offsets = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

/** A small PNG: a blue square. */
function png() {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const size = 32;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < size; y++) {
    rows.push(Buffer.from([0]), Buffer.alloc(size * 3, Buffer.from([11, 79, 138])));
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A MeMo made by `dpost memo new` in DIR/NAME.xml. */
function memo(dir, name, uuid, label, contactPoint, file) {
  const spec = path.join(work, `${name}.toml`);
  fs.writeFileSync(
    spec,
    `message_uuid = "${uuid}"\nlabel = "${label}"\ncreated = "2026-11-27T08:00:00Z"\n` +
      `[sender]\nid = "12345678"\nid_type = "CVR"\nlabel = "Aarhus Kommune"\n` +
      `[recipient]\nid = "2211771212"\nid_type = "CPR"\n` +
      (contactPoint ? `contact_point = "${contactPoint}"\n` : ""),
  );
  run(["memo", "new", "--spec", spec, "--file", file, "-o", path.join(dir, `${name}.xml`)]);
}

const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
const checked = [];

/** axe-core on the page: no serious or critical violation; then a screenshot. */
async function check(page, name) {
  await page.evaluate(axe.source);
  const result = await page.evaluate((tags) => window.axe.run(document, { runOnly: { type: "tag", values: tags } }), AXE_TAGS);
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
    [],
    `axe on ${name}`,
  );
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  checked.push(`${name}: ${result.violations.length} minor/moderate, ${result.passes.length} rules passed`);
}

async function signIn(browser, base, name) {
  const context = await browser.newContext({ locale: "en-GB", viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("dialog", (d) => d.accept());
  await page.goto(`${base}/signin`);
  await page.getByLabel("User name").fill(name);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  return page;
}

let browser;
try {
  // NgDP's API: a simulator expecting another token than dpost's.
  const empty = path.join(work, "empty");
  fs.mkdirSync(empty);
  const [simLine] = await start(["sim", "ngdp", "--messages", empty, "--system-id", SYSTEM, "--api-token", "the-right-token"], 1);
  const ngdpApi = simLine.replace("listening on ", "");

  const config = path.join(work, "dpost.toml");
  fs.writeFileSync(
    config,
    `# The console's browser test.\n[store]\npath = "dpost.db"\n[serve]\nlisten = "127.0.0.1:0"\n` +
      `[ngdp]\nmailboxes = ["standard", "daycare"]\nstandard_mailbox = "standard"\n` +
      // A 401 is retried until the give-up window ends (seven days by default); 3 s here.
      `[ngdp.test]\napi_base = "${ngdpApi}/apis/v1"\nsimulator = true\n` +
      `[ngdp.receipts]\ngive_up_after_days = 0.0000347\n` +
      `[[ngdp.test.systems]]\nid = "${SYSTEM}"\nprotocol = "push"\nauthorization = "${AUTH}"\napi_token = "a-wrong-token"\n` +
      `[[ngdp.test.contact_points]]\nid = "${DAYCARE}"\naudiences = ["citizens"]\nmailbox = "daycare"\n` +
      `[api]\nlisten = "127.0.0.1:0"\n`,
  );
  for (const [name, role] of [["ops", "operator"], ["eve", "viewer"], ["root", "admin"]]) {
    run(["console", "user", "add", name, "--role", role, "--password-stdin", "--config", config], `${PASSWORD}\n`);
  }
  const [pushLine, apiLine] = await start(["serve", "--config", config], 2);
  const push = pushLine.replace("listening on ", "");
  const base = apiLine.replace("api listening on ", "");

  // Mail, pushed by the simulator as NgDP pushes it.
  const outbox = path.join(work, "messages");
  fs.mkdirSync(outbox);
  fs.writeFileSync(path.join(work, "Pladsanvisning.pdf"), pdf("Pladsanvisning"));
  fs.writeFileSync(path.join(work, "Foto.png"), png());
  fs.writeFileSync(path.join(work, "Note.txt"), "Husk madpakke.\n");
  memo(outbox, "1-letter", LETTER, "Pladsanvisning", DAYCARE, path.join(work, "Pladsanvisning.pdf"));
  memo(outbox, "2-photo", PHOTO, "Foto fra udflugten", DAYCARE, path.join(work, "Foto.png"));
  memo(outbox, "3-note", NOTE, "Besked", null, path.join(work, "Note.txt"));
  run(["sim", "ngdp", "--messages", outbox, "--target", `${push}/api/MeMoV1/memos/?system-uuid=${SYSTEM}`, "--auth-header", AUTH, "--exit-when-done"]);

  // The outbox sends each business receipt; NgDP (the simulator) refuses them.
  for (let i = 0; ; i++) {
    const shown = JSON.parse(run(["message", "show", LETTER, "--json", "--config", config]));
    if (shown.message.receipt_status === "rejected" || shown.message.receipt_status === "refused") break;
    assert.ok(i < 300, `the business receipt was not refused: ${JSON.stringify(shown.message.receipt_status)}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  // playwright-core starts Chromium with an empty temporary profile of its own (it refuses a
  // --user-data-dir argument in launch(), which the separate contexts below need).
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });

  // Sign-in: a wrong password gets the generic message.
  {
    const context = await browser.newContext({ locale: "en-GB", viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${base}/`);
    assert.equal(new URL(page.url()).pathname, "/signin");
    await check(page, "signin");
    await page.getByLabel("User name").fill("ops");
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("The user name or password is not right.").waitFor();
    await context.close();
  }

  const ops = await signIn(browser, base, "ops");
  // The overview: the counts, and the red line for the refused receipts.
  assert.equal(await ops.locator('[data-count="today-daycare"]').textContent(), "2");
  assert.equal(await ops.locator('[data-count="today-standard"]').textContent(), "1");
  assert.equal(await ops.locator('[data-count="receipts_refused"]').textContent(), "3");
  await ops.getByRole("heading", { name: "Needs a person" }).waitFor();
  await check(ops, "overview");

  // The list, and a filter on text.
  await ops.getByRole("link", { name: "Messages", exact: true }).click();
  await ops.getByRole("cell", { name: "Pladsanvisning" }).waitFor();
  await check(ops, "messages");
  await ops.getByLabel("Text in label or sender").fill("Foto");
  await ops.getByRole("button", { name: "Search" }).click();
  await ops.getByRole("link", { name: "Foto fra udflugten" }).waitFor();
  assert.equal(await ops.getByRole("link", { name: "Pladsanvisning" }).count(), 0);
  await ops.getByRole("link", { name: "Foto fra udflugten" }).click();
  await ops.getByRole("img", { name: /Foto\.png/ }).waitFor();
  assert.ok(await ops.getByRole("img", { name: /Foto\.png/ }).evaluate((img) => img.complete && img.naturalWidth === 32), "the image is shown");
  await check(ops, "message-image");

  // The letter and its PDF, shown in the page.
  await ops.goto(`${base}/messages/${LETTER}`);
  const frame = ops.locator("iframe.preview");
  await frame.waitFor();
  const src = await frame.getAttribute("src");
  const pdfAnswer = await ops.request.get(`${base}${src}`);
  assert.equal(pdfAnswer.status(), 200);
  assert.equal(pdfAnswer.headers()["content-type"], "application/pdf");
  assert.match(pdfAnswer.headers()["content-disposition"], /^inline/);
  assert.match((await pdfAnswer.body()).toString("latin1"), /Pladsanvisning/);
  await check(ops, "message");

  // Move it to the standard mailbox.
  await ops.getByLabel("Move to mailbox").selectOption("standard");
  await ops.getByRole("button", { name: "Move", exact: true }).click();
  await ops.getByRole("status").filter({ hasText: "Done." }).waitFor();
  assert.match(await ops.locator("dl.facts").first().textContent(), /standard/);
  assert.match(JSON.parse(run(["message", "show", LETTER, "--json", "--config", config])).message.mailbox, /^standard$/);

  // Retry its refused business receipt.
  await ops.getByRole("button", { name: "Retry" }).click();
  await ops.waitForURL(/done=retry/);
  await ops.goto(`${base}/receipts?status=rejected`);
  await check(ops, "receipts");

  for (const name of ["outgoing", "webhooks", "digipost"]) {
    await ops.goto(`${base}/${name}`);
    await check(ops, name);
  }

  // Danish.
  await ops.goto(`${base}/`);
  await ops.getByRole("link", { name: "Dansk" }).click();
  await ops.getByRole("heading", { name: "Overblik" }).waitFor();
  assert.equal(await ops.locator("html").getAttribute("lang"), "da");
  await check(ops, "overview-da");

  // The admin's audit log names who moved and retried.
  const admin = await signIn(browser, base, "root");
  await admin.goto(`${base}/audit`);
  const audit = await admin.locator("table").textContent();
  for (const needle of ["console:ops", "route", "retry-receipt", LETTER]) assert.ok(audit.includes(needle), needle);
  await check(admin, "audit");

  // A viewer sees no action, and the server refuses one posted with her own valid token.
  const eve = await signIn(browser, base, "eve");
  await eve.goto(`${base}/messages/${PHOTO}`);
  assert.equal(await eve.getByRole("button", { name: "Move", exact: true }).count(), 0);
  const [answer] = await Promise.all([
    eve.waitForResponse((r) => r.url().endsWith(`/messages/${PHOTO}/route`)),
    eve.evaluate((uuid) => {
      const token = document.querySelector('input[name="csrf"]').value;
      const form = document.createElement("form");
      form.method = "post";
      form.action = `/messages/${uuid}/route`;
      for (const [k, v] of [["csrf", token], ["mailbox", "standard"]]) {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = k;
        input.value = v;
        form.append(input);
      }
      document.body.append(form);
      form.submit();
    }, PHOTO),
  ]);
  assert.equal(answer.status(), 403);
  await eve.getByRole("heading", { name: "Your role does not allow this." }).waitFor();
  await eve.getByText("Role: viewer (needed: operator)").waitFor();
  await check(eve, "forbidden");
  assert.equal(JSON.parse(run(["message", "show", PHOTO, "--json", "--config", config])).message.mailbox, "daycare");

  console.log(`ok: the console in Chromium; axe-core (${AXE_TAGS.join(", ")}) on ${checked.length} pages:`);
  for (const c of checked) console.log(`  ${c}`);
} finally {
  if (browser) await browser.close();
  for (const c of children) c.kill();
}
