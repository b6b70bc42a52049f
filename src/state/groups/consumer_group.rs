//! One group of the consumer group protocol (KIP-848, group type "consumer"): the members and
//! their subscriptions, the group epoch, the target assignment a server-side assignor computes,
//! and each member's incremental reconciliation towards it, as Apache Kafka's group coordinator
//! does.
//!
//! Every heartbeat (1) updates the member and bumps the group epoch if its subscription (or the
//! subscribed topics' metadata) changed, (2) recomputes the target assignment when the group
//! epoch is ahead of it, and (3) moves the member one step towards its target: partitions to
//! revoke are taken out of its assignment first and it stays in its epoch until it reports them
//! gone; partitions still owned by another member are withheld until released; once there is
//! nothing left to wait for, its member epoch becomes the target epoch. Time is passed in, so the
//! machine is tested without clocks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use base64::Engine;
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::assignor::{Assignment, Assignor, GroupSpec, MemberSpec};
use super::coordinator::TopicPartition;
use super::group::CommittedOffset;

/// `member_epoch` of a ConsumerGroupHeartbeat that leaves the group.
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// `member_epoch` of a static member leaving for a while (it keeps its assignment until its
/// session times out).
pub const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// Coordinator settings of the consumer group protocol, named after server.properties.
#[derive(Debug, Clone)]
pub struct ConsumerGroupSettings {
    /// `group.consumer.heartbeat.interval.ms`
    pub heartbeat_interval: Duration,
    /// `group.consumer.session.timeout.ms`
    pub session_timeout: Duration,
    /// `group.consumer.max.size`
    pub max_size: usize,
    /// `group.consumer.assignors`: the first is the default.
    pub assignors: Vec<Assignor>,
}

impl Default for ConsumerGroupSettings {
    fn default() -> Self {
        ConsumerGroupSettings {
            heartbeat_interval: Duration::from_millis(5_000),
            session_timeout: Duration::from_millis(45_000),
            max_size: i32::MAX as usize,
            assignors: Assignor::ALL.to_vec(),
        }
    }
}

/// The topics the group can subscribe to, by name: id and partition count.
pub type TopicsImage = BTreeMap<String, (Uuid, i32)>;

/// A refusal: the error code and Kafka's message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupError {
    pub error: ResponseError,
    pub message: Option<String>,
}

impl GroupError {
    pub fn new(error: ResponseError, message: impl Into<String>) -> Self {
        GroupError {
            error,
            message: Some(message.into()),
        }
    }
}

impl From<ResponseError> for GroupError {
    fn from(error: ResponseError) -> Self {
        GroupError {
            error,
            message: None,
        }
    }
}

fn invalid(message: &str) -> GroupError {
    GroupError::new(ResponseError::InvalidRequest, message)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    /// The group epoch is ahead of the target assignment.
    Assigning,
    /// Some member has not reached the target assignment yet.
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    /// The name ListGroups and ConsumerGroupDescribe report.
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// Where a member stands in its reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// At its target (or about to move to a newer one).
    Stable,
    /// Waiting for the member to acknowledge the revocation of `pending_revocation`.
    UnrevokedPartitions,
    /// At the target epoch, waiting for partitions other members still own.
    UnreleasedPartitions,
}

/// A ConsumerGroupHeartbeat as the state machine needs it. `None` fields did not change since
/// the member's previous heartbeat.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatRequest {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// -1: unchanged.
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// The partitions the member owns (`topic_partitions`).
    pub owned_partitions: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatResponse {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The partitions the member must own, sent when they changed or the member asked in full.
    pub assignment: Option<Assignment>,
}

