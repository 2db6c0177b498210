//! `hyper-floor ADDR [--arm-headers] [--busy-ns N]`: reads each request to its end and answers
//! `202 Accepted` with an empty body. What a hyper server costs with nothing behind it: the practical limit.
//!
//! By default the answer carries the two headers a poller needs (`Location`, `Retry-After`): the floor the
//! issue's targets are measured against. With `--arm-headers` it carries the same twelve headers, of the
//! same sizes, as armsim's poll answer, as compile-time constants (no parsing, no allocation per header):
//! what the wire and hyper's header handling cost for the headers ARM makes armsim send, which separates
//! that from what armsim's own work costs.
//!
//! `--busy-ns N` spins N nanoseconds (reading the clock, touching no memory) before each answer: the
//! floor given armsim's user time but not its memory and code, which `bench/split.sh` uses to tell the
//! kernel time armsim's footprint costs from the time its own instructions take.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

const LOCATION: &str = "http://127.0.0.1:40000/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers/Microsoft.ApiManagement/service/contoso-apim-premium/operationresults/d2VzdHVzOmNvbnRvc28tYXBpbS1wcmVtaXVtX0JhY2t1cF8xODI1ZjEwZA==?api-version=2024-05-01";

macro_rules! h {
    ($n:expr, $v:expr) => {
        (HeaderName::from_static($n), HeaderValue::from_static($v))
    };
}

/// The two headers a poller needs.
const POLL_HEADERS: [(HeaderName, HeaderValue); 2] =
    [h!("location", LOCATION), h!("retry-after", "60")];

/// The rest of armsim's poll answer, byte for byte in size (its ids, its date).
const ARM_HEADERS: [(HeaderName, HeaderValue); 10] = [
    h!("cache-control", "no-cache"),
    h!("pragma", "no-cache"),
    h!("expires", "-1"),
    h!("x-ms-request-id", "69b82ebc-9223-4300-80d2-9eb57de1d510"),
    h!(
        "x-ms-correlation-request-id",
        "a2f09dab-b45c-4316-ae52-1d7a0f4d3872"
    ),
    h!(
        "x-ms-routing-request-id",
        "WESTUS:20260101T000000Z:a2f09dab-b45c-4316-ae52-1d7a0f4d3872"
    ),
    h!("x-ms-ratelimit-remaining-subscription-reads", "11999"),
    h!(
        "strict-transport-security",
        "max-age=31536000; includeSubDomains"
    ),
    h!("x-content-type-options", "nosniff"),
    h!("date", "Thu, 01 Jan 2026 00:00:00 GMT"),
];

fn answer(arm_headers: bool) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::new()));
    *r.status_mut() = hyper::StatusCode::ACCEPTED;
    let h = r.headers_mut();
    h.reserve(16);
    h.extend(POLL_HEADERS);
    if arm_headers {
        h.extend(ARM_HEADERS);
    }
    r
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let args: Vec<String> = std::env::args().collect();
    let arm_headers = args.iter().any(|a| a == "--arm-headers");
    let busy = match args.iter().position(|a| a == "--busy-ns") {
        None => None,
        Some(i) => match args.get(i + 1).and_then(|n| n.parse::<u64>().ok()) {
            Some(ns) => Some(std::time::Duration::from_nanos(ns)),
            None => {
                eprintln!("hyper-floor: --busy-ns needs a number of nanoseconds");
                std::process::exit(2);
            }
        },
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "{{\"event\":\"ready\",\"endpoint\":\"http://{}\"}}",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            // The request is read to its end, body included, as any server must before answering
            // (a POST's body, the backup request, is read like armsim reads it).
            let service = service_fn(move |req: hyper::Request<Incoming>| async move {
                let _ = req.into_body().collect().await;
                if let Some(busy) = busy {
                    let started = std::time::Instant::now();
                    while started.elapsed() < busy {
                        std::hint::spin_loop();
                    }
                }
                Ok::<_, Infallible>(answer(arm_headers))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
