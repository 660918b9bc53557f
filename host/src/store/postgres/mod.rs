//! The store's tables on PostgreSQL (issue 18): each service's migrations, numbered from 1
//! on their own (a PostgreSQL store starts at today's shape; SQLite's history of `ALTER`s is
//! not replayed).
//!
//! The queries are the SQLite ones (see [`super::sql`]), so the tables keep SQLite's names
//! and meanings, with these differences:
//! - every integer is BIGINT (SQLite's INTEGER is 64-bit; a flag is 0 or 1, as there);
//! - SQLite's `INTEGER PRIMARY KEY` ids are identity columns;
//! - where the queries use SQLite's implicit `rowid` (`ngdp_outbox`: a receipt's id in the
//!   API; `outgoing_attempts`: their order), the table has a real column of that name;
//! - the numbers a reader pages by (`events.seq`, `outgoing.seq`, `digipost_documents.seq`,
//!   and `ngdp_messages.seq` through `ngdp_sequence`) come from a counter row updated in the
//!   inserting transaction. Its row lock is held until that transaction commits, so numbers
//!   are taken in commit order and a reader never sees a number before a smaller one
//!   (SQLite gives the same by having one writer at a time). A sequence or identity column
//!   would not: two transactions may commit in the opposite order to their numbers, and a
//!   reader that saw the larger one would skip the smaller for good;
//! - `json_each(text)` is defined to read a JSON list of strings as SQLite's does, for the
//!   mailbox restrictions of API clients;
//! - the console's counters are kept by PL/pgSQL triggers, and its free-text search uses
//!   pg_trgm where SQLite has FTS5.

use super::Migration;

/// Shared by every service: the commit-ordered counters, and SQLite's `json_each` for a
/// JSON list of strings (the value column only, which is all the queries read). A macro, so
/// that `concat!` puts it before the first service's tables.
macro_rules! common {
    () => {
        "
    CREATE TABLE IF NOT EXISTS dpost_sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
    CREATE OR REPLACE FUNCTION dpost_take_seq() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE dpost_sequences SET value = value + 1 WHERE name = TG_ARGV[0] RETURNING value INTO NEW.seq;
        IF NEW.seq IS NULL THEN
            RAISE EXCEPTION 'no counter %', TG_ARGV[0];
        END IF;
        RETURN NEW;
    END $$;
    CREATE OR REPLACE FUNCTION json_each(list text) RETURNS TABLE (value text)
        LANGUAGE sql IMMUTABLE AS $$ SELECT json_array_elements_text(list::json) $$;
"
    };
}

/// [`super::digipost`]'s tables.
pub const DIGIPOST: &[Migration] = &[Migration {
    version: 1,
    sql: concat!(
        common!(),
        "
        CREATE TABLE digipost_documents (
            sender_id           BIGINT NOT NULL,
            id                  BIGINT NOT NULL,
            parent_id           BIGINT,
            position            BIGINT NOT NULL,
            metadata            TEXT NOT NULL,
            content_type        TEXT,
            content             BYTEA NOT NULL,
            content_sha256      TEXT NOT NULL,
            archived_at         BIGINT NOT NULL,
            deleted_remotely_at BIGINT,
            seq                 BIGINT,
            PRIMARY KEY (sender_id, id),
            FOREIGN KEY (sender_id, parent_id) REFERENCES digipost_documents (sender_id, id)
        );
        CREATE INDEX digipost_documents_not_deleted ON digipost_documents (sender_id)
            WHERE parent_id IS NULL AND deleted_remotely_at IS NULL;
        CREATE UNIQUE INDEX digipost_documents_seq ON digipost_documents (seq);
        INSERT INTO dpost_sequences (name, value) VALUES ('digipost_documents', 0);
        CREATE TRIGGER digipost_documents_seq BEFORE INSERT ON digipost_documents
            FOR EACH ROW EXECUTE FUNCTION dpost_take_seq('digipost_documents');
        CREATE TABLE digipost_sync_runs (
            sender_id   BIGINT PRIMARY KEY,
            started_at  BIGINT NOT NULL,
            finished_at BIGINT
        );
        CREATE TABLE digipost_acks (
            sender_id      BIGINT NOT NULL,
            id             BIGINT NOT NULL,
            actor          TEXT NOT NULL,
            acked_at       BIGINT NOT NULL,
            case_reference TEXT,
            PRIMARY KEY (sender_id, id),
            FOREIGN KEY (sender_id, id) REFERENCES digipost_documents (sender_id, id)
        );
    "
    ),
}];

