#![doc = include_str!("../README.md")]

mod data;
mod dpo;
mod error;
mod lora;
mod model;
mod ops;
mod optim;
mod peft;
mod trainer;

pub use data::{encode_pairs, EncodeOptions, EncodedPair, SkippedItem};
pub use dpo::{pair_loss, DpoConfig, LossKind, PairLogprobs, PairLoss};
pub use error::{Error, Result};
pub use lora::{LoraAdapters, LoraConfig, LoraPair, Target};
pub use model::TrainableModel;
pub use optim::{OptimConfig, Schedule};
pub use peft::{load_peft, merge_into, merged_weights, save_peft, ADAPTER_CONFIG, ADAPTER_WEIGHTS};
pub use trainer::{
    dpo_gradients, reward_accuracy, train, RunFiles, StepLog, TrainConfig, TrainOutcome,
};
