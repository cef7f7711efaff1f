//! The DPO objective and its variants, on summed completion log-probabilities.
//!
//! The loss is evaluated in f64 from the four log-probabilities of each pair, and its
//! derivative with respect to the policy's two log-probabilities is returned with it: the
//! trainer back-propagates `Σ ∂L/∂π · π`, which has exactly the loss's gradient.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which preference loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LossKind {
    /// DPO (Rafailov et al.): `−log σ(β·h)`, `h` the difference of policy and reference
    /// log-ratios. With `label_smoothing > 0`, conservative DPO (cDPO).
    #[default]
    Sigmoid,
    /// IPO (Azar et al.): `(h − 1/(2β))²` on log-probabilities averaged over completion
    /// tokens, as TRL computes it.
    Ipo,
}

/// DPO hyperparameters, with TRL's and LLaMA-Factory's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpoConfig {
    /// Strength of the implicit KL penalty β (default 0.1).
    pub beta: f64,
    /// Loss variant (default sigmoid).
    pub loss: LossKind,
    /// Probability that a label is flipped, for conservative DPO; in `[0, 0.5)` (default 0).
    pub label_smoothing: f64,
}

impl Default for DpoConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            loss: LossKind::Sigmoid,
            label_smoothing: 0.0,
        }
    }
}

impl DpoConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a non-positive β or label smoothing outside `[0, 0.5)`.
    pub fn check(&self) -> Result<()> {
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(Error::InvalidParam {
                name: "beta",
                value: format!("{}", self.beta),
                reason: "must be positive",
            });
        }
        if !(0.0..0.5).contains(&self.label_smoothing) {
            return Err(Error::InvalidParam {
                name: "label_smoothing",
                value: format!("{}", self.label_smoothing),
                reason: "must be in [0, 0.5)",
            });
        }
        Ok(())
    }
}

/// Log-probabilities of one pair's completions (summed over tokens) and their token counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairLogprobs {
    /// Policy, chosen completion.
    pub policy_chosen: f64,
    /// Policy, rejected completion.
    pub policy_rejected: f64,
    /// Reference (base model), chosen completion.
    pub reference_chosen: f64,
    /// Reference, rejected completion.
    pub reference_rejected: f64,
    /// Tokens in the chosen completion.
    pub chosen_tokens: usize,
    /// Tokens in the rejected completion.
    pub rejected_tokens: usize,
}

/// The loss of one pair, its rewards and the loss's derivatives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairLoss {
    /// The loss.
    pub loss: f64,
    /// `β · (π_chosen − ref_chosen)`.
    pub chosen_reward: f64,
    /// `β · (π_rejected − ref_rejected)`.
    pub rejected_reward: f64,
    /// `∂loss / ∂π_chosen` (summed log-probability).
    pub d_chosen: f64,
    /// `∂loss / ∂π_rejected`.
    pub d_rejected: f64,
}

fn log_sigmoid(x: f64) -> f64 {
    // Stable for large |x|: log σ(x) = min(x, 0) − log(1 + e^{−|x|}).
    x.min(0.0) - (-x.abs()).exp().ln_1p()
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The loss of one pair under `config`.
pub fn pair_loss(p: &PairLogprobs, config: &DpoConfig) -> PairLoss {
    let beta = config.beta;
    let chosen_reward = beta * (p.policy_chosen - p.reference_chosen);
    let rejected_reward = beta * (p.policy_rejected - p.reference_rejected);
    match config.loss {
        LossKind::Sigmoid => {
            let eps = config.label_smoothing;
            let h =
                (p.policy_chosen - p.policy_rejected) - (p.reference_chosen - p.reference_rejected);
            let z = beta * h;
            let loss = -(1.0 - eps) * log_sigmoid(z) - eps * log_sigmoid(-z);
            // dL/dz = σ(z) − (1 − ε); h = π_c − π_r − const.
            let dz = sigmoid(z) - (1.0 - eps);
            PairLoss {
                loss,
                chosen_reward,
                rejected_reward,
                d_chosen: dz * beta,
                d_rejected: -dz * beta,
            }
        }
        LossKind::Ipo => {
            let nc = p.chosen_tokens.max(1) as f64;
            let nr = p.rejected_tokens.max(1) as f64;
            let h = (p.policy_chosen / nc - p.policy_rejected / nr)
                - (p.reference_chosen / nc - p.reference_rejected / nr);
            let gap = h - 1.0 / (2.0 * beta);
            PairLoss {
                loss: gap * gap,
                chosen_reward,
                rejected_reward,
                d_chosen: 2.0 * gap / nc,
                d_rejected: -2.0 * gap / nr,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(pc: f64, pr: f64, rc: f64, rr: f64) -> PairLogprobs {
        PairLogprobs {
            policy_chosen: pc,
            policy_rejected: pr,
            reference_chosen: rc,
            reference_rejected: rr,
            chosen_tokens: 3,
            rejected_tokens: 5,
        }
    }

    #[test]
    fn sigmoid_loss_is_ln2_at_the_reference_and_falls_with_the_margin() {
        let config = DpoConfig::default();
        let start = pair_loss(&pair(-10.0, -12.0, -10.0, -12.0), &config);
        assert!((start.loss - std::f64::consts::LN_2).abs() < 1e-12);
        assert_eq!((start.chosen_reward, start.rejected_reward), (0.0, 0.0));
        let better = pair_loss(&pair(-9.0, -13.0, -10.0, -12.0), &config);
        assert!(better.loss < start.loss);
        assert!((better.chosen_reward - 0.1).abs() < 1e-12);
    }

    #[test]
    fn derivatives_match_finite_differences_for_every_variant() {
        let configs = [
            DpoConfig::default(),
            DpoConfig {
                label_smoothing: 0.2,
                beta: 0.5,
                ..DpoConfig::default()
            },
            DpoConfig {
                loss: LossKind::Ipo,
                ..DpoConfig::default()
            },
        ];
        for config in configs {
            let base = pair(-9.5, -11.0, -10.0, -12.0);
            let l = pair_loss(&base, &config);
            let h = 1e-6;
            let mut up = base;
            up.policy_chosen += h;
            let mut down = base;
            down.policy_chosen -= h;
            let fd = (pair_loss(&up, &config).loss - pair_loss(&down, &config).loss) / (2.0 * h);
            assert!(
                (fd - l.d_chosen).abs() < 1e-7,
                "{config:?}: {fd} vs {}",
                l.d_chosen
            );
            let mut up = base;
            up.policy_rejected += h;
            let mut down = base;
            down.policy_rejected -= h;
            let fd = (pair_loss(&up, &config).loss - pair_loss(&down, &config).loss) / (2.0 * h);
            assert!(
                (fd - l.d_rejected).abs() < 1e-7,
                "{config:?}: {fd} vs {}",
                l.d_rejected
            );
        }
    }

    #[test]
    fn bad_settings_are_rejected() {
        assert!(DpoConfig {
            beta: 0.0,
            ..DpoConfig::default()
        }
        .check()
        .is_err());
        assert!(DpoConfig {
            label_smoothing: 0.5,
            ..DpoConfig::default()
        }
        .check()
        .is_err());
        assert!(DpoConfig::default().check().is_ok());
    }
}
