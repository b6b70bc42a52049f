//! CreateAcls, DescribeAcls, DeleteAcls; and the SCRAM credential APIs,
//! DescribeUserScramCredentials and AlterUserScramCredentials.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, CreateAclsRequest,
    CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
use super::RequestContext;
use crate::state::security::acls::{validate, AclBinding, AclFilter};
use crate::state::security::sasl::{Mechanism, ScramCredential};

fn text(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// CLUSTER_AUTHORIZATION_FAILED with Kafka's message, unless `op` on the cluster is allowed.
fn authorize_cluster(ctx: &RequestContext, op: i8) -> Result<(), (i16, Option<StrBytes>)> {
    authz::cluster(ctx, op).map_err(|error| (error.code(), Some(text(authz::message(error)))))
}

pub fn create(ctx: &RequestContext, req: CreateAclsRequest) -> CreateAclsResponse {
    if let Err((code, message)) = authorize_cluster(ctx, operation::ALTER) {
        let results = req
            .creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
            })
            .collect();
        return CreateAclsResponse::default().with_results(results);
    }
    let results = req
        .creations
        .into_iter()
        .map(|c| {
            let acl = AclBinding {
                resource_type: c.resource_type,
                resource_name: c.resource_name.to_string(),
                pattern_type: c.resource_pattern_type,
                principal: c.principal.to_string(),
                host: c.host.to_string(),
                operation: c.operation,
                permission: c.permission_type,
            };
            match validate(&acl) {
                Ok(()) => {
                    ctx.cluster.acls.add(acl);
                    AclCreationResult::default()
                }
                Err(message) => AclCreationResult::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(text(message))),
            }
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

pub fn describe(ctx: &RequestContext, req: DescribeAclsRequest) -> DescribeAclsResponse {
    if let Err((code, message)) = authorize_cluster(ctx, operation::DESCRIBE) {
        return DescribeAclsResponse::default()
            .with_error_code(code)
            .with_error_message(message);
    }
    let filter = AclFilter {
        resource_type: req.resource_type_filter,
        resource_name: req.resource_name_filter.map(|s| s.to_string()),
        pattern_type: req.pattern_type_filter,
        principal: req.principal_filter.map(|s| s.to_string()),
        host: req.host_filter.map(|s| s.to_string()),
        operation: req.operation,
        permission: req.permission_type,
    };
    // Grouped by resource pattern, as Kafka answers.
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for acl in ctx.cluster.acls.describe(&filter) {
        let description = AclDescription::default()
            .with_principal(text(acl.principal))
            .with_host(text(acl.host))
            .with_operation(acl.operation)
            .with_permission_type(acl.permission);
        match resources.iter_mut().find(|r| {
            r.resource_type == acl.resource_type
                && r.resource_name.as_str() == acl.resource_name
                && r.pattern_type == acl.pattern_type
        }) {
            Some(resource) => resource.acls.push(description),
            None => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(acl.resource_type)
                    .with_resource_name(text(acl.resource_name))
                    .with_pattern_type(acl.pattern_type)
                    .with_acls(vec![description]),
            ),
        }
    }
    DescribeAclsResponse::default().with_resources(resources)
}

