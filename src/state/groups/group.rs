//! One consumer group under the classic protocol: its members, the rebalance state machine of
//! Apache Kafka's group coordinator, and its committed offsets.
//!
//! States: Empty -> PreparingRebalance -> CompletingRebalance -> Stable, back to
//! PreparingRebalance whenever membership changes, and Dead once deleted. Requests that must wait
//! (a JoinGroup until every member has rejoined, a follower's SyncGroup until the leader's
//! assignment) are parked as oneshot senders inside the member and answered by the state
//! transition that completes them. Time is passed in, so the machine is tested without clocks.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name DescribeGroups and ListGroups report.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Coordinator settings, named after their server.properties counterparts.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    /// `group.initial.rebalance.delay.ms`
    pub initial_rebalance_delay: Duration,
    /// `group.min.session.timeout.ms`
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`
    pub max_session_timeout: Duration,
    /// `group.consumer.*`: the consumer group protocol (KIP-848).
    pub consumer: super::consumer_group::ConsumerGroupSettings,
    /// `group.share.*`: share groups (KIP-932).
    pub share: crate::state::share::ShareGroupSettings,
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            initial_rebalance_delay: Duration::ZERO,
            min_session_timeout: Duration::from_millis(6_000),
            max_session_timeout: Duration::from_millis(1_800_000),
            consumer: Default::default(),
            share: Default::default(),
        }
    }
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinResult {
    pub error: Option<ResponseError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// KIP-814: a static leader rejoining a stable group keeps the current assignment.
    pub skip_assignment: bool,
    /// Every member's metadata for the chosen protocol; only the leader gets it.
    pub members: Vec<JoinedMember>,
}

impl JoinResult {
    pub fn error(error: ResponseError, member_id: &str) -> Self {
        JoinResult {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            skip_assignment: false,
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncResult {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    fn error(error: ResponseError) -> Self {
        SyncResult {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// An answer now, or a parked request answered by a later transition.
#[derive(Debug)]
pub enum Reply<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

/// A JoinGroup as the state machine needs it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a member without an id is first given one and asked to rejoin with it.
    pub require_known_member_id: bool,
    /// JoinGroup v9+ understands `skip_assignment`.
    pub supports_skip_assignment: bool,
}

#[derive(Debug)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    last_heartbeat: Instant,
    pending_join: Option<oneshot::Sender<JoinResult>>,
    pending_sync: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    /// The member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Members with a parked JoinGroup or SyncGroup are alive: they are waiting on us.
    fn session_expired(&self, now: Instant) -> bool {
        self.pending_join.is_none()
            && self.pending_sync.is_none()
            && now >= self.last_heartbeat + self.session_timeout
    }
}

/// A committed offset, as OffsetCommit stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

#[derive(Debug)]
pub struct Group {
    pub group_id: String,
    state: GroupState,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, each valid until its deadline.
    pending_members: HashMap<String, Instant>,
    /// group.instance.id -> member id, for static members.
    static_members: HashMap<String, String>,
    /// PreparingRebalance: when the join phase ends with whoever has rejoined.
    /// CompletingRebalance: when members that have not synced are dropped.
    rebalance_deadline: Option<Instant>,
    /// The first join of an Empty group is held this long (group.initial.rebalance.delay.ms).
    initial_delay_until: Option<Instant>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Offsets committed inside transactions (TxnOffsetCommit), by producer id: they replace
    /// `offsets` when the transaction commits and are dropped when it aborts.
    pub pending_txn_offsets: BTreeMap<i64, BTreeMap<(String, i32), CommittedOffset>>,
}

impl Group {
    pub fn new(group_id: &str) -> Self {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            pending_members: HashMap::new(),
            static_members: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
            offsets: BTreeMap::new(),
            pending_txn_offsets: BTreeMap::new(),
        }
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn mark_dead(&mut self) {
        self.state = GroupState::Dead;
        self.offsets.clear();
        self.pending_txn_offsets.clear();
    }

    // ---- JoinGroup ----

    pub fn join(
        &mut self,
        req: JoinRequest,
        now: Instant,
        settings: &GroupSettings,
    ) -> Reply<JoinResult> {
        if req.session_timeout < settings.min_session_timeout
            || req.session_timeout > settings.max_session_timeout
        {
            return Reply::Now(JoinResult::error(
                ResponseError::InvalidSessionTimeout,
                &req.member_id,
            ));
        }
        if req.protocol_type.is_empty()
            || req.protocols.is_empty()
            || !self.supports_protocols(&req)
        {
            return Reply::Now(JoinResult::error(
                ResponseError::InconsistentGroupProtocol,
                &req.member_id,
            ));
        }
        if req.member_id.is_empty() {
            self.join_new_member(req, now, settings)
        } else {
            self.join_known_member(req, now, settings)
        }
    }

    /// A joining member must speak the group's protocol type and share a protocol with everyone.
    fn supports_protocols(&self, req: &JoinRequest) -> bool {
        if self.members.is_empty() {
            return true;
        }
        if self
            .protocol_type
            .as_deref()
            .is_some_and(|t| t != req.protocol_type)
        {
            return false;
        }
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|m| m.member_id != req.member_id)
            .collect();
        req.protocols.iter().any(|(name, _)| {
            others
                .iter()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    fn join_new_member(
        &mut self,
        req: JoinRequest,
        now: Instant,
        settings: &GroupSettings,
    ) -> Reply<JoinResult> {
        if let Some(instance_id) = req.group_instance_id.clone() {
            if let Some(old_id) = self.static_members.get(&instance_id).cloned() {
                return self.rejoin_static_member(old_id, req, now, settings);
            }
            let member_id = new_member_id(&instance_id);
            self.static_members.insert(instance_id, member_id.clone());
            return self.add_member_and_rebalance(member_id, req, now, settings);
        }
        let member_id = new_member_id(&req.client_id);
        if req.require_known_member_id {
            self.pending_members
                .insert(member_id.clone(), now + req.session_timeout);
            return Reply::Now(JoinResult::error(
                ResponseError::MemberIdRequired,
                &member_id,
            ));
        }
        self.add_member_and_rebalance(member_id, req, now, settings)
    }

    fn join_known_member(
        &mut self,
        req: JoinRequest,
        now: Instant,
        settings: &GroupSettings,
    ) -> Reply<JoinResult> {
        let member_id = req.member_id.clone();
        if self.pending_members.remove(&member_id).is_some() {
            return self.add_member_and_rebalance(member_id, req, now, settings);
        }
        if let Err(error) = self.check_member(&member_id, req.group_instance_id.as_deref()) {
            return Reply::Now(JoinResult::error(error, &member_id));
        }
        let member = self.members.get_mut(&member_id).expect("checked");
        let changed = member.protocols != req.protocols;
        member.protocols = req.protocols;
        member.session_timeout = req.session_timeout;
        member.rebalance_timeout = req.rebalance_timeout;
        member.last_heartbeat = now;
        match self.state {
            GroupState::PreparingRebalance => {
                let rx = self.park_join(&member_id);
                self.maybe_complete_join(now);
                Reply::Later(rx)
            }
            // A member re-sending its join (a lost response), unchanged: tell it what it missed.
            GroupState::CompletingRebalance | GroupState::Stable
                if !changed && self.leader.as_deref() != Some(&member_id) =>
            {
                Reply::Now(self.join_result(&member_id, false))
            }
            _ => {
                let rx = self.park_join(&member_id);
                self.prepare_rebalance(now, settings);
                Reply::Later(rx)
            }
        }
    }

    /// A static member restarting with a new member id takes over the old one's place.
    fn rejoin_static_member(
        &mut self,
        old_id: String,
        req: JoinRequest,
        now: Instant,
        settings: &GroupSettings,
    ) -> Reply<JoinResult> {
        let instance_id = req.group_instance_id.clone().expect("static member");
        let Some(mut member) = self.members.remove(&old_id) else {
            // Known instance id but no member (it left): join afresh.
            self.static_members.remove(&instance_id);
            return self.join_new_member(req, now, settings);
        };
        if let Some(tx) = member.pending_join.take() {
            let _ = tx.send(JoinResult::error(ResponseError::FencedInstanceId, &old_id));
        }
        if let Some(tx) = member.pending_sync.take() {
            let _ = tx.send(SyncResult::error(ResponseError::FencedInstanceId));
        }
        let new_id = new_member_id(&instance_id);
        let changed = member.protocols != req.protocols;
        member.member_id = new_id.clone();
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.session_timeout = req.session_timeout;
        member.rebalance_timeout = req.rebalance_timeout;
        member.protocols = req.protocols.clone();
        member.last_heartbeat = now;
        self.members.insert(new_id.clone(), member);
        self.static_members.insert(instance_id, new_id.clone());
        let was_leader = self.leader.as_deref() == Some(&old_id);
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        match self.state {
            GroupState::Stable if !changed && (!was_leader || req.supports_skip_assignment) => {
                Reply::Now(self.join_result(&new_id, was_leader))
            }
            GroupState::PreparingRebalance => {
                let rx = self.park_join(&new_id);
                self.maybe_complete_join(now);
                Reply::Later(rx)
            }
            _ => {
                let rx = self.park_join(&new_id);
                self.prepare_rebalance(now, settings);
                Reply::Later(rx)
            }
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        member_id: String,
        req: JoinRequest,
        now: Instant,
        settings: &GroupSettings,
    ) -> Reply<JoinResult> {
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        self.members.insert(
            member_id.clone(),
            Member {
                member_id: member_id.clone(),
                group_instance_id: req.group_instance_id,
                client_id: req.client_id,
                client_host: req.client_host,
                session_timeout: req.session_timeout,
                rebalance_timeout: req.rebalance_timeout,
                protocol_type: req.protocol_type,
                protocols: req.protocols,
                assignment: Bytes::new(),
                last_heartbeat: now,
                pending_join: None,
                pending_sync: None,
            },
        );
        let rx = self.park_join(&member_id);
        if self.state == GroupState::PreparingRebalance {
            self.maybe_complete_join(now);
        } else {
            self.prepare_rebalance(now, settings);
        }
        Reply::Later(rx)
    }

    fn park_join(&mut self, member_id: &str) -> oneshot::Receiver<JoinResult> {
        let (tx, rx) = oneshot::channel();
        // A member that sends a second join while the first is parked is answered on the newer one.
        self.members
            .get_mut(member_id)
            .expect("member exists")
            .pending_join = Some(tx);
        rx
    }

    fn prepare_rebalance(&mut self, now: Instant, settings: &GroupSettings) {
        if self.state == GroupState::CompletingRebalance {
            for member in self.members.values_mut() {
                if let Some(tx) = member.pending_sync.take() {
                    let _ = tx.send(SyncResult::error(ResponseError::RebalanceInProgress));
                }
            }
        }
        let max_rebalance_timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        if self.state == GroupState::Empty && !settings.initial_rebalance_delay.is_zero() {
            let delay = settings.initial_rebalance_delay.min(max_rebalance_timeout);
            self.initial_delay_until = Some(now + delay);
        }
        self.state = GroupState::PreparingRebalance;
        self.rebalance_deadline = Some(now + max_rebalance_timeout);
        self.maybe_complete_join(now);
    }

    /// The join phase ends when every member has rejoined (and any initial delay is over), or
    /// at the rebalance deadline with whoever has.
    fn maybe_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let delayed = self.initial_delay_until.is_some_and(|until| now < until);
        let all_joined = self.pending_members.is_empty()
            && self.members.values().all(|m| m.pending_join.is_some());
        let deadline_passed = self.rebalance_deadline.is_some_and(|d| now >= d);
        if (all_joined && !delayed) || deadline_passed {
            self.complete_join(now);
        }
    }

    fn complete_join(&mut self, now: Instant) {
        self.initial_delay_until = None;
        // Members that did not rejoin in time are out.
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.pending_join.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in gone {
            self.remove_member(&member_id);
        }
        self.pending_members.clear();
        self.generation_id += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader = None;
            self.rebalance_deadline = None;
            return;
        }
        self.protocol_name = Some(self.select_protocol());
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        // Members that never sync are dropped after the longest rebalance timeout.
        let max_rebalance_timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.rebalance_deadline = Some(now + max_rebalance_timeout);
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for member_id in ids {
            let result = self.join_result(&member_id, false);
            let member = self.members.get_mut(&member_id).expect("member");
            member.last_heartbeat = now;
            if let Some(tx) = member.pending_join.take() {
                let _ = tx.send(result);
            }
        }
    }

    fn join_result(&self, member_id: &str, skip_assignment: bool) -> JoinResult {
        let leader = self.leader.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .values()
                .map(|m| JoinedMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m.metadata(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            skip_assignment,
            members,
        }
    }

    /// Of the protocols every member supports, the one most members list first among those.
    /// Ties go to the protocol the leader (or first member) prefers.
    fn select_protocol(&self) -> String {
        let first = self.members.values().next().expect("non-empty group");
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(name, _)| name)
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .collect();
        let votes = |candidate: &String| {
            self.members
                .values()
                .filter(|m| {
                    m.protocols
                        .iter()
                        .map(|(n, _)| n)
                        .find(|n| candidates.contains(n))
                        == Some(candidate)
                })
                .count()
        };
        let mut best = candidates[0];
        for candidate in &candidates[1..] {
            if votes(candidate) > votes(best) {
                best = candidate;
            }
        }
        best.clone()
    }

    fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        if let Some(instance_id) = &member.group_instance_id {
            if self.static_members.get(instance_id).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance_id);
            }
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = None;
        }
        Some(member)
    }

    /// UNKNOWN_MEMBER_ID, or FENCED_INSTANCE_ID for a static member whose id was taken over.
    fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        if let Some(instance_id) = instance_id {
            match self.static_members.get(instance_id) {
                Some(current) if current != member_id => {
                    return Err(ResponseError::FencedInstanceId)
                }
                None if !self.members.contains_key(member_id) => {
                    return Err(ResponseError::UnknownMemberId)
                }
                _ => {}
            }
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(ResponseError::UnknownMemberId)
        }
    }

    // ---- SyncGroup ----

    /// `assignments` are the leader's (member id, assignment) pairs; followers send none.
    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
    ) -> Reply<SyncResult> {
        if self.state == GroupState::Dead {
            return Reply::Now(SyncResult::error(ResponseError::CoordinatorNotAvailable));
        }
        if let Err(error) = self.check_member(member_id, instance_id) {
            return Reply::Now(SyncResult::error(error));
        }
        if generation_id != self.generation_id {
            return Reply::Now(SyncResult::error(ResponseError::IllegalGeneration));
        }
        let (protocol_type, protocol_name) = protocol;
        if protocol_type.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || protocol_name.is_some_and(|n| Some(n) != self.protocol_name.as_deref())
        {
            return Reply::Now(SyncResult::error(ResponseError::InconsistentGroupProtocol));
        }
        match self.state {
            GroupState::PreparingRebalance => {
                Reply::Now(SyncResult::error(ResponseError::RebalanceInProgress))
            }
            GroupState::Stable => Reply::Now(self.sync_result(member_id)),
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                self.members
                    .get_mut(member_id)
                    .expect("checked")
                    .pending_sync = Some(tx);
                if self.leader.as_deref() == Some(member_id) {
                    let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for member in self.members.values_mut() {
                        member.assignment =
                            assignments.remove(&member.member_id).unwrap_or_default();
                    }
                    self.state = GroupState::Stable;
                    self.rebalance_deadline = None;
                    let ids: Vec<String> = self.members.keys().cloned().collect();
                    for id in ids {
                        let result = self.sync_result(&id);
                        if let Some(tx) = self
                            .members
                            .get_mut(&id)
                            .and_then(|m| m.pending_sync.take())
                        {
                            let _ = tx.send(result);
                        }
                    }
                }
                Reply::Later(rx)
            }
            GroupState::Empty | GroupState::Dead => {
                Reply::Now(SyncResult::error(ResponseError::UnknownMemberId))
            }
        }
    }

    fn sync_result(&self, member_id: &str) -> SyncResult {
        SyncResult {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    // ---- Heartbeat, LeaveGroup ----

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        now: Instant,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        self.check_member(member_id, instance_id)?;
        if generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        self.members
            .get_mut(member_id)
            .expect("checked")
            .last_heartbeat = now;
        match self.state {
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Removes a member (by id, or by instance id for a static member) and rebalances the rest.
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        now: Instant,
        settings: &GroupSettings,
    ) -> Result<(), ResponseError> {
        let member_id = match instance_id {
            Some(instance_id) => {
                let current = self
                    .static_members
                    .get(instance_id)
                    .cloned()
                    .ok_or(ResponseError::UnknownMemberId)?;
                if !member_id.is_empty() && member_id != current {
                    return Err(ResponseError::FencedInstanceId);
                }
                current
            }
            None => member_id.to_string(),
        };
        if self.pending_members.remove(&member_id).is_some() {
            return Ok(());
        }
        let mut member = self
            .remove_member(&member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if let Some(tx) = member.pending_join.take() {
            let _ = tx.send(JoinResult::error(
                ResponseError::UnknownMemberId,
                &member_id,
            ));
        }
        self.after_membership_change(now, settings);
        Ok(())
    }

    fn after_membership_change(&mut self, now: Instant, settings: &GroupSettings) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.generation_id += 1;
                    self.state = GroupState::Empty;
                    self.protocol_name = None;
                    self.leader = None;
                    self.rebalance_deadline = None;
                } else {
                    self.prepare_rebalance(now, settings);
                }
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    // ---- Timers ----

    /// The next instant at which `expire` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let sessions = self
            .members
            .values()
            .filter(|m| m.pending_join.is_none() && m.pending_sync.is_none())
            .map(|m| m.last_heartbeat + m.session_timeout);
        let pending = self.pending_members.values().copied();
        let rebalance = match self.state {
            GroupState::PreparingRebalance | GroupState::CompletingRebalance => {
                self.rebalance_deadline
            }
            _ => None,
        };
        sessions
            .chain(pending)
            .chain(rebalance)
            .chain(self.initial_delay_until)
            .min()
    }

    /// Applies every deadline that has passed: evicts members whose session expired, ends a join
    /// phase that ran out of time, drops members that never synced.
    pub fn expire(&mut self, now: Instant, settings: &GroupSettings) {
        self.pending_members.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.session_expired(now))
            .map(|m| m.member_id.clone())
            .collect();
        let mut changed = false;
        for member_id in expired {
            self.remove_member(&member_id);
            changed = true;
        }
        if self.state == GroupState::CompletingRebalance
            && self.rebalance_deadline.is_some_and(|d| now >= d)
        {
            let unsynced: Vec<String> = self
                .members
                .values()
                .filter(|m| m.pending_sync.is_none())
                .map(|m| m.member_id.clone())
                .collect();
            for member_id in unsynced {
                self.remove_member(&member_id);
                changed = true;
            }
        }
        if changed {
            self.after_membership_change(now, settings);
        } else {
            self.maybe_complete_join(now);
        }
    }

    // ---- Offsets ----

    /// Whether an OffsetCommit from this member at this generation may store offsets.
    /// Generation -1 with no member id is a simple commit (admin tools), allowed while Empty.
    pub fn check_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), ResponseError> {
        if generation_id < 0 && member_id.is_empty() {
            return if self.state == GroupState::Empty {
                Ok(())
            } else {
                Err(ResponseError::UnknownMemberId)
            };
        }
        if self.state == GroupState::Empty {
            return Err(ResponseError::UnknownMemberId);
        }
        self.check_member(member_id, instance_id)?;
        if generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Whether a TxnOffsetCommit may store offsets: as Kafka, the member id and generation are
    /// only enforced when the client sends them (v3+).
    pub fn check_txn_commit(
        &self,
        member_id: &str,
        generation_id: i32,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if !member_id.is_empty() && !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation_id >= 0 && generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    }

    /// Whether a member's subscription (consumer protocol metadata) names `topic`: OffsetDelete
    /// refuses to delete offsets of topics a live consumer group is subscribed to.
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        if self.protocol_type.as_deref() != Some("consumer") {
            return false;
        }
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members.values().any(|m| {
            subscribed_topics(&m.metadata(&protocol))
                .iter()
                .any(|t| t == topic)
        })
    }
}

/// Topics named in a ConsumerProtocolSubscription (a version prefix, then the body).
fn subscribed_topics(metadata: &Bytes) -> Vec<String> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    if metadata.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([metadata[0], metadata[1]]).clamp(0, 3);
    let mut body = metadata.slice(2..);
    ConsumerProtocolSubscription::decode(&mut body, version)
        .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

fn new_member_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GroupSettings {
        GroupSettings::default()
    }

    fn join_req(member_id: &str, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(30),
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
                .collect(),
            require_known_member_id: true,
            supports_skip_assignment: true,
        }
    }

    fn now_result<T: std::fmt::Debug>(reply: Reply<T>) -> T {
        match reply {
            Reply::Now(result) => result,
            Reply::Later(_) => panic!("expected an immediate answer"),
        }
    }

    fn later<T>(reply: Reply<T>) -> oneshot::Receiver<T> {
        match reply {
            Reply::Later(rx) => rx,
            Reply::Now(_) => panic!("expected a parked request"),
        }
    }

    /// Joins a new member through MEMBER_ID_REQUIRED, returning its id and parked join.
    fn join_new(
        group: &mut Group,
        now: Instant,
        protocols: &[&str],
    ) -> (String, Reply<JoinResult>) {
        let first = now_result(group.join(join_req("", protocols), now, &settings()));
        assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
        let id = first.member_id;
        let reply = group.join(join_req(&id, protocols), now, &settings());
        (id, reply)
    }

    #[test]
    fn a_first_member_is_assigned_at_once_with_no_initial_delay() {
        let mut group = Group::new("g");
        let now = Instant::now();
        let (id, reply) = join_new(&mut group, now, &["range"]);
        let mut rx = later(reply);
        let joined = rx.try_recv().expect("join completed immediately");
        assert_eq!(joined.error, None);
        assert_eq!(joined.generation_id, 1);
        assert_eq!(joined.leader, id);
        assert_eq!(joined.members.len(), 1);
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));
        assert_eq!(group.state(), GroupState::CompletingRebalance);

        let mut sync = later(group.sync(
            &id,
            None,
            1,
            (None, None),
            vec![(id.clone(), Bytes::from_static(b"a"))],
        ));
        assert_eq!(
            sync.try_recv().unwrap().assignment,
            Bytes::from_static(b"a")
        );
        assert_eq!(group.state(), GroupState::Stable);
        assert_eq!(group.heartbeat(&id, None, 1, now), Ok(()));
    }

    #[test]
    fn a_second_member_triggers_a_rebalance_and_followers_wait_for_the_leader() {
        let mut group = Group::new("g");
        let t0 = Instant::now();
        let (a, reply) = join_new(&mut group, t0, &["range"]);
        later(reply).try_recv().unwrap();
        later(group.sync(&a, None, 1, (None, None), vec![]))
            .try_recv()
            .unwrap();

        let (b, reply) = join_new(&mut group, t0, &["range"]);
        let mut b_join = later(reply);
        assert!(b_join.try_recv().is_err(), "waits for the leader to rejoin");
        assert_eq!(group.state(), GroupState::PreparingRebalance);
        assert_eq!(
            group.heartbeat(&a, None, 1, t0),
            Err(ResponseError::RebalanceInProgress)
        );
        assert_eq!(
            group.check_commit(&a, None, 1),
            Ok(()),
            "commits of the current generation are accepted while preparing"
        );

        let mut a_join = later(group.join(join_req(&a, &["range"]), t0, &settings()));
        let a_result = a_join.try_recv().unwrap();
        let b_result = b_join.try_recv().unwrap();
        assert_eq!(a_result.generation_id, 2);
        assert_eq!(a_result.leader, a, "the leader keeps its role");
        assert_eq!(a_result.members.len(), 2);
        assert!(
            b_result.members.is_empty(),
            "only the leader gets the members"
        );
        assert_eq!(
            group.check_commit(&a, None, 2),
            Err(ResponseError::RebalanceInProgress)
        );

        let mut b_sync = later(group.sync(&b, None, 2, (None, None), vec![]));
        assert!(
            b_sync.try_recv().is_err(),
            "follower parked until the leader syncs"
        );
        let assignments = vec![
            (a.clone(), Bytes::from_static(b"A")),
            (b.clone(), Bytes::from_static(b"B")),
        ];
        let mut a_sync = later(group.sync(&a, None, 2, (None, None), assignments));
        assert_eq!(
            a_sync.try_recv().unwrap().assignment,
            Bytes::from_static(b"A")
        );
        assert_eq!(
            b_sync.try_recv().unwrap().assignment,
            Bytes::from_static(b"B")
        );
        assert_eq!(group.state(), GroupState::Stable);
    }

    #[test]
    fn a_member_that_stops_heartbeating_is_evicted_and_the_rest_rebalance() {
        let mut group = Group::new("g");
        let t0 = Instant::now();
        let (a, reply) = join_new(&mut group, t0, &["range"]);
        later(reply).try_recv().unwrap();
        later(group.sync(&a, None, 1, (None, None), vec![]))
            .try_recv()
            .unwrap();
        let (b, reply) = join_new(&mut group, t0, &["range"]);
        let _b_join = later(reply);
        later(group.join(join_req(&a, &["range"]), t0, &settings()))
            .try_recv()
            .unwrap();
        let mut b_sync = later(group.sync(&b, None, 2, (None, None), vec![]));
        later(group.sync(&a, None, 2, (None, None), vec![]))
            .try_recv()
            .unwrap();
        b_sync.try_recv().unwrap();

        // a keeps heartbeating; b goes silent.
        let t1 = t0 + Duration::from_secs(8);
        group.heartbeat(&a, None, 2, t1).unwrap();
        assert_eq!(group.next_deadline(), Some(t0 + Duration::from_secs(10)));
        let t2 = t0 + Duration::from_secs(10);
        group.expire(t2, &settings());
        assert!(group.members().all(|m| m.member_id != b), "b evicted");
        assert_eq!(group.state(), GroupState::PreparingRebalance);
        assert_eq!(
            group.heartbeat(&b, None, 2, t2),
            Err(ResponseError::UnknownMemberId)
        );
        // a rejoins and is alone in generation 3.
        let result = later(group.join(join_req(&a, &["range"]), t2, &settings()))
            .try_recv()
            .unwrap();
        assert_eq!(result.generation_id, 3);
        assert_eq!(result.members.len(), 1);
    }

    #[test]
    fn members_that_do_not_rejoin_in_time_are_dropped() {
        let mut group = Group::new("g");
        let t0 = Instant::now();
        let (a, reply) = join_new(&mut group, t0, &["range"]);
        later(reply).try_recv().unwrap();
        later(group.sync(&a, None, 1, (None, None), vec![]))
            .try_recv()
            .unwrap();
        let (_b, reply) = join_new(&mut group, t0, &["range"]);
        let mut b_join = later(reply);
        // a keeps heartbeating (REBALANCE_IN_PROGRESS) but never rejoins.
        let t1 = t0 + Duration::from_secs(29);
        assert_eq!(
            group.heartbeat(&a, None, 1, t1),
            Err(ResponseError::RebalanceInProgress)
        );
        group.expire(t0 + Duration::from_secs(30), &settings());
        let result = b_join.try_recv().unwrap();
        assert_eq!(
            result.members.len(),
            1,
            "a was removed at the rebalance deadline"
        );
        assert_eq!(
            group.heartbeat(&a, None, 1, t1),
            Err(ResponseError::UnknownMemberId)
        );
    }

    #[test]
    fn leaving_rebalances_at_once_and_the_last_leaver_empties_the_group() {
        let mut group = Group::new("g");
        let t0 = Instant::now();
        let (a, reply) = join_new(&mut group, t0, &["range"]);
        later(reply).try_recv().unwrap();
        later(group.sync(&a, None, 1, (None, None), vec![]))
            .try_recv()
            .unwrap();
        group.offsets.insert(
            ("t".into(), 0),
            CommittedOffset {
                offset: 5,
                leader_epoch: -1,
                metadata: None,
            },
        );
        assert_eq!(group.leave(&a, None, t0, &settings()), Ok(()));
        assert_eq!(group.state(), GroupState::Empty);
        assert_eq!(group.offsets.len(), 1, "offsets survive members leaving");
        assert_eq!(
            group.leave(&a, None, t0, &settings()),
            Err(ResponseError::UnknownMemberId)
        );
        assert_eq!(
            group.check_commit("", None, -1),
            Ok(()),
            "simple commits to an Empty group"
        );
    }

    #[test]
    fn protocol_errors_and_stale_generations() {
        let mut group = Group::new("g");
        let t0 = Instant::now();
        let (a, reply) = join_new(&mut group, t0, &["range", "roundrobin"]);
        later(reply).try_recv().unwrap();
        let mut other = join_req("", &["sticky"]);
        assert_eq!(
            now_result(group.join(other.clone(), t0, &settings())).error,
            Some(ResponseError::InconsistentGroupProtocol)
        );
        other.protocols = vec![("roundrobin".into(), Bytes::new())];
        other.protocol_type = "connect".into();
        assert_eq!(
            now_result(group.join(other, t0, &settings())).error,
            Some(ResponseError::InconsistentGroupProtocol)
        );
        assert_eq!(
            now_result(group.sync(&a, None, 7, (None, None), vec![])).error,
            Some(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            now_result(group.sync("nobody", None, 1, (None, None), vec![])).error,
            Some(ResponseError::UnknownMemberId)
        );
        assert_eq!(
            now_result(group.join(join_req("nobody", &["range"]), t0, &settings())).error,
            Some(ResponseError::UnknownMemberId)
        );
        let mut short = join_req("", &["range"]);
        short.session_timeout = Duration::from_millis(10);
        assert_eq!(
            now_result(group.join(short, t0, &settings())).error,
            Some(ResponseError::InvalidSessionTimeout)
        );
    }

    #[test]
    fn the_protocol_most_members_prefer_wins() {
        let mut group = Group::new("g");
        let t0 = Instant::now();
        let (a, reply) = join_new(&mut group, t0, &["range", "roundrobin"]);
        later(reply).try_recv().unwrap();
        later(group.sync(&a, None, 1, (None, None), vec![]))
            .try_recv()
            .unwrap();
        let (_b, b_reply) = join_new(&mut group, t0, &["roundrobin", "range"]);
        let (_c, c_reply) = join_new(&mut group, t0, &["roundrobin", "range"]);
        later(group.join(join_req(&a, &["range", "roundrobin"]), t0, &settings()))
            .try_recv()
            .unwrap();
        let b = later(b_reply).try_recv().unwrap();
        later(c_reply).try_recv().unwrap();
        assert_eq!(b.protocol_name.as_deref(), Some("roundrobin"));
    }

    #[test]
    fn a_static_member_keeps_its_assignment_across_a_restart() {
        let mut group = Group::new("g");
        let t0 = Instant::now();
        let mut req = join_req("", &["range"]);
        req.group_instance_id = Some("instance-1".into());
        let joined = later(group.join(req.clone(), t0, &settings()))
            .try_recv()
            .unwrap();
        let old_id = joined.member_id;
        later(group.sync(
            &old_id,
            Some("instance-1"),
            1,
            (None, None),
            vec![(old_id.clone(), Bytes::from_static(b"P"))],
        ))
        .try_recv()
        .unwrap();
        // Restart: same instance id, no member id, within the session timeout.
        let rejoined = now_result(group.join(req, t0 + Duration::from_secs(5), &settings()));
        assert_eq!(rejoined.error, None);
        assert_eq!(rejoined.generation_id, 1, "no rebalance");
        assert!(rejoined.skip_assignment);
        assert_ne!(rejoined.member_id, old_id);
        assert_eq!(
            group.heartbeat(&old_id, Some("instance-1"), 1, t0),
            Err(ResponseError::FencedInstanceId)
        );
        let sync = now_result(group.sync(
            &rejoined.member_id,
            Some("instance-1"),
            1,
            (None, None),
            vec![],
        ));
        assert_eq!(sync.assignment, Bytes::from_static(b"P"));
    }

    #[test]
    fn an_initial_delay_holds_the_first_join() {
        let settings = GroupSettings {
            initial_rebalance_delay: Duration::from_secs(3),
            ..GroupSettings::default()
        };
        let mut group = Group::new("g");
        let t0 = Instant::now();
        let first = now_result(group.join(join_req("", &["range"]), t0, &settings));
        let mut rx = later(group.join(join_req(&first.member_id, &["range"]), t0, &settings));
        assert!(rx.try_recv().is_err());
        assert_eq!(group.next_deadline(), Some(t0 + Duration::from_secs(3)));
        group.expire(t0 + Duration::from_secs(3), &settings);
        assert_eq!(rx.try_recv().unwrap().generation_id, 1);
    }
}
