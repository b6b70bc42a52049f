//! Server-side partition assignors of the consumer group protocol (KIP-848): `uniform`, Kafka's
//! default, and `range`. An assignor turns the members' subscriptions (topic ids) and their
//! current target assignments into the group's next target assignment; the coordinator then
//! reconciles each member towards it.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions by topic id: what a member owns or is meant to own.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// A member as an assignor sees it.
#[derive(Debug, Clone, Default)]
pub struct MemberSpec {
    pub member_id: String,
    pub instance_id: Option<String>,
    /// Ids of the subscribed topics that exist.
    pub subscribed: BTreeSet<Uuid>,
    /// The member's current target assignment (stickiness starts from it).
    pub target: Assignment,
}

/// What an assignor needs: the members and the partition count of every subscribed topic.
#[derive(Debug, Clone, Default)]
pub struct GroupSpec {
    pub members: Vec<MemberSpec>,
    pub partitions: BTreeMap<Uuid, i32>,
}

impl GroupSpec {
    /// Homogeneous when every member subscribes to the same topics (Kafka picks its algorithm
    /// by this).
    fn is_homogeneous(&self) -> bool {
        self.members
            .windows(2)
            .all(|w| w[0].subscribed == w[1].subscribed)
    }

    fn partition_count(&self, topic: &Uuid) -> i32 {
        self.partitions.get(topic).copied().unwrap_or(0)
    }
}

/// The assignors a broker offers (`group.consumer.assignors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    Uniform,
    Range,
}

impl Assignor {
    pub const ALL: [Assignor; 2] = [Assignor::Uniform, Assignor::Range];

    pub fn name(self) -> &'static str {
        match self {
            Assignor::Uniform => "uniform",
            Assignor::Range => "range",
        }
    }

    pub fn by_name(name: &str) -> Option<Assignor> {
        Assignor::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The target assignment of every member (members with nothing get an empty assignment).
    pub fn assign(self, spec: &GroupSpec) -> BTreeMap<String, Assignment> {
        if spec.members.is_empty() {
            return BTreeMap::new();
        }
        match self {
            Assignor::Uniform if spec.is_homogeneous() => uniform_homogeneous(spec),
            Assignor::Uniform => uniform_heterogeneous(spec),
            Assignor::Range => range(spec),
        }
    }
}

fn count(assignment: &Assignment) -> usize {
    assignment.values().map(BTreeSet::len).sum()
}

fn add(assignment: &mut Assignment, topic: Uuid, partition: i32) {
    assignment.entry(topic).or_default().insert(partition);
}

fn remove(assignment: &mut Assignment, topic: &Uuid, partition: i32) {
    if let Some(partitions) = assignment.get_mut(topic) {
        partitions.remove(&partition);
        if partitions.is_empty() {
            assignment.remove(topic);
        }
    }
}

/// Every member has the same subscription: balance first (sizes differ by at most one), then
/// stickiness (a member keeps what it had up to its quota), as Kafka's homogeneous uniform
/// builder. Members that already hold more get the extra partitions first, which moves less.
fn uniform_homogeneous(spec: &GroupSpec) -> BTreeMap<String, Assignment> {
    let topics = &spec.members[0].subscribed;
    let total: usize = topics
        .iter()
        .map(|t| spec.partition_count(t).max(0) as usize)
        .sum();
    let members = spec.members.len();
    let min_quota = total / members;
    let mut extra = total % members;

    let mut order: Vec<&MemberSpec> = spec.members.iter().collect();
    order.sort_by(|a, b| {
        count(&b.target)
            .cmp(&count(&a.target))
            .then_with(|| a.member_id.cmp(&b.member_id))
    });

    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    let mut result: BTreeMap<String, Assignment> = BTreeMap::new();
    let mut room: Vec<(String, usize)> = Vec::new();
    for member in order {
        let mut quota = min_quota;
        if extra > 0 {
            quota += 1;
            extra -= 1;
        }
        let mut kept = Assignment::new();
        for (topic, partitions) in &member.target {
            if !topics.contains(topic) {
                continue;
            }
            for &p in partitions {
                let exists = p < spec.partition_count(topic);
                if exists && count(&kept) < quota && taken.insert((*topic, p)) {
                    add(&mut kept, *topic, p);
                }
            }
        }
        let left = quota - count(&kept);
        if left > 0 {
            room.push((member.member_id.clone(), left));
        }
        result.insert(member.member_id.clone(), kept);
    }

    let mut unassigned = topics
        .iter()
        .flat_map(|t| (0..spec.partition_count(t).max(0)).map(move |p| (*t, p)));
    for (member_id, left) in room {
        let assignment = result.get_mut(&member_id).expect("member in result");
        let mut given = 0;
        while given < left {
            match unassigned.next() {
                Some(tp) if taken.contains(&tp) => continue,
                Some((topic, p)) => {
                    add(assignment, topic, p);
                    given += 1;
                }
                None => break,
            }
        }
    }
    result
}

