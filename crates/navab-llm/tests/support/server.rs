//! A small OpenAI-compatible server on loopback, for tests and the client benchmark.
//!
//! `POST /v1/chat/completions` answers `echo: <last user message>`, deterministic from the
//! request; usage counts whitespace-separated words. It counts the requests it answers and
//! keeps the last request body, so tests can check what reached it.

#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// The reply the server gives to a last user message.
pub fn echo(last_user_message: &str) -> String {
    format!("echo: {last_user_message}")
}

#[derive(Default)]
struct Shared {
    /// `Bearer <key>` that requests must carry, when set.
    required_auth: Option<String>,
    answered: AtomicU64,
    last_body: Mutex<Option<Value>>,
}

/// A running fake server; stops with the test's runtime.
pub struct FakeServer {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeServer {
    /// A server that accepts any (or no) API key.
    pub async fn start() -> Self {
        Self::start_with_key(None).await
    }

    /// A server that wants `Authorization: Bearer <key>`; any other request gets a 401 whose
    /// body echoes the header it received (as a careless server might).
    pub async fn start_with_key(key: Option<&str>) -> Self {
        let shared = Arc::new(Shared {
            required_auth: key.map(|k| format!("Bearer {k}")),
            ..Shared::default()
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/models", get(models))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, shared }
    }

    /// `http://<addr>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Chat completions answered with a 200 so far.
    pub fn answered(&self) -> u64 {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// The body of the last request that was answered.
    pub fn last_body(&self) -> Option<Value> {
        self.shared.last_body.lock().unwrap().clone()
    }
}

/// `GET /v1/models`: the one model it serves, `fake/echo-1`, behind the same key check.
async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(required) = &shared.required_auth {
        let got = headers.get("authorization").and_then(|v| v.to_str().ok());
        if got != Some(required.as_str()) {
            let error = json!({"error": {"message": "invalid credentials", "type": "auth"}});
            return (StatusCode::UNAUTHORIZED, Json(error)).into_response();
        }
    }
    Json(json!({"object": "list", "data": [{"id": "fake/echo-1", "object": "model"}]}))
        .into_response()
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(required) = &shared.required_auth {
        let got = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if got != required {
            let error = json!({"error": {
                "message": format!("invalid credentials: {got}"),
                "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}});
            return (StatusCode::UNAUTHORIZED, Json(error)).into_response();
        }
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let text_of = |m: &Value| m["content"].as_str().unwrap_or("").to_string();
    let Some(last_user) = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(text_of)
    else {
        let error = json!({"error": {"message": "no user message", "type": "invalid_request_error",
            "param": "messages", "code": null}});
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    };
    let reply = echo(&last_user);
    let prompt_tokens: u64 = messages.iter().map(|m| words(&text_of(m))).sum();
    let completion_tokens = words(&reply);
    let n = shared.answered.fetch_add(1, Ordering::SeqCst);
    let model = body["model"].clone();
    *shared.last_body.lock().unwrap() = Some(body);
    Json(json!({
        "id": format!("chatcmpl-{n}"),
        "object": "chat.completion",
        "created": 1_700_000_000u32,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply},
            "finish_reason": "stop",
            "logprobs": null
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        }
    }))
    .into_response()
}
