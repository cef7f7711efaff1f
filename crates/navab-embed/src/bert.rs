//! BERT on candle-transformers' encoder layers, with the padding mask built in the compute
//! dtype.
//!
//! candle-transformers 0.11's `BertModel` multiplies the mask by `f32::MIN` cast to the dtype.
//! That value is −∞ in f16 and bf16, and 0·(−∞) turns every vector into NaN. HF adds
//! `torch.finfo(dtype).min`, which is finite in every dtype; so does [`additive_mask`].

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, VarBuilder};
use candle_transformers::models::bert;

/// Embeddings (word + token type + absolute position, then layer norm) and the encoder layers.
pub(crate) struct BertStack {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
    encoder: bert::BertEncoder,
}

impl BertStack {
    /// Loads from `vb` rooted where `embeddings.` and `encoder.` live.
    pub(crate) fn load(vb: VarBuilder, config: &bert::Config) -> Result<Self> {
        let e = vb.pp("embeddings");
        let hidden = config.hidden_size;
        Ok(BertStack {
            word: embedding(config.vocab_size, hidden, e.pp("word_embeddings"))?,
            position: embedding(
                config.max_position_embeddings,
                hidden,
                e.pp("position_embeddings"),
            )?,
            token_type: embedding(
                config.type_vocab_size,
                hidden,
                e.pp("token_type_embeddings"),
            )?,
            norm: layer_norm(hidden, config.layer_norm_eps, e.pp("LayerNorm"))?,
            encoder: bert::BertEncoder::load(vb.pp("encoder"), config)?,
        })
    }

    /// Hidden states `batch × tokens × hidden` of `input` (`batch × tokens`) under `mask`
    /// (`batch × tokens`, 1 = real token).
    pub(crate) fn forward(
        &self,
        input: &Tensor,
        token_types: &Tensor,
        mask: &Tensor,
    ) -> Result<Tensor> {
        let tokens = input.dim(1)?;
        let positions = Tensor::arange(0u32, tokens as u32, input.device())?;
        let x = self
            .word
            .forward(input)?
            .add(&self.token_type.forward(token_types)?)?
            .broadcast_add(&self.position.forward(&positions)?)?;
        let x = self.norm.forward(&x)?;
        self.encoder.forward(&x, &additive_mask(mask, x.dtype())?)
    }
}

/// `batch × 1 × 1 × tokens`: 0 on real tokens, the dtype's lowest finite value on padding.
pub(crate) fn additive_mask(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let lowest = match dtype {
        DType::F16 => -65504.0,                     // f16::MIN
        DType::BF16 => -3.389_531_389_251_535_5e38, // bf16::MIN
        DType::F64 => f64::MIN,
        _ => f32::MIN as f64,
    };
    let padding = (1.0 - mask.to_dtype(dtype)?)?;
    padding.affine(lowest, 0.0)?.unsqueeze(1)?.unsqueeze(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn the_mask_is_finite_in_every_dtype() {
        let mask = Tensor::new(&[[1u32, 1, 0]], &Device::Cpu).unwrap();
        for dtype in [DType::F16, DType::BF16, DType::F32, DType::F64] {
            let m = additive_mask(&mask, dtype).unwrap();
            assert_eq!(m.dims(), &[1, 1, 1, 3]);
            let v = m
                .to_dtype(DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            assert_eq!(&v[..2], &[0.0, 0.0], "{dtype:?}");
            assert!(v[2].is_finite() && v[2] < -6e4, "{dtype:?}: {}", v[2]);
        }
    }
}
