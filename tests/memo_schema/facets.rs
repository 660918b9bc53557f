//! Schema-invalid variants: each is one of the full valid messages with exactly one facet
//! broken, and says where the validator must report it (a path and the line of an element).

use super::document::Node;
use super::table::{Element, Kind, Table, Version};
use super::valid::{Message, left_out_in};

/// Which rule a variant breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Facet {
    /// A required element (every occurrence under one parent) removed.
    Missing,
    /// A string one character over its maximum length.
    TooLong,
    /// A value outside its pattern or type (UUID v4, `.+Z`, xs:date, boolean, integer bound,
    /// enumeration, base64).
    Pattern,
    /// One occurrence more than `max_occurs`.
    TooMany,
    /// Two neighbouring siblings with different names swapped (every such pair).
    Order,
    /// An element the schema does not declare, in the parent's namespace.
    UnknownElement,
    /// An attribute the schema does not declare.
    UnknownAttribute,
    /// The root's `memoVersion`/`memoSchVersion` missing or wrong.
    RootAttribute,
}

/// One acceptable report: an error whose path is one of `paths`, on the line of the element at
/// `route` (in the variant's tree).
#[derive(Debug, Clone)]
pub struct Expected {
    pub paths: Vec<String>,
    pub route: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Variant {
    pub facet: Facet,
    /// The element path whose facet is broken.
    pub target: String,
    pub message: Message,
    /// Any one of these satisfies the oracle.
    pub expected: Vec<Expected>,
}

fn parent_of(route: &[usize]) -> Vec<usize> {
    route
        .get(..route.len().saturating_sub(1))
        .unwrap_or_default()
        .to_vec()
}

fn parent_path(path: &str) -> String {
    path.rsplit_once('/')
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

/// `len` characters with letters outside ASCII and outside the BMP, so a validator that
/// counts bytes or UTF-16 units instead of characters is caught too.
fn long_text(len: usize, name: &str) -> String {
    match name {
        "filename" => format!("{}.pdf", "æ".repeat(len.saturating_sub(4))),
        "url" => format!(
            "https://post.example.dk/{}",
            "a".repeat(len.saturating_sub(24))
        ),
        _ => "Æblegrød𝄞x".chars().cycle().take(len).collect(),
    }
}

/// Values outside the element's pattern or type.
fn broken_values(el: &Element) -> Vec<(&'static str, String)> {
    match &el.kind {
        Kind::Uuid => vec![
            ("version-5", "8c2ea15d-61fb-5ba9-9366-42f8b194c114".into()),
            ("variant-c", "8c2ea15d-61fb-4ba9-c366-42f8b194c114".into()),
            ("not-a-uuid", "not-a-uuid".into()),
        ],
        Kind::DateTime => vec![
            ("zone-not-Z", "2024-05-03T12:00:00+02:00".into()),
            ("no-zone", "2024-05-03T12:00:00".into()),
        ],
        Kind::Date => vec![
            ("day-first", "15-09-2025".into()),
            ("no-such-day", "2025-02-30".into()),
        ],
        Kind::Boolean => vec![("yes", "yes".into()), ("upper-case", "TRUE".into())],
        Kind::Integer => {
            let over = el.max_inclusive.unwrap_or(0).saturating_add(1);
            vec![("letters", "12a4".into()), ("over-max", over.to_string())]
        }
        Kind::Enumeration(_) => vec![("not-enumerated", "LETTER".into())],
        Kind::Base64 => vec![
            ("bad-characters", "@@@@".into()),
            ("bad-length", "QUJ".into()),
        ],
        Kind::Complex | Kind::String => Vec::new(),
    }
}

/// Every variant for one version, from the two full messages `bases` (which between them hold
/// every path of the version). Errors name a path no base holds (a generator bug).
pub fn variants(
    table: &Table,
    version: Version,
    bases: &[Message],
) -> Result<Vec<Variant>, String> {
    let mut out = Vec::new();
    let short = |path: &str| {
        path.trim_start_matches('/')
            .trim_start_matches("Message/")
            .replace('/', ".")
    };
    for (index, el) in table.elements.iter().enumerate() {
        if !el.exists_in(version) || left_out_in(version, &el.path) {
            continue;
        }
        // Alternate the bases, so every facet is tried in both of their styles.
        let Some((base, route)) = bases
            .iter()
            .cycle()
            .skip(index % bases.len().max(1))
            .take(bases.len())
            .find_map(|b| b.root.find(&el.path).map(|r| (b, r)))
        else {
            return Err(format!("no full {version:?} message holds {}", el.path));
        };
        let variant = |facet: Facet, tag: &str, root: Node, expected: Vec<Expected>| Variant {
            facet,
            target: el.path.clone(),
            message: Message {
                name: format!(
                    "{}-{:?}-{}{tag}",
                    version.attribute(),
                    facet,
                    short(&el.path)
                ),
                root,
                style: base.style,
            },
            expected,
        };
        let is_root = el.path == "/Message";

        // Unknown attribute: every element.
        let mut root = base.root.clone();
        if let Some(node) = root.at_mut(&route) {
            node.attributes
                .push(("unknownAttribute".into(), "x".into()));
        }
        out.push(variant(
            Facet::UnknownAttribute,
            "",
            root,
            vec![Expected {
                paths: vec![el.path.clone(), format!("{}/@unknownAttribute", el.path)],
                route: route.clone(),
            }],
        ));

        if el.kind == Kind::Complex {
            // Unknown element, last among the children.
            let mut root = base.root.clone();
            let unknown_path = format!("{}/unknownElement", el.path);
            let mut child_route = route.clone();
            if let Some(node) = root.at_mut(&route) {
                let mut unknown = Node::new(&el.prefix, "unknownElement", &unknown_path);
                unknown.text = Some("x".into());
                child_route.push(node.children.len());
                node.children.push(unknown);
            }
            out.push(variant(
                Facet::UnknownElement,
                "",
                root,
                vec![Expected {
                    paths: vec![unknown_path, el.path.clone()],
                    route: child_route,
                }],
            ));

            // Order: every pair of neighbours with different names, swapped one pair at a time.
            let node = base.root.at(&route);
            let pairs: Vec<(usize, String)> = node
                .map(|n| {
                    n.children
                        .windows(2)
                        .enumerate()
                        .filter_map(|(i, w)| match w {
                            [a, b] if a.name != b.name => {
                                Some((i, format!("-{}-{}", a.name, b.name)))
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            for (i, tag) in pairs {
                let mut root = base.root.clone();
                let mut expected = Vec::new();
                if let Some(node) = root.at_mut(&route) {
                    node.children.swap(i, i + 1);
                    for k in [i, i + 1] {
                        let mut r = route.clone();
                        r.push(k);
                        if let Some(swapped) = node.children.get(k) {
                            expected.push(Expected {
                                paths: vec![swapped.path.clone()],
                                route: r,
                            });
                        }
                    }
                }
                out.push(variant(Facet::Order, &tag, root, expected));
            }
        }

        if is_root {
            for (tag, remove, set) in [
                ("-memoVersion-missing", "memoVersion", None),
                (
                    "-memoVersion-2.0",
                    "memoVersion",
                    Some(("memoVersion", "2.0")),
                ),
                ("-memoSchVersion-missing", "memoSchVersion", None),
                (
                    "-memoSchVersion-too-long",
                    "memoSchVersion",
                    Some(("memoSchVersion", "")),
                ),
            ] {
                if remove == "memoSchVersion" && version != Version::V1_1 {
                    continue;
                }
                let mut root = base.root.clone();
                root.attributes.retain(|(k, _)| k != remove);
                if let Some((k, v)) = set {
                    let v = if v.is_empty() {
                        long_text(257, "")
                    } else {
                        v.to_string()
                    };
                    root.attributes.push((k.to_string(), v));
                }
                out.push(variant(
                    Facet::RootAttribute,
                    tag,
                    root,
                    vec![Expected {
                        paths: vec!["/Message".into(), format!("/Message/@{remove}")],
                        route: Vec::new(),
                    }],
                ));
            }
            continue;
        }
        if !el.from_model {
            // The 1.2 additions: cardinality and lengths not published.
            continue;
        }
        let parent_route = parent_of(&route);

        if el.min(version) >= 1 {
            let mut root = base.root.clone();
            if let Some(parent) = root.at_mut(&parent_route) {
                parent.children.retain(|c| c.path != el.path);
            }
            out.push(variant(
                Facet::Missing,
                "",
                root,
                vec![Expected {
                    paths: vec![el.path.clone(), parent_path(&el.path)],
                    route: parent_route.clone(),
                }],
            ));
        }

        if let Some(max) = el.max_length {
            let mut root = base.root.clone();
            if let Some(node) = root.at_mut(&route) {
                node.text = Some(long_text(max + 1, el.name()));
            }
            out.push(variant(
                Facet::TooLong,
                "",
                root,
                vec![Expected {
                    paths: vec![el.path.clone()],
                    route: route.clone(),
                }],
            ));
        }

        for (tag, value) in broken_values(el) {
            let mut root = base.root.clone();
            if let Some(node) = root.at_mut(&route) {
                node.text = Some(value);
            }
            out.push(variant(
                Facet::Pattern,
                &format!("-{tag}"),
                root,
                vec![Expected {
                    paths: vec![el.path.clone()],
                    route: route.clone(),
                }],
            ));
        }

        if let Some(max) = el.max {
            let mut root = base.root.clone();
            let mut extra_route = parent_route.clone();
            if let Some(parent) = root.at_mut(&parent_route) {
                let same: Vec<usize> = (0..parent.children.len())
                    .filter(|&i| parent.children.get(i).is_some_and(|c| c.path == el.path))
                    .collect();
                let last = same.last().copied().unwrap_or(0);
                let add = (max as usize + 1).saturating_sub(same.len());
                if let Some(copy) = parent.children.get(last).cloned() {
                    for k in 0..add {
                        parent.children.insert(last + 1 + k, copy.clone());
                    }
                }
                // The first occurrence over the maximum.
                extra_route.push(last + 1 + (max as usize).saturating_sub(same.len()));
            }
            out.push(variant(
                Facet::TooMany,
                "",
                root,
                vec![Expected {
                    paths: vec![el.path.clone()],
                    route: extra_route,
                }],
            ));
        }
    }
    Ok(out)
}
