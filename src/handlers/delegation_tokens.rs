//! The delegation token APIs (KIP-48): CreateDelegationToken, RenewDelegationToken,
//! ExpireDelegationToken, DescribeDelegationToken, over `state::security::delegation_tokens`.
//! Kafka refuses them on a connection that did not authenticate (PLAINTEXT, TLS without a
//! client certificate) and on one authenticated by a token; with no `delegation.token.secret.key`
//! (Kafka's default) token authentication is disabled.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_delegation_token_response::{
    DescribedDelegationToken, DescribedDelegationTokenRenewer,
};
use kafka_protocol::messages::{
    CreateDelegationTokenRequest, CreateDelegationTokenResponse, DescribeDelegationTokenRequest,
    DescribeDelegationTokenResponse, ExpireDelegationTokenRequest, ExpireDelegationTokenResponse,
    RenewDelegationTokenRequest, RenewDelegationTokenResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation, resource};
use super::{RequestContext, ANONYMOUS};
use crate::state::now_ms;

/// Kafka's `allowTokenRequests`: only a connection authenticated by SASL or a TLS client
/// certificate (whose principal is not anonymous), and not by a token, may ask for tokens.
fn allow_token_requests(ctx: &RequestContext) -> bool {
    &*ctx.principal != ANONYMOUS && !ctx.token_authenticated
}

