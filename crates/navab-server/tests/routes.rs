//! Every route through the router with fake backends: shapes, auth, limits, errors.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use navab_llm::testing::ScriptedChatModel;
use navab_server::testing::{FakePromptScorer, FAKE_GREEDY_LOGPROB, FAKE_GREEDY_TOKEN};
use navab_server::{router, Backends, Prompt, PromptScorer, ScoreOptions, ServerConfig};
use serde_json::{json, Value};
use tower::ServiceExt;

const MODEL: &str = "fake-model";

fn app(config: ServerConfig, chat: ScriptedChatModel) -> Router {
    let backends = Backends::new()
        .with_chat(chat)
        .with_scorer(FakePromptScorer::new(MODEL));
    router(&config, backends).unwrap()
}

fn default_app() -> Router {
    app(
        ServerConfig::new(MODEL),
        ScriptedChatModel::new(["Hello there."]),
    )
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

async fn post(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    call(app, "POST", uri, Some(&body.to_string()), None).await
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, needle: &str) {
    assert_eq!(status, expected, "{body}");
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an OpenAI error: {body}"));
    assert!(body["error"]["type"].is_string(), "{body}");
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

#[tokio::test]
async fn models_lists_the_served_model() {
    let app = default_app();
    let (status, body) = call(&app, "GET", "/v1/models", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][0]["id"], MODEL);
    let (status, body) = call(&app, "GET", &format!("/v1/models/{MODEL}"), None, None).await;
    assert_eq!((status, body["id"].as_str()), (StatusCode::OK, Some(MODEL)));
    let (status, body) = call(&app, "GET", "/v1/models/org/gpt-4", None, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "org/gpt-4");
    let (status, body) = call(&app, "GET", "/v1/models/gpt-4", None, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "gpt-4");
}

#[tokio::test]
async fn chat_maps_sampling_and_answers_in_openai_shape() {
    let chat = Arc::new(ScriptedChatModel::new(["Hello there."]));
    let backends = Backends {
        chat: Some(chat.clone()),
        scorer: None,
    };
    let app = router(&ServerConfig::new(MODEL), backends).unwrap();
    let (status, body) = post(&app, "/v1/chat/completions", json!({
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "!"}]},
        ],
        "temperature": 0.6, "top_p": 0.8, "max_tokens": 32, "seed": 7, "stop": "##",
        "unknown_field": true,
    })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello there.");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let seen = chat.requests();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(
        request.messages[0],
        navab_llm::ChatMessage::system("Be brief.")
    );
    assert_eq!(request.messages[1], navab_llm::ChatMessage::user("Hi!"));
    assert_eq!(
        (
            request.temperature,
            request.top_p,
            request.max_tokens,
            request.seed
        ),
        (Some(0.6), Some(0.8), Some(32), Some(7))
    );
    assert_eq!(request.stop, ["##"]);
    // No scorer: completions says so.
    let (status, body) = post(
        &app,
        "/v1/completions",
        json!({"prompt": "a", "echo": true, "max_tokens": 0}),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "no scoring model");
}

#[tokio::test]
async fn chat_streams_server_sent_events() {
    let app = default_app();
    let request = Request::post("/v1/chat/completions")
        .body(Body::from(
            json!({"messages": [{"role": "user", "content": "Hi"}], "stream": true}).to_string(),
        ))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.len(), 3, "{text}");
    let first: Value = serde_json::from_str(data[0]).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["content"], "Hello there.");
    let last: Value = serde_json::from_str(data[1]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(data[2], "[DONE]");
}

#[tokio::test]
async fn chat_rejects_what_it_cannot_do() {
    let app = default_app();
    let user = json!([{"role": "user", "content": "Hi"}]);
    for (body, status, needle) in [
        (
            json!({"messages": user, "n": 2}),
            StatusCode::BAD_REQUEST,
            "n must be 1",
        ),
        (
            json!({"messages": user, "temperature": 3.0}),
            StatusCode::BAD_REQUEST,
            "temperature",
        ),
        (
            json!({"messages": []}),
            StatusCode::BAD_REQUEST,
            "no messages",
        ),
        (
            json!({"messages": [{"role": "tool", "content": "x"}]}),
            StatusCode::BAD_REQUEST,
            "role `tool`",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
            StatusCode::BAD_REQUEST,
            "image_url",
        ),
        (
            json!({"messages": user, "max_tokens": "many"}),
            StatusCode::BAD_REQUEST,
            "max_tokens",
        ),
        (
            json!({"model": "other", "messages": user}),
            StatusCode::NOT_FOUND,
            "other",
        ),
    ] {
        let (got, reply) = post(&app, "/v1/chat/completions", body.clone()).await;
        assert_error(got, &reply, status, needle);
    }
}

