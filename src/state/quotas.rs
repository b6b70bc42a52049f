//! Client quotas (KIP-546): stored and described, not enforced.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;

/// An entity: (entity type, name) pairs, e.g. [("user", Some("alice"))]; a `None` name is the
/// type's default entity.
pub type Entity = Vec<(String, Option<String>)>;

/// Quota keys Kafka accepts, with the entity types each applies to.
const KEYS: &[(&str, &[&str])] = &[
    ("producer_byte_rate", &["user", "client-id"]),
    ("consumer_byte_rate", &["user", "client-id"]),
    ("request_percentage", &["user", "client-id"]),
    ("controller_mutation_rate", &["user", "client-id"]),
    ("connection_creation_rate", &["ip"]),
];

/// How a DescribeClientQuotas component matches an entity's name.
#[derive(Debug, Clone)]
pub enum Match {
    Exact(String),
    Default,
    Any,
}

#[derive(Debug, Default)]
pub struct ClientQuotas {
    entries: Mutex<BTreeMap<Entity, BTreeMap<String, f64>>>,
}

impl ClientQuotas {
    /// Removes every quota (a test's reset).
    pub fn clear(&self) {
        self.entries.lock().clear();
    }

    /// Checks an alteration: known entity types, no mixing of ip with others, known keys.
    pub fn validate(
        entity: &Entity,
        ops: &[(String, Option<f64>)],
    ) -> Result<(), (ResponseError, String)> {
        let invalid = |m: String| Err((ResponseError::InvalidRequest, m));
        if entity.is_empty() {
            return invalid("An entity must name at least one entity type.".into());
        }
        for (entity_type, _) in entity {
            if !["user", "client-id", "ip"].contains(&entity_type.as_str()) {
                return invalid(format!("Unknown entity type {entity_type}."));
            }
        }
        if entity.len() > 1 && entity.iter().any(|(t, _)| t == "ip") {
            return invalid("An ip entity cannot be combined with user or client-id.".into());
        }
        for (key, value) in ops {
            let Some((_, types)) = KEYS.iter().find(|(k, _)| k == key) else {
                return invalid(format!("Unknown quota key {key}."));
            };
            if !entity.iter().all(|(t, _)| types.contains(&t.as_str())) {
                return invalid(format!("Quota {key} does not apply to this entity."));
            }
            if value.is_some_and(|v| v <= 0.0) {
                return invalid(format!("Quota {key} must be positive."));
            }
        }
        Ok(())
    }

    /// Sets (Some) or removes (None) quota values of an entity.
    pub fn alter(&self, mut entity: Entity, ops: Vec<(String, Option<f64>)>) {
        entity.sort();
        let mut entries = self.entries.lock();
        let values = entries.entry(entity.clone()).or_default();
        for (key, value) in ops {
            match value {
                Some(value) => values.insert(key, value),
                None => values.remove(&key),
            };
        }
        if values.is_empty() {
            entries.remove(&entity);
        }
    }

    /// Entities matching every component; with `strict`, only entities of exactly those types.
    pub fn describe(
        &self,
        components: &[(String, Match)],
        strict: bool,
    ) -> Vec<(Entity, BTreeMap<String, f64>)> {
        self.entries
            .lock()
            .iter()
            .filter(|(entity, _)| {
                let matches = components.iter().all(|(entity_type, m)| {
                    entity.iter().any(|(t, name)| {
                        t == entity_type
                            && match m {
                                Match::Exact(wanted) => name.as_deref() == Some(wanted.as_str()),
                                Match::Default => name.is_none(),
                                Match::Any => true,
                            }
                    })
                });
                matches && (!strict || entity.len() == components.len())
            })
            .map(|(entity, values)| (entity.clone(), values.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: Option<&str>) -> Entity {
        vec![("user".into(), name.map(String::from))]
    }

    #[test]
    fn quotas_are_stored_matched_and_removed() {
        let quotas = ClientQuotas::default();
        quotas.alter(
            user(Some("alice")),
            vec![("producer_byte_rate".into(), Some(1024.0))],
        );
        quotas.alter(
            user(None),
            vec![("consumer_byte_rate".into(), Some(2048.0))],
        );
        let exact = quotas.describe(&[("user".into(), Match::Exact("alice".into()))], false);
        assert_eq!(exact.len(), 1);
        assert_eq!(exact[0].1["producer_byte_rate"], 1024.0);
        assert_eq!(
            quotas
                .describe(&[("user".into(), Match::Default)], false)
                .len(),
            1
        );
        assert_eq!(
            quotas.describe(&[("user".into(), Match::Any)], false).len(),
            2
        );
        assert_eq!(
            quotas
                .describe(&[("client-id".into(), Match::Any)], false)
                .len(),
            0
        );
        quotas.alter(
            user(Some("alice")),
            vec![("producer_byte_rate".into(), None)],
        );
        assert_eq!(
            quotas.describe(&[("user".into(), Match::Any)], false).len(),
            1
        );
    }

    #[test]
    fn unknown_keys_and_types_are_refused() {
        assert!(ClientQuotas::validate(&user(Some("a")), &[("bogus".into(), Some(1.0))]).is_err());
        assert!(ClientQuotas::validate(&vec![("group".into(), None)], &[]).is_err());
        assert!(ClientQuotas::validate(
            &user(None),
            &[("connection_creation_rate".into(), Some(1.0))]
        )
        .is_err());
        assert!(
            ClientQuotas::validate(&user(None), &[("request_percentage".into(), Some(50.0))])
                .is_ok()
        );
    }
}
