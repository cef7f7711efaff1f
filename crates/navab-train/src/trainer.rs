//! The training loop: cached reference log-probabilities, seeded shuffling, gradient
//! accumulation and clipping, AdamW with a schedule, a JSONL log, checkpoints and resume.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Tensor, Var};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::data::EncodedPair;
use crate::dpo::{pair_loss, DpoConfig, PairLogprobs, PairLoss};
use crate::error::{io_error, json_error};
use crate::lora::{LoraAdapters, LoraConfig};
use crate::model::{AdapterUse, Group, TrainableModel};
use crate::optim::{clip_grad_norm, AdamW, OptimConfig};
use crate::peft::{load_peft, save_peft};
use crate::{Error, Result};

/// Everything that decides a training run. Defaults: the paper's DPO setup (Tables 5–6:
/// learning rate 5e-5, 3 epochs, batch 2, gradient accumulation 8) with LoRA rank 8 on the
/// attention projections and β = 0.1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Adapter settings.
    pub lora: LoraConfig,
    /// Loss settings.
    pub dpo: DpoConfig,
    /// Optimizer and schedule.
    pub optim: OptimConfig,
    /// Passes over the pairs (default 3).
    pub epochs: usize,
    /// Pairs per forward/backward pass (default 2).
    pub batch_size: usize,
    /// Passes accumulated into one optimizer step (default 8).
    pub grad_accumulation: usize,
    /// Seed of the per-epoch shuffle (default 42).
    pub seed: u64,
    /// Write a checkpoint every this many optimizer steps (default 20; 0: only at the end).
    pub checkpoint_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lora: LoraConfig::default(),
            dpo: DpoConfig::default(),
            optim: OptimConfig::default(),
            epochs: 3,
            batch_size: 2,
            grad_accumulation: 8,
            seed: 42,
            checkpoint_every: 20,
        }
    }
}

impl TrainConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for the first bad one.
    pub fn check(&self) -> Result<()> {
        self.lora.check()?;
        self.dpo.check()?;
        self.optim.check()?;
        for (name, value) in [
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
            ("grad_accumulation", self.grad_accumulation),
        ] {
            if value == 0 {
                return Err(Error::InvalidParam {
                    name,
                    value: "0".into(),
                    reason: "must be at least 1",
                });
            }
        }
        Ok(())
    }

    /// Optimizer steps in one epoch over `pairs` pairs.
    pub fn steps_per_epoch(&self, pairs: usize) -> usize {
        pairs
            .div_ceil(self.batch_size)
            .div_ceil(self.grad_accumulation)
    }
}

/// One optimizer step's figures: one line of `train_log.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    /// Optimizer step, from 1.
    pub step: usize,
    /// Steps in the run.
    pub total_steps: usize,
    /// Fractional epoch at the end of the step.
    pub epoch: f64,
    /// Mean loss over the step's pairs.
    pub loss: f64,
    /// Mean `β·(π_c − ref_c)`.
    pub chosen_reward: f64,
    /// Mean `β·(π_r − ref_r)`.
    pub rejected_reward: f64,
    /// Mean chosen minus rejected reward.
    pub reward_margin: f64,
    /// Share of pairs whose chosen reward beats the rejected one.
    pub reward_accuracy: f64,
    /// Learning rate of the step.
    pub learning_rate: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Pairs in the step.
    pub pairs: usize,
    /// Tokens the policy ran over (prompts and completions of both sequences, no padding).
    pub policy_tokens: usize,
    /// Seconds the step took.
    pub seconds: f64,
}

/// The result of [`train`].
#[derive(Debug)]
pub struct TrainOutcome {
    /// The trained adapters.
    pub adapters: LoraAdapters,
    /// Every step's figures, including those of a resumed run's earlier part.
    pub log: Vec<StepLog>,
    /// The step training resumed from (0 for a fresh run).
    pub resumed_from: usize,
    /// Seconds spent computing the reference log-probabilities (0 when read from the cache).
    pub reference_seconds: f64,
    /// Seconds spent in optimizer steps in this call.
    pub train_seconds: f64,
}

/// Where a run keeps its files. Everything is optional: without a directory, nothing is
/// written and nothing can resume.
#[derive(Debug, Clone)]
pub struct RunFiles {
    dir: PathBuf,
}

impl RunFiles {
    /// Files under `dir`: `train_log.jsonl`, `reference_logprobs.json`, `checkpoints/step-N/`
    /// (PEFT adapter + optimizer state + `trainer_state.json`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    fn log(&self) -> PathBuf {
        self.dir.join("train_log.jsonl")
    }
    fn reference(&self) -> PathBuf {
        self.dir.join("reference_logprobs.json")
    }
    fn checkpoints(&self) -> PathBuf {
        self.dir.join("checkpoints")
    }
}

