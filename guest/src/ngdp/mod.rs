//! NgDP (Danish Digital Post), the receiving side's decisions: which mailbox a message goes
//! to, whether a push is authorised, what business receipt answers a message, the endpoints an
//! organisation registers, and how NgDP's API answers are read.
//!
//! Protocol facts: `docs/design.md` ("Danish Digital Post through NgDP"), the set-up guide in
//! `docs/seeds/ngdp-setup-guide.txt`, and NgDP's OpenAPI document 1.68.0 as
//! `docs/ngdp-wire.md` lists it.

pub mod authorization;
pub mod business_receipt;
pub mod endpoints;
pub mod error_message;
pub mod paging_result;
pub mod receipt_search_result;
pub mod routing;
