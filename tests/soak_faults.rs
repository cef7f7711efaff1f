//! The pipeline's LLM steps over real HTTP through a fault-injecting proxy (30% of requests
//! meet a 5xx, a 429, a hang, a dropped or reset connection, a cut or garbled body) to the
//! embedded server: every item ends answered or recorded, reruns complete exactly what
//! failed, and the dataset equals a fault-free run's byte for byte. A wrong key stops the run
//! at once. Synthetic corpus, bag-of-words embedder, rule-based chat model: seconds.

mod common;
#[path = "../crates/navab-llm/tests/support/proxy.rs"]
mod proxy;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use navab::llm::cache::CachedChatModel;
use navab::llm::openai::{OpenAiChatModel, OpenAiConfig};
use navab::pipeline::testing::{synthetic_corpus, HashEmbedder, RuleBasedChatModel};
use navab::pipeline::{
    read_json, run_pipeline, Error, Executor, Manifest, PipelineConfig, RunReport,
};
use navab::server::{Backends, ServerConfig};
use proxy::{random_plan, Fault, FaultProxy};

const KEY: &str = "soak-test-key-5f1c";

#[derive(Clone)]
struct TokioExecutor(tokio::runtime::Handle);

impl Executor for TokioExecutor {
    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
}

fn config(corpus: &Path, out: &Path) -> PipelineConfig {
    let mut c = PipelineConfig::new(corpus, out);
    c.topics.hdbscan.min_cluster_size = 5;
    c.instag.min_frequency = 2;
    c.concurrency = 8;
    c
}

fn client(runtime: &tokio::runtime::Runtime, url: &str, key_var: &str) -> OpenAiChatModel {
    let mut c = OpenAiConfig::new(url, "rule-based").with_api_key_env(key_var);
    // A hang costs a second; two retries leave about 3% of calls failed after a first run.
    c.timeout = Duration::from_secs(1);
    c.max_retries = 2;
    c.backoff_base = Duration::from_millis(1);
    c.backoff_max = Duration::from_millis(5);
    let _guard = runtime.enter();
    OpenAiChatModel::new(c).unwrap()
}

fn dataset_bytes(out: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![out.join("dataset"), out.join("dpo")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((
                    path.strip_prefix(out).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_pipeline_under_a_fault_proxy_completes_what_failed_and_a_wrong_key_stops_it() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("news.jsonl");
    std::fs::write(&corpus, synthetic_corpus(80)).unwrap();
    let embedder = HashEmbedder::new(32);
    std::env::set_var("NAVAB_SOAK_KEY", KEY);
    std::env::set_var("NAVAB_SOAK_WRONG_KEY", "not-the-key");

    let server = common::serve(
        &ServerConfig::new("rule-based")
            .with_addr("127.0.0.1:0".parse().unwrap())
            .with_bearer_token(KEY),
        Backends::new().with_chat(Arc::new(RuleBasedChatModel::new())),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let upstream: std::net::SocketAddr = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .parse()
        .unwrap();
    const FAULTS: [Fault; 7] = Fault::ALL_FAST;
    let proxy = runtime.block_on(FaultProxy::start(upstream, random_plan(0.3, 7, &FAULTS)));
    let exec = TokioExecutor(runtime.handle().clone());
    let run = |out: &Path, url: &str, key_var: &str| -> navab::pipeline::Result<RunReport> {
        let llm =
            CachedChatModel::open(client(&runtime, url, key_var), out.join("llm-cache")).unwrap();
        run_pipeline(
            &config(&corpus, out),
            &llm,
            &embedder,
            &exec,
            &mut |_, _, _| {},
        )
    };

    // The reference: straight to the server.
    let clean_out = tmp.path().join("clean");
    let clean = run(&clean_out, &server.url, "NAVAB_SOAK_KEY").unwrap();
    assert_eq!(clean.failed_calls, 0);
    assert!(clean.triples > 0, "{}", clean.markdown());

    // Through the proxy: runs until no call fails; each run's failures are in its report and
    // the manifest, and no run loses an answer.
    let out = tmp.path().join("faulty");
    let mut failed_per_run = Vec::new();
    let last = loop {
        let report = run(&out, &proxy.base_url(), "NAVAB_SOAK_KEY").unwrap();
        let manifest: Manifest = read_json(&out.join("manifest.json")).unwrap();
        let in_manifest: usize = manifest.stages.values().map(|r| r.failed_calls).sum();
        assert_eq!(in_manifest, report.failed_calls);
        failed_per_run.push(report.failed_calls);
        if report.failed_calls == 0 || failed_per_run.len() == 6 {
            break report;
        }
    };
    eprintln!(
        "fault proxy: {} requests, {} faults; failed calls per run {failed_per_run:?}",
        proxy.requests(),
        proxy.faults()
    );
    assert!(proxy.faults() > 0);
    assert_eq!(
        last.failed_calls, 0,
        "still failing after {failed_per_run:?}"
    );
    assert_eq!(last.per_nation, clean.per_nation);
    assert_eq!(dataset_bytes(&out), dataset_bytes(&clean_out));

    // A wrong key: stopped before the first stage, in well under a second, with the status.
    let wrong_out = tmp.path().join("wrong-key");
    let t = Instant::now();
    let error = run(&wrong_out, &server.url, "NAVAB_SOAK_WRONG_KEY").unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(matches!(&error, Error::LlmUnavailable { .. }), "{error:?}");
    assert!(error.to_string().contains("401"), "{error}");
    assert!(!error.to_string().contains("not-the-key"));
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "{:?}",
        started.elapsed()
    );
}
