//! Share groups (KIP-932, "queues"): the share group coordinator. Members join and heartbeat
//! (ShareGroupHeartbeat) and are given share-partitions, several members per partition when they
//! outnumber the partitions; there is no revocation to wait for, so a member takes its new
//! assignment and the group epoch at its next heartbeat. Each share-partition's in-flight state is
//! `share_partition::SharePartition`; share sessions (ShareFetch/ShareAcknowledge epochs) are
//! kept per member. Everything sits behind one short-held mutex; `changed` wakes parked
//! ShareFetches when records are released. Time is passed in, so it is tested without clocks.

pub mod share_partition;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;
use tokio::sync::Notify;
use uuid::Uuid;

use super::groups::assignor::Assignment;
use super::groups::consumer_group::{GroupError, TopicsImage, LEAVE_GROUP_MEMBER_EPOCH};
use share_partition::{Limits, SharePartition};

/// A share-partition: topic id and partition index.
pub type SharePartitionKey = (Uuid, i32);

/// Coordinator settings of share groups, named after server.properties.
#[derive(Debug, Clone)]
pub struct ShareGroupSettings {
    /// `group.share.heartbeat.interval.ms`
    pub heartbeat_interval: Duration,
    /// `group.share.session.timeout.ms`
    pub session_timeout: Duration,
    /// `group.share.record.lock.duration.ms`
    pub record_lock_duration: Duration,
    /// `group.share.delivery.count.limit`
    pub delivery_count_limit: i16,
    /// `group.share.partition.max.record.locks`
    pub max_record_locks: usize,
    /// `group.share.max.size`
    pub max_size: usize,
}

impl Default for ShareGroupSettings {
    fn default() -> Self {
        ShareGroupSettings {
            heartbeat_interval: Duration::from_millis(5_000),
            session_timeout: Duration::from_millis(45_000),
            record_lock_duration: Duration::from_millis(30_000),
            delivery_count_limit: 5,
            max_record_locks: 2_000,
            max_size: 200,
        }
    }
}

/// Group configs (`ConfigResource.Type.GROUP`) of share groups, with Kafka's defaults.
pub const AUTO_OFFSET_RESET: &str = "share.auto.offset.reset";
pub const RECORD_LOCK_DURATION_MS: &str = "share.record.lock.duration.ms";

/// The group configs Kafka 4.1 knows (`GroupConfig`), with their type and the broker setting
/// that is their default. Of these, share groups here follow `share.auto.offset.reset` and
/// `share.record.lock.duration.ms`.
pub fn group_config_defaults(
    groups: &crate::state::groups::group::GroupSettings,
) -> Vec<(&'static str, String, crate::state::configs::ConfigType)> {
    use crate::state::configs::ConfigType::{Int, String as Text};
    let ms = |d: Duration| d.as_millis().to_string();
    vec![
        (
            "consumer.heartbeat.interval.ms",
            ms(groups.consumer.heartbeat_interval),
            Int,
        ),
        (
            "consumer.session.timeout.ms",
            ms(groups.consumer.session_timeout),
            Int,
        ),
        (AUTO_OFFSET_RESET, "latest".into(), Text),
        (
            "share.heartbeat.interval.ms",
            ms(groups.share.heartbeat_interval),
            Int,
        ),
        ("share.isolation.level", "read_uncommitted".into(), Text),
        (
            RECORD_LOCK_DURATION_MS,
            ms(groups.share.record_lock_duration),
            Int,
        ),
        (
            "share.session.timeout.ms",
            ms(groups.share.session_timeout),
            Int,
        ),
        ("streams.heartbeat.interval.ms", "5000".into(), Int),
        ("streams.num.standby.replicas", "0".into(), Int),
        ("streams.session.timeout.ms", "45000".into(), Int),
    ]
}

/// Kafka's checks of a group config value, with its messages.
pub fn validate_group_config(name: &str, value: &str) -> Result<(), String> {
    let invalid = |why: &str| format!("Invalid value {value} for configuration {name}: {why}");
    match name {
        AUTO_OFFSET_RESET => OffsetReset::parse(value).map(|_| ()).ok_or_else(|| {
            invalid(&format!("Invalid value `{value}` for configuration {name}. The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."))
        }),
        "share.isolation.level" => match value {
            "read_uncommitted" | "read_committed" => Ok(()),
            _ => Err(invalid("String must be one of: read_committed, read_uncommitted")),
        },
        _ if !group_config_defaults(&Default::default()).iter().any(|(n, ..)| *n == name) => {
            Err(format!("Unknown group config name: {name}"))
        }
        _ => {
            let n: i64 = value.trim().parse().map_err(|_| invalid("Not a number of type INT"))?;
            // Kafka's least `group.share.min.record.lock.duration.ms`.
            let least = if name == RECORD_LOCK_DURATION_MS { 1000 } else { 0 };
            if n < least || n > i32::MAX as i64 {
                return Err(invalid(&format!("Value must be at least {least}")));
            }
            Ok(())
        }
    }
}

