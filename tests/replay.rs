//! A recording HTTP server on loopback that replays conformance fixtures
//! (`tests/conformance/<service>/*.json`), so that dpost's clients are tested against shapes
//! written from the published sources, never against dpost's own simulators.
//!
//! A fixture file is one exchange:
//!
//! ```json
//! {
//!   "source": "where the shape is published: document, section or line",
//!   "request": {
//!     "method": "GET",
//!     "path": "/apis/v1/receipts/",
//!     "query": {"page": "0", "size": "50"},
//!     "headers": {"accept": "application/json", "authorization": "Basic *"},
//!     "absent": ["transfer-encoding"],
//!     "body_json": {"receiptStatus": "*"}
//!   },
//!   "response": {
//!     "status": 200,
//!     "headers": {"content-type": "application/json"},
//!     "body_json": {"content": []}
//!   }
//! }
//! ```
//!
//! - `path` is the whole path the server sees; `query` (optional) must match the request's query
//!   parameters exactly (every one named, none more); leave it out to accept any query.
//! - `headers`: names in lower case; the value must be equal, or start with the text before a
//!   final `*` (`"Basic *"`), or be present with any value (`"*"`).
//! - `absent`: headers the request must not carry.
//! - `body_json`: the request body is JSON holding at least these members with these values
//!   (`"*"` stands for any value; arrays compare element by element); `body_text` an exact body.
//! - `response.body_json` or `response.body_text` is what the server answers; `headers` are sent
//!   as given.
//! - `request.example_body_json` (optional): a concrete body that conforms to `body_json`, for
//!   sending the fixture's request to a simulator (the pattern may hold `"*"`);
//!   `request.example_without_authorization` (optional, `true`): send that request without
//!   credentials (for a fixture of a 401). Neither is used by the replaying server.
//!
//! Requests are matched to the first unused exchange with the same method and path (and query
//! when given). A request no exchange matches is answered 501 with a text naming it, and
//! recorded, so a test sees it in [`Replay::mismatches`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

/// One fixture: the request dpost must send and the answer the service gives.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The file it was read from.
    pub file: PathBuf,
    /// The published source the fixture was written from.
    pub source: String,
    /// The request as the fixture describes it.
    pub request: Value,
    /// The answer as the fixture describes it.
    pub response: Value,
}