/// `User:alice` as its type and name.
fn split_principal(principal: &str) -> (&str, &str) {
    principal.split_once(':').unwrap_or(("User", principal))
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn create(
    ctx: &RequestContext,
    req: CreateDelegationTokenRequest,
) -> CreateDelegationTokenResponse {
    let requester = ctx.principal.to_string();
    // v3 may name another owner (KIP-373); the requester then needs CREATE_TOKENS on that user.
    let owner = match &req.owner_principal_name {
        Some(name) if !name.is_empty() => format!(
            "{}:{}",
            req.owner_principal_type.as_deref().unwrap_or("User"),
            name
        ),
        _ => requester.clone(),
    };
    let created = if !allow_token_requests(ctx) {
        Err(ResponseError::DelegationTokenRequestNotAllowed)
    } else if owner != requester
        && !authz::allowed(ctx, resource::USER, &owner, operation::CREATE_TOKENS)
    {
        Err(ResponseError::DelegationTokenAuthorizationFailed)
    } else if req
        .renewers
        .iter()
        .any(|r| r.principal_type.as_str() != "User")
    {
        Err(ResponseError::InvalidPrincipalType)
    } else {
        let renewers = req
            .renewers
            .iter()
            .map(|r| format!("{}:{}", &*r.principal_type, &*r.principal_name))
            .collect();
        ctx.cluster.credentials.delegation_tokens.create(
            &owner,
            &requester,
            renewers,
            req.max_lifetime_ms,
            now_ms(),
        )
    };
    let (owner_type, owner_name) = split_principal(&owner);
    let response = CreateDelegationTokenResponse::default()
        .with_principal_type(text(owner_type))
        .with_principal_name(text(owner_name));
    let response = match created {
        Err(error) => response
            .with_error_code(error.code())
            .with_issue_timestamp_ms(-1)
            .with_expiry_timestamp_ms(-1)
            .with_max_timestamp_ms(-1),
        Ok(token) => response
            .with_issue_timestamp_ms(token.issue_timestamp_ms)
            .with_expiry_timestamp_ms(token.expiry_timestamp_ms)
            .with_max_timestamp_ms(token.max_timestamp_ms)
            .with_token_id(text(&token.token_id))
            .with_hmac(token.hmac.into()),
    };
    if ctx.version() < 3 {
        return response;
    }
    let (requester_type, requester_name) = split_principal(&requester);
    response
        .with_token_requester_principal_type(text(requester_type))
        .with_token_requester_principal_name(text(requester_name))
}

/// A renewal's or an expiry's new expiry time, or why there is none.
fn expiry_of(
    ctx: &RequestContext,
    change: impl FnOnce(&str, i64) -> Result<i64, ResponseError>,
) -> (i16, i64) {
    if !allow_token_requests(ctx) {
        return (ResponseError::DelegationTokenRequestNotAllowed.code(), -1);
    }
    match change(&ctx.principal, now_ms()) {
        Ok(expiry) => (0, expiry),
        Err(error) => (error.code(), -1),
    }
}

pub fn renew(
    ctx: &RequestContext,
    req: RenewDelegationTokenRequest,
) -> RenewDelegationTokenResponse {
    let (error, expiry) = expiry_of(ctx, |principal, now| {
        ctx.cluster.credentials.delegation_tokens.renew(
            &req.hmac,
            principal,
            req.renew_period_ms,
            now,
        )
    });
    RenewDelegationTokenResponse::default()
        .with_error_code(error)
        .with_expiry_timestamp_ms(expiry)
}

pub fn expire(
    ctx: &RequestContext,
    req: ExpireDelegationTokenRequest,
) -> ExpireDelegationTokenResponse {
    let (error, expiry) = expiry_of(ctx, |principal, now| {
        ctx.cluster.credentials.delegation_tokens.expire(
            &req.hmac,
            principal,
            req.expiry_time_period_ms,
            now,
        )
    });
    ExpireDelegationTokenResponse::default()
        .with_error_code(error)
        .with_expiry_timestamp_ms(expiry)
}

/// The tokens of the owners asked for (every owner for null, none for an empty list) that the
/// caller owns, requested or renews, or may DESCRIBE (the token) or DESCRIBE_TOKENS (its owner).
pub fn describe(
    ctx: &RequestContext,
    req: DescribeDelegationTokenRequest,
) -> DescribeDelegationTokenResponse {
    if !allow_token_requests(ctx) {
        return DescribeDelegationTokenResponse::default()
            .with_error_code(ResponseError::DelegationTokenRequestNotAllowed.code());
    }
    let owners: Option<Vec<String>> = req.owners.as_ref().map(|owners| {
        owners
            .iter()
            .map(|o| format!("{}:{}", &*o.principal_type, &*o.principal_name))
            .collect()
    });
    let described =
        ctx.cluster
            .credentials
            .delegation_tokens
            .describe(owners.as_deref(), now_ms(), |token| {
                token.owner_or_renewer(&ctx.principal)
                    || authz::allowed(
                        ctx,
                        resource::DELEGATION_TOKEN,
                        &token.token_id,
                        operation::DESCRIBE,
                    )
                    || authz::allowed(
                        ctx,
                        resource::USER,
                        &token.owner,
                        operation::DESCRIBE_TOKENS,
                    )
            });
    let tokens = match described {
        Err(error) => {
            return DescribeDelegationTokenResponse::default().with_error_code(error.code())
        }
        Ok(tokens) => tokens,
    };
    let version = ctx.version();
    let tokens = tokens
        .into_iter()
        .map(|token| {
            let (owner_type, owner_name) = split_principal(&token.owner);
            let described = DescribedDelegationToken::default()
                .with_principal_type(text(owner_type))
                .with_principal_name(text(owner_name))
                .with_issue_timestamp(token.issue_timestamp_ms)
                .with_expiry_timestamp(token.expiry_timestamp_ms)
                .with_max_timestamp(token.max_timestamp_ms)
                .with_token_id(text(&token.token_id))
                .with_hmac(token.hmac.clone().into())
                .with_renewers(
                    token
                        .renewers
                        .iter()
                        .map(|r| {
                            let (kind, name) = split_principal(r);
                            DescribedDelegationTokenRenewer::default()
                                .with_principal_type(text(kind))
                                .with_principal_name(text(name))
                        })
                        .collect(),
                );
            if version < 3 {
                return described;
            }
            let (requester_type, requester_name) = split_principal(&token.requester);
            described
                .with_token_requester_principal_type(text(requester_type))
                .with_token_requester_principal_name(text(requester_name))
        })
        .collect();
    DescribeDelegationTokenResponse::default().with_tokens(tokens)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

    use super::*;
    use crate::handlers::tests::{call, call_as, test_cluster};

    #[test]
    fn an_unauthenticated_connection_may_not_ask_for_tokens() {
        let cluster = test_cluster(1);
        let req = RequestKind::CreateDelegationToken(CreateDelegationTokenRequest::default());
        match call(&cluster, ApiKey::CreateDelegationToken, 3, req) {
            ResponseKind::CreateDelegationToken(r) => {
                assert_eq!(
                    r.error_code,
                    ResponseError::DelegationTokenRequestNotAllowed.code()
                );
                assert_eq!(
                    (r.principal_type.as_str(), r.principal_name.as_str()),
                    ("User", "ANONYMOUS")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_authenticated_one_finds_token_authentication_disabled() {
        let cluster = test_cluster(1);
        let req = RequestKind::DescribeDelegationToken(DescribeDelegationTokenRequest::default());
        match call_as(
            &cluster,
            "User:alice",
            ApiKey::DescribeDelegationToken,
            3,
            req,
        ) {
            ResponseKind::DescribeDelegationToken(r) => {
                assert_eq!(
                    r.error_code,
                    ResponseError::DelegationTokenAuthDisabled.code()
                )
            }
            other => panic!("{other:?}"),
        }
        // Another owner needs CREATE_TOKENS on that user; the cluster has no ACLs and no
        // authorizer, so it is allowed, and disabled.
        let req = CreateDelegationTokenRequest::default()
            .with_owner_principal_type(Some(text("User")))
            .with_owner_principal_name(Some(text("bob")));
        match call_as(
            &cluster,
            "User:alice",
            ApiKey::CreateDelegationToken,
            3,
            RequestKind::CreateDelegationToken(req),
        ) {
            ResponseKind::CreateDelegationToken(r) => {
                assert_eq!(
                    r.error_code,
                    ResponseError::DelegationTokenAuthDisabled.code()
                );
                assert_eq!(r.principal_name.as_str(), "bob");
                assert_eq!(r.token_requester_principal_name.as_str(), "alice");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod authorization_tests {
    use std::sync::Arc;

    use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

    use super::*;
    use crate::handlers::tests::call_as;
    use crate::state::security::acls::{pattern, permission, AclBinding, AuthorizerConfig};
    use crate::state::security::delegation_tokens::TokenSettings;
    use crate::state::{BrokerConfig, Cluster};

    /// Tokens on, ACLs enforced, nothing allowed yet.
    fn cluster() -> Arc<Cluster> {
        let config = BrokerConfig {
            authorizer: AuthorizerConfig {
                enabled: true,
                super_users: vec![],
                allow_everyone_if_no_acl_found: false,
            },
            delegation_tokens: Some(TokenSettings {
                secret_key: "key".into(),
                max_lifetime_ms: 60_000,
                expiry_time_ms: 60_000,
            }),
            ..Default::default()
        };
        crate::handlers::tests::test_cluster_with(config, 1)
    }

    fn allow(cluster: &Cluster, principal: &str, resource_type: i8, name: &str, op: i8) {
        cluster.acls.add(AclBinding {
            resource_type,
            resource_name: name.into(),
            pattern_type: pattern::LITERAL,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission: permission::ALLOW,
        });
    }

    fn create_for(
        cluster: &Arc<Cluster>,
        requester: &str,
        owner: &str,
    ) -> CreateDelegationTokenResponse {
        let req = CreateDelegationTokenRequest::default()
            .with_owner_principal_type(Some(text("User")))
            .with_owner_principal_name(Some(text(owner)));
        match call_as(
            cluster,
            requester,
            ApiKey::CreateDelegationToken,
            3,
            RequestKind::CreateDelegationToken(req),
        ) {
            ResponseKind::CreateDelegationToken(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn described_by(cluster: &Arc<Cluster>, principal: &str) -> usize {
        // Null owners: every owner's (an empty list would be nobody's).
        let req = RequestKind::DescribeDelegationToken(
            DescribeDelegationTokenRequest::default().with_owners(None),
        );
        match call_as(cluster, principal, ApiKey::DescribeDelegationToken, 3, req) {
            ResponseKind::DescribeDelegationToken(r) => r.tokens.len(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_token_for_another_owner_needs_create_tokens_on_that_user() {
        let cluster = cluster();
        assert_eq!(
            create_for(&cluster, "User:alice", "bob").error_code,
            ResponseError::DelegationTokenAuthorizationFailed.code()
        );
        allow(
            &cluster,
            "User:alice",
            resource::USER,
            "User:bob",
            operation::CREATE_TOKENS,
        );
        let created = create_for(&cluster, "User:alice", "bob");
        assert_eq!(created.error_code, 0);
        assert_eq!(created.principal_name.as_str(), "bob");
        assert_eq!(created.token_requester_principal_name.as_str(), "alice");
        assert_eq!(created.hmac.len(), 64);
    }

    #[test]
    fn another_users_token_is_described_with_describe_tokens_on_its_owner() {
        let cluster = cluster();
        assert_eq!(create_for(&cluster, "User:alice", "alice").error_code, 0);
        assert_eq!(described_by(&cluster, "User:alice"), 1);
        assert_eq!(described_by(&cluster, "User:carol"), 0);
        allow(
            &cluster,
            "User:carol",
            resource::USER,
            "User:alice",
            operation::DESCRIBE_TOKENS,
        );
        assert_eq!(described_by(&cluster, "User:carol"), 1);
    }
}
