//! What validation reports: one [`Problem`] per broken rule, located in the message.

use std::fmt;

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// NgDP would refuse the message, or the data cannot be trusted.
    Error,
    /// Unusual but tolerated: the message can still be processed.
    Warning,
}

/// A stable, machine-readable name for each rule. The strings from [`Code::as_str`] are part of
/// the contract with hosts and never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// The root `memoVersion` attribute is absent.
    MissingVersion,
    /// `memoVersion` is neither 1.1 nor 1.2.
    UnsupportedVersion,
    /// A required element is absent.
    MissingElement,
    /// An element appears after one that must follow it.
    OutOfOrder,
    /// An element appears more often than allowed.
    TooMany,
    /// An element in the MeMo namespace that MeMo does not define here (the schema is closed).
    UnknownElement,
    /// An element from another namespace that the schema does not allow here.
    ForeignElement,
    /// An attribute the schema does not define on this element.
    UnknownAttribute,
    /// A required attribute is absent (`memoSchVersion` in MeMo 1.1).
    MissingAttribute,
    /// An element that this MeMo version does not have.
    NotInVersion,
    /// Text where only elements belong.
    UnexpectedText,
    /// An element inside a simple value.
    UnexpectedChild,
    /// A value longer than allowed.
    TooLong,
    /// A value outside its enumeration.
    InvalidEnumeration,
    /// A value outside the known list, tolerated (warning).
    UnknownValue,
    /// Not an integer, or one larger than allowed.
    InvalidNumber,
    /// Not a UUID.
    InvalidUuid,
    /// A UUID that is not version 4 where MeMo requires one.
    NotUuidV4,
    /// Not an XML date-time.
    InvalidDateTime,
    /// A date-time that is not in UTC (does not end in `Z`).
    DateTimeNotUtc,
    /// Not an XML date.
    InvalidDate,
    /// Not `true`, `false`, `1` or `0`.
    InvalidBoolean,
    /// Not a two-letter language code.
    InvalidLanguage,
    /// A MIME type that is not `type/subtype`.
    InvalidMimeType,
    /// An empty filename, or one with a forbidden character.
    InvalidFilename,
    /// An Action URL that is not https (an `http:` URL in MeMo 1.1 is a warning).
    UrlNotHttps,
    /// File content that is not valid base64.
    InvalidBase64,
    /// A file with no content.
    EmptyFile,
    /// A NEMSMS without a non-empty notification.
    NemsmsNotificationRequired,
    /// A DIGITALPOST message without a body.
    BodyRequired,
    /// An idType CPR identifier that is not 10 digits.
    InvalidCpr,
    /// An idType CVR identifier that is not 8 digits.
    InvalidCvr,
    /// An Action with both a Reservation and an EntryPoint.
    ChoiceConflict,
    /// More problems than are reported one by one.
    TooManyProblems,
    /// The input is not well-formed XML, or not a MeMo message at all; nothing after this
    /// point was read.
    Unreadable,
}

impl Code {
    /// The stable code string, e.g. `missing-element`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::MissingVersion => "missing-version",
            Code::UnsupportedVersion => "unsupported-version",
            Code::MissingElement => "missing-element",
            Code::OutOfOrder => "out-of-order",
            Code::TooMany => "too-many",
            Code::UnknownElement => "unknown-element",
            Code::ForeignElement => "foreign-element",
            Code::UnknownAttribute => "unknown-attribute",
            Code::MissingAttribute => "missing-attribute",
            Code::NotInVersion => "not-in-version",
            Code::UnexpectedText => "unexpected-text",
            Code::UnexpectedChild => "unexpected-child",
            Code::TooLong => "too-long",
            Code::InvalidEnumeration => "invalid-enumeration",
            Code::UnknownValue => "unknown-value",
            Code::InvalidNumber => "invalid-number",
            Code::InvalidUuid => "invalid-uuid",
            Code::NotUuidV4 => "not-uuid-v4",
            Code::InvalidDateTime => "invalid-date-time",
            Code::DateTimeNotUtc => "date-time-not-utc",
            Code::InvalidDate => "invalid-date",
            Code::InvalidBoolean => "invalid-boolean",
            Code::InvalidLanguage => "invalid-language",
            Code::InvalidMimeType => "invalid-mime-type",
            Code::InvalidFilename => "invalid-filename",
            Code::UrlNotHttps => "url-not-https",
            Code::InvalidBase64 => "invalid-base64",
            Code::EmptyFile => "empty-file",
            Code::NemsmsNotificationRequired => "nemsms-notification-required",
            Code::BodyRequired => "body-required",
            Code::InvalidCpr => "invalid-cpr",
            Code::InvalidCvr => "invalid-cvr",
            Code::ChoiceConflict => "choice-conflict",
            Code::TooManyProblems => "too-many-problems",
            Code::Unreadable => "unreadable",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the input something is: 1-based line and column (in characters) of an element's `<`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// Line, counting from 1.
    pub line: u32,
    /// Column in characters, counting from 1.
    pub column: u32,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// Which rule.
    pub code: Code,
    /// The element's path by local names, e.g. `/Message/MessageHeader/Sender/label`.
    pub path: String,
    /// Where the element starts (for a missing element: where its parent starts).
    pub position: Position,
    /// What is wrong, for a person.
    pub message: String,
}

impl Problem {
    /// True for [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}: {severity} [{}] {}: {}",
            self.position.line, self.position.column, self.code, self.path, self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_place_rule_and_reason() {
        let p = Problem {
            severity: Severity::Error,
            code: Code::TooLong,
            path: "/Message/MessageHeader/label".into(),
            position: Position { line: 3, column: 5 },
            message: "300 characters; at most 256 allowed".into(),
        };
        assert_eq!(
            p.to_string(),
            "3:5: error [too-long] /Message/MessageHeader/label: 300 characters; at most 256 allowed"
        );
        assert!(p.is_error());
    }

    #[test]
    fn codes_are_distinct() {
        let all = [
            Code::MissingVersion,
            Code::UnsupportedVersion,
            Code::MissingElement,
            Code::OutOfOrder,
            Code::TooMany,
            Code::UnknownElement,
            Code::ForeignElement,
            Code::UnknownAttribute,
            Code::MissingAttribute,
            Code::NotInVersion,
            Code::UnexpectedText,
            Code::UnexpectedChild,
            Code::TooLong,
            Code::InvalidEnumeration,
            Code::UnknownValue,
            Code::InvalidNumber,
            Code::InvalidUuid,
            Code::NotUuidV4,
            Code::InvalidDateTime,
            Code::DateTimeNotUtc,
            Code::InvalidDate,
            Code::InvalidBoolean,
            Code::InvalidLanguage,
            Code::InvalidMimeType,
            Code::InvalidFilename,
            Code::UrlNotHttps,
            Code::InvalidBase64,
            Code::EmptyFile,
            Code::NemsmsNotificationRequired,
            Code::BodyRequired,
            Code::InvalidCpr,
            Code::InvalidCvr,
            Code::ChoiceConflict,
            Code::TooManyProblems,
            Code::Unreadable,
        ];
        let mut names: Vec<&str> = all.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
