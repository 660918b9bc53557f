//! NgDP business receipts: the JSON a receiver sends back after taking a message, and the
//! JSON NgDP sends about messages this system sent.
//!
//! `{transmissionId, messageUUID, messageId, errorCode, errorMessage, timeStamp, receiptStatus}`
//! with `receiptStatus` one of `COMPLETED`, `RECEIVED`, `INVALID`, `NOT_ALLOWED`
//! (`docs/design.md`, "Danish Digital Post through NgDP"; NgDP OpenAPI document 1.68.0, schema
//! `Receipt`, as `docs/ngdp-wire.md` lists it).
//!
//! Two directions, two strictnesses. A receipt dpost builds ([`build`]) carries every field.
//! A receipt NgDP sends ([`read`]: pushed, pulled, or the answer to a send) is read leniently:
//! the OpenAPI document marks no property of `Receipt` required, and refusing a pushed receipt
//! makes NgDP send it again and again, so every field is optional there and what is missing or
//! odd becomes a warning stored beside it. Only a body that is not a JSON object is refused.

use serde::{Deserialize, Serialize};

use super::values::{DateTimeKind, date_time_kind, parse_uuid};

/// `receiptStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReceiptStatus {
    /// The message was taken and processed.
    Completed,
    /// The message was received.
    Received,
    /// The message was refused as invalid; `errorCode`/`errorMessage` say why.
    Invalid,
    /// The sender may not send this message.
    NotAllowed,
}

impl ReceiptStatus {
    /// The JSON value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptStatus::Completed => "COMPLETED",
            ReceiptStatus::Received => "RECEIVED",
            ReceiptStatus::Invalid => "INVALID",
            ReceiptStatus::NotAllowed => "NOT_ALLOWED",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Completed,
            Self::Received,
            Self::Invalid,
            Self::NotAllowed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A business receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// `transmissionId`: the id of the transmission the receipt is about.
    #[serde(rename = "transmissionId")]
    pub transmission_id: Option<String>,
    /// `messageUUID`: the MeMo's messageUUID.
    #[serde(rename = "messageUUID")]
    pub message_uuid: String,
    /// `messageId`: the MeMo's messageID, when it has one.
    #[serde(rename = "messageId")]
    pub message_id: Option<String>,
    /// `errorCode`, for INVALID and NOT_ALLOWED.
    #[serde(rename = "errorCode")]
    pub error_code: Option<String>,
    /// `errorMessage`, for INVALID and NOT_ALLOWED.
    #[serde(rename = "errorMessage")]
    pub error_message: Option<String>,
    /// `timeStamp`: an XML date-time with a zone, e.g. `2025-09-30T12:00:00Z`.
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    /// `receiptStatus`.
    #[serde(rename = "receiptStatus")]
    pub receipt_status: ReceiptStatus,
}

/// Why a receipt could not be built or read. Every variant names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not JSON at all.
    #[error("the receipt is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("the receipt is not a JSON object")]
    NotObject,
    /// A required field is absent or null.
    #[error("the receipt has no {0}")]
    Missing(&'static str),
    /// A field of the wrong JSON type.
    #[error("{field} must be {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A field with an unacceptable value.
    #[error("{field} {value:?} is not acceptable: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// Why not.
        reason: &'static str,
    },
}

fn check(r: &Receipt) -> Result<(), ReceiptError> {
    if parse_uuid(r.message_uuid.trim()).is_none() {
        return Err(ReceiptError::Invalid {
            field: "messageUUID",
            value: r.message_uuid.clone(),
            reason: "a UUID has 8-4-4-4-12 hexadecimal digits",
        });
    }
    if let Some(t) = &r.transmission_id
        && t.trim().is_empty()
    {
        return Err(ReceiptError::Invalid {
            field: "transmissionId",
            value: t.clone(),
            reason: "it is empty",
        });
    }
    if !matches!(
        date_time_kind(r.time_stamp.trim()),
        DateTimeKind::Utc | DateTimeKind::Offset
    ) {
        return Err(ReceiptError::Invalid {
            field: "timeStamp",
            value: r.time_stamp.clone(),
            reason: "a date-time with a zone is expected, e.g. 2025-09-30T12:00:00Z",
        });
    }
    let refused = matches!(
        r.receipt_status,
        ReceiptStatus::Invalid | ReceiptStatus::NotAllowed
    );
    if refused && r.error_code.as_deref().is_none_or(|c| c.trim().is_empty()) {
        return Err(ReceiptError::Missing(
            "errorCode (required when receiptStatus is INVALID or NOT_ALLOWED)",
        ));
    }
    Ok(())
}

