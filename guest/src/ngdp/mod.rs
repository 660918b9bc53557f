//! NgDP (Danish Digital Post), the receiving side's decisions: which mailbox a message goes
//! to, whether a push is authorised, what business receipt answers a message, and the
//! endpoints an organisation registers.
//!
//! Protocol facts: `docs/design.md` ("Danish Digital Post through NgDP") and the set-up guide
//! in `docs/seeds/ngdp-setup-guide.txt`.

pub mod authorization;
pub mod business_receipt;
pub mod endpoints;
pub mod memo_list;
pub mod routing;
