//! SASL authentication: the PLAIN and SCRAM-SHA-256/512 mechanisms (RFC 4616, RFC 5802/7677)
//! against the users the broker was started with or delegation tokens (KIP-48), OAUTHBEARER (RFC 7628) with unsecured JWTs as
//! Kafka's default validator accepts them, and SCRAM credentials as Kafka stores them
//! (salt, stored key, server key, iterations) for DescribeUserScramCredentials and
//! AlterUserScramCredentials.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use kafka_protocol::messages::ApiKey;
use parking_lot::RwLock;
use sha2::{Digest, Sha256, Sha512};

use super::delegation_tokens::DelegationTokens;

/// Iterations Kafka uses when it creates SCRAM credentials itself (and its minimum).
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// The most iterations Kafka accepts for a SCRAM credential.
pub const MAX_ITERATIONS: u32 = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    OAuthBearer,
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(Mechanism::ScramSha512),
            "OAUTHBEARER" => Some(Mechanism::OAuthBearer),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The ScramMechanism code of the SCRAM credential APIs (1 = SHA-256, 2 = SHA-512).
    pub fn scram_code(self) -> i8 {
        match self {
            Mechanism::Plain | Mechanism::OAuthBearer => 0,
            Mechanism::ScramSha256 => 1,
            Mechanism::ScramSha512 => 2,
        }
    }

    pub fn from_scram_code(code: i8) -> Option<Self> {
        match code {
            1 => Some(Mechanism::ScramSha256),
            2 => Some(Mechanism::ScramSha512),
            _ => None,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::ScramSha512 => {
                let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            _ => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::ScramSha512 => Sha512::digest(data).to_vec(),
            _ => Sha256::digest(data).to_vec(),
        }
    }

    /// SCRAM's Hi(): PBKDF2 with HMAC of the mechanism's hash.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Mechanism::ScramSha512 => {
                let mut out = vec![0u8; 64];
                pbkdf2::pbkdf2::<Hmac<Sha512>>(password, salt, iterations, &mut out)
                    .expect("valid length");
                out
            }
            _ => {
                let mut out = vec![0u8; 32];
                pbkdf2::pbkdf2::<Hmac<Sha256>>(password, salt, iterations, &mut out)
                    .expect("valid length");
                out
            }
        }
    }
}

/// A SCRAM credential as Kafka stores it: never the password itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl ScramCredential {
    /// From a salted password (what AlterUserScramCredentials carries).
    pub fn from_salted_password(
        mechanism: Mechanism,
        salt: Vec<u8>,
        salted_password: &[u8],
        iterations: u32,
    ) -> Self {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            salt,
            iterations,
        }
    }

    pub fn from_password(mechanism: Mechanism, password: &str, iterations: u32) -> Self {
        let salt = random_bytes(16);
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        Self::from_salted_password(mechanism, salt, &salted, iterations)
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes).expect("the OS has randomness");
    bytes
}

/// A user of `startKafka({ sasl: { users } })`: a password for PLAIN and every SCRAM mechanism,
/// and SCRAM passwords (with their iterations) of their own per mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub username: String,
    pub password: Option<String>,
    pub scram: Vec<(Mechanism, String, u32)>,
}

#[derive(Debug, Default, Clone)]
struct User {
    /// For PLAIN: the configured password.
    password: Option<String>,
    scram: HashMap<Mechanism, ScramCredential>,
}

/// The users the broker knows, which mechanisms it enables, and the delegation tokens clients
/// may log in with (over SCRAM, as Kafka's token credential cache serves them).
#[derive(Debug, Default)]
pub struct Credentials {
    pub mechanisms: Vec<Mechanism>,
    users: RwLock<HashMap<String, User>>,
    pub delegation_tokens: DelegationTokens,
}

impl Credentials {
    pub fn new(mechanisms: Vec<Mechanism>) -> Self {
        Credentials {
            mechanisms,
            ..Default::default()
        }
    }

    pub fn with_delegation_tokens(self, delegation_tokens: DelegationTokens) -> Self {
        Credentials {
            delegation_tokens,
            ..self
        }
    }

    /// Adds a user with a password, usable with PLAIN and (as derived credentials) with both SCRAM
    /// mechanisms.
    pub fn add_user(&self, username: &str, password: &str) {
        self.add(&UserSpec {
            username: username.to_string(),
            password: Some(password.to_string()),
            scram: Vec::new(),
        });
    }

