//! Delegation tokens (KIP-48), as Kafka's controller keeps them: a token id, its HMAC-SHA512
//! under `delegation.token.secret.key` (the token's password), an owner, renewers, and three
//! times: issued, expires (renewable up to) the max. A client authenticates with one over SCRAM
//! (`tokenauth=true`, username = token id, password = the HMAC in base64) as the token's owner.
//! Without a secret key (Kafka's default) tokens are disabled.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;
use sha2::Sha512;

use super::sasl::{Mechanism, ScramCredential, DEFAULT_ITERATIONS};

/// `delegation.token.max.lifetime.ms` default: 7 days.
pub const DEFAULT_MAX_LIFETIME_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// `delegation.token.expiry.time.ms` default: 24 hours.
pub const DEFAULT_EXPIRY_TIME_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// `delegation.token.secret.key`: signs every token.
    pub secret_key: String,
    /// `delegation.token.max.lifetime.ms`: no renewal goes past issue time + this.
    pub max_lifetime_ms: i64,
    /// `delegation.token.expiry.time.ms`: how long a token lives from creation or renewal, when
    /// the request does not say.
    pub expiry_time_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub token_id: String,
    pub hmac: Vec<u8>,
    /// Principals, `User:alice`.
    pub owner: String,
    pub requester: String,
    pub renewers: Vec<String>,
    pub issue_timestamp_ms: i64,
    pub expiry_timestamp_ms: i64,
    pub max_timestamp_ms: i64,
}

impl Token {
    /// Kafka's `ownerOrRenewer`: the owner, the requester or a renewer may renew, expire and
    /// describe a token.
    pub fn owner_or_renewer(&self, principal: &str) -> bool {
        self.owner == principal
            || self.requester == principal
            || self.renewers.iter().any(|r| r == principal)
    }
}

#[derive(Debug, Default)]
pub struct DelegationTokens {
    settings: Option<TokenSettings>,
    /// By token id.
    tokens: Mutex<BTreeMap<String, Token>>,
}

