//! Client overhead per call against a local fake OpenAI-compatible server, and a fully cached
//! rerun of a large stage.
//!
//! ```text
//! cargo run --release -p navab-llm --features openai,cache --example client_bench -- --calls 20000
//! ```
//!
//! Overhead: the same requests are sent once by a bare `reqwest` loop (the transport floor:
//! serialise a JSON body, POST, read and parse the reply) and once through
//! `OpenAiChatModel::chat` (async-openai types, the retry loop, the semaphore, counters). The
//! difference of the two wall times per call, at the same concurrency, is the client's own
//! cost. Cached rerun: a stage of `--cached` calls is run once through the server to fill a
//! cache folder, then the folder is reopened and the stage run again; that second run
//! (opening included) is timed.

#[path = "../tests/support/server.rs"]
mod server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use navab_llm::cache::CachedChatModel;
use navab_llm::openai::{OpenAiChatModel, OpenAiConfig};
use navab_llm::stage::run_stage;
use navab_llm::{ChatMessage, ChatModel, ChatRequest, ParseError, Step, StepName};
use server::FakeServer;
use tokio::sync::Semaphore;

struct Args {
    calls: usize,
    concurrency: usize,
    cached: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        calls: 20_000,
        concurrency: 64,
        cached: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || -> Result<usize> {
            Ok(it
                .next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?
                .parse()?)
        };
        match flag.as_str() {
            "--calls" => args.calls = value()?,
            "--concurrency" => args.concurrency = value()?,
            "--cached" => args.cached = value()?,
            "--help" | "-h" => {
                println!("client_bench [--calls N=20000] [--concurrency C=64] [--cached N=10000]");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other}; try --help"),
        }
    }
    Ok(args)
}

/// A prompt of realistic size (a few hundred bytes), numbered so every request differs.
fn request(i: usize) -> ChatRequest {
    ChatRequest::new(vec![
        ChatMessage::system(
            "You judge whether a statement expresses a value. Reason, then answer ## yes or ## no.",
        ),
        ChatMessage::user(format!(
            "Statement {i}: 張炳良認為民主派應該派人參選特首，以表達市民對普選的訴求。"
        )),
    ])
}

struct Item(usize);

impl Step for Item {
    type Output = ();
    const NAME: StepName = StepName::ValueScreening;
    fn messages(&self) -> Vec<ChatMessage> {
        request(self.0).messages
    }
    fn parse(&self, _reply: &str) -> std::result::Result<(), ParseError> {
        Ok(())
    }
    fn render_reply(_output: &()) -> String {
        String::new()
    }
}

async fn bare_reqwest(url: String, calls: usize, concurrency: usize) -> Result<Duration> {
    let client = reqwest::Client::new();
    let permits = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(calls);
    for i in 0..calls {
        let (client, url, permits) = (client.clone(), url.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await?;
            let body = serde_json::json!({"model": "fake/echo-1", "messages": request(i).messages});
            let bytes = client
                .post(&url)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body)?)
                .send()
                .await?
                .bytes()
                .await?;
            let reply: serde_json::Value = serde_json::from_slice(&bytes)?;
            anyhow::ensure!(reply["choices"][0]["message"]["content"].is_string());
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}

async fn through_client(
    model: Arc<OpenAiChatModel>,
    calls: usize,
    concurrency: usize,
) -> Result<(Duration, Vec<Duration>)> {
    // The same outer bound as the bare loop, so that a latency is a call's time in flight,
    // not its wait in the queue.
    let permits = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(calls);
    for i in 0..calls {
        let (model, permits) = (model.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await?;
            let t = Instant::now();
            model.chat(&request(i)).await?;
            anyhow::Ok(t.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(calls);
    for task in tasks {
        latencies.push(task.await??);
    }
    Ok((started.elapsed(), latencies))
}

fn micros_per_call(d: Duration, calls: usize) -> f64 {
    d.as_secs_f64() * 1e6 / calls as f64
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let server = FakeServer::start().await;
    let mut config = OpenAiConfig::new(server.base_url(), "fake/echo-1");
    config.max_concurrency = args.concurrency;
    config.timeout = Duration::from_secs(30);
    let model = Arc::new(OpenAiChatModel::new(config.clone())?);
    let url = config.endpoint();

    // Warm up connections and allocators on both paths.
    bare_reqwest(url.clone(), 2_000, args.concurrency).await?;
    through_client(model.clone(), 2_000, args.concurrency).await?;

    let mut bare_runs = Vec::new();
    let mut client_runs = Vec::new();
    let mut latencies = Vec::new();
    for _ in 0..3 {
        bare_runs.push(bare_reqwest(url.clone(), args.calls, args.concurrency).await?);
        let (wall, lat) = through_client(model.clone(), args.calls, args.concurrency).await?;
        client_runs.push(wall);
        latencies = lat;
    }
    let best = |runs: &[Duration]| runs.iter().min().copied().unwrap_or_default();
    let bare = micros_per_call(best(&bare_runs), args.calls);
    let client = micros_per_call(best(&client_runs), args.calls);
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e3;
    println!(
        "{} calls at concurrency {} against the fake server on loopback (best of 3):",
        args.calls, args.concurrency
    );
    println!("  bare reqwest          {bare:8.1} us/call wall");
    println!("  OpenAiChatModel::chat {client:8.1} us/call wall");
    println!("  client overhead       {:8.1} us/call", client - bare);
    println!(
        "  latency per call (client, last run): p50 {:.2} ms, p99 {:.2} ms",
        pct(0.5),
        pct(0.99)
    );
    println!("  stats: {:?}", model.stats());

    // A fully cached rerun.
    let dir = tempfile::tempdir()?;
    let items: Vec<Item> = (0..args.cached).map(Item).collect();
    {
        let cached = CachedChatModel::open(OpenAiChatModel::new(config.clone())?, dir.path())?;
        let started = Instant::now();
        let run = run_stage(&cached, &items, args.concurrency, |_| {}).await;
        anyhow::ensure!(run.summary.ok == args.cached, "fill run: {:?}", run.summary);
        println!(
            "fill: {} calls through the server and into the cache in {:.2} s",
            args.cached,
            started.elapsed().as_secs_f64()
        );
    }
    let answered = server.answered();
    let started = Instant::now();
    let cached = CachedChatModel::open(OpenAiChatModel::new(config)?, dir.path())?;
    let opened = started.elapsed();
    let run = run_stage(&cached, &items, args.concurrency, |_| {}).await;
    let total = started.elapsed();
    anyhow::ensure!(run.summary.ok == args.cached);
    anyhow::ensure!(
        server.answered() == answered,
        "a cached rerun reached the server"
    );
    println!(
        "cached rerun: {} calls in {:.3} s (open {:.3} s), {:?}, server requests during rerun: {}",
        args.cached,
        total.as_secs_f64(),
        opened.as_secs_f64(),
        cached.stats(),
        server.answered() - answered
    );
    Ok(())
}
