//! Step 3: the sender/receiver system as registered in the Administrativ Adgang portal: its id
//! is a UUID, its protocol push or pull, the API token for calls to NgDP is there, and a push
//! system has the authorization header NgDP sends (not a placeholder left from a template).

use super::certificate::place;
use super::{Check, Step, environment_table, is_placeholder};
use crate::config::ConfigFile;
use crate::config::ngdp::{Protocol, Secret, is_guid, secret};

/// Check every system of `environment`.
pub fn check(file: &ConfigFile, environment: &str) -> Vec<Check> {
    let step = Step::System;
    let table = environment_table(file, environment);
    let array = format!("ngdp.{environment}.systems");
    let mut checks = Vec::new();
    if table.systems.is_empty() {
        checks.push(Check::failed(
            step,
            "system",
            "",
            format!("no sender/receiver system in [ngdp.{environment}]"),
            format!(
                "create the system in the Administrativ Adgang portal ({environment} environment) and add it as [[ngdp.{environment}.systems]] with id = \"<system id from the portal>\" and protocol = \"push\" or \"pull\""
            ),
        ));
        return checks;
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, s) in table.systems.iter().enumerate() {
        let id = s.id.trim();
        if !is_guid(id) {
            checks.push(
                Check::failed(
                    step,
                    "system id",
                    id,
                    format!("{:?} is not a UUID", s.id),
                    "copy the system id from the portal (it is in the PDF you can download for the system): 8-4-4-4-12 hexadecimal digits",
                )
                .at(place(file, &array, i, "id")),
            );
        } else if seen.iter().any(|x| x.eq_ignore_ascii_case(id)) {
            checks.push(
                Check::failed(
                    step,
                    "system id",
                    id,
                    "the same system is configured twice",
                    "remove the duplicate [[ngdp.<env>.systems]] entry",
                )
                .at(place(file, &array, i, "id")),
            );
        } else {
            checks.push(Check::ok(step, "system id", id, "a UUID"));
        }
        seen.push(id.to_owned());
        checks.push(Check::ok(
            step,
            "protocol",
            id,
            match s.protocol {
                Protocol::Push => "push: register REST_PUSH in the portal (`dpost portal values`)",
                Protocol::Pull => "pull: register REST_PULL in the portal",
            },
        ));
        let at = format!("{array}[{i}]");
        let env_up = environment.to_ascii_uppercase();
        // The API token: every call to NgDP (business receipts, pull, send) carries
        // Basic base64(systemId:apiToken).
        match secret(file, &at, &s.api_token, &s.api_token_env, &s.api_token_file, "api_token") {
            Err(e) => checks.push(
                Check::failed(step, "API token", id, e.message.clone(), "set the variable or write the file the configuration names, holding the API token from the portal")
                    .at(place(file, &array, i, e.key.as_deref().and_then(|k| k.rsplit('.').next()).unwrap_or("api_token"))),
            ),
            Ok(None) => checks.push(
                Check::failed(
                    step,
                    "API token",
                    id,
                    "no API token: business receipts, pull and send are refused without one",
                    format!("put the API token from the portal in a variable and set api_token_env = \"NGDP_{env_up}_API_TOKEN\" (or api_token_file)"),
                )
                .at(place(file, &array, i, "api_token_env")),
            ),
            Ok(Some(t)) => checks.push(secret_check(
                &t,
                "API token",
                id,
                "the API token from the portal",
            )
            .map_at(|| place(file, &array, i, "api_token"))),
        }
        // The portal holds it and no call dpost may make reads it back, so this says what
        // it must be rather than checking it.
        checks.push(Check::ok(
            step,
            "receipt format",
            id,
            format!(
                "must be registered as {} in the portal (JSON receipts, as dpost reads them); the legacy DP or DP2 would make every receipt unreadable",
                crate::portal::RECEIPT_FORMAT
            ),
        ));
        match s.protocol {
            Protocol::Pull => checks.push(Check::ok(
                step,
                "authorization header",
                id,
                "not used: NgDP pushes nothing to a pull system",
            )),
            Protocol::Push => match secret(
                file,
                &at,
                &s.authorization,
                &s.authorization_env,
                &s.authorization_file,
                "authorization",
            ) {
                Err(e) => checks.push(
                    Check::failed(step, "authorization header", id, e.message.clone(), "set the variable or write the file the configuration names, holding the authorization header registered in the portal")
                        .at(place(file, &array, i, e.key.as_deref().and_then(|k| k.rsplit('.').next()).unwrap_or("authorization"))),
                ),
                Ok(None) => checks.push(
                    Check::failed(
                        step,
                        "authorization header",
                        id,
                        "a push system has no authorization header: every push would be refused",
                        "set authorization_env (or authorization_file) to the authorization header registered for the system in the portal",
                    )
                    .at(place(file, &array, i, "authorization")),
                ),
                Ok(Some(a)) => checks.push(
                    secret_check(&a, "authorization header", id, "the authorization header registered in the portal")
                        .map_at(|| place(file, &array, i, "authorization")),
                ),
            },
        }
    }
    checks
}

fn secret_check(value: &Secret, name: &str, subject: &str, what: &str) -> Check {
    if is_placeholder(value.expose()) {
        Check::failed(
            Step::System,
            name,
            subject,
            "set, but it is a placeholder",
            format!("replace it with {what}"),
        )
    } else {
        // Never the value itself: it is a credential.
        Check::ok(
            Step::System,
            name,
            subject,
            format!("set ({} characters)", value.expose().chars().count()),
        )
    }
}

trait MapAt {
    fn map_at(self, place: impl FnOnce() -> String) -> Self;
}

impl MapAt for Check {
    /// Point a problem at its key; a passed check needs no place.
    fn map_at(self, place: impl FnOnce() -> String) -> Self {
        if self.status == super::Status::Ok {
            self
        } else {
            self.at(place())
        }
    }
}
