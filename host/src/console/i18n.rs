//! The console's words in Danish and English. The language is the one the user chose with
//! the switch (a cookie), else the first of Danish and English in `Accept-Language`, else
//! Danish: the console is for Danish public bodies first.

use axum::http::HeaderMap;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Dansk.
    Da,
    /// English.
    En,
}

/// The cookie that holds the user's choice.
pub const COOKIE: &str = "dpost-lang";

impl Lang {
    /// `da` or `en`, as in `lang` attributes and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Da => "da",
            Lang::En => "en",
        }
    }

    /// The language called `code`.
    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "da" => Some(Lang::Da),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other one (what the switch offers).
    pub fn other(self) -> Lang {
        match self {
            Lang::Da => Lang::En,
            Lang::En => Lang::Da,
        }
    }

    /// The language for a request: the cookie, else `Accept-Language` by its q-values.
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(l) = super::session::cookie(headers, COOKIE).and_then(Lang::parse) {
            return l;
        }
        let accept = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut best: Option<(f32, Lang)> = None;
        for item in accept.split(',') {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "da" => Lang::Da,
                "en" => Lang::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Da, |(_, l)| l)
    }

    /// The label `key` in this language (the key itself when none is written, which a test
    /// rules out for every key the templates use).
    pub fn t(self, key: &str) -> &'static str {
        match LABELS.iter().find(|(k, _, _)| *k == key) {
            Some((_, en, da)) => match self {
                Lang::Da => da,
                Lang::En => en,
            },
            None => "?",
        }
    }
}

