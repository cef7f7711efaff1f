//! Tokenizers: an HF `tokenizer.json`, or one rebuilt from a GGUF file's own metadata.

use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::{Error, Result};

/// Token ids of a text and the byte span of the text each token covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids, special tokens (e.g. BOS) included.
    pub ids: Vec<u32>,
    /// Byte range `(start, end)` in the input of each token; `(0, 0)` for added special tokens.
    pub offsets: Vec<(usize, usize)>,
}

/// A tokenizer with the few operations scoring and generation need.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
}

impl TextTokenizer {
    /// Wraps a `tokenizers::Tokenizer`.
    pub fn new(inner: Tokenizer) -> Self {
        Self { inner }
    }

    /// Loads a `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::MissingFile {
                path: path.to_path_buf(),
                reason: "tokenizer.json not found (pass the tokenizer of this model explicitly)"
                    .into(),
            });
        }
        let inner = Tokenizer::from_file(path)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        Ok(Self { inner })
    }

    /// Rebuilds the tokenizer stored in a GGUF header (`tokenizer.ggml.*`), as llama.cpp does:
    /// byte-level BPE from the vocabulary and merges, the pre-tokenizer named by
    /// `tokenizer.ggml.pre`, control tokens as special tokens, and BOS when `add_bos_token` is set.
    ///
    /// Supported: `tokenizer.ggml.model = gpt2` with `pre` in `gpt2`, `smollm`, `qwen2`,
    /// `llama-bpe`/`llama3`/`smaug-bpe`. Others give an error asking for a `tokenizer.json`.
    pub fn from_gguf(content: &Content) -> Result<Self> {
        Ok(Self {
            inner: tokenizer_from_gguf(content)?,
        })
    }

    /// The wrapped tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Encodes `text`, adding the special tokens the tokenizer's post-processor adds (BOS for
    /// Llama 3, nothing for Qwen or SmolLM), as HF's `tokenizer(text)` does.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Encoded> {
        let enc = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let specials = enc.get_special_tokens_mask();
        let offsets = enc
            .get_offsets()
            .iter()
            .zip(specials)
            .map(|(&o, &special)| if special == 1 { (0, 0) } else { o })
            .collect();
        Ok(Encoded {
            ids: enc.get_ids().to_vec(),
            offsets,
        })
    }

    /// Decodes ids to text.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}

// The regexes are llama.cpp's / the original tokenizer.json's, per `tokenizer.ggml.pre`.
const REGEX_QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const REGEX_LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn metadata<'a>(content: &'a Content, key: &str) -> Option<&'a Value> {
    content.metadata.get(key)
}

fn as_u32(value: &Value) -> Option<u32> {
    match value {
        Value::U8(v) => Some(*v as u32),
        Value::I8(v) => u32::try_from(*v).ok(),
        Value::U16(v) => Some(*v as u32),
        Value::I16(v) => u32::try_from(*v).ok(),
        Value::U32(v) => Some(*v),
        Value::I32(v) => u32::try_from(*v).ok(),
        Value::U64(v) => u32::try_from(*v).ok(),
        Value::I64(v) => u32::try_from(*v).ok(),
        _ => None,
    }
}

fn string_array(content: &Content, key: &str) -> Result<Vec<String>> {
    let values = metadata(content, key)
        .ok_or_else(|| Error::Tokenizer(format!("GGUF has no `{key}`")))?
        .to_vec()
        .map_err(|_| Error::Tokenizer(format!("`{key}` is not an array")))?;
    values
        .iter()
        .map(|v| {
            v.to_string()
                .cloned()
                .map_err(|_| Error::Tokenizer(format!("`{key}` holds a non-string")))
        })
        .collect()
}

fn split(regex: &str) -> Result<PreTokenizerWrapper> {
    let split = Split::new(
        SplitPattern::Regex(regex.into()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(|e| Error::Tokenizer(e.to_string()))?;
    Ok(split.into())
}

fn tokenizer_from_gguf(content: &Content) -> Result<Tokenizer> {
    let model = metadata(content, "tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .map(|s| s.to_ascii_lowercase())
        .ok_or_else(|| Error::Tokenizer("GGUF has no `tokenizer.ggml.model`".into()))?;
    if model != "gpt2" {
        return Err(Error::Tokenizer(format!(
            "rebuilding a `{model}` tokenizer from GGUF is not supported; pass the model's \
             tokenizer.json (`LoadOptions::tokenizer`, `--tokenizer` in the binaries) or put it \
             beside the .gguf file"
        )));
    }
    let tokens = string_array(content, "tokenizer.ggml.tokens")?;
    let merges = string_array(content, "tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| Error::Tokenizer(format!("malformed merge `{m}`")))
        })
        .collect::<Result<Vec<_>>>()?;
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    let mut tokenizer = Tokenizer::new(bpe);

    let pre = metadata(content, "tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_else(|| "gpt2".into());
    let no_regex = ByteLevel::new(false, false, false);
    let pre_tokenizer: PreTokenizerWrapper = match pre.as_str() {
        "gpt2" | "default" => ByteLevel::new(false, true, true).into(),
        // SmolLM: digits one by one, then GPT-2's byte-level split.
        "smollm" => Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ])
        .into(),
        "qwen2" => {
            tokenizer
                .with_normalizer(Some(NFC))
                .map_err(|e| Error::Tokenizer(e.to_string()))?;
            Sequence::new(vec![split(REGEX_QWEN2)?, no_regex.into()]).into()
        }
        "llama-bpe" | "llama3" | "smaug-bpe" => {
            Sequence::new(vec![split(REGEX_LLAMA3)?, no_regex.into()]).into()
        }
        other => {
            return Err(Error::Tokenizer(format!(
                "GGUF pre-tokenizer `{other}` is not supported; pass the model's tokenizer.json"
            )))
        }
    };
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    tokenizer.with_decoder(Some(ByteLevelDecoder::new(false, false, false)));

    // llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    if let Some(types) =
        metadata(content, "tokenizer.ggml.token_type").and_then(|v| v.to_vec().ok())
    {
        let mut special = Vec::new();
        let mut user = Vec::new();
        for (id, ty) in types.iter().enumerate() {
            match (as_u32(ty), tokens.get(id)) {
                (Some(3), Some(tok)) => special.push(AddedToken::from(tok.clone(), true)),
                (Some(4), Some(tok)) => {
                    user.push(AddedToken::from(tok.clone(), false).normalized(false))
                }
                _ => {}
            }
        }
        tokenizer
            .add_special_tokens(special)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        tokenizer
            .add_tokens(user)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
    }

    let add_bos = metadata(content, "tokenizer.ggml.add_bos_token")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(false);
    if add_bos {
        let bos_id = metadata(content, "tokenizer.ggml.bos_token_id")
            .and_then(as_u32)
            .ok_or_else(|| {
                Error::Tokenizer("add_bos_token is set but bos_token_id is missing".into())
            })?;
        let bos = tokens.get(bos_id as usize).ok_or_else(|| {
            Error::Tokenizer(format!("bos_token_id {bos_id} is out of the vocabulary"))
        })?;
        let template = TemplateProcessing::builder()
            .try_single(format!("{bos} $A"))
            .and_then(|b| b.try_pair(format!("{bos} $A {bos} $B")))
            .map_err(|e| Error::Tokenizer(e.to_string()))?
            .special_tokens(vec![(bos.clone(), bos_id)])
            .build()
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        tokenizer.with_post_processor(Some(template));
    }
    Ok(tokenizer)
}