    /// Adds a user as the broker was started with it: a SCRAM credential for each mechanism the
    /// user names, and from the password (if any) PLAIN and a credential for each other enabled
    /// SCRAM mechanism. Without a password, PLAIN does not know the user.
    pub fn add(&self, spec: &UserSpec) {
        let mut user = User {
            password: spec.password.clone(),
            scram: HashMap::new(),
        };
        for (mechanism, password, iterations) in &spec.scram {
            user.scram.insert(
                *mechanism,
                ScramCredential::from_password(*mechanism, password, *iterations),
            );
        }
        if let Some(password) = &spec.password {
            for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
                if self.mechanisms.contains(&mechanism) && !user.scram.contains_key(&mechanism) {
                    user.scram.insert(
                        mechanism,
                        ScramCredential::from_password(mechanism, password, DEFAULT_ITERATIONS),
                    );
                }
            }
        }
        self.users.write().insert(spec.username.clone(), user);
    }

    pub fn set_scram(&self, username: &str, mechanism: Mechanism, credential: ScramCredential) {
        self.users
            .write()
            .entry(username.to_string())
            .or_default()
            .scram
            .insert(mechanism, credential);
    }

    /// Removes a SCRAM credential; false if there was none.
    pub fn remove_scram(&self, username: &str, mechanism: Mechanism) -> bool {
        self.users
            .write()
            .get_mut(username)
            .is_some_and(|u| u.scram.remove(&mechanism).is_some())
    }

    /// (mechanism, iterations) of each SCRAM credential of a user.
    pub fn scram_info(&self, username: &str) -> Vec<(Mechanism, u32)> {
        let mut info: Vec<_> = self
            .users
            .read()
            .get(username)
            .map(|u| u.scram.iter().map(|(m, c)| (*m, c.iterations)).collect())
            .unwrap_or_default();
        info.sort_by_key(|(m, _)| m.scram_code());
        info
    }

    /// Users with at least one SCRAM credential.
    pub fn scram_users(&self) -> Vec<String> {
        let mut users: Vec<_> = self
            .users
            .read()
            .iter()
            .filter(|(_, u)| !u.scram.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        users.sort();
        users
    }

    fn check_plain(&self, username: &str, password: &str) -> bool {
        self.users
            .read()
            .get(username)
            .and_then(|u| u.password.as_deref())
            .is_some_and(|p| constant_time_eq(p.as_bytes(), password.as_bytes()))
    }

    fn scram(&self, username: &str, mechanism: Mechanism) -> Option<ScramCredential> {
        self.users
            .read()
            .get(username)?
            .scram
            .get(&mechanism)
            .cloned()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The result of one SaslAuthenticate round.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge and wait for the client's next message.
    Challenge(Vec<u8>),
    /// Authenticated as this user (a token's owner, if `token_authenticated`); send the final
    /// server message.
    Done {
        user: String,
        response: Vec<u8>,
        token_authenticated: bool,
    },
    Failed(String),
}

/// OAUTHBEARER's answer to a token it refuses (RFC 7628 section 3.2.2); the client then sends a
/// lone 0x01 and the exchange fails with this as its message.
const INVALID_TOKEN: &str = r#"{"status":"invalid_token"}"#;

/// One connection's SASL exchange.
#[derive(Debug)]
pub struct Authenticator {
    mechanism: Mechanism,
    scram: Option<ScramExchange>,
    /// OAUTHBEARER: a token was refused and the client's acknowledgement is awaited.
    token_refused: bool,
    /// OAUTHBEARER: why the token was refused, until the broker has logged it.
    refusal: Option<String>,
    /// OAUTHBEARER: when the accepted token expires (ms since the epoch).
    credential_expires_at_ms: Option<i64>,
}

#[derive(Debug)]
struct ScramExchange {
    user: String,
    /// Logging in with a delegation token (`tokenauth=true`): `user` is then the token's owner.
    token_authenticated: bool,
    credential: ScramCredential,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl Authenticator {
    pub fn new(mechanism: Mechanism) -> Self {
        Authenticator {
            mechanism,
            scram: None,
            token_refused: false,
            refusal: None,
            credential_expires_at_ms: None,
        }
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// When the authenticated credential stops being valid (an OAUTHBEARER token's `exp`).
    pub fn credential_expires_at_ms(&self) -> Option<i64> {
        self.credential_expires_at_ms
    }

    pub fn step(&mut self, credentials: &Credentials, message: &[u8]) -> Step {
        self.step_at(credentials, message, crate::state::now_ms())
    }

    /// `step` at `now_ms` (OAUTHBEARER checks the token's times against it).
    pub fn step_at(&mut self, credentials: &Credentials, message: &[u8], now_ms: i64) -> Step {
        let failed = |mechanism: Mechanism| {
            Step::Failed(format!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
                mechanism.name()
            ))
        };
        match self.mechanism {
            Mechanism::Plain => {
                // authzid NUL authcid NUL passwd
                let parts: Vec<&[u8]> = message.split(|b| *b == 0).collect();
                let [authzid, user, password] = parts[..] else {
                    return Step::Failed("Invalid SASL/PLAIN request: expected 3 tokens".into());
                };
                let (Ok(authzid), Ok(user), Ok(password)) = (
                    std::str::from_utf8(authzid),
                    std::str::from_utf8(user),
                    std::str::from_utf8(password),
                ) else {
                    return Step::Failed("Invalid SASL/PLAIN request: not UTF-8".into());
                };
                if !authzid.is_empty() && authzid != user {
                    return Step::Failed("Authentication failed: Client requested an authorization id that is different from username".into());
                }
                if credentials.check_plain(user, password) {
                    Step::Done {
                        user: user.to_string(),
                        response: Vec::new(),
                        token_authenticated: false,
                    }
                } else {
                    // Kafka's PLAIN server names the cause itself.
                    Step::Failed("Authentication failed: Invalid username or password".into())
                }
            }
            Mechanism::OAuthBearer => {
                if std::mem::take(&mut self.token_refused) {
                    return Step::Failed(INVALID_TOKEN.into());
                }
                let Some((authzid, token)) = oauth_initial_response(message) else {
                    return failed(Mechanism::OAuthBearer);
                };
                match validate_unsecured_jwt(token, now_ms) {
                    Err(reason) => {
                        // Kafka logs why (see `take_token_refusal`) and tells the client only
                        // the status.
                        self.refusal = Some(reason);
                        self.token_refused = true;
                        Step::Challenge(INVALID_TOKEN.as_bytes().to_vec())
                    }
                    Ok((user, _)) if authzid.as_deref().is_some_and(|a| a != user) => {
                        Step::Failed(format!(
                            "Authentication failed: Client requested an authorization id ({}) that is different from the token's principal name ({user})",
                            authzid.unwrap_or_default()
                        ))
                    }
                    Ok((user, expires_at_ms)) => {
                        self.credential_expires_at_ms = Some(expires_at_ms);
                        Step::Done {
                            user,
                            response: Vec::new(),
                            token_authenticated: false,
                        }
                    }
                }
            }
            mechanism => match self.scram.take() {
                None => self
                    .scram_first(credentials, message)
                    .unwrap_or_else(|| failed(mechanism)),
                Some(exchange) => {
                    scram_final(mechanism, exchange, message).unwrap_or_else(|| failed(mechanism))
                }
            },
        }
    }

    fn scram_first(&mut self, credentials: &Credentials, message: &[u8]) -> Option<Step> {
        let message = std::str::from_utf8(message).ok()?;
        // gs2-header: no channel binding ("n,,"), optionally with an authzid ("n,a=user,").
        let rest = message.strip_prefix("n,")?;
        let (_authzid, bare) = rest.split_once(',')?;
        let mut user = None;
        let mut client_nonce = None;
        let mut token_auth = false;
        for attribute in bare.split(',') {
            if let Some(v) = attribute.strip_prefix("n=") {
                user = Some(v.replace("=2C", ",").replace("=3D", "="));
            } else if let Some(v) = attribute.strip_prefix("r=") {
                client_nonce = Some(v.to_string());
            } else if let Some(v) = attribute.strip_prefix("tokenauth=") {
                // A SCRAM extension (KIP-84): the username is a delegation token's id.
                token_auth = v.eq_ignore_ascii_case("true");
            }
        }
        let (user, client_nonce) = (user?, client_nonce?);
        let (credential, user) = if token_auth {
            let (credential, owner, expires_at_ms) = credentials
                .delegation_tokens
                .scram_credential(&user, self.mechanism, crate::state::now_ms())?;
            // The connection's principal is the token's owner; its session ends with the
            // token (KIP-368), as an OAUTHBEARER one does.
            self.credential_expires_at_ms = Some(expires_at_ms);
            let owner = owner.strip_prefix("User:").unwrap_or(&owner).to_string();
            (credential, owner)
        } else {
            (credentials.scram(&user, self.mechanism)?, user)
        };
        let nonce = format!("{client_nonce}{}", BASE64.encode(random_bytes(18)));
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        self.scram = Some(ScramExchange {
            user,
            token_authenticated: token_auth,
            credential,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
        });
        Some(Step::Challenge(server_first.into_bytes()))
    }
}

/// The authzid (if any) and the token of an OAUTHBEARER client initial response:
/// `n,[a=authzid],` 0x01 `auth=Bearer <token>` (0x01 `key=value`)* 0x01 0x01.
fn oauth_initial_response(message: &[u8]) -> Option<(Option<String>, &str)> {
    let message = std::str::from_utf8(message).ok()?;
    let rest = message.strip_prefix("n,")?;
    let (authzid, rest) = rest.split_once(',')?;
    let authzid = match authzid {
        "" => None,
        a => Some(a.strip_prefix("a=")?.to_string()),
    };
    let pairs = rest.strip_prefix('\u{1}')?.strip_suffix("\u{1}\u{1}")?;
    let auth = pairs
        .split('\u{1}')
        .find_map(|pair| pair.strip_prefix("auth="))?;
    let (scheme, token) = auth.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some((authzid, token.trim_start_matches(' ')))
}

/// Checks an unsecured JWS (`alg: none`, no signature) as Kafka's unsecured validator does:
/// a `sub` principal, an `exp` in the future, an `iat` not in the future. Returns the principal
/// and the expiry in ms.
fn validate_unsecured_jwt(token: &str, now_ms: i64) -> Result<(String, i64), String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err("Unsecured JWS compact serializations must have 3 dot-separated Base64URL-encoded values".into());
    };
    if !signature.is_empty() {
        return Err("Unsecured JWS compact serializations must have an empty signature".into());
    }
    let decode = |part: &str| -> Result<serde_json::Map<String, serde_json::Value>, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|e| format!("invalid Base64URL: {e}"))?;
        match serde_json::from_slice(&bytes) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            _ => Err("a JWS part is not a JSON object".into()),
        }
    };
    let header = decode(header)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("none") {
        return Err("an unsecured JWS must have alg=none".into());
    }
    let claims = decode(payload)?;
    let seconds = |name: &str| -> Result<Option<i64>, String> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(|s| Some((s * 1000.0) as i64))
                .ok_or_else(|| format!("the {name} claim is not a number")),
        }
    };
    let user = match claims.get("sub") {
        Some(serde_json::Value::String(sub)) if !sub.trim().is_empty() => sub.clone(),
        _ => return Err("the required principal claim sub is missing or not a string".into()),
    };
    let expires_at_ms = seconds("exp")?.ok_or("the required exp claim is missing")?;
    if now_ms >= expires_at_ms {
        return Err(format!(
            "the indicated time ({now_ms} ms) was on or after the Expiration Time value ({expires_at_ms} ms)"
        ));
    }
    if let Some(issued_at_ms) = seconds("iat")? {
        if issued_at_ms > now_ms {
            return Err(format!(
                "the Issued At value ({issued_at_ms} ms) was after the indicated time ({now_ms} ms)"
            ));
        }
    }
    Ok((user, expires_at_ms))
}

