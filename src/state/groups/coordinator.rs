//! The group coordinator: every consumer group of the cluster behind one short-held mutex, and
//! the timer task that applies session timeouts and rebalance deadlines as they fall due.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use super::consumer_group::ConsumerGroup;
use super::group::{
    CommittedOffset, Group, GroupSettings, GroupState, JoinRequest, JoinResult, Reply, SyncResult,
};

/// A topic partition, by name.
pub type TopicPartition = (String, i32);

/// A member as DescribeGroups reports it.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    pub generation_id: i32,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<MemberDescription>,
}

#[derive(Debug, Default)]
pub struct GroupCoordinator {
    pub(super) groups: Mutex<HashMap<String, Group>>,
    /// Groups of the consumer group protocol (KIP-848, `consumer_coordinator.rs`). A group id is
    /// in one map at most; lock `groups` first when both are needed.
    pub(super) consumer_groups: Mutex<HashMap<String, ConsumerGroup>>,
    pub(super) settings: GroupSettings,
    /// Wakes the timer task when a request may have moved a deadline.
    pub(super) deadlines_changed: Notify,
}

impl GroupCoordinator {
    pub fn new(settings: GroupSettings) -> Self {
        GroupCoordinator {
            settings,
            ..Default::default()
        }
    }

    pub fn join(&self, group_id: &str, req: JoinRequest) -> Reply<JoinResult> {
        let reply = {
            let mut groups = self.groups.lock();
            if let Err(error) = self.claim_for_classic(&mut groups, group_id) {
                return Reply::Now(JoinResult::error(error, &req.member_id));
            }
            let group = groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id));
            group.join(req, Instant::now(), &self.settings)
        };
        self.deadlines_changed.notify_one();
        reply
    }

    pub fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
    ) -> Reply<SyncResult> {
        let reply = match self.groups.lock().get_mut(group_id) {
            Some(group) => group.sync(member_id, instance_id, generation_id, protocol, assignments),
            None => Reply::Now(SyncResult {
                error: Some(ResponseError::UnknownMemberId),
                protocol_type: None,
                protocol_name: None,
                assignment: Bytes::new(),
            }),
        };
        self.deadlines_changed.notify_one();
        reply
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), ResponseError> {
        let result = match self.groups.lock().get_mut(group_id) {
            Some(group) => group.heartbeat(member_id, instance_id, generation_id, Instant::now()),
            None => Err(ResponseError::UnknownMemberId),
        };
        self.deadlines_changed.notify_one();
        result
    }

    /// Removes members (member id, instance id); one result per member.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
        let now = Instant::now();
        let results = {
            let mut groups = self.groups.lock();
            let group = groups
                .get_mut(group_id)
                .ok_or(ResponseError::UnknownMemberId)?;
            members
                .iter()
                .map(|(member_id, instance_id)| {
                    group.leave(member_id, instance_id.as_deref(), now, &self.settings)
                })
                .collect()
        };
        self.deadlines_changed.notify_one();
        Ok(results)
    }

    /// Stores offsets if the committer may commit (see `Group::check_commit`). A simple commit
    /// (generation -1, no member) creates the group if needed, as admin tools expect.
    pub fn commit_offsets(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        offsets: Vec<(TopicPartition, CommittedOffset)>,
        api_version: i16,
    ) -> Result<(), ResponseError> {
        let mut groups = self.groups.lock();
        if !groups.contains_key(group_id) {
            // A consumer group's generation is the member epoch.
            if let Some(group) = self.consumer_groups.lock().get_mut(group_id) {
                group
                    .validate_offset_commit(member_id, generation_id, false, api_version)
                    .map_err(|e| e.error)?;
                group.offsets.extend(offsets);
                return Ok(());
            }
        }
        let simple = generation_id < 0 && member_id.is_empty();
        let group = match groups.get_mut(group_id) {
            Some(group) => group,
            None if simple => groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id)),
            // From v9 an unknown group is named as such, for both protocols.
            None if api_version >= 9 => return Err(ResponseError::GroupIdNotFound),
            None => return Err(ResponseError::UnknownMemberId),
        };
        group.check_commit(member_id, instance_id, generation_id)?;
        group.offsets.extend(offsets);
        Ok(())
    }

    /// TxnOffsetCommit: offsets held pending until the producer's transaction ends. Creates the
    /// group if needed, as Kafka does.
    pub fn commit_txn_offsets(
        &self,
        group_id: &str,
        producer_id: i64,
        member_id: &str,
        generation_id: i32,
        offsets: Vec<(TopicPartition, CommittedOffset)>,
    ) -> Result<(), ResponseError> {
        let mut groups = self.groups.lock();
        if !groups.contains_key(group_id) {
            if let Some(group) = self.consumer_groups.lock().get_mut(group_id) {
                // A stale member epoch is ILLEGAL_GENERATION here, as in Kafka.
                group
                    .validate_offset_commit(member_id, generation_id, true, 0)
                    .map_err(|e| match e.error {
                        ResponseError::StaleMemberEpoch => ResponseError::IllegalGeneration,
                        error => error,
                    })?;
                group
                    .pending_txn_offsets
                    .entry(producer_id)
                    .or_default()
                    .extend(offsets);
                return Ok(());
            }
        }
        let group = groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id));
        group.check_txn_commit(member_id, generation_id)?;
        group
            .pending_txn_offsets
            .entry(producer_id)
            .or_default()
            .extend(offsets);
        Ok(())
    }

    /// The producer's transaction ended: its pending offsets become committed, or are dropped.
    pub fn end_txn_offsets(&self, group_id: &str, producer_id: i64, commit: bool) {
        if let Some(group) = self.groups.lock().get_mut(group_id) {
            if let Some(pending) = group.pending_txn_offsets.remove(&producer_id) {
                if commit {
                    group.offsets.extend(pending);
                }
            }
        } else if let Some(group) = self.consumer_groups.lock().get_mut(group_id) {
            if let Some(pending) = group.pending_txn_offsets.remove(&producer_id) {
                if commit {
                    group.offsets.extend(pending);
                }
            }
        }
    }

    /// Partitions with offsets pending in an open transaction (OffsetFetch's require_stable).
    pub fn pending_txn_partitions(
        &self,
        group_id: &str,
    ) -> std::collections::BTreeSet<TopicPartition> {
        let pending = self
            .groups
            .lock()
            .get(group_id)
            .map(|g| g.pending_txn_offsets.clone())
            .or_else(|| {
                self.consumer_groups
                    .lock()
                    .get(group_id)
                    .map(|g| g.pending_txn_offsets.clone())
            })
            .unwrap_or_default();
        pending.values().flat_map(|o| o.keys().cloned()).collect()
    }

    /// Committed offsets of `partitions`, or of every partition the group has committed.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Vec<(TopicPartition, Option<CommittedOffset>)> {
        let groups = self.groups.lock();
        let consumer_groups = self.consumer_groups.lock();
        let group = groups
            .get(group_id)
            .map(|g| &g.offsets)
            .or_else(|| consumer_groups.get(group_id).map(|g| &g.offsets));
        match partitions {
            Some(partitions) => partitions
                .into_iter()
                .map(|tp| {
                    let offset = group.and_then(|offsets| offsets.get(&tp).cloned());
                    (tp, offset)
                })
                .collect(),
            None => group
                .map(|offsets| {
                    offsets
                        .iter()
                        .map(|(tp, o)| (tp.clone(), Some(o.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let groups = self.groups.lock();
        let group = groups.get(group_id)?;
        let protocol = group.protocol_name().unwrap_or_default().to_string();
        Some(GroupDescription {
            group_id: group.group_id.clone(),
            state: group.state(),
            generation_id: group.generation_id(),
            protocol_type: group.protocol_type().unwrap_or_default().to_string(),
            protocol_name: protocol.clone(),
            members: group
                .members()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// (group id, protocol type, state) of every group, sorted by id.
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let mut list: Vec<_> = self
            .groups
            .lock()
            .values()
            .map(|g| {
                (
                    g.group_id.clone(),
                    g.protocol_type().unwrap_or_default().to_string(),
                    g.state(),
                )
            })
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// Forgets every group and its offsets (a test's reset). Parked joins and syncs are answered
    /// as their senders drop; members rejoin as new members of a new group.
    pub fn clear(&self) {
        self.groups.lock().clear();
        self.deadlines_changed.notify_one();
    }

    /// Deletes an Empty group and its offsets: GROUP_ID_NOT_FOUND, or NON_EMPTY_GROUP.
    pub fn delete(&self, group_id: &str) -> Result<(), ResponseError> {
        let mut groups = self.groups.lock();
        if !groups.contains_key(group_id) {
            return self.delete_consumer_group(group_id);
        }
        let group = groups
            .get_mut(group_id)
            .ok_or(ResponseError::GroupIdNotFound)?;
        if group.state() != GroupState::Empty {
            return Err(ResponseError::NonEmptyGroup);
        }
        group.mark_dead();
        groups.remove(group_id);
        Ok(())
    }

    /// Deletes committed offsets (OffsetDelete). A live consumer group keeps the offsets of
    /// topics it is subscribed to (GROUP_SUBSCRIBED_TO_TOPIC).
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<TopicPartition>,
    ) -> Result<Vec<(TopicPartition, Option<ResponseError>)>, ResponseError> {
        let mut groups = self.groups.lock();
        if !groups.contains_key(group_id) {
            return self.delete_consumer_offsets(group_id, partitions);
        }
        let group = groups
            .get_mut(group_id)
            .ok_or(ResponseError::GroupIdNotFound)?;
        Ok(partitions
            .into_iter()
            .map(|tp| {
                if group.is_subscribed_to(&tp.0) {
                    (tp, Some(ResponseError::GroupSubscribedToTopic))
                } else {
                    group.offsets.remove(&tp);
                    (tp, None)
                }
            })
            .collect())
    }

    fn next_deadline(&self) -> Option<Instant> {
        let classic = self
            .groups
            .lock()
            .values()
            .filter_map(|g| g.next_deadline())
            .min();
        classic
            .into_iter()
            .chain(self.next_consumer_deadline())
            .min()
    }

    fn expire(&self, now: Instant) {
        for group in self.groups.lock().values_mut() {
            group.expire(now, &self.settings);
        }
        self.expire_consumer_groups(now);
    }

    /// Applies session timeouts and rebalance deadlines as they fall due, until shutdown. It
    /// sleeps until the earliest deadline and is woken early when a request moves one.
    pub async fn run_timers(&self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let changed = self.deadlines_changed.notified();
            let sleep = match self.next_deadline() {
                Some(deadline) => tokio::time::sleep_until(deadline.into()),
                None => tokio::time::sleep(std::time::Duration::from_secs(3600)),
            };
            tokio::select! {
                _ = changed => {}
                _ = sleep => self.expire(Instant::now()),
                _ = shutdown.changed() => return,
            }
        }
    }
}
