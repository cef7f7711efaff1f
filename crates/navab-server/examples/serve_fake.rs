//! Serves the fake backends (a fixed chat reply, `FakePromptScorer`), to try clients against
//! the server without a model:
//!
//! ```text
//! cargo run -p navab-server --example serve_fake -- --token s3cret
//! curl -H 'Authorization: Bearer s3cret' 127.0.0.1:8080/v1/completions \
//!      -d '{"prompt": "My answer is A", "echo": true, "max_tokens": 0, "logprobs": 1}'
//! ```

use std::net::SocketAddr;

use clap::Parser;
use navab_llm::testing::ScriptedChatModel;
use navab_server::testing::FakePromptScorer;
use navab_server::{serve, Backends, ServerConfig};

/// Serve fake chat and scoring backends on an OpenAI-compatible API (until Ctrl-C or SIGTERM).
#[derive(Parser)]
struct Args {
    /// Address to listen on; a non-loopback one needs --token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Bearer token clients must send.
    #[arg(long)]
    token: Option<String>,
    /// Model id to answer to.
    #[arg(long, default_value = "fake")]
    model: String,
    /// How many chat replies to script (each is "Hello from the fake model.").
    #[arg(long, default_value_t = 1000)]
    replies: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = ServerConfig::new(&args.model).with_addr(args.addr);
    config.bearer_token = args.token;
    let chat = ScriptedChatModel::new(vec!["Hello from the fake model."; args.replies]);
    let backends = Backends::new()
        .with_chat(chat)
        .with_scorer(FakePromptScorer::new(&args.model));
    eprintln!(
        "serving `{}` on http://{}/v1 (Ctrl-C to stop)",
        args.model, args.addr
    );
    serve(config, backends).await?;
    Ok(())
}