fn scram_final(mechanism: Mechanism, exchange: ScramExchange, message: &[u8]) -> Option<Step> {
    let message = std::str::from_utf8(message).ok()?;
    let (without_proof, proof) = message.rsplit_once(",p=")?;
    let nonce = without_proof
        .split(',')
        .find_map(|a| a.strip_prefix("r="))?;
    if nonce != exchange.nonce {
        return None;
    }
    let proof = BASE64.decode(proof).ok()?;
    let auth_message = format!(
        "{},{},{}",
        exchange.client_first_bare, exchange.server_first, without_proof
    );
    let client_signature = mechanism.hmac(&exchange.credential.stored_key, auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return None;
    }
    let client_key: Vec<u8> = proof
        .iter()
        .zip(&client_signature)
        .map(|(p, s)| p ^ s)
        .collect();
    if !constant_time_eq(
        &mechanism.hash(&client_key),
        &exchange.credential.stored_key,
    ) {
        return None;
    }
    let server_signature = mechanism.hmac(&exchange.credential.server_key, auth_message.as_bytes());
    Some(Step::Done {
        user: exchange.user,
        response: format!("v={}", BASE64.encode(server_signature)).into_bytes(),
        token_authenticated: exchange.token_authenticated,
    })
}

/// Where one connection of a SASL listener stands (KIP-43, KIP-152, KIP-368): Kafka serves
/// nothing but ApiVersions and SaslHandshake until the client has authenticated.
#[derive(Debug)]
pub struct Session {
    phase: Phase,
    /// `connections.max.reauth.ms`: sessions expire after it unless re-authenticated.
    max_reauth_ms: Option<i64>,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for SaslHandshake.
    Handshake,
    /// A mechanism was chosen; SASL tokens follow, in SaslAuthenticate requests or (after a
    /// v0 handshake) as raw frames.
    Authenticate {
        authenticator: Box<Authenticator>,
        raw: bool,
        reauth: Option<Reauth>,
    },
    Authenticated {
        user: String,
        mechanism: Mechanism,
        expires_at_ms: Option<i64>,
        /// With a delegation token: such a connection may not ask for tokens.
        token_authenticated: bool,
    },
}