/// The settings and data a checkpoint belongs to: resuming with anything else is an error.
fn fingerprint(config: &TrainConfig, pairs: &[EncodedPair]) -> String {
    let mut bytes = serde_json::to_vec(config).unwrap_or_default();
    for p in pairs {
        bytes.extend_from_slice(p.id.as_bytes());
        for t in p.prompt.iter().chain(&p.chosen).chain(&p.rejected) {
            bytes.extend_from_slice(&t.to_le_bytes());
        }
    }
    format!("{:016x}", navab_core::hash::fnv1a(&bytes))
}

#[derive(Debug, Serialize, Deserialize)]
struct TrainerState {
    step: usize,
    total_steps: usize,
    fingerprint: String,
}

/// Reference (base model, no adapters) summed log-probabilities of each pair's chosen and
/// rejected completions, `batch_size` pairs per forward pass.
fn reference_logprobs(
    model: &TrainableModel,
    pairs: &[EncodedPair],
    batch_size: usize,
) -> Result<Vec<(f64, f64)>> {
    let mut out = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(batch_size.max(1)) {
        let (lp, _) = policy_logprobs(model, chunk, None, None)?;
        let lp = lp.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
        out.extend(lp.chunks(2).map(|c| (c[0], c[1])));
    }
    Ok(out)
}

/// Log-probabilities `[2n]` (chosen, rejected per pair) and token counts.
pub(crate) fn policy_logprobs(
    model: &TrainableModel,
    pairs: &[EncodedPair],
    adapters: Option<AdapterUse<'_>>,
    rng: Option<&mut StdRng>,
) -> Result<(Tensor, Vec<usize>)> {
    let groups: Vec<Group<'_>> = pairs
        .iter()
        .map(|p| Group {
            prompt: &p.prompt,
            completions: vec![&p.chosen, &p.rejected],
        })
        .collect();
    model.completion_logprobs(&groups, adapters, rng)
}

/// Loads the reference log-probabilities cached for these pairs, or computes and caches them.
fn cached_reference(
    model: &TrainableModel,
    pairs: &[EncodedPair],
    batch_size: usize,
    files: Option<&RunFiles>,
    key: &str,
) -> Result<(Vec<(f64, f64)>, f64)> {
    #[derive(Serialize, Deserialize)]
    struct Cache {
        fingerprint: String,
        logprobs: Vec<(f64, f64)>,
    }
    if let Some(files) = files {
        let path = files.reference();
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(cache) = serde_json::from_str::<Cache>(&text) {
                if cache.fingerprint == key && cache.logprobs.len() == pairs.len() {
                    return Ok((cache.logprobs, 0.0));
                }
            }
        }
    }
    let start = Instant::now();
    let logprobs = reference_logprobs(model, pairs, batch_size)?;
    let seconds = start.elapsed().as_secs_f64();
    if let Some(files) = files {
        let path = files.reference();
        let cache = Cache {
            fingerprint: key.to_string(),
            logprobs: logprobs.clone(),
        };
        let text = serde_json::to_string(&cache).map_err(json_error(&path))?;
        navab_core::replace_file(&path, text.as_bytes()).map_err(io_error(&path))?;
    }
    Ok((logprobs, seconds))
}

/// The micro-batches (pair indices) of each optimizer step of epoch `epoch`.
fn epoch_steps(config: &TrainConfig, n: usize, epoch: usize) -> Vec<Vec<Vec<usize>>> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(config.seed.wrapping_add(epoch as u64));
    order.shuffle(&mut rng);
    let micro: Vec<Vec<usize>> = order
        .chunks(config.batch_size)
        .map(<[usize]>::to_vec)
        .collect();
    micro
        .chunks(config.grad_accumulation)
        .map(<[Vec<usize>]>::to_vec)
        .collect()
}

/// The latest complete checkpoint in `files`, as `(step, folder)`.
fn latest_checkpoint(files: &RunFiles) -> Option<(usize, PathBuf)> {
    let entries = std::fs::read_dir(files.checkpoints()).ok()?;
    entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let step = path
                .file_name()?
                .to_str()?
                .strip_prefix("step-")?
                .parse()
                .ok()?;
            // The state file is written last: its presence marks a complete checkpoint.
            path.join("trainer_state.json")
                .is_file()
                .then_some((step, path))
        })
        .max_by_key(|(step, _)| *step)
}

