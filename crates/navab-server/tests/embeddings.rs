//! `/v1/embeddings` against navab-embed's `RemoteEmbedder`: the remote vectors equal the local
//! embedder's, in input order, across batches; transient faults are retried and nothing is lost;
//! a wrong model is a clear error.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use navab_embed::{Array2, Embedder, RemoteEmbedder};
use navab_llm::openai::OpenAiConfig;
use navab_server::{router, Backends, ServerConfig};

const MODEL: &str = "fake-embedder";

/// Deterministic vectors from the text's bytes; counts its calls.
#[derive(Default)]
struct FakeEmbedder {
    calls: Arc<AtomicUsize>,
}

impl Embedder for FakeEmbedder {
    fn embed(&self, texts: &[&str]) -> navab_embed::Result<Array2<f32>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut out = Array2::zeros((texts.len(), 6));
        for (i, t) in texts.iter().enumerate() {
            for (j, b) in t.bytes().enumerate() {
                out[[i, j % 6]] += f32::from(b) / 255.0 + j as f32 * 1e-3;
            }
        }
        Ok(out)
    }
    fn dim(&self) -> usize {
        6
    }
    fn model_id(&self) -> &str {
        MODEL
    }
}

/// Serves `backends` on a thread of its own; the first `faults` embedding requests get a 503
/// and the one after them a body that is not JSON.
fn serve(backends: Backends, faults: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let app = router(&ServerConfig::new("chat-model"), backends)
        .unwrap()
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < faults {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", "0")],
                        "busy",
                    )
                        .into_response();
                }
                if n == faults && faults > 0 {
                    return Response::new("{\"object\": \"list\", \"da".into());
                }
                next.run(req).await
            }
        }));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), seen)
}

fn client(addr: SocketAddr, model: &str) -> OpenAiConfig {
    let mut config = OpenAiConfig::new(format!("http://{addr}/v1"), model);
    config.backoff_base = Duration::from_millis(5);
    config.backoff_max = Duration::from_millis(20);
    config.max_concurrency = 2;
    config
}

fn texts() -> Vec<String> {
    (0..11)
        .map(|i| format!("text number {i}: {}", "ab".repeat(i)))
        .collect()
}

#[test]
fn remote_vectors_equal_local_ones_in_order_across_batches() {
    let local = FakeEmbedder::default();
    let calls = local.calls.clone();
    let (addr, _) = serve(
        Backends::new().with_embedder(
            MODEL,
            FakeEmbedder {
                calls: calls.clone(),
            },
        ),
        0,
    );
    let remote = RemoteEmbedder::new(client(addr, MODEL), 3).unwrap();
    assert_eq!(remote.dim(), 6);
    let owned = texts();
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    let before = calls.load(Ordering::SeqCst);
    let done = AtomicUsize::new(0);
    let got = remote
        .embed_with_progress(&refs, &|n| {
            done.fetch_add(n, Ordering::SeqCst);
        })
        .unwrap();
    // 11 texts in batches of 3: four requests, progress for every text.
    assert_eq!(calls.load(Ordering::SeqCst) - before, 4);
    assert_eq!(got, local.embed(&refs).unwrap());
    assert_eq!(done.load(Ordering::SeqCst), 11);
    assert_eq!(remote.embed(&[]).unwrap().dim(), (0, 6));
}

#[test]
fn transient_faults_are_retried_and_nothing_is_lost() {
    let (addr, seen) = serve(
        Backends::new().with_embedder(MODEL, FakeEmbedder::default()),
        3,
    );
    let remote = RemoteEmbedder::new(client(addr, MODEL), 4).unwrap();
    let owned = texts();
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    let got = remote.embed(&refs).unwrap();
    assert_eq!(got, FakeEmbedder::default().embed(&refs).unwrap());
    let stats = remote.stats();
    assert_eq!(stats.retries, 4, "{stats:?}");
    assert_eq!(stats.failures, 0);
    assert_eq!(seen.load(Ordering::SeqCst), 1 + 4 + 3);
}

#[test]
fn wrong_model_and_missing_backend_are_clear_errors() {
    let (addr, _) = serve(
        Backends::new().with_embedder(MODEL, FakeEmbedder::default()),
        0,
    );
    let err = RemoteEmbedder::new(client(addr, "other-model"), 4).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("404") && message.contains(MODEL),
        "{message}"
    );
    let (addr, _) = serve(Backends::new(), 0);
    let message = RemoteEmbedder::new(client(addr, MODEL), 4)
        .unwrap_err()
        .to_string();
    assert!(message.contains("no embedding model"), "{message}");
}
