//! `dpost contact-points import`: map existing mailboxes to contact points in bulk, for an
//! organisation moving from e-Boks mailboxes to NgDP contact points.
//!
//! Contact points live in the configuration file (`[[ngdp.<env>.contact_points]]`), beside the
//! mailboxes they route to, so the import rewrites `dpost.toml`. It edits the document with
//! `toml_edit` rather than re-serialising it, so every comment and the layout stay as the
//! operator wrote them; only the entries the CSV names change.
//!
//! The CSV has a header row. Columns, in any order:
//!
//! | column | meaning |
//! |---|---|
//! | `mailbox` (required) | an existing mailbox (`[ngdp] mailboxes`) |
//! | `contact_point` (required) | the contact point's GUID from the portal |
//! | `label` | a name for people |
//! | `audiences` | `citizens`, `companies`, `authorities`, separated by `;` or spaces (required for a new contact point) |
//! | `hidden` | `true` or `false` |
//! | `system` | the system id it belongs to (default: every system of the environment) |

use std::path::{Path, PathBuf};

use serde::Serialize;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, Value};

use crate::config::ngdp::is_guid;

/// A problem with the CSV or the configuration, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}{}: {message}", file.display(), column.as_ref().map(|c| format!(": column {c}")).unwrap_or_default())]
pub struct ImportError {
    /// The file (the CSV, or the configuration).
    pub file: PathBuf,
    /// The line (from 1).
    pub line: u64,
    /// The column's name, when the problem is in one.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// One row, checked.
#[derive(Debug, Clone)]
struct Row {
    line: u64,
    mailbox: String,
    id: String,
    label: Option<String>,
    audiences: Option<Vec<String>>,
    hidden: Option<bool>,
    system: Option<String>,
}

/// What happens to one contact point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The GUID (lower-case).
    pub contact_point: String,
    /// `add`, `update` or `unchanged`.
    pub action: &'static str,
    /// The mailbox it routes to after the import.
    pub mailbox: String,
    /// The mailbox it routed to before, for an update that moves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_mailbox: Option<String>,
    /// The CSV line it came from.
    pub line: u64,
}

/// The import worked out: the changes and the file's text before and after.
#[derive(Debug, Clone)]
pub struct Plan {
    /// One per CSV row.
    pub changes: Vec<Change>,
    /// The configuration as it is.
    pub before: String,
    /// The configuration after the import.
    pub after: String,
}

const COLUMNS: [&str; 6] = [
    "mailbox",
    "contact_point",
    "label",
    "audiences",
    "hidden",
    "system",
];
const AUDIENCES: [&str; 3] = ["citizens", "companies", "authorities"];

