//! The decoder's weights by HF name: read them out (for training code that runs its own
//! forward) and swap dense linear weights in (for a model with adapters merged).

use std::collections::HashMap;

use candle_core::{DType, Tensor};

use super::Decoder;
use crate::weights::Linear;
use crate::{Error, Result};

impl Decoder {
    /// The linear layers under their HF weight names (`model.layers.{i}.self_attn.q_proj.weight`,
    /// ..., `lm_head.weight`), in layer order.
    fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        let mut out = Vec::with_capacity(self.blocks.len() * 7 + 1);
        for (i, block) in self.blocks.iter_mut().enumerate() {
            let p = format!("model.layers.{i}");
            let a = &mut block.attention;
            out.push((format!("{p}.self_attn.q_proj.weight"), &mut a.q));
            out.push((format!("{p}.self_attn.k_proj.weight"), &mut a.k));
            out.push((format!("{p}.self_attn.v_proj.weight"), &mut a.v));
            out.push((format!("{p}.self_attn.o_proj.weight"), &mut a.o));
            out.push((format!("{p}.mlp.gate_proj.weight"), &mut block.gate));
            out.push((format!("{p}.mlp.up_proj.weight"), &mut block.up));
            out.push((format!("{p}.mlp.down_proj.weight"), &mut block.down));
        }
        out.push(("lm_head.weight".into(), &mut self.lm_head));
        out
    }

    /// Packs every linear layer's weight in bf16 for the CPU's bf16 matrix product
    /// (`navab_kernels::bf16`); activations, norms and softmax stay in the compute dtype, f32.
    pub(crate) fn pack_linears_bf16(&mut self) -> Result<()> {
        for (_, linear) in self.linears_mut() {
            *linear = linear.to_bf16()?;
        }
        Ok(())
    }

    /// Every weight under its HF name, as dense tensors in `dtype`: embeddings, norms, linear
    /// weights and biases, and `lm_head.weight` (the embedding table when tied).
    ///
    /// Dense weights already in `dtype` are shared with the decoder, not copied; quantized
    /// ones are dequantized. llama GGUF files keep llama.cpp's permuted q/k rows
    /// ([`RopeLayout::Interleaved`](crate::RopeLayout::Interleaved)): so do these tensors.
    pub fn named_weights(&self, dtype: DType) -> Result<Vec<(String, Tensor)>> {
        let mut out = vec![(
            "model.embed_tokens.weight".to_string(),
            self.embedding.dense_table(dtype)?,
        )];
        for (i, block) in self.blocks.iter().enumerate() {
            let p = format!("model.layers.{i}");
            let mut norm = |name: &str, t: &Tensor| -> Result<()> {
                out.push((format!("{p}.{name}.weight"), t.to_dtype(dtype)?));
                Ok(())
            };
            norm("input_layernorm", &block.input_norm)?;
            norm("post_attention_layernorm", &block.post_attention_norm)?;
            if let Some(t) = &block.attention.q_norm {
                norm("self_attn.q_norm", t)?;
            }
            if let Some(t) = &block.attention.k_norm {
                norm("self_attn.k_norm", t)?;
            }
        }
        out.push(("model.norm.weight".into(), self.final_norm.to_dtype(dtype)?));
        // `linears_mut` needs `&mut`; a clone shares every tensor, so this copies no weights.
        let mut shared = self.clone();
        for (name, linear) in shared.linears_mut() {
            out.push((name.clone(), linear.dense_weight(dtype)?));
            if let Some(bias) = linear.bias() {
                let bias_name = format!("{}.bias", name.trim_end_matches(".weight"));
                out.push((bias_name, bias.to_dtype(dtype)?));
            }
        }
        Ok(out)
    }

    /// A decoder that shares every weight with this one except the linear weights named in
    /// `replace` (HF names as [`Decoder::named_weights`] gives them), which become the given
    /// dense tensors (converted to the compute dtype; biases are kept). This is how a model
    /// with low-rank adapters merged in is scored by the ordinary inference path.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if a name is not a linear weight of this decoder or a tensor's
    /// shape differs from the weight it replaces.
    pub fn with_linear_weights(&self, replace: &HashMap<String, Tensor>) -> Result<Decoder> {
        let mut out = self.clone();
        let dtype = out.dtype;
        let mut used = 0;
        for (name, linear) in out.linears_mut() {
            let Some(new) = replace.get(&name) else {
                continue;
            };
            let old_shape = linear.weight_dims();
            if new.dims() != old_shape.as_slice() {
                return Err(Error::InvalidInput(format!(
                    "`{name}` has shape {old_shape:?}, the replacement {:?}",
                    new.dims()
                )));
            }
            *linear = Linear::Dense {
                weight: new.to_dtype(dtype)?,
                bias: linear.bias().cloned(),
            };
            used += 1;
        }
        if used != replace.len() {
            let mut unknown: Vec<&String> = replace
                .keys()
                .filter(|k| !self.clone().linears_mut().iter().any(|(n, _)| n == *k))
                .collect();
            unknown.sort();
            return Err(Error::InvalidInput(format!(
                "not linear weights of this decoder: {unknown:?}"
            )));
        }
        Ok(out)
    }
}
