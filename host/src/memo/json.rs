//! JSON for scripts. The contract's enums serialize under their Rust names (`InvalidCpr`);
//! scripts get the WIT names (`invalid-cpr`), which are the stable codes the contract documents.

use serde_json::{Value, json};

use crate::bindings::memo_wit as wit;

/// The WIT name of a unit enum value, from its Rust name: `NotUuidV4` → `not-uuid-v4`.
pub fn wit_name(value: &impl std::fmt::Debug) -> String {
    // Generated enums print as `ProblemCode::InvalidCpr`.
    let debug = format!("{value:?}");
    let rust = debug.rsplit("::").next().unwrap_or(&debug);
    let mut out = String::with_capacity(rust.len() + 4);
    for (i, c) in rust.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// One validation problem.
pub fn problem(p: &wit::Problem) -> Value {
    json!({
        "severity": wit_name(&p.severity), "code": wit_name(&p.code), "path": p.path,
        "line": p.line, "column": p.column, "message": p.message,
    })
}

/// Every problem.
pub fn problems(ps: &[wit::Problem]) -> Value {
    Value::Array(ps.iter().map(problem).collect())
}

/// The header, with the version and type written as in the message (`1.2`, `DIGITALPOST`).
pub fn header(h: &wit::Header) -> Value {
    let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
    v["memo_version"] = json!(match h.memo_version {
        wit::MemoVersion::V11 => "1.1",
        wit::MemoVersion::V12 => "1.2",
    });
    v["message_type"] = json!(match h.message_type {
        wit::MessageType::Digitalpost => "DIGITALPOST",
        wit::MessageType::Nemsms => "NEMSMS",
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(wit_name(&wit::ProblemCode::NotUuidV4), "not-uuid-v4");
        assert_eq!(wit_name(&wit::ProblemCode::InvalidCpr), "invalid-cpr");
        assert_eq!(wit_name(&wit::Severity::Error), "error");
        assert_eq!(wit_name(&wit::DocumentKind::Main), "main");
    }
}
