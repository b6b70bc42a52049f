//! Feature flags (KIP-584): the versions of cluster-wide features this broker supports and the
//! level finalized for the cluster. ApiVersions v3+ reports both; UpdateFeatures changes the
//! finalized levels. Clients read them to pick code paths: the Java producer uses transactions
//! v2 (KIP-890) only when `transaction.version` is finalized at 2, share consumers need
//! `share.version` 1 (KIP-932).

use std::collections::BTreeMap;

use parking_lot::RwLock;

pub const METADATA_VERSION: &str = "metadata.version";
pub const TRANSACTION_VERSION: &str = "transaction.version";
pub const SHARE_VERSION: &str = "share.version";
pub const GROUP_VERSION: &str = "group.version";

/// A feature the broker knows: its supported range and the level a new cluster finalizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedFeature {
    pub name: &'static str,
    pub min_version: i16,
    pub max_version: i16,
    pub default_level: i16,
}

/// Kafka 4.1.1's features, with what a new 4.1.1 cluster finalizes (`kafka-features describe`
/// on a freshly formatted one), except `share.version`: Kafka leaves it at 0 (share groups are a
/// preview in 4.1), the emulator finalizes 1 so tests of share consumers need no set-up.
/// `metadata.version` 7 is 3.3-IV3 and 27 is 4.1-IV1.
pub const SUPPORTED_FEATURES: &[SupportedFeature] = &[
    SupportedFeature {
        name: "eligible.leader.replicas.version",
        min_version: 0,
        max_version: 1,
        default_level: 1,
    },
    SupportedFeature {
        name: GROUP_VERSION,
        min_version: 0,
        max_version: 1,
        default_level: 1,
    },
    SupportedFeature {
        name: "kraft.version",
        min_version: 0,
        max_version: 1,
        default_level: 0,
    },
    SupportedFeature {
        name: METADATA_VERSION,
        min_version: 7,
        max_version: 27,
        default_level: 27,
    },
    SupportedFeature {
        name: SHARE_VERSION,
        min_version: 0,
        max_version: 1,
        default_level: 1,
    },
    SupportedFeature {
        name: TRANSACTION_VERSION,
        min_version: 0,
        max_version: 2,
        default_level: 2,
    },
];

impl SupportedFeature {
    /// Whether the feature may be finalized at `level`: within its range, or 0 (not
    /// finalized), which any feature but metadata.version may be.
    pub fn can_finalize(&self, level: i16) -> bool {
        let lowest = if self.name == METADATA_VERSION {
            self.min_version
        } else {
            0
        };
        (lowest..=self.max_version).contains(&level)
    }
}

pub fn supported(name: &str) -> Option<&'static SupportedFeature> {
    SUPPORTED_FEATURES.iter().find(|f| f.name == name)
}

/// How UpdateFeatures may move a level (UpdateFeatures v1's `upgrade_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeType {
    Upgrade,
    SafeDowngrade,
    UnsafeDowngrade,
}

/// The finalized levels and their epoch. A feature at level 0 is not finalized and is left out
/// of ApiVersions' finalized list, as Kafka does.
#[derive(Debug)]
pub struct Features {
    state: RwLock<Finalized>,
}

#[derive(Debug, Clone)]
struct Finalized {
    levels: BTreeMap<&'static str, i16>,
    epoch: i64,
}

impl Default for Features {
    fn default() -> Self {
        Features::new(&[])
    }
}

impl Features {
    /// Kafka's defaults, with `overrides` (name, level) applied; unknown names or levels out of
    /// range are refused, with a message naming them.
    pub fn with_levels(overrides: &[(String, i16)]) -> Result<Self, String> {
        for (name, level) in overrides {
            let feature = supported(name).ok_or_else(|| format!("unknown feature {name}"))?;
            if !feature.can_finalize(*level) {
                return Err(format!(
                    "feature {name} supports levels {}-{}, got {level}",
                    feature.min_version, feature.max_version
                ));
            }
        }
        Ok(Features::new(overrides))
    }

    fn new(overrides: &[(String, i16)]) -> Self {
        let mut levels: BTreeMap<&'static str, i16> = SUPPORTED_FEATURES
            .iter()
            .map(|f| (f.name, f.default_level))
            .collect();
        for (name, level) in overrides {
            if let Some(feature) = supported(name) {
                levels.insert(feature.name, *level);
            }
        }
        Features {
            state: RwLock::new(Finalized { levels, epoch: 1 }),
        }
    }

