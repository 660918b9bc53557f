//! The overview: is mail flowing, and does anything need a person? Messages received today
//! and in the last seven days per mailbox, invalid ones, business receipts waiting and
//! refused, outgoing messages waiting or failed, the webhook backlog, the last push, the
//! days left on each system's certificate. A red line lists what needs a person, each with
//! a link to where it is handled.

use std::path::Path;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::access;
use super::i18n::Lang;
use super::{ConsoleState, Page, html, when_opt};
use crate::keystore::PasswordSource;
use crate::store::doctor::DoctorRun;

/// A row of the mailbox table.
pub struct MailboxRow {
    /// Name.
    pub name: String,
    /// Received today.
    pub today: u64,
    /// Received in the last seven days.
    pub week: u64,
}

/// Something that needs a person.
pub struct Alert {
    /// What, in words.
    pub text: String,
    /// Where it is handled.
    pub href: String,
}

/// A certificate line.
pub struct CertificateRow {
    /// The system.
    pub system: String,
    /// Days left, or why unknown.
    pub state: String,
    /// Needs a person.
    pub warn: bool,
}

/// The overview page.
#[derive(Template)]
#[template(path = "console/overview.html")]
pub struct OverviewPage {
    /// The layout.
    pub page: Page,
    /// What needs a person.
    pub alerts: Vec<Alert>,
    /// Per mailbox.
    pub mailboxes: Vec<MailboxRow>,
    /// (label, count, link).
    pub counts: Vec<(&'static str, u64, String)>,
    /// When the last push arrived.
    pub last_push: String,
    /// The certificates.
    pub certificates: Vec<CertificateRow>,
    /// The last `dpost doctor` run, as it summed itself up.
    pub doctor: Option<DoctorRow>,
}

/// The last `dpost doctor` run on the overview.
pub struct DoctorRow {
    /// "failed: 2 failed, 1 warning — <time> (test)".
    pub summary: String,
    /// The checks that failed or warned: "name (subject): detail".
    pub problems: Vec<String>,
    /// A check failed.
    pub failed: bool,
}

impl DoctorRow {
    fn new(run: DoctorRun, lang: Lang) -> Self {
        #[derive(serde::Deserialize)]
        struct Saved {
            checks: Vec<SavedCheck>,
        }
        #[derive(serde::Deserialize)]
        struct SavedCheck {
            name: String,
            #[serde(default)]
            subject: String,
            status: String,
            detail: String,
        }
        // The report is the doctor's own JSON; one that cannot be read still has its counts.
        let problems = serde_json::from_str::<Saved>(&run.report)
            .map(|s| s.checks)
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.status != "ok")
            .map(|c| {
                let subject = if c.subject.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.subject)
                };
                format!("{}: {}{subject}: {}", c.status, c.name, c.detail)
            })
            .collect();
        DoctorRow {
            summary: format!(
                "{}: {} {}, {} {} — {} ({})",
                run.worst,
                run.failed,
                lang.t("doctor_failed"),
                run.warnings,
                lang.t("doctor_warnings"),
                super::when(run.checked_at),
                run.environment
            ),
            problems,
            failed: run.worst == "failed",
        }
    }
}

/// The expiry (Unix seconds) of the leaf certificate in `path`, or why it cannot be read.
pub fn certificate_expiry(path: &Path, password: &PasswordSource) -> Result<i64, String> {
    let (_, certificates) =
        crate::keystore::certificates(path, password).map_err(|e| e.to_string())?;
    let leaf = certificates
        .first()
        .ok_or_else(|| format!("{} holds no certificate", path.display()))?;
    let (_, cert) = X509Certificate::from_der(leaf)
        .map_err(|e| format!("{}: not a certificate ({e})", path.display()))?;
    Ok(cert.validity().not_after.timestamp())
}