/// Kafka's request checks of ConsumerGroupHeartbeat. From v1 the client chooses its member id.
pub fn validate_heartbeat(
    group_id: &str,
    req: &HeartbeatRequest,
    version: i16,
    settings: &ConsumerGroupSettings,
) -> Result<(), GroupError> {
    let epoch = req.member_epoch;
    if (version >= 1 || epoch > 0 || epoch == LEAVE_GROUP_MEMBER_EPOCH) && req.member_id.is_empty()
    {
        return Err(invalid("MemberId can't be empty."));
    }
    if group_id.is_empty() {
        return Err(invalid("GroupId can't be empty."));
    }
    if req.instance_id.as_deref() == Some("") {
        return Err(invalid("InstanceId can't be empty."));
    }
    if req.rack_id.as_deref() == Some("") {
        return Err(invalid("RackId can't be empty."));
    }
    if epoch == 0 {
        if req.rebalance_timeout_ms == -1 {
            return Err(invalid(
                "RebalanceTimeoutMs must be provided in first request.",
            ));
        }
        if req.owned_partitions.as_ref().is_none_or(|o| !o.is_empty()) {
            return Err(invalid("TopicPartitions must be empty when (re-)joining."));
        }
        if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
            return Err(invalid(
                "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
            ));
        }
    } else if epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
        if req.instance_id.is_none() {
            return Err(invalid("InstanceId can't be null."));
        }
    } else if epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH {
        return Err(invalid("MemberEpoch is invalid."));
    }
    if let Some(name) = &req.server_assignor {
        if !settings.assignors.iter().any(|a| a.name() == name) {
            let supported: Vec<&str> = settings.assignors.iter().map(|a| a.name()).collect();
            return Err(GroupError::new(
                ResponseError::UnsupportedAssignor,
                format!(
                    "ServerAssignor {name} is not supported. Supported assignors: {}.",
                    supported.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Kafka's member ids are `Uuid.toString()`: 16 random bytes in URL-safe base64, unpadded.
pub fn new_member_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes())
}

#[derive(Debug, Clone)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// How long the member may take to revoke partitions before it is fenced.
    pub rebalance_timeout: Duration,
    pub subscribed_topic_names: BTreeSet<String>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    /// The partitions the member owns or is being given.
    pub assigned: Assignment,
    /// Partitions taken from the member that it has not yet reported revoked.
    pub pending_revocation: Assignment,
    session_deadline: Instant,
    /// The member must have left this epoch by then (it was asked to revoke partitions).
    revocation_deadline: Option<(Instant, i32)>,
}

impl ConsumerMember {
    fn new(member_id: String, now: Instant) -> Self {
        ConsumerMember {
            member_id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout: Duration::ZERO,
            subscribed_topic_names: BTreeSet::new(),
            subscribed_topic_regex: None,
            server_assignor: None,
            member_epoch: 0,
            previous_member_epoch: -1,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            session_deadline: now,
            revocation_deadline: None,
        }
    }

    fn is_reconciled_to(&self, epoch: i32) -> bool {
        self.state == MemberState::Stable && self.member_epoch == epoch
    }

    fn owns(&self, topic: &Uuid, partition: i32) -> bool {
        [&self.assigned, &self.pending_revocation]
            .iter()
            .any(|a| a.get(topic).is_some_and(|p| p.contains(&partition)))
    }
}

/// A member as ConsumerGroupDescribe reports it; assignments by topic id.
#[derive(Debug, Clone)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub assignment: Assignment,
    pub target_assignment: Assignment,
}

#[derive(Debug, Clone)]
pub struct ConsumerGroupDescription {
    pub group_id: String,
    pub state: ConsumerGroupState,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor_name: String,
    pub members: Vec<ConsumerMemberDescription>,
}

#[derive(Debug)]
pub struct ConsumerGroup {
    pub group_id: String,
    group_epoch: i32,
    /// The epoch of `target`.
    assignment_epoch: i32,
    members: BTreeMap<String, ConsumerMember>,
    /// instance id -> member id, for static members.
    static_members: HashMap<String, String>,
    /// Where each member is headed, by member id.
    target: BTreeMap<String, Assignment>,
    /// The subscribed topics that exist (name -> id, partition count): the group epoch is bumped
    /// when this changes, as when a subscribed topic is created or gains partitions.
    subscription_metadata: TopicsImage,
    /// Compiled `subscribed_topic_regex`es.
    regexes: HashMap<String, regex::Regex>,
    pub offsets: BTreeMap<TopicPartition, CommittedOffset>,
    /// Offsets committed inside transactions, by producer id (see `Group`).
    pub pending_txn_offsets: BTreeMap<i64, BTreeMap<TopicPartition, CommittedOffset>>,
}

impl ConsumerGroup {
    pub fn new(group_id: &str) -> Self {
        ConsumerGroup {
            group_id: group_id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            target: BTreeMap::new(),
            subscription_metadata: TopicsImage::new(),
            regexes: HashMap::new(),
            offsets: BTreeMap::new(),
            pending_txn_offsets: BTreeMap::new(),
        }
    }

    pub fn group_epoch(&self) -> i32 {
        self.group_epoch
    }

    pub fn assignment_epoch(&self) -> i32 {
        self.assignment_epoch
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn member(&self, member_id: &str) -> Option<&ConsumerMember> {
        self.members.get(member_id)
    }

    pub fn members(&self) -> impl Iterator<Item = &ConsumerMember> {
        self.members.values()
    }

    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| !m.is_reconciled_to(self.assignment_epoch))
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    // ---- ConsumerGroupHeartbeat ----

    /// A regular heartbeat, or a (re)join with member epoch 0. `req` has passed
    /// `validate_heartbeat` and is not a leave.
    pub fn heartbeat(
        &mut self,
        req: HeartbeatRequest,
        now: Instant,
        topics: &TopicsImage,
        settings: &ConsumerGroupSettings,
    ) -> Result<HeartbeatResponse, GroupError> {
        let joining = req.member_epoch == 0;
        if self.members.len() >= settings.max_size
            && (req.member_id.is_empty() || !self.members.contains_key(&req.member_id))
        {
            return Err(GroupError::new(
                ResponseError::GroupMaxSizeReached,
                format!(
                    "The consumer group has reached its maximum capacity of {} members.",
                    settings.max_size
                ),
            ));
        }
        // v0 members are given an id by the coordinator.
        let member_id = if req.member_id.is_empty() {
            new_member_id()
        } else {
            req.member_id.clone()
        };
        let (member, replaced) = self.get_or_subscribe_member(&member_id, &req, now)?;

        let mut updated = member.clone();
        if let Some(instance_id) = &req.instance_id {
            updated.instance_id = Some(instance_id.clone());
        }
        if let Some(rack_id) = &req.rack_id {
            updated.rack_id = Some(rack_id.clone());
        }
        if req.rebalance_timeout_ms >= 0 {
            updated.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms as u64);
        }
        if let Some(assignor) = &req.server_assignor {
            updated.server_assignor = Some(assignor.clone());
        }
        if let Some(names) = &req.subscribed_topic_names {
            updated.subscribed_topic_names = names.iter().cloned().collect();
        }
        if let Some(regex) = &req.subscribed_topic_regex {
            updated.subscribed_topic_regex = Some(regex.clone()).filter(|r| !r.is_empty());
        }
        updated.client_id = req.client_id.clone();
        updated.client_host = req.client_host.clone();

        let regex_changed = updated.subscribed_topic_regex != member.subscribed_topic_regex;
        if regex_changed {
            if let Some(regex) = &updated.subscribed_topic_regex {
                self.compile_regex(regex)?;
            }
        }
        // A new group moves off epoch 0 at once.
        let mut bump = self.group_epoch == 0
            || updated.subscribed_topic_names != member.subscribed_topic_names
            || regex_changed;

        // From here on nothing fails: apply the member to the group.
        if let Some(old_id) = &replaced {
            self.members.remove(old_id);
            if let Some(target) = self.target.remove(old_id) {
                self.target.insert(member_id.clone(), target);
            }
        }
        if let Some(instance_id) = &updated.instance_id {
            self.static_members
                .insert(instance_id.clone(), member_id.clone());
        }
        self.members.insert(member_id.clone(), updated);
        if regex_changed {
            self.forget_unused_regexes();
        }

        let metadata = self.compute_subscription_metadata(topics);
        if metadata != self.subscription_metadata {
            self.subscription_metadata = metadata;
            bump = true;
        }
        if bump {
            self.group_epoch += 1;
        }
        if self.group_epoch > self.assignment_epoch {
            self.update_target_assignment(settings);
        }

        self.reconcile(&member_id, req.owned_partitions.as_ref(), now);
        let updated = self.members.get_mut(&member_id).expect("member just added");
        updated.session_deadline = now + settings.session_timeout;

        // The assignment goes out when it changed, or when the member sent a full request (as
        // it does when joining or after an error).
        let full_request = joining
            || (req.rebalance_timeout_ms != -1
                && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
                && req.owned_partitions.is_some());
        let assignment =
            (full_request || updated.assigned != member.assigned).then(|| updated.assigned.clone());
        Ok(HeartbeatResponse {
            member_id,
            member_epoch: updated.member_epoch,
            heartbeat_interval_ms: settings.heartbeat_interval.as_millis() as i32,
            assignment,
        })
    }

    /// The member the heartbeat is about, as it stands, and the member id of a static member it
    /// replaces.
    fn get_or_subscribe_member(
        &self,
        member_id: &str,
        req: &HeartbeatRequest,
        now: Instant,
    ) -> Result<(ConsumerMember, Option<String>), GroupError> {
        let joining = req.member_epoch == 0;
        let Some(instance_id) = &req.instance_id else {
            return match self.members.get(member_id) {
                Some(member) => {
                    check_member_epoch(member, req.member_epoch, req.owned_partitions.as_ref())?;
                    Ok((member.clone(), None))
                }
                None if joining => Ok((ConsumerMember::new(member_id.to_string(), now), None)),
                None => Err(GroupError::new(
                    ResponseError::UnknownMemberId,
                    format!(
                        "Member {member_id} is not a member of group {}.",
                        self.group_id
                    ),
                )),
            };
        };
        let existing = self
            .static_members
            .get(instance_id)
            .and_then(|id| self.members.get(id));
        match existing {
            None if joining => {
                let member = self
                    .members
                    .get(member_id)
                    .cloned()
                    .unwrap_or_else(|| ConsumerMember::new(member_id.to_string(), now));
                Ok((member, None))
            }
            None => Err(GroupError::new(
                ResponseError::UnknownMemberId,
                format!("Instance id {instance_id} is unknown."),
            )),
            Some(old) if joining => {
                // The instance id is taken over only once its previous member left with -2.
                if old.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
                    return Err(GroupError::new(
                        ResponseError::UnreleasedInstanceId,
                        format!(
                            "Static member {member_id} with instance id {instance_id} cannot join the group because the instance id is owned by {} member.",
                            old.member_id
                        ),
                    ));
                }
                // The newcomer inherits the previous member's assignment.
                let mut member = old.clone();
                member.member_id = member_id.to_string();
                member.member_epoch = 0;
                member.previous_member_epoch = 0;
                member.revocation_deadline = None;
                Ok((member, Some(old.member_id.clone())))
            }
            Some(old) => {
                if old.member_id != member_id {
                    return Err(GroupError::new(
                        ResponseError::FencedInstanceId,
                        format!(
                            "Static member {member_id} with instance id {instance_id} was fenced by member {}.",
                            old.member_id
                        ),
                    ));
                }
                check_member_epoch(old, req.member_epoch, req.owned_partitions.as_ref())?;
                Ok((old.clone(), None))
            }
        }
    }

    fn compile_regex(&mut self, regex: &str) -> Result<(), GroupError> {
        if self.regexes.contains_key(regex) {
            return Ok(());
        }
        // Java's `matcher(topic).matches()`: the whole name must match.
        match regex::Regex::new(&format!("^(?:{regex})$")) {
            Ok(compiled) => {
                self.regexes.insert(regex.to_string(), compiled);
                Ok(())
            }
            Err(e) => Err(GroupError::new(
                ResponseError::InvalidRegularExpression,
                format!("SubscribedTopicRegex `{regex}` is not a valid regular expression: {e}."),
            )),
        }
    }

    /// The topics a member subscribes to that exist: its names, and the topics its regex matches.
    fn member_topics<'a>(
        &self,
        member: &ConsumerMember,
        topics: &'a TopicsImage,
    ) -> BTreeMap<&'a String, (Uuid, i32)> {
        let regex = member
            .subscribed_topic_regex
            .as_ref()
            .and_then(|r| self.regexes.get(r));
        topics
            .iter()
            .filter(|(name, _)| {
                member.subscribed_topic_names.contains(*name)
                    || regex.is_some_and(|r| r.is_match(name))
            })
            .map(|(name, v)| (name, *v))
            .collect()
    }

    fn compute_subscription_metadata(&self, topics: &TopicsImage) -> TopicsImage {
        let mut metadata = TopicsImage::new();
        for member in self.members.values() {
            for (name, v) in self.member_topics(member, topics) {
                metadata.insert(name.clone(), v);
            }
        }
        metadata
    }

    /// The assignor the members asked for most, else the broker's default.
    fn preferred_assignor(&self, settings: &ConsumerGroupSettings) -> Assignor {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for name in self
            .members
            .values()
            .filter_map(|m| m.server_assignor.as_deref())
        {
            *votes.entry(name).or_default() += 1;
        }
        votes
            .into_iter()
            .max_by_key(|&(_, n)| n)
            .and_then(|(name, _)| Assignor::by_name(name))
            .or_else(|| settings.assignors.first().copied())
            .unwrap_or(Assignor::Uniform)
    }

    fn update_target_assignment(&mut self, settings: &ConsumerGroupSettings) {
        let spec = GroupSpec {
            members: self
                .members
                .values()
                .map(|m| MemberSpec {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    subscribed: self
                        .member_topics(m, &self.subscription_metadata)
                        .values()
                        .map(|(id, _)| *id)
                        .collect(),
                    target: self.target.get(&m.member_id).cloned().unwrap_or_default(),
                })
                .collect(),
            partitions: self.subscription_metadata.values().copied().collect(),
        };
        self.target = self.preferred_assignor(settings).assign(&spec);
        self.assignment_epoch = self.group_epoch;
    }

    /// One step of Kafka's reconciliation (its `CurrentAssignmentBuilder`) for `member_id`.
    fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now: Instant) {
        let epoch = self.assignment_epoch;
        let member = &self.members[member_id];
        if member.is_reconciled_to(epoch) {
            return;
        }
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let next = match member.state {
            MemberState::Stable => {
                self.next_assignment(member, member.member_epoch, &target, owned)
            }
            MemberState::UnrevokedPartitions => {
                if owns_any(owned, &member.pending_revocation) {
                    return;
                }
                // Revoked: the member moves on from its epoch.
                self.next_assignment(member, member.member_epoch + 1, &target, owned)
            }
            MemberState::UnreleasedPartitions => {
                self.next_assignment(member, member.member_epoch, &target, owned)
            }
        };
        let member = self.members.get_mut(member_id).expect("member");
        let (state, new_epoch, assigned, pending_revocation) = next;
        let changed = state != member.state
            || new_epoch != member.member_epoch
            || assigned != member.assigned
            || pending_revocation != member.pending_revocation;
        if !changed {
            return;
        }
        if new_epoch != member.member_epoch {
            member.previous_member_epoch = member.member_epoch;
        }
        member.state = state;
        member.member_epoch = new_epoch;
        member.assigned = assigned;
        member.pending_revocation = pending_revocation;
        member.revocation_deadline = (state == MemberState::UnrevokedPartitions)
            .then(|| (now + member.rebalance_timeout, new_epoch));
    }

    /// (state, member epoch, assigned, pending revocation) one step closer to `target`.
    fn next_assignment(
        &self,
        member: &ConsumerMember,
        member_epoch: i32,
        target: &Assignment,
        owned: Option<&Assignment>,
    ) -> (MemberState, i32, Assignment, Assignment) {
        let released = |topic: &Uuid, p: i32| {
            !member
                .pending_revocation
                .get(topic)
                .is_some_and(|s| s.contains(&p))
                && !self
                    .members
                    .values()
                    .any(|m| m.member_id != member.member_id && m.owns(topic, p))
        };
        let topics: BTreeSet<Uuid> = target
            .keys()
            .chain(member.assigned.keys())
            .copied()
            .collect();
        let mut assigned = Assignment::new();
        let mut revoke = Assignment::new();
        let mut to_assign = Assignment::new();
        let mut unreleased = false;
        let empty = BTreeSet::new();
        for topic in topics {
            let target = target.get(&topic).unwrap_or(&empty);
            let current = member.assigned.get(&topic).unwrap_or(&empty);
            let kept: BTreeSet<i32> = current.intersection(target).copied().collect();
            let revoked: BTreeSet<i32> = current.difference(&kept).copied().collect();
            let mut pending: BTreeSet<i32> = target.difference(&kept).copied().collect();
            let before = pending.len();
            pending.retain(|&p| released(&topic, p));
            unreleased |= pending.len() != before;
            if !kept.is_empty() {
                assigned.insert(topic, kept);
            }
            if !revoked.is_empty() {
                revoke.insert(topic, revoked);
            }
            if !pending.is_empty() {
                to_assign.insert(topic, pending);
            }
        }
        let target_epoch = self.assignment_epoch;
        if !revoke.is_empty() && owns_any(owned, &revoke) {
            // Revoke first; the member stays in its epoch until it acknowledges.
            (
                MemberState::UnrevokedPartitions,
                member_epoch,
                assigned,
                revoke,
            )
        } else {
            for (topic, partitions) in to_assign {
                assigned.entry(topic).or_default().extend(partitions);
            }
            let state = if unreleased {
                MemberState::UnreleasedPartitions
            } else {
                MemberState::Stable
            };
            (state, target_epoch, assigned, Assignment::new())
        }
    }

    // ---- Leaving, fencing, timers ----

    /// A heartbeat with member epoch -1 (leave) or -2 (a static member leaving for now).
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<HeartbeatResponse, GroupError> {
        let response = |member_id: &str, member_epoch: i32| HeartbeatResponse {
            member_id: member_id.to_string(),
            member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        };
        let Some(instance_id) = instance_id else {
            if !self.members.contains_key(member_id) {
                return Err(GroupError::new(
                    ResponseError::UnknownMemberId,
                    format!(
                        "Member {member_id} is not a member of group {}.",
                        self.group_id
                    ),
                ));
            }
            self.fence(member_id);
            return Ok(response(member_id, member_epoch));
        };
        let current = self
            .static_members
            .get(instance_id)
            .filter(|id| self.members.contains_key(*id))
            .cloned()
            .ok_or_else(|| {
                GroupError::new(
                    ResponseError::UnknownMemberId,
                    format!("Instance id {instance_id} is unknown."),
                )
            })?;
        if current != member_id {
            return Err(GroupError::new(
                ResponseError::FencedInstanceId,
                format!(
                    "Static member {member_id} with instance id {instance_id} was fenced by member {current}."
                ),
            ));
        }
        if member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            // It keeps its partitions (nobody else gets them) until its session times out.
            let member = self.members.get_mut(member_id).expect("checked");
            member.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
            member.pending_revocation.clear();
            member.revocation_deadline = None;
            return Ok(response(member_id, LEAVE_GROUP_STATIC_MEMBER_EPOCH));
        }
        self.fence(member_id);
        Ok(response(member_id, member_epoch))
    }

    /// Removes a member; the rest rebalance at their next heartbeat (the group epoch moves).
    fn fence(&mut self, member_id: &str) {
        let Some(member) = self.members.remove(member_id) else {
            return;
        };
        self.target.remove(member_id);
        if let Some(instance_id) = &member.instance_id {
            if self.static_members.get(instance_id).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance_id);
            }
        }
        // Topics nobody subscribes to any more leave the subscription metadata.
        let still_subscribed: BTreeSet<String> = self
            .subscription_metadata
            .iter()
            .filter(|(name, _)| {
                self.members.values().any(|m| {
                    m.subscribed_topic_names.contains(*name)
                        || m.subscribed_topic_regex
                            .as_ref()
                            .and_then(|r| self.regexes.get(r))
                            .is_some_and(|r| r.is_match(name))
                })
            })
            .map(|(name, _)| name.clone())
            .collect();
        self.subscription_metadata
            .retain(|name, _| still_subscribed.contains(name));
        self.forget_unused_regexes();
        self.group_epoch += 1;
    }

    fn forget_unused_regexes(&mut self) {
        let in_use: BTreeSet<&String> = self
            .members
            .values()
            .filter_map(|m| m.subscribed_topic_regex.as_ref())
            .collect();
        self.regexes.retain(|r, _| in_use.contains(r));
    }

    /// The next instant at which `expire` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.members
            .values()
            .flat_map(|m| {
                std::iter::once(m.session_deadline).chain(m.revocation_deadline.map(|(d, _)| d))
            })
            .min()
    }

    /// Fences members whose session expired and members that did not revoke partitions within
    /// their rebalance timeout. Returns whether anyone was fenced.
    pub fn expire(&mut self, now: Instant) -> bool {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                now >= m.session_deadline
                    || m.revocation_deadline
                        .is_some_and(|(d, epoch)| now >= d && m.member_epoch == epoch)
            })
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in &expired {
            self.fence(member_id);
        }
        !expired.is_empty()
    }

    // ---- Offsets, admin ----

    /// OffsetCommit (and TxnOffsetCommit, `transactional`) from a member: the generation is its
    /// member epoch. Epoch -1 commits (admin tools, manual assignment) need an empty group.
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        member_epoch: i32,
        transactional: bool,
        api_version: i16,
    ) -> Result<(), GroupError> {
        if member_epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        // TxnOffsetCommit does not have to name a member (before v3 it cannot).
        if transactional && member_epoch == -1 && member_id.is_empty() {
            return Ok(());
        }
        let member = self.members.get(member_id).ok_or_else(|| {
            GroupError::new(
                ResponseError::UnknownMemberId,
                format!(
                    "Member {member_id} is not a member of group {}.",
                    self.group_id
                ),
            )
        })?;
        if !transactional && api_version < 9 {
            return Err(GroupError::new(
                ResponseError::UnsupportedVersion,
                "OffsetCommit version 9 or above must be used by members using the modern group protocol",
            ));
        }
        check_commit_epoch(member, member_epoch)
    }

    /// OffsetFetch v9 names the member and its epoch; without them anyone may fetch.
    pub fn validate_offset_fetch(
        &self,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), GroupError> {
        let Some(member_id) = member_id else {
            if member_epoch < 0 {
                return Ok(());
            }
            return Err(ResponseError::UnknownMemberId.into());
        };
        let member = self.members.get(member_id).ok_or_else(|| {
            GroupError::new(
                ResponseError::UnknownMemberId,
                format!(
                    "Member {member_id} is not a member of group {}.",
                    self.group_id
                ),
            )
        })?;
        check_commit_epoch(member, member_epoch)
    }

    /// Whether a member subscribes to `topic` (OffsetDelete refuses to delete its offsets).
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        self.subscription_metadata.contains_key(topic)
            || self
                .members
                .values()
                .any(|m| m.subscribed_topic_names.contains(topic))
    }

    pub fn describe(&self, settings: &ConsumerGroupSettings) -> ConsumerGroupDescription {
        ConsumerGroupDescription {
            group_id: self.group_id.clone(),
            state: self.state(),
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            assignor_name: self.preferred_assignor(settings).name().to_string(),
            members: self
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.member_epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed_topic_names.iter().cloned().collect(),
                    subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                    assignment: m.assigned.clone(),
                    target_assignment: self.target.get(&m.member_id).cloned().unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// Kafka accepts the member's current epoch, or its previous one when the member owns no more
/// than it is assigned (the response that moved it on may have been lost).
fn check_member_epoch(
    member: &ConsumerMember,
    received: i32,
    owned: Option<&Assignment>,
) -> Result<(), GroupError> {
    let fenced = |relation: &str| {
        GroupError::new(
            ResponseError::FencedMemberEpoch,
            format!(
                "The consumer group member has a {relation} member epoch ({received}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                member.member_epoch
            ),
        )
    };
    if received > member.member_epoch {
        return Err(fenced("greater"));
    }
    if received < member.member_epoch
        && (received != member.previous_member_epoch
            || !owned.is_some_and(|o| is_subset(o, &member.assigned)))
    {
        return Err(fenced("smaller"));
    }
    Ok(())
}

fn check_commit_epoch(member: &ConsumerMember, received: i32) -> Result<(), GroupError> {
    if received != member.member_epoch {
        return Err(GroupError::new(
            ResponseError::StaleMemberEpoch,
            format!(
                "The received member epoch {received} does not match the expected member epoch {}.",
                member.member_epoch
            ),
        ));
    }
    Ok(())
}

fn is_subset(owned: &Assignment, of: &Assignment) -> bool {
    owned
        .iter()
        .all(|(topic, partitions)| of.get(topic).is_some_and(|s| partitions.is_subset(s)))
}

/// Whether the member still reports any of `partitions`; not reporting is owning.
fn owns_any(owned: Option<&Assignment>, partitions: &Assignment) -> bool {
    let Some(owned) = owned else {
        return true;
    };
    owned.iter().any(|(topic, ps)| {
        partitions
            .get(topic)
            .is_some_and(|revoked| ps.iter().any(|p| revoked.contains(p)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Uuid = Uuid::from_bytes([1; 16]);
    const U: Uuid = Uuid::from_bytes([2; 16]);

    fn settings() -> ConsumerGroupSettings {
        ConsumerGroupSettings {
            heartbeat_interval: Duration::from_millis(100),
            session_timeout: Duration::from_secs(45),
            ..Default::default()
        }
    }

    fn topics() -> TopicsImage {
        TopicsImage::from([
            ("orders".to_string(), (T, 4)),
            ("audit".to_string(), (U, 2)),
        ])
    }

    fn parts(topic: Uuid, partitions: &[i32]) -> Assignment {
        if partitions.is_empty() {
            return Assignment::new();
        }
        Assignment::from([(topic, partitions.iter().copied().collect())])
    }

    fn join(member_id: &str, names: &[&str]) -> HeartbeatRequest {
        HeartbeatRequest {
            member_id: member_id.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(names.iter().map(|s| s.to_string()).collect()),
            owned_partitions: Some(Assignment::new()),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            ..Default::default()
        }
    }

    fn beat(member_id: &str, epoch: i32, owned: Assignment) -> HeartbeatRequest {
        HeartbeatRequest {
            member_id: member_id.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            owned_partitions: Some(owned),
            ..Default::default()
        }
    }

    fn hb(
        group: &mut ConsumerGroup,
        req: HeartbeatRequest,
        now: Instant,
    ) -> Result<HeartbeatResponse, GroupError> {
        group.heartbeat(req, now, &topics(), &settings())
    }

    /// No partition is assigned to, or pending revocation from, two members at once.
    fn assert_exclusive(group: &ConsumerGroup) {
        let mut seen = BTreeSet::new();
        for m in group.members() {
            for a in [&m.assigned, &m.pending_revocation] {
                for (t, ps) in a {
                    for p in ps {
                        assert!(seen.insert((*t, *p)), "{t}-{p} owned twice");
                    }
                }
            }
        }
    }

    #[test]
    fn a_first_member_gets_every_partition_at_epoch_one() {
        let mut group = ConsumerGroup::new("g");
        let t0 = Instant::now();
        let r = hb(&mut group, join("a", &["orders"]), t0).unwrap();
        assert_eq!(r.member_epoch, 1);
        assert_eq!(r.heartbeat_interval_ms, 100);
        assert_eq!(r.assignment, Some(parts(T, &[0, 1, 2, 3])));
        assert_eq!(group.state(), ConsumerGroupState::Stable);
        // An unchanged heartbeat carries no assignment.
        let r = hb(&mut group, beat("a", 1, parts(T, &[0, 1, 2, 3])), t0).unwrap();
        assert_eq!((r.member_epoch, r.assignment), (1, None));
    }

    #[test]
    fn v0_members_get_an_id_from_the_coordinator() {
        let mut group = ConsumerGroup::new("g");
        let r = hb(&mut group, join("", &["orders"]), Instant::now()).unwrap();
        assert_eq!(r.member_id.len(), 22, "a Kafka Uuid string");
        assert!(group.member(&r.member_id).is_some());
    }

    #[test]
    fn a_second_member_waits_for_the_first_to_revoke() {
        let mut group = ConsumerGroup::new("g");
        let t0 = Instant::now();
        hb(&mut group, join("a", &["orders"]), t0).unwrap();
        let b = hb(&mut group, join("b", &["orders"]), t0).unwrap();
        assert_eq!(group.group_epoch(), 2);
        // b's partitions are still a's: b moves to epoch 2 with nothing yet.
        assert_eq!(b.member_epoch, 2);
        assert_eq!(b.assignment, Some(Assignment::new()));
        assert_exclusive(&group);

        // a is told to keep 0,1 and stays in epoch 1 until it revokes 2,3.
        let a = hb(&mut group, beat("a", 1, parts(T, &[0, 1, 2, 3])), t0).unwrap();
        assert_eq!(a.member_epoch, 1);
        assert_eq!(a.assignment, Some(parts(T, &[0, 1])));
        assert_eq!(group.state(), ConsumerGroupState::Reconciling);
        assert_exclusive(&group);
        // Not yet revoked (it still reports 2,3): nothing moves, b still waits.
        let a = hb(&mut group, beat("a", 1, parts(T, &[0, 1, 2, 3])), t0).unwrap();
        assert_eq!((a.member_epoch, a.assignment), (1, None));
        let b = hb(&mut group, beat("b", 2, Assignment::new()), t0).unwrap();
        assert_eq!(b.assignment, None);
        assert_exclusive(&group);

        // a acknowledges: it reaches epoch 2; then b gets 2,3.
        let a = hb(&mut group, beat("a", 1, parts(T, &[0, 1])), t0).unwrap();
        assert_eq!((a.member_epoch, a.assignment), (2, None));
        let b = hb(&mut group, beat("b", 2, Assignment::new()), t0).unwrap();
        assert_eq!(b.assignment, Some(parts(T, &[2, 3])));
        assert_eq!(group.state(), ConsumerGroupState::Stable);
        assert_exclusive(&group);
    }

    #[test]
    fn a_leaving_member_frees_its_partitions_for_the_rest() {
        let mut group = ConsumerGroup::new("g");
        let t0 = Instant::now();
        hb(&mut group, join("a", &["orders"]), t0).unwrap();
        hb(&mut group, join("b", &["orders"]), t0).unwrap();
        hb(&mut group, beat("a", 1, parts(T, &[0, 1, 2, 3])), t0).unwrap();
        hb(&mut group, beat("a", 1, parts(T, &[0, 1])), t0).unwrap();
        hb(&mut group, beat("b", 2, Assignment::new()), t0).unwrap();

        let left = group.leave("b", None, LEAVE_GROUP_MEMBER_EPOCH).unwrap();
        assert_eq!(left.member_epoch, -1);
        assert_eq!(group.group_epoch(), 3);
        assert_eq!(group.state(), ConsumerGroupState::Assigning);
        let a = hb(&mut group, beat("a", 2, parts(T, &[0, 1])), t0).unwrap();
        assert_eq!(a.member_epoch, 3);
        assert_eq!(a.assignment, Some(parts(T, &[0, 1, 2, 3])));
        assert_eq!(
            group.leave("b", None, -1).unwrap_err().error,
            ResponseError::UnknownMemberId
        );
        assert_eq!(
            hb(&mut group, beat("b", 2, Assignment::new()), t0)
                .unwrap_err()
                .error,
            ResponseError::UnknownMemberId
        );
    }

    #[test]
    fn stale_and_future_epochs_are_fenced_but_a_lost_response_is_forgiven() {
        let mut group = ConsumerGroup::new("g");
        let t0 = Instant::now();
        hb(&mut group, join("a", &["orders"]), t0).unwrap();
        let err = hb(&mut group, beat("a", 5, Assignment::new()), t0).unwrap_err();
        assert_eq!(err.error, ResponseError::FencedMemberEpoch);
        // The join's response was lost: the member resends epoch 0 owning nothing.
        let again = hb(&mut group, join("a", &["orders"]), t0).unwrap();
        assert_eq!(again.member_epoch, 1);
        assert_eq!(again.assignment, Some(parts(T, &[0, 1, 2, 3])));

        hb(&mut group, join("b", &["orders"]), t0).unwrap();
        hb(&mut group, beat("a", 1, parts(T, &[0, 1, 2, 3])), t0).unwrap();
        hb(&mut group, beat("a", 1, parts(T, &[0, 1])), t0).unwrap();
        // a is at epoch 2 (previous 1); epoch 1 owning more than its assignment is fenced.
        let err = hb(&mut group, beat("a", 1, parts(T, &[0, 1, 2])), t0).unwrap_err();
        assert_eq!(err.error, ResponseError::FencedMemberEpoch);
        assert!(hb(&mut group, beat("a", 1, parts(T, &[0])), t0).is_ok());
        let err = hb(&mut group, beat("a", 0, Assignment::new()), t0).unwrap_err();
        assert_eq!(err.error, ResponseError::FencedMemberEpoch);
    }

    #[test]
    fn a_silent_member_is_fenced_when_its_session_times_out() {
        let mut group = ConsumerGroup::new("g");
        let t0 = Instant::now();
        hb(&mut group, join("a", &["orders"]), t0).unwrap();
        hb(&mut group, join("b", &["orders"]), t0).unwrap();
        assert_eq!(group.next_deadline(), Some(t0 + Duration::from_secs(45)));
        // a owes a revocation and keeps heartbeating without acknowledging it... until its
        // rebalance timeout (30 s) fences it.
        let t1 = t0 + Duration::from_secs(20);
        hb(&mut group, beat("a", 1, parts(T, &[0, 1, 2, 3])), t1).unwrap();
        hb(&mut group, beat("b", 2, Assignment::new()), t1).unwrap();
        assert_eq!(group.next_deadline(), Some(t1 + Duration::from_secs(30)));
        assert!(!group.expire(t1 + Duration::from_secs(29)));
        let t2 = t1 + Duration::from_secs(30);
        hb(
            &mut group,
            beat("b", 2, Assignment::new()),
            t2 - Duration::from_secs(1),
        )
        .unwrap();
        assert!(group.expire(t2));
        assert!(group.member("a").is_none(), "a fenced for not revoking");
        let b = hb(&mut group, beat("b", 2, Assignment::new()), t2).unwrap();
        assert_eq!(b.assignment, Some(parts(T, &[0, 1, 2, 3])));

        // b goes silent: the session timeout (45 s) fences it and the group is empty.
        assert_eq!(group.next_deadline(), Some(t2 + Duration::from_secs(45)));
        assert!(group.expire(t2 + Duration::from_secs(45)));
        assert_eq!(group.state(), ConsumerGroupState::Empty);
        assert_eq!(group.next_deadline(), None);
    }

    #[test]
    fn a_static_member_rejoins_with_its_assignment() {
        let mut group = ConsumerGroup::new("g");
        let t0 = Instant::now();
        let mut a = join("a1", &["orders"]);
        a.instance_id = Some("instance-a".into());
        hb(&mut group, a.clone(), t0).unwrap();
        let mut b = join("b", &["orders"]);
        b.instance_id = None;
        hb(&mut group, b, t0).unwrap();
        let mut beat_a = beat("a1", 1, parts(T, &[0, 1, 2, 3]));
        beat_a.instance_id = Some("instance-a".into());
        hb(&mut group, beat_a.clone(), t0).unwrap();
        beat_a.owned_partitions = Some(parts(T, &[0, 1]));
        hb(&mut group, beat_a, t0).unwrap();
        let epoch_before = group.group_epoch();

        // Another process cannot take the instance id while a1 holds it.
        let mut a2 = join("a2", &["orders"]);
        a2.instance_id = Some("instance-a".into());
        assert_eq!(
            hb(&mut group, a2.clone(), t0).unwrap_err().error,
            ResponseError::UnreleasedInstanceId
        );

        // a1 leaves for a restart (-2): it keeps its partitions, nobody else gets them.
        let left = group.leave("a1", Some("instance-a"), -2).unwrap();
        assert_eq!(left.member_epoch, -2);
        let b = hb(&mut group, beat("b", 2, Assignment::new()), t0).unwrap();
        assert_eq!(b.assignment, Some(parts(T, &[2, 3])));
        assert_eq!(group.group_epoch(), epoch_before, "no rebalance");

        // The restarted instance (new member id) gets a1's partitions back at once.
        let back = hb(&mut group, a2, t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(back.member_id, "a2");
        assert_eq!(back.member_epoch, epoch_before);
        assert_eq!(back.assignment, Some(parts(T, &[0, 1])));
        assert!(group.member("a1").is_none());
        assert_eq!(group.group_epoch(), epoch_before);
        // The old member id is fenced out of the instance.
        let mut old = beat("a1", 2, Assignment::new());
        old.instance_id = Some("instance-a".into());
        assert_eq!(
            hb(&mut group, old, t0).unwrap_err().error,
            ResponseError::FencedInstanceId
        );
        assert_exclusive(&group);
    }

    #[test]
    fn a_static_member_that_does_not_return_is_fenced_by_its_session() {
        let mut group = ConsumerGroup::new("g");
        let t0 = Instant::now();
        let mut a = join("a1", &["orders"]);
        a.instance_id = Some("i".into());
        hb(&mut group, a, t0).unwrap();
        group.leave("a1", Some("i"), -2).unwrap();
        assert!(group.expire(t0 + Duration::from_secs(45)));
        assert!(group.is_empty());
        assert_eq!(
            group.leave("a1", Some("i"), -2).unwrap_err().error,
            ResponseError::UnknownMemberId
        );
    }

    #[test]
    fn subscription_changes_and_new_topics_bump_the_group_epoch() {
        let mut group = ConsumerGroup::new("g");
        let t0 = Instant::now();
        let r = hb(&mut group, join("a", &["orders", "later"]), t0).unwrap();
        assert_eq!(r.member_epoch, 1);
        // "later" is created with 2 partitions: the next heartbeat sees it.
        let mut image = topics();
        let later = Uuid::from_bytes([3; 16]);
        image.insert("later".into(), (later, 2));
        let r = group
            .heartbeat(
                beat("a", 1, parts(T, &[0, 1, 2, 3])),
                t0,
                &image,
                &settings(),
            )
            .unwrap();
        assert_eq!(r.member_epoch, 2);
        let mut expected = parts(T, &[0, 1, 2, 3]);
        expected.insert(later, BTreeSet::from([0, 1]));
        assert_eq!(r.assignment, Some(expected));

        // Dropping "orders" from the subscription revokes its partitions.
        let mut req = beat("a", 2, Assignment::new());
        req.subscribed_topic_names = Some(vec!["later".into()]);
        req.owned_partitions = None;
        let r = group.heartbeat(req, t0, &image, &settings()).unwrap();
        assert_eq!(r.member_epoch, 2, "waits for the revocation");
        assert_eq!(r.assignment, Some(parts(later, &[0, 1])));
    }

    #[test]
    fn regex_subscriptions_resolve_against_existing_topics() {
        let mut group = ConsumerGroup::new("g");
        let t0 = Instant::now();
        let mut req = join("a", &[]);
        req.subscribed_topic_names = None;
        req.subscribed_topic_regex = Some("ord.*".into());
        let r = hb(&mut group, req.clone(), t0).unwrap();
        assert_eq!(r.assignment, Some(parts(T, &[0, 1, 2, 3])));
        assert!(group.is_subscribed_to("orders"));
        // The whole name must match, as Java's `matches()`.
        req.member_id = "b".into();
        req.subscribed_topic_regex = Some("rders".into());
        let r = hb(&mut group, req.clone(), t0).unwrap();
        assert_eq!(r.assignment, Some(Assignment::new()));
        req.member_id = "c".into();
        req.subscribed_topic_regex = Some("(".into());
        assert_eq!(
            hb(&mut group, req, t0).unwrap_err().error,
            ResponseError::InvalidRegularExpression
        );
    }

    #[test]
    fn the_members_choose_the_assignor() {
        let mut group = ConsumerGroup::new("g");
        let t0 = Instant::now();
        let mut a = join("a", &["orders", "audit"]);
        a.server_assignor = Some("range".into());
        hb(&mut group, a, t0).unwrap();
        assert_eq!(group.describe(&settings()).assignor_name, "range");
        let mut b = join("b", &["orders", "audit"]);
        b.server_assignor = Some("range".into());
        hb(&mut group, b, t0).unwrap();
        // Range: a takes orders 0,1 and audit 0; b orders 2,3 and audit 1.
        let d = group.describe(&settings());
        let target = |id: &str| {
            d.members
                .iter()
                .find(|m| m.member_id == id)
                .unwrap()
                .target_assignment
                .clone()
        };
        let mut a_target = parts(T, &[0, 1]);
        a_target.insert(U, BTreeSet::from([0]));
        assert_eq!(target("a"), a_target);
        let mut b_target = parts(T, &[2, 3]);
        b_target.insert(U, BTreeSet::from([1]));
        assert_eq!(target("b"), b_target);
    }

    #[test]
    fn request_validation_follows_kafka() {
        let s = settings();
        let ok = join("m", &["orders"]);
        assert_eq!(validate_heartbeat("g", &ok, 1, &s), Ok(()));
        let code = |req: &HeartbeatRequest, version: i16| {
            validate_heartbeat("g", req, version, &s)
                .err()
                .map(|e| e.error)
        };
        let mut r = ok.clone();
        r.member_id.clear();
        assert_eq!(code(&r, 1), Some(ResponseError::InvalidRequest));
        assert_eq!(code(&r, 0), None, "v0 joins without an id");
        let mut r = ok.clone();
        r.rebalance_timeout_ms = -1;
        assert_eq!(code(&r, 1), Some(ResponseError::InvalidRequest));
        let mut r = ok.clone();
        r.owned_partitions = Some(parts(T, &[0]));
        assert_eq!(code(&r, 1), Some(ResponseError::InvalidRequest));
        let mut r = ok.clone();
        r.subscribed_topic_names = None;
        assert_eq!(code(&r, 1), Some(ResponseError::InvalidRequest));
        let mut r = ok.clone();
        r.member_epoch = -2;
        assert_eq!(code(&r, 1), Some(ResponseError::InvalidRequest));
        r.member_epoch = -3;
        assert_eq!(code(&r, 1), Some(ResponseError::InvalidRequest));
        let mut r = ok.clone();
        r.server_assignor = Some("sticky".into());
        assert_eq!(code(&r, 1), Some(ResponseError::UnsupportedAssignor));
        assert_eq!(
            validate_heartbeat("", &ok, 1, &s).unwrap_err().error,
            ResponseError::InvalidRequest
        );
    }

    #[test]
    fn the_group_has_a_maximum_size() {
        let mut group = ConsumerGroup::new("g");
        let small = ConsumerGroupSettings {
            max_size: 1,
            ..settings()
        };
        let t0 = Instant::now();
        group
            .heartbeat(join("a", &["orders"]), t0, &topics(), &small)
            .unwrap();
        let err = group
            .heartbeat(join("b", &["orders"]), t0, &topics(), &small)
            .unwrap_err();
        assert_eq!(err.error, ResponseError::GroupMaxSizeReached);
        assert!(group
            .heartbeat(beat("a", 1, parts(T, &[0, 1, 2, 3])), t0, &topics(), &small)
            .is_ok());
    }

    #[test]
    fn offset_commits_carry_the_member_epoch() {
        let mut group = ConsumerGroup::new("g");
        assert_eq!(group.validate_offset_commit("", -1, false, 9), Ok(()));
        let t0 = Instant::now();
        hb(&mut group, join("a", &["orders"]), t0).unwrap();
        assert_eq!(group.validate_offset_commit("a", 1, false, 9), Ok(()));
        let code = |r: Result<(), GroupError>| r.unwrap_err().error;
        assert_eq!(
            code(group.validate_offset_commit("a", 0, false, 9)),
            ResponseError::StaleMemberEpoch
        );
        assert_eq!(
            code(group.validate_offset_commit("", -1, false, 9)),
            ResponseError::UnknownMemberId,
            "simple commits need an empty group"
        );
        assert_eq!(
            code(group.validate_offset_commit("a", 1, false, 8)),
            ResponseError::UnsupportedVersion
        );
        assert_eq!(group.validate_offset_fetch(None, -1), Ok(()));
        assert_eq!(group.validate_offset_fetch(Some("a"), 1), Ok(()));
        assert_eq!(
            code(group.validate_offset_fetch(Some("a"), 3)),
            ResponseError::StaleMemberEpoch
        );
        assert_eq!(
            code(group.validate_offset_fetch(Some("x"), 1)),
            ResponseError::UnknownMemberId
        );
    }

    #[test]
    fn a_partition_is_never_owned_twice_while_members_come_and_go() {
        // Four members join one by one, each heartbeating in turn and acknowledging what it
        // was told; then they leave one by one. Ownership stays exclusive at every step and
        // the group converges each time.
        let mut group = ConsumerGroup::new("g");
        let t0 = Instant::now();
        let mut owned: BTreeMap<String, (i32, Assignment)> = BTreeMap::new();
        let step = |group: &mut ConsumerGroup, owned: &mut BTreeMap<String, (i32, Assignment)>| {
            for _ in 0..6 {
                let ids: Vec<String> = owned.keys().cloned().collect();
                for id in ids {
                    let (epoch, held) = owned[&id].clone();
                    let r = hb(group, beat(&id, epoch, held.clone()), t0).unwrap();
                    let held = r.assignment.unwrap_or(held);
                    owned.insert(id, (r.member_epoch, held));
                    assert_exclusive(group);
                }
            }
            assert_eq!(group.state(), ConsumerGroupState::Stable);
        };
        for id in ["a", "b", "c", "d"] {
            let r = hb(&mut group, join(id, &["orders", "audit"]), t0).unwrap();
            owned.insert(id.into(), (r.member_epoch, r.assignment.unwrap()));
            step(&mut group, &mut owned);
            let total: usize = owned
                .values()
                .map(|(_, a)| a.values().map(BTreeSet::len).sum::<usize>())
                .sum();
            assert_eq!(total, 6);
        }
        for id in ["a", "b", "c"] {
            group.leave(id, None, -1).unwrap();
            owned.remove(id);
            step(&mut group, &mut owned);
        }
        let (_, last) = &owned["d"];
        assert_eq!(last.values().map(BTreeSet::len).sum::<usize>(), 6);
    }
}