fn write_checkpoint(
    files: &RunFiles,
    model: &TrainableModel,
    adapters: &LoraAdapters,
    optimizer: &AdamW,
    names: &[String],
    state: &TrainerState,
) -> Result<()> {
    let dir = files.checkpoints().join(format!("step-{}", state.step));
    save_peft(adapters, model.config(), &dir, "")?;
    let opt = dir.join("optimizer.safetensors");
    candle_core::safetensors::save(&optimizer.state(names), &opt)?;
    let path = dir.join("trainer_state.json");
    let text = serde_json::to_string_pretty(state).map_err(json_error(&path))?;
    navab_core::replace_file(&path, text.as_bytes()).map_err(io_error(&path))?;
    Ok(())
}

/// Restores adapters and optimizer from `dir`, checking that the run is the same.
fn resume(
    dir: &Path,
    model: &TrainableModel,
    adapters: &mut LoraAdapters,
    optimizer: &mut AdamW,
    names: &[String],
    key: &str,
) -> Result<usize> {
    let path = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(json_error(&path))?;
    if state.fingerprint != key {
        return Err(Error::Adapter {
            path,
            reason: "this checkpoint belongs to a run with other settings or data; \
                     write the new run into another directory"
                .into(),
        });
    }
    let loaded = load_peft(model, dir)?;
    let tensors: std::collections::HashMap<String, Tensor> = loaded
        .named_vars()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    adapters.assign(&tensors).map_err(|reason| Error::Adapter {
        path: dir.to_path_buf(),
        reason,
    })?;
    let opt = dir.join("optimizer.safetensors");
    let saved = candle_core::safetensors::load(&opt, model.device())?;
    optimizer
        .restore(names, &saved, state.step)
        .map_err(|reason| Error::Adapter { path: opt, reason })?;
    Ok(state.step)
}

/// Reads the log lines of steps up to `step` (a resumed run rewrites the rest).
fn read_log(path: &Path, step: usize) -> Vec<StepLog> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<StepLog>(l).ok())
        .filter(|l| l.step <= step)
        .collect()
}