/// [`super::ngdp`]'s tables.
pub const NGDP: &[Migration] = &[
    Migration {
        version: 1,
        sql: "
        CREATE TABLE ngdp_mailboxes (
            name       TEXT PRIMARY KEY,
            first_seen BIGINT NOT NULL
        );
        CREATE TABLE ngdp_messages (
            uuid            TEXT PRIMARY KEY,
            environment     TEXT NOT NULL,
            system_id       TEXT NOT NULL,
            via             TEXT NOT NULL,
            received_at     BIGINT NOT NULL,
            valid           BIGINT NOT NULL,
            problems        TEXT NOT NULL,
            message_id      TEXT,
            label           TEXT,
            sender_id       TEXT,
            sender_label    TEXT,
            recipient_id    TEXT,
            mailbox         TEXT NOT NULL,
            contact_point   TEXT,
            routing_reason  TEXT NOT NULL,
            header          TEXT NOT NULL,
            dir             TEXT NOT NULL,
            raw_size        BIGINT NOT NULL,
            raw_sha256      TEXT NOT NULL,
            seq             BIGINT,
            acked           BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX ngdp_messages_mailbox ON ngdp_messages (mailbox, received_at);
        CREATE UNIQUE INDEX ngdp_messages_seq ON ngdp_messages (seq);
        CREATE TABLE ngdp_sequence (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
        INSERT INTO ngdp_sequence (name, value) VALUES ('messages', 0);
        CREATE TABLE ngdp_files (
            message_uuid    TEXT NOT NULL REFERENCES ngdp_messages (uuid),
            seq             BIGINT NOT NULL,
            document_seq    BIGINT NOT NULL,
            document_kind   TEXT NOT NULL,
            document_label  TEXT,
            filename        TEXT NOT NULL,
            encoding_format TEXT NOT NULL,
            language        TEXT NOT NULL,
            path            TEXT NOT NULL,
            size            BIGINT NOT NULL,
            sha256          TEXT NOT NULL,
            PRIMARY KEY (message_uuid, seq)
        );
        CREATE TABLE ngdp_outbox (
            rowid           BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE,
            message_uuid    TEXT PRIMARY KEY REFERENCES ngdp_messages (uuid),
            environment     TEXT NOT NULL,
            system_id       TEXT NOT NULL,
            receipt         TEXT NOT NULL,
            status          TEXT NOT NULL,
            attempts        BIGINT NOT NULL DEFAULT 0,
            next_attempt_at BIGINT NOT NULL,
            last_error      TEXT,
            sent_at         BIGINT,
            delete_memo     TEXT,
            claimed_until   BIGINT,
            queued_at       BIGINT,
            last_http_status BIGINT
        );
        CREATE INDEX ngdp_outbox_due ON ngdp_outbox (next_attempt_at) WHERE status = 'pending';
        CREATE INDEX ngdp_outbox_open ON ngdp_outbox (system_id) WHERE status <> 'sent';
        CREATE TABLE ngdp_sent (
            uuid        TEXT PRIMARY KEY,
            system_id   TEXT NOT NULL,
            status      TEXT NOT NULL,
            created_at  BIGINT NOT NULL,
            updated_at  BIGINT NOT NULL,
            environment TEXT,
            attempts    BIGINT NOT NULL DEFAULT 0,
            reason      TEXT,
            receipt     TEXT
        );
        CREATE TABLE ngdp_receipts (
            id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            system_id       TEXT NOT NULL,
            message_uuid    TEXT NOT NULL,
            receipt_status  TEXT NOT NULL,
            error_code      TEXT,
            error_message   TEXT,
            time_stamp      TEXT NOT NULL,
            transmission_id TEXT,
            json            TEXT NOT NULL,
            received_at     BIGINT NOT NULL,
            linked          BIGINT NOT NULL,
            ngdp_id         TEXT,
            warnings        TEXT
        );
        CREATE INDEX ngdp_receipts_message ON ngdp_receipts (message_uuid);
        CREATE UNIQUE INDEX ngdp_receipts_ngdp_id ON ngdp_receipts (system_id, ngdp_id)
            WHERE ngdp_id IS NOT NULL;
        CREATE TABLE ngdp_conflicts (
            id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            message_uuid TEXT NOT NULL REFERENCES ngdp_messages (uuid),
            received_at  BIGINT NOT NULL,
            size         BIGINT NOT NULL,
            sha256       TEXT NOT NULL,
            path         TEXT
        );
        CREATE INDEX ngdp_conflicts_message ON ngdp_conflicts (message_uuid);
    ",
    },
    Migration {
        version: 2,
        // Counter rows every writer updates, hundreds of times a second under load: each
        // update leaves a row version that the next one steps over until the page is pruned.
        // A page kept nine tenths empty is pruned at almost every update, so the chains stay
        // short (heap_hot_search_buffer was the hottest function in a profile of 20 KB
        // pushes, BENCHMARKS.md).
        sql: "
        ALTER TABLE ngdp_sequence SET (fillfactor = 10);
        ALTER TABLE dpost_sequences SET (fillfactor = 10);
    ",
    },
];

/// [`super::handover`]'s tables.
pub const HANDOVER: &[Migration] = &[
    Migration {
        version: 1,
        sql: "
        CREATE TABLE handover_acks (
            message_uuid   TEXT PRIMARY KEY REFERENCES ngdp_messages (uuid),
            actor          TEXT NOT NULL,
            acked_at       BIGINT NOT NULL,
            case_reference TEXT
        );
        CREATE TABLE handover_audit (
            id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at           BIGINT NOT NULL,
            actor        TEXT NOT NULL,
            action       TEXT NOT NULL,
            message_uuid TEXT NOT NULL,
            detail       TEXT NOT NULL
        );
        CREATE INDEX handover_audit_message ON handover_audit (message_uuid, id);
        CREATE INDEX ngdp_messages_pending ON ngdp_messages (seq, mailbox, valid, received_at)
            WHERE acked = 0;
    ",
    },
    Migration {
        version: 2,
        // As SQLite's handover migration 3: one mailbox's pending page.
        sql: "
        CREATE INDEX ngdp_messages_pending_mailbox ON ngdp_messages (mailbox, seq)
            WHERE acked = 0;
    ",
    },
];

/// [`super::events`]'s tables.
pub const EVENTS: &[Migration] = &[Migration {
    version: 1,
    sql: "
        CREATE TABLE events (
            seq      BIGINT PRIMARY KEY,
            type     TEXT NOT NULL,
            at       BIGINT NOT NULL,
            mailbox  TEXT,
            subject  TEXT NOT NULL,
            payload  TEXT NOT NULL
        );
        INSERT INTO dpost_sequences (name, value) VALUES ('events', 0);
        CREATE TRIGGER events_seq BEFORE INSERT ON events
            FOR EACH ROW EXECUTE FUNCTION dpost_take_seq('events');
        CREATE INDEX events_mailbox ON events (mailbox, seq);
        CREATE TABLE events_pruned (
            id      BIGINT PRIMARY KEY CHECK (id = 1),
            through BIGINT NOT NULL,
            at      BIGINT NOT NULL
        );
    ",
}];

/// [`super::webhooks`]'s tables.
pub const WEBHOOKS: &[Migration] = &[
    Migration {
    version: 1,
    sql: "
        CREATE TABLE webhook_cursors (
            webhook TEXT PRIMARY KEY,
            after   BIGINT NOT NULL
        );
        CREATE TABLE webhook_deliveries (
            id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            webhook         TEXT NOT NULL,
            event_seq       BIGINT NOT NULL REFERENCES events (seq),
            state           TEXT NOT NULL,
            attempts        BIGINT NOT NULL DEFAULT 0,
            created_at      BIGINT NOT NULL,
            window_start    BIGINT NOT NULL,
            next_attempt_at BIGINT NOT NULL,
            last_error      TEXT,
            delivered_at    BIGINT,
            UNIQUE (webhook, event_seq)
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
        CREATE INDEX webhook_deliveries_state ON webhook_deliveries (state, id);
        CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_seq, state);
    ",
    },
    // Claimed for posting by one replica until then (`webhooks_claim_due`).
    Migration {
        version: 2,
        sql: "ALTER TABLE webhook_deliveries ADD COLUMN claimed_until BIGINT;",
    },
];

/// [`super::outgoing`]'s tables.
pub const OUTGOING: &[Migration] = &[
    Migration {
        version: 1,
        sql: "
        CREATE TABLE outgoing (
            seq             BIGINT PRIMARY KEY,
            uuid            TEXT NOT NULL UNIQUE,
            idempotency_key TEXT,
            client          TEXT NOT NULL,
            system_id       TEXT NOT NULL,
            environment     TEXT NOT NULL,
            path            TEXT NOT NULL,
            size            BIGINT NOT NULL,
            sha256          TEXT NOT NULL,
            fingerprint     TEXT NOT NULL,
            status          TEXT NOT NULL,
            attempts        BIGINT NOT NULL DEFAULT 0,
            next_attempt_at BIGINT NOT NULL,
            give_up_at      BIGINT NOT NULL,
            reason          TEXT,
            answer          TEXT,
            created_at      BIGINT NOT NULL,
            updated_at      BIGINT NOT NULL,
            UNIQUE (client, idempotency_key)
        );
        INSERT INTO dpost_sequences (name, value) VALUES ('outgoing', 0);
        CREATE TRIGGER outgoing_seq BEFORE INSERT ON outgoing
            FOR EACH ROW EXECUTE FUNCTION dpost_take_seq('outgoing');
        CREATE TABLE outgoing_attempts (
            rowid        BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            outgoing_seq BIGINT NOT NULL REFERENCES outgoing (seq),
            at           BIGINT NOT NULL,
            batch_size   BIGINT NOT NULL,
            outcome      TEXT NOT NULL,
            detail       TEXT
        );
        CREATE INDEX outgoing_attempts_seq ON outgoing_attempts (outgoing_seq);
        CREATE INDEX outgoing_due ON outgoing (next_attempt_at) WHERE status = 'queued';
        CREATE INDEX outgoing_client ON outgoing (client, seq);
    ",
    },
    // A message being sent is claimed by one replica's sender until then
    // (`outgoing_take_due`); one whose claim ran out was left by a sender that died.
    Migration {
        version: 2,
        sql: "ALTER TABLE outgoing ADD COLUMN claimed_until BIGINT;",
    },
];

/// [`super::console`]'s tables.
pub const CONSOLE: &[Migration] = &[Migration {
    version: 1,
    sql: "
        CREATE TABLE console_audit (
            id      BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at      BIGINT NOT NULL,
            actor   TEXT NOT NULL,
            action  TEXT NOT NULL,
            target  TEXT NOT NULL,
            detail  TEXT NOT NULL
        );
        CREATE INDEX console_audit_target ON console_audit (target, id);
        CREATE TABLE console_daily (
            day      BIGINT NOT NULL,
            mailbox  TEXT NOT NULL,
            messages BIGINT NOT NULL,
            PRIMARY KEY (day, mailbox)
        );
        CREATE FUNCTION console_daily_count() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                IF OLD.mailbox = NEW.mailbox THEN
                    RETURN NEW;
                END IF;
                UPDATE console_daily SET messages = messages - 1
                    WHERE day = OLD.received_at / 86400 AND mailbox = OLD.mailbox;
            END IF;
            INSERT INTO console_daily (day, mailbox, messages) VALUES (NEW.received_at / 86400, NEW.mailbox, 1)
                ON CONFLICT (day, mailbox) DO UPDATE SET messages = console_daily.messages + 1;
            RETURN NEW;
        END $$;
        CREATE TRIGGER console_daily_received AFTER INSERT ON ngdp_messages
            FOR EACH ROW EXECUTE FUNCTION console_daily_count();
        CREATE TRIGGER console_daily_moved AFTER UPDATE OF mailbox ON ngdp_messages
            FOR EACH ROW EXECUTE FUNCTION console_daily_count();
        -- Free text on the label and the sender's name: pg_trgm answers ILIKE '%text%' from
        -- a trigram index, as FTS5's trigram tokenizer does on SQLite.
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX console_search_label ON ngdp_messages USING gin (label gin_trgm_ops);
        CREATE INDEX console_search_sender ON ngdp_messages USING gin (sender_label gin_trgm_ops);
        CREATE INDEX console_messages_received ON ngdp_messages (received_at, seq);
        CREATE INDEX console_messages_mailbox ON ngdp_messages (mailbox, received_at, seq);
        CREATE INDEX console_messages_invalid ON ngdp_messages (received_at, seq) WHERE valid = 0;
        CREATE INDEX console_messages_sender_id ON ngdp_messages (sender_id, received_at, seq);
        CREATE INDEX console_messages_sender_label ON ngdp_messages (sender_label, received_at, seq);
        CREATE INDEX console_outbox_open ON ngdp_outbox (status) WHERE status <> 'sent';
        CREATE INDEX console_outgoing_open ON outgoing (status) WHERE status <> 'sent';
    ",
},
    Migration {
        version: 2,
        // As SQLite's console migration 2: the pending and acknowledged lists by the flag.
        sql: "
        CREATE INDEX console_messages_pending ON ngdp_messages (received_at, seq) WHERE acked = 0;
        CREATE INDEX console_messages_acknowledged ON ngdp_messages (received_at, seq) WHERE acked = 1;
    ",
    },
    Migration {
        version: 3,
        // The day's count of a mailbox is one row every replica storing a message updates,
        // locked until commit. Counted at the commit (a deferred constraint trigger) rather
        // than at the insert, the lock is held for the commit only, not for the rest of the
        // transaction (the message's rows and bytes): replicas storing at the same time wait
        // on each other that much less. Same count, same transaction.
        sql: "
        ALTER TABLE console_daily SET (fillfactor = 10);
        DROP TRIGGER console_daily_received ON ngdp_messages;
        CREATE CONSTRAINT TRIGGER console_daily_received AFTER INSERT ON ngdp_messages
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION console_daily_count();
    ",
    },
];

/// [`super::doctor`]'s table.
pub const DOCTOR: &[Migration] = &[Migration {
    version: 1,
    sql: "
        CREATE TABLE doctor_runs (
            id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            environment TEXT NOT NULL,
            checked_at BIGINT NOT NULL,
            worst      TEXT NOT NULL,
            failed     BIGINT NOT NULL,
            warnings   BIGINT NOT NULL,
            report     TEXT NOT NULL
        );
    ",
}];

/// [`super::leases`]' table.
pub const LEASES: &[Migration] = &[Migration {
    version: 1,
    sql: "
        CREATE TABLE dpost_leases (
            name   TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            until  BIGINT NOT NULL
        );
    ",
}];

/// Throwaway schemas for tests that run against a real server.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::atomic::{AtomicU32, Ordering};

    use crate::store::sql::postgres::Connection;

    static NEXT: AtomicU32 = AtomicU32::new(0);

    /// Create an empty schema on the server at `url` and return a URL whose connections use
    /// it first (and `public` after it, where pg_trgm is installed once for all).
    pub fn scratch_schema(url: &str, name: &str) -> String {
        let schema = format!(
            "t_{}_{}_{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let admin = crate::store::sql::Connection::postgres(
            Connection::connect(url).expect("the test PostgreSQL server answers"),
        );
        admin
            .execute_batch(&format!(
                // Tests start together on a fresh server: IF NOT EXISTS alone races, with each other and
                // with migrations (which hold the same lock).
                // The lock ends with the commit, once the extension is visible to the next.
                "BEGIN;
                 SELECT pg_advisory_xact_lock(7366485623);
                 CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
                 COMMIT;
                 DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
            ))
            .expect("a scratch schema");
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-c%20search_path%3D{schema},public")
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use crate::store::events::{self, EventType, NewEvent};

    fn event(tx: &crate::store::sql::Connection, subject: &str) -> i64 {
        events::record(
            tx,
            &NewEvent {
                kind: EventType::MessageReceived,
                at: 1,
                mailbox: None,
                subject,
                payload: serde_json::json!({}),
            },
        )
        .unwrap()
    }

    /// Why the counter row and not a SEQUENCE: while one transaction holds a number, no
    /// other can take the next one, so numbers become visible in order and a reader paging
    /// "after N" never skips one that commits late.
    #[test]
    fn a_number_is_taken_only_after_the_transaction_holding_the_last_one_ends() {
        let Ok(base) = std::env::var("DPOST_TEST_POSTGRES") else {
            eprintln!("skipped: DPOST_TEST_POSTGRES is not set (tests/postgres/run.sh sets it)");
            return;
        };
        let url = super::testing::scratch_schema(&base, "order");
        let mut a = Store::open_postgres(&url).unwrap();
        let mut b = Store::open_postgres(&url).unwrap();
        let first = event(a.conn(), "before");

        let tx = a.conn().transaction().unwrap();
        let held = event(&tx, "held");
        assert_eq!(held, first + 1);
        // B cannot take a number while A's transaction holds the counter: it waits (here it
        // gives up after its lock timeout instead of waiting), and a reader sees nothing new.
        b.conn()
            .execute_batch("SET lock_timeout = '200ms'")
            .unwrap();
        let blocked = b.conn().transaction().map(|t| {
            let r = events::record(
                &t,
                &NewEvent {
                    kind: EventType::MessageReceived,
                    at: 1,
                    mailbox: None,
                    subject: "late",
                    payload: serde_json::json!({}),
                },
            );
            drop(t);
            r
        });
        match blocked {
            Ok(Err(e)) => assert!(e.to_string().contains("55P03"), "{e}"),
            other => panic!("B took a number while A held one: {other:?}"),
        }
        let seen = b.events_after(first, 10, None, None).unwrap();
        assert!(seen.is_empty(), "{seen:?}");
        tx.commit().unwrap();

        // Once A committed, B's number comes after A's, and readers see both in order.
        b.conn().execute_batch("SET lock_timeout = 0").unwrap();
        let late = event(b.conn(), "late");
        assert_eq!(late, held + 1);
        let seen: Vec<i64> = a
            .events_after(first, 10, None, None)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seen, vec![held, late]);
    }
}
