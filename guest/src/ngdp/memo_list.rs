//! The list of messages waiting for a pull-mode system (`GET memos/?page=&size=`).
//!
//! NgDP's published material does not pin the list's JSON down, so the reader accepts the
//! shapes in use: `{"memos": [...]}` (also `content` or `items`) or a bare array, whose items
//! are ids or objects with `messageUUID`, `uuid` or `id`. Every id is checked before the host
//! puts it into a URL path.

/// Longest id accepted.
const MAX_ID: usize = 64;

/// Why a list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoListError {
    /// Not JSON.
    #[error("the message list is not JSON: {0}")]
    NotJson(String),
    /// JSON, but no list of messages in it.
    #[error("the message list has no array of messages (expected {{\"memos\": [...]}} or [...])")]
    NoList,
    /// An item that is not a usable id (shown).
    #[error("the message list holds an item that is not a message id: {0}")]
    BadItem(String),
}

fn usable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The ids in a list body.
pub fn parse_memo_list(body: &str) -> Result<Vec<String>, MemoListError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| MemoListError::NotJson(e.to_string()))?;
    let list = match &value {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => {
            match ["memos", "content", "items"].iter().find_map(|k| o.get(*k)) {
                Some(serde_json::Value::Array(a)) => a,
                _ => return Err(MemoListError::NoList),
            }
        }
        _ => return Err(MemoListError::NoList),
    };
    let shown = |v: &serde_json::Value| v.to_string().chars().take(80).collect::<String>();
    list.iter()
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
                _ => Err(MemoListError::BadItem(shown(item))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            parse_memo_list(r#"{"page":0,"memos":["a-1","b-2"]}"#).unwrap(),
            ["a-1", "b-2"]
        );
        assert_eq!(
            parse_memo_list(r#"[{"messageUUID":"x"},{"id":"y"}]"#).unwrap(),
            ["x", "y"]
        );
        assert_eq!(parse_memo_list("[]").unwrap(), Vec::<String>::new());
        assert_eq!(parse_memo_list("3"), Err(MemoListError::NoList));
        assert!(matches!(
            parse_memo_list("{"),
            Err(MemoListError::NotJson(_))
        ));
        assert!(matches!(
            parse_memo_list(r#"["../etc"]"#),
            Err(MemoListError::BadItem(_))
        ));
        assert!(matches!(
            parse_memo_list(r#"[7]"#),
            Err(MemoListError::BadItem(_))
        ));
    }
}
