//! MeMo conformance: an independent oracle for the validator. A table of every element path
//! (tests/memo_schema/elements.tsv, derived from a model of the official MeMo 1.1 schema, see
//! the README there) drives a seeded generator of schema-valid messages covering every path in
//! MeMo 1.1 and 1.2, and of invalid variants breaking every facet once. Every valid message
//! must be accepted with its header and files read exactly; every invalid one rejected with an
//! error naming the element's path and line. A failure lists every disagreement, and the
//! disagreeing messages are written to target/test-scratch/memo_schema/ to be run by hand.

#[path = "memo_schema/document.rs"]
mod document;
#[path = "memo_schema/examples.rs"]
mod examples;
#[path = "memo_schema/facets.rs"]
mod facets;
#[path = "memo_schema/prng.rs"]
mod prng;
#[path = "memo_schema/table.rs"]
mod table;
#[path = "memo_schema/valid.rs"]
mod valid;
#[path = "memo_schema/verdict.rs"]
mod verdict;

use std::collections::{BTreeMap, BTreeSet};

use dpost::keystore::Keystore;
use dpost_tests::{runtime, scratch_dir};

use document::serialize;
use facets::{Facet, Variant};
use table::{Table, Version};
use valid::{Generator, Message, Plan, expected_files, left_out_in};

/// The one seed: change it to explore, never per run.
const SEED: u64 = 0x4D65_4D6F_2031_2E31;
/// Random valid messages per version, besides the two full ones and the boundary one.
const RANDOM_VALID: usize = 14;
/// Read in pieces of this many bytes: odd, to split tags, text and base64 quads.
const CHUNK: usize = 997;
/// Valid messages are read in each of these piece sizes, and must read the same in all: a tiny
/// one splits every token, the large one reads a message in one piece.
const VALID_CHUNKS: [usize; 3] = [7, CHUNK, 1 << 16];

fn table() -> Table {
    Table::committed().unwrap_or_else(|e| panic!("elements.tsv: {e}"))
}

fn version_seed(version: Version) -> u64 {
    SEED ^ match version {
        Version::V1_1 => 0x11,
        Version::V1_2 => 0x12,
    }
}

/// The two full messages of a version: between them every path (each choice both ways).
fn full_messages(table: &Table, version: Version) -> Vec<Message> {
    let mut g = Generator::new(table, version_seed(version));
    [false, true]
        .into_iter()
        .map(|alternative| {
            let plan = Plan {
                version,
                full: true,
                alternative,
                boundary: false,
            };
            let name = format!(
                "{}-valid-full-{}",
                version.attribute(),
                u8::from(alternative)
            );
            let mut m = g.message(&name, plan).unwrap_or_else(|e| panic!("{e}"));
            // The second writes MeMo as the default namespace, so half the variants (facets.rs
            // alternates the bases) are read without the `memo:` prefix.
            if alternative {
                m.style = document::MemoPrefix::Default;
            }
            m
        })
        .collect()
}

