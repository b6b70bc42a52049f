//! SaslHandshake and SaslAuthenticate (KIP-43, KIP-152, KIP-368). On a SASL listener the
//! connection's `Session` (kept by the server's serve loop) drives the exchange; anywhere else
//! these requests are refused with ILLEGAL_SASL_STATE, as Kafka's request handler refuses them.
//! Any other request between SaslHandshake and the end of SaslAuthenticate is answered with
//! ILLEGAL_SASL_STATE too, and the connection then closes.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    MetadataResponse, RequestKind, ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{error_response, RequestContext};
use crate::state::security::sasl::{Authenticate, Handshake, Session};
use crate::state::Cluster;

/// A response to send, and whether the connection closes once it is sent.
pub struct Reply<T> {
    pub response: T,
    pub close: bool,
}

fn enabled_mechanisms(cluster: &Cluster) -> Vec<StrBytes> {
    cluster
        .credentials
        .mechanisms
        .iter()
        .map(|m| StrBytes::from_static_str(m.name()))
        .collect()
}

/// SaslHandshake on a SASL listener: the mechanism is chosen, or refused with the enabled ones
/// listed and the connection closed.
pub fn handshake(
    ctx: &RequestContext,
    req: SaslHandshakeRequest,
    session: &mut Session,
) -> Reply<SaslHandshakeResponse> {
    let outcome = session.handshake(&ctx.cluster.credentials, &req.mechanism, ctx.version());
    let response =
        SaslHandshakeResponse::default().with_mechanisms(enabled_mechanisms(&ctx.cluster));
    match outcome {
        Handshake::Accepted => Reply {
            response,
            close: false,
        },
        Handshake::UnsupportedMechanism => Reply {
            response: response.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
            close: true,
        },
    }
}

/// SaslAuthenticate on a SASL listener: one round of the mechanism's exchange. A failure is
/// answered with SASL_AUTHENTICATION_FAILED and closes the connection.
pub fn authenticate(
    ctx: &RequestContext,
    req: SaslAuthenticateRequest,
    session: &mut Session,
    now_ms: i64,
) -> Reply<SaslAuthenticateResponse> {
    match session.authenticate(&ctx.cluster.credentials, &req.auth_bytes, now_ms) {
        Authenticate::Challenge(challenge) => Reply {
            response: SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(challenge)),
            close: false,
        },
        Authenticate::Done {
            response,
            session_lifetime_ms,
        } => Reply {
            response: SaslAuthenticateResponse::default()
                .with_auth_bytes(Bytes::from(response))
                // v0 has no such field; its clients just see the connection closed at expiry.
                .with_session_lifetime_ms(if ctx.version() >= 1 {
                    session_lifetime_ms
                } else {
                    0
                }),
            close: false,
        },
        Authenticate::Failed(message) => Reply {
            response: SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                .with_error_message(Some(StrBytes::from_string(message))),
            close: true,
        },
    }
}

/// A raw SASL token, after a v0 handshake: the reply token, or why authentication failed (the
/// connection then closes without a word, as Kafka does for these clients).
pub fn raw_token(
    cluster: &Cluster,
    session: &mut Session,
    token: &[u8],
    now_ms: i64,
) -> Result<Vec<u8>, String> {
    match session.authenticate(&cluster.credentials, token, now_ms) {
        Authenticate::Challenge(reply) => Ok(reply),
        Authenticate::Done { response, .. } => Ok(response),
        Authenticate::Failed(message) => Err(message),
    }
}

/// SaslHandshake where no exchange is expected: a listener without SASL, or an authenticated
/// connection on a broker that does not re-authenticate.
pub fn handshake_refused(
    _ctx: &RequestContext,
    _req: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    // Kafka lists no mechanisms here.
    SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code())
}

/// SaslAuthenticate where no exchange is going on.
pub fn authenticate_refused(
    _ctx: &RequestContext,
    _req: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(StrBytes::from_static_str(
            "SaslAuthenticate request received after successful authentication",
        )))
}

/// A request other than SaslAuthenticate while a login is under way: its error response with
/// ILLEGAL_SASL_STATE and `reason`, as Kafka sends before closing the connection; `None` where
/// there is none to send (the connection just closes).
pub fn refused_mid_login(
    ctx: &RequestContext,
    body: &RequestKind,
    reason: &str,
) -> Option<ResponseKind> {
    let error = ResponseError::IllegalSaslState;
    // Nothing about the cluster goes to an unauthenticated client: unlike an injected fault,
    // Kafka's error response lists no brokers and only the topics the request named.
    if let RequestKind::Metadata(req) = body {
        let topics = req.topics.iter().flatten().map(|t| {
            MetadataResponseTopic::default()
                .with_name(Some(t.name.clone().unwrap_or_default()))
                .with_topic_id(t.topic_id)
                .with_error_code(error.code())
        });
        return Some(ResponseKind::Metadata(
            MetadataResponse::default().with_topics(topics.collect()),
        ));
    }
    let message = StrBytes::from_string(reason.to_string());
    let mut response = error_response::build_with_message(ctx, body, error, message)?;
    if let ResponseKind::DescribeCluster(r) = &mut response {
        r.cluster_id = StrBytes::default();
    }
    Some(response)
}
