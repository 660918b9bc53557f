//! Webhooks (issue 15, notifications): the events of the log (`store::events`) posted to
//! the platform's endpoints (`[[api.webhooks]]`), signed as Standard Webhooks
//! (<https://www.standardwebhooks.com/>), at least once, from a durable outbox.
//!
//! How an event becomes a delivery: each webhook has a cursor in the store (the last event
//! it has looked at). The worker in `dpost serve` moves it forward and creates one delivery
//! row per matching event in the same transaction ([`crate::store::webhooks`]). Why a
//! cursor and not delivery rows written beside each event: the events are committed by
//! code that knows nothing of webhooks (the push listener's group commit, `dpost ngdp pull`,
//! `dpost digipost sync`, other processes), and the list of webhooks lives in `dpost.toml`,
//! which changes while the store keeps its rows. The guarantee is the same: the event is
//! durable with what it reports, the cursor only moves together with the deliveries it
//! creates, and a delivery leaves `pending` only when the endpoint answered 2xx (delivered)
//! or the give-up time passed (failed, kept with its reason, retryable). A crash anywhere
//! in between repeats work; it never loses an event. So delivery is at least once, and a
//! receiver de-duplicates by `webhook-id`.
//!
//! A failing endpoint never blocks receiving mail: the worker runs one task per webhook on
//! a store connection of its own, each post has a time limit, and it writes only its own
//! tables, in short transactions.

pub mod backoff;
pub mod signature;
pub mod worker;