/// Every valid message of a version: the full ones, one at every maximum, and random ones.
fn valid_messages(table: &Table, version: Version) -> Vec<Message> {
    let mut out = full_messages(table, version);
    let mut g = Generator::new(table, version_seed(version).rotate_left(17));
    let boundary = Plan {
        version,
        full: true,
        alternative: false,
        boundary: true,
    };
    out.push(
        g.message(&format!("{}-valid-boundary", version.attribute()), boundary)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    for i in 0..RANDOM_VALID {
        let plan = Plan {
            version,
            full: false,
            alternative: i % 2 == 1,
            boundary: false,
        };
        out.push(
            g.message(
                &format!("{}-valid-random-{i:02}", version.attribute()),
                plan,
            )
            .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    out
}

fn invalid_variants(table: &Table, version: Version) -> Vec<Variant> {
    let bases = full_messages(table, version);
    facets::variants(table, version, &bases).unwrap_or_else(|e| panic!("{e}"))
}

fn keep_for_inspection(name: &str, xml: &str) {
    let dir = scratch_dir("memo_schema");
    // Best effort: the listing in the failure message is the report; the file is a convenience.
    let _ = std::fs::write(dir.join(format!("{name}.xml")), xml);
}

#[test]
fn the_table_has_261_model_paths_in_every_namespace() {
    let t = table();
    let model: Vec<_> = t
        .elements
        .iter()
        .filter(|e| e.from_model && e.path != "/Message")
        .collect();
    assert_eq!(
        model.len(),
        261,
        "element paths below /Message from the model"
    );
    let paths: BTreeSet<&str> = t.elements.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths.len(), t.elements.len(), "a path appears twice");
    let prefixes: BTreeSet<&str> = t.elements.iter().map(|e| e.prefix.as_str()).collect();
    for p in ["memo", "grd", "kle", "form", "dmv", "sor", "gln", "udd"] {
        assert!(prefixes.contains(p), "no element in {p}");
    }
    let enumerated = t
        .elements
        .iter()
        .any(|e| matches!(e.kind, table::Kind::Enumeration(_)));
    assert!(enumerated, "messageType's dataTypes enumeration");
    let only_1_2: Vec<_> = t.elements.iter().filter(|e| e.min_1_1.is_none()).collect();
    assert_eq!(
        only_1_2.len(),
        5,
        "Representative (4 paths) and originalRepresentative"
    );
}

#[test]
fn the_official_examples_use_only_table_paths_in_table_order_and_namespaces() {
    let t = table();
    for (file, version) in [
        ("memo/MeMo_v1.1_Full_Example.xml", Version::V1_1),
        ("memo/MeMo_v1.1_Minimum_Example.xml", Version::V1_1),
        ("memo/MeMo_v1.2_Full_Example.xml", Version::V1_2),
        ("memo/MeMo_v1.2_Minimum_Example.xml", Version::V1_2),
    ] {
        let xml = std::fs::read_to_string(dpost_tests::fixture(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let found = examples::occurrences(&xml).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            found.len() >= 15,
            "{file}: only {} elements found",
            found.len()
        );
        let mut unknown = BTreeSet::new();
        let mut misordered = Vec::new();
        let mut other_namespace = Vec::new();
        // The position of the last child seen under each parent occurrence.
        let mut last: BTreeMap<usize, (usize, String)> = BTreeMap::new();
        for o in &found {
            let Some(el) = t.get(&o.path).filter(|e| e.exists_in(version)) else {
                unknown.insert(o.path.clone());
                continue;
            };
            if o.prefix != el.prefix {
                other_namespace.push(format!(
                    "{} is {}:, the table says {}:",
                    o.path, o.prefix, el.prefix
                ));
            }
            let Some(parent) = o.parent else { continue };
            let position = t
                .children(el.parent())
                .position(|c| c.path == el.path)
                .unwrap_or(usize::MAX);
            if let Some((before, name)) = last.get(&parent)
                && *before > position
            {
                misordered.push(format!("{} after {name}", o.path));
            }
            last.insert(parent, (position, el.name().to_string()));
        }
        // The 1.2 full example's AddressPoint shape (see README: not in the 1.1 model).
        unknown.retain(|p| !(version == Version::V1_2 && p.contains("/AddressPoint/")));
        assert!(
            unknown.is_empty(),
            "{file}: paths not in the table: {unknown:#?}"
        );
        assert!(
            misordered.is_empty(),
            "{file}: out of the table's order: {misordered:#?}"
        );
        assert!(
            other_namespace.is_empty(),
            "{file}: namespaces: {other_namespace:#?}"
        );
    }
}

#[test]
fn valid_messages_cover_every_path_in_both_versions() {
    let t = table();
    for version in Version::ALL {
        let mut seen = Vec::new();
        for m in valid_messages(&t, version) {
            m.root.paths(&mut seen);
        }
        let seen: BTreeSet<String> = seen.into_iter().collect();
        let missing: Vec<&str> = t
            .elements
            .iter()
            .filter(|e| e.exists_in(version) && !left_out_in(version, &e.path))
            .map(|e| e.path.as_str())
            .filter(|p| !seen.contains(*p))
            .collect();
        assert!(
            missing.is_empty(),
            "{version:?}: no valid message holds {missing:#?}"
        );
    }
}

#[test]
fn every_facet_is_broken_on_every_path_it_applies_to() {
    let t = table();
    for version in Version::ALL {
        let variants = invalid_variants(&t, version);
        let made: BTreeSet<(Facet, &str)> = variants
            .iter()
            .map(|v| (v.facet, v.target.as_str()))
            .collect();
        let mut lacking = Vec::new();
        for el in &t.elements {
            if !el.exists_in(version) || left_out_in(version, &el.path) {
                continue;
            }
            let mut wanted = vec![Facet::UnknownAttribute];
            if el.kind == table::Kind::Complex {
                wanted.push(Facet::UnknownElement);
            }
            if el.from_model && el.path != "/Message" {
                if el.min(version) >= 1 {
                    wanted.push(Facet::Missing);
                }
                if el.max_length.is_some() {
                    wanted.push(Facet::TooLong);
                }
                if el.max.is_some() {
                    wanted.push(Facet::TooMany);
                }
                if !matches!(el.kind, table::Kind::Complex | table::Kind::String) {
                    wanted.push(Facet::Pattern);
                }
            }
            for f in wanted {
                if !made.contains(&(f, el.path.as_str())) {
                    lacking.push(format!("{f:?} {}", el.path));
                }
            }
        }
        assert!(
            lacking.is_empty(),
            "{version:?}: no variant for {lacking:#?}"
        );
        let order = variants.iter().filter(|v| v.facet == Facet::Order).count();
        let root = variants
            .iter()
            .filter(|v| v.facet == Facet::RootAttribute)
            .count();
        assert!(
            order > 0 && root > 0,
            "{version:?}: order {order}, root attributes {root}"
        );
    }
}

#[test]
fn generation_is_deterministic() {
    let t = table();
    let render = |version| -> Vec<String> {
        let mut out: Vec<String> = valid_messages(&t, version)
            .into_iter()
            .map(|mut m| serialize(&mut m.root, m.style))
            .collect();
        out.extend(
            invalid_variants(&t, version)
                .into_iter()
                .map(|mut v| serialize(&mut v.message.root, v.message.style)),
        );
        out
    };
    for version in Version::ALL {
        assert_eq!(render(version), render(version), "{version:?}");
    }
}

#[test]
fn every_valid_message_is_accepted_with_show_and_extract_exact() {
    let t = table();
    let mut instance = runtime()
        .instantiate(Keystore::new())
        .unwrap_or_else(|e| panic!("instantiating the component: {e}"));
    let mut disagreements = Vec::new();
    let mut count = 0;
    for version in Version::ALL {
        for mut m in valid_messages(&t, version) {
            count += 1;
            let xml = serialize(&mut m.root, m.style);
            let files = expected_files(&m.root);
            for chunk in VALID_CHUNKS {
                let reading = verdict::read(&mut instance, xml.as_bytes(), chunk)
                    .unwrap_or_else(|e| panic!("{}: {e}", m.name));
                if let Some(why) = verdict::judge_valid(&m.root, &files, &reading) {
                    keep_for_inspection(&m.name, &xml);
                    disagreements.push(format!(
                        "  {} (expected: valid; read in {chunk}-byte pieces): {why}\n{}",
                        m.name,
                        reading.describe()
                    ));
                    // One listing per message: the other piece sizes would repeat it.
                    break;
                }
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {count} schema-valid messages disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

fn invalid_for(version: Version) {
    let t = table();
    let mut instance = runtime()
        .instantiate(Keystore::new())
        .unwrap_or_else(|e| panic!("instantiating the component: {e}"));
    let mut disagreements = Vec::new();
    let mut per_facet: BTreeMap<Facet, (usize, usize)> = BTreeMap::new();
    let variants = invalid_variants(&t, version);
    for mut v in variants {
        let xml = serialize(&mut v.message.root, v.message.style);
        let reading = verdict::read(&mut instance, xml.as_bytes(), CHUNK)
            .unwrap_or_else(|e| panic!("{}: {e}", v.message.name));
        let tally = per_facet.entry(v.facet).or_default();
        tally.0 += 1;
        if let Some(why) = verdict::judge_invalid(&v.message.root, &v.expected, &reading) {
            tally.1 += 1;
            keep_for_inspection(&v.message.name, &xml);
            disagreements.push(format!(
                "  {} (expected: invalid): {why}\n{}",
                v.message.name,
                reading.describe()
            ));
        }
    }
    let total: usize = per_facet.values().map(|t| t.0).sum();
    let summary: Vec<String> = per_facet
        .iter()
        .map(|(f, (n, bad))| format!("{f:?} {bad}/{n}"))
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} of {total} schema-invalid {version:?} variants disagree (by facet: {}):\n{}",
        disagreements.len(),
        summary.join(", "),
        disagreements.join("\n")
    );
}

#[test]
fn every_broken_facet_is_rejected_at_its_path_and_line_1_1() {
    invalid_for(Version::V1_1);
}

#[test]
fn every_broken_facet_is_rejected_at_its_path_and_line_1_2() {
    invalid_for(Version::V1_2);
}
