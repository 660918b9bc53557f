//! Schema-valid messages built from the table: two "full" messages per version that between
//! them hold every element path (the choices taken one way in the first and the other way in
//! the second), and seeded random ones that leave optional parts out, repeat what may repeat,
//! and fill strings to exactly their maximum length.

use base64::Engine as _;

use super::document::{MemoPrefix, Node};
use super::prng::Prng;
use super::table::{Element, Kind, Table, Version};

/// What a generated message must show and extract: one entry per `File`, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedFile {
    pub filename: String,
    pub encoding_format: String,
    pub language: String,
    pub content: Vec<u8>,
}

/// A generated message before serialization.
#[derive(Debug, Clone)]
pub struct Message {
    pub name: String,
    pub root: Node,
    pub style: MemoPrefix,
}

/// How a valid message is shaped.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub version: Version,
    /// Every optional element present (`false`: each present by chance).
    pub full: bool,
    /// Which side of each choice a full message takes.
    pub alternative: bool,
    /// Strings exactly as long as their maximum, repeated elements at their maximum.
    pub boundary: bool,
}

/// Elements the schema offers as alternatives (xs:choice; the model shows both as optional):
/// a message holds at most one of each pair under one parent. From the examples: "Unstructured
/// address can only be used alone"; each Action has either a Reservation or an EntryPoint.
const CHOICES: [(&str, &str, &str); 3] = [
    ("AttentionData", "Address", "UnstructuredAddress"),
    ("ContentData", "Address", "UnstructuredAddress"),
    ("Action", "Reservation", "EntryPoint"),
];

/// Paths the 1.2 messages leave out: the 1.2 full example writes AddressPoint's coordinates
/// inside GeographicPointLocation/GeographicCoordinateTuple, which the 1.1 model does not have,
/// so the oracle does not claim either shape for 1.2.
pub fn left_out_in(version: Version, path: &str) -> bool {
    version == Version::V1_2 && path.contains("/AddressPoint")
}

const TEXT: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'k', 'l', 'm', 'n', 'o', 'p', 'r', 's', 't', 'u',
    'v', 'A', 'B', 'K', 'M', 'Z', '0', '1', '7', '9', 'æ', 'ø', 'å', 'Æ', 'Ø', 'Å', 'é', ' ', '&',
    '<', '>', '\'', '"', '-', '.', ',', '€', '𝄞',
];

const MIME_TYPES: [&str; 5] = [
    "application/pdf",
    "text/plain",
    "text/xml",
    "application/msword",
    "image/png",
];

pub struct Generator<'t> {
    pub table: &'t Table,
    pub rng: Prng,
    /// Alternates Reservation and EntryPoint between the Actions of a full message.
    action_toggle: bool,
    nemsms: bool,
    uppercase_uuids: bool,
}

