//! Step 4: contact points. Every receiving system needs at least one (the guide: otherwise
//! replies land in the standard mailbox and never reach their case); each has a well-formed,
//! unique GUID, routes to a mailbox that exists, and is open to at least one audience.

use super::certificate::place;
use super::{Check, Step, environment_table};
use crate::config::ConfigFile;
use crate::config::ngdp::{Audience, is_guid};

/// Check `environment`'s contact points.
pub fn check(file: &ConfigFile, environment: &str) -> Vec<Check> {
    let step = Step::ContactPoints;
    let ngdp = &file.config.ngdp;
    let table = environment_table(file, environment);
    let array = format!("ngdp.{environment}.contact_points");
    let (mailboxes, standard) = ngdp.mailboxes();
    let mut checks = Vec::new();
    if mailboxes.contains(&standard) {
        checks.push(Check::ok(
            step,
            "standard mailbox",
            &standard,
            "messages without a known contact point go here",
        ));
    } else {
        let e = file.error("ngdp", "standard_mailbox", "");
        checks.push(
            Check::failed(
                step,
                "standard mailbox",
                &standard,
                format!("{standard:?} is not one of [ngdp] mailboxes {mailboxes:?}"),
                "add it to mailboxes, or name one of them as standard_mailbox",
            )
            .at(format!(
                "{}{} (ngdp.standard_mailbox)",
                e.file.display(),
                e.line.map(|l| format!(":{l}")).unwrap_or_default()
            )),
        );
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, c) in table.contact_points.iter().enumerate() {
        let id = c.id.trim();
        let mut problems = Vec::new();
        if !is_guid(id) {
            problems.push((
                "id",
                format!("{:?} is not a GUID", c.id),
                "copy the contact point's GUID from the portal (8-4-4-4-12 hexadecimal digits)"
                    .to_owned(),
            ));
        } else if seen.iter().any(|x| x.eq_ignore_ascii_case(id)) {
            problems.push((
                "id",
                "the same contact point is configured twice".into(),
                "keep one entry per GUID; several contact points may share a mailbox, not the other way round".into(),
            ));
        }
        seen.push(id.to_owned());
        if !mailboxes.contains(&c.mailbox) {
            problems.push((
                "mailbox",
                format!(
                    "mailbox {:?} does not exist ([ngdp] mailboxes is {mailboxes:?})",
                    c.mailbox
                ),
                "fix the mailbox name, or add the mailbox to [ngdp] mailboxes".into(),
            ));
        }
        if c.audiences.is_empty() {
            problems.push((
                "audiences",
                "open to no one".into(),
                "give at least one of audiences = [\"citizens\", \"companies\", \"authorities\"], as set in the portal".into(),
            ));
        }
        if let Some(sys) = &c.system
            && !table
                .systems
                .iter()
                .any(|s| s.id.trim().eq_ignore_ascii_case(sys.trim()))
        {
            problems.push((
                "system",
                format!("system {sys:?} is not configured in [ngdp.{environment}]"),
                "name one of the environment's system ids, or leave system out to map it to every system".into(),
            ));
        }
        if problems.is_empty() {
            let audiences: Vec<&str> = c.audiences.iter().map(audience_name).collect();
            checks.push(Check::ok(
                step,
                "contact point",
                id,
                format!(
                    "{}→ mailbox {:?}, for {}{}",
                    c.label
                        .as_ref()
                        .map(|l| format!("{l:?} "))
                        .unwrap_or_default(),
                    c.mailbox,
                    audiences.join(", "),
                    if c.hidden {
                        " (hidden: replies only)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        for (key, detail, fix) in problems {
            checks.push(
                Check::failed(step, "contact point", id, detail, fix)
                    .at(place(file, &array, i, key)),
            );
        }
    }
    // At least one per receiving system.
    for s in &table.systems {
        let sid = s.id.trim();
        let n = table
            .contact_points
            .iter()
            .filter(|c| {
                c.system
                    .as_deref()
                    .is_none_or(|x| x.trim().eq_ignore_ascii_case(sid))
            })
            .count();
        if n == 0 {
            checks.push(Check::failed(
                step,
                "contact points of the system",
                sid,
                format!("no contact point: replies would land in the standard mailbox {standard:?}, not on their case"),
                format!("create a contact point for the system in the Administrativ Adgang portal and add it as [[ngdp.{environment}.contact_points]] with id = \"<GUID>\", audiences and mailbox (or import many with `dpost contact-points import`)"),
            ));
        } else {
            checks.push(Check::ok(
                step,
                "contact points of the system",
                sid,
                format!("{n} contact point(s)"),
            ));
        }
    }
    checks
}

fn audience_name(a: &Audience) -> &'static str {
    match a {
        Audience::Citizens => "citizens",
        Audience::Companies => "companies",
        Audience::Authorities => "authorities",
    }
}