/// Trains LoRA adapters on `pairs` with DPO against the base model.
///
/// The reference log-probabilities are those of `model` without adapters, computed once per
/// pair before the first step (and cached in `files`). With `files`, every step is appended
/// to `train_log.jsonl`, a checkpoint is written every `checkpoint_every` steps and at the
/// end, and a call on a directory holding checkpoints of the same run resumes after the
/// latest one. `on_step` sees every step's figures (for a progress bar).
///
/// # Errors
/// [`Error::InvalidParam`] for bad settings, [`Error::InvalidInput`] without pairs,
/// [`Error::NonFinite`] if the loss or the gradients blow up, and I/O errors of `files`.
pub fn train(
    model: &TrainableModel,
    pairs: &[EncodedPair],
    config: &TrainConfig,
    files: Option<&RunFiles>,
    on_step: &mut dyn FnMut(&StepLog),
) -> Result<TrainOutcome> {
    config.check()?;
    if pairs.is_empty() {
        return Err(Error::InvalidInput(
            "no preference pairs to train on".into(),
        ));
    }
    if let Some(files) = files {
        std::fs::create_dir_all(&files.dir).map_err(io_error(&files.dir))?;
    }
    let key = fingerprint(config, pairs);
    let (reference, reference_seconds) =
        cached_reference(model, pairs, config.batch_size, files, &key)?;
    let mut adapters = LoraAdapters::new(&config.lora, model.config(), model.device())?;
    let names: Vec<String> = adapters.named_vars().into_iter().map(|(n, _)| n).collect();
    let vars: Vec<Var> = adapters
        .named_vars()
        .into_iter()
        .map(|(_, v)| v.clone())
        .collect();
    let var_refs: Vec<&Var> = vars.iter().collect();
    let mut optimizer = AdamW::new(&config.optim, &var_refs)?;
    let per_epoch = config.steps_per_epoch(pairs.len());
    let total = per_epoch * config.epochs;
    let mut resumed_from = 0;
    let mut log = Vec::new();
    if let Some(files) = files {
        if let Some((_, dir)) = latest_checkpoint(files) {
            resumed_from = resume(&dir, model, &mut adapters, &mut optimizer, &names, &key)?;
            log = read_log(&files.log(), resumed_from);
        }
        let mut text = String::new();
        for line in &log {
            text.push_str(&serde_json::to_string(line).map_err(json_error(&files.log()))?);
            text.push('\n');
        }
        navab_core::replace_file(&files.log(), text.as_bytes()).map_err(io_error(&files.log()))?;
    }
    let train_start = Instant::now();
    for step in resumed_from..total {
        let epoch = step / per_epoch;
        let micro_batches = &epoch_steps(config, pairs.len(), epoch)[step % per_epoch];
        let started = Instant::now();
        let n_pairs: usize = micro_batches.iter().map(Vec::len).sum();
        let mut grads: Vec<Option<Tensor>> = vec![None; vars.len()];
        let mut sums = StepSums::default();
        // Dropout masks keyed by (seed, step): a resumed run draws the same ones.
        let mut rng = StdRng::seed_from_u64(
            config.lora.seed ^ (step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        for batch in micro_batches {
            let batch_pairs: Vec<EncodedPair> = batch.iter().map(|&i| pairs[i].clone()).collect();
            let use_ = AdapterUse {
                adapters: &adapters,
                dropout: config.lora.dropout,
            };
            let (lp, counts) = policy_logprobs(model, &batch_pairs, Some(use_), Some(&mut rng))?;
            let refs: Vec<(f64, f64)> = batch.iter().map(|&i| reference[i]).collect();
            let (losses, surrogate) = surrogate_loss(&lp, &counts, &refs, &config.dpo, n_pairs)?;
            for (l, &i) in losses.iter().zip(batch) {
                sums.add(l, pairs[i].policy_tokens());
            }
            let store = surrogate.backward()?;
            for (slot, var) in grads.iter_mut().zip(&vars) {
                if let Some(g) = store.get(var.as_tensor()) {
                    *slot = Some(match slot.take() {
                        Some(acc) => (acc + g)?,
                        None => g.clone(),
                    });
                }
            }
        }
        let mut grads: Vec<Tensor> = grads
            .into_iter()
            .zip(&vars)
            .map(|(g, v)| g.map_or_else(|| v.as_tensor().zeros_like(), Ok))
            .collect::<candle_core::Result<_>>()?;
        let grad_norm = clip_grad_norm(&mut grads, config.optim.max_grad_norm)?;
        let loss = sums.loss / n_pairs as f64;
        if !loss.is_finite() {
            return Err(Error::NonFinite {
                what: "loss",
                step: step + 1,
            });
        }
        if !grad_norm.is_finite() {
            return Err(Error::NonFinite {
                what: "gradient norm",
                step: step + 1,
            });
        }
        let lr = config.optim.learning_rate_at(step, total);
        optimizer.step(&var_refs, &grads, lr)?;
        let entry = sums.finish(step + 1, total, per_epoch, n_pairs, lr, grad_norm, started);
        if let Some(files) = files {
            append_line(&files.log(), &entry)?;
            let due = config.checkpoint_every > 0 && (step + 1) % config.checkpoint_every == 0;
            if due || step + 1 == total {
                let state = TrainerState {
                    step: step + 1,
                    total_steps: total,
                    fingerprint: key.clone(),
                };
                write_checkpoint(files, model, &adapters, &optimizer, &names, &state)?;
            }
        }
        on_step(&entry);
        log.push(entry);
    }
    Ok(TrainOutcome {
        adapters,
        log,
        resumed_from,
        reference_seconds,
        train_seconds: train_start.elapsed().as_secs_f64(),
    })
}

/// The losses of a batch from its policy log-probabilities `lp` (`[2n]`, chosen then rejected
/// per pair; a graph) and the scalar `Σ ∂L/∂π · π / normaliser`, whose gradient with respect to
/// every adapter weight is that of the batch's summed loss divided by `normaliser`.
fn surrogate_loss(
    lp: &Tensor,
    counts: &[usize],
    reference: &[(f64, f64)],
    dpo: &DpoConfig,
    normaliser: usize,
) -> Result<(Vec<PairLoss>, Tensor)> {
    let values = lp.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
    let mut losses = Vec::with_capacity(reference.len());
    let mut weights = Vec::with_capacity(values.len());
    for (k, r) in reference.iter().enumerate() {
        let l = pair_loss(
            &PairLogprobs {
                policy_chosen: values[2 * k],
                policy_rejected: values[2 * k + 1],
                reference_chosen: r.0,
                reference_rejected: r.1,
                chosen_tokens: counts[2 * k],
                rejected_tokens: counts[2 * k + 1],
            },
            dpo,
        );
        weights.push((l.d_chosen / normaliser as f64) as f32);
        weights.push((l.d_rejected / normaliser as f64) as f32);
        losses.push(l);
    }
    let w = Tensor::from_vec(weights, values.len(), lp.device())?.to_dtype(lp.dtype())?;
    Ok((losses, (lp * w)?.sum_all()?))
}

/// Gradients by adapter tensor name, as [`dpo_gradients`] returns them.
pub type NamedGradients = Vec<(String, Tensor)>;

/// The DPO loss of each pair under `adapters` (reference: the base model) and the gradient of
/// their mean with respect to every adapter variable, in [`LoraAdapters::named_vars`] order:
/// one training step's numbers without the update, for checking against other trainers.
///
/// # Errors
/// Model errors; [`Error::InvalidInput`] without pairs.
pub fn dpo_gradients(
    model: &TrainableModel,
    adapters: &LoraAdapters,
    pairs: &[EncodedPair],
    dpo: &DpoConfig,
) -> Result<(Vec<PairLoss>, NamedGradients)> {
    if pairs.is_empty() {
        return Err(Error::InvalidInput("no preference pairs".into()));
    }
    let reference = reference_logprobs(model, pairs, pairs.len())?;
    let use_ = AdapterUse {
        adapters,
        dropout: 0.0,
    };
    let (lp, counts) = policy_logprobs(model, pairs, Some(use_), None)?;
    let (losses, surrogate) = surrogate_loss(&lp, &counts, &reference, dpo, pairs.len())?;
    let store = surrogate.backward()?;
    let grads = adapters
        .named_vars()
        .into_iter()
        .map(|(name, var)| {
            let g = match store.get(var.as_tensor()) {
                Some(g) => g.clone(),
                None => var.as_tensor().zeros_like()?,
            };
            Ok((name, g))
        })
        .collect::<Result<_>>()?;
    Ok((losses, grads))
}

/// Running sums of one optimizer step.
#[derive(Default)]
struct StepSums {
    loss: f64,
    chosen: f64,
    rejected: f64,
    correct: usize,
    tokens: usize,
}

impl StepSums {
    fn add(&mut self, l: &PairLoss, tokens: usize) {
        self.loss += l.loss;
        self.chosen += l.chosen_reward;
        self.rejected += l.rejected_reward;
        self.correct += usize::from(l.chosen_reward > l.rejected_reward);
        self.tokens += tokens;
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        step: usize,
        total: usize,
        per_epoch: usize,
        n: usize,
        lr: f64,
        grad_norm: f64,
        started: Instant,
    ) -> StepLog {
        let n_f = n as f64;
        StepLog {
            step,
            total_steps: total,
            epoch: step as f64 / per_epoch as f64,
            loss: self.loss / n_f,
            chosen_reward: self.chosen / n_f,
            rejected_reward: self.rejected / n_f,
            reward_margin: (self.chosen - self.rejected) / n_f,
            reward_accuracy: self.correct as f64 / n_f,
            learning_rate: lr,
            grad_norm,
            pairs: n,
            policy_tokens: self.tokens,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

fn append_line(path: &Path, entry: &StepLog) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_error(path))?;
    let line = serde_json::to_string(entry).map_err(json_error(path))?;
    writeln!(file, "{line}").map_err(io_error(path))
}

/// Mean reward accuracy and loss of `adapters` on `pairs` (no gradients), with the cached
/// or recomputed reference: how well the adapters separate chosen from rejected.
///
/// # Errors
/// Model errors.
pub fn reward_accuracy(
    model: &TrainableModel,
    adapters: &LoraAdapters,
    pairs: &[EncodedPair],
    config: &DpoConfig,
    batch_size: usize,
) -> Result<(f64, f64)> {
    let reference = reference_logprobs(model, pairs, batch_size)?;
    let (mut correct, mut loss) = (0usize, 0f64);
    for (chunk, refs) in pairs
        .chunks(batch_size.max(1))
        .zip(reference.chunks(batch_size.max(1)))
    {
        let use_ = AdapterUse {
            adapters,
            dropout: 0.0,
        };
        let (lp, counts) = policy_logprobs(model, chunk, Some(use_), None)?;
        let values = lp
            .detach()
            .to_dtype(candle_core::DType::F64)?
            .to_vec1::<f64>()?;
        for (k, r) in refs.iter().enumerate() {
            let l = pair_loss(
                &PairLogprobs {
                    policy_chosen: values[2 * k],
                    policy_rejected: values[2 * k + 1],
                    reference_chosen: r.0,
                    reference_rejected: r.1,
                    chosen_tokens: counts[2 * k],
                    rejected_tokens: counts[2 * k + 1],
                },
                config,
            );
            correct += usize::from(l.chosen_reward > l.rejected_reward);
            loss += l.loss;
        }
    }
    let n = pairs.len().max(1) as f64;
    Ok((correct as f64 / n, loss / n))
}
