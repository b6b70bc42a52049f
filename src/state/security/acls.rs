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

    fn is_super_user(&self, principal: &str) -> bool {
        self.config.super_users.iter().any(|u| u == principal)
    }

    /// Whether `principal` connecting from `host` (a bare IP) may perform `op` on the named
    /// resource, as StandardAuthorizer decides: super users may; otherwise the ACLs whose
    /// pattern matches the name (literal, literal `*`, prefixed) are consulted, a matching DENY
    /// wins over any ALLOW, and only a resource no ACL names at all falls back to
    /// `allow.everyone.if.no.acl.found`.
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        resource_type: i8,
        name: &str,
        op: i8,
    ) -> bool {
        if !self.config.enabled || self.is_super_user(principal) {
            return true;
        }
        let bindings = self.bindings.read();
        let mut names_resource = false;
        let mut allowed = false;
        for acl in bindings.iter() {
            if acl.resource_type != resource_type || !pattern_matches(acl, name) {
                continue;
            }
            names_resource = true;
            if !applies_to(acl, principal, host) || !grants(acl, op) {
                continue;
            }
            if acl.permission == permission::DENY {
                return false;
            }
            allowed |= acl.permission == permission::ALLOW;
        }
        if !names_resource {
            return self.config.allow_everyone_if_no_acl_found;
        }
        allowed
    }

    /// Whether `principal` may perform `op` on at least one resource of the type (Kafka's
    /// `authorizeByResourceType`, which lets a producer that may write some topic be
    /// idempotent): an ALLOW on some literal name or prefix that no DENY on the same name or
    /// on a prefix of it overrides.
    pub fn authorize_by_resource_type(
        &self,
        principal: &str,
        host: &str,
        resource_type: i8,
        op: i8,
    ) -> bool {
        // Kafka first asks about an arbitrary name, so super users and an open cluster pass.
        if self.authorize(principal, host, resource_type, "hardcode", op) {
            return true;
        }
        let bindings = self.bindings.read();
        let relevant = bindings.iter().filter(|a| {
            a.resource_type == resource_type
                && applies_to(a, principal, host)
                && (a.operation == op || a.operation == operation::ALL)
        });
        let (mut denied_literals, mut denied_prefixes) = (Vec::new(), Vec::new());
        let mut allowed = Vec::new();
        for acl in relevant {
            let literal = acl.pattern_type == pattern::LITERAL;
            match acl.permission {
                permission::DENY if literal && acl.resource_name == WILDCARD => return false,
                permission::DENY if literal => denied_literals.push(&acl.resource_name),
                permission::DENY => denied_prefixes.push(&acl.resource_name),
                permission::ALLOW if literal && acl.resource_name == WILDCARD => return true,
                permission::ALLOW => allowed.push((literal, &acl.resource_name)),
                _ => {}
            }
        }
        allowed.into_iter().any(|(literal, name)| {
            let denied_by_prefix = denied_prefixes.iter().any(|p| name.starts_with(p.as_str()));
            let denied_literally = literal && denied_literals.contains(&name);
            !(denied_by_prefix || denied_literally)
        })
    }

    /// Kafka's authorized operations bitfield (Metadata, DescribeGroups...): bit `op` set for
    /// each operation the resource type supports that `principal` may perform on it.
    pub fn authorized_operations(
        &self,
        principal: &str,
        host: &str,
        resource_type: i8,
        name: &str,
    ) -> i32 {
        supported_operations(resource_type)
            .iter()
            .filter(|&&op| self.authorize(principal, host, resource_type, name, op))
            .fold(0, |bits, &op| bits | 1 << op)
    }
}

/// Whether an ACL's resource pattern covers the resource `name`.
fn pattern_matches(acl: &AclBinding, name: &str) -> bool {
    match acl.pattern_type {
        pattern::LITERAL => acl.resource_name == name || acl.resource_name == WILDCARD,
        pattern::PREFIXED => name.starts_with(&acl.resource_name),
        _ => false,
    }
}

