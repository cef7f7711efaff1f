//! Decoder language models for NaVAB, with batched per-token log-probabilities.
//!
//! ```no_run
//! use navab_lm::{LanguageModel, LoadOptions};
//!
//! # fn main() -> navab_lm::Result<()> {
//! // A GGUF file (its tokenizer is rebuilt from the file) or an HF-layout directory.
//! let model = LanguageModel::load("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
//!                                 &LoadOptions::cpu())?;
//! let natural = model.tokenizer().encode("The cat sat on the mat.", true)?.ids;
//! let shuffled = model.tokenizer().encode("mat the on sat cat The.", true)?.ids;
//! let logprobs = model.token_logprobs(&[natural, shuffled])?;
//! let mean = |lp: &Vec<f32>| lp.iter().sum::<f32>() / lp.len() as f32;
//! assert!(mean(&logprobs[0]) > mean(&logprobs[1]));
//! # Ok(()) }
//! ```
//!
//! The crate loads llama, mistral, qwen2 and qwen3 decoders from
//! - an HF directory: `config.json`, `model.safetensors` or a sharded
//!   `model.safetensors.index.json`, `tokenizer.json` (and `tokenizer_config.json` for the chat
//!   template);
//! - a GGUF file, quantized (Q4_0, Q4_1, Q8_0, K-quants, ...) or not, with its tokenizer rebuilt
//!   from the file's metadata when no `tokenizer.json` is given;
//! - the Hugging Face hub, behind the `hub` feature (`hub::download`).
//!
//! [`LanguageModel::token_logprobs`] runs a right-padded batch through the decoder once and
//! applies the output projection only to the positions asked for, in chunks, so memory stays
//! at `chunk × vocab` floats whatever the batch.
//!
//! # Features
//! - `cuda`: GPU support through candle's CUDA backend (pick the device at run time with
//!   [`parse_device`]).
//! - `hub`: download models from the Hugging Face hub.

mod config;
mod decoder;
mod device;
mod error;
#[cfg(feature = "hub")]
pub mod hub;
pub mod kernels;
mod model;
mod tokenizer;
mod weights;

pub use candle_core::{DType, Device};
pub use config::{Architecture, DecoderConfig, Llama3RopeScaling, RopeLayout};
pub use decoder::{Decoder, PrefixCache};
pub use device::{parse_device, parse_dtype};
pub use error::{Error, Result};
#[cfg(feature = "chat")]
mod chat;
mod generate;
#[cfg(feature = "chat")]
pub use chat::LocalChatModel;
pub use generate::{GenerateOptions, Generation, StopReason, TemplateMessage};
pub use model::{LanguageModel, LoadOptions, ModelFormat, SharedLogprobs, SharedPrefix};
pub use tokenizer::{Encoded, TextTokenizer};