impl<'t> Generator<'t> {
    pub fn new(table: &'t Table, seed: u64) -> Generator<'t> {
        Generator {
            table,
            rng: Prng::new(seed),
            action_toggle: false,
            nemsms: false,
            uppercase_uuids: false,
        }
    }

    pub fn message(&mut self, name: &str, plan: Plan) -> Result<Message, String> {
        let root_element = self
            .table
            .get("/Message")
            .ok_or("the table has no /Message")?
            .clone();
        self.action_toggle = plan.alternative;
        self.nemsms = !plan.full && self.rng.chance(20);
        self.uppercase_uuids = self.rng.chance(50);
        let mut root = self.element(&root_element, plan);
        root.attributes
            .push(("memoVersion".into(), plan.version.attribute().into()));
        if plan.version == Version::V1_1 {
            root.attributes
                .push(("memoSchVersion".into(), "1.1.0".into()));
        }
        let style = if !plan.full && self.rng.chance(30) {
            MemoPrefix::Default
        } else {
            MemoPrefix::Memo
        };
        Ok(Message {
            name: name.to_string(),
            root,
            style,
        })
    }

    /// How many times `child` occurs under one parent in this plan.
    fn occurrences(&mut self, child: &Element, plan: Plan) -> u32 {
        let min = child.min(plan.version);
        let max = child.max.unwrap_or(if plan.boundary { 3 } else { 2 });
        let n = if plan.full {
            if plan.boundary { max } else { max.min(2) }
        } else if max > 1 {
            self.rng.range(0, max as u64) as u32
        } else {
            u32::from(self.rng.chance(50))
        };
        n.max(min)
    }

    pub fn element(&mut self, el: &Element, plan: Plan) -> Node {
        let mut node = Node::new(&el.prefix, el.name(), &el.path);
        if el.kind != Kind::Complex {
            node.text = Some(self.value(el, plan));
            return node;
        }
        let children: Vec<Element> = self
            .table
            .children(&el.path)
            .filter(|c| c.exists_in(plan.version) && !left_out_in(plan.version, &c.path))
            .cloned()
            .collect();
        let mut counts: Vec<u32> = children.iter().map(|c| self.occurrences(c, plan)).collect();
        if el.path == "/Message" && !self.nemsms {
            // A DIGITALPOST message needs its body (a business rule: only NEMSMS may go without).
            for (c, n) in children.iter().zip(counts.iter_mut()) {
                if c.name() == "MessageBody" {
                    *n = 1;
                }
            }
        }
        if el.path == "/Message/MessageHeader" && self.nemsms {
            // NEMSMS needs a notification (a business rule the reader applies).
            for (c, n) in children.iter().zip(counts.iter_mut()) {
                if c.name() == "notification" {
                    *n = 1;
                }
            }
        }
        for (parent, first, second) in CHOICES {
            if el.name() != parent {
                continue;
            }
            let i = children.iter().position(|c| c.name() == first);
            let j = children.iter().position(|c| c.name() == second);
            let present = |k: Option<usize>| k.and_then(|k| counts.get(k)).is_some_and(|n| *n > 0);
            if let (Some(i), Some(j)) = (i, j)
                && present(Some(i))
                && present(Some(j))
            {
                let keep_first = if parent == "Action" {
                    self.action_toggle = !self.action_toggle;
                    self.action_toggle
                } else if plan.full {
                    !plan.alternative
                } else {
                    self.rng.chance(50)
                };
                if let Some(n) = counts.get_mut(if keep_first { j } else { i }) {
                    *n = 0;
                }
            }
        }
        for (c, n) in children.iter().zip(counts) {
            for _ in 0..n {
                let child = self.element(c, plan);
                node.children.push(child);
            }
        }
        node
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.rng.range(0, 9) as u8))
            .collect()
    }

    fn text(&mut self, len: usize) -> String {
        let mut s: String = (0..len)
            .map(|_| self.rng.pick_from(TEXT).copied().unwrap_or('x'))
            .collect();
        // No whitespace at either end: a validator may collapse it for some types.
        for edge in [0, len.saturating_sub(1)] {
            if s.chars().nth(edge) == Some(' ') {
                s = s
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if i == edge { 'x' } else { c })
                    .collect();
            }
        }
        s
    }

    fn string_length(&mut self, el: &Element, plan: Plan) -> usize {
        let max = el.max_length.unwrap_or(256);
        if plan.boundary {
            max
        } else {
            self.rng.range(1, max.min(24) as u64) as usize
        }
    }

    pub fn uuid(&mut self) -> String {
        let hex = |rng: &mut Prng, n: usize| -> String {
            (0..n)
                .map(|_| char::from(b"0123456789abcdef"[rng.range(0, 15) as usize]))
                .collect()
        };
        let variant = *self.rng.pick(&['8', '9', 'a', 'b']);
        let s = format!(
            "{}-{}-4{}-{}{}-{}",
            hex(&mut self.rng, 8),
            hex(&mut self.rng, 4),
            hex(&mut self.rng, 3),
            variant,
            hex(&mut self.rng, 3),
            hex(&mut self.rng, 12)
        );
        if self.uppercase_uuids {
            s.to_uppercase()
        } else {
            s
        }
    }

    pub fn date_time(&mut self) -> String {
        let fraction = if self.rng.chance(25) { ".250" } else { "" };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}Z",
            self.rng.range(2000, 2030),
            self.rng.range(1, 12),
            self.rng.range(1, 28),
            self.rng.range(0, 23),
            self.rng.range(0, 59),
            self.rng.range(0, 59)
        )
    }

    /// A valid value for a simple element. Where dpost applies a business rule on top of the
    /// schema (CPR/CVR numbers, https URLs, file names, MIME types, languages, non-empty files)
    /// the value also keeps that rule, so a rejection always points at the schema.
    pub fn value(&mut self, el: &Element, plan: Plan) -> String {
        let path = el.path.as_str();
        let name = el.name();
        if path.ends_with("Sender/idType") || path.ends_with("Representative/idType") {
            return "CVR".into();
        }
        if path.ends_with("Recipient/idType") {
            return "CPR".into();
        }
        if path.ends_with("Sender/senderID")
            || path.ends_with("Representative/representativeID")
            || name == "cvrNumber"
        {
            return self.digits(8);
        }
        if path.ends_with("Recipient/recipientID") || name == "cprNumber" {
            return self.digits(10);
        }
        if name == "contactPointID" {
            // Contact points are GUIDs in NgDP (docs/design.md); the schema's type is a string.
            let id = self.uuid();
            return id.to_lowercase();
        }
        match name {
            "language" => return (*self.rng.pick(&["da", "en", "kl", "de"])).into(),
            "encodingFormat" => return (*self.rng.pick(&MIME_TYPES)).into(),
            "filename" => {
                let stem = if plan.boundary {
                    // Exactly the maximum, extension included.
                    let len = el.max_length.unwrap_or(256).saturating_sub(4);
                    (0..len)
                        .map(|_| *self.rng.pick(&['a', 'b', 'æ', 'ø', '1', '-', '_']))
                        .collect()
                } else {
                    let len = self.rng.range(1, 20) as usize;
                    (0..len)
                        .map(|_| *self.rng.pick(&['d', 'o', 'k', 'å', '2', ' ', '_']))
                        .collect::<String>()
                        .trim()
                        .replace(' ', "_")
                };
                let stem = if stem.is_empty() {
                    "fil".to_string()
                } else {
                    stem
                };
                return format!("{stem}.{}", self.rng.pick(&["pdf", "txt", "xml", "doc"]));
            }
            "url" => {
                let prefix = "https://post.example.dk/";
                let len = if plan.boundary {
                    el.max_length.unwrap_or(256).saturating_sub(prefix.len())
                } else {
                    self.rng.range(0, 30) as usize
                };
                let rest: String = (0..len)
                    .map(|_| *self.rng.pick(&['a', 'b', '1', '/', '-']))
                    .collect();
                return format!("{prefix}{rest}");
            }
            "emailAddress" | "organizerMail" => {
                let len = self.rng.range(1, 12) as usize;
                let local: String = (0..len)
                    .map(|_| *self.rng.pick(&['a', 'n', 'e', '1']))
                    .collect();
                return format!("{local}@example.dk");
            }
            _ => {}
        }
        match &el.kind {
            Kind::Complex | Kind::String => {
                let len = self.string_length(el, plan);
                self.text(len)
            }
            Kind::Uuid => self.uuid(),
            Kind::DateTime => self.date_time(),
            Kind::Date => {
                let zone = if plan.full {
                    ""
                } else {
                    *self.rng.pick(&["", "", "Z", "+02:00", "-05:00"])
                };
                format!(
                    "{:04}-{:02}-{:02}{zone}",
                    self.rng.range(2000, 2030),
                    self.rng.range(1, 12),
                    self.rng.range(1, 28)
                )
            }
            Kind::Boolean => {
                let choices: &[&str] = if plan.full {
                    &["true", "false"]
                } else {
                    &["true", "false", "1", "0"]
                };
                self.rng
                    .pick_from(choices)
                    .copied()
                    .unwrap_or("true")
                    .into()
            }
            Kind::Integer => {
                let max = el.max_inclusive.unwrap_or(999);
                if plan.boundary {
                    max.to_string()
                } else {
                    self.rng.range(0, max).to_string()
                }
            }
            Kind::Base64 => {
                let len = self.rng.range(1, 300) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| self.rng.range(0, 255) as u8).collect();
                let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
                if !plan.full && self.rng.chance(30) {
                    // base64Binary allows whitespace; MIME writers break lines at 76.
                    text.as_bytes()
                        .chunks(76)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect::<Vec<_>>()
                        .join("\n")
                } else {
                    text
                }
            }
            Kind::Enumeration(values) => {
                if el.name() == "messageType" && self.nemsms {
                    "NEMSMS".into()
                } else if el.name() == "messageType" {
                    "DIGITALPOST".into()
                } else {
                    self.rng.pick_from(values).cloned().unwrap_or_default()
                }
            }
        }
    }
}

/// The files a message carries, in document order, as `show` and `extract` must give them.
pub fn expected_files(root: &Node) -> Vec<ExpectedFile> {
    let mut out = Vec::new();
    collect_files(root, &mut out);
    out
}

fn collect_files(node: &Node, out: &mut Vec<ExpectedFile>) {
    if node.name == "File" && node.prefix == "memo" {
        let text = |name: &str| {
            node.children
                .iter()
                .find(|c| c.name == name)
                .and_then(|c| c.text.clone())
                .unwrap_or_default()
        };
        let compact: String = text("content")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        out.push(ExpectedFile {
            filename: text("filename"),
            encoding_format: text("encodingFormat"),
            language: text("language"),
            content: base64::engine::general_purpose::STANDARD
                .decode(compact)
                .unwrap_or_default(),
        });
        return;
    }
    for c in &node.children {
        collect_files(c, out);
    }
}