/// Read `csv` and work out the new text of the configuration `config_text` (read from
/// `config`) for `environment`. Every problem is reported, not only the first.
pub fn plan(
    config: &Path,
    config_text: &str,
    csv_path: &Path,
    csv_data: &[u8],
    environment: &str,
) -> Result<Plan, Vec<ImportError>> {
    let mut doc: DocumentMut = config_text.parse().map_err(|e: toml_edit::TomlError| {
        let line = e
            .span()
            .map(|s| config_text[..s.start].matches('\n').count() as u64 + 1)
            .unwrap_or(1);
        vec![ImportError {
            file: config.to_owned(),
            line,
            column: None,
            message: e.message().trim().to_owned(),
        }]
    })?;
    let mailboxes: Vec<String> = doc
        .get("ngdp")
        .and_then(|n| n.get("mailboxes"))
        .and_then(|m| m.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .filter(|v: &Vec<String>| !v.is_empty())
        .unwrap_or_else(|| vec!["standard".to_owned()]);
    let rows = read_rows(csv_path, csv_data, &mailboxes)?;

    let bad_config = |message: String| {
        vec![ImportError {
            file: config.to_owned(),
            line: 1,
            column: None,
            message,
        }]
    };
    let ngdp = doc
        .as_table_mut()
        .entry("ngdp")
        .or_insert_with(|| Item::Table(implicit()))
        .as_table_mut()
        .ok_or_else(|| bad_config("[ngdp] is not a table".into()))?;
    let env = ngdp
        .entry(environment)
        .or_insert_with(|| Item::Table(implicit()))
        .as_table_mut()
        .ok_or_else(|| bad_config(format!("ngdp.{environment} is not a table")))?;
    let cps = env
        .entry("contact_points")
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or_else(|| {
            bad_config(format!(
                "ngdp.{environment}.contact_points is not an array of tables ([[ngdp.{environment}.contact_points]])"
            ))
        })?;

    let mut changes = Vec::new();
    let mut errors = Vec::new();
    for row in rows {
        let existing = cps.iter_mut().find(|t| {
            t.get("id")
                .and_then(|v| v.as_str())
                .is_some_and(|id| id.trim().eq_ignore_ascii_case(&row.id))
        });
        match existing {
            Some(t) => {
                let previous = t.get("mailbox").and_then(|v| v.as_str()).map(str::to_owned);
                let mut changed = set(t, "mailbox", Value::from(row.mailbox.as_str()));
                if let Some(l) = &row.label {
                    changed |= set(t, "label", Value::from(l.as_str()));
                }
                if let Some(a) = &row.audiences {
                    changed |= set(t, "audiences", audiences(a));
                }
                if let Some(h) = row.hidden {
                    changed |= set(t, "hidden", Value::from(h));
                }
                if let Some(s) = &row.system {
                    changed |= set(t, "system", Value::from(s.as_str()));
                }
                changes.push(Change {
                    contact_point: row.id.clone(),
                    action: if changed { "update" } else { "unchanged" },
                    previous_mailbox: previous.filter(|p| *p != row.mailbox),
                    mailbox: row.mailbox,
                    line: row.line,
                });
            }
            None => {
                let Some(a) = &row.audiences else {
                    errors.push(ImportError {
                        file: csv_path.to_owned(),
                        line: row.line,
                        column: Some("audiences".into()),
                        message: format!(
                            "contact point {} is new: give its audiences (citizens;companies;authorities, as set in the portal)",
                            row.id
                        ),
                    });
                    continue;
                };
                let mut t = Table::new();
                // A blank line before each new entry, like the ones written by hand.
                t.decor_mut().set_prefix("\n");
                t.insert("id", toml_edit::value(row.id.as_str()));
                if let Some(l) = &row.label {
                    t.insert("label", toml_edit::value(l.as_str()));
                }
                t.insert("audiences", Item::Value(audiences(a)));
                if let Some(h) = row.hidden {
                    t.insert("hidden", toml_edit::value(h));
                }
                t.insert("mailbox", toml_edit::value(row.mailbox.as_str()));
                if let Some(s) = &row.system {
                    t.insert("system", toml_edit::value(s.as_str()));
                }
                cps.push(t);
                changes.push(Change {
                    contact_point: row.id,
                    action: "add",
                    mailbox: row.mailbox,
                    previous_mailbox: None,
                    line: row.line,
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Plan {
        changes,
        before: config_text.to_owned(),
        after: doc.to_string(),
    })
}

fn implicit() -> Table {
    let mut t = Table::new();
    t.set_implicit(true);
    t
}

/// Set `key` to `value` unless it already is that, keeping the old value's comments and
/// spacing. True when something changed.
fn set(t: &mut Table, key: &str, mut value: Value) -> bool {
    match t.get_mut(key).and_then(Item::as_value_mut) {
        Some(old) if old.to_string().trim() == value.to_string().trim() => false,
        Some(old) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
            true
        }
        None => {
            t.insert(key, Item::Value(value));
            true
        }
    }
}

fn audiences(list: &[String]) -> Value {
    Value::Array(list.iter().map(String::as_str).collect())
}

fn read_rows(path: &Path, data: &[u8], mailboxes: &[String]) -> Result<Vec<Row>, Vec<ImportError>> {
    let err = |line: u64, column: Option<&str>, message: String| ImportError {
        file: path.to_owned(),
        line,
        column: column.map(str::to_owned),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(data);
    let headers = reader
        .headers()
        .map_err(|e| vec![err(1, None, format!("cannot read the header row: {e}"))])?
        .clone();
    let mut errors = Vec::new();
    let mut index = std::collections::BTreeMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.to_ascii_lowercase();
        if !COLUMNS.contains(&h.as_str()) {
            errors.push(err(
                1,
                Some(&h),
                format!("unknown column; the columns are {}", COLUMNS.join(", ")),
            ));
        } else if index.insert(h.clone(), i).is_some() {
            errors.push(err(1, Some(&h), "the column appears twice".into()));
        }
    }
    for required in ["mailbox", "contact_point"] {
        if !index.contains_key(required) {
            errors.push(err(
                1,
                Some(required),
                "missing: the header row must name it".into(),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows: Vec<Row> = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(err(line, None, e.to_string()));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let field = |name: &str| {
            index
                .get(name)
                .and_then(|i| record.get(*i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let id = field("contact_point")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !is_guid(&id) {
            errors.push(err(
                line,
                Some("contact_point"),
                format!("{id:?} is not a contact point GUID (8-4-4-4-12 hexadecimal digits, from the portal)"),
            ));
        } else if let Some(first) = rows.iter().find(|r| r.id == id) {
            errors.push(err(
                line,
                Some("contact_point"),
                format!("contact point {id} is already on line {}", first.line),
            ));
        }
        let mailbox = field("mailbox").unwrap_or_default();
        if !mailboxes.contains(&mailbox) {
            errors.push(err(
                line,
                Some("mailbox"),
                format!("{mailbox:?} is not an existing mailbox {mailboxes:?}: fix the name, or add it to [ngdp] mailboxes first"),
            ));
        }
        let audiences = match field("audiences") {
            None => None,
            Some(text) => {
                let list: Vec<String> = text
                    .split([';', ' ', '|'])
                    .map(|a| a.trim().to_ascii_lowercase())
                    .filter(|a| !a.is_empty())
                    .collect();
                if let Some(bad) = list.iter().find(|a| !AUDIENCES.contains(&a.as_str())) {
                    errors.push(err(
                        line,
                        Some("audiences"),
                        format!("{bad:?} is not one of citizens, companies, authorities"),
                    ));
                }
                Some(list)
            }
        };
        let hidden = match field("hidden").map(|h| h.to_ascii_lowercase()) {
            None => None,
            Some(h) if h == "true" || h == "yes" || h == "1" => Some(true),
            Some(h) if h == "false" || h == "no" || h == "0" => Some(false),
            Some(h) => {
                errors.push(err(
                    line,
                    Some("hidden"),
                    format!("{h:?} is not true or false"),
                ));
                None
            }
        };
        let system = field("system").map(|s| s.to_ascii_lowercase());
        if let Some(s) = &system
            && !is_guid(s)
        {
            errors.push(err(
                line,
                Some("system"),
                format!("{s:?} is not a system id (a UUID)"),
            ));
        }
        rows.push(Row {
            line,
            mailbox,
            id,
            label: field("label"),
            audiences,
            hidden,
            system,
        });
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// A unified-style line diff of `before` and `after` (`-` removed, `+` added, two lines of
/// context), for `--dry-run`.
pub fn diff(name: &str, before: &str, after: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    // Longest common subsequence table; configuration files are small.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', b[j]));
            j += 1;
        } else {
            ops.push(('-', a[i]));
            i += 1;
        }
    }
    let near = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|(op, _)| *op != ' ')
    };
    let mut out = format!("--- {name}\n+++ {name} (after import)\n");
    let mut gap = false;
    for (k, (op, text)) in ops.iter().enumerate() {
        if near(k) {
            if gap {
                out.push_str("@@\n");
                gap = false;
            }
            out.push(*op);
            out.push_str(text);
            out.push('\n');
        } else {
            gap = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"# my settings
[ngdp]
mailboxes = ["standard", "post", "daycare"]   # from e-Boks

[[ngdp.test.systems]]
id = "7c4c7d2e-0b1a-4c5e-9f00-123456789abc"
protocol = "pull"

# the first contact point
[[ngdp.test.contact_points]]
id = "241d39f6-998e-4929-b198-ccacbbf4b330"
audiences = ["citizens"]
mailbox = "post"   # keep this comment

# trailing comment
"#;

    fn run(csv: &str) -> Result<Plan, Vec<ImportError>> {
        plan(
            Path::new("dpost.toml"),
            CONFIG,
            Path::new("map.csv"),
            csv.as_bytes(),
            "test",
        )
    }

    #[test]
    fn adds_and_updates_keeping_comments() {
        let p = run("mailbox,contact_point,label,audiences\n\
                     daycare,241D39F6-998E-4929-B198-CCACBBF4B330,,\n\
                     daycare,0d6b9a52-1c7e-4b1e-9d1f-6f0b5f1e2a3c,Dagtilbud,citizens;companies\n")
        .unwrap();
        assert_eq!(p.changes[0].action, "update");
        assert_eq!(p.changes[0].previous_mailbox.as_deref(), Some("post"));
        assert_eq!(p.changes[1].action, "add");
        for kept in [
            "# my settings",
            "# from e-Boks",
            "# the first contact point",
            "# trailing comment",
            "# keep this comment",
        ] {
            assert!(p.after.contains(kept), "{kept} lost:\n{}", p.after);
        }
        assert!(
            p.after
                .contains("mailbox = \"daycare\"   # keep this comment"),
            "{}",
            p.after
        );
        // The new entry follows the old one, before the trailing comment, and parses.
        let new_at = p.after.find("0d6b9a52").unwrap();
        assert!(
            new_at < p.after.find("# trailing comment").unwrap(),
            "{}",
            p.after
        );
        let parsed =
            crate::config::ConfigFile::parse("dpost.toml".into(), p.after.clone()).unwrap();
        let s = parsed.ngdp(Some("test")).unwrap();
        assert_eq!(s.contact_points.len(), 2);
        assert_eq!(s.contact_points[1].mailbox, "daycare");
        let d = diff("dpost.toml", &p.before, &p.after);
        assert!(
            d.contains("-mailbox = \"post\"   # keep this comment"),
            "{d}"
        );
        assert!(
            d.contains("+mailbox = \"daycare\"   # keep this comment"),
            "{d}"
        );
        assert!(
            d.contains("+id = \"0d6b9a52-1c7e-4b1e-9d1f-6f0b5f1e2a3c\""),
            "{d}"
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = run("mailbox,contact_point\npost,241d39f6-998e-4929-b198-ccacbbf4b330\nnursery,not-a-guid\n")
            .unwrap_err();
        let shown: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert!(shown.contains(&"map.csv:3: column contact_point: \"not-a-guid\" is not a contact point GUID (8-4-4-4-12 hexadecimal digits, from the portal)".to_owned()), "{shown:?}");
        assert!(
            shown
                .iter()
                .any(|s| s.starts_with("map.csv:3: column mailbox: \"nursery\"")),
            "{shown:?}"
        );
        let e = run("mailbox,guid\n").unwrap_err();
        assert!(
            e.iter().any(|x| x.column.as_deref() == Some("guid")),
            "{e:?}"
        );
        let e =
            run("mailbox,contact_point\npost,0d6b9a52-1c7e-4b1e-9d1f-6f0b5f1e2a3c\n").unwrap_err();
        assert_eq!(
            e[0].column.as_deref(),
            Some("audiences"),
            "a new contact point needs audiences"
        );
    }
}