/// Checks a receipt and renders its JSON.
pub fn build(receipt: &Receipt) -> Result<String, ReceiptError> {
    check(receipt)?;
    serde_json::to_string(receipt).map_err(|e| ReceiptError::NotJson(e.to_string()))
}

fn string_field(
    object: &serde_json::Map<String, serde_json::Value>,
    field: &'static str,
) -> Result<Option<String>, ReceiptError> {
    match object.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ReceiptError::WrongType {
            field,
            expected: "a string or null",
        }),
    }
}

/// Reads and checks a receipt's JSON.
pub fn parse(json: &str) -> Result<Receipt, ReceiptError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| ReceiptError::NotJson(e.to_string()))?;
    let object = value.as_object().ok_or(ReceiptError::NotObject)?;
    let required =
        |field: &'static str| string_field(object, field)?.ok_or(ReceiptError::Missing(field));
    let status = required("receiptStatus")?;
    let receipt_status = ReceiptStatus::parse(&status).ok_or(ReceiptError::Invalid {
        field: "receiptStatus",
        value: status.clone(),
        reason: "it must be COMPLETED, RECEIVED, INVALID or NOT_ALLOWED",
    })?;
    let receipt = Receipt {
        transmission_id: string_field(object, "transmissionId")?,
        message_uuid: required("messageUUID")?,
        message_id: string_field(object, "messageId")?,
        error_code: string_field(object, "errorCode")?,
        error_message: string_field(object, "errorMessage")?,
        time_stamp: required("timeStamp")?,
        receipt_status,
    };
    check(&receipt)?;
    Ok(receipt)
}

/// A receipt as NgDP sent it: every field optional, with what dpost found odd about it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceivedReceipt {
    /// `transmissionId`.
    pub transmission_id: Option<String>,
    /// `messageUUID`: links the receipt to a message dpost sent; without it the receipt is
    /// stored unlinked.
    pub message_uuid: Option<String>,
    /// `messageId`.
    pub message_id: Option<String>,
    /// `errorCode`.
    pub error_code: Option<String>,
    /// `errorMessage`.
    pub error_message: Option<String>,
    /// `timeStamp`, as sent (even when it is not a date-time; a warning says so).
    pub time_stamp: Option<String>,
    /// `receiptStatus`, when it is one of the four published values.
    pub receipt_status: Option<ReceiptStatus>,
    /// What is missing or odd, one sentence each, naming the field.
    pub warnings: Vec<String>,
}