/// Members subscribe to different topics. Kafka's heterogeneous builder balances partitions
/// among each topic's subscribers while keeping what members had; this one does the same with a
/// simpler method (its exact choices may differ from Kafka's): keep what is still subscribed,
/// give each free partition to the subscriber holding the fewest, then move partitions from a
/// subscriber to another holding at least two fewer until none can move.
fn uniform_heterogeneous(spec: &GroupSpec) -> BTreeMap<String, Assignment> {
    let mut result: BTreeMap<String, Assignment> = BTreeMap::new();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    for member in &spec.members {
        let mut kept = Assignment::new();
        for (topic, partitions) in &member.target {
            if !member.subscribed.contains(topic) {
                continue;
            }
            for &p in partitions {
                if p < spec.partition_count(topic) && taken.insert((*topic, p)) {
                    add(&mut kept, *topic, p);
                }
            }
        }
        result.insert(member.member_id.clone(), kept);
    }
    let subscribers = |topic: &Uuid| -> Vec<&str> {
        spec.members
            .iter()
            .filter(|m| m.subscribed.contains(topic))
            .map(|m| m.member_id.as_str())
            .collect()
    };
    let least_loaded = |result: &BTreeMap<String, Assignment>, candidates: &[&str]| {
        candidates
            .iter()
            .min_by_key(|id| (count(&result[**id]), **id))
            .map(|id| id.to_string())
    };
    for (topic, &partitions) in &spec.partitions {
        let candidates = subscribers(topic);
        for p in 0..partitions.max(0) {
            if taken.contains(&(*topic, p)) {
                continue;
            }
            if let Some(member_id) = least_loaded(&result, &candidates) {
                add(result.get_mut(&member_id).expect("member"), *topic, p);
                taken.insert((*topic, p));
            }
        }
    }
    // Move partitions towards less loaded subscribers; each move lowers the spread, so this ends.
    loop {
        let mut moved = false;
        for (topic, &partitions) in &spec.partitions {
            let candidates = subscribers(topic);
            for p in 0..partitions.max(0) {
                let Some(owner) = candidates
                    .iter()
                    .find(|id| result[**id].get(topic).is_some_and(|s| s.contains(&p)))
                    .map(|id| id.to_string())
                else {
                    continue;
                };
                let Some(target) = least_loaded(&result, &candidates) else {
                    continue;
                };
                if count(&result[&target]) + 2 <= count(&result[&owner]) {
                    remove(result.get_mut(&owner).expect("owner"), topic, p);
                    add(result.get_mut(&target).expect("target"), *topic, p);
                    moved = true;
                }
            }
        }
        if !moved {
            break;
        }
    }
    result
}

