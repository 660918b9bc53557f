//! NgDP's `ReceiptSearchResult`: one page of receipts from `GET receipts-bulk/`
//! (BulkFetchReceipts), the faster way to read the receipts waiting for a system.
//!
//! Published shape (NgDP OpenAPI document 1.68.0, schemas `ReceiptSearchResult` and
//! `BulkReceipt`; `docs/ngdp-wire.md`): `{"currentPage", "totalPages", "elementsOnPage",
//! "totalElements", "receipts": [BulkReceipt]}`, where a `BulkReceipt` is a `Receipt` plus its
//! own `id` (a uuid). That `id` is the one to `DELETE receipts/{id}` by; it is not the
//! `transmissionId`. Each receipt is handed on as its JSON text, for the receipt reader.

use super::paging_result::{ListError, small_number, usable};

/// One `BulkReceipt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkReceipt {
    /// Its `id`, when it has one that may go into a URL path; `None` otherwise (the receipt
    /// can be stored but not deleted at NgDP).
    pub id: Option<String>,
    /// The receipt object as JSON text.
    pub json: String,
}

/// One page of bulk receipts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkPage {
    /// The receipts, in the order listed.
    pub receipts: Vec<BulkReceipt>,
    /// `currentPage`, when given.
    pub current_page: Option<u32>,
    /// `totalPages`, when given.
    pub total_pages: Option<u32>,
}

/// The page in a `ReceiptSearchResult` body.
pub fn parse(body: &str) -> Result<BulkPage, ListError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| ListError::NotJson(e.to_string()))?;
    let o = value.as_object().ok_or(ListError::NoList)?;
    let mut page = BulkPage {
        current_page: small_number(o.get("currentPage")),
        total_pages: small_number(o.get("totalPages")),
        ..BulkPage::default()
    };
    let items = match o.get("receipts") {
        Some(serde_json::Value::Array(a)) => a,
        None | Some(serde_json::Value::Null) if page.total_pages.is_some() => return Ok(page),
        _ => return Err(ListError::NoList),
    };
    for item in items {
        if !item.is_object() {
            return Err(ListError::BadItem(
                item.to_string().chars().take(80).collect(),
            ));
        }
        let id = item
            .get("id")
            .and_then(|v| v.as_str())
            .filter(|id| usable(id))
            .map(str::to_owned);
        page.receipts.push(BulkReceipt {
            id,
            json: item.to_string(),
        });
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_shape() {
        let body = r#"{"currentPage":0,"totalPages":1,"elementsOnPage":2,"totalElements":2,
            "receipts":[{"id":"0c4f5b6a-1111-4222-8333-944455556666",
              "transmissionId":"7d1e2f3a-1111-4222-8333-944455556666",
              "messageUUID":"8c2ea15d-61fb-4ba9-9366-42f8b194c114","receiptStatus":"COMPLETED",
              "timeStamp":"2023-08-25T00:49:34.437Z"},
              {"id":"../x","receiptStatus":"RECEIVED"}]}"#;
        let page = parse(body).unwrap();
        assert_eq!(page.total_pages, Some(1));
        assert_eq!(page.current_page, Some(0));
        assert_eq!(
            page.receipts[0].id.as_deref(),
            Some("0c4f5b6a-1111-4222-8333-944455556666")
        );
        assert!(page.receipts[0].json.contains("transmissionId"));
        assert_eq!(page.receipts[1].id, None);
    }

    #[test]
    fn not_a_result() {
        assert_eq!(parse("[]"), Err(ListError::NoList));
        assert_eq!(parse(r#"{"content":[]}"#), Err(ListError::NoList));
        assert!(matches!(
            parse(r#"{"receipts":[1]}"#),
            Err(ListError::BadItem(_))
        ));
        assert!(parse(r#"{"totalPages":0}"#).unwrap().receipts.is_empty());
    }
}
