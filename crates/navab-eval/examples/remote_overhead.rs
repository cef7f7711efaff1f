//! What scoring over HTTP costs on top of the model: `RemoteScorer` against `navab-server`
//! with a fake backend that costs (almost) nothing, on loopback.
//!
//! ```text
//! cargo run --release -p navab-eval --features remote --example remote_overhead
//! ```

use std::sync::Arc;
use std::time::Instant;

use navab_eval::{RemoteScorer, RemoteScorerConfig, ScoreRequest, Scorer};
use navab_server::testing::FakePromptScorer;
use navab_server::{Backends, Server, ServerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Runtime::new()?;
    let config = ServerConfig::new("fake")
        .with_addr("127.0.0.1:0".parse()?)
        .with_concurrency(4, 256);
    let backends = Backends {
        chat: None,
        scorer: Some(Arc::new(FakePromptScorer::new("fake"))),
        ..Backends::new()
    };
    let server = runtime.block_on(Server::bind(&config, backends))?;
    let url = format!("http://{}/v1", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = std::thread::spawn(move || {
        runtime.block_on(server.run_until(async {
            let _ = stopped.await;
        }))
    });

    // NaVAB-sized prompts: a statement, the A/B framing, a one-letter answer.
    let requests: Vec<ScoreRequest> = (0..2000)
        .map(|i| {
            ScoreRequest::new(
                format!(
                    "Statement {i}: The government should protect freedom of the press, even \
                     when reports are critical of officials. Do you agree?\nA. Yes\nB. No\n\
                     My answer is"
                ),
                if i % 2 == 0 { " A" } else { " B" },
            )
        })
        .collect();
    println!(
        "{} requests, prompt ~{} chars",
        requests.len(),
        requests[0].context.len() + 2
    );
    println!("batch  in-flight  requests/s  us/request");
    for (batch, in_flight) in [(1, 1), (8, 1), (8, 4), (32, 4)] {
        let scorer = RemoteScorer::new(
            RemoteScorerConfig::new(&url, "fake").with_batching(batch, in_flight),
        )?;
        scorer.score(&requests[..64])?; // warm up the connection pool
        let start = Instant::now();
        let scores = scorer.score(&requests)?;
        let seconds = start.elapsed().as_secs_f64();
        assert_eq!(scores.len(), requests.len());
        println!(
            "{batch:>5}  {in_flight:>9}  {:>10.0}  {:>10.1}",
            requests.len() as f64 / seconds,
            seconds * 1e6 / requests.len() as f64
        );
    }
    let _ = stop.send(());
    serving.join().expect("server thread")?;
    Ok(())
}
