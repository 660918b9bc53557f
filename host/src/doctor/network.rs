//! Step 2: Internet access. NgDP's API must resolve, accept a TCP connection and complete a TLS
//! handshake with the system's function certificate (mutual TLS); the certificate's own
//! revocation and issuer addresses (CRL distribution points, OCSP, CA issuers) must be
//! reachable; `dpost serve` must be able to listen where it is told; and for push systems the
//! public base URL must answer. Every probe has a short time limit and they run concurrently,
//! so a blocked port costs seconds, not minutes.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::certificate::CertificateChecks;
use super::{Check, Options, Step, environment_table};
use crate::config::ConfigFile;
use crate::config::ngdp::{DEFAULT_LISTEN, Protocol};
use crate::ngdp::client::extra_roots;

type Probe = Pin<Box<dyn Future<Output = Vec<Check>> + Send>>;

const STEP: Step = Step::Network;

/// Run the network probes for `options.environment`.
pub async fn check(file: &ConfigFile, options: &Options, certs: &CertificateChecks) -> Vec<Check> {
    let env = &options.environment;
    let table = environment_table(file, env);
    let timeout = options.timeout;
    let api_base = crate::config::ngdp::api_base(table.api_base.as_deref(), env);
    let api_ca = table.api_ca_file.as_ref().map(|p| file.resolve_path(p));
    let mut probes: Vec<Probe> = Vec::new();

    // NgDP's API: DNS, then TCP, then TLS per system (each step only when the one before
    // worked, so one blocked port reads as one problem).
    {
        let identities: Vec<(String, Option<String>)> = if certs.inspected.is_empty() {
            vec![(String::new(), None)]
        } else {
            certs
                .inspected
                .iter()
                .map(|i| (i.system.clone(), i.identity_pem.clone()))
                .collect()
        };
        probes.push(Box::pin(api_chain(api_base, api_ca, identities, timeout)));
    }

    // The certificate's revocation and issuer addresses, each once.
    let mut urls: Vec<(String, &'static str, String)> = Vec::new();
    for i in &certs.inspected {
        for (list, what) in [
            (&i.crl, "CRL"),
            (&i.ocsp, "OCSP"),
            (&i.ca_issuers, "CA issuer"),
        ] {
            for u in list {
                if !urls.iter().any(|(x, _, _)| x == u) {
                    urls.push((u.clone(), what, i.system.clone()));
                }
            }
        }
        if i.crl.is_empty() && i.ocsp.is_empty() {
            probes.push(Box::pin(std::future::ready(vec![Check::ok(
                STEP,
                "revocation endpoints",
                &i.system,
                "the certificate names no CRL or OCSP address to reach",
            )])));
        }
    }
    for (url, what, system) in urls {
        probes.push(Box::pin(async move {
            vec![reach_endpoint(&url, what, &system, timeout).await]
        }));
    }

    let has_push = table.systems.iter().any(|s| s.protocol == Protocol::Push);
    if has_push {
        let listen = file
            .config
            .serve
            .listen
            .clone()
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let loc = {
            let e = file.error("serve", "listen", "");
            format!(
                "{}{} (serve.listen)",
                e.file.display(),
                e.line.map(|l| format!(":{l}")).unwrap_or_default()
            )
        };
        probes.push(Box::pin(async move {
            vec![bindable(&listen, timeout, &loc).await]
        }));
    }

    let configured = file.config.serve.public_url.clone();
    match (&options.public_url, has_push) {
        (Some(url), _) => {
            let url = url.clone();
            probes.push(Box::pin(async move { vec![public_healthz(&url, timeout).await] }));
        }
        (None, true) => probes.push(Box::pin(std::future::ready(vec![match configured {
            Some(u) => Check::ok(
                STEP,
                "public URL",
                &u,
                format!("configured as [serve] public_url; not probed (give --public-url {u} to check it answers)"),
            ),
            None => Check::warning(
                STEP,
                "public URL",
                "",
                "push systems need a public HTTPS base URL for NgDP to push to, and none is configured",
                "put dpost serve behind a public HTTPS address, set [serve] public_url, register the endpoints `dpost portal values` prints, and run dpost doctor --public-url URL",
            ),
        }]))),
        (None, false) => {}
    }

    futures_util::future::join_all(probes)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// DNS, TCP and TLS towards NgDP's API.
async fn api_chain(
    api_base: String,
    api_ca: Option<std::path::PathBuf>,
    identities: Vec<(String, Option<String>)>,
    timeout: Duration,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let url = match reqwest::Url::parse(&api_base) {
        Ok(u) => u,
        Err(e) => {
            checks.push(Check::failed(
                STEP,
                "NgDP API address",
                &api_base,
                format!("not a URL: {e}"),
                "fix api_base, or remove it to use the environment's official address",
            ));
            return checks;
        }
    };
    let (Some(host), Some(port)) = (
        url.host_str().map(str::to_owned),
        url.port_or_known_default(),
    ) else {
        checks.push(Check::failed(
            STEP,
            "NgDP API address",
            &api_base,
            "the URL names no host",
            "fix api_base, or remove it to use the environment's official address",
        ));
        return checks;
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let target = format!("{host}:{port}");
    // DNS.
    let addrs: Vec<std::net::SocketAddr> = match tokio::time::timeout(
        timeout,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            checks.push(Check::failed(
                    STEP,
                    "DNS",
                    &host,
                    format!("cannot resolve: {e}"),
                    "check the host name in api_base and that this server can resolve Internet names (DNS server, proxy settings)",
                ));
            return checks;
        }
        Err(_) => {
            checks.push(Check::failed(
                STEP,
                "DNS",
                &host,
                format!("no answer within {}", secs(timeout)),
                "check this server's DNS servers: NgDP's host names must resolve",
            ));
            return checks;
        }
    };
    if addrs.is_empty() {
        checks.push(Check::failed(
            STEP,
            "DNS",
            &host,
            "resolves to no address",
            "check the host name in api_base",
        ));
        return checks;
    }
    checks.push(Check::ok(
        STEP,
        "DNS",
        &host,
        format!(
            "resolves to {}",
            addrs
                .iter()
                .map(|a| a.ip().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    // TCP: the first address that answers.
    let mut last = String::new();
    let mut connected = None;
    for a in &addrs {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(a)).await {
            Ok(Ok(_)) => {
                connected = Some(*a);
                break;
            }
            Ok(Err(e)) => last = format!("{a}: {e}"),
            Err(_) => last = format!("{a}: no answer within {}", secs(timeout)),
        }
    }
    match connected {
        Some(a) => checks.push(Check::ok(
            STEP,
            "TCP connection",
            &target,
            format!("connected to {a}"),
        )),
        None => {
            checks.push(Check::failed(
                STEP,
                "TCP connection",
                &target,
                format!("cannot connect ({last})"),
                format!("open outbound TCP port {port} from this server to {host} in the firewall (and any proxy); the guide's \"Ensure Internet access\" step"),
            ));
            return checks;
        }
    }
    // TLS.
    if url.scheme() != "https" {
        checks.push(Check::warning(
            STEP,
            "TLS handshake",
            &api_base,
            "api_base is plain HTTP: right only for a simulator",
            "NgDP's API is HTTPS: remove api_base to use the official address, or give the https:// one",
        ));
        return checks;
    }
    let roots = match &api_ca {
        Some(p) => match extra_roots(p) {
            Ok(r) => r,
            Err(e) => {
                checks.push(Check::failed(
                    STEP,
                    "TLS handshake",
                    &api_base,
                    crate::error_text::of(&e),
                    "fix api_ca_file (PEM CA certificates), or remove it: NgDP itself needs none",
                ));
                return checks;
            }
        },
        None => Vec::new(),
    };
    for (system, identity) in identities {
        checks.push(tls_probe(&api_base, &roots, &system, identity.as_deref(), timeout).await);
    }
    checks
}

async fn tls_probe(
    api_base: &str,
    roots: &[reqwest::Certificate],
    system: &str,
    identity: Option<&str>,
    timeout: Duration,
) -> Check {
    let name = if identity.is_some() {
        "mutual TLS"
    } else {
        "TLS handshake"
    };
    let subject = if system.is_empty() {
        api_base.to_owned()
    } else {
        format!("{system} → {api_base}")
    };
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none());
    for r in roots {
        builder = builder.add_root_certificate(r.clone());
    }
    if let Some(pem) = identity {
        match reqwest::Identity::from_pem(pem.as_bytes()) {
            Ok(id) => builder = builder.identity(id),
            Err(e) => {
                return Check::failed(
                    STEP,
                    name,
                    &subject,
                    format!("the certificate cannot be used for TLS: {e}"),
                    "export the function certificate again as .p12/.pfx with its private key",
                );
            }
        }
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            return Check::failed(
                STEP,
                name,
                &subject,
                e.to_string(),
                "report this as a dpost bug",
            );
        }
    };
    match client.get(format!("{api_base}/")).send().await {
        Ok(r) => {
            if identity.is_some() {
                Check::ok(
                    STEP,
                    name,
                    &subject,
                    format!(
                        "handshake with the function certificate done; the API answered HTTP {}",
                        r.status().as_u16()
                    ),
                )
            } else {
                Check::warning(
                    STEP,
                    name,
                    &subject,
                    format!(
                        "the server's TLS works (HTTP {}), but there is no usable function certificate to try mutual TLS with",
                        r.status().as_u16()
                    ),
                    "fix the certificate (step 1), then run dpost doctor again",
                )
            }
        }
        Err(e) => {
            let text = chain(&e);
            let lower = text.to_ascii_lowercase();
            let (detail, fix) = if e.is_timeout() {
                (
                    format!("no answer within {}", secs(timeout)),
                    "something between this server and NgDP swallows the connection: check the firewall and proxy for outbound HTTPS".to_owned(),
                )
            } else if lower.contains("unknownissuer")
                || lower.contains("invalid peer certificate")
                || lower.contains("notvalidforname")
            {
                (
                    format!("NgDP's server certificate is not trusted: {text}"),
                    "a TLS-inspecting proxy or a simulator is in the way: give its CA as api_ca_file, or let the server reach NgDP directly".to_owned(),
                )
            } else if [
                "alert",
                "certificate",
                "reset",
                "closed",
                "eof",
                "end of file",
            ]
            .iter()
            .any(|w| lower.contains(w))
            {
                (
                    format!("the server refused the handshake: {text}"),
                    "NgDP did not accept the function certificate: use the certificate registered for this system in this environment (test and production certificates are not interchangeable), and check it has not expired".to_owned(),
                )
            } else {
                (
                    text,
                    "check outbound HTTPS from this server to NgDP (firewall, proxy)".to_owned(),
                )
            };
            Check::failed(STEP, name, &subject, detail, fix)
        }
    }
}

/// An HTTP client with `timeout` for connecting and for the whole request, or the failed
/// check `name` on `subject` when it cannot be set up.
fn plain_client(
    timeout: Duration,
    name: &str,
    subject: &str,
) -> Result<reqwest::Client, Box<Check>> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| {
            Box::new(Check::failed(
                STEP,
                name,
                subject,
                e.to_string(),
                "report this as a dpost bug",
            ))
        })
}

/// A revocation or issuer address the certificate names: any HTTP answer means reachable.
async fn reach_endpoint(url: &str, what: &str, system: &str, timeout: Duration) -> Check {
    let name = format!("{what} endpoint");
    let client = match plain_client(timeout, &name, url) {
        Ok(c) => c,
        Err(failed) => return *failed,
    };
    match client.get(url).send().await {
        Ok(r) => Check::ok(
            STEP,
            &name,
            url,
            format!(
                "reachable (HTTP {}), named by the certificate of {system}",
                r.status().as_u16()
            ),
        ),
        Err(e) => {
            let hostport = reqwest::Url::parse(url)
                .ok()
                .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
                .unwrap_or_else(|| url.to_owned());
            Check::failed(
                STEP,
                &name,
                url,
                if e.is_timeout() {
                    format!("no answer within {}", secs(timeout))
                } else {
                    format!("unreachable: {}", chain(&e))
                },
                format!(
                    "allow outbound traffic from this server to {hostport}: the guide requires the certificate's validation endpoints (CRL, OCSP) to be reachable"
                ),
            )
        }
    }
}

/// Whether `dpost serve` can listen on `listen`. An address already taken by a running dpost
/// (it answers `/healthz`) counts as fine.
async fn bindable(listen: &str, timeout: Duration, loc: &str) -> Check {
    let addr: std::net::SocketAddr = match listen.parse() {
        Ok(a) => a,
        Err(_) => {
            return Check::failed(
                STEP,
                "listen address",
                listen,
                "not an address like 127.0.0.1:8080",
                "fix [serve] listen",
            )
            .at(loc);
        }
    };
    match tokio::net::TcpListener::bind(addr).await {
        Ok(_) => Check::ok(STEP, "listen address", listen, "free: dpost serve can listen here"),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let mut probe = addr;
            if probe.ip().is_unspecified() {
                probe.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let running = async {
                let c = reqwest::Client::builder().timeout(timeout).build().ok()?;
                let r = c.get(format!("http://{probe}/healthz")).send().await.ok()?;
                r.status().is_success().then_some(())
            }
            .await
            .is_some();
            if running {
                Check::ok(STEP, "listen address", listen, "in use by a service answering /healthz (dpost serve running)")
            } else {
                Check::failed(
                    STEP,
                    "listen address",
                    listen,
                    "another program listens there",
                    "stop that program, or give [serve] listen another port",
                )
                .at(loc)
            }
        }
        Err(e) => Check::failed(
            STEP,
            "listen address",
            listen,
            format!("cannot listen: {e}"),
            if addr.port() < 1024 {
                "ports below 1024 need privileges: listen on a high port (8080) behind the TLS reverse proxy, or grant CAP_NET_BIND_SERVICE"
            } else {
                "listen on an address this machine has (0.0.0.0, 127.0.0.1 or one of its own)"
            },
        )
        .at(loc),
    }
}

/// `GET <public-url>/healthz` must answer 200.
async fn public_healthz(url: &str, timeout: Duration) -> Check {
    let base = url.trim_end_matches('/');
    let probe = format!("{base}/healthz");
    let client = match plain_client(timeout, "public URL", url) {
        Ok(c) => c,
        Err(failed) => return *failed,
    };
    match client.get(&probe).send().await {
        Ok(r) if r.status().is_success() => {
            if base.starts_with("https://") {
                Check::ok(
                    STEP,
                    "public URL",
                    base,
                    format!("{probe} answers HTTP {}", r.status().as_u16()),
                )
            } else {
                Check::warning(
                    STEP,
                    "public URL",
                    base,
                    format!("{probe} answers, but over plain HTTP"),
                    "NgDP pushes only to HTTPS endpoints: serve HTTPS (tls_cert/tls_key) or put a TLS reverse proxy in front, and register the https:// address",
                )
            }
        }
        Ok(r) => Check::failed(
            STEP,
            "public URL",
            base,
            format!("{probe} answers HTTP {}", r.status().as_u16()),
            "the address reaches something else than dpost serve: point the reverse proxy (or port forwarding) at dpost serve's listen address",
        ),
        Err(e) => Check::failed(
            STEP,
            "public URL",
            base,
            if e.is_timeout() {
                format!("{probe}: no answer within {}", secs(timeout))
            } else {
                format!("{probe}: {}", chain(&e))
            },
            "make the address reachable from the Internet (DNS, firewall, reverse proxy to dpost serve); NgDP must reach it to push messages and receipts",
        ),
    }
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// An error with its causes, as one line (reqwest's own message leaves the cause out).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    crate::error_text::chain(e)
}