/// Reads a receipt NgDP sent, leniently: refused only when it is not a JSON object.
pub fn read(json: &str) -> Result<ReceivedReceipt, ReceiptError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| ReceiptError::NotJson(e.to_string()))?;
    let object = value.as_object().ok_or(ReceiptError::NotObject)?;
    let mut warnings = Vec::new();
    let mut text = |field: &'static str| match string_field(object, field) {
        Ok(v) => v,
        Err(e) => {
            warnings.push(format!("{e}; it is ignored"));
            None
        }
    };
    let mut r = ReceivedReceipt {
        transmission_id: text("transmissionId"),
        message_uuid: text("messageUUID"),
        message_id: text("messageId"),
        error_code: text("errorCode"),
        error_message: text("errorMessage"),
        time_stamp: text("timeStamp"),
        receipt_status: None,
        warnings: Vec::new(),
    };
    let status = text("receiptStatus");
    match status
        .as_deref()
        .map(|s| (s, ReceiptStatus::parse(s.trim())))
    {
        None => warnings.push("the receipt has no receiptStatus".into()),
        Some((_, Some(s))) => r.receipt_status = Some(s),
        Some((s, None)) => warnings.push(format!(
            "receiptStatus {s:?} is none of COMPLETED, RECEIVED, INVALID, NOT_ALLOWED"
        )),
    }
    match r.message_uuid.as_deref().map(str::trim) {
        None | Some("") => warnings.push(
            "the receipt has no messageUUID, so it cannot be linked to a sent message".into(),
        ),
        Some(u) if parse_uuid(u).is_none() => {
            warnings.push(format!("messageUUID {u:?} is not a UUID"))
        }
        Some(_) => {}
    }
    match r.time_stamp.as_deref().map(str::trim) {
        None | Some("") => warnings.push("the receipt has no timeStamp".into()),
        Some(t) if !matches!(date_time_kind(t), DateTimeKind::Utc | DateTimeKind::Offset) => {
            warnings.push(format!("timeStamp {t:?} is not a date-time with a zone"))
        }
        Some(_) => {}
    }
    let refused = matches!(
        r.receipt_status,
        Some(ReceiptStatus::Invalid | ReceiptStatus::NotAllowed)
    );
    if refused && r.error_code.as_deref().is_none_or(|c| c.trim().is_empty()) {
        warnings.push("the receipt refuses the message but has no errorCode".into());
    }
    r.warnings = warnings;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_is_lenient_and_says_what_is_odd() {
        let full = read(&build(&sample()).unwrap()).unwrap();
        assert!(full.warnings.is_empty(), "{:?}", full.warnings);
        assert_eq!(full.receipt_status, Some(ReceiptStatus::Completed));

        let bare = read(r#"{"receiptStatus":"INVALID"}"#).unwrap();
        assert_eq!(bare.receipt_status, Some(ReceiptStatus::Invalid));
        assert_eq!(bare.time_stamp, None);
        let said = bare.warnings.join(" | ");
        assert!(said.contains("no messageUUID"), "{said}");
        assert!(said.contains("no timeStamp"), "{said}");
        assert!(said.contains("no errorCode"), "{said}");

        let odd = read(r#"{"messageUUID":5,"receiptStatus":"LOST","timeStamp":"soon"}"#).unwrap();
        assert_eq!(odd.message_uuid, None);
        assert_eq!(odd.receipt_status, None);
        assert_eq!(odd.time_stamp.as_deref(), Some("soon"));
        assert_eq!(odd.warnings.len(), 4, "{:?}", odd.warnings);

        assert_eq!(read("{}").unwrap().warnings.len(), 3);
        assert_eq!(read("[1]"), Err(ReceiptError::NotObject));
        assert!(matches!(read("{"), Err(ReceiptError::NotJson(_))));
    }

    fn sample() -> Receipt {
        Receipt {
            transmission_id: Some("3d9b7c1e-0f5a-4c4e-9d7e-2b8a1f6c5e4d".into()),
            message_uuid: "8c2ea15d-61fb-4ba9-9366-42f8b194c114".into(),
            message_id: Some("MSG-12345".into()),
            error_code: None,
            error_message: None,
            time_stamp: "2025-09-30T12:00:00Z".into(),
            receipt_status: ReceiptStatus::Completed,
        }
    }

    #[test]
    fn builds_and_parses_back() {
        let json = build(&sample()).unwrap();
        assert!(json.contains("\"receiptStatus\":\"COMPLETED\""));
        assert!(json.contains("\"messageUUID\":\"8c2ea15d"));
        assert!(json.contains("\"errorCode\":null"));
        assert_eq!(parse(&json).unwrap(), sample());
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(parse("[1]"), Err(ReceiptError::NotObject));
        assert!(matches!(parse("{"), Err(ReceiptError::NotJson(_))));
        let base = build(&sample()).unwrap();
        let with = |from: &str, to: &str| parse(&base.replace(from, to));
        assert_eq!(
            with("\"COMPLETED\"", "\"DONE\"").unwrap_err().to_string(),
            "receiptStatus \"DONE\" is not acceptable: it must be COMPLETED, RECEIVED, INVALID or NOT_ALLOWED"
        );
        assert_eq!(
            with("\"messageUUID\"", "\"x\"").unwrap_err(),
            ReceiptError::Missing("messageUUID")
        );
        assert!(matches!(
            with("\"MSG-12345\"", "5"),
            Err(ReceiptError::WrongType {
                field: "messageId",
                ..
            })
        ));
        assert!(matches!(
            with("2025-09-30T12:00:00Z", "yesterday"),
            Err(ReceiptError::Invalid {
                field: "timeStamp",
                ..
            })
        ));
        let mut invalid = sample();
        invalid.receipt_status = ReceiptStatus::Invalid;
        assert!(matches!(build(&invalid), Err(ReceiptError::Missing(_))));
        invalid.error_code = Some("MEMO_INVALID".into());
        assert!(build(&invalid).is_ok());
    }
}
