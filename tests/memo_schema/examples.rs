//! The official examples (tests/fixtures/memo/) read against the table: every element path they
//! use must be in it, in the table's order. This checks the oracle itself (its paths and the
//! order the model could not give), not the validator.

/// One element as it occurs: its path and the index of its parent occurrence.
#[derive(Debug)]
pub struct Occurrence {
    pub path: String,
    /// The prefix as written (the examples use the table's prefixes), empty when none.
    pub prefix: String,
    pub parent: Option<usize>,
}

/// Every element of `xml` in document order. A scanner, not a parser: enough for the examples
/// (comments, declarations, attributes, no CDATA).
pub fn occurrences(xml: &str) -> Result<Vec<Occurrence>, String> {
    let mut out: Vec<Occurrence> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut rest = xml.trim_start_matches('\u{feff}');
    while let Some(start) = rest.find('<') {
        rest = rest.get(start..).unwrap_or_default();
        let skip_to = |rest: &str, end: &str| -> Result<usize, String> {
            rest.find(end)
                .map(|i| i + end.len())
                .ok_or_else(|| format!("no {end} after {:.40}", rest))
        };
        if rest.starts_with("<!--") {
            let n = skip_to(rest, "-->")?;
            rest = rest.get(n..).unwrap_or_default();
            continue;
        }
        if rest.starts_with("<?") {
            let n = skip_to(rest, "?>")?;
            rest = rest.get(n..).unwrap_or_default();
            continue;
        }
        let n = skip_to(rest, ">")?;
        let tag = rest.get(1..n.saturating_sub(1)).unwrap_or_default();
        rest = rest.get(n..).unwrap_or_default();
        if tag.starts_with('/') {
            open.pop();
            continue;
        }
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default();
        let (prefix, local) = name.split_once(':').unwrap_or(("", name));
        let parent = open.last().copied();
        let parent_path = parent
            .and_then(|p| out.get(p))
            .map(|o| o.path.as_str())
            .unwrap_or_default();
        out.push(Occurrence {
            path: format!("{parent_path}/{local}"),
            prefix: prefix.to_string(),
            parent,
        });
        if !tag.ends_with('/') {
            open.push(out.len().saturating_sub(1));
        }
    }
    Ok(out)
}
