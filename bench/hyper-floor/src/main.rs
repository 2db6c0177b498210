//! `hyper-floor ADDR`: answers every request with `202 Accepted`, an empty body and the two headers an
//! armsim poll answer carries. What a hyper server costs with nothing behind it: the practical limit.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("{{\"event\":\"ready\",\"endpoint\":\"http://{}\"}}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|_req| async {
                Ok::<_, Infallible>(
                    hyper::Response::builder()
                        .status(202)
                        .header("location", "http://127.0.0.1/operationresults/x")
                        .header("retry-after", "1")
                        .body(Full::new(Bytes::new()))
                        .unwrap_or_default(),
                )
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
