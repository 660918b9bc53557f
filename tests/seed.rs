//! Filling a store with many received messages for the platform API's benchmark
//! (`benches/api.sh`, issue 15): a million messages in minutes, with rows exactly as dpost
//! stores them.
//!
//! Why not push a million messages through `dpost serve`: at ~1,500 messages/s that is eleven
//! minutes of fsyncs and a million folders on disk, and the benchmark measures reading, not
//! receiving. So a few template messages are received through the real pipeline
//! ([`dpost::ngdp::receive::Receiving`]: the component reads and validates them, routes them,
//! writes the business receipt, stores the decoded files), and the million are copies of
//! their stored rows with their own messageUUID, sender, recipient, label, mailbox and
//! receipt time, written with the receive path's own insert
//! ([`Store::ngdp_insert_messages`], which also records their events and feed sequence) in
//! large transactions. Copies share their template's files: the metadata and list queries
//! never open a file. Acknowledgements go through [`Store::handover_ack`], as the API's, and
//! business receipts are marked sent through [`Store::ngdp_receipt_sent`], as the outbox's.
//!
//! Deterministic: the same seed gives the same messages (UUIDs from a seeded generator,
//! times from a fixed start).

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use dpost::config::ConfigFile;
use dpost::keystore::Keystore;
use dpost::ngdp::message_store::SharedStore;
use dpost::ngdp::receive::{Receiving, Via};
use dpost::runtime::pool::InstancePool;
use dpost::runtime::{Runtime, RuntimeOptions};
use dpost::store::Store;
use dpost::store::ngdp::{NewMessage, StoredMessage};

use crate::fixture;

/// What to seed.
#[derive(Debug, Clone)]
pub struct Options {
    /// Messages to store (besides the templates).
    pub messages: u64,
    /// The generator's seed.
    pub seed: u64,
    /// Messages per transaction.
    pub batch: usize,
    /// Of every 100 messages, in receipt order, how many the platform has acknowledged:
    /// the oldest ones (a platform works through its feed in order).
    pub acked_percent: u64,
    /// How many message UUIDs to sample, spread evenly over the sequence (the benchmark
    /// requests them in random order).
    pub sample: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            messages: 10_000,
            seed: 15,
            batch: 10_000,
            acked_percent: 80,
            sample: 10_000,
        }
    }
}

/// What was seeded.
#[derive(Debug, Clone, Default)]
pub struct Seeded {
    /// Messages stored, templates included.
    pub messages: u64,
    /// Of which invalid.
    pub invalid: u64,
    /// Of which acknowledged.
    pub acknowledged: u64,
    /// Messages per mailbox, in the configuration's order.
    pub per_mailbox: Vec<(String, u64)>,
    /// The sampled UUIDs, in sequence order (for metadata requests).
    pub sample: Vec<String>,
    /// Seconds spent.
    pub seconds: f64,
}

/// splitmix64: small, seeded, and good enough to spread UUIDs and picks.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A version-4 UUID, lower-case, as NgDP's senders make them.
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}

/// The messages every copy is made from: (fixture, weight in percent, how it is changed).
const TEMPLATES: &[(&str, u64, Variant)] = &[
    ("memo/MeMo_v1.2_Minimum_Example.xml", 55, Variant::AsIs),
    ("memo/MeMo_v1.2_Minimum_Example.xml", 10, Variant::Letter),
    ("memo/MeMo_v1.2_Full_Example.xml", 17, Variant::AsIs),
    ("memo/MeMo_v1.1_Full_Example.xml", 15, Variant::AsIs),
    // A sender id that is not a CVR number: stored, answered INVALID, kept for an operator.
    ("memo/MeMo_v1.2_Minimum_Example.xml", 3, Variant::Invalid),
];

#[derive(Debug, Clone, Copy)]
enum Variant {
    AsIs,
    /// A 40 KB letter instead of the fixture's few bytes.
    Letter,
    Invalid,
}

/// The fixture's text with `uuid` as its messageUUID, changed as `variant` says.
fn template_xml(relative: &str, uuid: &str, variant: Variant) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    let path = fixture(relative);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let (open, close) = ("<memo:messageUUID>", "</memo:messageUUID>");
    let start = text.find(open).context("a fixture without a messageUUID")? + open.len();
    let end = start
        + text[start..]
            .find(close)
            .context("an unclosed messageUUID")?;
    let mut xml = format!("{}{uuid}{}", &text[..start], &text[end..]);
    match variant {
        Variant::AsIs => {}
        Variant::Letter => {
            let letter: Vec<u8> = (0..40_000u32)
                .map(|i| b"%PDF-1.7 dpost "[i as usize % 15])
                .collect();
            let encoded = base64::engine::general_purpose::STANDARD.encode(letter);
            xml = xml.replacen("VGhpcyBpcyBhIHRlc3Q=", &encoded, 1);
        }
        Variant::Invalid => {
            xml = xml.replacen(
                "<memo:senderID>12345678</memo:senderID>",
                "<memo:senderID>1234</memo:senderID>",
                1,
            );
        }
    }
    Ok(xml.into_bytes())
}

