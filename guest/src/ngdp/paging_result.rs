//! NgDP's `PagingResultUUID`: one page of ids, the answer of `GET memos/` (ListAvailableMemos,
//! the messages waiting for a pull system) and of `GET receipts/` (ListAvailableReceipts, the
//! receipts waiting for a system).
//!
//! Published shape (NgDP OpenAPI document 1.68.0, schema `PagingResultUUID`;
//! `docs/ngdp-wire.md`): `{"content": ["<uuid>", ...], "number", "size", "previous", "next",
//! "totalElements", "totalPages"}`, where `previous`/`next` are `PagingArguments {page, size,
//! ordering}`. No member is marked required, so the reader also takes the shapes dpost read
//! before the document was known (`memos`, `items`, a bare array, items that are objects with
//! `messageUUID`/`uuid`/`id`). Every id is checked before the host puts it into a URL path.

/// Longest id accepted.
const MAX_ID: usize = 64;

/// Why a list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// Not JSON.
    #[error("the list is not JSON: {0}")]
    NotJson(String),
    /// JSON, but no list in it.
    #[error("the list has no array of ids (expected {{\"content\": [...], ...}})")]
    NoList,
    /// An item that is not a usable id (shown).
    #[error("the list holds an item that is not an id: {0}")]
    BadItem(String),
}

/// One page of ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdPage {
    /// The ids, in the order listed.
    pub ids: Vec<String>,
    /// `number`: this page's zero-based number, when given.
    pub number: Option<u32>,
    /// `totalPages`, when given.
    pub total_pages: Option<u32>,
    /// `next.page`, when the answer names a next page.
    pub next_page: Option<u32>,
}

/// Whether `id` may go into a URL path as it is.
pub fn usable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A JSON number that fits a page number, else `None`.
pub(crate) fn small_number(v: Option<&serde_json::Value>) -> Option<u32> {
    v.and_then(serde_json::Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// The page in a list body.
pub fn parse(body: &str) -> Result<IdPage, ListError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| ListError::NotJson(e.to_string()))?;
    let mut page = IdPage::default();
    let list = match &value {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => {
            page.number = small_number(o.get("number"));
            page.total_pages = small_number(o.get("totalPages"));
            page.next_page = small_number(o.get("next").and_then(|n| n.get("page")));
            match ["content", "memos", "items"].iter().find_map(|k| o.get(*k)) {
                Some(serde_json::Value::Array(a)) => a,
                // An empty page may leave `content` out or null.
                None | Some(serde_json::Value::Null) if page.total_pages.is_some() => {
                    return Ok(page);
                }
                _ => return Err(ListError::NoList),
            }
        }
        _ => return Err(ListError::NoList),
    };
    let shown = |v: &serde_json::Value| v.to_string().chars().take(80).collect::<String>();
    page.ids = list
        .iter()
        .map(|item| {
            let id = match item {
                serde_json::Value::String(s) => Some(s.as_str()),
                serde_json::Value::Object(o) => ["messageUUID", "uuid", "id"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(|v| v.as_str())),
                _ => None,
            };
            match id {
                Some(id) if usable(id) => Ok(id.to_owned()),
                _ => Err(ListError::BadItem(shown(item))),
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_shape() {
        let body = r#"{"content":["3f0b1a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"],"number":0,"size":50,
            "previous":null,"next":{"page":1,"size":50,"ordering":[]},
            "totalElements":51,"totalPages":2}"#;
        let page = parse(body).unwrap();
        assert_eq!(page.ids, ["3f0b1a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"]);
        assert_eq!(page.number, Some(0));
        assert_eq!(page.total_pages, Some(2));
        assert_eq!(page.next_page, Some(1));
        let empty =
            parse(r#"{"content":[],"number":0,"size":50,"totalElements":0,"totalPages":0}"#)
                .unwrap();
        assert!(empty.ids.is_empty());
        assert_eq!(empty.total_pages, Some(0));
    }

    #[test]
    fn other_shapes_are_tolerated() {
        assert_eq!(
            parse(r#"{"page":0,"memos":["a-1","b-2"]}"#).unwrap().ids,
            ["a-1", "b-2"]
        );
        assert_eq!(
            parse(r#"[{"messageUUID":"x"},{"id":"y"}]"#).unwrap().ids,
            ["x", "y"]
        );
        assert_eq!(parse("[]").unwrap().ids, Vec::<String>::new());
        assert_eq!(parse("3"), Err(ListError::NoList));
        assert_eq!(parse(r#"{"receipts":[]}"#), Err(ListError::NoList));
        assert!(matches!(parse("{"), Err(ListError::NotJson(_))));
        assert!(matches!(parse(r#"["../etc"]"#), Err(ListError::BadItem(_))));
        assert!(matches!(parse(r#"[7]"#), Err(ListError::BadItem(_))));
    }
}
