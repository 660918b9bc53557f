//! `dpost:protocol/ngdp`: conversions around [`crate::ngdp`].

use super::Component;
use super::exports::dpost::protocol::memo as memo_wit;
use super::exports::dpost::protocol::ngdp as wit;
use crate::memo as m;
use crate::ngdp::{
    authorization, business_receipt, endpoints, error_message, paging_result,
    receipt_search_result, routing,
};

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

    fn parse_id_page(body: String) -> Result<wit::IdPage, wit::ListError> {
        paging_result::parse(&body)
            .map(|p| wit::IdPage {
                ids: p.ids,
                number: p.number,
                total_pages: p.total_pages,
                next_page: p.next_page,
            })
            .map_err(list_error)
    }

    fn parse_bulk_receipts(body: String) -> Result<wit::BulkPage, wit::ListError> {
        receipt_search_result::parse(&body)
            .map(|p| wit::BulkPage {
                receipts: p
                    .receipts
                    .into_iter()
                    .map(|r| wit::BulkReceipt {
                        id: r.id,
                        json: r.json,
                    })
                    .collect(),
                current_page: p.current_page,
                total_pages: p.total_pages,
            })
            .map_err(list_error)
    }

    fn explain_error(status: u16, body: String) -> wit::ApiError {
        let e = error_message::explain(status, &body);
        wit::ApiError {
            status: e.status,
            error_message: e.error_message.map(|m| wit::ErrorMessage {
                code: m.code,
                message: m.message,
                field_errors: m
                    .field_errors
                    .into_iter()
                    .map(|f| wit::FieldError {
                        resource: f.resource,
                        field: f.field,
                        code: f.code,
                        message: f.message,
                        rejected_value: f.rejected_value,
                    })
                    .collect(),
            }),
            text: e.text,
        }
    }
}

fn list_error(e: paging_result::ListError) -> wit::ListError {
    match e {
        paging_result::ListError::NotJson(m) => wit::ListError::NotJson(m),
        paging_result::ListError::NoList => wit::ListError::NoList,
        paging_result::ListError::BadItem(i) => wit::ListError::BadItem(i),
    }
}
