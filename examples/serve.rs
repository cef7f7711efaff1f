//! Serves a local model over an OpenAI-compatible API: `/v1/models`, `/v1/chat/completions`
//! (generation with the model's chat template) and `/v1/completions` with `echo` + `logprobs`
//! (prompt scoring, for `navab-eval`'s `RemoteScorer` or lm-evaluation-harness).
//!
//! ```text
//! cargo run --release --example serve -- --addr 127.0.0.1:8080
//! curl 127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
//!   -d '{"model": "SmolLM2-135M-Instruct.Q4_1", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16}'
//! ```
//!
//! Ctrl-C or SIGTERM stops it after the requests in flight finish.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Parser;

use navab::eval::LocalScorer;
use navab::lm::{
    parse_device, parse_dtype, GenerateOptions, LanguageModel, LoadOptions, LocalChatModel,
};
use navab::server::{Backends, Server, ServerConfig};

/// Serve a local model over an OpenAI-compatible HTTP API (chat completions, and prompt
/// scoring through /v1/completions with echo + logprobs).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Model: a GGUF file or an HF-layout directory.
    #[arg(
        long,
        default_value = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    model: PathBuf,
    /// The model id clients must name (default: the file name without its extension, or the
    /// directory name).
    #[arg(long)]
    model_id: Option<String>,
    /// Address to listen on; a non-loopback address needs --token-env.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Name of an environment variable holding the bearer token every /v1 request must send.
    #[arg(long, value_name = "NAME")]
    token_env: Option<String>,
    /// Backend calls (chat and scoring together) running at once.
    #[arg(long, default_value_t = ServerConfig::DEFAULT_MAX_CONCURRENCY)]
    max_concurrency: usize,
    /// Requests that may wait for a backend slot before the server answers 503.
    #[arg(long, default_value_t = ServerConfig::DEFAULT_MAX_QUEUE)]
    max_queue: usize,
    /// Prompts of one /v1/completions request run through the decoder at once.
    #[arg(long, default_value_t = LocalScorer::DEFAULT_BATCH_SIZE)]
    batch_size: usize,
    /// cpu, cuda or cuda:N (needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// f32, f16 or bf16.
    #[arg(long, default_value = "f32")]
    dtype: String,
}

navab_alloc::global_allocator!();

fn main() -> Result<()> {
    // Set before the runtime starts its threads.
    navab_alloc::keep_freed_memory();
    tokio::runtime::Runtime::new()
        .context("starting the async runtime")?
        .block_on(serve())
}

async fn serve() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let options = LoadOptions {
        device: parse_device(&args.device)?,
        dtype: parse_dtype(&args.dtype)?,
        ..LoadOptions::cpu()
    };
    if !args.model.exists() {
        bail!(
            "{} does not exist (run scripts/fetch-models.sh, or pass --model)",
            args.model.display()
        );
    }
    let model = Arc::new(
        LanguageModel::load(&args.model, &options)
            .with_context(|| format!("loading {}", args.model.display()))?,
    );
    // A file's stem (no `.gguf`), a directory's name.
    let default_id = args
        .model
        .is_file()
        .then(|| args.model.file_stem())
        .flatten()
        .map(|s| s.to_string_lossy().into_owned());
    let model_id = args
        .model_id
        .clone()
        .or(default_id)
        .unwrap_or_else(|| model.name().to_string());
    let mut config = ServerConfig::new(&model_id)
        .with_addr(args.addr)
        .with_concurrency(args.max_concurrency, args.max_queue);
    if let Some(var) = &args.token_env {
        let token = std::env::var(var)
            .with_context(|| format!("--token-env {var}: the variable is not set"))?;
        config = config.with_bearer_token(token);
    }
    let backends = Backends::new()
        .with_chat(LocalChatModel::new(
            model.clone(),
            GenerateOptions::default(),
        ))
        .with_scorer(LocalScorer::new(model, args.batch_size));
    let server = Server::bind(&config, backends).await?;
    tracing::info!(
        model = %model_id,
        url = %format!("http://{}/v1", server.local_addr()),
        "ready; Ctrl-C to stop"
    );
    server
        .run_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
