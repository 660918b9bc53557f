//! The receipts waiting for a sending system, as NgDP's API serves them (NgDP OpenAPI document
//! 1.68.0; `docs/ngdp-wire.md`):
//!
//! ```text
//! GET    /apis/v1/receipts/?page=&size=     200 PagingResultUUID of receipt ids
//! GET    /apis/v1/receipts/{id}[?delete=true] 200 one Receipt (deleted too with delete=true);
//!                                           404 ErrorMessage
//! DELETE /apis/v1/receipts/{id}              204; 404 ErrorMessage
//! GET    /apis/v1/receipts-bulk/?page=&size= 200 ReceiptSearchResult (each BulkReceipt with its
//!                                           own id, not its transmissionId); 404 with
//!                                           --no-receipts-bulk
//! ```
//!
//! A receipt waits here when NgDP has no receipt endpoint to push it to: the business receipt
//! of each message sent to the simulator, and the files of `--receipts` without
//! `--receipt-target`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::NgdpSimulator;
use super::api::{error, json_response, paging, paging_result};

/// One receipt waiting: the id NgDP lists it under, and the receipt.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// The listing id (a fresh UUID; never the transmissionId).
    pub id: String,
    /// The `Receipt` JSON.
    pub receipt: Value,
}

impl NgdpSimulator {
    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        self.receipt_queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queue a receipt for the sender to pull.
    pub(crate) fn queue_receipt(&self, receipt: Value) {
        self.waiting().push(Waiting {
            id: uuid::Uuid::new_v4().to_string(),
            receipt,
        });
    }

    /// `GET receipts/`: a `PagingResultUUID` of the waiting receipts' ids.
    pub(crate) fn list_receipts(&self, query: &str) -> Response {
        let (page, size) = match paging(query) {
            Ok(p) => p,
            Err(r) => return *r,
        };
        let ids: Vec<String> = self.waiting().iter().map(|w| w.id.clone()).collect();
        json_response(StatusCode::OK, &paging_result(&ids, page, size))
    }

    /// `GET receipts/{id}`, deleting it too when the query says `delete=true`.
    pub(crate) fn fetch_receipt(&self, id: &str, query: &str) -> Response {
        let delete = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .any(|(k, v)| k == "delete" && v.eq_ignore_ascii_case("true"));
        let mut waiting = self.waiting();
        let Some(index) = waiting.iter().position(|w| w.id.eq_ignore_ascii_case(id)) else {
            return unknown_receipt(id);
        };
        let receipt = if delete {
            waiting.remove(index).receipt
        } else {
            waiting[index].receipt.clone()
        };
        json_response(StatusCode::OK, &receipt)
    }

    /// `DELETE receipts/{id}`: 204, or 404 with an `ErrorMessage`; the first
    /// `--fail-receipt-deletes` are answered 500 and keep the receipt.
    pub(crate) fn delete_receipt(&self, id: &str) -> Response {
        if take_one(&self.receipt_delete_failures) {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "the receipt could not be deleted (--fail-receipt-deletes)",
            );
        }
        let mut waiting = self.waiting();
        let before = waiting.len();
        waiting.retain(|w| !w.id.eq_ignore_ascii_case(id));
        if waiting.len() < before {
            tracing::info!(%id, "receipt deleted");
            super::api::empty(StatusCode::NO_CONTENT)
        } else {
            unknown_receipt(id)
        }
    }

    /// `GET receipts-bulk/`: a `ReceiptSearchResult`; 404 when bulk is switched off.
    pub(crate) fn bulk_receipts(&self, query: &str) -> Response {
        if !self.receipts_bulk {
            return error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "receipts-bulk/ is not available for this system (--no-receipts-bulk)",
            );
        }
        let (page, size) = match paging(query) {
            Ok(p) => p,
            Err(r) => return *r,
        };
        let waiting = self.waiting();
        let total = waiting.len();
        let receipts: Vec<Value> = waiting
            .iter()
            .skip(page.saturating_mul(size))
            .take(size)
            .map(|w| {
                let mut r = w.receipt.clone();
                if let Some(o) = r.as_object_mut() {
                    o.insert("id".into(), Value::String(w.id.clone()));
                }
                r
            })
            .collect();
        json_response(
            StatusCode::OK,
            &json!({
                "currentPage": page,
                "totalPages": total.div_ceil(size),
                "elementsOnPage": receipts.len(),
                "totalElements": total,
                "receipts": receipts,
            }),
        )
    }
}

/// Whether one of a counter's remaining events is taken now.
pub(crate) fn take_one(counter: &std::sync::atomic::AtomicUsize) -> bool {
    counter
        .fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        )
        .is_ok()
}

fn unknown_receipt(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "RECEIPT_NOT_FOUND",
        &format!("no receipt {id} (unknown, or deleted)"),
    )
}
