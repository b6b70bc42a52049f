//! Producer ids, epochs and sequences (idempotence), and the transaction coordinator.

pub mod producers;
pub mod txn;
