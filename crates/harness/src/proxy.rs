//! The functions' CloudWatch endpoint in a run whose fault is a refused `SetAlarmState`: a small
//! HTTP proxy in front of moto that passes every call through, except that while
//! [`CloudWatchProxy::refuse_set_alarm_state`] is on it answers `SetAlarmState` itself with
//! CloudWatch's 403 `AccessDenied`, as after an IAM change that dropped
//! `cloudwatch:SetAlarmState` from the functions' roles. `DescribeAlarms` (the heartbeat's read)
//! still passes, and so do the model's own calls, which go to moto directly: CloudWatch keeps
//! evaluating the alarms, only the functions cannot re-arm them.
//!
//! Does I/O: a listener on 127.0.0.1 and HTTP to moto.

use crate::Error;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Debug)]
struct Shared {
    upstream: String,
    refuse: AtomicBool,
    refused: AtomicU32,
    http: reqwest::Client,
}

/// A running proxy; dropping it stops accepting connections.
#[derive(Debug)]
pub struct CloudWatchProxy {
    endpoint: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl CloudWatchProxy {
    /// Listen on a free port of 127.0.0.1, in front of the CloudWatch API at `upstream`.
    pub async fn start(upstream: &str) -> Result<Self, Error> {
        let fail = |e: std::io::Error| Error::MotoStart {
            detail: format!("the CloudWatch proxy cannot listen: {e}"),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(fail)?;
        let port = listener.local_addr().map_err(fail)?.port();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            refuse: AtomicBool::new(false),
            refused: AtomicU32::new(0),
            http: reqwest::Client::new(),
        });
        let task = serve(
            listener,
            Arc::clone(&shared),
            |shared, request| async move { handle(&shared, request).await },
        );
        Ok(CloudWatchProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            shared,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, for the functions' `AWS_ENDPOINT_URL_CLOUDWATCH`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Refuse (`true`) or pass (`false`) the `SetAlarmState` calls from now on.
    pub fn refuse_set_alarm_state(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::SeqCst);
    }

    /// How many `SetAlarmState` calls it has refused.
    pub fn refused(&self) -> u32 {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

/// Answer every connection to `listener` with `answer(shared, request)`, HTTP/1.1, until the
/// returned task is aborted.
pub(crate) fn serve<S, F, Fut>(listener: TcpListener, shared: Arc<S>, answer: F) -> JoinHandle<()>
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let shared = Arc::clone(&shared);
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let reply = answer(Arc::clone(&shared), request);
                    async move { Ok::<_, Infallible>(reply.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

impl Drop for CloudWatchProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn response(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

/// CloudWatch's answer when the caller's role lacks `cloudwatch:SetAlarmState`.
fn access_denied(alarm: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error>\
         <Type>Sender</Type><Code>AccessDenied</Code><Message>User: \
         arn:aws:sts::{account}:assumed-role/queue-scaler/function is not authorized to perform: \
         cloudwatch:SetAlarmState on resource: arn:aws:cloudwatch:{region}:{account}:alarm:{alarm} \
         because no identity-based policy allows the cloudwatch:SetAlarmState action</Message>\
         </Error><RequestId>simulated-access-denied</RequestId></ErrorResponse>",
        account = crate::events::ACCOUNT,
        region = crate::events::REGION,
    );
    response(StatusCode::FORBIDDEN, "text/xml", body)
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return response(StatusCode::BAD_REQUEST, "text/plain", e.to_string()),
    };
    let param = |name: &str| {
        url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if shared.refuse.load(Ordering::SeqCst) && param("Action").as_deref() == Some("SetAlarmState") {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return access_denied(&param("AlarmName").unwrap_or_default());
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forward = shared
        .http
        .request(parts.method.clone(), format!("{}{path}", shared.upstream));
    for (name, value) in &parts.headers {
        if name != HOST && name != CONTENT_LENGTH {
            forward = forward.header(name, value);
        }
    }
    let answer = match forward.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => return response(StatusCode::BAD_GATEWAY, "text/plain", e.to_string()),
    };
    let status = answer.status();
    let content_type = answer
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/xml")
        .to_owned();
    match answer.bytes().await {
        Ok(bytes) => response(status, &content_type, bytes),
        Err(e) => response(StatusCode::BAD_GATEWAY, "text/plain", e.to_string()),
    }
}