pub fn delete(ctx: &RequestContext, req: DeleteAclsRequest) -> DeleteAclsResponse {
    if let Err((code, message)) = authorize_cluster(ctx, operation::ALTER) {
        let results = req
            .filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
            })
            .collect();
        return DeleteAclsResponse::default().with_filter_results(results);
    }
    let filter_results = req
        .filters
        .into_iter()
        .map(|f| {
            let filter = AclFilter {
                resource_type: f.resource_type_filter,
                resource_name: f.resource_name_filter.map(|s| s.to_string()),
                pattern_type: f.pattern_type_filter,
                principal: f.principal_filter.map(|s| s.to_string()),
                host: f.host_filter.map(|s| s.to_string()),
                operation: f.operation,
                permission: f.permission_type,
            };
            let matching = ctx
                .cluster
                .acls
                .delete(&filter)
                .into_iter()
                .map(|acl| {
                    DeleteAclsMatchingAcl::default()
                        .with_error_message(None)
                        .with_resource_type(acl.resource_type)
                        .with_resource_name(text(acl.resource_name))
                        .with_pattern_type(acl.pattern_type)
                        .with_principal(text(acl.principal))
                        .with_host(text(acl.host))
                        .with_operation(acl.operation)
                        .with_permission_type(acl.permission)
                })
                .collect();
            // Kafka's ApiError.NONE, here and in each matching ACL: a null message.
            DeleteAclsFilterResult::default()
                .with_error_message(None)
                .with_matching_acls(matching)
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(filter_results)
}

pub fn describe_scram(
    ctx: &RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let credentials = &ctx.cluster.credentials;
    if let Err((code, message)) = authorize_cluster(ctx, operation::DESCRIBE) {
        let results = req
            .users
            .unwrap_or_default()
            .into_iter()
            .map(|u| {
                DescribeUserScramCredentialsResult::default()
                    .with_user(u.name)
                    .with_error_code(code)
                    .with_error_message(message.clone())
            })
            .collect();
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(code)
            .with_error_message(message)
            .with_results(results);
    }
    let users: Vec<String> = match req.users {
        Some(users) if !users.is_empty() => users.into_iter().map(|u| u.name.to_string()).collect(),
        _ => credentials.scram_users(),
    };
    let results = users
        .into_iter()
        .map(|user| {
            let info = credentials.scram_info(&user);
            let result =
                DescribeUserScramCredentialsResult::default().with_user(text(user.clone()));
            if info.is_empty() {
                return result
                    .with_error_code(ResponseError::ResourceNotFound.code())
                    .with_error_message(Some(text(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    ))));
            }
            result.with_credential_infos(
                info.into_iter()
                    .map(|(m, iterations)| {
                        CredentialInfo::default()
                            .with_mechanism(m.scram_code())
                            .with_iterations(iterations as i32)
                    })
                    .collect(),
            )
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

/// Kafka's bounds on SCRAM iterations.
const MIN_ITERATIONS: i32 = 4096;
const MAX_ITERATIONS: i32 = 16384;

pub fn alter_scram(
    ctx: &RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let credentials = &ctx.cluster.credentials;
    if let Err(error) = authz::cluster(ctx, operation::ALTER) {
        let users = req.deletions.into_iter().map(|d| d.name.to_string());
        let users = users.chain(req.upsertions.into_iter().map(|u| u.name.to_string()));
        let results = users
            .map(|user| result(user, Some((error, authz::message(error)))))
            .collect();
        return AlterUserScramCredentialsResponse::default().with_results(results);
    }
    let mut results = Vec::new();
    for deletion in req.deletions {
        let user = deletion.name.to_string();
        let error = match Mechanism::from_scram_code(deletion.mechanism) {
            None => Some((
                ResponseError::UnsupportedSaslMechanism,
                "Unknown SCRAM mechanism",
            )),
            Some(m) if !credentials.remove_scram(&user, m) => Some((
                ResponseError::ResourceNotFound,
                "Attempt to delete a user credential that does not exist",
            )),
            Some(_) => None,
        };
        results.push(result(user, error));
    }
    for upsertion in req.upsertions {
        let user = upsertion.name.to_string();
        let error = match Mechanism::from_scram_code(upsertion.mechanism) {
            None => Some((
                ResponseError::UnsupportedSaslMechanism,
                "Unknown SCRAM mechanism",
            )),
            Some(_) if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&upsertion.iterations) => {
                Some((
                    ResponseError::UnacceptableCredential,
                    "Iterations must be between 4096 and 16384",
                ))
            }
            Some(_) if upsertion.salt.is_empty() || upsertion.salted_password.is_empty() => Some((
                ResponseError::UnacceptableCredential,
                "Salt and salted password must not be empty",
            )),
            Some(m) => {
                let credential = ScramCredential::from_salted_password(
                    m,
                    upsertion.salt.to_vec(),
                    &upsertion.salted_password,
                    upsertion.iterations as u32,
                );
                credentials.set_scram(&user, m, credential);
                None
            }
        };
        results.push(result(user, error));
    }
    AlterUserScramCredentialsResponse::default().with_results(results)
}

fn result(user: String, error: Option<(ResponseError, &str)>) -> AlterUserScramCredentialsResult {
    let result = AlterUserScramCredentialsResult::default().with_user(text(user));
    match error {
        None => result.with_error_message(None),
        Some((error, message)) => result
            .with_error_code(error.code())
            .with_error_message(Some(text(message))),
    }
}
