//! ACLs and the authorizer, with the semantics of Kafka's StandardAuthorizer: literal, wildcard
//! and prefixed resource patterns; DENY beats ALLOW; READ, WRITE, DELETE and ALTER imply DESCRIBE,
//! ALTER_CONFIGS implies DESCRIBE_CONFIGS; super users may do anything; and a resource no ACL
//! names is open only if `allow.everyone.if.no.acl.found`.

use parking_lot::RwLock;

pub mod resource {
    pub const ANY: i8 = 1;
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const CLUSTER: i8 = 4;
    pub const TRANSACTIONAL_ID: i8 = 5;
    pub const DELEGATION_TOKEN: i8 = 6;
    pub const USER: i8 = 7;
}

pub mod pattern {
    pub const ANY: i8 = 1;
    pub const MATCH: i8 = 2;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
}

pub mod operation {
    pub const ANY: i8 = 1;
    pub const ALL: i8 = 2;
    pub const READ: i8 = 3;
    pub const WRITE: i8 = 4;
    pub const CREATE: i8 = 5;
    pub const DELETE: i8 = 6;
    pub const ALTER: i8 = 7;
    pub const DESCRIBE: i8 = 8;
    pub const CLUSTER_ACTION: i8 = 9;
    pub const DESCRIBE_CONFIGS: i8 = 10;
    pub const ALTER_CONFIGS: i8 = 11;
    pub const IDEMPOTENT_WRITE: i8 = 12;
    pub const CREATE_TOKENS: i8 = 13;
    pub const DESCRIBE_TOKENS: i8 = 14;
}

