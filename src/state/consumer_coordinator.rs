//! The group coordinator's side of the consumer group protocol (KIP-848): ConsumerGroupHeartbeat
//! and ConsumerGroupDescribe against `consumer_group::ConsumerGroup`s, and the rules of the group
//! id space they share with classic groups. An empty group of one type is taken over by the
//! other protocol with its committed offsets, as in Kafka; a group with members keeps its type.

use std::collections::HashMap;
use std::time::Instant;

use kafka_protocol::error::ResponseError;

use super::consumer_group::{
    validate_heartbeat, ConsumerGroup, ConsumerGroupDescription, ConsumerGroupState, GroupError,
    HeartbeatRequest, HeartbeatResponse, TopicsImage,
};
use super::coordinator::{GroupCoordinator, TopicPartition};
use super::group::Group;

fn not_found(group_id: &str, is_classic: bool) -> GroupError {
    let message = if is_classic {
        format!("Group {group_id} is not a consumer group.")
    } else {
        format!("Group {group_id} not found.")
    };
    GroupError::new(ResponseError::GroupIdNotFound, message)
}

impl GroupCoordinator {
    /// ConsumerGroupHeartbeat: join (member epoch 0), heartbeat, or leave (-1, or -2 for a static
    /// member), as `version` of the API allows.
    pub fn consumer_heartbeat(
        &self,
        group_id: &str,
        req: HeartbeatRequest,
        version: i16,
        topics: &TopicsImage,
    ) -> Result<HeartbeatResponse, GroupError> {
        let settings = &self.settings.consumer;
        validate_heartbeat(group_id, &req, version, settings)?;
        let now = Instant::now();
        let result = {
            let mut classic = self.groups.lock();
            let mut consumer = self.consumer_groups.lock();
            let is_classic = classic.contains_key(group_id);
            match consumer.get_mut(group_id) {
                Some(group) if req.member_epoch < 0 => {
                    group.leave(&req.member_id, req.instance_id.as_deref(), req.member_epoch)
                }
                Some(group) => group.heartbeat(req, now, topics, settings),
                None if req.member_epoch != 0 => Err(if is_classic {
                    not_found(group_id, true)
                } else {
                    GroupError::new(
                        ResponseError::GroupIdNotFound,
                        format!("Consumer group {group_id} not found."),
                    )
                }),
                // Kafka 4 would convert a classic group with members into a consumer group
                // (group.consumer.migration.policy); this coordinator does not migrate groups.
                None if classic.get(group_id).is_some_and(|g| !g.is_empty()) => {
                    Err(not_found(group_id, true))
                }
                None => {
                    let mut group = ConsumerGroup::new(group_id);
                    let response = group.heartbeat(req, now, topics, settings)?;
                    if let Some(old) = classic.remove(group_id) {
                        group.offsets = old.offsets;
                        group.pending_txn_offsets = old.pending_txn_offsets;
                    }
                    consumer.insert(group_id.to_string(), group);
                    Ok(response)
                }
            }
        };
        self.deadlines_changed.notify_one();
        result
    }

    /// ConsumerGroupDescribe of one group: GROUP_ID_NOT_FOUND unless it is a consumer group.
    pub fn consumer_describe(
        &self,
        group_id: &str,
    ) -> Result<ConsumerGroupDescription, GroupError> {
        let is_classic = self.groups.lock().contains_key(group_id);
        self.consumer_groups
            .lock()
            .get(group_id)
            .map(|g| g.describe(&self.settings.consumer))
            .ok_or_else(|| not_found(group_id, is_classic))
    }

    /// (group id, state) of every consumer group, sorted by id.
    pub fn list_consumer_groups(&self) -> Vec<(String, ConsumerGroupState)> {
        let mut list: Vec<_> = self
            .consumer_groups
            .lock()
            .values()
            .map(|g| (g.group_id.clone(), g.state()))
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// OffsetFetch v9 from a member of a consumer group: its member id and epoch must be
    /// current. Classic groups do not check them.
    pub fn validate_offset_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), ResponseError> {
        let classic = self.groups.lock();
        if classic.contains_key(group_id) {
            return Ok(());
        }
        match self.consumer_groups.lock().get(group_id) {
            Some(group) => group
                .validate_offset_fetch(member_id, member_epoch)
                .map_err(|e| e.error),
            None => Ok(()),
        }
    }

    /// A classic JoinGroup for `group_id`, with the classic groups locked: an empty consumer
    /// group of that id becomes a classic group (keeping its offsets); one with members refuses.
    pub(super) fn claim_for_classic(
        &self,
        classic: &mut HashMap<String, Group>,
        group_id: &str,
    ) -> Result<(), ResponseError> {
        if classic.contains_key(group_id) {
            return Ok(());
        }
        let mut consumer = self.consumer_groups.lock();
        match consumer.get(group_id) {
            None => Ok(()),
            Some(group) if group.is_empty() => {
                let old = consumer.remove(group_id).expect("present");
                let mut group = Group::new(group_id);
                group.offsets = old.offsets;
                group.pending_txn_offsets = old.pending_txn_offsets;
                classic.insert(group_id.to_string(), group);
                Ok(())
            }
            // Kafka 4 admits a classic member into a consumer group with members; this
            // coordinator does not mix protocols in one group.
            Some(_) => Err(ResponseError::InconsistentGroupProtocol),
        }
    }

    /// DeleteGroups of a consumer group (the caller holds no group lock).
    pub(super) fn delete_consumer_group(&self, group_id: &str) -> Result<(), ResponseError> {
        let mut consumer = self.consumer_groups.lock();
        let group = consumer
            .get(group_id)
            .ok_or(ResponseError::GroupIdNotFound)?;
        if !group.is_empty() {
            return Err(ResponseError::NonEmptyGroup);
        }
        consumer.remove(group_id);
        Ok(())
    }

    /// OffsetDelete on a consumer group: offsets of subscribed topics stay.
    pub(super) fn delete_consumer_offsets(
        &self,
        group_id: &str,
        partitions: Vec<TopicPartition>,
    ) -> Result<Vec<(TopicPartition, Option<ResponseError>)>, ResponseError> {
        let mut consumer = self.consumer_groups.lock();
        let group = consumer
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

    pub(super) fn next_consumer_deadline(&self) -> Option<Instant> {
        self.consumer_groups
            .lock()
            .values()
            .filter_map(|g| g.next_deadline())
            .min()
    }

    pub(super) fn expire_consumer_groups(&self, now: Instant) {
        for group in self.consumer_groups.lock().values_mut() {
            group.expire(now);
        }
    }
}