/// Where a share-partition starts when the group first fetches it (`share.auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    Latest,
    Earliest,
    /// The first record at or after now minus this much.
    ByDuration(Duration),
}

impl OffsetReset {
    /// Parses `latest`, `earliest` or `by_duration:<ISO-8601 duration>` (`by_duration:PT1H`).
    pub fn parse(value: &str) -> Option<OffsetReset> {
        match value.to_ascii_lowercase().as_str() {
            "latest" => Some(OffsetReset::Latest),
            "earliest" => Some(OffsetReset::Earliest),
            other => other
                .strip_prefix("by_duration:")
                .and_then(parse_iso_duration)
                .map(OffsetReset::ByDuration),
        }
    }
}

/// `PnDTnHnMn.nS`, as Java's `Duration.parse` reads the common cases.
fn parse_iso_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('p')?;
    let (days, time) = match rest.split_once('t') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut ms = 0f64;
    if !days.is_empty() {
        ms += days.strip_suffix('d')?.parse::<f64>().ok()? * 86_400_000.0;
    }
    let mut number = String::new();
    for c in time.chars() {
        let unit = match c {
            'h' => 3_600_000.0,
            'm' => 60_000.0,
            's' => 1_000.0,
            _ => {
                number.push(c);
                continue;
            }
        };
        ms += number.parse::<f64>().ok()? * unit;
        number.clear();
    }
    let valid = number.is_empty() && ms >= 0.0 && !rest.is_empty();
    valid.then(|| Duration::from_millis(ms as u64))
}

/// A ShareGroupHeartbeat as the coordinator needs it.
#[derive(Debug, Clone, Default)]
pub struct ShareHeartbeat {
    pub member_id: String,
    pub member_epoch: i32,
    pub rack_id: Option<String>,
    /// `None`: unchanged since the previous heartbeat.
    pub subscribed_topic_names: Option<Vec<String>>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShareHeartbeatResponse {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent when it changed, or when the member (re)joined.
    pub assignment: Option<Assignment>,
}

#[derive(Debug, Clone)]
pub struct ShareMember {
    pub member_id: String,
    pub member_epoch: i32,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: BTreeSet<String>,
    pub assignment: Assignment,
    deadline: Instant,
}

#[derive(Debug, Clone)]
pub struct ShareGroupDescription {
    pub group_id: String,
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: Vec<ShareMember>,
}

/// A share group as `kafka.groups()` shows it.
#[derive(Debug, Clone)]
pub struct ShareGroupView {
    pub description: ShareGroupDescription,
    /// (topic id, partition, start offset, records in flight, records acquired now)
    pub partitions: Vec<(Uuid, i32, i64, usize, usize)>,
}

#[derive(Debug, Clone)]
struct ShareSession {
    /// The epoch the member's next request must carry.
    next_epoch: i32,
    partitions: BTreeSet<SharePartitionKey>,
}

#[derive(Debug, Default)]
struct ShareGroup {
    group_epoch: i32,
    assignment_epoch: i32,
    members: BTreeMap<String, ShareMember>,
    partitions: HashMap<SharePartitionKey, SharePartition>,
    sessions: HashMap<String, ShareSession>,
}

impl ShareGroup {
    fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else {
            "Stable"
        }
    }

