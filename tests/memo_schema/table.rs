//! The oracle's schema table: `elements.tsv`, derived from the MeMo 1.1 schema model (see
//! README.md here), parsed into rows the generator walks. Rows are in document order: a
//! depth-first walk of the schema with each parent's children in sequence order.

/// The MeMo version a message declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1_1,
    V1_2,
}

impl Version {
    pub const ALL: [Version; 2] = [Version::V1_1, Version::V1_2];

    pub fn attribute(self) -> &'static str {
        match self {
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }
}

/// The value space of an element, as far as the generator needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Complex,
    String,
    /// The model's UUID v4 pattern.
    Uuid,
    /// The model's `.+Z` pattern (a UTC date-time).
    DateTime,
    /// xs:date.
    Date,
    Boolean,
    /// An integer with the model's `max_inclusive`.
    Integer,
    /// base64Binary.
    Base64,
    /// An enumeration (the dataTypes namespace's MemoMessageType).
    Enumeration(Vec<String>),
}

/// One element path.
#[derive(Debug, Clone)]
pub struct Element {
    pub path: String,
    /// The namespace prefix the messages use (memo, grd, kle, form, dmv, sor, gln, udd).
    pub prefix: String,
    /// Minimum occurrences in 1.1; `None` when the element does not exist in 1.1.
    pub min_1_1: Option<u32>,
    pub min_1_2: u32,
    /// `None` for unbounded.
    pub max: Option<u32>,
    pub kind: Kind,
    pub max_length: Option<usize>,
    pub max_inclusive: Option<u64>,
    /// From the model (`true`) or only from the 1.2 example (`false`): facets are tested only
    /// where the model states them.
    pub from_model: bool,
}

impl Element {
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }

    pub fn parent(&self) -> &str {
        self.path
            .rsplit_once('/')
            .map(|(p, _)| p)
            .unwrap_or_default()
    }

    pub fn exists_in(&self, version: Version) -> bool {
        version == Version::V1_2 || self.min_1_1.is_some()
    }

    pub fn min(&self, version: Version) -> u32 {
        match version {
            Version::V1_1 => self.min_1_1.unwrap_or(0),
            Version::V1_2 => self.min_1_2,
        }
    }
}

/// Every element path, in document order.
pub struct Table {
    pub elements: Vec<Element>,
}

/// The committed table.
pub const ELEMENTS_TSV: &str = include_str!("elements.tsv");

impl Table {
    pub fn committed() -> Result<Table, String> {
        Table::parse(ELEMENTS_TSV)
    }

    pub fn parse(text: &str) -> Result<Table, String> {
        let mut elements = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let [
                path,
                prefix,
                min_1_1,
                min_1_2,
                max,
                kind,
                max_length,
                max_inclusive,
                _since,
                source,
            ] = f.as_slice()
            else {
                return Err(format!(
                    "elements.tsv:{}: {} fields, want 10",
                    n + 1,
                    f.len()
                ));
            };
            let number = |s: &str| -> Result<Option<u64>, String> {
                if s.is_empty() || *s == *"-" || s == "unbounded" {
                    Ok(None)
                } else {
                    s.parse()
                        .map(Some)
                        .map_err(|e| format!("elements.tsv:{}: {s}: {e}", n + 1))
                }
            };
            let kind = match *kind {
                "complex" => Kind::Complex,
                "string" => Kind::String,
                "uuid" => Kind::Uuid,
                "datetime" => Kind::DateTime,
                "date" => Kind::Date,
                "boolean" => Kind::Boolean,
                "integer" => Kind::Integer,
                "base64" => Kind::Base64,
                other => match other.strip_prefix("enum:") {
                    Some(values) => {
                        Kind::Enumeration(values.split('|').map(String::from).collect())
                    }
                    None => return Err(format!("elements.tsv:{}: kind {other}", n + 1)),
                },
            };
            elements.push(Element {
                path: path.to_string(),
                prefix: prefix.to_string(),
                min_1_1: number(min_1_1)?.map(|v| v as u32),
                min_1_2: number(min_1_2)?.unwrap_or(0) as u32,
                max: number(max)?.map(|v| v as u32),
                kind,
                max_length: number(max_length)?.map(|v| v as usize),
                max_inclusive: number(max_inclusive)?,
                from_model: *source == "model",
            });
        }
        Ok(Table { elements })
    }

    pub fn get(&self, path: &str) -> Option<&Element> {
        self.elements.iter().find(|e| e.path == path)
    }

    /// The children of `path`, in sequence order.
    pub fn children<'t>(&'t self, path: &'t str) -> impl Iterator<Item = &'t Element> + 't {
        self.elements.iter().filter(move |e| e.parent() == path)
    }
}
