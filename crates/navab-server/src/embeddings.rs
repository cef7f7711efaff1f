//! `POST /v1/embeddings`: OpenAI's embeddings route over a `navab_embed::Embedder`, as vLLM,
//! text-embeddings-inference and Ollama serve it.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::api::{ApiError, OpenAiJson};
use crate::routes::AppState;

/// `POST /v1/embeddings`. Unknown fields (`encoding_format: "float"`, `user`) are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct EmbeddingRequest {
    #[serde(default)]
    model: Option<String>,
    input: Value,
    #[serde(default)]
    encoding_format: Option<String>,
}

/// `input`: one string or a list of strings (token-id inputs are not supported).
fn texts(input: Value) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::bad_param(
            "input",
            "input must be a string or a non-empty list of strings (token ids are not supported)",
        )
    };
    match input {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) if !items.is_empty() => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

pub(crate) async fn embeddings(
    State(state): State<Arc<AppState>>,
    OpenAiJson(request): OpenAiJson<EmbeddingRequest>,
) -> Result<Json<Value>, ApiError> {
    if request
        .encoding_format
        .as_deref()
        .is_some_and(|f| f != "float")
    {
        return Err(ApiError::bad_param(
            "encoding_format",
            "only encoding_format \"float\" is supported",
        ));
    }
    let texts = texts(request.input)?;
    run(state, request.model, texts).await
}

async fn run(
    state: Arc<AppState>,
    model: Option<String>,
    texts: Vec<String>,
) -> Result<Json<Value>, ApiError> {
    use axum::http::StatusCode;
    use serde_json::json;

    let Some((model_id, embedder)) = state.backends.embedder.clone() else {
        return Err(ApiError::bad_request(
            "this server has no embedding model; /v1/embeddings is not available",
        ));
    };
    if let Some(m) = model.filter(|m| *m != model_id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("the model `{m}` does not exist on this server; it embeds with `{model_id}`"),
        )
        .with_code("model_not_found"));
    }
    let vectors = state
        .run_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            embedder.embed(&refs)
        })
        .await?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let data: Vec<Value> = vectors
        .rows()
        .into_iter()
        .enumerate()
        .map(|(i, row)| json!({"object": "embedding", "index": i, "embedding": row.to_vec()}))
        .collect();
    Ok(Json(json!({
        "object": "list",
        "model": model_id,
        "data": data,
        // The seam does not count tokens; clients that read usage get zeros, not a guess.
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    })))
}
