//! The group coordinator: classic groups (JoinGroup/SyncGroup) and consumer protocol groups
//! (KIP-848), their members, assignments and committed offsets.

pub mod assignor;
pub mod consumer_coordinator;
pub mod consumer_group;
pub mod coordinator;
pub mod group;