/// Whether an ACL names this principal (or every user, `User:*`) and this host (or `*`).
fn applies_to(acl: &AclBinding, principal: &str, host: &str) -> bool {
    (acl.principal == principal || acl.principal == "User:*")
        && (acl.host == WILDCARD || acl.host == host)
}

/// Whether an ACL's operation covers `op`: ALL covers everything; an ALLOW of READ, WRITE,
/// DELETE or ALTER also allows DESCRIBE, and of ALTER_CONFIGS, DESCRIBE_CONFIGS. A DENY
/// denies only what it names.
fn grants(acl: &AclBinding, op: i8) -> bool {
    if acl.operation == operation::ALL || acl.operation == op {
        return true;
    }
    acl.permission == permission::ALLOW
        && match op {
            operation::DESCRIBE => matches!(
                acl.operation,
                operation::READ | operation::WRITE | operation::DELETE | operation::ALTER
            ),
            operation::DESCRIBE_CONFIGS => acl.operation == operation::ALTER_CONFIGS,
            _ => false,
        }
}

/// The operations ACLs can grant on each resource type (Kafka's `AclEntry.supportedOperations`).
pub fn supported_operations(resource_type: i8) -> &'static [i8] {
    use operation::*;
    match resource_type {
        resource::TOPIC => &[
            READ,
            WRITE,
            CREATE,
            DESCRIBE,
            DELETE,
            ALTER,
            DESCRIBE_CONFIGS,
            ALTER_CONFIGS,
        ],
        resource::GROUP => &[READ, DESCRIBE, DELETE, DESCRIBE_CONFIGS, ALTER_CONFIGS],
        resource::CLUSTER => &[
            CREATE,
            CLUSTER_ACTION,
            DESCRIBE_CONFIGS,
            ALTER_CONFIGS,
            IDEMPOTENT_WRITE,
            ALTER,
            DESCRIBE,
        ],
        resource::TRANSACTIONAL_ID => &[DESCRIBE, WRITE],
        resource::DELEGATION_TOKEN => &[DESCRIBE],
        resource::USER => &[CREATE_TOKENS, DESCRIBE_TOKENS],
        _ => &[],
    }
}

/// An enum value by its Kafka name (`TOPIC`, `PREFIXED`, `DESCRIBE_CONFIGS`, `ALLOW`),
/// case-insensitively, for ACLs given by name (the JS binding).
pub fn code_by_name(names: &[(&str, i8)], name: &str) -> Option<i8> {
    names
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, code)| code)
}