    /// Share-partitions spread over the members: each partition of a subscribed topic goes to
    /// one member in turn, or, when members outnumber partitions, each member to one partition in
    /// turn (so some partitions have several members).
    fn target_assignment(&self, topics: &TopicsImage) -> BTreeMap<String, Assignment> {
        let mut target: BTreeMap<String, Assignment> = self
            .members
            .keys()
            .map(|m| (m.clone(), Assignment::new()))
            .collect();
        let subscribed: BTreeSet<&String> = self
            .members
            .values()
            .flat_map(|m| m.subscribed_topic_names.iter())
            .collect();
        let mut turn = 0usize;
        for name in subscribed {
            let Some(&(topic_id, partitions)) = topics.get(name) else {
                continue;
            };
            let members: Vec<&String> = self
                .members
                .values()
                .filter(|m| m.subscribed_topic_names.contains(name))
                .map(|m| &m.member_id)
                .collect();
            let slots = members.len().max(partitions.max(0) as usize);
            for i in 0..slots {
                let member = members[(turn + i) % members.len()];
                let partition = (i % partitions.max(1) as usize) as i32;
                if partitions > 0 {
                    target
                        .get_mut(member)
                        .expect("every member has an entry")
                        .entry(topic_id)
                        .or_default()
                        .insert(partition);
                }
            }
            turn += slots;
        }
        target
    }

    /// Recomputes the target assignment; a change bumps the group epoch.
    fn update_target(&mut self, topics: &TopicsImage) {
        let target = self.target_assignment(topics);
        let changed = self
            .members
            .values()
            .any(|m| target.get(&m.member_id) != Some(&m.assignment))
            || self.assignment_epoch != self.group_epoch;
        if changed {
            if self.assignment_epoch == self.group_epoch {
                self.group_epoch += 1;
            }
            self.assignment_epoch = self.group_epoch;
            for (member_id, assignment) in target {
                if let Some(m) = self.members.get_mut(&member_id) {
                    m.assignment = assignment;
                }
            }
        }
    }

    /// Drops a member: its share session closes and its acquired records are released.
    fn remove_member(&mut self, member_id: &str) {
        self.members.remove(member_id);
        self.group_epoch += 1;
        self.release_member(member_id);
    }

    fn release_member(&mut self, member_id: &str) -> bool {
        self.sessions.remove(member_id);
        let mut released = false;
        for sp in self.partitions.values_mut() {
            released |= sp.release_member(member_id);
        }
        released
    }
}

/// What a ShareFetch or ShareAcknowledge does with its share session (`share_session_epoch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionUse {
    Fetch,
    Acknowledge,
}

/// The epoch that closes a share session (`FINAL_EPOCH`).
pub const FINAL_EPOCH: i32 = -1;

#[derive(Debug, Default)]
pub struct ShareCoordinator {
    groups: Mutex<HashMap<String, ShareGroup>>,
    /// Group configs set by IncrementalAlterConfigs, by group id (they outlive the group).
    configs: Mutex<HashMap<String, BTreeMap<String, String>>>,
    /// Fired when records become available again (released, lock expired, member gone).
    pub changed: Notify,
}

impl ShareCoordinator {
    /// The limits a group's share-partitions follow: the broker settings, with the group's own
    /// `share.record.lock.duration.ms` if set.
    pub fn limits(&self, group_id: &str, settings: &ShareGroupSettings) -> Limits {
        let lock = self
            .group_config(group_id, RECORD_LOCK_DURATION_MS)
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(settings.record_lock_duration);
        Limits {
            lock_duration: lock,
            delivery_count_limit: settings.delivery_count_limit,
            max_record_locks: settings.max_record_locks,
        }
    }

    pub fn group_config(&self, group_id: &str, name: &str) -> Option<String> {
        self.configs.lock().get(group_id)?.get(name).cloned()
    }

