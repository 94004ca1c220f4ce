//! The transaction a batch of triggers is accepted in, holding one advisory lock per shopper
//! the batch is about, so that instances sharing the database apply a shopper's triggers one
//! after another: a batch that finds a shopper's lock taken waits until the batch holding it has
//! committed, then reads what that batch wrote. Locks are taken with `BEGIN`, in one round trip,
//! in ascending order (two batches wanting the same locks never wait on each other in a circle),
//! and released by the commit.
//!
//! Locks rather than a write that checks nothing changed since the read (a version bumped by
//! every write, and the batch read again when it moved): a trigger's view spans its order and
//! line items, its user after identity stitching and the anonymous ID last linked, which no one
//! version covers. The locks cost two round trips a batch (this `BEGIN`, and `COMMIT`), shared
//! by its triggers, and a wait only while another instance is accepting a trigger about the same
//! shopper.

use sha2::{Digest, Sha256};

/// The longest a batch waits for another instance's batch to release a shopper.
const LOCK_WAIT: &str = "5s";

/// The statement that begins a batch's transaction and takes the locks of `shoppers` ("order/…",
/// "user/…", "anonymous/…"). Only a simple query carries `BEGIN` and another statement in one
/// round trip, and it takes no parameters: the keys, numbers, are written into the text.
pub(crate) fn begin_locking(shoppers: &[String]) -> String {
    let mut keys: Vec<i64> = shoppers.iter().map(|shopper| lock_key(shopper)).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return "BEGIN".to_owned();
    }
    let keys: Vec<String> = keys.iter().map(i64::to_string).collect();
    // unnest yields the keys in the array's order, and each is locked as its row is made. A
    // batch waits at most LOCK_WAIT for its locks (an instance stalled mid-batch must not stop
    // the others' writers): past it, the statement fails with 55P03, "unavailable".
    format!(
        "BEGIN; SET LOCAL lock_timeout = '{LOCK_WAIT}'; \
         SELECT pg_advisory_xact_lock(k) FROM unnest(ARRAY[{}]::bigint[]) AS k",
        keys.join(",")
    )
}

/// A shopper's lock key: the first eight bytes of the SHA-256 of its name, the same in every
/// instance and every build (std's hashers promise neither). Two names sharing a key only make
/// their batches wait for each other (and, as the key of an `Ordered` delivery's shopper, their
/// deliveries).
pub(crate) fn lock_key(shopper: &str) -> i64 {
    let digest = Sha256::digest(shopper.as_bytes());
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_taken_once_each_in_ascending_order() {
        let shoppers = ["user/buyer01", "order/PO1", "user/buyer01", "anonymous/beacon-1"].map(String::from);
        let statement = begin_locking(&shoppers);
        let mut keys = [
            lock_key("order/PO1"),
            lock_key("user/buyer01"),
            lock_key("anonymous/beacon-1"),
        ];
        keys.sort_unstable();
        let keys = keys.map(|k| k.to_string()).join(",");
        assert_eq!(
            statement,
            format!(
                "BEGIN; SET LOCAL lock_timeout = '5s'; \
                 SELECT pg_advisory_xact_lock(k) FROM unnest(ARRAY[{keys}]::bigint[]) AS k"
            )
        );
        // SHA-256("order/PO1") begins a2b434c492f33edb: the key is that, whatever the build.
        assert_eq!(lock_key("order/PO1"), -6_722_690_324_873_658_661);
        assert_eq!(begin_locking(&[]), "BEGIN");
    }
}
