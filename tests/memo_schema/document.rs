//! A generated message as a tree, and its serialization with every element on a line of its
//! own, so the line of each element is known exactly (the validator must name it).

use std::fmt::Write as _;

/// The namespaces of a MeMo message, by the prefix the examples use.
pub const NAMESPACES: [(&str, &str); 8] = [
    ("memo", "https://DigitalPost.dk/MeMo-1"),
    ("grd", "https://data.gov.dk/model/core/"),
    ("kle", "http://kle-online.dk/"),
    ("form", "http://www.form-online.dk/"),
    ("dmv", "https://motorregister.skat.dk/"),
    ("sor", "https://services.nsi.dk/en/Services/SOR"),
    (
        "gln",
        "https://www.gs1.dk/gs1-standarder/identifikation/gln-global-location-number/",
    ),
    (
        "udd",
        "https://www.dst.dk/da/TilSalg/Forskningsservice/Dokumentation/hoejkvalitetsvariable/elevregister-2/udd#",
    ),
];

/// One element.
#[derive(Debug, Clone)]
pub struct Node {
    pub prefix: String,
    pub name: String,
    /// The schema path by local names, as the validator reports it.
    pub path: String,
    pub attributes: Vec<(String, String)>,
    /// Text content of a simple element (unescaped).
    pub text: Option<String>,
    pub children: Vec<Node>,
    /// The line of the start tag, set by `serialize`.
    pub line: u32,
}

impl Node {
    pub fn new(prefix: &str, name: &str, path: &str) -> Node {
        Node {
            prefix: prefix.to_string(),
            name: name.to_string(),
            path: path.to_string(),
            attributes: Vec::new(),
            text: None,
            children: Vec::new(),
            line: 0,
        }
    }

    /// The first node with `path`, depth first, with its index route from self.
    pub fn find(&self, path: &str) -> Option<Vec<usize>> {
        if self.path == path {
            return Some(Vec::new());
        }
        if !path.starts_with(&self.path) {
            return None;
        }
        for (i, c) in self.children.iter().enumerate() {
            if let Some(mut route) = c.find(path) {
                route.insert(0, i);
                return Some(route);
            }
        }
        None
    }

    pub fn at(&self, route: &[usize]) -> Option<&Node> {
        match route.split_first() {
            None => Some(self),
            Some((i, rest)) => self.children.get(*i)?.at(rest),
        }
    }

    pub fn at_mut(&mut self, route: &[usize]) -> Option<&mut Node> {
        match route.split_first() {
            None => Some(self),
            Some((i, rest)) => self.children.get_mut(*i)?.at_mut(rest),
        }
    }

    /// Every path present, depth first.
    pub fn paths(&self, out: &mut Vec<String>) {
        out.push(self.path.clone());
        for c in &self.children {
            c.paths(out);
        }
    }
}

/// How the MeMo namespace is written: with the examples' `memo:` prefix, or as the default
/// namespace (equally valid; a reader must not depend on prefixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoPrefix {
    Memo,
    Default,
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

fn qualified(node: &Node, style: MemoPrefix) -> String {
    if style == MemoPrefix::Default && node.prefix == "memo" {
        node.name.clone()
    } else {
        format!("{}:{}", node.prefix, node.name)
    }
}

/// The XML text of a message rooted at `root`; sets every node's `line`.
pub fn serialize(root: &mut Node, style: MemoPrefix) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut line = 2;
    let mut declarations = String::new();
    for (prefix, uri) in NAMESPACES {
        if prefix == "memo" && style == MemoPrefix::Default {
            let _ = write!(declarations, " xmlns=\"{uri}\"");
        } else {
            let _ = write!(declarations, " xmlns:{prefix}=\"{uri}\"");
        }
    }
    write_node(root, style, 0, &declarations, &mut line, &mut out);
    out
}

fn write_node(
    node: &mut Node,
    style: MemoPrefix,
    depth: usize,
    declarations: &str,
    line: &mut u32,
    out: &mut String,
) {
    node.line = *line;
    let name = qualified(node, style);
    out.push_str(&"\t".repeat(depth));
    out.push('<');
    out.push_str(&name);
    out.push_str(declarations);
    for (k, v) in &node.attributes {
        let _ = write!(out, " {k}=\"");
        escape(v, out);
        out.push('"');
    }
    out.push('>');
    if let Some(text) = &node.text {
        let mut escaped = String::new();
        escape(text, &mut escaped);
        *line += escaped.matches('\n').count() as u32;
        out.push_str(&escaped);
    } else {
        out.push('\n');
        *line += 1;
        for c in &mut node.children {
            write_node(c, style, depth + 1, "", line, out);
        }
        out.push_str(&"\t".repeat(depth));
    }
    let _ = writeln!(out, "</{name}>");
    *line += 1;
}