/// The session a re-authentication replaces.
#[derive(Debug)]
struct Reauth {
    user: String,
    mechanism: Mechanism,
}

/// What to do with a request, given where its connection's authentication stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Handle it as usual.
    Serve,
    /// It belongs to the SASL exchange: SaslHandshake or SaslAuthenticate.
    Exchange,
    /// Close the connection without answering, for this reason.
    Close(String),
    /// Answer it with ILLEGAL_SASL_STATE (and this reason as the message) where an error
    /// response can be built for it, then close the connection.
    Refuse(String),
}

/// Answer to SaslHandshake.
#[derive(Debug, PartialEq, Eq)]
pub enum Handshake {
    Accepted,
    /// UNSUPPORTED_SASL_MECHANISM, then the connection closes.
    UnsupportedMechanism,
}

/// Outcome of one SaslAuthenticate round.
#[derive(Debug, PartialEq, Eq)]
pub enum Authenticate {
    /// Send these bytes; the exchange goes on.
    Challenge(Vec<u8>),
    /// Authenticated: send these bytes, and the session lasts `session_lifetime_ms` (0: for ever).
    Done {
        response: Vec<u8>,
        session_lifetime_ms: i64,
    },
    /// SASL_AUTHENTICATION_FAILED with this message, then the connection closes.
    Failed(String),
}