    /// The finalized level of `name`, 0 when it is not finalized (or not a feature).
    pub fn level(&self, name: &str) -> i16 {
        self.state.read().levels.get(name).copied().unwrap_or(0)
    }

    /// Whether share groups are served (`share.version` >= 1).
    pub fn share_groups_enabled(&self) -> bool {
        self.level(SHARE_VERSION) >= 1
    }

    /// Whether transactions v2 (KIP-890 part 2) are finalized.
    pub fn transactions_v2(&self) -> bool {
        self.level(TRANSACTION_VERSION) >= 2
    }

    /// The finalized features (level > 0) and the epoch of their last change.
    pub fn finalized(&self) -> (Vec<(&'static str, i16)>, i64) {
        let state = self.state.read();
        let levels = state
            .levels
            .iter()
            .filter(|(_, &level)| level > 0)
            .map(|(&name, &level)| (name, level))
            .collect();
        (levels, state.epoch)
    }

    /// Checks one update as Kafka's controller does (`FeatureControlManager`), without applying
    /// it; `controller` is the id its messages name. The error is INVALID_UPDATE_VERSION's
    /// message. A level equal to the current one is accepted and changes nothing.
    pub fn check_update(
        &self,
        name: &str,
        level: i16,
        how: UpgradeType,
        controller: i32,
    ) -> Result<(), String> {
        let Some(feature) = supported(name) else {
            return Err(format!(
                "Invalid update version {level} for feature {name}. Local controller {controller} does not support this feature."
            ));
        };
        if !feature.can_finalize(level) {
            return Err(format!(
                "Invalid update version {level} for feature {name}. Local controller {controller} only supports versions {}-{}",
                feature.min_version, feature.max_version
            ));
        }
        if level < self.level(name) && how == UpgradeType::Upgrade {
            return Err(format!(
                "Invalid update version {level} for feature {name}. Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade."
            ));
        }
        Ok(())
    }

    /// Applies checked updates at once and bumps the epoch.
    pub fn apply(&self, updates: &[(&str, i16)]) {
        let mut state = self.state.write();
        for (name, level) in updates {
            if let Some(feature) = supported(name) {
                state.levels.insert(feature.name, *level);
            }
        }
        state.epoch += 1;
    }

    /// Back to the levels of a new cluster (`reset()`), keeping the epoch moving forward.
    pub fn reset_to(&self, other: &Features) {
        let levels = other.state.read().levels.clone();
        let mut state = self.state.write();
        state.levels = levels;
        state.epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_cluster_finalizes_what_kafka_4_1_does_plus_share_groups() {
        let features = Features::default();
        let (levels, epoch) = features.finalized();
        assert_eq!(
            levels,
            vec![
                ("eligible.leader.replicas.version", 1),
                ("group.version", 1),
                ("metadata.version", 27),
                ("share.version", 1),
                ("transaction.version", 2),
            ]
        );
        assert_eq!(epoch, 1);
        assert!(features.share_groups_enabled() && features.transactions_v2());
    }

    #[test]
    fn updates_are_checked_like_the_controller_checks_them() {
        let features = Features::default();
        assert!(features
            .check_update("share.version", 0, UpgradeType::Upgrade, 0)
            .unwrap_err()
            .contains("downgrade"));
        features
            .check_update("share.version", 0, UpgradeType::SafeDowngrade, 0)
            .unwrap();
        assert!(features
            .check_update("transaction.version", 3, UpgradeType::Upgrade, 0)
            .unwrap_err()
            .contains("0-2"));
        assert!(features
            .check_update("no.such.version", 1, UpgradeType::Upgrade, 0)
            .unwrap_err()
            .contains("Local controller 0 does not support this feature."));
        assert!(features
            .check_update("metadata.version", 0, UpgradeType::UnsafeDowngrade, 0)
            .unwrap_err()
            .contains("only supports versions 7-27"));
        features.apply(&[("share.version", 0)]);
        assert!(!features.share_groups_enabled());
        assert_eq!(features.finalized().1, 2);
        assert!(Features::with_levels(&[("share.version".into(), 2)]).is_err());
        assert!(Features::with_levels(&[("metadata.version".into(), 3)]).is_err());
        assert!(!Features::with_levels(&[("share.version".into(), 0)])
            .unwrap()
            .share_groups_enabled());
    }
}
