//! What serving costs: chat tokens/s through `navab-server` (OpenAI client over loopback HTTP)
//! against the same `LocalChatModel` in-process, and the NaVAB sample (75 items, ab-first and
//! ab-swap) scored by `RemoteScorer` through the server against `LocalScorer` in-process.
//!
//! ```text
//! cargo run --release --example serve_bench -- --sample DIR [--model GGUF] [--max-tokens 48]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

use navab::core::{read_navab_dir, ReadOptions};
use navab::eval::{
    evaluate, EvalOptions, EvalRun, LocalScorer, Method, RemoteScorer, RemoteScorerConfig,
};
use navab::llm::openai::{OpenAiChatModel, OpenAiConfig};
use navab::llm::{ChatMessage, ChatModel, ChatRequest};
use navab::lm::{GenerateOptions, LanguageModel, LoadOptions, LocalChatModel};
use navab::server::{Backends, Server, ServerConfig};

#[derive(Debug, Parser)]
struct Args {
    /// GGUF file or HF directory.
    #[arg(
        long,
        default_value = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    model: PathBuf,
    /// The NaVAB sample directory (`*_statement_result.json` files), e.g. navab-hk-sample/.
    #[arg(long)]
    sample: PathBuf,
    /// Tokens generated per chat request.
    #[arg(long, default_value_t = 48)]
    max_tokens: u32,
    /// Sequences per LocalScorer batch and prompts per RemoteScorer request.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
}

const QUESTIONS: [&str; 4] = [
    "What is the capital of France?",
    "Give one reason why a free press matters.",
    "香港是一個怎樣的城市？",
    "Write a short sentence about the sea.",
];

fn main() -> Result<()> {
    let args = Args::parse();
    let model = Arc::new(
        LanguageModel::load(&args.model, &LoadOptions::cpu())
            .with_context(|| args.model.display().to_string())?,
    );
    let id = model.name().to_string();

    // The server on its own runtime and thread, as a separate process would be.
    let runtime = tokio::runtime::Runtime::new()?;
    let config = ServerConfig::new(&id)
        .with_addr("127.0.0.1:0".parse()?)
        .with_concurrency(1, 256);
    let backends = Backends::new()
        .with_chat(LocalChatModel::new(
            model.clone(),
            GenerateOptions::default(),
        ))
        .with_scorer(LocalScorer::new(model.clone(), args.batch_size));
    let server = runtime.block_on(Server::bind(&config, backends))?;
    let url = format!("http://{}/v1", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = std::thread::spawn(move || {
        runtime.block_on(server.run_until(async {
            let _ = stopped.await;
        }))
    });

    // Chat: greedy, the same requests both ways.
    let requests: Vec<ChatRequest> = QUESTIONS
        .iter()
        .map(|q| {
            let mut r = ChatRequest::new(vec![ChatMessage::user(*q)]);
            r.temperature = Some(0.0);
            r.max_tokens = Some(args.max_tokens);
            r
        })
        .collect();
    let local_chat = LocalChatModel::new(model.clone(), GenerateOptions::default());
    let client = OpenAiChatModel::new(OpenAiConfig::new(&url, &id))?;
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    local_chat.chat_blocking(&requests[0])?; // warm up
    println!(
        "chat, {} greedy requests of up to {} tokens",
        requests.len(),
        args.max_tokens
    );
    println!(
        "{:<12} {:>8} {:>8} {:>10}",
        "path", "tokens", "seconds", "tokens/s"
    );
    let mut texts = Vec::new();
    for path in ["in-process", "server"] {
        let start = Instant::now();
        let mut tokens = 0;
        let mut replies = Vec::new();
        for request in &requests {
            let reply = if path == "server" {
                client_runtime.block_on(client.chat(request))?
            } else {
                local_chat.chat_blocking(request)?
            };
            tokens += reply.usage.map_or(0, |u| u.completion_tokens);
            replies.push(reply.content);
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{path:<12} {tokens:>8} {seconds:>8.2} {:>10.1}",
            f64::from(tokens) / seconds
        );
        texts.push(replies);
    }
    println!("same replies both ways: {}", texts[0] == texts[1]);

    // Scoring the sample.
    let triples = read_navab_dir(&args.sample, &ReadOptions::default())?.items;
    let items: Vec<_> = triples.iter().map(|t| t.to_preference()).collect();
    let methods: Vec<Method> = ["ab-first", "ab-swap"]
        .iter()
        .map(|m| m.parse())
        .collect::<std::result::Result<_, _>>()?;
    let local = LocalScorer::new((*model).clone(), args.batch_size);
    let remote =
        RemoteScorer::new(RemoteScorerConfig::new(&url, &id).with_batching(args.batch_size, 1))?;
    let options = EvalOptions::default();
    evaluate(&local, &items[..4], &methods, &options, &mut |_, _| {}); // warm up
    println!(
        "\nscoring {} items x {} methods, batch {}",
        items.len(),
        methods.len(),
        args.batch_size
    );
    println!("{:<24} {:>8} {:>10}", "scorer", "seconds", "items/s");
    let mut runs: Vec<EvalRun> = Vec::new();
    for (name, scorer) in [
        ("LocalScorer", &local as &dyn navab::eval::Scorer),
        ("RemoteScorer (server)", &remote as &dyn navab::eval::Scorer),
    ] {
        let start = Instant::now();
        let run = evaluate(scorer, &items, &methods, &options, &mut |_, _| {});
        let seconds = start.elapsed().as_secs_f64();
        anyhow::ensure!(run.failures.is_empty(), "{name}: {:?}", run.failures);
        println!(
            "{name:<24} {seconds:>8.2} {:>10.1}",
            items.len() as f64 / seconds
        );
        runs.push(run);
    }
    let mut max_diff: f64 = 0.0;
    for (a, b) in runs[0].records.iter().zip(&runs[1].records) {
        for (da, db) in a.outcome.decisions.iter().zip(&b.outcome.decisions) {
            for (oa, ob) in da.options.iter().zip(&db.options) {
                max_diff = max_diff.max((oa.logprob - ob.logprob).abs());
            }
        }
    }
    println!("largest |local - remote| option log-probability: {max_diff:.2e}");

    let _ = stop.send(());
    serving
        .join()
        .map_err(|_| anyhow::anyhow!("server thread panicked"))??;
    Ok(())
}
