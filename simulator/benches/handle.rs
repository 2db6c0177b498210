//! `cargo bench -p armsim-simulator --bench handle`: what [`Simulator::handle`] costs per request, with no
//! network, no hyper and no kernel: wall time and heap allocations per poll and per backup POST.
//!
//! `bench/run.sh` measures the server as clients see it, but on a shared 2-core machine its figures move
//! by a third between runs, and most of a request's time there is the kernel's. This loop measures only
//! the simulator's own work, in one thread, and counts allocations exactly (a counting global allocator,
//! in this binary only), so a change to the hot path shows as a stable before/after. Not a test: it
//! prints and asserts nothing.
//!
//! `HANDLE_REQUESTS` (default 200,000) sets the requests per measurement; each figure is the best of 5.
//! `HANDLE_ONLY=poll` or `HANDLE_ONLY=post` measures that kind alone, so that a profile (callgrind's
//! `--toggle-collect` on `handle`) counts one kind of request. `HANDLE_JOURNAL` (default 10,000, serve's)
//! sets the journal's capacity, `HANDLE_FINISHED` (default 100,000, serve's) how many finished operations
//! are kept.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use armsim_simulator::identity::AuthMode;
use armsim_simulator::sim::parse_world;
use armsim_simulator::{ClockMode, HttpRequest, SimConfig, Simulator};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// The workspace denies unsafe code; a GlobalAlloc must be an `unsafe impl`. This one, in this benchmark
// binary alone, only counts and forwards to the system allocator.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator, under the caller's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; the system allocator keeps the contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The world of `bench/run.sh`: 0-second backups of `contoso-apim` (every POST is accepted and ends at
/// the next request), backups of `contoso-apim-premium` that never finish (a stable poll target).
const WORLD: &str = r#"
resourceGroups: [{name: contoso-dr, location: westus}]
services:
  - {name: contoso-apim, sku: Developer}
  - {name: contoso-apim-premium, sku: Premium}
storageAccounts:
  - {name: contosobackups, containers: [{name: apim-backups, blobs: []}]}
behaviour:
  outcomes:
    - {kind: backup, service: contoso-apim, duration: 0s}
    - {kind: backup, service: contoso-apim-premium, neverFinish: true}
"#;

const SERVICE: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers/Microsoft.ApiManagement/service";

/// A request as `server::answer` builds it from what wrk sends.
fn request(method: &str, path_and_query: &str, body: &str) -> HttpRequest {
    let req = HttpRequest::new(method, path_and_query)
        .header("host", "127.0.0.1:8443")
        .header("authorization", "Bearer bench")
        .header("user-agent", "wrk");
    if body.is_empty() {
        req
    } else {
        let mut req = req
            .header("content-type", "application/json")
            .header("content-length", &body.len().to_string());
        req.body = body.to_string().into();
        req
    }
}

