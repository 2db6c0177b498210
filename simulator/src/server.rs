//! The accept loop: hyper in, [`Simulator::handle`] in the middle, hyper out.
//!
//! `run(listener, sim, shutdown)` is the whole server (mini-redis style): tests bind `127.0.0.1:0`, pass
//! their own shutdown future, and read the address from the listener. Connections are served with
//! HTTP/1.1 or HTTP/2 and drained on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::arm::error::ArmError;
use crate::http::{HttpRequest, HttpResponse};
use crate::sim::{SimConfig, Simulator};

/// Largest request body accepted; larger ones get an ARM-shaped 413.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Serves `sim` on `listener` until `shutdown` resolves, then drains open connections (up to 5 s).
pub async fn run(
    listener: TcpListener,
    sim: Arc<Simulator>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: keep serving the connections we have.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                serve_connection(&builder, &graceful, TokioIo::new(stream), sim.clone());
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(5)) => tracing::warn!("connections still open after 5 s; closing"),
    }
    Ok(())
}

fn serve_connection<IO>(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    io: TokioIo<IO>,
    sim: Arc<Simulator>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let sim = sim.clone();
        async move { deliver(answer(&sim, req).await).await }
    });
    let conn = builder
        .serve_connection_with_upgrades(io, service)
        .into_owned();
    let conn = graceful.watch(conn);
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    });
}

/// Why an answer was not delivered: a fault asked for the connection to be dropped or cut.
#[derive(Debug)]
struct InjectedDisconnect;

impl std::fmt::Display for InjectedDisconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by an armsim fault")
    }
}

impl std::error::Error for InjectedDisconnect {}

type WireBody = BoxBody<Bytes, InjectedDisconnect>;

/// Puts an answer on the wire as its [`crate::fault::Delivery`] says: late, not at all (an error from
/// the service makes hyper close the connection), or cut short (part of the body, then an error).
async fn deliver(resp: HttpResponse) -> Result<hyper::Response<WireBody>, InjectedDisconnect> {
    let delivery = resp.delivery;
    if delivery.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delivery.delay_ms)).await;
    }
    if delivery.drop_connection {
        return Err(InjectedDisconnect);
    }
    let cut = delivery
        .truncate_at
        .map(|n| resp.body.slice(..n.min(resp.body.len())));
    let full_len = resp.body.len();
    let (parts, body) = to_hyper(resp).into_parts();
    let body: WireBody = match cut {
        None => body.map_err(|never| match never {}).boxed(),
        Some(part) => CutBody {
            part: Some(part),
            pause: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
        }
        .boxed(),
    };
    let mut resp = hyper::Response::from_parts(parts, body);
    if delivery.truncate_at.is_some() {
        // Promise the whole body, deliver part of it: what a connection cut mid-transfer looks like.
        if let Ok(v) = hyper::header::HeaderValue::from_str(&full_len.to_string()) {
            resp.headers_mut().insert(hyper::header::CONTENT_LENGTH, v);
        }
    }
    Ok(resp)
}

/// A body that yields part of the bytes, waits a moment (so hyper flushes the headers and that part),
/// then fails: hyper closes the connection mid-body, as a cut transfer looks to a client.
struct CutBody {
    part: Option<Bytes>,
    pause: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for CutBody {
    type Data = Bytes;
    type Error = InjectedDisconnect;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, InjectedDisconnect>>> {
        if let Some(part) = self.part.take() {
            return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(part))));
        }
        match self.pause.as_mut().poll(cx) {
            std::task::Poll::Pending => std::task::Poll::Pending,
            std::task::Poll::Ready(()) => std::task::Poll::Ready(Some(Err(InjectedDisconnect))),
        }
    }
}

async fn answer(sim: &Simulator, req: hyper::Request<Incoming>) -> HttpResponse {
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut request = HttpRequest::new(parts.method.as_str(), &path_and_query);
    for (name, value) in &parts.headers {
        request.headers.push((
            name.as_str().to_string(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        ));
    }
    if request.header_value("host").is_none() {
        if let Some(authority) = parts.uri.authority() {
            request.headers.push(("host".into(), authority.to_string()));
        }
    }
    let response = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => {
            request.body = collected.to_bytes();
            sim.handle(request)
        }
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            HttpResponse::error(&ArmError::body_too_large(MAX_BODY_BYTES))
        }
        Err(e) => HttpResponse::error(&ArmError::new(
            400,
            "InvalidRequestContent",
            format!("The request body could not be read: {e}"),
        )),
    };
    response
}

fn to_hyper(resp: HttpResponse) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder().status(resp.status);
    for (name, value) in &resp.headers {
        if name.eq_ignore_ascii_case("content-length") {
            continue; // hyper sets it from the body
        }
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(resp.body))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::from_static(b"{\"error\":{\"code\":\"InternalServerError\",\"message\":\"invalid response header\"}}"))))
}

/// A simulator served on a loopback port in this process: what Rust tests and the harness use.
pub struct RunningServer {
    pub sim: Arc<Simulator>,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// Binds `127.0.0.1:0`, builds the simulator with `base_url` set to the bound address, and serves.
    pub async fn start(mut config: SimConfig) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot bind 127.0.0.1:0: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let endpoint = format!("http://{addr}");
        config.base_url = endpoint.clone();
        let sim = Arc::new(Simulator::new(config)?);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, sim.clone(), async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            sim,
            addr,
            endpoint,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Stops accepting, drains connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