    /// The group configs set on `group_id`.
    pub fn group_configs(&self, group_id: &str) -> BTreeMap<String, String> {
        self.configs
            .lock()
            .get(group_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets (`Some`) or deletes (`None`) a group config.
    pub fn set_group_config(&self, group_id: &str, name: &str, value: Option<String>) {
        let mut configs = self.configs.lock();
        let entry = configs.entry(group_id.to_string()).or_default();
        match value {
            Some(v) => entry.insert(name.to_string(), v),
            None => entry.remove(name),
        };
        if entry.is_empty() {
            configs.remove(group_id);
        }
    }

    /// Where the group's share-partitions start when first fetched.
    pub fn offset_reset(&self, group_id: &str) -> OffsetReset {
        self.group_config(group_id, AUTO_OFFSET_RESET)
            .and_then(|v| OffsetReset::parse(&v))
            .unwrap_or(OffsetReset::Latest)
    }

    pub fn is_share_group(&self, group_id: &str) -> bool {
        self.groups.lock().contains_key(group_id)
    }

    /// Evicts members whose session timed out; their records are released.
    fn expire_members(&self, groups: &mut HashMap<String, ShareGroup>, now: Instant) {
        let mut released = false;
        for group in groups.values_mut() {
            let gone: Vec<String> = group
                .members
                .values()
                .filter(|m| m.deadline <= now)
                .map(|m| m.member_id.clone())
                .collect();
            if gone.is_empty() {
                continue;
            }
            for member_id in gone {
                group.remove_member(&member_id);
                released = true;
            }
        }
        if released {
            self.changed.notify_waiters();
        }
    }

    /// ShareGroupHeartbeat: join (member epoch 0), heartbeat, or leave (-1).
    pub fn heartbeat(
        &self,
        group_id: &str,
        req: ShareHeartbeat,
        topics: &TopicsImage,
        settings: &ShareGroupSettings,
        now: Instant,
    ) -> Result<ShareHeartbeatResponse, GroupError> {
        let invalid = |m: &str| GroupError::new(ResponseError::InvalidRequest, m);
        if req.member_id.is_empty() {
            return Err(invalid("MemberId can't be empty."));
        }
        if group_id.is_empty() {
            return Err(invalid("GroupId can't be empty."));
        }
        if req.rack_id.as_deref() == Some("") {
            return Err(invalid("RackId can't be empty."));
        }
        if req.member_epoch == 0
            && req
                .subscribed_topic_names
                .as_ref()
                .is_none_or(|t| t.is_empty())
        {
            return Err(invalid(
                "SubscribedTopicNames must be set in first request.",
            ));
        }
        if req.member_epoch < LEAVE_GROUP_MEMBER_EPOCH {
            return Err(invalid("MemberEpoch is invalid."));
        }
        let mut groups = self.groups.lock();
        self.expire_members(&mut groups, now);
        let unknown = || {
            GroupError::new(
                ResponseError::UnknownMemberId,
                format!(
                    "Member {} is not a member of group {group_id}.",
                    req.member_id
                ),
            )
        };
        if req.member_epoch == LEAVE_GROUP_MEMBER_EPOCH {
            let group = groups.get_mut(group_id).ok_or_else(unknown)?;
            if !group.members.contains_key(&req.member_id) {
                return Err(unknown());
            }
            group.remove_member(&req.member_id);
            group.update_target(topics);
            self.changed.notify_waiters();
            return Ok(ShareHeartbeatResponse {
                member_id: req.member_id,
                member_epoch: LEAVE_GROUP_MEMBER_EPOCH,
                heartbeat_interval_ms: 0,
                assignment: None,
            });
        }
        if req.member_epoch > 0 && !groups.contains_key(group_id) {
            return Err(GroupError::new(
                ResponseError::GroupIdNotFound,
                format!("Share group {group_id} not found."),
            ));
        }
        let group = groups.entry(group_id.to_string()).or_default();
        let joining = req.member_epoch == 0;
        match group.members.get(&req.member_id) {
            None if !joining => return Err(unknown()),
            None if group.members.len() >= settings.max_size => {
                return Err(GroupError::new(
                    ResponseError::GroupMaxSizeReached,
                    format!("The share group has reached its maximum capacity of {} members.", settings.max_size),
                ))
            }
            Some(m) if !joining && req.member_epoch != m.member_epoch => {
                return Err(GroupError::new(
                    ResponseError::FencedMemberEpoch,
                    format!(
                        "The share group member has a smaller member epoch ({}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                        req.member_epoch, m.member_epoch
                    ),
                ))
            }
            _ => {}
        }
        let deadline = now + settings.session_timeout;
        let member = group
            .members
            .entry(req.member_id.clone())
            .or_insert_with(|| ShareMember {
                member_id: req.member_id.clone(),
                member_epoch: 0,
                rack_id: None,
                client_id: String::new(),
                client_host: String::new(),
                subscribed_topic_names: BTreeSet::new(),
                assignment: Assignment::new(),
                deadline,
            });
        member.deadline = deadline;
        member.client_id = req.client_id;
        member.client_host = req.client_host;
        if req.rack_id.is_some() {
            member.rack_id = req.rack_id;
        }
        let mut membership_changed = joining && member.member_epoch == 0;
        if let Some(names) = req.subscribed_topic_names {
            let names: BTreeSet<String> = names.into_iter().collect();
            if names != member.subscribed_topic_names {
                member.subscribed_topic_names = names;
                membership_changed = true;
            }
        }
        if membership_changed {
            group.group_epoch += 1;
        }
        group.update_target(topics);
        let member = group
            .members
            .get_mut(&req.member_id)
            .expect("inserted above");
        let moved = member.member_epoch != group.assignment_epoch;
        member.member_epoch = group.assignment_epoch;
        Ok(ShareHeartbeatResponse {
            member_id: member.member_id.clone(),
            member_epoch: member.member_epoch,
            heartbeat_interval_ms: settings.heartbeat_interval.as_millis() as i32,
            assignment: (moved || joining).then(|| member.assignment.clone()),
        })
    }

    /// ShareGroupDescribe of one group.
    pub fn describe(
        &self,
        group_id: &str,
        now: Instant,
    ) -> Result<ShareGroupDescription, GroupError> {
        let mut groups = self.groups.lock();
        self.expire_members(&mut groups, now);
        groups
            .get(group_id)
            .map(|g| describe(group_id, g))
            .ok_or_else(|| {
                GroupError::new(
                    ResponseError::GroupIdNotFound,
                    format!("Group {group_id} not found."),
                )
            })
    }

    /// (group id, state) of every share group, sorted by id.
    pub fn list(&self, now: Instant) -> Vec<(String, &'static str)> {
        let mut groups = self.groups.lock();
        self.expire_members(&mut groups, now);
        let mut list: Vec<_> = groups
            .iter()
            .map(|(id, g)| (id.clone(), g.state()))
            .collect();
        list.sort();
        list
    }

    /// Every share group with its share-partitions, for `kafka.groups()`.
    pub fn views(&self) -> Vec<ShareGroupView> {
        let groups = self.groups.lock();
        let mut views: Vec<_> = groups
            .iter()
            .map(|(id, g)| {
                let mut partitions: Vec<_> = g
                    .partitions
                    .iter()
                    .map(|(&(t, p), sp)| {
                        (
                            t,
                            p,
                            sp.start_offset(),
                            sp.in_flight_count(),
                            sp.acquired_count(),
                        )
                    })
                    .collect();
                partitions.sort_by_key(|p| (p.0, p.1));
                ShareGroupView {
                    description: describe(id, g),
                    partitions,
                }
            })
            .collect();
        views.sort_by(|a, b| a.description.group_id.cmp(&b.description.group_id));
        views
    }

    /// DeleteGroups of a share group: NON_EMPTY_GROUP while it has members. `None` if no such
    /// share group.
    pub fn delete(&self, group_id: &str) -> Option<Result<(), ResponseError>> {
        let mut groups = self.groups.lock();
        let group = groups.get(group_id)?;
        if !group.members.is_empty() {
            return Some(Err(ResponseError::NonEmptyGroup));
        }
        groups.remove(group_id);
        Some(Ok(()))
    }

    /// Resolves the share session of a ShareFetch or ShareAcknowledge: epoch 0 opens a new one
    /// (fetch only), FINAL_EPOCH closes it, others must be the session's next epoch. Partitions
    /// are added (`added`) or forgotten. Returns the session's partitions.
    pub fn use_session(
        &self,
        group_id: &str,
        member_id: &str,
        epoch: i32,
        kind: SessionUse,
        added: &[SharePartitionKey],
        forgotten: &[SharePartitionKey],
    ) -> Result<BTreeSet<SharePartitionKey>, ResponseError> {
        let mut groups = self.groups.lock();
        let group = groups.entry(group_id.to_string()).or_default();
        if epoch == 0 {
            if kind == SessionUse::Acknowledge {
                return Err(ResponseError::InvalidShareSessionEpoch);
            }
            let session = ShareSession {
                next_epoch: 1,
                partitions: added.iter().copied().collect(),
            };
            let partitions = session.partitions.clone();
            group.sessions.insert(member_id.to_string(), session);
            return Ok(partitions);
        }
        if epoch == FINAL_EPOCH {
            return Ok(group
                .sessions
                .get(member_id)
                .map(|s| s.partitions.clone())
                .unwrap_or_default());
        }
        let session = group
            .sessions
            .get_mut(member_id)
            .ok_or(ResponseError::ShareSessionNotFound)?;
        if session.next_epoch != epoch {
            return Err(ResponseError::InvalidShareSessionEpoch);
        }
        session.next_epoch = epoch.wrapping_add(1).max(1);
        session.partitions.extend(added.iter().copied());
        for p in forgotten {
            session.partitions.remove(p);
        }
        Ok(session.partitions.clone())
    }

    /// Closes a member's share session (FINAL_EPOCH): what it had acquired is released.
    pub fn close_session(&self, group_id: &str, member_id: &str) {
        if let Some(group) = self.groups.lock().get_mut(group_id) {
            group.release_member(member_id);
        }
        self.changed.notify_waiters();
    }

    /// Runs `f` on a share-partition, created at `start` (computed from the group's
    /// `share.auto.offset.reset`) if the group has not fetched it yet.
    pub fn with_partition<R>(
        &self,
        group_id: &str,
        key: SharePartitionKey,
        start: impl FnOnce(OffsetReset) -> i64,
        settings: &ShareGroupSettings,
        f: impl FnOnce(&mut SharePartition, &Limits) -> R,
    ) -> R {
        let limits = self.limits(group_id, settings);
        let reset = self.offset_reset(group_id);
        let mut groups = self.groups.lock();
        let group = groups.entry(group_id.to_string()).or_default();
        let sp = group
            .partitions
            .entry(key)
            .or_insert_with(|| SharePartition::new(start(reset)));
        let result = f(sp, &limits);
        drop(groups);
        result
    }

    /// Applies acknowledgements to a share-partition the group has fetched; INVALID_RECORD_STATE
    /// for one it has not.
    pub fn acknowledge(
        &self,
        group_id: &str,
        member_id: &str,
        key: SharePartitionKey,
        batches: &[(i64, i64, Vec<i8>)],
        settings: &ShareGroupSettings,
        now: Instant,
    ) -> Result<(), ResponseError> {
        let limits = self.limits(group_id, settings);
        let mut groups = self.groups.lock();
        let sp = groups
            .get_mut(group_id)
            .and_then(|g| g.partitions.get_mut(&key))
            .ok_or(ResponseError::InvalidRecordState)?;
        let mut result = Ok(());
        for (first, last, types) in batches {
            if let Err(e) = sp.acknowledge(member_id, *first, *last, types, now, &limits) {
                result = Err(e);
            }
        }
        drop(groups);
        self.changed.notify_waiters();
        result
    }

    /// The earliest acquisition lock of the group's share-partitions to run out.
    pub fn next_lock_deadline(&self, group_id: &str) -> Option<Instant> {
        let groups = self.groups.lock();
        let group = groups.get(group_id)?;
        group
            .partitions
            .values()
            .filter_map(|sp| sp.next_deadline())
            .min()
    }

    /// DescribeShareGroupOffsets: the start offset of each share-partition the group has.
    pub fn start_offsets(&self, group_id: &str) -> Option<BTreeMap<SharePartitionKey, i64>> {
        let groups = self.groups.lock();
        let group = groups.get(group_id)?;
        Some(
            group
                .partitions
                .iter()
                .map(|(k, sp)| (*k, sp.start_offset()))
                .collect(),
        )
    }

    /// AlterShareGroupOffsets: each share-partition starts again at its offset. Kafka 4.1.1 takes
    /// it while the group has members too.
    pub fn alter_offsets(
        &self,
        group_id: &str,
        offsets: &[(SharePartitionKey, i64)],
    ) -> Result<(), ResponseError> {
        let mut groups = self.groups.lock();
        let group = groups.entry(group_id.to_string()).or_default();
        for &(key, offset) in offsets {
            group.partitions.insert(key, SharePartition::new(offset));
        }
        Ok(())
    }

    /// DeleteShareGroupOffsets: forgets share-partitions of a group without members.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        keys: &[SharePartitionKey],
    ) -> Result<(), ResponseError> {
        let mut groups = self.groups.lock();
        let group = groups
            .get_mut(group_id)
            .ok_or(ResponseError::GroupIdNotFound)?;
        if !group.members.is_empty() {
            return Err(ResponseError::NonEmptyGroup);
        }
        for key in keys {
            group.partitions.remove(key);
        }
        Ok(())
    }

    pub fn clear(&self) {
        self.groups.lock().clear();
        self.configs.lock().clear();
        self.changed.notify_waiters();
    }
}

fn describe(group_id: &str, g: &ShareGroup) -> ShareGroupDescription {
    ShareGroupDescription {
        group_id: group_id.to_string(),
        state: g.state(),
        group_epoch: g.group_epoch,
        assignment_epoch: g.assignment_epoch,
        members: g.members.values().cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> TopicsImage {
        let mut t = TopicsImage::new();
        t.insert("t".into(), (Uuid::from_u128(1), 2));
        t
    }

    fn join(c: &ShareCoordinator, member: &str, now: Instant) -> ShareHeartbeatResponse {
        let req = ShareHeartbeat {
            member_id: member.into(),
            member_epoch: 0,
            subscribed_topic_names: Some(vec!["t".into()]),
            ..Default::default()
        };
        c.heartbeat("g", req, &topics(), &ShareGroupSettings::default(), now)
            .unwrap()
    }

    fn beat(
        c: &ShareCoordinator,
        member: &str,
        epoch: i32,
        now: Instant,
    ) -> Result<ShareHeartbeatResponse, GroupError> {
        let req = ShareHeartbeat {
            member_id: member.into(),
            member_epoch: epoch,
            ..Default::default()
        };
        c.heartbeat("g", req, &topics(), &ShareGroupSettings::default(), now)
    }

    fn partitions(a: &Assignment) -> usize {
        a.values().map(|p| p.len()).sum()
    }

    #[test]
    fn members_split_the_partitions_and_share_them_when_they_outnumber_them() {
        let c = ShareCoordinator::default();
        let now = Instant::now();
        let a = join(&c, "a", now);
        assert_eq!(
            (a.member_epoch, partitions(a.assignment.as_ref().unwrap())),
            (1, 2)
        );
        let b = join(&c, "b", now);
        assert_eq!(
            (b.member_epoch, partitions(b.assignment.as_ref().unwrap())),
            (2, 1)
        );
        let a = beat(&c, "a", 1, now).unwrap();
        assert_eq!(
            (a.member_epoch, partitions(a.assignment.as_ref().unwrap())),
            (2, 1)
        );
        assert_eq!(beat(&c, "a", 2, now).unwrap().assignment, None);
        join(&c, "c", now);
        let d = c.describe("g", now).unwrap();
        assert_eq!(d.members.len(), 3);
        assert!(d.members.iter().all(|m| partitions(&m.assignment) == 1));
    }

    #[test]
    fn a_stale_epoch_is_fenced_and_a_silent_member_is_evicted() {
        let c = ShareCoordinator::default();
        let now = Instant::now();
        join(&c, "a", now);
        let err = beat(&c, "a", 7, now).unwrap_err();
        assert_eq!(err.error, ResponseError::FencedMemberEpoch);
        let later = now + ShareGroupSettings::default().session_timeout;
        let err = beat(&c, "a", 1, later).unwrap_err();
        assert_eq!(err.error, ResponseError::UnknownMemberId);
        assert_eq!(c.list(later), vec![("g".into(), "Empty")]);
        assert_eq!(c.delete("g"), Some(Ok(())));
    }

    #[test]
    fn share_sessions_check_their_epochs() {
        let c = ShareCoordinator::default();
        let p = (Uuid::from_u128(1), 0);
        let fetch = SessionUse::Fetch;
        assert_eq!(
            c.use_session("g", "a", 1, fetch, &[], &[]),
            Err(ResponseError::ShareSessionNotFound)
        );
        assert_eq!(
            c.use_session("g", "a", 0, fetch, &[p], &[]).unwrap().len(),
            1
        );
        assert_eq!(
            c.use_session("g", "a", 2, fetch, &[], &[]),
            Err(ResponseError::InvalidShareSessionEpoch)
        );
        assert!(c
            .use_session("g", "a", 1, SessionUse::Acknowledge, &[], &[p])
            .unwrap()
            .is_empty());
        assert_eq!(
            c.use_session("g", "a", 0, SessionUse::Acknowledge, &[], &[]),
            Err(ResponseError::InvalidShareSessionEpoch)
        );
    }

    #[test]
    fn offset_reset_values_parse_as_kafka_reads_them() {
        assert_eq!(OffsetReset::parse("earliest"), Some(OffsetReset::Earliest));
        assert_eq!(
            OffsetReset::parse("by_duration:PT1H30M"),
            Some(OffsetReset::ByDuration(Duration::from_secs(5400)))
        );
        assert_eq!(
            OffsetReset::parse("by_duration:P1DT0.5S"),
            Some(OffsetReset::ByDuration(Duration::from_millis(86_400_500)))
        );
        assert_eq!(OffsetReset::parse("by_duration:1h"), None);
        assert_eq!(OffsetReset::parse("none"), None);
    }
}
