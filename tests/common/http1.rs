//! `armsim serve` as a child process and a tiny blocking HTTP/1.1 client over `TcpStream`: enough to
//! drive the real binary from tests without a runtime, and to be killed under (kill -9 tests).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// A running `armsim serve`; killed (SIGKILL) when dropped.
pub struct Served {
    pub child: Child,
    pub ready: Value,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// Everything the server wrote to stderr so far (its logs).
    pub stderr: Arc<Mutex<String>>,
}

impl Served {
    /// Starts `armsim serve --addr 127.0.0.1:0 ARGS` with extra environment and waits for the ready line.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_armsim"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            // This client speaks plain HTTP/1 with any bearer token; TLS and tokens have their own tests.
            .args(if args.contains(&"--tls") {
                &[][..]
            } else {
                &["--tls", "off"][..]
            })
            .args(if args.contains(&"--auth") {
                &[][..]
            } else {
                &["--auth", "permissive"][..]
            })
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("armsim starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while err.read_line(&mut line).unwrap_or(0) > 0 {
                sink.lock().expect("stderr sink").push_str(&line);
                line.clear();
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "no ready line ({e}): {line:?}; stderr: {}",
                stderr.lock().expect("stderr")
            )
        });
        let addr = ready["endpoint"]
            .as_str()
            .expect("endpoint")
            .trim_start_matches("http://")
            .to_string();
        Served {
            child,
            ready,
            addr,
            stderr,
        }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        call(&self.addr, method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// SIGKILL, no goodbye.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn logs(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill9();
        drop(super::ca_of(&self.ready));
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a fresh connection (`Connection: close`), with a bearer token and a JSON body.
pub fn call(addr: &str, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Reply> {
    call_as(addr, "Bearer test-token", method, path, body)
}

/// [`call`] with a chosen `Authorization` header.
pub fn call_as(
    addr: &str,
    authorization: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<Reply> {
    let data = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: {authorization}\r\nconnection: close\r\ncontent-length: {}\r\n",
        data.len()
    );
    if body.is_some() {
        head.push_str("content-type: application/json\r\n");
    }
    head.push_str("\r\n");
    raw(addr, format!("{head}{data}").as_bytes())
}

/// Sends bytes as they are and reads the whole answer (the server closes after it).
pub fn raw(addr: &str, request: &[u8]) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request)?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> std::io::Result<Reply> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    })
}
