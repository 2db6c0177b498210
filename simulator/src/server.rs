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
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::arm::error::ArmError;
use crate::http::{HttpRequest, HttpResponse};
use crate::sim::{SimConfig, Simulator};
use crate::tls::{self, TlsMaterial};

mod head_deadline;
use head_deadline::{HeadDeadline, Progress};

/// Largest request body accepted; larger ones get an ARM-shaped 413.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// What one server lets its clients hold, so a flood of clients cannot exhaust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once. At the limit the accept loop *waits* for one to close: new clients
    /// queue in the kernel's listen backlog and are served as soon as a slot frees, instead of being
    /// refused (CI bursts succeed, slower). Idle connections free their slot after `header_read_timeout`.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, counted from when it last made progress (a
    /// request's head received, or its answer finished), so an idle keep-alive connection is closed
    /// after it too. A connection is closed between one and one and a half of it later (one timer a
    /// connection, ticking every half: `server/head_deadline.rs`); time spent making an answer never
    /// counts. HTTP/1 and HTTP/2 alike.
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 2048,
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `sim` over plain HTTP on `listener` with default [`Limits`] until `shutdown` resolves, then
/// drains open connections.
pub async fn run(
    listener: TcpListener,
    sim: Arc<Simulator>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run_with(listener, sim, None, Limits::default(), shutdown).await
}

/// [`run`] with explicit [`Limits`], over plain HTTP.
pub async fn run_with_limits(
    listener: TcpListener,
    sim: Arc<Simulator>,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
) -> std::io::Result<()> {
    run_with(listener, sim, None, limits, shutdown).await
}

/// Serves `sim` on `listener` — over TLS when `tls` is given — within `limits` until `shutdown` resolves,
/// then drains open connections (up to 5 s). ARM, identity and admin routes share the one port.
pub async fn run_with(
    listener: TcpListener,
    sim: Arc<Simulator>,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    // The header read timeout is kept by `head_deadline`, one timer a connection, not hyper's, one
    // a request.
    let builder = auto::Builder::new(TokioExecutor::new());
    let timeout = limits.header_read_timeout;
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed; stop rather than spin
            },
            () = &mut shutdown => break,
        };
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
                match &tls {
                    None => serve_connection(&builder, &graceful, stream, sim.clone(), timeout, slot),
                    Some(acceptor) => {
                        // The handshake runs in its own task so a slow client cannot stall the accept loop.
                        let (acceptor, builder, sim) = (acceptor.clone(), builder.clone(), sim.clone());
                        let watcher = graceful.watcher();
                        tokio::spawn(async move {
                            let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                            match handshake.await {
                                Ok(Ok(tls_stream)) => {
                                    let conn = serve(&builder, tls_stream, sim, timeout);
                                    if let Err(e) = watcher.watch(conn).await {
                                        tracing::debug!(error = %e, "TLS connection ended with an error");
                                    }
                                }
                                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                            drop(slot);
                        });
                    }
                }
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

/// What a connection's requests share: the simulator, and the count its head deadline reads.
struct Connection {
    sim: Arc<Simulator>,
    progress: Progress,
}

impl AsRef<Progress> for Connection {
    fn as_ref(&self) -> &Progress {
        &self.progress
    }
}

/// One connection's hyper future, answering every request through `sim`, closed when a request's
/// head is `header_read_timeout` overdue.
fn serve<IO>(
    builder: &auto::Builder<TokioExecutor>,
    io: IO,
    sim: Arc<Simulator>,
    header_read_timeout: Duration,
) -> impl hyper_util::server::graceful::GracefulConnection<
    Error = Box<dyn std::error::Error + Send + Sync>,
> + Send
       + 'static
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = Arc::new(Connection {
        sim,
        progress: Progress::default(),
    });
    let io = TokioIo::new(HeadDeadline::new(
        io,
        connection.clone(),
        header_read_timeout,
    ));
    let service = service_fn(move |req| {
        let connection = connection.clone();
        async move {
            let _answering = connection.progress.answering();
            deliver(answer(&connection.sim, req).await).await
        }
    });
    builder
        .serve_connection_with_upgrades(io, service)
        .into_owned()
}

fn serve_connection<IO>(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    io: IO,
    sim: Arc<Simulator>,
    header_read_timeout: Duration,
    slot: OwnedSemaphorePermit,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = graceful.watch(serve(builder, io, sim, header_read_timeout));
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
        drop(slot);
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

/// What goes on the wire: the whole body, or (a fault) part of it and then a cut. http-body-util's
/// `Either` rather than a boxed body, so answering does not allocate a box per response.
type WireBody = Either<Full<Bytes>, CutBody>;

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
    let body = match cut {
        None => Either::Left(body),
        Some(part) => Either::Right(CutBody {
            part: Some(part),
            pause: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
        }),
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
    let uri = parts.uri.into_parts();
    let mut request = HttpRequest::served(&parts.method, uri.path_and_query);
    request.headers = parts.headers;
    if !request.headers.contains_key(hyper::header::HOST) {
        // HTTP/2 sends the host as `:authority`, which hyper keeps in the URI.
        if let Some(host) = uri
            .authority
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            request.headers.insert(hyper::header::HOST, host);
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

/// Moves an answer into hyper's types: the header map is handed over as is. Its `Content-Length` is
/// the body's (set by [`Simulator::handle`]), which hyper sends rather than adding its own.
fn to_hyper(resp: HttpResponse) -> hyper::Response<Full<Bytes>> {
    let HttpResponse {
        status,
        headers,
        body,
        ..
    } = resp;
    let mut out = hyper::Response::new(Full::new(body));
    *out.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    *out.headers_mut() = headers;
    out
}

/// A simulator served on a loopback port in this process: what Rust tests and the harness use.
pub struct RunningServer {
    pub sim: Arc<Simulator>,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, or `https://…` when serving TLS.
    pub endpoint: String,
    /// The PEM clients must trust, when serving TLS.
    pub ca_pem: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// Binds `127.0.0.1:0`, builds the simulator with `base_url` set to the bound address, and serves
    /// plain HTTP.
    pub async fn start(config: SimConfig) -> Result<Self, String> {
        Self::start_with(config, None).await
    }

    /// As [`RunningServer::start`], over TLS with a fresh self-signed certificate (see `ca_pem`).
    pub async fn start_tls(config: SimConfig) -> Result<Self, String> {
        let material = tls::self_signed().map_err(|e| e.to_string())?;
        Self::start_with(config, Some(material)).await
    }

    pub async fn start_with(
        mut config: SimConfig,
        tls: Option<TlsMaterial>,
    ) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot bind 127.0.0.1:0: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let endpoint = format!("{scheme}://{addr}");
        let acceptor = match &tls {
            Some(m) => Some(tls::acceptor(m).map_err(|e| e.to_string())?),
            None => None,
        };
        config.base_url = endpoint.clone();
        let sim = Arc::new(Simulator::new(config)?);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run_with(
            listener,
            sim.clone(),
            acceptor,
            Limits::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            sim,
            addr,
            endpoint,
            ca_pem: tls.map(|m| m.cert_pem),
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
