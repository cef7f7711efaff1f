//! End to end: `navab-server` in-process on a free loopback port with the real
//! SmolLM2-135M-Instruct, reached over real HTTP by navab's own clients.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use navab::eval::{LocalScorer, RemoteScorer, RemoteScorerConfig, ScoreRequest, Scorer};
use navab::llm::cache::CachedChatModel;
use navab::llm::openai::{OpenAiChatModel, OpenAiConfig};
use navab::llm::{BoxFuture, ChatMessage, ChatModel, ChatRequest, ChatResponse};
use navab::lm::{GenerateOptions, LanguageModel, LoadOptions, LocalChatModel};
use navab::server::testing::check_prompt_scorer;
use navab::server::{Backends, ServerConfig};

const MODEL_ID: &str = "SmolLM2-135M-Instruct";

fn smollm2() -> Arc<LanguageModel> {
    static MODEL: OnceLock<Arc<LanguageModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| Arc::new(common::smollm2(&LoadOptions::cpu())))
        .clone()
}

/// A chat backend that counts the requests reaching it.
struct Counting {
    inner: LocalChatModel,
    calls: Arc<AtomicUsize>,
}

impl ChatModel for Counting {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, navab::llm::Result<ChatResponse>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.chat(request)
    }
}

/// The embedded server, and how many chat calls reached it.
struct Running {
    url: String,
    calls: Arc<AtomicUsize>,
    _server: common::Running,
}

fn start_server() -> Running {
    let model = smollm2();
    let calls = Arc::new(AtomicUsize::new(0));
    let backends = Backends::new()
        .with_chat(Counting {
            inner: LocalChatModel::new(model.clone(), GenerateOptions::default()),
            calls: calls.clone(),
        })
        .with_scorer(LocalScorer::new(model, LocalScorer::DEFAULT_BATCH_SIZE));
    let config = ServerConfig::new(MODEL_ID)
        .with_addr("127.0.0.1:0".parse().unwrap())
        .with_concurrency(2, 64);
    let server = common::serve(&config, backends);
    Running {
        url: server.url.clone(),
        calls,
        _server: server,
    }
}

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn greedy(question: &str, max_tokens: u32) -> ChatRequest {
    let mut request = ChatRequest::new(vec![ChatMessage::user(question)]);
    request.temperature = Some(0.0);
    request.max_tokens = Some(max_tokens);
    request
}