/// `(ns per request, allocations per request)`, the best of 5 runs of `n` requests each; every answer's
/// status is checked against `status`.
fn measure(sim: &Simulator, template: &HttpRequest, status: u16, n: u64) -> (f64, f64) {
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        let allocations = ALLOCATIONS.load(Ordering::Relaxed);
        let start = Instant::now();
        for _ in 0..n {
            let resp = sim.handle(template.clone());
            if resp.status != status {
                eprintln!("unexpected answer {}: {:?}", resp.status, resp.json_body());
                std::process::exit(2);
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        let per = (ALLOCATIONS.load(Ordering::Relaxed) - allocations) as f64 / n as f64;
        best = (best.0.min(ns), best.1.min(per));
    }
    best
}

fn main() {
    let n: u64 = std::env::var("HANDLE_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let journal_capacity: usize = std::env::var("HANDLE_JOURNAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let finished: usize = std::env::var("HANDLE_FINISHED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut world = match parse_world(WORLD, "bench world") {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    world.behaviour.max_finished_operations = Some(finished);
    let config = SimConfig {
        world,
        clock: ClockMode::Manual,
        auth: AuthMode::Permissive,
        journal_capacity,
        base_url: "http://127.0.0.1:8443".into(),
        ..SimConfig::default()
    };
    let sim = match Simulator::new(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let keys = sim.handle(request(
        "POST",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers/Microsoft.Storage/storageAccounts/contosobackups/listKeys?api-version=2023-01-01",
        "",
    ));
    let key = keys
        .json_body()
        .and_then(|b| b["keys"][0]["value"].as_str().map(str::to_string))
        .unwrap_or_default();
    let body = format!(
        r#"{{"storageAccount":"contosobackups","containerName":"apim-backups","backupName":"bench","accessType":"AccessKey","accessKey":"{key}"}}"#
    );
    let started = sim.handle(request(
        "POST",
        &format!("{SERVICE}/contoso-apim-premium/backup?api-version=2024-05-01"),
        &body,
    ));
    let Some(location) = started.header_value("location") else {
        eprintln!("the backup to poll was not accepted: {}", started.status);
        std::process::exit(2);
    };
    let poll_path = location
        .trim_start_matches("http://127.0.0.1:8443")
        .to_string();

    let poll = request("GET", &poll_path, "");
    let post = request(
        "POST",
        &format!("{SERVICE}/contoso-apim/backup?api-version=2024-05-01"),
        &body,
    );
    let only = match std::env::var("HANDLE_ONLY").unwrap_or_default().as_str() {
        "" => None,
        "poll" => Some(("poll GET   ", &poll)),
        "post" => Some(("backup POST", &post)),
        other => {
            eprintln!("HANDLE_ONLY={other}: expected poll or post");
            std::process::exit(2);
        }
    };
    if let Some((what, template)) = only {
        let (ns, allocs) = measure(&sim, template, 202, n);
        println!("handle, best of 5 runs of {n} requests (request clone included):");
        println!("  {what}  {ns:7.0} ns  {allocs:5.1} allocations per request");
        return;
    }
    let (poll_ns, poll_allocs) = measure(&sim, &poll, 202, n);
    let (post_ns, post_allocs) = measure(&sim, &post, 202, n);

    // The same poll under `serve`'s default, strict auth: an RS256 token checked on every request.
    let strict = match Simulator::new(SimConfig {
        auth: AuthMode::Strict,
        ..sim.config().clone()
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let token = match strict.writer_token(None) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut signed = request(
        "POST",
        &format!("{SERVICE}/contoso-apim-premium/backup?api-version=2024-05-01"),
        &body,
    );
    let bearer = format!("Bearer {token}");
    let set_bearer = |req: &mut HttpRequest| match bearer.parse() {
        Ok(v) => {
            req.headers.insert("authorization", v);
        }
        Err(_) => {
            eprintln!("the token is not a header value");
            std::process::exit(2);
        }
    };
    set_bearer(&mut signed);
    let started = strict.handle(signed);
    let Some(location) = started.header_value("location") else {
        eprintln!("the strict backup was not accepted: {}", started.status);
        std::process::exit(2);
    };
    let mut strict_poll = request(
        "GET",
        location.trim_start_matches("http://127.0.0.1:8443"),
        "",
    );
    set_bearer(&mut strict_poll);
    let (strict_ns, strict_allocs) = measure(&strict, &strict_poll, 202, (n / 20).max(1));

    println!("handle, best of 5 runs of {n} requests (request clone included):");
    println!("  poll GET     {poll_ns:7.0} ns  {poll_allocs:5.1} allocations per request");
    println!("  backup POST  {post_ns:7.0} ns  {post_allocs:5.1} allocations per request");
    println!(
        "  poll GET, strict auth (RS256 token checked; {} requests a run)  {strict_ns:7.0} ns  {strict_allocs:5.1} allocations per request",
        (n / 20).max(1)
    );
}
