//! The business receipt a receiving system owes NgDP for each message it takes: COMPLETED when
//! the message could be used, INVALID with the first reason when validation found errors.

use crate::memo::receipt::{Receipt, ReceiptStatus};
use crate::memo::{Problem, Severity};

/// Longest `errorMessage` sent; the problem texts are short, but a path can be long.
const MAX_ERROR_MESSAGE: usize = 1000;

/// The receipt for a message with these validation problems, stamped `time_stamp` (an XML
/// date-time in UTC, supplied by the caller because the core reads no clock).
pub fn for_message(
    message_uuid: &str,
    message_id: Option<&str>,
    transmission_id: Option<&str>,
    problems: &[Problem],
    time_stamp: &str,
) -> Receipt {
    let errors: Vec<&Problem> = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    let (status, error_code, error_message) = match errors.first() {
        None => (ReceiptStatus::Completed, None, None),
        Some(first) => {
            let mut message = format!(
                "{} at {} (line {}, column {}): {}",
                first.code, first.path, first.position.line, first.position.column, first.message
            );
            if errors.len() > 1 {
                message.push_str(&format!(" (and {} more errors)", errors.len() - 1));
            }
            if message.len() > MAX_ERROR_MESSAGE {
                let mut cut = MAX_ERROR_MESSAGE;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
            }
            (
                ReceiptStatus::Invalid,
                Some(first.code.to_string()),
                Some(message),
            )
        }
    };
    Receipt {
        transmission_id: transmission_id.map(str::to_owned),
        message_uuid: message_uuid.to_owned(),
        message_id: message_id.map(str::to_owned),
        error_code,
        error_message,
        time_stamp: time_stamp.to_owned(),
        receipt_status: status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_without_errors_invalid_with() {
        let ok = for_message("u", None, None, &[], "2025-01-01T00:00:00Z");
        assert_eq!(ok.receipt_status, ReceiptStatus::Completed);
        assert_eq!(ok.error_code, None);

        let bytes = include_bytes!("../../../tests/fixtures/memo/MeMo_v1.2_Minimum_Example.xml");
        let broken = String::from_utf8_lossy(bytes).replace("2211771212", "22117712");
        let problems = crate::memo::validate(broken.as_bytes());
        let r = for_message("u", Some("m"), Some("t"), &problems, "2025-01-01T00:00:00Z");
        assert_eq!(r.receipt_status, ReceiptStatus::Invalid);
        assert_eq!(r.error_code.as_deref(), Some("invalid-cpr"));
        assert!(
            r.error_message
                .as_deref()
                .unwrap_or("")
                .contains("/Message/MessageHeader/Recipient/recipientID"),
            "{r:?}"
        );
        assert_eq!(r.transmission_id.as_deref(), Some("t"));
    }
}
