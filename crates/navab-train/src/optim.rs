//! AdamW (PyTorch's update, decoupled weight decay) with a warm-up and a linear or cosine
//! decay of the learning rate, and clipping by the global gradient norm.

use std::collections::HashMap;

use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How the learning rate decays after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Schedule {
    /// Linearly to 0 at the last step (transformers' `linear`).
    Linear,
    /// Half a cosine to 0 at the last step (transformers' `cosine`, LLaMA-Factory's default).
    #[default]
    Cosine,
    /// Constant after the warm-up.
    Constant,
}

/// Optimizer settings. Defaults: the paper's learning rate (5e-5, Tables 5–6), AdamW's
/// β₁ 0.9, β₂ 0.999, ε 1e-8, no weight decay, 10% warm-up, cosine decay, clipping at 1.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimConfig {
    /// Peak learning rate (default 5e-5).
    pub learning_rate: f64,
    /// First-moment decay (default 0.9).
    pub beta1: f64,
    /// Second-moment decay (default 0.999).
    pub beta2: f64,
    /// Denominator term (default 1e-8).
    pub eps: f64,
    /// Decoupled weight decay (default 0).
    pub weight_decay: f64,
    /// Share of the optimizer steps spent warming up linearly from 0 (default 0.1).
    pub warmup_ratio: f64,
    /// Decay after the warm-up (default cosine).
    pub schedule: Schedule,
    /// Clip the global gradient norm to this (default 1.0; 0 turns clipping off).
    pub max_grad_norm: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            learning_rate: 5e-5,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            warmup_ratio: 0.1,
            schedule: Schedule::Cosine,
            max_grad_norm: 1.0,
        }
    }
}

impl OptimConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a value out of range.
    pub fn check(&self) -> Result<()> {
        let checks: [(&'static str, f64, bool, &'static str); 6] = [
            (
                "learning_rate",
                self.learning_rate,
                self.learning_rate > 0.0,
                "must be positive",
            ),
            (
                "beta1",
                self.beta1,
                (0.0..1.0).contains(&self.beta1),
                "must be in [0, 1)",
            ),
            (
                "beta2",
                self.beta2,
                (0.0..1.0).contains(&self.beta2),
                "must be in [0, 1)",
            ),
            (
                "weight_decay",
                self.weight_decay,
                self.weight_decay >= 0.0,
                "must be ≥ 0",
            ),
            (
                "warmup_ratio",
                self.warmup_ratio,
                (0.0..=1.0).contains(&self.warmup_ratio),
                "must be in [0, 1]",
            ),
            (
                "max_grad_norm",
                self.max_grad_norm,
                self.max_grad_norm >= 0.0,
                "must be ≥ 0",
            ),
        ];
        for (name, value, ok, reason) in checks {
            if !ok || !value.is_finite() {
                return Err(Error::InvalidParam {
                    name,
                    value: format!("{value}"),
                    reason,
                });
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::InvalidParam {
                name: "eps",
                value: format!("{}", self.eps),
                reason: "must be positive",
            });
        }
        Ok(())
    }

    /// The learning rate of optimizer step `step` (0-based) out of `total`, as transformers'
    /// schedulers give it: `step / warmup` during the warm-up, then the decay.
    pub fn learning_rate_at(&self, step: usize, total: usize) -> f64 {
        let warmup = (self.warmup_ratio * total as f64).ceil() as usize;
        if step < warmup {
            return self.learning_rate * step as f64 / warmup.max(1) as f64;
        }
        let span = total.saturating_sub(warmup).max(1) as f64;
        let progress = ((step - warmup) as f64 / span).min(1.0);
        let factor = match self.schedule {
            Schedule::Constant => 1.0,
            Schedule::Linear => 1.0 - progress,
            Schedule::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        };
        self.learning_rate * factor.max(0.0)
    }
}

/// AdamW's moments for a set of variables, in the variables' order.
#[derive(Debug)]
pub(crate) struct AdamW {
    config: OptimConfig,
    /// `(m, v)` per variable.
    moments: Vec<(Tensor, Tensor)>,
    /// Updates taken so far (for bias correction).
    pub(crate) steps: usize,
}

impl AdamW {
    pub(crate) fn new(config: &OptimConfig, vars: &[&Var]) -> Result<Self> {
        let moments = vars
            .iter()
            .map(|v| Ok((v.as_tensor().zeros_like()?, v.as_tensor().zeros_like()?)))
            .collect::<Result<_>>()?;
        Ok(Self {
            config: config.clone(),
            moments,
            steps: 0,
        })
    }

