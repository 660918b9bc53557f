//! Digipost's answer to a bad signature: a 403 whose error message echoes the server's own
//! canonical string between `===START===` and `===SLUTT===` ("slutt" is Norwegian for end).
//! Putting it beside the client's string is the fastest way to find why a signature fails.

const START: &str = "===START===";
const END: &str = "===SLUTT===";

/// The server's canonical string from a 403 error body (XML or plain text), with XML character
/// references undone. `None` when the body holds no echo.
pub fn server_canonical_from_error(error_body: &str) -> Option<String> {
    let from = error_body.find(START)? + START.len();
    let len = error_body[from..].find(END)?;
    let raw = &error_body[from..from + len];
    let text = unescape_xml(raw);
    // The server writes the marker on a line of its own; that break is not part of the string.
    let text = text
        .strip_prefix("\r\n")
        .or_else(|| text.strip_prefix('\n'))
        .unwrap_or(&text);
    Some(text.to_owned())
}

/// Undo the XML escapes an error message may carry: the five predefined entities and numeric
/// character references. Anything else is left as it stands.
fn unescape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // Byte search: `;` is ASCII, so its index is a char boundary even in multi-byte text.
        let Some(semi) = rest.bytes().take(12).position(|b| b == b';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let decoded = match name {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| name.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_echo_out_of_an_xml_error() {
        let body = "<?xml version=\"1.0\"?><error><error-code>INVALID_SIGNATURE</error-code>\
            <error-message>Signature mismatch. Server string: ===START===\nGET\n/9999/inbox\ndate: x\nx-digipost-userid: 9999\na=1&amp;b=2\n===SLUTT===</error-message>\
            <error-type>CLIENT_TECHNICAL</error-type></error>";
        assert_eq!(
            server_canonical_from_error(body).unwrap(),
            "GET\n/9999/inbox\ndate: x\nx-digipost-userid: 9999\na=1&b=2\n"
        );
    }

    #[test]
    fn numeric_references_and_stray_ampersands() {
        assert_eq!(
            unescape_xml("a&#10;b&#xA;c & d &bogus; &#xZZ;"),
            "a\nb\nc & d &bogus; &#xZZ;"
        );
        assert_eq!(unescape_xml("&ææææææææææ;"), "&ææææææææææ;");
    }

    #[test]
    fn no_echo() {
        assert_eq!(server_canonical_from_error("<error/>"), None);
        assert_eq!(server_canonical_from_error("===START=== but no end"), None);
    }
}
