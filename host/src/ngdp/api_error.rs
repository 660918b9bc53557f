//! NgDP's error answers as a person reads them: the component reads the body as NgDP's
//! `ErrorMessage` (`{code, message, fieldErrors}`, NgDP OpenAPI document 1.68.0;
//! `docs/ngdp-wire.md`) and renders one line with the code, the message and each field error;
//! a plain body (401 and 403 are documented without one for some operations) is shown
//! shortened. The same line goes to the CLI, the logs and any stored failure reason.

use crate::bindings::memo_wit;
use crate::runtime::pool::InstancePool;

/// Longest plain body shown when even the component cannot be asked.
const FALLBACK_CHARS: usize = 300;

/// A refused call: the line for a person, and the `ErrorMessage`'s code and message when the
/// body was one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `HTTP 400: CODE: message; field ...`, or `HTTP 401: <body, shortened>`.
    pub text: String,
    /// `ErrorMessage.code`.
    pub code: Option<String>,
    /// `ErrorMessage.message`.
    pub message: Option<String>,
}

impl Refusal {
    /// Whether NgDP says it has the message already. NgDP documents no answer for a
    /// messageUUID it already has (no 409 in SendMemo) and publishes no error codes, so this
    /// is a guess from the words of a 400 `ErrorMessage`: its code or message speaks of a
    /// duplicate, or of something that exists already (`docs/ngdp-wire.md`, "Not known").
    pub fn says_duplicate(&self) -> bool {
        [self.code.as_deref(), self.message.as_deref()]
            .into_iter()
            .flatten()
            .map(str::to_ascii_lowercase)
            .any(|t| t.contains("duplicat") || t.contains("already") || t.contains("exists"))
    }
}

/// Read an answer with `status` and `body` that is not a success.
pub fn read(pool: &InstancePool, status: u16, body: &str) -> Refusal {
    let read =
        pool.with(|i| i.call(|b, s| b.dpost_protocol_ngdp().call_explain_error(s, status, body)));
    match read {
        Ok(Ok(e)) => Refusal {
            text: e.text,
            code: e.error_message.as_ref().and_then(|m| m.code.clone()),
            message: e.error_message.and_then(|m| m.message),
        },
        // A broken instance must not hide NgDP's answer.
        Ok(Err(_)) | Err(_) => {
            let plain: String = body
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(FALLBACK_CHARS)
                .collect();
            Refusal {
                text: format!("HTTP {status}: {}", plain.trim()),
                code: None,
                message: None,
            }
        }
    }
}

/// The line for an answer with `status` and `body` that is not a success.
pub fn explain(pool: &InstancePool, status: u16, body: &str) -> String {
    read(pool, status, body).text
}

/// The component's reason for refusing to read a receipt, for a person.
pub fn receipt_error(e: &memo_wit::ReceiptError) -> String {
    match e {
        memo_wit::ReceiptError::NotJson(m) => format!("not JSON: {m}"),
        memo_wit::ReceiptError::NotObject => "not a JSON object".to_owned(),
        memo_wit::ReceiptError::Missing(field) => format!("{field} is missing"),
        memo_wit::ReceiptError::WrongType(w) => format!("{} must be {}", w.field, w.expected),
        memo_wit::ReceiptError::Invalid(f) => {
            format!("{} {:?} is not acceptable: {}", f.field, f.value, f.reason)
        }
    }
}