    /// One update of `vars` with `grads` (same order) at learning rate `lr`.
    pub(crate) fn step(&mut self, vars: &[&Var], grads: &[Tensor], lr: f64) -> Result<()> {
        self.steps += 1;
        let c = &self.config;
        let t = self.steps as i32;
        let correction1 = 1.0 - c.beta1.powi(t);
        let correction2 = 1.0 - c.beta2.powi(t);
        for ((var, grad), (m, v)) in vars.iter().zip(grads).zip(self.moments.iter_mut()) {
            *m = ((&*m * c.beta1)? + (grad * (1.0 - c.beta1))?)?;
            *v = ((&*v * c.beta2)? + (grad.sqr()? * (1.0 - c.beta2))?)?;
            let m_hat = (&*m / correction1)?;
            let v_hat = (&*v / correction2)?;
            let update = (m_hat / (v_hat.sqrt()? + c.eps)?)?;
            let mut p = var.as_tensor().clone();
            if c.weight_decay > 0.0 {
                p = (&p * (1.0 - lr * c.weight_decay))?;
            }
            var.set(&(p - (update * lr)?)?)?;
        }
        Ok(())
    }

    /// The moments as named tensors (`{name}.exp_avg`, `{name}.exp_avg_sq`), for checkpoints.
    pub(crate) fn state(&self, names: &[String]) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (name, (m, v)) in names.iter().zip(&self.moments) {
            out.insert(format!("{name}.exp_avg"), m.clone());
            out.insert(format!("{name}.exp_avg_sq"), v.clone());
        }
        out
    }

    /// Restores moments written by [`AdamW::state`].
    pub(crate) fn restore(
        &mut self,
        names: &[String],
        state: &HashMap<String, Tensor>,
        steps: usize,
    ) -> std::result::Result<(), String> {
        for (name, (m, v)) in names.iter().zip(self.moments.iter_mut()) {
            let get = |suffix: &str| {
                state
                    .get(&format!("{name}.{suffix}"))
                    .cloned()
                    .ok_or_else(|| format!("optimizer state for `{name}` is missing"))
            };
            let device = m.device().clone();
            *m = get("exp_avg")?
                .to_device(&device)
                .map_err(|e| e.to_string())?;
            *v = get("exp_avg_sq")?
                .to_device(&device)
                .map_err(|e| e.to_string())?;
        }
        self.steps = steps;
        Ok(())
    }
}

/// The global L2 norm of `grads`; scales them in place to `max_norm` when it is exceeded
/// (`max_norm = 0`: no clipping). Returns the norm before clipping.
pub(crate) fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> Result<f64> {
    let mut sum = 0f64;
    for g in grads.iter() {
        sum += g
            .sqr()?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
    }
    let norm = sum.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        // transformers' factor: max_norm / (norm + 1e-6).
        let factor = max_norm / (norm + 1e-6);
        for g in grads.iter_mut() {
            *g = (&*g * factor)?;
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        let c = OptimConfig {
            warmup_ratio: 0.1,
            ..OptimConfig::default()
        };
        assert_eq!(c.learning_rate_at(0, 100), 0.0);
        assert!((c.learning_rate_at(5, 100) - 2.5e-5).abs() < 1e-15);
        assert!((c.learning_rate_at(10, 100) - 5e-5).abs() < 1e-15);
        assert!(c.learning_rate_at(55, 100) < 5e-5 && c.learning_rate_at(55, 100) > 0.0);
        let linear = OptimConfig {
            schedule: Schedule::Linear,
            warmup_ratio: 0.0,
            ..OptimConfig::default()
        };
        assert!((linear.learning_rate_at(50, 100) - 2.5e-5).abs() < 1e-15);
    }

    #[test]
    fn adamw_first_step_moves_each_parameter_by_the_learning_rate() {
        let var = Var::from_slice(&[1f32, -2.0, 3.0], 3, &candle_core::Device::Cpu).unwrap();
        let mut opt = AdamW::new(&OptimConfig::default(), &[&var]).unwrap();
        let grad = Tensor::from_slice(&[0.5f32, -0.1, 2.0], 3, &candle_core::Device::Cpu).unwrap();
        opt.step(&[&var], &[grad], 0.01).unwrap();
        let got = var.as_tensor().to_vec1::<f32>().unwrap();
        // Bias-corrected m/√v is ±1 on the first step.
        for (g, want) in got.iter().zip([0.99f32, -1.99, 2.99]) {
            assert!((g - want).abs() < 1e-5, "{got:?}");
        }
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let mut grads =
            vec![Tensor::from_slice(&[3f32, 4.0], 2, &candle_core::Device::Cpu).unwrap()];
        let norm = clip_grad_norm(&mut grads, 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-6);
        let v = grads[0].to_vec1::<f32>().unwrap();
        assert!((v[0] - 0.6).abs() < 1e-5 && (v[1] - 0.8).abs() < 1e-5);
    }
}
