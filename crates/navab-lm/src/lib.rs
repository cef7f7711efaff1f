#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod decoder;
mod device;
mod error;
#[cfg(feature = "hub")]
#[cfg_attr(docsrs, doc(cfg(feature = "hub")))]
pub mod hub;
pub use navab_kernels as kernels;
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
#[cfg_attr(docsrs, doc(cfg(feature = "chat")))]
pub use chat::LocalChatModel;
pub use generate::{GenerateOptions, Generation, StopReason, TemplateMessage};
pub use model::{LanguageModel, LoadOptions, ModelFormat, SharedLogprobs, SharedPrefix};
pub use tokenizer::{Encoded, TextTokenizer};
