//! The one place every decoded request passes on its way to its handler, so that the request log,
//! injected latency and injected faults (`crate::faults`) see all of them.

use std::sync::Arc;
use std::time::Instant;

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use super::{error_response, RequestContext};
use crate::faults::{now_ms, FaultAction, RequestInfo, RequestRecord};

/// What to send back for a request.
pub struct Served {
    /// `None`: nothing is sent (a produce with acks=0, or a dropped request or response).
    pub response: Option<ResponseKind>,
    /// Close the connection once `response`, if any, is sent.
    pub close: bool,
}

/// Serves a request through the test controls: waits out any injected latency, then either
/// fires the fault armed for it or hands it to its handler, and logs it.
pub async fn serve(ctx: &RequestContext, api_key: ApiKey, body: RequestKind) -> Served {
    let started = Instant::now();
    let timestamp_ms = now_ms();
    let faults = &ctx.cluster.faults;
    let fault = if faults.armed() {
        let info = RequestInfo {
            api: api_key,
            broker_id: ctx.broker_id,
            client_id: ctx.client_id(),
        };
        let latency = faults.delay_for(&info);
        if !latency.is_zero() {
            let mut shutdown = ctx.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(latency) => {}
                _ = shutdown.changed() => {}
            }
        }
        faults.take(&info, || error_response::topics(&body, &ctx.cluster))
    } else {
        None
    };
    let served = match fault {
        None => Served {
            response: super::handle(ctx, body).await,
            close: false,
        },
        Some(FaultAction::Error(error)) => Served {
            response: error_response::build(ctx, &body, error),
            close: false,
        },
        Some(FaultAction::DropRequest) => Served {
            response: None,
            close: true,
        },
        Some(FaultAction::DropResponse) => {
            super::handle(ctx, body).await;
            Served {
                response: None,
                close: true,
            }
        }
    };
    faults.record(RequestRecord {
        api: api_key,
        version: ctx.version(),
        correlation_id: ctx.header.correlation_id,
        client_id: Arc::from(ctx.client_id()),
        broker_id: ctx.broker_id,
        connection_id: ctx.connection_id,
        error_code: served
            .response
            .as_ref()
            .map_or(0, error_response::error_code),
        injected: fault.is_some(),
        timestamp_ms,
        duration: started.elapsed(),
    });
    served
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Fault;
    use crate::handlers::tests::sample_request;
    use crate::state::{BrokerConfig, BrokerNode, Cluster};
    use kafka_protocol::error::ResponseError;
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::protocol::StrBytes;
    use tokio::sync::watch;

    fn context(cluster: &Arc<Cluster>, api_key: ApiKey, version: i16) -> RequestContext {
        RequestContext {
            cluster: cluster.clone(),
            broker_id: 0,
            header: RequestHeader::default()
                .with_request_api_key(api_key as i16)
                .with_request_api_version(version)
                .with_client_id(Some(StrBytes::from_static_str("svc"))),
            client_host: "/127.0.0.1".into(),
            principal: crate::handlers::ANONYMOUS.into(),
            token_authenticated: false,
            listener: "PLAINTEXT".into(),
            connection_id: 0,
            shutdown: watch::channel(false).1,
        }
    }

    fn fault(action: FaultAction) -> Fault {
        Fault {
            api: ApiKey::CreateTopics,
            action,
            count: 1,
            topic: Some("new".into()),
            broker: None,
            client_id: Some("svc".into()),
        }
    }

    #[test]
    fn faults_answer_instead_of_the_handler_and_every_request_is_logged() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cluster = Arc::new(Cluster::new("test".into(), BrokerConfig::default()));
        cluster.add_broker(BrokerNode {
            node_id: 0,
            host: "127.0.0.1".into(),
            port: 9092,
        });
        let create = |cluster: &Arc<Cluster>| {
            let ctx = context(cluster, ApiKey::CreateTopics, 7);
            runtime.block_on(serve(
                &ctx,
                ApiKey::CreateTopics,
                sample_request(ApiKey::CreateTopics, 7),
            ))
        };

        // An injected error: the topic is not created.
        cluster
            .faults
            .fail_next(fault(FaultAction::Error(ResponseError::NotController)));
        let served = create(&cluster);
        let response = served.response.expect("answered");
        assert_eq!(
            error_response::error_code(&response),
            ResponseError::NotController.code()
        );
        assert!(!served.close);
        assert!(cluster.topics.get("new").is_none());

        // A dropped response: the topic is created, nothing is answered, the connection closes.
        cluster.faults.fail_next(fault(FaultAction::DropResponse));
        let served = create(&cluster);
        assert!(served.response.is_none() && served.close);
        assert!(cluster.topics.get("new").is_some());

        // No fault left: served normally (the topic exists now).
        let served = create(&cluster);
        assert_eq!(
            error_response::error_code(&served.response.unwrap()),
            ResponseError::TopicAlreadyExists.code()
        );

        let log = cluster.faults.requests();
        let summary: Vec<_> = log
            .iter()
            .map(|r| (r.api, &*r.client_id, r.error_code, r.injected))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    ApiKey::CreateTopics,
                    "svc",
                    ResponseError::NotController.code(),
                    true
                ),
                (ApiKey::CreateTopics, "svc", 0, true),
                (
                    ApiKey::CreateTopics,
                    "svc",
                    ResponseError::TopicAlreadyExists.code(),
                    false
                ),
            ]
        );
    }
}