/// A stored template, ready to copy.
struct Template {
    weight: u64,
    message: StoredMessage,
    receipt: String,
}

/// Seed the store of the configuration `config` (its `[store]`, `[serve] data_dir` and
/// `[ngdp]` mailboxes) with `options.messages` messages spread over the configured mailboxes.
pub fn seed(config: &Path, options: &Options) -> anyhow::Result<Seeded> {
    let started = std::time::Instant::now();
    let file = ConfigFile::load(Some(config))?;
    let ngdp = file.ngdp(None)?;
    let serve = file.serve()?;
    let system = ngdp
        .systems
        .first()
        .context("the configuration has no NgDP system to receive for")?
        .id
        .clone();
    let mailboxes = ngdp.mailboxes.clone();
    if mailboxes.is_empty() {
        bail!("the configuration has no mailboxes");
    }
    let store = Arc::new(Mutex::new(Store::open(&file.store_path())?));
    let shared: SharedStore = store.clone();
    std::fs::create_dir_all(&serve.data_dir)
        .with_context(|| format!("cannot create {}", serve.data_dir.display()))?;
    let receiving = Receiving {
        store: shared,
        data_dir: serve.data_dir.clone(),
        pool: Arc::new(InstancePool::new(
            Arc::new(Runtime::new(RuntimeOptions::default())?),
            Keystore::new(),
        )),
        settings: dpost::config::live::Live::new(ngdp),
        max_message_bytes: serve.max_message_bytes,
        clock: dpost::clock::system(),
        commits: Default::default(),
    };

    let mut rng = Rng(options.seed);
    let mut templates = Vec::new();
    for (relative, weight, variant) in TEMPLATES {
        let uuid = rng.uuid();
        let xml = template_xml(relative, &uuid, *variant)?;
        receiving
            .receive(&system, Via::Push, &xml[..])
            .map_err(|e| anyhow::anyhow!("the template {relative} was not received: {e}"))?;
        let mut s = store.lock().unwrap();
        let message = s
            .ngdp_message(&uuid)?
            .with_context(|| format!("the template {uuid} was received but is not stored"))?;
        let receipt = s
            .ngdp_outbox_state(&uuid)?
            .with_context(|| format!("the template {uuid} has no business receipt"))?
            .receipt
            .receipt;
        templates.push(Template {
            weight: *weight,
            message,
            receipt,
        });
    }
    {
        let mut s = store.lock().unwrap();
        for t in &templates {
            s.ngdp_receipt_sent(&t.message.uuid, t.message.received_at + 2)?;
        }
    }
    if !templates.iter().any(|t| !t.message.valid) {
        bail!("the invalid template was stored as valid; the fixture changed");
    }

    let mut seeded = Seeded {
        messages: templates.len() as u64,
        invalid: templates.iter().filter(|t| !t.message.valid).count() as u64,
        per_mailbox: mailboxes.iter().map(|m| (m.clone(), 0)).collect(),
        ..Seeded::default()
    };
    // Senders: a few hundred authorities; recipients: a large population.
    let senders: Vec<(String, String)> = (0..400u64)
        .map(|i| {
            (
                format!("{:08}", 29_000_000 + i * 7_919),
                format!("Myndighed {i}"),
            )
        })
        .collect();
    let labels = [
        "Pladsanvisning",
        "Afgørelse om boligstøtte",
        "Indkaldelse til møde",
        "Kvittering for ansøgning",
        "Partshøring",
        "Årsopgørelse",
        "Svar på henvendelse",
        "Rykker",
    ];
    // A year of mail, in order: receipt times grow with the sequence.
    let start: i64 = 1_764_000_000;
    let step = (365 * 86_400 / options.messages.max(1) as i64).max(1);
    let acked_until = options.messages * options.acked_percent.min(100) / 100;
    let weights: u64 = templates.iter().map(|t| t.weight).sum();
    let sample_every = (options.messages / options.sample.max(1) as u64).max(1);

    let mut done = 0u64;
    while done < options.messages {
        let n = (options.messages - done).min(options.batch as u64);
        let mut batch: Vec<NewMessage> = Vec::with_capacity(n as usize);
        let mut acks: Vec<(String, i64)> = Vec::new();
        for i in done..done + n {
            let mut pick = rng.below(weights);
            let t = templates
                .iter()
                .find(|t| {
                    if pick < t.weight {
                        true
                    } else {
                        pick -= t.weight;
                        false
                    }
                })
                .unwrap_or(&templates[0]);
            // Mailboxes by a skewed share: the first takes the most, as a standard mailbox does.
            let m = (rng.below(1_000).pow(2) * mailboxes.len() as u64 / 1_000_000) as usize;
            let (sender_id, sender_label) = &senders[rng.below(senders.len() as u64) as usize];
            let recipient = format!("{:010}", 101_000_000 + rng.below(2_000_000) * 4_271);
            let label = labels[rng.below(labels.len() as u64) as usize];
            let received_at = start + i as i64 * step;
            let uuid = rng.uuid();
            let message = copy(
                t,
                &uuid,
                &mailboxes[m],
                sender_id,
                sender_label,
                &recipient,
                label,
                received_at,
            );
            // The platform acknowledged the older mail, except the invalid messages an
            // operator has not looked at and a few it skipped.
            if i < acked_until && message.valid && rng.below(200) != 0 {
                acks.push((uuid.clone(), received_at + 600));
            }
            if i % sample_every == 0 && seeded.sample.len() < options.sample {
                seeded.sample.push(uuid);
            }
            seeded.invalid += u64::from(!message.valid);
            seeded.per_mailbox[m].1 += 1;
            batch.push(message);
        }
        let refs: Vec<&NewMessage> = batch.iter().collect();
        let mut s = store.lock().unwrap();
        let stored = s.ngdp_insert_messages(&refs)?;
        if stored.iter().any(|new| !new) {
            bail!(
                "a generated messageUUID was stored before (seed {})",
                options.seed
            );
        }
        s.in_transaction(|s| {
            // NgDP took every business receipt when its message arrived, as it does when the
            // gateway runs normally; a million receipts left pending would keep the outbox
            // worker sending during the benchmark.
            for m in &batch {
                s.ngdp_receipt_sent(&m.uuid, m.received_at + 2)?;
            }
            for (uuid, at) in &acks {
                let case = format!("2026-{:06}", rng.below(1_000_000));
                s.handover_ack(uuid, None, "api:seed", Some(&case), *at)?;
            }
            Ok(())
        })?;
        seeded.acknowledged += acks.len() as u64;
        done += n;
        seeded.messages += n;
    }
    for t in &templates {
        let i = mailboxes.iter().position(|m| *m == t.message.mailbox);
        if let Some(i) = i {
            seeded.per_mailbox[i].1 += 1;
        }
    }
    seeded.seconds = started.elapsed().as_secs_f64();
    Ok(seeded)
}