impl Session {
    pub fn new(max_reauth_ms: Option<i64>) -> Self {
        Session {
            phase: Phase::Handshake,
            max_reauth_ms: max_reauth_ms.filter(|ms| *ms > 0),
        }
    }

    /// The authenticated user, once there is one (kept while re-authenticating).
    pub fn user(&self) -> Option<&str> {
        match &self.phase {
            Phase::Authenticated { user, .. } => Some(user),
            Phase::Authenticate {
                reauth: Some(reauth),
                ..
            } => Some(&reauth.user),
            _ => None,
        }
    }

    /// Whether the client logged in with a delegation token.
    pub fn token_authenticated(&self) -> bool {
        matches!(
            self.phase,
            Phase::Authenticated {
                token_authenticated: true,
                ..
            }
        )
    }

    /// Whether the next frame is a raw SASL token rather than a Kafka request (after a v0
    /// handshake).
    pub fn expects_raw_token(&self) -> bool {
        matches!(self.phase, Phase::Authenticate { raw: true, .. })
    }

    /// Decides how a request of `api` is served at `now_ms`.
    pub fn admit(&self, api: ApiKey, now_ms: i64) -> Admit {
        match &self.phase {
            Phase::Handshake => match api {
                ApiKey::ApiVersions | ApiKey::SaslHandshake => {
                    if api == ApiKey::SaslHandshake {
                        Admit::Exchange
                    } else {
                        Admit::Serve
                    }
                }
                _ => Admit::Close(format!(
                    "Unexpected Kafka request of type {} during SASL handshake.",
                    api_name(api)
                )),
            },
            Phase::Authenticate { .. } => match api {
                ApiKey::SaslAuthenticate => Admit::Exchange,
                // Unlike during the handshake, Kafka has parsed the request by now and answers it.
                _ => Admit::Refuse(format!(
                    "Unexpected Kafka request of type {} during SASL authentication.",
                    api_name(api)
                )),
            },
            Phase::Authenticated { expires_at_ms, .. } => {
                // A handshake on an authenticated connection starts a re-authentication when
                // the session expires; otherwise it is an ordinary (refused) request.
                if api == ApiKey::SaslHandshake && expires_at_ms.is_some() {
                    Admit::Exchange
                } else if expires_at_ms.is_some_and(|at| now_ms >= at) {
                    Admit::Close("its SASL session expired and was not re-authenticated".into())
                } else {
                    Admit::Serve
                }
            }
        }
    }

    /// SaslHandshake: picks `mechanism` if it is enabled. `version` 0 means the tokens that
    /// follow come as raw frames.
    pub fn handshake(
        &mut self,
        credentials: &Credentials,
        mechanism: &str,
        version: i16,
    ) -> Handshake {
        let Some(chosen) =
            Mechanism::from_name(mechanism).filter(|m| credentials.mechanisms.contains(m))
        else {
            return Handshake::UnsupportedMechanism;
        };
        let reauth = match std::mem::replace(&mut self.phase, Phase::Handshake) {
            Phase::Authenticated {
                user, mechanism, ..
            } => Some(Reauth { user, mechanism }),
            _ => None,
        };
        self.phase = Phase::Authenticate {
            authenticator: Box::new(Authenticator::new(chosen)),
            raw: version == 0,
            reauth,
        };
        Handshake::Accepted
    }

    /// Why the last token was refused (OAUTHBEARER), once: for the broker's log.
    pub fn take_token_refusal(&mut self) -> Option<String> {
        match &mut self.phase {
            Phase::Authenticate { authenticator, .. } => authenticator.refusal.take(),
            _ => None,
        }
    }

    /// One SASL token from the client.
    pub fn authenticate(
        &mut self,
        credentials: &Credentials,
        token: &[u8],
        now_ms: i64,
    ) -> Authenticate {
        let Phase::Authenticate {
            authenticator,
            reauth,
            ..
        } = &mut self.phase
        else {
            return Authenticate::Failed("SASL authentication has not started".into());
        };
        if let Some(previous) = reauth.as_ref() {
            if previous.mechanism != authenticator.mechanism() {
                return Authenticate::Failed(format!(
                    "SASL mechanism '{}' requested by client is not supported for re-authentication of mechanism '{}'",
                    authenticator.mechanism().name(),
                    previous.mechanism.name()
                ));
            }
        }
        match authenticator.step_at(credentials, token, now_ms) {
            Step::Challenge(challenge) => Authenticate::Challenge(challenge),
            Step::Failed(message) => Authenticate::Failed(if reauth.is_some() {
                message.replace("during authentication", "during re-authentication")
            } else {
                message
            }),
            Step::Done {
                user,
                response,
                token_authenticated,
            } => {
                if let Some(previous) = reauth.as_ref() {
                    if previous.user != user {
                        return Authenticate::Failed(format!(
                            "Cannot change principals during re-authentication from User.{}: User.{user}",
                            previous.user
                        ));
                    }
                }
                let mechanism = authenticator.mechanism();
                // The session ends with connections.max.reauth.ms or with the credential
                // (an OAUTHBEARER token), whichever comes first.
                let expires_at_ms = match (
                    self.max_reauth_ms.map(|ms| now_ms + ms),
                    authenticator.credential_expires_at_ms(),
                ) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let session_lifetime_ms = expires_at_ms.map_or(0, |at| (at - now_ms).max(0));
                self.phase = Phase::Authenticated {
                    user,
                    mechanism,
                    expires_at_ms,
                    token_authenticated,
                };
                Authenticate::Done {
                    response,
                    session_lifetime_ms,
                }
            }
        }
    }
}

