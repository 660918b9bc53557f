//! `dpost:protocol/ngdp`: conversions around [`crate::ngdp`].

use super::Component;
use super::exports::dpost::protocol::memo as memo_wit;
use super::exports::dpost::protocol::ngdp as wit;
use crate::memo as m;
use crate::ngdp::{authorization, business_receipt, endpoints, memo_list, routing};

impl wit::Guest for Component {
    fn route(
        header: memo_wit::Header,
        routes: Vec<wit::ContactPointRoute>,
        standard_mailbox: String,
    ) -> wit::RoutingDecision {
        let header: m::Header = header.into();
        let routes: Vec<routing::Route> = routes
            .into_iter()
            .map(|r| routing::Route {
                contact_point_id: r.contact_point_id,
                mailbox: r.mailbox,
            })
            .collect();
        let d = routing::route(&header, &routes, &standard_mailbox);
        wit::RoutingDecision {
            mailbox: d.mailbox,
            contact_point_id: d.contact_point_id,
            reason: match d.reason {
                routing::Reason::RecipientContactPoint => wit::RoutingReason::RecipientContactPoint,
                routing::Reason::ReplyContactPoint => wit::RoutingReason::ReplyContactPoint,
                routing::Reason::UnknownContactPoint(ids) => {
                    wit::RoutingReason::UnknownContactPoint(ids)
                }
                routing::Reason::NoContactPoint => wit::RoutingReason::NoContactPoint,
            },
        }
    }

    fn authorize(expected: String, presented: Option<String>) -> wit::Authorization {
        match authorization::authorize(&expected, presented.as_deref()) {
            authorization::Verdict::Ok => wit::Authorization::Ok,
            authorization::Verdict::Missing => wit::Authorization::Missing,
            authorization::Verdict::Mismatch => wit::Authorization::Mismatch,
        }
    }

    fn business_receipt(
        message_uuid: String,
        message_id: Option<String>,
        transmission_id: Option<String>,
        problems: Vec<memo_wit::Problem>,
        time_stamp: String,
    ) -> memo_wit::Receipt {
        let problems: Vec<m::Problem> = problems.into_iter().map(Into::into).collect();
        business_receipt::for_message(
            &message_uuid,
            message_id.as_deref(),
            transmission_id.as_deref(),
            &problems,
            &time_stamp,
        )
        .into()
    }

    fn message_endpoint(base: String, system_id: String) -> String {
        endpoints::message_endpoint(&base, &system_id)
    }

    fn receipt_endpoint(base: String, system_id: String) -> String {
        endpoints::receipt_endpoint(&base, &system_id)
    }

    fn classify_push(path: String, query: String) -> wit::PushTarget {
        match endpoints::target(&path, &query) {
            endpoints::Target::Message(id) => wit::PushTarget::Message(id),
            endpoints::Target::Receipt(id) => wit::PushTarget::Receipt(id),
            endpoints::Target::Unknown => wit::PushTarget::Unknown,
        }
    }

    fn parse_memo_list(body: String) -> Result<Vec<String>, wit::MemoListError> {
        memo_list::parse_memo_list(&body).map_err(|e| match e {
            memo_list::MemoListError::NotJson(m) => wit::MemoListError::NotJson(m),
            memo_list::MemoListError::NoList => wit::MemoListError::NoList,
            memo_list::MemoListError::BadItem(i) => wit::MemoListError::BadItem(i),
        })
    }
}