#[test]
fn chat_round_trip_through_the_openai_client() {
    let server = start_server();
    let client = OpenAiChatModel::new(OpenAiConfig::new(&server.url, MODEL_ID)).unwrap();
    let reply = client_runtime()
        .block_on(client.chat(&greedy("What is the capital of France?", 16)))
        .unwrap();
    assert!(reply.content.contains("Paris"), "{:?}", reply.content);
    let usage = reply.usage.unwrap();
    assert!(usage.completion_tokens > 0 && usage.completion_tokens <= 16);
    assert_eq!(server.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_cached_client_sends_nothing_the_second_time() {
    let server = start_server();
    let dir = tempfile::tempdir().unwrap();
    let questions = ["Name a colour.", "What is 2 + 2?", "香港的首都是什麼？"];
    let runtime = client_runtime();
    let mut runs = Vec::new();
    for _ in 0..2 {
        // A fresh client and cache handle each time, as a second process would have.
        let client = OpenAiChatModel::new(OpenAiConfig::new(&server.url, MODEL_ID)).unwrap();
        let cached = CachedChatModel::open(client, dir.path()).unwrap();
        let replies: Vec<String> = questions
            .iter()
            .map(|q| {
                runtime
                    .block_on(cached.chat(&greedy(q, 8)))
                    .unwrap()
                    .content
            })
            .collect();
        runs.push((replies, server.calls.load(Ordering::SeqCst)));
    }
    assert_eq!(runs[0].1, 3, "the first run asks the server each time");
    assert_eq!(runs[1].1, 3, "the second run must not reach the server");
    assert_eq!(runs[0].0, runs[1].0);
}

#[test]
fn remote_scoring_matches_in_process_scoring() {
    let server = start_server();
    let requests = [
        (
            "Statement: The government should protect freedom of the press, even when \
             reports are critical of officials.\nDo you agree with the statement?\nA. Yes\nB. No\nMy answer is",
            " A",
        ),
        (
            "Statement: The government should protect freedom of the press, even when \
             reports are critical of officials.\nDo you agree with the statement?\nA. Yes\nB. No\nMy answer is",
            " B",
        ),
        ("問題：香港應否加強保護新聞自由？\n答案：", "香港應該加強保護新聞自由。"),
        ("問題：香港應否加強保護新聞自由？\n答案：", "香港不應加強保護新聞自由。"),
        ("", "Hong Kong is an international city."),
    ]
    .map(|(context, continuation)| ScoreRequest::new(context, continuation));
    let local = LocalScorer::new((*smollm2()).clone(), 8)
        .score(&requests)
        .unwrap();
    let remote = RemoteScorer::new(RemoteScorerConfig::new(&server.url, MODEL_ID))
        .unwrap()
        .score(&requests)
        .unwrap();
    for ((request, l), r) in requests.iter().zip(&local).zip(&remote) {
        let what = format!("{request:?}: local {l:?}, remote {r:?}");
        assert_eq!(l.continuation_tokens, r.continuation_tokens, "{what}");
        assert_eq!(l.context_tokens, r.context_tokens, "{what}");
        assert!(
            (l.continuation_logprob - r.continuation_logprob).abs() < 1e-3,
            "{what}"
        );
        assert!(
            (l.context_logprob - r.context_logprob).abs() < 1e-3,
            "{what}"
        );
        assert!(l.continuation_logprob < 0.0, "{what}");
    }
}

#[test]
fn the_local_prompt_scorer_conforms() {
    check_prompt_scorer(&LocalScorer::new(
        smollm2(),
        LocalScorer::DEFAULT_BATCH_SIZE,
    ))
    .unwrap();
}

#[test]
fn token_id_prompts_score_like_their_text() {
    use navab::server::{Prompt, PromptScorer, ScoreOptions};
    let model = smollm2();
    let scorer = LocalScorer::new(model.clone(), LocalScorer::DEFAULT_BATCH_SIZE);
    let text = "香港是一個國際城市。My answer is A";
    let options = ScoreOptions {
        top_logprobs: 3,
        next_token: true,
    };
    let by_text = scorer.score_prompt(Prompt::Text(text), &options).unwrap();
    let ids = model.tokenizer().encode(text, true).unwrap().ids;
    let by_ids = scorer.score_prompt(Prompt::Tokens(&ids), &options).unwrap();
    assert_eq!(by_ids.text, text);
    assert_eq!(by_text.tokens.concat(), text, "tokens cover the text once");
    assert_eq!(by_ids.tokens.concat(), text);
    assert_eq!(by_text.text_offset, by_ids.text_offset);
    assert_eq!(by_text.token_logprobs, by_ids.token_logprobs);
    assert_eq!(by_text.top_logprobs[3].len(), 3);
    let (next, top) = by_text.next_token.unwrap();
    assert_eq!(top[0], next);
    // Beyond the vocabulary is the caller's error, not the model's.
    let too_big = [model.config().vocab_size as u32];
    assert!(matches!(
        scorer.score_prompt(Prompt::Tokens(&too_big), &options),
        Err(navab::eval::Error::InvalidInput(_))
    ));
}

/// What `evaluate --model-url` does against `serve`: the same items, methods and report
/// table as the in-process run (the demo set, 30 items over five nations).
#[test]
fn remote_evaluation_gives_the_same_table_as_local() {
    use navab::eval::{evaluate, EvalOptions, Method, Summary};
    let server = start_server();
    let items: Vec<_> = navab::demo::demo_triples()
        .iter()
        .map(|t| t.to_preference())
        .collect();
    let methods: Vec<Method> = ["paper", "ab-swap", "acc-norm"]
        .iter()
        .map(|m| m.parse().unwrap())
        .collect();
    let options = EvalOptions::default();
    let local = LocalScorer::new((*smollm2()).clone(), 8);
    let remote =
        RemoteScorer::new(RemoteScorerConfig::new(&server.url, MODEL_ID).with_batching(8, 2))
            .unwrap();
    let local_run = evaluate(&local, &items, &methods, &options, &mut |_, _| {});
    let mut remote_run = evaluate(&remote, &items, &methods, &options, &mut |_, _| {});
    assert!(
        remote_run.scorer.contains(&server.url),
        "{}",
        remote_run.scorer
    );
    // The tables name the model by its scorer (the remote one adds the URL); all else is equal.
    remote_run.scorer = local_run.scorer.clone();
    assert!(local_run.failures.is_empty() && remote_run.failures.is_empty());
    assert_eq!(local_run.records.len(), remote_run.records.len());
    let (local, remote) = (
        Summary::from_run(&local_run),
        Summary::from_run(&remote_run),
    );
    assert_eq!(local.markdown_table(), remote.markdown_table());
    assert_eq!(local.text_table(), remote.text_table());
}
