//! A fault-injecting HTTP/1.1 proxy on loopback, in front of the fake server.
//!
//! Raw TCP, so that it can break things an HTTP framework would not let it: a body cut short,
//! a connection dropped without a reply, a request left hanging. A plan decides, from the
//! request number and body, whether a request passes through or meets a fault.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to one request instead of passing it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// `429 Too Many Requests` with this `Retry-After` value.
    TooManyRequests(&'static str),
    /// `500 Internal Server Error`.
    ServerError,
    /// Reads the request and never answers (until 60 s have passed).
    Hang,
    /// Forwards, then sends the headers and half the body, and closes.
    TruncatedBody,
    /// `200` with a body that is not JSON.
    GarbageJson,
    /// Closes the connection without a reply.
    Drop,
    /// Resets the connection (`SO_LINGER` 0, so the close sends RST) without a reply.
    Reset,
}

impl Fault {
    /// Every kind, with a zero `Retry-After` (for random plans that should run fast).
    pub const ALL_FAST: [Fault; 7] = [
        Fault::TooManyRequests("0"),
        Fault::ServerError,
        Fault::Hang,
        Fault::TruncatedBody,
        Fault::GarbageJson,
        Fault::Drop,
        Fault::Reset,
    ];

    /// A short name, e.g. for `fault=<name>` markers in messages.
    pub fn name(self) -> &'static str {
        match self {
            Fault::TooManyRequests(_) => "429",
            Fault::ServerError => "500",
            Fault::Hang => "hang",
            Fault::TruncatedBody => "truncated",
            Fault::GarbageJson => "garbage",
            Fault::Drop => "drop",
            Fault::Reset => "reset",
        }
    }
}

/// Decides the fault (if any) of request number `n` (0-based, in arrival order) with `body`.
pub type Plan = Arc<dyn Fn(u64, &str) -> Option<Fault> + Send + Sync>;

/// Each request fails with probability `rate`, with a fault drawn from `faults`; the dice are
/// a hash of `seed` and the request number, so a plan is reproducible given arrival order.
pub fn random_plan(rate: f64, seed: u64, faults: &'static [Fault]) -> Plan {
    Arc::new(move |n, _body| {
        let r = splitmix(seed ^ n.wrapping_mul(0xA24B_AED4_963E_E407));
        let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
        (unit < rate).then(|| faults[(splitmix(r) % faults.len() as u64) as usize])
    })
}

/// The first request whose body holds `fault=<name>` meets that fault; a repeat of the same
/// body passes (a transient failure). A body holding `poison` always gets a 500.
pub fn marker_plan() -> Plan {
    let seen = Mutex::new(HashSet::new());
    Arc::new(move |_n, body| {
        if body.contains("poison") {
            return Some(Fault::ServerError);
        }
        let fault = [
            Fault::TooManyRequests("1"),
            Fault::ServerError,
            Fault::Hang,
            Fault::TruncatedBody,
            Fault::GarbageJson,
            Fault::Drop,
            Fault::Reset,
        ]
        .into_iter()
        .find(|f| body.contains(&format!("fault={}", f.name())))?;
        seen.lock()
            .unwrap()
            .insert(body.to_string())
            .then_some(fault)
    })
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    faults: AtomicU64,
}

/// A running proxy.
pub struct FaultProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    counts: Arc<Counts>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` that follows `plan`.
    pub async fn start(upstream: SocketAddr, plan: Plan) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let task_counts = counts.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (plan, counts) = (plan.clone(), task_counts.clone());
                tokio::spawn(async move {
                    let _ = serve_connection(stream, upstream, plan, counts).await;
                });
            }
        });
        Self { addr, counts }
    }

    /// `http://<addr>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests received.
    pub fn requests(&self) -> u64 {
        self.counts.requests.load(Ordering::SeqCst)
    }

    /// Requests that met a fault.
    pub fn faults(&self) -> u64 {
        self.counts.faults.load(Ordering::SeqCst)
    }
}

/// One HTTP/1.1 message: its bytes, and the body as text.
struct Message {
    bytes: Vec<u8>,
    head_len: usize,
}

impl Message {
    fn body(&self) -> &[u8] {
        &self.bytes[self.head_len..]
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one message with a `Content-Length` body (what reqwest sends and axum answers).
/// `None` when the peer closed before a new message began.
async fn read_message(stream: &mut TcpStream) -> std::io::Result<Option<Message>> {
    let mut bytes = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_len = loop {
        if let Some(end) = find(&bytes, b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return if bytes.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        bytes.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_len]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while bytes.len() < head_len + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Message { bytes, head_len }))
}

async fn forward(upstream: SocketAddr, request: &Message) -> std::io::Result<Message> {
    let mut stream = TcpStream::connect(upstream).await?;
    stream.write_all(&request.bytes).await?;
    read_message(&mut stream)
        .await?
        .ok_or_else(|| std::io::ErrorKind::UnexpectedEof.into())
}

fn canned(status: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve_connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    plan: Plan,
    counts: Arc<Counts>,
) -> std::io::Result<()> {
    while let Some(request) = read_message(&mut client).await? {
        let n = counts.requests.fetch_add(1, Ordering::SeqCst);
        let body = String::from_utf8_lossy(request.body()).into_owned();
        let fault = plan(n, &body);
        if fault.is_some() {
            counts.faults.fetch_add(1, Ordering::SeqCst);
        }
        match fault {
            None => {
                let response = forward(upstream, &request).await?;
                client.write_all(&response.bytes).await?;
            }
            Some(Fault::TooManyRequests(retry_after)) => {
                let body = r#"{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":null}}"#;
                let headers = format!("retry-after: {retry_after}\r\n");
                client
                    .write_all(&canned("429 Too Many Requests", &headers, body))
                    .await?;
            }
            Some(Fault::ServerError) => {
                let body = r#"{"error":{"message":"the GPU caught fire","type":"server_error","param":null,"code":null}}"#;
                client
                    .write_all(&canned("500 Internal Server Error", "", body))
                    .await?;
            }
            Some(Fault::Hang) => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return Ok(());
            }
            Some(Fault::TruncatedBody) => {
                let response = forward(upstream, &request).await?;
                let cut = response.head_len + response.body().len() / 2;
                client.write_all(&response.bytes[..cut]).await?;
                client.flush().await?;
                return Ok(());
            }
            Some(Fault::GarbageJson) => {
                client
                    .write_all(&canned(
                        "200 OK",
                        "",
                        "{\"id\": \"chatcmpl-1\", \"choices\": [<<<garbage",
                    ))
                    .await?;
            }
            Some(Fault::Drop) => return Ok(()),
            Some(Fault::Reset) => {
                client.set_zero_linger()?;
                return Ok(());
            }
        }
    }
    Ok(())
}
