//! Text generation: chat templates, greedy and seeded sampling, stop conditions.

use candle_core::{Tensor, D};
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::{Error, LanguageModel, Result};

/// How to generate. `Default`: greedy, 256 new tokens, no stop strings.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Upper bound on new tokens.
    pub max_new_tokens: usize,
    /// 0 = greedy (argmax); otherwise logits are divided by it before sampling.
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p`.
    pub top_p: f64,
    /// Seed of the sampler; the same seed and prompt give the same text.
    pub seed: u64,
    /// Generation stops before the first occurrence of any of these strings.
    pub stop: Vec<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            stop: Vec::new(),
        }
    }
}

impl GenerateOptions {
    /// Checks the ranges.
    pub fn check(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::InvalidInput(format!(
                "temperature {} must be finite and >= 0",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::InvalidInput(format!(
                "top_p {} must be in (0, 1]",
                self.top_p
            )));
        }
        Ok(())
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// An end-of-sequence token or a stop string.
    Stop,
    /// `max_new_tokens` or the model's context length.
    Length,
}

/// A generated continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The new text (stop string and end token excluded).
    pub text: String,
    /// Token ids of the prompt as encoded.
    pub prompt_tokens: usize,
    /// New tokens generated (end token included).
    pub completion_tokens: usize,
    /// Why it stopped.
    pub stop_reason: StopReason,
}

/// One message for [`LanguageModel::apply_chat_template`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TemplateMessage<'a> {
    /// `system`, `user` or `assistant`.
    pub role: &'a str,
    /// The text.
    pub content: &'a str,
}

impl LanguageModel {
    /// Token ids that end a generation: EOS and the end-of-turn markers of the chat template.
    pub fn stop_token_ids(&self) -> &[u32] {
        &self.special.stop_ids
    }

    /// Renders `messages` with the model's chat template (Jinja, from `tokenizer_config.json` or
    /// the GGUF metadata), ending with the assistant's turn opened when `add_generation_prompt`.
    ///
    /// # Errors
    /// The model has no chat template (a base model), or the template fails to render.
    pub fn apply_chat_template(
        &self,
        messages: &[TemplateMessage<'_>],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self.chat_template().ok_or_else(|| {
            Error::InvalidInput(format!(
                "{} has no chat template (a base model?): send plain prompts instead",
                self.name()
            ))
        })?;
        let mut env = minijinja::Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        let render_error = |e: minijinja::Error| {
            Error::InvalidInput(format!("chat template of {}: {e:#}", self.name()))
        };
        env.add_template("chat", template).map_err(render_error)?;
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.special.bos.clone().unwrap_or_default(),
            eos_token => self.special.eos.clone().unwrap_or_default(),
        };
        env.get_template("chat")
            .and_then(|t| t.render(ctx))
            .map_err(render_error)
    }

    /// Generates a continuation of `prompt` (already templated; special tokens in it are
    /// parsed as such) one token at a time with a key-value cache.
    pub fn generate(&self, prompt: &str, options: &GenerateOptions) -> Result<Generation> {
        options.check()?;
        let encoded = self.tokenizer().encode(prompt, true)?;
        let prompt_ids = encoded.ids;
        if prompt_ids.is_empty() {
            return Err(Error::InvalidInput("empty prompt".into()));
        }
        let context = self.config().max_position_embeddings;
        if prompt_ids.len() >= context {
            return Err(Error::InvalidInput(format!(
                "prompt of {} tokens does not fit the context of {context}",
                prompt_ids.len()
            )));
        }
        let decoder = self.decoder();
        let device = decoder.device();
        let ids = Tensor::new(prompt_ids.as_slice(), device)?.unsqueeze(0)?;
        let (hidden, mut cache) = decoder.forward_prefixes(&ids, &[prompt_ids.len()])?;
        let mut last = hidden.narrow(1, prompt_ids.len() - 1, 1)?.squeeze(1)?;
        let mut rng = StdRng::seed_from_u64(options.seed);
        let mut generated: Vec<u32> = Vec::new();
        let mut stop_reason = StopReason::Length;
        let mut text = String::new();
        let budget = options.max_new_tokens.min(context - prompt_ids.len());
        while generated.len() < budget {
            let logits = decoder.logits(&last)?.squeeze(0)?;
            let next = sample(&logits, options, &mut rng)?;
            generated.push(next);
            if self.special.stop_ids.contains(&next) {
                stop_reason = StopReason::Stop;
                generated.pop();
                text = self.tokenizer().decode(&generated, true)?;
                generated.push(next);
                break;
            }
            if !options.stop.is_empty() {
                text = self.tokenizer().decode(&generated, true)?;
                if let Some(cut) = options
                    .stop
                    .iter()
                    .filter(|s| !s.is_empty())
                    .filter_map(|s| text.find(s.as_str()))
                    .min()
                {
                    text.truncate(cut);
                    stop_reason = StopReason::Stop;
                    break;
                }
            }
            let step = Tensor::new(&[next], device)?.unsqueeze(0)?;
            last = decoder.extend(&step, &mut cache)?.squeeze(1)?;
        }
        if stop_reason == StopReason::Length {
            text = self.tokenizer().decode(&generated, true)?;
        }
        Ok(Generation {
            text,
            prompt_tokens: prompt_ids.len(),
            completion_tokens: generated.len(),
            stop_reason,
        })
    }
}

/// Greedy when the temperature is 0, else temperature + nucleus sampling. Ties go to the
/// lowest id, so greedy decoding is deterministic.
fn sample(logits: &Tensor, options: &GenerateOptions, rng: &mut StdRng) -> Result<u32> {
    if options.temperature == 0.0 {
        return Ok(logits.argmax(D::Minus1)?.to_scalar::<u32>()?);
    }
    let scaled = (logits / options.temperature)?;
    let probs = candle_nn::ops::softmax_last_dim(&scaled)?.to_vec1::<f32>()?;
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    let mut kept = Vec::new();
    let mut mass = 0.0f64;
    for &i in &order {
        kept.push(i);
        mass += probs[i] as f64;
        if mass >= options.top_p {
            break;
        }
    }
    let mut draw = rng.random::<f64>() * mass;
    for &i in &kept {
        draw -= probs[i] as f64;
        if draw <= 0.0 {
            return Ok(i as u32);
        }
    }
    Ok(*kept.last().expect("at least one token") as u32)
}