fn api_name(api: ApiKey) -> String {
    // Kafka's ApiKeys names, e.g. METADATA, SASL_AUTHENTICATE.
    let name = format!("{api:?}");
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        let c = Credentials::new(vec![
            Mechanism::Plain,
            Mechanism::ScramSha256,
            Mechanism::ScramSha512,
        ]);
        c.add_user("alice", "alice-secret");
        c
    }

    #[test]
    fn plain_checks_the_password() {
        let c = credentials();
        let mut auth = Authenticator::new(Mechanism::Plain);
        assert_eq!(
            auth.step(&c, b"\0alice\0alice-secret"),
            Step::Done {
                user: "alice".into(),
                response: vec![],
                token_authenticated: false,
            }
        );
        let mut auth = Authenticator::new(Mechanism::Plain);
        assert!(matches!(auth.step(&c, b"\0alice\0wrong"), Step::Failed(_)));
        let mut auth = Authenticator::new(Mechanism::Plain);
        assert!(matches!(auth.step(&c, b"garbage"), Step::Failed(_)));
    }

    /// A SCRAM client, as RFC 5802 describes it.
    fn scram_client(mechanism: Mechanism, c: &Credentials, user: &str, password: &str) -> Step {
        let mut auth = Authenticator::new(mechanism);
        let client_first_bare = format!("n={user},r=clientnonce");
        let Step::Challenge(server_first) =
            auth.step(c, format!("n,,{client_first_bare}").as_bytes())
        else {
            return Step::Failed("no challenge".into());
        };
        let server_first = String::from_utf8(server_first).unwrap();
        let attrs: HashMap<&str, &str> = server_first.split(',').map(|a| a.split_at(2)).collect();
        let nonce = attrs["r="];
        assert!(nonce.starts_with("clientnonce"));
        let salt = BASE64.decode(attrs["s="]).unwrap();
        let iterations: u32 = attrs["i="].parse().unwrap();
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        let client_key = mechanism.hmac(&salted, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = mechanism.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let step = auth.step(
            c,
            format!("{without_proof},p={}", BASE64.encode(proof)).as_bytes(),
        );
        if let Step::Done { response, .. } = &step {
            let server_key = mechanism.hmac(&salted, b"Server Key");
            let expected = mechanism.hmac(&server_key, auth_message.as_bytes());
            assert_eq!(
                String::from_utf8(response.clone()).unwrap(),
                format!("v={}", BASE64.encode(expected))
            );
        }
        step
    }

    #[test]
    fn a_delegation_token_logs_in_as_its_owner() {
        use super::super::delegation_tokens::TokenSettings;
        let c = credentials().with_delegation_tokens(DelegationTokens::new(Some(TokenSettings {
            secret_key: "key".into(),
            max_lifetime_ms: 60_000,
            expiry_time_ms: 60_000,
        })));
        let token = c
            .delegation_tokens
            .create(
                "User:alice",
                "User:alice",
                vec![],
                -1,
                crate::state::now_ms(),
            )
            .unwrap();
        let password = BASE64.encode(&token.hmac);
        let as_token = format!("{},tokenauth=true", token.token_id);
        assert!(matches!(
            scram_client(Mechanism::ScramSha512, &c, &as_token, &password),
            Step::Done { ref user, token_authenticated: true, .. } if user == "alice"
        ));
        // Without the extension the token id is an unknown user.
        assert!(matches!(
            scram_client(Mechanism::ScramSha512, &c, &token.token_id, &password),
            Step::Failed(_)
        ));
        assert!(matches!(
            scram_client(Mechanism::ScramSha256, &c, &as_token, "wrong"),
            Step::Failed(_)
        ));
    }

    #[test]
    fn scram_authenticates_the_right_password_only() {
        let c = credentials();
        for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
            assert!(
                matches!(scram_client(mechanism, &c, "alice", "alice-secret"), Step::Done { ref user, .. } if user == "alice")
            );
            assert!(matches!(
                scram_client(mechanism, &c, "alice", "nope"),
                Step::Failed(_)
            ));
            assert!(matches!(
                scram_client(mechanism, &c, "bob", "alice-secret"),
                Step::Failed(_)
            ));
        }
    }

    #[test]
    fn each_scram_mechanism_takes_its_own_password() {
        let c = Credentials::new(vec![
            Mechanism::Plain,
            Mechanism::ScramSha256,
            Mechanism::ScramSha512,
        ]);
        c.add(&UserSpec {
            username: "carol".into(),
            password: Some("plain-pw".into()),
            scram: vec![(Mechanism::ScramSha512, "512-pw".into(), 8192)],
        });
        c.add(&UserSpec {
            username: "dave".into(),
            password: None,
            scram: vec![(Mechanism::ScramSha256, "256-pw".into(), 4096)],
        });
        let done = |step: Step| matches!(step, Step::Done { .. });
        assert!(done(scram_client(
            Mechanism::ScramSha512,
            &c,
            "carol",
            "512-pw"
        )));
        assert!(!done(scram_client(
            Mechanism::ScramSha512,
            &c,
            "carol",
            "plain-pw"
        )));
        // The password covers the mechanism without an entry of its own, and PLAIN.
        assert!(done(scram_client(
            Mechanism::ScramSha256,
            &c,
            "carol",
            "plain-pw"
        )));
        assert!(c.check_plain("carol", "plain-pw"));
        assert_eq!(
            c.scram_info("carol"),
            vec![
                (Mechanism::ScramSha256, 4096),
                (Mechanism::ScramSha512, 8192)
            ]
        );
        // Without a password: only the named mechanism, and no PLAIN.
        assert!(done(scram_client(
            Mechanism::ScramSha256,
            &c,
            "dave",
            "256-pw"
        )));
        assert!(!done(scram_client(
            Mechanism::ScramSha512,
            &c,
            "dave",
            "256-pw"
        )));
        assert!(!c.check_plain("dave", "256-pw"));
        assert!(!c.check_plain("dave", ""));
    }

    #[test]
    fn scram_credentials_can_be_replaced_and_removed() {
        let c = credentials();
        let salt = b"salt".to_vec();
        let salted = Mechanism::ScramSha256.salted_password(b"new", &salt, 8192);
        c.set_scram(
            "bob",
            Mechanism::ScramSha256,
            ScramCredential::from_salted_password(Mechanism::ScramSha256, salt, &salted, 8192),
        );
        assert!(matches!(
            scram_client(Mechanism::ScramSha256, &c, "bob", "new"),
            Step::Done { .. }
        ));
        assert_eq!(c.scram_info("bob"), vec![(Mechanism::ScramSha256, 8192)]);
        assert_eq!(
            c.scram_users(),
            vec!["alice".to_string(), "bob".to_string()]
        );
        assert!(c.remove_scram("bob", Mechanism::ScramSha256));
        assert!(!c.remove_scram("bob", Mechanism::ScramSha256));
        assert!(matches!(
            scram_client(Mechanism::ScramSha256, &c, "bob", "new"),
            Step::Failed(_)
        ));
    }

    #[test]
    fn a_session_serves_only_the_handshake_until_authenticated() {
        let c = credentials();
        let mut session = Session::new(None);
        assert_eq!(session.admit(ApiKey::ApiVersions, 0), Admit::Serve);
        assert_eq!(
            session.admit(ApiKey::Metadata, 0),
            Admit::Close("Unexpected Kafka request of type METADATA during SASL handshake.".into())
        );
        assert_eq!(session.admit(ApiKey::SaslHandshake, 0), Admit::Exchange);
        assert_eq!(
            session.handshake(&c, "GSSAPI", 1),
            Handshake::UnsupportedMechanism
        );
        assert_eq!(session.handshake(&c, "PLAIN", 1), Handshake::Accepted);
        assert!(!session.expects_raw_token());
        assert!(matches!(
            session.admit(ApiKey::Produce, 0),
            Admit::Refuse(m) if m.contains("PRODUCE during SASL authentication")
        ));
        assert_eq!(
            session.authenticate(&c, b"\0alice\0alice-secret", 0),
            Authenticate::Done {
                response: vec![],
                session_lifetime_ms: 0
            }
        );
        assert_eq!(session.user(), Some("alice"));
        assert_eq!(session.admit(ApiKey::Produce, i64::MAX), Admit::Serve);
        // Without re-authentication a second handshake is an ordinary request (refused by its
        // handler with ILLEGAL_SASL_STATE).
        assert_eq!(session.admit(ApiKey::SaslHandshake, 0), Admit::Serve);
    }

    #[test]
    fn a_wrong_password_fails_with_kafkas_message() {
        let c = credentials();
        let mut session = Session::new(None);
        session.handshake(&c, "PLAIN", 0);
        assert!(session.expects_raw_token());
        assert_eq!(
            session.authenticate(&c, b"\0alice\0nope", 0),
            Authenticate::Failed("Authentication failed: Invalid username or password".into())
        );
        assert_eq!(session.user(), None);
    }

    #[test]
    fn sessions_expire_unless_reauthenticated_as_the_same_user() {
        let c = credentials();
        c.add_user("bob", "bob-secret");
        let mut session = Session::new(Some(1000));
        session.handshake(&c, "PLAIN", 1);
        assert_eq!(
            session.authenticate(&c, b"\0alice\0alice-secret", 5000),
            Authenticate::Done {
                response: vec![],
                session_lifetime_ms: 1000
            }
        );
        assert_eq!(session.admit(ApiKey::Fetch, 5999), Admit::Serve);
        assert!(matches!(
            session.admit(ApiKey::Fetch, 6000),
            Admit::Close(_)
        ));
        // Re-authentication renews the session.
        assert_eq!(session.admit(ApiKey::SaslHandshake, 5500), Admit::Exchange);
        assert_eq!(session.handshake(&c, "PLAIN", 1), Handshake::Accepted);
        assert_eq!(session.user(), Some("alice"));
        assert!(matches!(
            session.authenticate(&c, b"\0alice\0alice-secret", 5500),
            Authenticate::Done { .. }
        ));
        assert_eq!(session.admit(ApiKey::Fetch, 6000), Admit::Serve);
        // ... but not as someone else.
        session.handshake(&c, "PLAIN", 1);
        assert_eq!(
            session.authenticate(&c, b"\0bob\0bob-secret", 5600),
            Authenticate::Failed(
                "Cannot change principals during re-authentication from User.alice: User.bob"
                    .into()
            )
        );
    }

    #[test]
    fn reauthentication_keeps_the_mechanism() {
        let c = credentials();
        let mut session = Session::new(Some(1000));
        session.handshake(&c, "PLAIN", 1);
        session.authenticate(&c, b"\0alice\0alice-secret", 0);
        assert_eq!(
            session.handshake(&c, "SCRAM-SHA-256", 1),
            Handshake::Accepted
        );
        assert!(matches!(
            session.authenticate(&c, b"n,,n=alice,r=x", 0),
            Authenticate::Failed(m) if m.contains("not supported for re-authentication")
        ));
    }

    fn unsecured_jwt(claims: &str) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    fn oauth_message(token: &str) -> Vec<u8> {
        format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}").into_bytes()
    }

    #[test]
    fn oauthbearer_accepts_unexpired_unsecured_tokens_for_their_lifetime() {
        let c = Credentials::new(vec![Mechanism::OAuthBearer]);
        let now_ms = 1_700_000_000_000;
        let token = unsecured_jwt(r#"{"sub":"carol","iat":1699999999,"exp":1700000060}"#);
        let mut session = Session::new(None);
        assert_eq!(session.handshake(&c, "OAUTHBEARER", 1), Handshake::Accepted);
        assert_eq!(
            session.authenticate(&c, &oauth_message(&token), now_ms),
            Authenticate::Done {
                response: vec![],
                session_lifetime_ms: 60_000
            }
        );
        assert_eq!(session.user(), Some("carol"));
        // The token's expiry ends the session, and allows re-authentication.
        assert_eq!(
            session.admit(ApiKey::SaslHandshake, now_ms),
            Admit::Exchange
        );
        assert!(matches!(
            session.admit(ApiKey::Fetch, now_ms + 60_000),
            Admit::Close(_)
        ));
        // connections.max.reauth.ms shortens it.
        let mut session = Session::new(Some(1000));
        session.handshake(&c, "OAUTHBEARER", 1);
        assert_eq!(
            session.authenticate(&c, &oauth_message(&token), now_ms),
            Authenticate::Done {
                response: vec![],
                session_lifetime_ms: 1000
            }
        );
    }

    #[test]
    fn oauthbearer_refuses_expired_signed_or_anonymous_tokens() {
        let c = Credentials::new(vec![Mechanism::OAuthBearer]);
        let now_ms = 1_700_000_000_000;
        for token in [
            unsecured_jwt(r#"{"sub":"carol","exp":1699999999}"#),
            unsecured_jwt(r#"{"exp":1700000060}"#),
            unsecured_jwt(r#"{"sub":"carol"}"#),
            unsecured_jwt(r#"{"sub":"carol","exp":1700000060,"iat":1700000050}"#),
            format!(
                "{}sig",
                unsecured_jwt(r#"{"sub":"carol","exp":1700000060}"#)
            ),
            "not-a-jwt".to_string(),
        ] {
            let mut auth = Authenticator::new(Mechanism::OAuthBearer);
            assert_eq!(
                auth.step_at(&c, &oauth_message(&token), now_ms),
                Step::Challenge(INVALID_TOKEN.as_bytes().to_vec()),
                "{token}"
            );
            assert_eq!(
                auth.step_at(&c, b"\x01", now_ms),
                Step::Failed(INVALID_TOKEN.into())
            );
        }
        let mut auth = Authenticator::new(Mechanism::OAuthBearer);
        assert!(matches!(
            auth.step_at(&c, b"n,,auth=Bearer x", now_ms),
            Step::Failed(_)
        ));
        let token = unsecured_jwt(r#"{"sub":"carol","exp":1700000060}"#);
        let mut auth = Authenticator::new(Mechanism::OAuthBearer);
        assert!(matches!(
            auth.step_at(
                &c,
                format!("n,a=dave,\u{1}auth=Bearer {token}\u{1}\u{1}").as_bytes(),
                now_ms
            ),
            Step::Failed(m) if m.contains("authorization id (dave)")
        ));
    }
}