#[tokio::test]
async fn chat_backend_failure_is_a_500() {
    let app = app(
        ServerConfig::new(MODEL),
        ScriptedChatModel::default().with_failure("GPU on fire"),
    );
    let (status, body) = post(
        &app,
        "/v1/chat/completions",
        json!({"messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::INTERNAL_SERVER_ERROR,
        "GPU on fire",
    );
}

#[tokio::test]
async fn bad_json_is_a_400_naming_the_problem() {
    let app = default_app();
    let (status, body) = call(&app, "POST", "/v1/completions", Some("{\"prompt\": "), None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid JSON");
    let (status, body) = call(&app, "POST", "/v1/chat/completions", Some("{}"), None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "messages");
    let (status, body) = call(&app, "GET", "/v1/nothing", None, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "/v1/nothing");
    let (status, _) = call(&app, "GET", "/v1/completions", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

/// The scoring request lm-evaluation-harness's local-completions sends, as text.
#[tokio::test]
async fn echo_logprobs_has_the_legacy_shape_and_the_backend_numbers() {
    let app = default_app();
    let prompts = ["My answer is A", "香港 is a city"];
    let (status, body) = post(&app, "/v1/completions", json!({
        "model": MODEL, "prompt": prompts, "echo": true, "max_tokens": 0, "logprobs": 2, "temperature": 0,
    })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["object"], "text_completion");
    let scorer = FakePromptScorer::new(MODEL);
    let options = ScoreOptions {
        top_logprobs: 2,
        next_token: false,
    };
    let mut total_tokens = 0;
    for (i, prompt) in prompts.iter().enumerate() {
        let choice = &body["choices"][i];
        assert_eq!(choice["index"], i);
        assert_eq!(choice["text"], *prompt);
        let expected = scorer.score_prompt(Prompt::Text(prompt), &options).unwrap();
        total_tokens += expected.tokens.len();
        let lp = &choice["logprobs"];
        let tokens: Vec<&str> = lp["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(tokens, expected.tokens);
        assert_eq!(lp["token_logprobs"][0], Value::Null);
        assert_eq!(lp["top_logprobs"][0], Value::Null);
        for k in 1..tokens.len() {
            let got = lp["token_logprobs"][k].as_f64().unwrap();
            // Sent as the shortest decimal of the f32: it reads back as the same f32.
            assert_eq!(got as f32, expected.token_logprobs[k].unwrap(), "token {k}");
            let top = lp["top_logprobs"][k].as_object().unwrap();
            assert_eq!(
                top[FAKE_GREEDY_TOKEN].as_f64().unwrap() as f32,
                FAKE_GREEDY_LOGPROB
            );
            assert_eq!(top[tokens[k]].as_f64().unwrap(), got);
        }
        // Offsets are characters, and each token is the text between two offsets.
        let text: Vec<char> = prompt.chars().collect();
        let offsets: Vec<usize> = lp["text_offset"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_u64().unwrap() as usize)
            .collect();
        for k in 0..tokens.len() {
            let end = offsets.get(k + 1).copied().unwrap_or(text.len());
            assert_eq!(text[offsets[k]..end].iter().collect::<String>(), tokens[k]);
        }
    }
    assert_eq!(body["usage"]["prompt_tokens"], total_tokens);
    assert_eq!(body["usage"]["completion_tokens"], 0);
}

#[tokio::test]
async fn max_tokens_one_appends_the_greedy_token_like_the_harness_expects() {
    let app = default_app();
    // Token ids (the harness default), read by the fake as characters.
    let ids: Vec<u32> = "ab c".chars().map(u32::from).collect();
    let (status, body) = post(&app, "/v1/completions", json!({
        "model": MODEL, "prompt": [ids], "echo": true, "max_tokens": 1, "logprobs": 1, "temperature": 0, "seed": 1234,
    })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["text"], format!("ab c{FAKE_GREEDY_TOKEN}"));
    let lp = &choice["logprobs"];
    assert_eq!(lp["tokens"].as_array().unwrap().len(), 5);
    assert_eq!(lp["tokens"][4], FAKE_GREEDY_TOKEN);
    assert_eq!(lp["text_offset"][4], 4);
    // What the harness computes: every scored prompt token is compared with its top-1.
    for k in 1..4 {
        let top = lp["top_logprobs"][k].as_object().unwrap();
        assert_eq!(top.len(), 1);
        let best = top
            .values()
            .map(|v| v.as_f64().unwrap())
            .fold(f64::MIN, f64::max);
        assert!(lp["token_logprobs"][k].as_f64().unwrap() < best);
    }
    assert_eq!(body["usage"]["completion_tokens"], 1);
    // Without echo, only the generated token comes back.
    let (status, body) = post(
        &app,
        "/v1/completions",
        json!({"prompt": "ab", "max_tokens": 1, "logprobs": 0}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["choices"][0]["text"], FAKE_GREEDY_TOKEN);
    assert_eq!(
        body["choices"][0]["logprobs"]["tokens"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(body["choices"][0]["logprobs"]["text_offset"][0], 2);
}

#[tokio::test]
async fn completions_rejects_generation_and_odd_requests() {
    let app = default_app();
    for (body, needle) in [
        (json!({"prompt": "a"}), "max_tokens is 16"),
        (
            json!({"prompt": "a", "max_tokens": 5, "echo": true}),
            "chat/completions",
        ),
        (json!({"prompt": "a", "max_tokens": 0}), "echo"),
        (
            json!({"prompt": "a", "echo": true, "n": 2}),
            "n and best_of",
        ),
        (
            json!({"prompt": "a", "echo": true, "stream": true}),
            "streaming",
        ),
        (
            json!({"prompt": "a", "echo": true, "logprobs": 50}),
            "at most 20",
        ),
        (json!({"prompt": [], "echo": true}), "empty list"),
        (
            json!({"prompt": ["a", ""], "echo": true}),
            "prompt 1 is empty",
        ),
        (
            json!({"prompt": [[55296]], "echo": true}),
            "unknown token id",
        ),
    ] {
        let (status, reply) = post(&app, "/v1/completions", body.clone()).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, needle);
    }
    let (status, reply) = post(
        &app,
        "/v1/completions",
        json!({"model": "x", "prompt": "a", "echo": true}),
    )
    .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "`x`");
}

#[tokio::test]
async fn scorer_failure_is_a_500() {
    let backends = Backends::new().with_scorer(FakePromptScorer::new(MODEL).failing_on("boom"));
    let app = router(&ServerConfig::new(MODEL), backends).unwrap();
    let (status, body) = post(
        &app,
        "/v1/completions",
        json!({"prompt": ["ok", "a boom"], "echo": true}),
    )
    .await;
    assert_error(status, &body, StatusCode::INTERNAL_SERVER_ERROR, "boom");
}

#[tokio::test]
async fn bearer_token_guards_the_api_but_not_health() {
    let app = app(
        ServerConfig::new(MODEL).with_bearer_token("s3cret"),
        ScriptedChatModel::new(["x"]),
    );
    let (status, body) = call(&app, "GET", "/v1/models", None, None).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "missing bearer token",
    );
    let (status, body) = call(&app, "GET", "/v1/models", None, Some("wrong")).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid bearer token",
    );
    let (status, _) = call(&app, "GET", "/v1/models", None, Some("s3cret")).await;
    assert_eq!(status, StatusCode::OK);
    // The scheme is case-insensitive.
    let request = Request::get("/v1/models")
        .header(header::AUTHORIZATION, "bearer s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.clone().oneshot(request).await.unwrap().status(),
        StatusCode::OK
    );
    let (status, _) = call(
        &app,
        "POST",
        "/v1/completions",
        Some(&json!({"prompt": "a", "echo": true}).to_string()),
        Some("s3cret"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&app, "GET", "/health", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, Value::String("ok".into())));
    // Without a token configured, no header is needed.
    let (status, _) = call(&default_app(), "GET", "/v1/models", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn bodies_past_the_limit_get_413() {
    let app = app(
        ServerConfig::new(MODEL).with_max_body_bytes(256),
        ScriptedChatModel::new(["x"]),
    );
    let long = "word ".repeat(100);
    let (status, body) = post(
        &app,
        "/v1/completions",
        json!({"prompt": long, "echo": true}),
    )
    .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "larger");
    let (status, _) = post(
        &app,
        "/v1/completions",
        json!({"prompt": "short", "echo": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_full_queue_answers_503_and_does_not_block() {
    let backends = Backends::new()
        .with_scorer(FakePromptScorer::new(MODEL).with_delay(Duration::from_millis(1000)));
    let app = router(&ServerConfig::new(MODEL).with_concurrency(1, 0), backends).unwrap();
    let body = json!({"prompt": "slow", "echo": true});
    let slow = {
        let app = app.clone();
        let body = body.clone();
        tokio::spawn(async move { post(&app, "/v1/completions", body).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, reply) = post(&app, "/v1/completions", body.clone()).await;
    assert_error(status, &reply, StatusCode::SERVICE_UNAVAILABLE, "busy");
    assert!(!slow.is_finished(), "the 503 waited for the slow call");
    // Other routes still answer while the backend is busy.
    let (status, _) = call(&app, "GET", "/v1/models", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(slow.await.unwrap().0, StatusCode::OK);
    // The slot is free again.
    assert_eq!(post(&app, "/v1/completions", body).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_queue_lets_requests_wait_for_a_slot() {
    let scorer = Arc::new(FakePromptScorer::new(MODEL).with_delay(Duration::from_millis(100)));
    let backends = Backends {
        chat: None,
        scorer: Some(scorer.clone()),
    };
    let app = router(&ServerConfig::new(MODEL).with_concurrency(1, 8), backends).unwrap();
    let calls: Vec<_> = (0..4)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                post(
                    &app,
                    "/v1/completions",
                    json!({"prompt": format!("p{i}"), "echo": true}),
                )
                .await
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().0, StatusCode::OK);
    }
    assert_eq!(scorer.calls(), 4);
}

#[test]
fn a_bad_config_is_refused_by_router() {
    let err = router(&ServerConfig::new(""), Backends::new()).unwrap_err();
    assert!(err.to_string().contains("model_id"), "{err}");
}

/// A chat backend whose future blocks its thread, as a local model does.
struct BlockingChat;

impl navab_llm::ChatModel for BlockingChat {
    fn chat<'a>(
        &'a self,
        _request: &'a navab_llm::ChatRequest,
    ) -> navab_llm::BoxFuture<'a, navab_llm::Result<navab_llm::ChatResponse>> {
        Box::pin(async {
            std::thread::sleep(Duration::from_millis(1000));
            Ok(navab_llm::ChatResponse::new("slow"))
        })
    }
}

// A single-threaded runtime: if the chat future ran on it, nothing else could answer.
#[tokio::test(flavor = "current_thread")]
async fn a_blocking_backend_does_not_stall_the_executor() {
    let backends = Backends::new().with_chat(BlockingChat);
    let app = router(&ServerConfig::new(MODEL).with_concurrency(2, 4), backends).unwrap();
    let chat = {
        let app = app.clone();
        tokio::spawn(async move {
            post(
                &app,
                "/v1/chat/completions",
                json!({"messages": [{"role": "user", "content": "Hi"}]}),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = call(&app, "GET", "/v1/models", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !chat.is_finished(),
        "/v1/models waited for the blocking chat call"
    );
    let (status, body) = chat.await.unwrap();
    assert_eq!(
        (status, body["choices"][0]["message"]["content"].as_str()),
        (StatusCode::OK, Some("slow"))
    );
}

#[tokio::test]
async fn a_real_socket_server_finishes_requests_in_flight_on_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backends = Backends::new()
        .with_scorer(FakePromptScorer::new(MODEL).with_delay(Duration::from_millis(300)));
    let config = ServerConfig::new(MODEL).with_addr("127.0.0.1:0".parse().unwrap());
    let server = navab_server::Server::bind(&config, backends).await.unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    let body = json!({"prompt": "My answer is A", "echo": true, "logprobs": 0}).to_string();
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"text_offset\""), "{response}");
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Stopped: no new connections.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// A scorer that predicts no next token, whatever it is asked.
struct NoNextToken;

impl PromptScorer for NoNextToken {
    fn model_id(&self) -> &str {
        MODEL
    }
    fn score_prompt(
        &self,
        prompt: Prompt<'_>,
        options: &ScoreOptions,
    ) -> navab_eval::Result<navab_server::PromptLogprobs> {
        let mut scored = FakePromptScorer::new(MODEL).score_prompt(prompt, options)?;
        scored.next_token = None;
        Ok(scored)
    }
}

#[tokio::test]
async fn max_tokens_one_without_a_next_token_is_refused_not_truncated() {
    let app = router(
        &ServerConfig::new(MODEL),
        Backends::new().with_scorer(NoNextToken),
    )
    .unwrap();
    let (status, body) = post(
        &app,
        "/v1/completions",
        json!({"prompt": "a b", "echo": true, "max_tokens": 1, "logprobs": 1}),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "max_tokens: 0");
    let (status, _) = post(
        &app,
        "/v1/completions",
        json!({"prompt": "a b", "echo": true, "max_tokens": 0, "logprobs": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