/// A copy of template `t` as a new message: what receiving the same MeMo with these header
/// values would have stored (the header JSON and the receipt carry the new UUID).
#[allow(clippy::too_many_arguments)]
fn copy(
    t: &Template,
    uuid: &str,
    mailbox: &str,
    sender_id: &str,
    sender_label: &str,
    recipient: &str,
    label: &str,
    received_at: i64,
) -> NewMessage {
    let m = &t.message;
    let mut header = m.header.clone();
    set(&mut header, &["message_uuid"], uuid);
    set(&mut header, &["label"], label);
    set(&mut header, &["sender", "sender_id"], sender_id);
    set(&mut header, &["sender", "label"], sender_label);
    set(&mut header, &["recipient", "recipient_id"], recipient);
    let message_id = m
        .header
        .get("message_id")
        .and_then(|v| v.as_str())
        .map(|_| uuid.to_owned());
    if let Some(id) = &message_id {
        set(&mut header, &["message_id"], id);
    }
    NewMessage {
        uuid: uuid.to_owned(),
        environment: m.environment.clone(),
        system_id: m.system_id.clone(),
        via: "push",
        received_at,
        valid: m.valid,
        problems: m.problems.clone(),
        message_id,
        label: Some(label.to_owned()),
        sender_id: Some(sender_id.to_owned()),
        sender_label: Some(sender_label.to_owned()),
        recipient_id: Some(recipient.to_owned()),
        mailbox: mailbox.to_owned(),
        // The templates came through the standard mailbox; a copy in another mailbox got
        // there as contact-point routing would have sent it.
        contact_point: if mailbox == m.mailbox {
            m.contact_point.clone()
        } else {
            Some(format!("cp-{mailbox}"))
        },
        routing_reason: if mailbox == m.mailbox {
            m.routing_reason.clone()
        } else {
            serde_json::json!({ "reason": "recipient-contact-point" })
        },
        header,
        dir: m.dir.clone(),
        raw_size: m.raw_size,
        raw_sha256: m.raw_sha256.clone(),
        files: m.files.clone(),
        receipt: t.receipt.replace(&m.uuid, uuid),
        bytes_from: None,
    }
}

/// Set the string at `path` in `v` when that place exists (the header's shape is the
/// component's; a field it does not have is left out rather than invented).
fn set(v: &mut serde_json::Value, path: &[&str], value: &str) {
    let mut at = v;
    for key in path {
        match at.get_mut(*key) {
            Some(next) => at = next,
            None => return,
        }
    }
    *at = serde_json::Value::String(value.to_owned());
}

impl Seeded {
    /// The figures as JSON, for scripts (the sample is written separately).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "messages": self.messages,
            "invalid": self.invalid,
            "acknowledged": self.acknowledged,
            "pending": self.messages - self.acknowledged,
            "perMailbox": self.per_mailbox.iter()
                .map(|(m, n)| serde_json::json!({ "mailbox": m, "messages": n }))
                .collect::<Vec<_>>(),
            "seconds": self.seconds,
        })
    }
}
