//! Contact points to mailboxes. A contact point (a GUID the organisation created in the
//! Administrativ Adgang portal) says where citizens, companies and authorities write to; each
//! maps to a mailbox in the platform. A message is never routed nowhere: when no contact point
//! it names is known, it goes to the standard mailbox and the decision says why.

use crate::memo::model::Header;

/// One configured contact point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The contact point's GUID.
    pub contact_point_id: String,
    /// The mailbox its messages go to.
    pub mailbox: String,
}

/// Why a message went where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `Recipient/ContactPoint/contactPointID` named a configured contact point.
    RecipientContactPoint,
    /// A `ReplyData/contactPointID` named a configured contact point (a reply to a message
    /// the organisation sent).
    ReplyContactPoint,
    /// The message named contact points, none configured; they are listed.
    UnknownContactPoint(Vec<String>),
    /// The message named no contact point.
    NoContactPoint,
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The mailbox.
    pub mailbox: String,
    /// The contact point that decided it, when one did.
    pub contact_point_id: Option<String>,
    /// Why.
    pub reason: Reason,
}

/// GUIDs are compared without case and surrounding blanks; NgDP and the portal differ in
/// how they print them.
fn same_guid(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Route a message by its header: the recipient's contact point first, then each reply's, in
/// message order; the first one configured wins. Otherwise the standard mailbox.
pub fn route(header: &Header, routes: &[Route], standard_mailbox: &str) -> Decision {
    let recipient = header
        .recipient
        .contact_point
        .as_ref()
        .map(|c| c.contact_point_id.as_str());
    let replies = header
        .reply_data
        .iter()
        .filter_map(|r| r.contact_point_id.as_deref());
    let candidates = recipient
        .into_iter()
        .map(|id| (id, Reason::RecipientContactPoint))
        .chain(replies.map(|id| (id, Reason::ReplyContactPoint)));
    let mut unknown = Vec::new();
    for (id, reason) in candidates {
        if let Some(route) = routes.iter().find(|r| same_guid(&r.contact_point_id, id)) {
            return Decision {
                mailbox: route.mailbox.clone(),
                contact_point_id: Some(route.contact_point_id.clone()),
                reason,
            };
        }
        if !unknown.iter().any(|u: &String| same_guid(u, id)) {
            unknown.push(id.trim().to_owned());
        }
    }
    Decision {
        mailbox: standard_mailbox.to_owned(),
        contact_point_id: None,
        reason: if unknown.is_empty() {
            Reason::NoContactPoint
        } else {
            Reason::UnknownContactPoint(unknown)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memo::model::{ContactPoint, ReplyData};

    fn header(recipient_cp: Option<&str>, reply_cps: &[Option<&str>]) -> Header {
        let bytes = include_bytes!("../../../tests/fixtures/memo/MeMo_v1.2_Minimum_Example.xml");
        let mut h = crate::memo::parse(bytes)
            .expect("fixture parses")
            .message
            .header;
        h.recipient.contact_point = recipient_cp.map(|id| ContactPoint {
            contact_group: None,
            contact_point_id: id.into(),
            label: None,
            contact_info: vec![],
        });
        h.reply_data = reply_cps
            .iter()
            .map(|cp| ReplyData {
                message_id: None,
                message_uuid: "8c2ea15d-61fb-4ba9-9366-42f8b194c114".into(),
                reply_uuid: None,
                sender_id: None,
                recipient_id: None,
                case_id: None,
                contact_point_id: cp.map(Into::into),
                generating_system_id: None,
                comment: None,
                additional_reply_data: vec![],
            })
            .collect();
        h
    }

    fn routes() -> Vec<Route> {
        vec![
            Route {
                contact_point_id: "241D39F6-998E-4929-B198-CCACBBF4B330".into(),
                mailbox: "daycare".into(),
            },
            Route {
                contact_point_id: "11111111-2222-4333-8444-555555555555".into(),
                mailbox: "schools".into(),
            },
        ]
    }

    #[test]
    fn recipient_contact_point_wins_case_insensitively() {
        let d = route(
            &header(
                Some("241d39f6-998e-4929-b198-ccacbbf4b330"),
                &[Some("11111111-2222-4333-8444-555555555555")],
            ),
            &routes(),
            "std",
        );
        assert_eq!(d.mailbox, "daycare");
        assert_eq!(d.reason, Reason::RecipientContactPoint);
    }

    #[test]
    fn a_reply_routes_by_its_reply_data() {
        let d = route(
            &header(
                None,
                &[None, Some(" 11111111-2222-4333-8444-555555555555 ")],
            ),
            &routes(),
            "std",
        );
        assert_eq!(d.mailbox, "schools");
        assert_eq!(d.reason, Reason::ReplyContactPoint);
    }

    #[test]
    fn unknown_recipient_contact_point_falls_back_to_a_known_reply_one() {
        let d = route(
            &header(
                Some("99999999-2222-4333-8444-555555555555"),
                &[Some("11111111-2222-4333-8444-555555555555")],
            ),
            &routes(),
            "std",
        );
        assert_eq!(d.mailbox, "schools");
    }

    #[test]
    fn unknown_or_missing_goes_to_the_standard_mailbox_with_the_reason() {
        let d = route(
            &header(
                Some("99999999-2222-4333-8444-555555555555"),
                &[Some("99999999-2222-4333-8444-555555555555")],
            ),
            &routes(),
            "std",
        );
        assert_eq!(d.mailbox, "std");
        assert_eq!(
            d.reason,
            Reason::UnknownContactPoint(vec!["99999999-2222-4333-8444-555555555555".into()])
        );
        let d = route(&header(None, &[]), &routes(), "std");
        assert_eq!(
            (d.mailbox.as_str(), d.reason),
            ("std", Reason::NoContactPoint)
        );
        let d = route(&header(Some("x"), &[]), &[], "std");
        assert_eq!(d.mailbox, "std");
    }
}
