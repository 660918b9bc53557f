//! The text-level parsers around Digipost signatures: canonical request and response strings,
//! HTTP dates, the 403 signature echo and one-time content links, on structured arbitrary
//! input (so that e.g. a valid date can be combined with any method or target).
#![no_main]

use arbitrary::Arbitrary;
use dpost_guest::digipost::content_token::{
    ContentLink, TokenRecord, build_link, is_well_formed, judge, make_token, parse_link,
};
use dpost_guest::digipost::signature_echo::server_canonical_from_error;
use dpost_guest::digipost::signing::{Request, canonical_request};
use dpost_guest::digipost::verification::{Response, canonical_response};
use dpost_guest::digipost::{Body, Header};
use dpost_guest::http_date;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Date {
    /// Any text.
    Text(String),
    /// A well-formed date, so that the checks after the date are reached.
    Unix(i64),
}

impl Date {
    fn text(&self) -> String {
        match self {
            Date::Text(s) => s.clone(),
            Date::Unix(t) => http_date::format(*t),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum FuzzBody {
    Bytes(Vec<u8>),
    Sha256Base64(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    method: String,
    target: String,
    date: Date,
    user_id: String,
    body: Option<FuzzBody>,
    status: u16,
    headers: Vec<(String, String)>,
    echo: String,
    link: String,
    document_id: i64,
    token: String,
    record: (i64, String, i64),
    now: i64,
    secret: String,
}

fuzz_target!(|input: Input| {
    let date = input.date.text();
    let body = input.body.as_ref().map(|b| match b {
        FuzzBody::Bytes(bytes) => Body::Bytes(bytes),
        FuzzBody::Sha256Base64(hash) => Body::Sha256Base64(hash),
    });
    let request = Request {
        method: &input.method,
        target: &input.target,
        date: &date,
        user_id: &input.user_id,
        body,
    };
    if let Ok(canonical) = canonical_request(&request) {
        assert!(canonical.ends_with('\n'));
        assert!(canonical.starts_with(&input.method.to_ascii_uppercase()));
    }

    let mut headers: Vec<Header> = input
        .headers
        .iter()
        .map(|(name, value)| Header::new(name.as_str(), value.as_str()))
        .collect();
    headers.push(Header::new("Date", date.as_str()));
    let response = Response {
        status: input.status,
        request_path: &input.target,
        headers: &headers,
        body,
    };
    let _ = canonical_response(&response);

    // HTTP dates: what parses formats back to itself (a leap second excepted: it is the next
    // minute's first second), and what is formatted parses back to the same instant.
    for text in [&input.date.text(), &input.user_id, &input.method] {
        if let Ok(t) = http_date::parse(text)
            && &text[23..25] != "60"
        {
            assert_eq!(&http_date::format(t), text, "date does not round-trip");
        }
    }
    if let Date::Unix(t) = input.date {
        const MIN: i64 = -62_167_219_200;
        const MAX: i64 = 253_402_300_799;
        let parsed = http_date::parse(&date).expect("a formatted date must parse");
        assert_eq!(
            parsed,
            t.clamp(MIN, MAX),
            "formatted date {date} parses differently"
        );
    }

    let _ = server_canonical_from_error(&input.echo);

    if let Ok(link) = parse_link(&input.link)
        && link.document_id >= 0
        && is_well_formed(&link.token)
    {
        let built = build_link("https://www.digipostdata.no", &link).expect("link must build");
        assert_eq!(
            parse_link(&built).as_ref(),
            Ok(&link),
            "link does not round-trip"
        );
    }
    let _ = build_link(
        &input.target,
        &ContentLink {
            document_id: input.document_id,
            token: input.token.clone(),
            download: input.status.is_multiple_of(2),
        },
    );

    let record = TokenRecord {
        document_id: input.record.0,
        token: input.record.1.clone(),
        created_at: input.record.2,
    };
    let _ = judge(input.document_id, &input.token, &record, input.now);
    if let Ok(token) = make_token(input.document_id, &input.secret, &input.token) {
        assert!(is_well_formed(&token));
    }
});
