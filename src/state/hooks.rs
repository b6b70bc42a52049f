//! Faults a test asks for on purpose. For now one: drop the response to the next request(s) of
//! an API, closing the connection after the broker has handled the request (a produce is in the
//! log) but before the client hears back, as a lost response or a broker crash would.

use kafka_protocol::messages::ApiKey;
use parking_lot::Mutex;

#[derive(Debug, Default)]
pub struct ResponseHooks {
    /// Per API, how many responses are still to be dropped.
    drops: Mutex<Vec<(ApiKey, u32)>>,
}

impl ResponseHooks {
    /// Drops the responses to the next `count` requests of `api` (adding to any still pending).
    pub fn drop_next(&self, api: ApiKey, count: u32) {
        let mut drops = self.drops.lock();
        match drops.iter_mut().find(|(key, _)| *key == api) {
            Some((_, left)) => *left = left.saturating_add(count),
            None => drops.push((api, count)),
        }
    }

    /// Whether the response to this request is to be dropped; counts it if so.
    pub fn take_drop(&self, api: ApiKey) -> bool {
        let mut drops = self.drops.lock();
        if drops.is_empty() {
            return false;
        }
        let Some(index) = drops
            .iter()
            .position(|(key, left)| *key == api && *left > 0)
        else {
            return false;
        };
        drops[index].1 -= 1;
        if drops[index].1 == 0 {
            drops.swap_remove(index);
        }
        true
    }
}

/// An API key by its Kafka name (`Produce`, `FindCoordinator`; case and `_` ignored) or number.
pub fn api_key_by_name(name: &str) -> Option<ApiKey> {
    if let Ok(number) = name.parse::<i16>() {
        return ApiKey::try_from(number).ok();
    }
    let wanted: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    ApiKey::iter().find(|key| format!("{key:?}").to_ascii_lowercase() == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_counted_per_api() {
        let hooks = ResponseHooks::default();
        assert!(!hooks.take_drop(ApiKey::Produce));
        hooks.drop_next(ApiKey::Produce, 2);
        assert!(!hooks.take_drop(ApiKey::Fetch));
        assert!(hooks.take_drop(ApiKey::Produce));
        assert!(hooks.take_drop(ApiKey::Produce));
        assert!(!hooks.take_drop(ApiKey::Produce));
    }

    #[test]
    fn apis_are_named_as_kafka_names_them() {
        assert_eq!(api_key_by_name("Produce"), Some(ApiKey::Produce));
        assert_eq!(api_key_by_name("END_TXN"), Some(ApiKey::EndTxn));
        assert_eq!(
            api_key_by_name("initProducerId"),
            Some(ApiKey::InitProducerId)
        );
        assert_eq!(api_key_by_name("1"), Some(ApiKey::Fetch));
        assert_eq!(api_key_by_name("Nope"), None);
    }
}