/// HMAC-SHA512 of the token id under the secret key, as Kafka signs tokens.
fn sign(secret_key: &str, token_id: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret_key.as_bytes()).expect("any key length");
    mac.update(token_id.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A token id as Kafka makes them: a random UUID in URL-safe base64, 22 characters.
fn new_token_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

impl DelegationTokens {
    pub fn new(settings: Option<TokenSettings>) -> Self {
        DelegationTokens {
            settings,
            tokens: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.settings.is_some()
    }

    fn settings(&self) -> Result<&TokenSettings, ResponseError> {
        self.settings
            .as_ref()
            .ok_or(ResponseError::DelegationTokenAuthDisabled)
    }

    /// A new token for `owner`. `max_lifetime_ms` <= 0 takes the broker's; a larger one is
    /// capped to it.
    pub fn create(
        &self,
        owner: &str,
        requester: &str,
        renewers: Vec<String>,
        max_lifetime_ms: i64,
        now_ms: i64,
    ) -> Result<Token, ResponseError> {
        let settings = self.settings()?;
        let lifetime = if max_lifetime_ms <= 0 {
            settings.max_lifetime_ms
        } else {
            max_lifetime_ms.min(settings.max_lifetime_ms)
        };
        let max_timestamp_ms = now_ms.saturating_add(lifetime);
        let token_id = new_token_id();
        let token = Token {
            hmac: sign(&settings.secret_key, &token_id),
            token_id: token_id.clone(),
            owner: owner.to_string(),
            requester: requester.to_string(),
            renewers,
            issue_timestamp_ms: now_ms,
            expiry_timestamp_ms: max_timestamp_ms
                .min(now_ms.saturating_add(settings.expiry_time_ms)),
            max_timestamp_ms,
        };
        self.tokens.lock().insert(token_id, token.clone());
        Ok(token)
    }

    /// Checks that `principal` may renew or expire the token with this HMAC, then applies
    /// `change` to it.
    fn update(
        &self,
        hmac: &[u8],
        principal: &str,
        now_ms: i64,
        change: impl FnOnce(&mut Token, &TokenSettings) -> Option<i64>,
    ) -> Result<i64, ResponseError> {
        let settings = self.settings()?;
        let mut tokens = self.tokens.lock();
        let token = tokens
            .values_mut()
            .find(|t| t.hmac == hmac)
            .ok_or(ResponseError::DelegationTokenNotFound)?;
        if !token.owner_or_renewer(principal) {
            return Err(ResponseError::DelegationTokenOwnerMismatch);
        }
        if token.max_timestamp_ms < now_ms || token.expiry_timestamp_ms < now_ms {
            return Err(ResponseError::DelegationTokenExpired);
        }
        let token_id = token.token_id.clone();
        match change(token, settings) {
            Some(expiry) => Ok(expiry),
            None => {
                tokens.remove(&token_id);
                Ok(now_ms)
            }
        }
    }

    /// RenewDelegationToken: expires `renew_period_ms` from now (the broker's expiry time if
    /// negative), never past the max. Returns the new expiry.
    pub fn renew(
        &self,
        hmac: &[u8],
        principal: &str,
        renew_period_ms: i64,
        now_ms: i64,
    ) -> Result<i64, ResponseError> {
        self.update(hmac, principal, now_ms, |token, settings| {
            let period = if renew_period_ms < 0 {
                settings.expiry_time_ms
            } else {
                renew_period_ms
            };
            token.expiry_timestamp_ms = token.max_timestamp_ms.min(now_ms.saturating_add(period));
            Some(token.expiry_timestamp_ms)
        })
    }

    /// ExpireDelegationToken: a negative period expires the token now (it is gone); otherwise
    /// it expires that long from now, never past the max.
    pub fn expire(
        &self,
        hmac: &[u8],
        principal: &str,
        expiry_period_ms: i64,
        now_ms: i64,
    ) -> Result<i64, ResponseError> {
        self.update(hmac, principal, now_ms, |token, _| {
            if expiry_period_ms < 0 {
                return None;
            }
            token.expiry_timestamp_ms = token
                .max_timestamp_ms
                .min(now_ms.saturating_add(expiry_period_ms));
            Some(token.expiry_timestamp_ms)
        })
    }

    /// The live tokens one of `owners` owns, requested or renews (all, for `None`) that
    /// `may_describe` lets the caller see.
    pub fn describe(
        &self,
        owners: Option<&[String]>,
        now_ms: i64,
        may_describe: impl Fn(&Token) -> bool,
    ) -> Result<Vec<Token>, ResponseError> {
        self.settings()?;
        let mut tokens = self.tokens.lock();
        // Kafka's expiry check removes tokens past their expiry.
        tokens.retain(|_, t| t.expiry_timestamp_ms >= now_ms);
        Ok(tokens
            .values()
            .filter(|t| owners.is_none_or(|owners| owners.iter().any(|o| t.owner_or_renewer(o))))
            .filter(|t| may_describe(t))
            .cloned()
            .collect())
    }

    /// The SCRAM credential a client logs in with as token `token_id` (its password is the
    /// token's HMAC in base64), the token's owner and when it expires; `None` for an unknown or
    /// expired token.
    pub fn scram_credential(
        &self,
        token_id: &str,
        mechanism: Mechanism,
        now_ms: i64,
    ) -> Option<(ScramCredential, String, i64)> {
        let tokens = self.tokens.lock();
        let token = tokens
            .get(token_id)
            .filter(|t| t.expiry_timestamp_ms >= now_ms)?;
        let password = BASE64.encode(&token.hmac);
        Some((
            ScramCredential::from_password(mechanism, &password, DEFAULT_ITERATIONS),
            token.owner.clone(),
            token.expiry_timestamp_ms,
        ))
    }

    pub fn clear(&self) {
        self.tokens.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> DelegationTokens {
        DelegationTokens::new(Some(TokenSettings {
            secret_key: "secret".into(),
            max_lifetime_ms: 10_000,
            expiry_time_ms: 1_000,
        }))
    }

    #[test]
    fn disabled_without_a_secret_key() {
        let disabled = DelegationTokens::new(None);
        assert_eq!(
            disabled.create("User:a", "User:a", vec![], -1, 0),
            Err(ResponseError::DelegationTokenAuthDisabled)
        );
        assert_eq!(
            disabled.describe(None, 0, |_| true),
            Err(ResponseError::DelegationTokenAuthDisabled)
        );
    }

    #[test]
    fn a_token_is_signed_by_the_secret_key_and_expires_within_its_max_lifetime() {
        let tokens = tokens();
        let token = tokens
            .create(
                "User:alice",
                "User:alice",
                vec!["User:bob".into()],
                50_000,
                100,
            )
            .unwrap();
        assert_eq!(token.token_id.len(), 22);
        assert_eq!(token.hmac, sign("secret", &token.token_id));
        assert_eq!(token.hmac.len(), 64);
        assert_eq!(
            token.max_timestamp_ms, 10_100,
            "capped to the broker's max lifetime"
        );
        assert_eq!(token.expiry_timestamp_ms, 1_100);
        // Renewers may renew; up to the max, not past it.
        assert_eq!(tokens.renew(&token.hmac, "User:bob", 5_000, 200), Ok(5_200));
        assert_eq!(
            tokens.renew(&token.hmac, "User:bob", 50_000, 300),
            Ok(10_100)
        );
        assert_eq!(tokens.renew(&token.hmac, "User:bob", -1, 300), Ok(1_300));
        assert_eq!(
            tokens.renew(&token.hmac, "User:mallory", 1, 300),
            Err(ResponseError::DelegationTokenOwnerMismatch)
        );
        assert_eq!(
            tokens.renew(b"nope", "User:alice", 1, 300),
            Err(ResponseError::DelegationTokenNotFound)
        );
        assert_eq!(
            tokens.renew(&token.hmac, "User:alice", 1, 2_000),
            Err(ResponseError::DelegationTokenExpired)
        );
    }

    #[test]
    fn expiring_now_removes_the_token() {
        let tokens = tokens();
        let token = tokens
            .create("User:alice", "User:alice", vec![], -1, 0)
            .unwrap();
        assert_eq!(tokens.expire(&token.hmac, "User:alice", 500, 10), Ok(510));
        assert!(tokens
            .scram_credential(&token.token_id, Mechanism::ScramSha256, 10)
            .is_some());
        assert_eq!(tokens.expire(&token.hmac, "User:alice", -1, 20), Ok(20));
        assert_eq!(tokens.describe(None, 20, |_| true), Ok(vec![]));
        assert!(tokens
            .scram_credential(&token.token_id, Mechanism::ScramSha256, 20)
            .is_none());
    }

    #[test]
    fn describe_filters_by_owner() {
        let tokens = tokens();
        tokens
            .create("User:alice", "User:alice", vec![], -1, 0)
            .unwrap();
        tokens
            .create("User:bob", "User:alice", vec![], -1, 0)
            .unwrap();
        tokens
            .create("User:carol", "User:carol", vec!["User:dave".into()], -1, 0)
            .unwrap();
        let owners = |list: &[&str]| -> Vec<String> {
            let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
            let mut found: Vec<String> = tokens
                .describe(Some(&list), 0, |_| true)
                .unwrap()
                .into_iter()
                .map(|t| t.owner)
                .collect();
            found.sort();
            found
        };
        assert_eq!(owners(&["User:bob"]), vec!["User:bob"]);
        // The requester of another owner's token finds it too.
        assert_eq!(owners(&["User:alice"]), vec!["User:alice", "User:bob"]);
        // And its renewers.
        assert_eq!(owners(&["User:dave"]), vec!["User:carol"]);
        assert_eq!(
            tokens
                .describe(None, 0, |t| t.owner == "User:carol")
                .unwrap()
                .len(),
            1
        );
    }
}
