//! A minimal Lambda Runtime API on 127.0.0.1, enough for `lambda_runtime`: `GET
//! /2018-06-01/runtime/invocation/next` hands out one queued event, `POST
//! .../invocation/{id}/response` and `.../error` return its result, `POST .../init/error` reports a
//! failed start. Each result is timed from the moment its event was handed out.
//!
//! The same listener answers CloudWatch `SetAlarmState` (`POST /`, the query protocol), so a
//! function that re-arms its alarm can be pointed at it with `AWS_ENDPOINT_URL_CLOUDWATCH`; the
//! calls are counted. I/O: a TCP listener and the connections it accepts.

use crate::Error;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";

/// The ARN handed to the function with each event.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:bench";

/// How long the function is told it has for each event.
const DEADLINE: Duration = Duration::from_secs(60);

/// What a function returned for one event.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// From handing out the event to receiving the whole result.
    pub latency: Duration,
    /// `true` for `/response`, `false` for `/error`.
    pub ok: bool,
    /// The result or error document.
    pub body: Vec<u8>,
}

/// Something the function did that the harness waits for.
#[derive(Debug)]
pub enum Arrival {
    /// It asked for the next event, at this instant: it is ready.
    Next(Instant),
    /// It reported that it could not start.
    InitError(String),
}

struct Queued {
    event: Vec<u8>,
    reply: oneshot::Sender<Outcome>,
}

struct Pending {
    handed_out: Instant,
    reply: oneshot::Sender<Outcome>,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    arrivals: mpsc::UnboundedSender<Arrival>,
    pending: Mutex<HashMap<String, Pending>>,
    next_id: AtomicU64,
    rearms: AtomicU64,
}

/// A running Runtime API for one function process. Dropping it closes the listener and every
/// connection.
#[derive(Debug)]
pub struct RuntimeApi {
    address: SocketAddr,
    queue: mpsc::UnboundedSender<Queued>,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("rearms", &self.rearms)
            .finish_non_exhaustive()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// Listen on a port the OS chooses on 127.0.0.1.
    pub async fn start() -> Result<RuntimeApi, Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::io("binding the Runtime API listener"))?;
        let address = listener
            .local_addr()
            .map_err(Error::io("reading the Runtime API address"))?;
        let (queue, queued) = mpsc::unbounded_channel();
        let (arrived, arrivals) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(queued),
            arrivals: arrived,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            rearms: AtomicU64::new(0),
        });
        let task = tokio::spawn(serve(listener, shared.clone()));
        Ok(RuntimeApi {
            address,
            queue,
            arrivals,
            shared,
            task,
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API`: `127.0.0.1:PORT`.
    pub fn host_port(&self) -> String {
        self.address.to_string()
    }

    /// `AWS_ENDPOINT_URL_CLOUDWATCH`: `http://127.0.0.1:PORT`.
    pub fn cloudwatch_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many `SetAlarmState` calls arrived so far.
    pub fn rearms(&self) -> u64 {
        self.shared.rearms.load(Ordering::SeqCst)
    }

    /// The next thing the function did; `None` if the listener is gone.
    pub async fn next_arrival(&mut self) -> Option<Arrival> {
        self.arrivals.recv().await
    }

    /// Queue `event`; the receiver yields the function's result.
    pub fn queue(&self, event: Vec<u8>) -> oneshot::Receiver<Outcome> {
        let (reply, outcome) = oneshot::channel();
        // The receiving half lives in `shared`, as long as `self`: sending cannot fail.
        let _ = self.queue.send(Queued { event, reply });
        outcome
    }
}

/// Accept connections until aborted; aborting drops every connection it started.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| handle(shared.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if method == Method::GET && path == NEXT {
        return Ok(next(&shared).await);
    }
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes().to_vec(),
        Err(_) => return Ok(respond(StatusCode::BAD_REQUEST, "unreadable body")),
    };
    let received = Instant::now();
    if method == Method::POST && path == INIT_ERROR {
        let _ = shared.arrivals.send(Arrival::InitError(
            String::from_utf8_lossy(&body).into_owned(),
        ));
        return Ok(respond(StatusCode::ACCEPTED, r#"{"status":"OK"}"#));
    }
    if method == Method::POST && path == "/" {
        shared.rearms.fetch_add(1, Ordering::SeqCst);
        let mut response = respond(
            StatusCode::OK,
            "<SetAlarmStateResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
             <ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata>\
             </SetAlarmStateResponse>",
        );
        response.headers_mut().insert(
            "content-type",
            hyper::header::HeaderValue::from_static("text/xml"),
        );
        return Ok(response);
    }
    let result = path
        .strip_prefix(INVOCATION)
        .and_then(|rest| rest.split_once('/'))
        .filter(|_| method == Method::POST);
    let Some((id, kind @ ("response" | "error"))) = result else {
        return Ok(respond(
            StatusCode::NOT_FOUND,
            "not part of the Runtime API",
        ));
    };
    let pending = shared
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(id);
    match pending {
        Some(p) => {
            let _ = p.reply.send(Outcome {
                latency: received - p.handed_out,
                ok: kind == "response",
                body,
            });
            Ok(respond(StatusCode::ACCEPTED, r#"{"status":"OK"}"#))
        }
        None => Ok(respond(StatusCode::BAD_REQUEST, "unknown request id")),
    }
}

/// `GET .../invocation/next`: announce that the function is ready, then wait for an event.
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    let _ = shared.arrivals.send(Arrival::Next(Instant::now()));
    let Some(queued) = shared.queue.lock().await.recv().await else {
        return respond(StatusCode::INTERNAL_SERVER_ERROR, "the harness is gone");
    };
    let id = format!("bench-{:08}", shared.next_id.fetch_add(1, Ordering::SeqCst));
    let deadline = (SystemTime::now() + DEADLINE)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut response = respond(StatusCode::OK, queued.event);
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-type", "application/json".to_owned()),
        ("lambda-runtime-aws-request-id", id.clone()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            FUNCTION_ARN.to_owned(),
        ),
    ] {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
    shared
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(
            id,
            Pending {
                handed_out: Instant::now(),
                reply: queued.reply,
            },
        );
    response
}
