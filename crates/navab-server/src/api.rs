//! OpenAI wire types (the parts this server reads and writes) and the error response.

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            param: None,
            code: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 400 about one request field.
    pub fn bad_param(param: &'static str, message: impl Into<String>) -> Self {
        Self {
            param: Some(param),
            ..Self::bad_request(message)
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    fn kind(&self) -> &'static str {
        match self.status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::NOT_FOUND => "not_found_error",
            StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => "overloaded_error",
            s if s.is_server_error() => "server_error",
            _ => "invalid_request_error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, "{}", self.message);
        }
        let body = serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind(),
                "param": self.param,
                "code": self.code,
            }
        });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self.status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// A JSON body whose failures are OpenAI-shaped errors: 413 past the body limit, 400 naming
/// the field for bad JSON. Any content type is accepted (curl's `-d` sends a form type).
pub(crate) struct OpenAiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OpenAiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        status,
                        "the request body is larger than this server accepts",
                    )
                } else {
                    ApiError::new(status, rejection.body_text())
                }
            })?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                ApiError::bad_request(format!("invalid JSON body: {inner}"))
            } else {
                ApiError::bad_request(format!("invalid JSON body: field `{path}`: {inner}"))
            }
        })?;
        Ok(Self(value))
    }
}

/// `stop`: one string or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// A message's content: a string, or an array of parts of which only text is understood.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub(crate) struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
}

/// `POST /v1/chat/completions`. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatCompletionRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub messages: Vec<WireMessage>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub stream: Option<bool>,
}

/// `POST /v1/completions`. `prompt` is read by hand for clear errors. Unknown fields are
/// ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct CompletionRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub prompt: serde_json::Value,
    #[serde(default)]
    pub echo: Option<bool>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub logprobs: Option<u32>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub best_of: Option<u32>,
    #[serde(default)]
    pub stream: Option<bool>,
}

/// A prompt of a completions request, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnedPrompt {
    Text(String),
    Tokens(Vec<u32>),
}

/// Reads `prompt`: a string, a list of strings, a list of token ids, or a list of lists.
pub(crate) fn parse_prompts(value: &serde_json::Value) -> Result<Vec<OwnedPrompt>, ApiError> {
    use serde_json::Value;
    let bad = |message: String| ApiError::bad_param("prompt", message);
    let token_ids = |items: &[Value], at: &str| -> Result<Vec<u32>, ApiError> {
        items
            .iter()
            .enumerate()
            .map(|(j, v)| {
                v.as_u64()
                    .and_then(|id| u32::try_from(id).ok())
                    .ok_or_else(|| bad(format!("prompt{at}[{j}] is not a token id: {v}")))
            })
            .collect()
    };
    let prompts = match value {
        Value::String(s) => vec![OwnedPrompt::Text(s.clone())],
        Value::Array(items) if items.is_empty() => {
            return Err(bad("prompt is an empty list".into()));
        }
        Value::Array(items) if items.iter().all(Value::is_number) => {
            vec![OwnedPrompt::Tokens(token_ids(items, "")?)]
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(OwnedPrompt::Text(s.clone())),
                Value::Array(ids) => Ok(OwnedPrompt::Tokens(token_ids(ids, &format!("[{i}]"))?)),
                other => Err(bad(format!(
                    "prompt[{i}] is neither a string nor a list of token ids: {other}"
                ))),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(bad(format!(
                "prompt must be a string, a list of strings or token ids; got {other}"
            )));
        }
    };
    for (i, prompt) in prompts.iter().enumerate() {
        let empty = match prompt {
            OwnedPrompt::Text(s) => s.is_empty(),
            OwnedPrompt::Tokens(ids) => ids.is_empty(),
        };
        if empty {
            return Err(bad(format!("prompt {i} is empty")));
        }
    }
    Ok(prompts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompts_in_every_shape() {
        let text = |s: &str| OwnedPrompt::Text(s.into());
        assert_eq!(parse_prompts(&json!("a")).unwrap(), [text("a")]);
        assert_eq!(
            parse_prompts(&json!(["a", "b"])).unwrap(),
            [text("a"), text("b")]
        );
        assert_eq!(
            parse_prompts(&json!([1, 2])).unwrap(),
            [OwnedPrompt::Tokens(vec![1, 2])]
        );
        assert_eq!(
            parse_prompts(&json!([[1], [2, 3]])).unwrap(),
            [
                OwnedPrompt::Tokens(vec![1]),
                OwnedPrompt::Tokens(vec![2, 3])
            ]
        );
    }

    #[test]
    fn bad_prompts_say_what_is_wrong() {
        for (value, needle) in [
            (json!([]), "empty list"),
            (json!(""), "prompt 0 is empty"),
            (json!(["a", 3]), "prompt[1]"),
            (json!([[1, -2]]), "prompt[0][1]"),
            (json!([1, 5_000_000_000u64]), "prompt[1]"),
            (json!({"a": 1}), "must be a string"),
        ] {
            let err = parse_prompts(&value).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
            assert!(err.message.contains(needle), "{value}: {}", err.message);
        }
    }
}
