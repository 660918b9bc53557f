//! The two endpoints a push-mode receiving system registers in the Administrativ Adgang
//! portal (set-up guide, "Create endpoints"), and recognising them on the way in.

/// The message endpoint: `<base>/api/MeMoV1/memos/?system-uuid=<systemid>`.
pub fn message_endpoint(base: &str, system_id: &str) -> String {
    format!(
        "{}/api/MeMoV1/memos/?system-uuid={}",
        base.trim_end_matches('/'),
        system_id
    )
}

/// The receipt endpoint: `<base>/api/MeMoV1/<systemid>/receipt`.
pub fn receipt_endpoint(base: &str, system_id: &str) -> String {
    format!(
        "{}/api/MeMoV1/{}/receipt",
        base.trim_end_matches('/'),
        system_id
    )
}

/// What a push request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A message for the system with this id.
    Message(String),
    /// A receipt for the system with this id.
    Receipt(String),
    /// Neither.
    Unknown,
}

/// Recognise a push request by its path and raw query, wherever the service is mounted (a
/// reverse proxy may put it under a prefix).
pub fn target(path: &str, query: &str) -> Target {
    let path = path.trim_end_matches('/');
    let Some(at) = path.find("/api/MeMoV1/") else {
        return Target::Unknown;
    };
    let rest = &path[at + "/api/MeMoV1/".len()..];
    if rest == "memos" {
        let id = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "system-uuid")
            .map(|(_, v)| v.to_owned());
        return match id {
            Some(id) if !id.is_empty() => Target::Message(id),
            _ => Target::Unknown,
        };
    }
    match rest.split_once('/') {
        Some((id, "receipt")) if !id.is_empty() => Target::Receipt(id.to_owned()),
        _ => Target::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0f6c8d3e-1111-4222-8333-444455556666";

    #[test]
    fn endpoints_round_trip() {
        let m = message_endpoint("https://dpost.example.org/", ID);
        assert_eq!(
            m,
            format!("https://dpost.example.org/api/MeMoV1/memos/?system-uuid={ID}")
        );
        let r = receipt_endpoint("https://dpost.example.org", ID);
        assert_eq!(
            r,
            format!("https://dpost.example.org/api/MeMoV1/{ID}/receipt")
        );
        assert_eq!(
            target("/api/MeMoV1/memos/", &format!("system-uuid={ID}")),
            Target::Message(ID.into())
        );
        assert_eq!(
            target("/prefix/api/MeMoV1/memos", &format!("a=1&system-uuid={ID}")),
            Target::Message(ID.into())
        );
        assert_eq!(
            target(&format!("/api/MeMoV1/{ID}/receipt"), ""),
            Target::Receipt(ID.into())
        );
        assert_eq!(target("/api/MeMoV1/memos/", ""), Target::Unknown);
        assert_eq!(target("/other", ""), Target::Unknown);
        assert_eq!(target("/api/MeMoV1//receipt", ""), Target::Unknown);
    }
}