pub const RESOURCE_TYPES: &[(&str, i8)] = &[
    ("TOPIC", resource::TOPIC),
    ("GROUP", resource::GROUP),
    ("CLUSTER", resource::CLUSTER),
    ("TRANSACTIONAL_ID", resource::TRANSACTIONAL_ID),
    ("DELEGATION_TOKEN", resource::DELEGATION_TOKEN),
    ("USER", resource::USER),
];
pub const PATTERN_TYPES: &[(&str, i8)] = &[
    ("LITERAL", pattern::LITERAL),
    ("PREFIXED", pattern::PREFIXED),
];
pub const OPERATIONS: &[(&str, i8)] = &[
    ("ALL", operation::ALL),
    ("READ", operation::READ),
    ("WRITE", operation::WRITE),
    ("CREATE", operation::CREATE),
    ("DELETE", operation::DELETE),
    ("ALTER", operation::ALTER),
    ("DESCRIBE", operation::DESCRIBE),
    ("CLUSTER_ACTION", operation::CLUSTER_ACTION),
    ("DESCRIBE_CONFIGS", operation::DESCRIBE_CONFIGS),
    ("ALTER_CONFIGS", operation::ALTER_CONFIGS),
    ("IDEMPOTENT_WRITE", operation::IDEMPOTENT_WRITE),
    ("CREATE_TOKENS", operation::CREATE_TOKENS),
    ("DESCRIBE_TOKENS", operation::DESCRIBE_TOKENS),
];
pub const PERMISSIONS: &[(&str, i8)] = &[("DENY", permission::DENY), ("ALLOW", permission::ALLOW)];

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

    fn allow_to(principal: &str, host: &str, resource_type: i8, name: &str, op: i8) -> AclBinding {
        AclBinding {
            host: host.into(),
            ..acl(
                resource_type,
                name,
                pattern::LITERAL,
                principal,
                op,
                permission::ALLOW,
            )
        }
    }

    #[test]
    fn an_acl_on_a_resource_closes_it_to_everyone_it_does_not_name() {
        let acls = enforcing(&[], true);
        acls.add(allow_to(
            "User:bob",
            "*",
            resource::TOPIC,
            "t",
            operation::READ,
        ));
        acls.add(allow_to(
            "User:alice",
            "10.0.0.1",
            resource::TOPIC,
            "u",
            operation::READ,
        ));
        assert!(acls.authorize(
            "User:bob",
            "127.0.0.1",
            resource::TOPIC,
            "t",
            operation::READ
        ));
        assert!(
            !acls.authorize(
                "User:alice",
                "127.0.0.1",
                resource::TOPIC,
                "t",
                operation::READ
            ),
            "allow.everyone.if.no.acl.found does not apply: an ACL names t"
        );
        assert!(
            !acls.authorize(
                "User:alice",
                "127.0.0.1",
                resource::TOPIC,
                "u",
                operation::READ
            ),
            "the ACL is for another host"
        );
        assert!(acls.authorize(
            "User:alice",
            "10.0.0.1",
            resource::TOPIC,
            "u",
            operation::READ
        ));
        assert!(
            acls.authorize(
                "User:alice",
                "127.0.0.1",
                resource::TOPIC,
                "v",
                operation::WRITE
            ),
            "no ACL names v"
        );
    }

    #[test]
    fn implied_operations_follow_allow_acls_only() {
        let acls = enforcing(&[], false);
        let host = "127.0.0.1";
        acls.add(allow_to(
            "User:a",
            "*",
            resource::TOPIC,
            "t",
            operation::ALTER_CONFIGS,
        ));
        acls.add(allow_to(
            "User:a",
            "*",
            resource::TOPIC,
            "t",
            operation::DELETE,
        ));
        assert!(acls.authorize(
            "User:a",
            host,
            resource::TOPIC,
            "t",
            operation::DESCRIBE_CONFIGS
        ));
        assert!(acls.authorize("User:a", host, resource::TOPIC, "t", operation::DESCRIBE));
        assert!(!acls.authorize("User:a", host, resource::TOPIC, "t", operation::READ));
        assert!(!acls.authorize("User:a", host, resource::TOPIC, "t", operation::ALTER));

        acls.add(allow_to(
            "User:b",
            "*",
            resource::TOPIC,
            "t",
            operation::DESCRIBE,
        ));
        assert!(
            !acls.authorize("User:b", host, resource::TOPIC, "t", operation::READ),
            "DESCRIBE implies nothing stronger"
        );
        acls.add(acl(
            resource::TOPIC,
            "t",
            pattern::LITERAL,
            "User:b",
            operation::READ,
            permission::DENY,
        ));
        assert!(
            acls.authorize("User:b", host, resource::TOPIC, "t", operation::DESCRIBE),
            "a DENY of READ does not deny DESCRIBE"
        );
        acls.add(acl(
            resource::TOPIC,
            "t",
            pattern::LITERAL,
            "User:a",
            operation::ALL,
            permission::DENY,
        ));
        assert!(!acls.authorize("User:a", host, resource::TOPIC, "t", operation::DESCRIBE));
    }

    #[test]
    fn a_deny_anywhere_in_the_matching_patterns_wins_except_for_super_users() {
        let acls = enforcing(&["User:admin"], false);
        acls.add(allow_to(
            "User:alice",
            "*",
            resource::TOPIC,
            "orders",
            operation::READ,
        ));
        acls.add(acl(
            resource::TOPIC,
            "ord",
            pattern::PREFIXED,
            "User:*",
            operation::READ,
            permission::DENY,
        ));
        assert!(!acls.authorize(
            "User:alice",
            "h",
            resource::TOPIC,
            "orders",
            operation::READ
        ));
        assert!(
            acls.authorize(
                "User:alice",
                "h",
                resource::TOPIC,
                "orders",
                operation::DESCRIBE
            ),
            "READ still implies DESCRIBE"
        );
        acls.add(acl(
            resource::TOPIC,
            "*",
            pattern::LITERAL,
            "User:admin",
            operation::ALL,
            permission::DENY,
        ));
        assert!(acls.authorize(
            "User:admin",
            "h",
            resource::TOPIC,
            "orders",
            operation::DELETE
        ));
        assert!(
            !acls.authorize(
                "User:ALICE",
                "h",
                resource::TOPIC,
                "orders",
                operation::READ
            ),
            "principals are case-sensitive"
        );
    }

    #[test]
    fn idempotent_producers_may_write_some_topic() {
        let acls = enforcing(&["User:admin"], false);
        let by_type =
            |p: &str| acls.authorize_by_resource_type(p, "h", resource::TOPIC, operation::WRITE);
        assert!(!by_type("User:alice"), "no ACL at all");
        assert!(by_type("User:admin"));
        acls.add(allow_to(
            "User:alice",
            "*",
            resource::TOPIC,
            "orders",
            operation::WRITE,
        ));
        acls.add(allow_to(
            "User:bob",
            "*",
            resource::TOPIC,
            "logs",
            operation::ALL,
        ));
        acls.add(allow_to(
            "User:carol",
            "*",
            resource::TOPIC,
            "*",
            operation::WRITE,
        ));
        assert!(by_type("User:alice"));
        assert!(by_type("User:bob"), "ALL includes WRITE");
        assert!(by_type("User:carol"));
        assert!(!by_type("User:dave"));
        acls.add(acl(
            resource::TOPIC,
            "or",
            pattern::PREFIXED,
            "User:alice",
            operation::WRITE,
            permission::DENY,
        ));
        assert!(
            !by_type("User:alice"),
            "a denied prefix covers the allowed name"
        );
        acls.add(acl(
            resource::TOPIC,
            "*",
            pattern::LITERAL,
            "User:*",
            operation::WRITE,
            permission::DENY,
        ));
        assert!(!by_type("User:bob"), "a wildcard DENY");
        assert!(
            Acls::default().authorize_by_resource_type(
                "User:x",
                "h",
                resource::TOPIC,
                operation::WRITE
            ),
            "not enforced"
        );
    }

    #[test]
    fn authorized_operations_are_a_bitfield_of_the_supported_ones() {
        let acls = enforcing(&[], false);
        acls.add(allow_to(
            "User:a",
            "*",
            resource::TOPIC,
            "t",
            operation::READ,
        ));
        assert_eq!(
            acls.authorized_operations("User:a", "h", resource::TOPIC, "t"),
            1 << operation::READ | 1 << operation::DESCRIBE
        );
        assert_eq!(
            acls.authorized_operations("User:a", "h", resource::GROUP, "g"),
            0
        );
        let all_topic_ops = supported_operations(resource::TOPIC)
            .iter()
            .fold(0, |bits, op| bits | 1 << op);
        assert_eq!(
            Acls::default().authorized_operations("User:a", "h", resource::TOPIC, "t"),
            all_topic_ops
        );
        assert_eq!(code_by_name(OPERATIONS, "describe_configs"), Some(10));
        assert_eq!(code_by_name(RESOURCE_TYPES, "Topic"), Some(2));
        assert_eq!(code_by_name(PERMISSIONS, "maybe"), None);
    }
}