/// (key, English, Danish).
pub const LABELS: &[(&str, &str, &str)] = &[
    ("app", "dpost console", "dpost-konsol"),
    ("skip", "Skip to content", "Spring til indhold"),
    ("nav", "Main menu", "Hovedmenu"),
    ("overview", "Overview", "Overblik"),
    ("messages", "Messages", "Meddelelser"),
    ("outgoing", "Outgoing", "Udgående"),
    ("receipts", "Receipts", "Kvitteringer"),
    ("webhooks", "Webhooks", "Webhooks"),
    ("digipost", "Digipost", "Digipost"),
    ("audit", "Audit log", "Revisionslog"),
    ("signin", "Sign in", "Log ind"),
    ("signout", "Sign out", "Log ud"),
    ("signed_in_as", "Signed in as", "Logget ind som"),
    ("user", "User name", "Brugernavn"),
    ("password", "Password", "Adgangskode"),
    (
        "signin_failed",
        "The user name or password is not right.",
        "Brugernavnet eller adgangskoden er forkert.",
    ),
    (
        "signin_expired",
        "The sign-in form had expired; sign in again.",
        "Log ind-formularen var udløbet; log ind igen.",
    ),
    (
        "signin_slow",
        "Too many failed attempts for this user name; try again in 15 minutes.",
        "For mange mislykkede forsøg med dette brugernavn; prøv igen om 15 minutter.",
    ),
    (
        "no_users",
        "No console users are configured. Add one with: dpost console user add NAME --role operator --password-stdin",
        "Der er ingen konsolbrugere. Opret en med: dpost console user add NAVN --role operator --password-stdin",
    ),
    ("language", "Dansk", "English"),
    ("needs_person", "Needs a person", "Kræver en person"),
    (
        "all_well",
        "Nothing needs a person just now.",
        "Intet kræver en person lige nu.",
    ),
    ("mailbox", "Mailbox", "Postkasse"),
    ("today", "Today", "I dag"),
    ("this_week", "Last 7 days", "Seneste 7 dage"),
    ("invalid", "Invalid", "Ugyldig"),
    (
        "invalid_pending",
        "Invalid, not acknowledged",
        "Ugyldige, ikke kvitteret",
    ),
    (
        "receipts_pending",
        "Business receipts waiting",
        "Forretningskvitteringer i kø",
    ),
    (
        "receipts_refused",
        "Business receipts refused by NgDP",
        "Forretningskvitteringer afvist af NgDP",
    ),
    ("outgoing_waiting", "Outgoing waiting", "Udgående i kø"),
    ("outgoing_failed", "Outgoing failed", "Udgående fejlet"),
    ("webhook_backlog", "Webhook backlog", "Webhook-kø"),
    (
        "webhooks_failed",
        "Webhook deliveries given up",
        "Opgivne webhook-leveringer",
    ),
    ("last_push", "Last push received", "Seneste modtagne push"),
    ("never", "never", "aldrig"),
    ("certificates", "Certificates", "Certifikater"),
    ("days_left", "days left", "dage tilbage"),
    ("doctor", "Last doctor result", "Seneste doctor-resultat"),
    (
        "doctor_none",
        "none recorded; run dpost doctor on the server",
        "intet registreret; kør dpost doctor på serveren",
    ),
    ("doctor_failed", "failed", "fejlet"),
    ("doctor_warnings", "warnings", "advarsler"),
    ("count", "Count", "Antal"),
    ("status", "Status", "Status"),
    ("filters", "Filters", "Filtre"),
    ("state", "State", "Tilstand"),
    ("any", "Any", "Alle"),
    ("pending", "Pending", "Afventer"),
    ("acknowledged", "Acknowledged", "Kvitteret"),
    ("only_invalid", "Only invalid", "Kun ugyldige"),
    ("sender", "Sender", "Afsender"),
    ("recipient", "Recipient", "Modtager"),
    ("from_date", "Received from (date)", "Modtaget fra (dato)"),
    ("to_date", "Received to (date)", "Modtaget til (dato)"),
    (
        "text",
        "Text in label or sender",
        "Tekst i titel eller afsender",
    ),
    ("search", "Search", "Søg"),
    ("received", "Received", "Modtaget"),
    ("label", "Label", "Titel"),
    ("valid", "Valid", "Gyldig"),
    ("yes", "yes", "ja"),
    ("no", "no", "nej"),
    ("older", "Older", "Ældre"),
    ("newest", "Newest", "Nyeste"),
    ("next", "Next", "Næste"),
    ("sent", "Sent", "Sendt"),
    ("answer", "NgDP's answer", "NgDP's svar"),
    ("documents_count", "Documents", "Dokumenter"),
    ("sender_id", "Sender id", "Afsender-id"),
    ("none_found", "Nothing found.", "Intet fundet."),
    (
        "search_stopped",
        "Searched the messages received back to",
        "Søgt i meddelelserne modtaget tilbage til",
    ),
    (
        "search_more",
        "Older ones are searched on the next page.",
        "Ældre søges på næste side.",
    ),
    ("message", "Message", "Meddelelse"),
    ("header", "Header", "Brevhoved"),
    ("routing", "Routing", "Rutning"),
    ("why", "Why", "Hvorfor"),
    ("contact_point", "Contact point", "Kontaktpunkt"),
    ("problems", "Validation problems", "Valideringsproblemer"),
    (
        "no_problems",
        "No validation problems.",
        "Ingen valideringsproblemer.",
    ),
    ("place", "Place", "Placering"),
    ("severity", "Severity", "Alvor"),
    ("documents", "Documents", "Dokumenter"),
    ("download", "Download", "Hent"),
    (
        "raw_memo",
        "Download the MeMo as received",
        "Hent MeMo som modtaget",
    ),
    (
        "business_receipt",
        "Business receipt",
        "Forretningskvittering",
    ),
    ("history", "History", "Historik"),
    ("when", "When", "Hvornår"),
    ("who", "Who", "Hvem"),
    ("action", "Action", "Handling"),
    ("target", "Target", "Mål"),
    ("detail", "Detail", "Detaljer"),
    ("ack", "Acknowledge", "Kvitter"),
    (
        "case_reference",
        "Case reference (optional)",
        "Sagsnummer (valgfrit)",
    ),
    ("move", "Move to mailbox", "Flyt til postkasse"),
    ("move_button", "Move", "Flyt"),
    ("retry", "Retry", "Prøv igen"),
    ("reason", "Reason", "Årsag"),
    ("attempts", "Attempts", "Forsøg"),
    ("owed", "Owed to NgDP", "Skyldes NgDP"),
    (
        "received_receipts",
        "Received from NgDP",
        "Modtaget fra NgDP",
    ),
    ("system", "System", "System"),
    ("size", "Size", "Størrelse"),
    ("kind", "Kind", "Art"),
    ("file", "File", "Fil"),
    (
        "sent_queued",
        "Sent and queued messages",
        "Sendte og ventende meddelelser",
    ),
    ("archive", "Archive", "Arkiv"),
    ("syncs", "Last syncs", "Seneste synkroniseringer"),
    ("started", "Started", "Startet"),
    ("finished", "Finished", "Afsluttet"),
    ("not_finished", "not finished", "ikke afsluttet"),
    ("done", "Done.", "Udført."),
    (
        "forbidden",
        "Your role does not allow this.",
        "Din rolle tillader ikke dette.",
    ),
    ("not_found", "Not found.", "Ikke fundet."),
    (
        "no_message",
        "No message is stored with the id",
        "Der er ingen gemt meddelelse med id'et",
    ),
    (
        "no_file",
        "No such file in the message",
        "Ingen sådan fil i meddelelsen",
    ),
    (
        "no_receipt",
        "No business receipt is owed for",
        "Der skyldes ingen forretningskvittering for",
    ),
    (
        "no_delivery",
        "No webhook delivery is stored with the id",
        "Der er ingen gemt webhook-levering med id'et",
    ),
    (
        "signin_first",
        "Sign in first: actions need a signed-in user.",
        "Log ind først: handlinger kræver en indlogget bruger.",
    ),
    ("error", "Something went wrong", "Noget gik galt"),
    ("back", "Back to the overview", "Tilbage til overblikket"),
    ("role", "Role", "Rolle"),
    ("needed", "needed", "kræves"),
    ("created", "Created", "Oprettet"),
    ("delivered", "Delivered", "Leveret"),
    ("event", "Event", "Hændelse"),
    ("preview", "Preview", "Visning"),
    (
        "deleted_remotely",
        "Deleted in Digipost",
        "Slettet i Digipost",
    ),
    ("confirm", "Are you sure?", "Er du sikker?"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_cookie_wins_then_accept_language_by_q_then_danish() {
        assert_eq!(Lang::of(&headers(&[])), Lang::Da);
        assert_eq!(
            Lang::of(&headers(&[("accept-language", "en-GB,en;q=0.9")])),
            Lang::En
        );
        assert_eq!(
            Lang::of(&headers(&[("accept-language", "de, en;q=0.5, da;q=0.8")])),
            Lang::Da
        );
        assert_eq!(
            Lang::of(&headers(&[
                ("accept-language", "da"),
                ("cookie", "dpost-lang=en")
            ])),
            Lang::En
        );
    }

    /// Every `t("…")` in the templates and the Rust code has both languages.
    #[test]
    fn every_key_used_has_a_label() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/console");
        let mut sources: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src/console");
        for e in std::fs::read_dir(src).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rs") {
                sources.push(std::fs::read_to_string(p).unwrap());
            }
        }
        let mut seen = 0;
        for s in &sources {
            for part in s.split(".t(\"").skip(1) {
                let key = part.split('"').next().unwrap();
                assert!(
                    LABELS.iter().any(|(k, _, _)| *k == key),
                    "no label for {key:?}"
                );
                seen += 1;
            }
        }
        assert!(seen > 50, "{seen} keys found: the scan is broken");
        // The sign-in page's messages are passed as keys.
        for key in ["signin_failed", "signin_expired", "signin_slow"] {
            assert!(
                LABELS.iter().any(|(k, _, _)| *k == key),
                "no label for {key:?}"
            );
        }
        for (k, en, da) in LABELS {
            assert!(!en.is_empty() && !da.is_empty(), "{k}");
            assert_eq!(
                LABELS.iter().filter(|(o, _, _)| o == k).count(),
                1,
                "{k} twice"
            );
        }
    }
}