/// Contiguous ranges of each topic's partitions, members in order (static members first by
/// instance id, then by member id), the first `partitions % members` getting one more. With
/// identical subscriptions and partition counts the assignment is co-partitioned.
fn range(spec: &GroupSpec) -> BTreeMap<String, Assignment> {
    let mut members: Vec<&MemberSpec> = spec.members.iter().collect();
    members.sort_by(|a, b| match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    });
    // Per topic: (subscribers, next partition to hand out, extra partitions left).
    let mut topics: BTreeMap<Uuid, (i32, i32, i32)> = BTreeMap::new();
    for member in &members {
        for topic in &member.subscribed {
            if spec.partitions.contains_key(topic) {
                topics.entry(*topic).or_insert((0, 0, -1)).0 += 1;
            }
        }
    }
    let mut result = BTreeMap::new();
    for member in members {
        let mut assignment = Assignment::new();
        for topic in &member.subscribed {
            let Some((subscribers, next, extra)) = topics.get_mut(topic) else {
                continue;
            };
            let partitions = spec.partition_count(topic).max(0);
            if *extra < 0 {
                *extra = partitions % *subscribers;
            }
            let mut quota = partitions / *subscribers;
            if *extra > 0 {
                quota += 1;
                *extra -= 1;
            }
            let end = (*next + quota).min(partitions);
            for p in *next..end {
                add(&mut assignment, *topic, p);
            }
            *next = end;
        }
        result.insert(member.member_id.clone(), assignment);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn member(id: &str, topics: &[Uuid], target: &[(Uuid, i32)]) -> MemberSpec {
        let mut assignment = Assignment::new();
        for &(t, p) in target {
            add(&mut assignment, t, p);
        }
        MemberSpec {
            member_id: id.into(),
            instance_id: None,
            subscribed: topics.iter().copied().collect(),
            target: assignment,
        }
    }

    fn spec(members: Vec<MemberSpec>, partitions: &[(Uuid, i32)]) -> GroupSpec {
        GroupSpec {
            members,
            partitions: partitions.iter().copied().collect(),
        }
    }

    /// No partition is given twice and every partition of a subscribed topic is given.
    fn assert_complete(spec: &GroupSpec, result: &BTreeMap<String, Assignment>) {
        let mut seen = BTreeSet::new();
        for (member_id, assignment) in result {
            let member = spec
                .members
                .iter()
                .find(|m| &m.member_id == member_id)
                .unwrap();
            for (t, partitions) in assignment {
                assert!(member.subscribed.contains(t), "{member_id} not subscribed");
                for &p in partitions {
                    assert!(seen.insert((*t, p)), "{t}-{p} given twice");
                }
            }
        }
        let subscribed: BTreeSet<Uuid> = spec
            .members
            .iter()
            .flat_map(|m| m.subscribed.iter().copied())
            .collect();
        let expected: usize = subscribed
            .iter()
            .map(|t| spec.partition_count(t) as usize)
            .sum();
        assert_eq!(seen.len(), expected, "every partition is assigned");
    }

    fn sizes(result: &BTreeMap<String, Assignment>) -> Vec<usize> {
        result.values().map(count).collect()
    }

    #[test]
    fn uniform_splits_evenly_and_a_newcomer_takes_from_the_owner() {
        let t = topic(1);
        let first = spec(vec![member("a", &[t], &[])], &[(t, 4)]);
        let result = Assignor::Uniform.assign(&first);
        assert_eq!(result["a"][&t], BTreeSet::from([0, 1, 2, 3]));

        let second = spec(
            vec![
                member("a", &[t], &[(t, 0), (t, 1), (t, 2), (t, 3)]),
                member("b", &[t], &[]),
            ],
            &[(t, 4)],
        );
        let result = Assignor::Uniform.assign(&second);
        assert_complete(&second, &result);
        assert_eq!(
            result["a"][&t],
            BTreeSet::from([0, 1]),
            "a keeps what it can"
        );
        assert_eq!(result["b"][&t], BTreeSet::from([2, 3]));
    }

    #[test]
    fn uniform_is_sticky_when_a_member_leaves() {
        let t = topic(1);
        let u = topic(2);
        let spec = spec(
            vec![
                member("a", &[t, u], &[(t, 0), (u, 0)]),
                member("c", &[t, u], &[(t, 2), (u, 2)]),
            ],
            &[(t, 3), (u, 3)],
        );
        let result = Assignor::Uniform.assign(&spec);
        assert_complete(&spec, &result);
        assert_eq!(sizes(&result), vec![3, 3]);
        for (t_, p) in [(t, 0), (u, 0)] {
            assert!(result["a"][&t_].contains(&p));
        }
        for (t_, p) in [(t, 2), (u, 2)] {
            assert!(result["c"][&t_].contains(&p));
        }
    }

    #[test]
    fn uniform_drops_unsubscribed_and_vanished_partitions() {
        let t = topic(1);
        let spec = spec(
            vec![member("a", &[t], &[(t, 0), (t, 7), (topic(9), 0)])],
            &[(t, 2)],
        );
        let result = Assignor::Uniform.assign(&spec);
        assert_eq!(result["a"], Assignment::from([(t, BTreeSet::from([0, 1]))]));
    }

    #[test]
    fn uniform_balances_different_subscriptions() {
        let (t, u) = (topic(1), topic(2));
        let spec = spec(
            vec![
                member("a", &[t], &[]),
                member("b", &[t, u], &[]),
                member("c", &[u], &[]),
            ],
            &[(t, 4), (u, 4)],
        );
        let result = Assignor::Uniform.assign(&spec);
        assert_complete(&spec, &result);
        let mut s = sizes(&result);
        s.sort();
        assert!(s[2] - s[0] <= 1, "balanced: {s:?}");

        // Stickiness: b keeps its partitions of t when c leaves... and a newcomer only takes
        // what balance needs.
        let again = GroupSpec {
            members: spec
                .members
                .iter()
                .map(|m| MemberSpec {
                    target: result[&m.member_id].clone(),
                    ..m.clone()
                })
                .collect(),
            ..spec.clone()
        };
        assert_eq!(
            Assignor::Uniform.assign(&again),
            result,
            "stable when nothing changed"
        );
    }

    #[test]
    fn range_gives_contiguous_co_partitioned_ranges() {
        let (t, u) = (topic(1), topic(2));
        let spec = spec(
            vec![member("m1", &[t, u], &[]), member("m0", &[t, u], &[])],
            &[(t, 3), (u, 3)],
        );
        let result = Assignor::Range.assign(&spec);
        assert_complete(&spec, &result);
        assert_eq!(result["m0"][&t], BTreeSet::from([0, 1]));
        assert_eq!(result["m0"][&u], BTreeSet::from([0, 1]));
        assert_eq!(result["m1"][&t], BTreeSet::from([2]));
        assert_eq!(result["m1"][&u], BTreeSet::from([2]));
    }

    #[test]
    fn range_puts_static_members_first_and_handles_partial_subscriptions() {
        let (t, u) = (topic(1), topic(2));
        let mut s = member("z-dynamic", &[t], &[]);
        s.instance_id = None;
        let mut stat = member("y-static", &[t, u], &[]);
        stat.instance_id = Some("instance-0".into());
        let spec = spec(vec![s, stat], &[(t, 2), (u, 2)]);
        let result = Assignor::Range.assign(&spec);
        assert_complete(&spec, &result);
        assert_eq!(result["y-static"][&t], BTreeSet::from([0]));
        assert_eq!(result["y-static"][&u], BTreeSet::from([0, 1]));
        assert_eq!(result["z-dynamic"][&t], BTreeSet::from([1]));
    }

    #[test]
    fn more_members_than_partitions_leaves_some_empty() {
        let t = topic(1);
        let spec = spec(
            vec![
                member("a", &[t], &[]),
                member("b", &[t], &[]),
                member("c", &[t], &[]),
            ],
            &[(t, 2)],
        );
        for assignor in Assignor::ALL {
            let result = assignor.assign(&spec);
            assert_complete(&spec, &result);
            assert_eq!(
                result.len(),
                3,
                "{}: every member has an entry",
                assignor.name()
            );
            let mut s = sizes(&result);
            s.sort();
            assert_eq!(s, vec![0, 1, 1]);
        }
        assert_eq!(Assignor::by_name("range"), Some(Assignor::Range));
        assert_eq!(Assignor::by_name("sticky"), None);
    }
}