impl Exchange {
    /// Read one fixture file.
    pub fn load(path: &Path) -> Exchange {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("fixture {} is not JSON: {e}", path.display()));
        let field = |k: &str| {
            v.get(k)
                .cloned()
                .unwrap_or_else(|| panic!("fixture {} has no {k:?}", path.display()))
        };
        let source = field("source");
        assert!(
            source.as_str().is_some_and(|s| s.len() > 10),
            "fixture {} must name its published source",
            path.display()
        );
        Exchange {
            file: path.to_owned(),
            source: source.as_str().unwrap_or_default().to_owned(),
            request: field("request"),
            response: field("response"),
        }
    }

    /// A fixture by its name under `tests/conformance/` (e.g. `ngdp/receipts-list.json`).
    pub fn named(relative: &str) -> Exchange {
        Exchange::load(&conformance_dir().join(relative))
    }

    /// The request's method.
    pub fn method(&self) -> &str {
        self.request["method"].as_str().unwrap_or("GET")
    }

    /// The request's path.
    pub fn path(&self) -> &str {
        self.request["path"].as_str().unwrap_or("/")
    }

    /// The answer's status.
    pub fn status(&self) -> u16 {
        self.response["status"].as_u64().unwrap_or(200) as u16
    }

    /// The answer's body bytes (`body_json` serialised, or `body_text`, or empty).
    pub fn response_body(&self) -> Vec<u8> {
        if let Some(j) = self.response.get("body_json") {
            serde_json::to_vec(j).unwrap_or_default()
        } else if let Some(t) = self.response.get("body_text").and_then(Value::as_str) {
            t.as_bytes().to_vec()
        } else {
            Vec::new()
        }
    }

    /// The answer's headers, in the fixture's order.
    pub fn response_headers(&self) -> Vec<(String, String)> {
        self.response
            .get("headers")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether a request matches this exchange's method, path and (when given) query.
    pub fn addresses(&self, request: &Recorded) -> bool {
        if !request.method.eq_ignore_ascii_case(self.method()) || request.path != self.path() {
            return false;
        }
        match self.request.get("query").and_then(Value::as_object) {
            None => true,
            Some(q) => {
                let want: BTreeMap<String, String> = q
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect();
                want == request.query_map()
            }
        }
    }

    /// Every way `request` differs from what this fixture says dpost must send (empty when it
    /// conforms).
    pub fn check(&self, request: &Recorded) -> Vec<String> {
        let mut wrong = Vec::new();
        if let Some(h) = self.request.get("headers").and_then(Value::as_object) {
            for (name, want) in h {
                let want = want.as_str().unwrap_or_default();
                match request.header(name) {
                    None => wrong.push(format!("header {name} is missing (want {want:?})")),
                    Some(got) if !header_matches(want, got) => {
                        wrong.push(format!("header {name} is {got:?}, want {want:?}"))
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(a) = self.request.get("absent").and_then(Value::as_array) {
            for name in a.iter().filter_map(Value::as_str) {
                if let Some(got) = request.header(name) {
                    wrong.push(format!("header {name} must be absent, is {got:?}"));
                }
            }
        }
        if let Some(want) = self.request.get("body_json") {
            match serde_json::from_slice::<Value>(&request.body) {
                Err(e) => wrong.push(format!("the body is not JSON: {e}")),
                Ok(got) => json_contains(want, &got, "body", &mut wrong),
            }
        }
        if let Some(want) = self.request.get("body_text").and_then(Value::as_str)
            && request.body != want.as_bytes()
        {
            wrong.push(format!(
                "the body is {:?}, want {want:?}",
                String::from_utf8_lossy(&request.body)
            ));
        }
        wrong
            .into_iter()
            .map(|w| {
                format!(
                    "{} {} ({}): {w}",
                    self.method(),
                    self.path(),
                    self.file.display()
                )
            })
            .collect()
    }
}

fn header_matches(want: &str, got: &str) -> bool {
    match want.strip_suffix('*') {
        Some(prefix) => got.starts_with(prefix),
        None => want == got,
    }
}

/// `got` holds every member of `want` with the same value (`"*"`: any value).
fn json_contains(want: &Value, got: &Value, at: &str, wrong: &mut Vec<String>) {
    match (want, got) {
        (Value::String(s), _) if s == "*" => {}
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    None => wrong.push(format!("{at}.{k} is missing")),
                    Some(gv) => json_contains(wv, gv, &format!("{at}.{k}"), wrong),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                wrong.push(format!("{at} has {} items, want {}", g.len(), w.len()));
            }
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                json_contains(wv, gv, &format!("{at}[{i}]"), wrong);
            }
        }
        (w, g) if w == g => {}
        (w, g) => wrong.push(format!("{at} is {g}, want {w}")),
    }
}

/// `tests/conformance/`.
pub fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// Every fixture of one service (`ngdp`, `digipost`), sorted by file name.
pub fn fixtures(service: &str) -> Vec<Exchange> {
    let dir = conformance_dir().join(service);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files.iter().map(|p| Exchange::load(p)).collect()
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Upper-case method.
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The raw query, without `?` (empty when none).
    pub query: String,
    /// Headers, names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The query parameters, percent-decoded (the last of a repeated name wins).
    pub fn query_map(&self) -> BTreeMap<String, String> {
        url_pairs(&self.query)
    }
}

fn url_pairs(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', h, l]) => hex(*h).zip(hex(*l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How the server turns a matched exchange into the bytes it sends; the default sends the
/// fixture's answer as it is. Digipost tests use it to sign answers with the test server key.
pub type Responder =
    dyn Fn(&Recorded, &Exchange) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync;

struct State {
    script: Vec<(Exchange, bool)>,
    received: Vec<(Recorded, Option<usize>)>,
    responder: Option<Box<Responder>>,
}

/// A replaying server on `127.0.0.1`; it stops when dropped.
pub struct Replay {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bound address.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

impl Replay {
    /// Serve `script` (each exchange answered once, in the order requests find them).
    pub fn start(script: Vec<Exchange>) -> Replay {
        Replay::start_with(script, None)
    }

    /// Serve `script`, building each answer with `responder`.
    pub fn start_with(script: Vec<Exchange>, responder: Option<Box<Responder>>) -> Replay {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("binding 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let state = Arc::new(Mutex::new(State {
            script: script.into_iter().map(|e| (e, false)).collect(),
            received: Vec::new(),
            responder,
        }));
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let state = shared.clone();
            async move { answer(state, req).await }
        });
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Replay {
            base: format!("http://{addr}"),
            addr,
            state,
            _runtime: runtime,
        }
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every request received, in order.
    pub fn received(&self) -> Vec<Recorded> {
        self.locked()
            .received
            .iter()
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Every way the received requests differ from the fixtures: requests no fixture
    /// addressed, and the differences of those that one did.
    pub fn mismatches(&self) -> Vec<String> {
        let st = self.locked();
        let mut out = Vec::new();
        for (r, matched) in &st.received {
            match matched {
                None => out.push(format!(
                    "no fixture for {} {}{}{}",
                    r.method,
                    r.path,
                    if r.query.is_empty() { "" } else { "?" },
                    r.query
                )),
                Some(i) => out.extend(st.script[*i].0.check(r)),
            }
        }
        out
    }

    /// The exchanges no request used.
    pub fn unused(&self) -> Vec<String> {
        self.locked()
            .script
            .iter()
            .filter(|(_, used)| !used)
            .map(|(e, _)| format!("{} {} ({})", e.method(), e.path(), e.file.display()))
            .collect()
    }

    /// Panics, listing every problem, unless every request conformed (and, with `all_used`,
    /// every exchange was used).
    pub fn assert_conformed(&self, all_used: bool) {
        let mut problems = self.mismatches();
        if all_used {
            problems.extend(
                self.unused()
                    .into_iter()
                    .map(|u| format!("never requested: {u}")),
            );
        }
        assert!(
            problems.is_empty(),
            "the client did not speak the published protocol:\n{}",
            problems.join("\n")
        );
    }
}

async fn answer(state: Arc<Mutex<State>>, req: axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 256 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
    let found = st
        .script
        .iter()
        .position(|(e, used)| !used && e.addresses(&recorded));
    st.received.push((recorded.clone(), found));
    let Some(i) = found else {
        let text = format!(
            "no conformance fixture for {} {}",
            recorded.method, recorded.path
        );
        return (axum::http::StatusCode::NOT_IMPLEMENTED, text).into_response();
    };
    st.script[i].1 = true;
    let exchange = st.script[i].0.clone();
    let (status, headers, body) = match &st.responder {
        Some(r) => r(&recorded, &exchange),
        None => (
            exchange.status(),
            exchange.response_headers(),
            exchange.response_body(),
        ),
    };
    drop(st);
    let mut response = axum::response::Response::new(axum::body::Body::from(body));
    *response.status_mut() = axum::http::StatusCode::from_u16(status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(&v),
        ) {
            response.headers_mut().append(k, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_containment() {
        let mut wrong = Vec::new();
        json_contains(
            &serde_json::json!({"a": "*", "b": [1, {"c": 2}]}),
            &serde_json::json!({"a": null, "b": [1, {"c": 2, "d": 3}], "e": 1}),
            "body",
            &mut wrong,
        );
        assert!(wrong.is_empty(), "{wrong:?}");
        json_contains(
            &serde_json::json!({"a": 1, "b": [1]}),
            &serde_json::json!({"b": [2, 3]}),
            "body",
            &mut wrong,
        );
        assert_eq!(wrong.len(), 3, "{wrong:?}");
    }

    #[test]
    fn query_decoding() {
        assert_eq!(
            url_pairs("page=0&size=50&sort=a%2Cdesc&x"),
            BTreeMap::from([
                ("page".into(), "0".into()),
                ("size".into(), "50".into()),
                ("sort".into(), "a,desc".into()),
                ("x".into(), "".into()),
            ])
        );
        assert_eq!(decode("%zz%4"), "%zz%4");
    }
}
