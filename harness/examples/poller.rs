//! A Rust poller for API Management backup and restore, and the property test its authors would write
//! with `armsim_harness::fuzz::check_poller`: for every generated server behaviour (running polls,
//! `Retry-After` of 0 to 5 s or none, changing, Azure-AsyncOperation, relative or new Location, 429,
//! 500/503, a dropped connection, latency, a 404 on an early poll, service failures), it reaches the
//! right outcome and breaks no oracle rule.
//!
//! Every wait goes through `env.sleep` (in production it would be `tokio::time::sleep`): the check runs
//! the waits at a tenth of their length and the simulator's clock ten times faster, so the poller sees
//! the same answers as in real time and a case costs a fraction of a second.
//!
//! `cargo test -p armsim-harness --example poller` runs the property test (`PROPTEST_CASES=N` for more);
//! `cargo run -p armsim-harness --example poller` runs it too and prints the time per case.

use std::time::Duration;

use armsim_harness::fuzz::{PollerEnv, PollerOutcome};
use armsim_harness::http::{HttpClient, Response};
use serde_json::Value;

/// The poller's own interval, for answers without a usable `Retry-After` (none, or 0).
const INTERVAL: Duration = Duration::from_secs(1);

/// How long the answer asks to wait: its `Retry-After` (seconds), else the poller's interval — a 0
/// too, as the official SDKs read it (polling at once would be legal as well).
fn retry_after(r: &Response) -> Duration {
    r.header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(INTERVAL, Duration::from_secs)
}

/// Worth asking again: a 429 or 5xx, or a 4xx that says when to ask again (a poll's 404 right after
/// the 202 means the operation is not visible yet).
fn transient(r: &Response) -> bool {
    r.status == 429 || r.status >= 500 || (r.status >= 400 && r.header("retry-after").is_some())
}

fn error_code(r: &Response) -> String {
    r.json()
        .and_then(|v| {
            v.pointer("/error/code")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("HttpError{}", r.status))
}

/// One request, retried on transient answers and broken connections after their `Retry-After`.
async fn send(
    env: &PollerEnv,
    http: &HttpClient,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Result<Response, String> {
    let mut last = String::new();
    for _ in 0..8 {
        match http.send(method, url, &[], body, false).await {
            Ok(r) if transient(&r) => {
                last = error_code(&r);
                env.sleep(retry_after(&r)).await;
            }
            Ok(r) => return Ok(r),
            Err(e) => {
                last = e;
                env.sleep(INTERVAL).await;
            }
        }
    }
    Err(last)
}

/// Starts the backup or restore and polls it to the end, the way ARM says.
pub async fn backup_or_restore(env: PollerEnv) -> Result<(), String> {
    let http = HttpClient::new(&env.endpoint, Some(env.token.clone()))?;
    let accepted = send(
        &env,
        &http,
        "POST",
        &env.action_url(),
        Some(&env.action_body()),
    )
    .await?;
    match accepted.status {
        200 | 201 | 204 => return Ok(()),
        202 => {}
        _ => return Err(error_code(&accepted)),
    }
    let status_url = accepted.header("azure-asyncoperation").map(str::to_string);
    let mut location = accepted.header("location").map(str::to_string);
    let mut wait = retry_after(&accepted);
    loop {
        env.sleep(wait).await;
        let url = status_url
            .clone()
            .or_else(|| location.clone())
            .ok_or("no monitor URL")?;
        let r = send(&env, &http, "GET", &url, None).await?;
        wait = retry_after(&r);
        if status_url.is_some() {
            if r.status >= 400 {
                return Err(error_code(&r));
            }
            let doc = r.json().unwrap_or_default();
            match doc.get("status").and_then(Value::as_str).unwrap_or("") {
                "Succeeded" => {
                    let Some(result) = &location else {
                        return Ok(());
                    };
                    let last = send(&env, &http, "GET", result, None).await?;
                    return if last.status < 300 {
                        Ok(())
                    } else {
                        Err(error_code(&last))
                    };
                }
                "Failed" | "Canceled" => {
                    return Err(doc
                        .pointer("/error/code")
                        .and_then(Value::as_str)
                        .unwrap_or("OperationFailed")
                        .to_string())
                }
                _ => continue,
            }
        }
        match r.status {
            202 => location = r.header("location").map(str::to_string).or(location),
            200..=299 => return Ok(()),
            _ => return Err(error_code(&r)),
        }
    }
}

/// What `check_poller` wants: the poller's conclusion.
pub async fn poller(env: PollerEnv) -> PollerOutcome {
    match backup_or_restore(env).await {
        Ok(()) => PollerOutcome::Succeeded,
        Err(code) => PollerOutcome::Failed { code },
    }
}

fn main() {
    let started = std::time::Instant::now();
    let check =
        armsim_harness::fuzz::PollerCheck::new(armsim_harness::scenario::ClientOperation::Restore);
    let cases = check.cases;
    armsim_harness::fuzz::check_poller(check, poller);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{cases} cases passed in {secs:.1} s ({:.2} cases/s)",
        f64::from(cases) / secs
    );
}

#[cfg(test)]
mod tests {
    use armsim_harness::fuzz::{check_poller, PollerCheck};
    use armsim_harness::scenario::ClientOperation;

    #[test]
    fn my_poller_survives_every_generated_backup() {
        check_poller(PollerCheck::new(ClientOperation::Backup), super::poller);
    }

    #[test]
    fn my_poller_survives_every_generated_restore() {
        check_poller(PollerCheck::new(ClientOperation::Restore), super::poller);
    }
}