pub mod permission {
    pub const ANY: i8 = 1;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

/// The name of the single cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
const WILDCARD: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

/// A Describe/DeleteAcls filter; `None` strings match anything.
#[derive(Debug, Clone)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

impl AclFilter {
    pub fn matches(&self, acl: &AclBinding) -> bool {
        let resource_type =
            self.resource_type == resource::ANY || self.resource_type == acl.resource_type;
        let name_and_pattern = match (self.pattern_type, &self.resource_name) {
            (pattern::ANY, None) => true,
            (pattern::ANY, Some(name)) => *name == acl.resource_name,
            // MATCH: every ACL that would apply to a resource of this name.
            (pattern::MATCH, None) => true,
            (pattern::MATCH, Some(name)) => match acl.pattern_type {
                pattern::LITERAL => acl.resource_name == *name || acl.resource_name == WILDCARD,
                pattern::PREFIXED => name.starts_with(&acl.resource_name),
                _ => false,
            },
            (p, name) => {
                p == acl.pattern_type && name.as_ref().is_none_or(|n| *n == acl.resource_name)
            }
        };
        let principal = self.principal.as_ref().is_none_or(|p| *p == acl.principal);
        let host = self.host.as_ref().is_none_or(|h| *h == acl.host);
        let operation = self.operation == operation::ANY || self.operation == acl.operation;
        let permission = self.permission == permission::ANY || self.permission == acl.permission;
        resource_type && name_and_pattern && principal && host && operation && permission
    }
}

/// Checks a binding before it is stored (CreateAcls): INVALID_REQUEST's message if it is not
/// one Kafka would store.
pub fn validate(acl: &AclBinding) -> Result<(), String> {
    if !(resource::TOPIC..=resource::USER).contains(&acl.resource_type) {
        return Err("Invalid resource type".into());
    }
    if acl.pattern_type != pattern::LITERAL && acl.pattern_type != pattern::PREFIXED {
        return Err("Invalid resource pattern type: must be LITERAL or PREFIXED".into());
    }
    if !(operation::ALL..=operation::DESCRIBE_TOKENS).contains(&acl.operation) {
        return Err("Invalid operation".into());
    }
    if acl.permission != permission::ALLOW && acl.permission != permission::DENY {
        return Err("Invalid permission type".into());
    }
    if acl.resource_name.is_empty() {
        return Err("Resource name must not be empty".into());
    }
    if !acl.principal.contains(':') {
        return Err(format!("Could not parse principal from `{}` (no colon is present separating the principal type from the principal name)", acl.principal));
    }
    if acl.resource_type == resource::CLUSTER && acl.resource_name != CLUSTER_NAME {
        return Err(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    Ok(())
}

/// Authorization settings from `startKafka({ authorization })`.
#[derive(Debug, Clone, Default)]
pub struct AuthorizerConfig {
    /// Whether ACLs are enforced at all; without it they are stored but everyone may do anything.
    pub enabled: bool,
    /// Principals (`User:admin`) that may do anything.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`
    pub allow_everyone_if_no_acl_found: bool,
}

#[derive(Debug, Default)]
pub struct Acls {
    pub config: AuthorizerConfig,
    bindings: RwLock<Vec<AclBinding>>,
}

impl Acls {
    pub fn new(config: AuthorizerConfig) -> Self {
        Acls {
            config,
            bindings: RwLock::new(Vec::new()),
        }
    }

    /// Deletes every ACL (a test's reset); the authorizer's configuration stays.
    pub fn clear(&self) {
        self.bindings.write().clear();
    }

    pub fn add(&self, acl: AclBinding) {
        let mut bindings = self.bindings.write();
        if !bindings.contains(&acl) {
            bindings.push(acl);
        }
    }

    pub fn describe(&self, filter: &AclFilter) -> Vec<AclBinding> {
        let mut found: Vec<_> = self
            .bindings
            .read()
            .iter()
            .filter(|a| filter.matches(a))
            .cloned()
            .collect();
        found.sort();
        found
    }

    pub fn delete(&self, filter: &AclFilter) -> Vec<AclBinding> {
        let mut bindings = self.bindings.write();
        let (deleted, kept): (Vec<_>, Vec<_>) = bindings.drain(..).partition(|a| filter.matches(a));
        *bindings = kept;
        deleted
    }

    /// Whether `principal` connecting from `host` may perform `op` on the named resource.
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        resource_type: i8,
        name: &str,
        op: i8,
    ) -> bool {
        if !self.config.enabled || self.config.super_users.iter().any(|u| u == principal) {
            return true;
        }
        let bindings = self.bindings.read();
        let applicable: Vec<&AclBinding> = bindings
            .iter()
            .filter(|a| {
                a.resource_type == resource_type
                    && match a.pattern_type {
                        pattern::LITERAL => a.resource_name == name || a.resource_name == WILDCARD,
                        pattern::PREFIXED => name.starts_with(&a.resource_name),
                        _ => false,
                    }
            })
            .collect();
        if applicable.is_empty() {
            return self.config.allow_everyone_if_no_acl_found;
        }
        let applies = |a: &&AclBinding, permission: i8| {
            a.permission == permission
                && (a.principal == principal || a.principal == "User:*")
                && (a.host == WILDCARD || a.host == host)
        };
        let grants = |acl_op: i8, permission: i8| {
            if acl_op == operation::ALL || acl_op == op {
                return true;
            }
            // Only ALLOW ACLs imply weaker operations.
            permission == permission::ALLOW
                && match op {
                    operation::DESCRIBE => matches!(
                        acl_op,
                        operation::READ | operation::WRITE | operation::DELETE | operation::ALTER
                    ),
                    operation::DESCRIBE_CONFIGS => acl_op == operation::ALTER_CONFIGS,
                    _ => false,
                }
        };
        let denied = applicable
            .iter()
            .any(|a| applies(a, permission::DENY) && grants(a.operation, permission::DENY));
        let allowed = applicable
            .iter()
            .any(|a| applies(a, permission::ALLOW) && grants(a.operation, permission::ALLOW));
        allowed && !denied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(
        resource_type: i8,
        name: &str,
        pattern_type: i8,
        principal: &str,
        op: i8,
        permission: i8,
    ) -> AclBinding {
        AclBinding {
            resource_type,
            resource_name: name.into(),
            pattern_type,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission,
        }
    }

    fn enforcing(super_users: &[&str], allow_if_none: bool) -> Acls {
        Acls::new(AuthorizerConfig {
            enabled: true,
            super_users: super_users.iter().map(|s| s.to_string()).collect(),
            allow_everyone_if_no_acl_found: allow_if_none,
        })
    }

    #[test]
    fn literal_prefixed_and_wildcard_acls_grant_what_they_name() {
        let acls = enforcing(&["User:admin"], false);
        acls.add(acl(
            resource::TOPIC,
            "orders",
            pattern::LITERAL,
            "User:alice",
            operation::WRITE,
            permission::ALLOW,
        ));
        acls.add(acl(
            resource::TOPIC,
            "logs-",
            pattern::PREFIXED,
            "User:bob",
            operation::READ,
            permission::ALLOW,
        ));
        acls.add(acl(
            resource::GROUP,
            "*",
            pattern::LITERAL,
            "User:*",
            operation::READ,
            permission::ALLOW,
        ));
        assert!(acls.authorize(
            "User:alice",
            "127.0.0.1",
            resource::TOPIC,
            "orders",
            operation::WRITE
        ));
        assert!(
            acls.authorize(
                "User:alice",
                "127.0.0.1",
                resource::TOPIC,
                "orders",
                operation::DESCRIBE
            ),
            "WRITE implies DESCRIBE"
        );
        assert!(!acls.authorize(
            "User:alice",
            "127.0.0.1",
            resource::TOPIC,
            "orders",
            operation::READ
        ));
        assert!(acls.authorize(
            "User:bob",
            "127.0.0.1",
            resource::TOPIC,
            "logs-app",
            operation::READ
        ));
        assert!(!acls.authorize(
            "User:bob",
            "127.0.0.1",
            resource::TOPIC,
            "orders",
            operation::READ
        ));
        assert!(acls.authorize(
            "User:carol",
            "127.0.0.1",
            resource::GROUP,
            "any-group",
            operation::READ
        ));
        assert!(
            !acls.authorize(
                "User:carol",
                "127.0.0.1",
                resource::TOPIC,
                "unnamed",
                operation::READ
            ),
            "no ACL, not open"
        );
        assert!(
            acls.authorize(
                "User:admin",
                "127.0.0.1",
                resource::CLUSTER,
                CLUSTER_NAME,
                operation::ALTER
            ),
            "super user"
        );
    }

    #[test]
    fn deny_beats_allow_and_no_acl_can_mean_open() {
        let acls = enforcing(&[], true);
        acls.add(acl(
            resource::TOPIC,
            "*",
            pattern::LITERAL,
            "User:*",
            operation::ALL,
            permission::ALLOW,
        ));
        acls.add(acl(
            resource::TOPIC,
            "secret",
            pattern::LITERAL,
            "User:eve",
            operation::READ,
            permission::DENY,
        ));
        assert!(!acls.authorize("User:eve", "h", resource::TOPIC, "secret", operation::READ));
        assert!(acls.authorize("User:eve", "h", resource::TOPIC, "secret", operation::WRITE));
        assert!(
            acls.authorize("User:eve", "h", resource::GROUP, "g", operation::READ),
            "no ACL on groups: open"
        );
        let unenforced = Acls::default();
        assert!(unenforced.authorize("User:eve", "h", resource::TOPIC, "secret", operation::READ));
    }

    #[test]
    fn filters_describe_and_delete() {
        let acls = Acls::default();
        acls.add(acl(
            resource::TOPIC,
            "orders",
            pattern::LITERAL,
            "User:alice",
            operation::WRITE,
            permission::ALLOW,
        ));
        acls.add(acl(
            resource::TOPIC,
            "ord",
            pattern::PREFIXED,
            "User:bob",
            operation::READ,
            permission::ALLOW,
        ));
        let all = AclFilter {
            resource_type: resource::ANY,
            resource_name: None,
            pattern_type: pattern::ANY,
            principal: None,
            host: None,
            operation: operation::ANY,
            permission: permission::ANY,
        };
        assert_eq!(acls.describe(&all).len(), 2);
        let matching = AclFilter {
            resource_type: resource::TOPIC,
            resource_name: Some("orders".into()),
            pattern_type: pattern::MATCH,
            ..all.clone()
        };
        assert_eq!(
            acls.describe(&matching).len(),
            2,
            "MATCH finds the prefixed ACL too"
        );
        let literal = AclFilter {
            pattern_type: pattern::LITERAL,
            ..matching.clone()
        };
        assert_eq!(acls.delete(&literal).len(), 1);
        assert_eq!(acls.describe(&all).len(), 1);
        assert!(validate(&acl(
            resource::TOPIC,
            "t",
            pattern::MATCH,
            "User:a",
            operation::READ,
            permission::ALLOW
        ))
        .is_err());
        assert!(validate(&acl(
            resource::TOPIC,
            "t",
            pattern::LITERAL,
            "alice",
            operation::READ,
            permission::ALLOW
        ))
        .is_err());
    }
}
