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

    /// Whether `group_id` is a consumer-protocol (KIP-848) group.
    pub fn is_consumer_group(&self, group_id: &str) -> bool {
        self.consumer_groups.lock().contains_key(group_id)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use uuid::Uuid;

    use super::*;
    use crate::state::groups::assignor::Assignment;
    use crate::state::groups::group::{
        CommittedOffset, GroupSettings, JoinRequest, JoinResult, Reply,
    };

    fn topics() -> TopicsImage {
        TopicsImage::from([("t".to_string(), (Uuid::from_bytes([7; 16]), 2))])
    }

    fn join(member_id: &str) -> HeartbeatRequest {
        HeartbeatRequest {
            member_id: member_id.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["t".into()]),
            owned_partitions: Some(Assignment::new()),
            ..Default::default()
        }
    }

    fn classic_join(coordinator: &GroupCoordinator, group_id: &str) -> JoinResult {
        let req = JoinRequest {
            member_id: String::new(),
            group_instance_id: None,
            client_id: "kafkajs".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(10),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::new())],
            require_known_member_id: false,
            supports_skip_assignment: false,
        };
        match coordinator.join(group_id, req) {
            Reply::Now(result) => result,
            Reply::Later(mut rx) => rx.try_recv().expect("join completes at once"),
        }
    }

    fn offset(offset: i64) -> CommittedOffset {
        CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: None,
        }
    }

    #[test]
    fn classic_and_consumer_groups_share_the_id_space() {
        let coordinator = GroupCoordinator::new(GroupSettings::default());
        // A classic group with a member refuses consumer protocol members, and vice versa.
        assert_eq!(classic_join(&coordinator, "c").error, None);
        let err = coordinator
            .consumer_heartbeat("c", join("m"), 1, &topics())
            .unwrap_err();
        assert_eq!(err.error, ResponseError::GroupIdNotFound);
        assert!(coordinator.consumer_describe("c").is_err());

        coordinator
            .consumer_heartbeat("k", join("m"), 1, &topics())
            .unwrap();
        assert_eq!(
            classic_join(&coordinator, "k").error,
            Some(ResponseError::InconsistentGroupProtocol)
        );
        assert_eq!(coordinator.delete("k"), Err(ResponseError::NonEmptyGroup));
        assert_eq!(
            coordinator.list_consumer_groups(),
            vec![("k".to_string(), ConsumerGroupState::Stable)]
        );
        assert!(coordinator.describe("k").is_none(), "DescribeGroups: Dead");
    }

    #[test]
    fn an_empty_group_changes_protocol_with_its_offsets() {
        let coordinator = GroupCoordinator::new(GroupSettings::default());
        // A simple commit creates an empty classic group; a consumer member takes it over.
        coordinator
            .commit_offsets("g", "", None, -1, vec![(("t".into(), 0), offset(5))], 9)
            .unwrap();
        let joined = coordinator
            .consumer_heartbeat("g", join("m"), 1, &topics())
            .unwrap();
        assert_eq!(joined.member_epoch, 1);
        assert_eq!(
            coordinator.fetch_offsets("g", None),
            vec![(("t".to_string(), 0), Some(offset(5)))]
        );
        // Commits carry the member epoch.
        let commit = |epoch, member: &str| {
            coordinator.commit_offsets(
                "g",
                member,
                None,
                epoch,
                vec![(("t".into(), 1), offset(9))],
                9,
            )
        };
        assert_eq!(commit(0, "m"), Err(ResponseError::StaleMemberEpoch));
        assert_eq!(commit(1, "x"), Err(ResponseError::UnknownMemberId));
        assert_eq!(commit(-1, ""), Err(ResponseError::UnknownMemberId));
        assert_eq!(commit(1, "m"), Ok(()));
        assert_eq!(
            coordinator.validate_offset_fetch("g", Some("m"), 2),
            Err(ResponseError::StaleMemberEpoch)
        );
        assert_eq!(coordinator.validate_offset_fetch("g", None, -1), Ok(()));

        // The member leaves; a classic member takes the empty group back, offsets and all.
        let mut leave = join("m");
        leave.member_epoch = -1;
        coordinator
            .consumer_heartbeat("g", leave, 1, &topics())
            .unwrap();
        assert_eq!(classic_join(&coordinator, "g").error, None);
        assert!(coordinator.list_consumer_groups().is_empty());
        assert_eq!(coordinator.fetch_offsets("g", None).len(), 2);
        // Heartbeats for a group that is not (or no longer) a consumer group.
        let mut beat = join("m");
        beat.member_epoch = 3;
        assert_eq!(
            coordinator
                .consumer_heartbeat("nope", beat, 1, &topics())
                .unwrap_err()
                .error,
            ResponseError::GroupIdNotFound
        );
    }

    #[test]
    fn deleting_an_empty_consumer_group_drops_its_offsets() {
        let coordinator = GroupCoordinator::new(GroupSettings::default());
        coordinator
            .consumer_heartbeat("g", join("m"), 1, &topics())
            .unwrap();
        coordinator
            .commit_offsets("g", "m", None, 1, vec![(("t".into(), 0), offset(3))], 9)
            .unwrap();
        assert_eq!(
            coordinator
                .delete_offsets("g", vec![("t".into(), 0)])
                .unwrap(),
            vec![(
                ("t".to_string(), 0),
                Some(ResponseError::GroupSubscribedToTopic)
            )]
        );
        let mut leave = join("m");
        leave.member_epoch = -1;
        coordinator
            .consumer_heartbeat("g", leave, 1, &topics())
            .unwrap();
        assert_eq!(coordinator.delete("g"), Ok(()));
        assert_eq!(coordinator.delete("g"), Err(ResponseError::GroupIdNotFound));
        assert_eq!(coordinator.fetch_offsets("g", None), vec![]);
    }
}