/// `GET /`.
pub async fn page(State(s): State<Arc<ConsoleState>>, headers: HeaderMap) -> Response {
    let who = match access::viewer(&s, &headers) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let lang = who.lang;
    let now = s.api.clock.now_unix();
    let today = now.div_euclid(86_400);
    let names = s.webhooks.clone();
    let loaded = super::store(&s, lang, move |st| {
        let o = st.console_overview(today)?;
        let backlog = st.webhooks_backlog(&names)?;
        Ok((o, backlog, st.last_doctor_run()?))
    })
    .await;
    let (o, backlog, doctor) = match loaded {
        Ok(x) => x,
        Err(r) => return r,
    };
    let count = |list: &[(String, u64)], status: &str| {
        list.iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n)
    };
    let receipts_pending = count(&o.receipts, "pending");
    let receipts_refused = count(&o.receipts, "rejected") + count(&o.receipts, "refused");
    let outgoing_waiting = count(&o.outgoing, "queued") + count(&o.outgoing, "sending");
    let outgoing_failed = count(&o.outgoing, "failed");
    let mut mailboxes: Vec<MailboxRow> = s
        .api
        .mailboxes
        .get()
        .iter()
        .map(|m| MailboxRow {
            name: m.clone(),
            today: 0,
            week: 0,
        })
        .collect();
    for (name, t, w) in o.mailboxes {
        match mailboxes.iter_mut().find(|r| r.name == name) {
            Some(r) => (r.today, r.week) = (t, w),
            None => mailboxes.push(MailboxRow {
                name,
                today: t,
                week: w,
            }),
        }
    }
    let certificates: Vec<CertificateRow> = s
        .certificates
        .iter()
        .map(|(system, expiry)| match expiry {
            Ok(at) => {
                let days = (at - now).div_euclid(86_400);
                CertificateRow {
                    system: system.clone(),
                    state: format!("{days} {} ({})", lang.t("days_left"), super::when(*at)),
                    warn: days < crate::doctor::EXPIRY_WARNING_DAYS,
                }
            }
            Err(why) => CertificateRow {
                system: system.clone(),
                state: why.clone(),
                warn: true,
            },
        })
        .collect();
    let mut alerts = Vec::new();
    let mut alert = |n: u64, key: &str, href: &str| {
        if n > 0 {
            alerts.push(Alert {
                text: format!("{}: {n}", lang.t(key)),
                href: href.to_owned(),
            });
        }
    };
    alert(
        o.invalid_pending,
        "invalid_pending",
        "/messages?invalid=true&state=pending",
    );
    alert(
        receipts_refused,
        "receipts_refused",
        "/receipts?status=rejected",
    );
    alert(
        outgoing_failed,
        "outgoing_failed",
        "/outgoing?status=failed",
    );
    alert(
        o.webhooks_failed,
        "webhooks_failed",
        "/webhooks?state=failed",
    );
    let doctor = doctor.map(|run| DoctorRow::new(run, lang));
    if let Some(d) = doctor.as_ref().filter(|d| d.failed) {
        alerts.push(Alert {
            text: format!("{}: {}", lang.t("doctor"), d.summary),
            href: "#doctor".into(),
        });
    }
    for c in certificates.iter().filter(|c| c.warn) {
        alerts.push(Alert {
            text: format!("{}: {} — {}", lang.t("certificates"), c.system, c.state),
            href: "/".into(),
        });
    }
    let counts = vec![
        ("invalid", o.invalid, "/messages?invalid=true".to_owned()),
        (
            "invalid_pending",
            o.invalid_pending,
            "/messages?invalid=true&state=pending".to_owned(),
        ),
        (
            "receipts_pending",
            receipts_pending,
            "/receipts?status=pending".to_owned(),
        ),
        (
            "receipts_refused",
            receipts_refused,
            "/receipts?status=rejected".to_owned(),
        ),
        (
            "outgoing_waiting",
            outgoing_waiting,
            "/outgoing?status=queued".to_owned(),
        ),
        (
            "outgoing_failed",
            outgoing_failed,
            "/outgoing?status=failed".to_owned(),
        ),
        (
            "webhook_backlog",
            backlog,
            "/webhooks?state=pending".to_owned(),
        ),
        (
            "webhooks_failed",
            o.webhooks_failed,
            "/webhooks?state=failed".to_owned(),
        ),
    ];
    html(
        StatusCode::OK,
        &OverviewPage {
            page: who.page(&s, "overview", lang.t("overview")),
            alerts,
            mailboxes,
            counts,
            last_push: when_opt(o.last_push, lang),
            certificates,
            doctor,
        },
    )
}
