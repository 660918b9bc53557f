//! NgDP (Danish Digital Post), host side: the receiving system an organisation registers.
//!
//! ```text
//! NgDP ──push──▶ push.rs (auth, limits, multipart) ─┐
//! NgDP ◀─pull── pull.rs, receipt_pull.rs ───────────┤
//!                                                   ▼
//!              receive.rs: body → spool file + component memo.reader → document files
//!                          → routing + receipt (component) → fsync → one store commit
//!                                                   │
//!                        200 to NgDP only after ◀───┘        outbox.rs ──receipt──▶ NgDP
//! ```

pub mod api_error;
pub mod batch;
pub mod client;
pub mod conflicts;
pub mod group_commit;
pub mod message_store;
pub mod metrics;
pub mod multipart;
pub mod outbox;
pub mod pull;
pub mod push;
pub mod receipt_metrics;
pub mod receipt_pull;
pub mod receive;
pub mod send;
pub mod sender;

pub(crate) use push::reader as push_reader;
pub use receive::{ReceiveError, Received, Receiving, Via};
