//! Where weights come from: HF safetensors (dense) or a GGUF file (quantized or dequantized).
//!
//! The decoder asks for tensors by their HF names; the GGUF source translates them to
//! llama.cpp's names, so one decoder builder serves both formats.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::{gguf_file, QMatMul, QTensor};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Module, Tensor};

use navab_kernels::bf16::Bf16Linear;

use crate::{Error, Result};

/// A linear layer `y = x Wᵀ + b`, dense or quantized.
#[derive(Debug, Clone)]
pub(crate) enum Linear {
    Dense {
        weight: Tensor,
        bias: Option<Tensor>,
    },
    Quantized {
        weight: QMatMul,
        bias: Option<Tensor>,
    },
    /// bf16 weights packed for `navab_kernels::bf16` (f32 activations on the CPU).
    Bf16 {
        weight: Arc<Bf16Linear>,
        bias: Option<Tensor>,
    },
}

impl Linear {
    /// Applies the layer to `x` of shape `[.., in]`.
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims().to_vec();
        let in_features = dims[dims.len() - 1];
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let x2 = x.reshape((rows, in_features))?;
        let (y, bias) = match self {
            Linear::Dense { weight, bias } => (x2.matmul(&weight.t()?)?, bias),
            // Quantized kernels take f32 activations.
            Linear::Quantized { weight, bias } => (
                weight
                    .forward(&x2.to_dtype(DType::F32)?.contiguous()?)?
                    .to_dtype(x.dtype())?,
                bias,
            ),
            Linear::Bf16 { weight, bias } => (weight.forward(&x2)?, bias),
        };
        let y = match bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let mut out_dims = dims;
        let last = out_dims.len() - 1;
        out_dims[last] = y.dim(1)?;
        y.reshape(out_dims)
    }

    /// Output rows `start..start + len` as a layer of their own (a part of a fused projection).
    /// Quantized rows are dequantized to `dtype`: GGUF blocks run along the input dimension, so
    /// a row range is dense work either way, and it keeps the split in one place.
    fn rows(&self, start: usize, len: usize, dtype: DType) -> candle_core::Result<Linear> {
        let (weight, bias) = match self {
            Linear::Dense { weight, bias } => (weight.clone(), bias),
            Linear::Quantized { weight, bias } => (dequantize(weight, dtype)?, bias),
            Linear::Bf16 { weight, bias } => (weight.weight_f32()?.to_dtype(dtype)?, bias),
        };
        Ok(Linear::Dense {
            weight: weight.narrow(0, start, len)?.contiguous()?,
            bias: match bias {
                Some(b) => Some(b.narrow(0, start, len)?.contiguous()?),
                None => None,
            },
        })
    }

    /// The weight `[out, in]` as a dense tensor in `dtype` (shared, not copied, when dense).
    pub(crate) fn dense_weight(&self, dtype: DType) -> candle_core::Result<Tensor> {
        match self {
            Linear::Dense { weight, .. } => weight.to_dtype(dtype),
            Linear::Quantized { weight, .. } => dequantize(weight, dtype),
            Linear::Bf16 { weight, .. } => weight.weight_f32()?.to_dtype(dtype),
        }
    }

    /// The same layer with its weight packed in bf16 for f32 activations on the CPU.
    pub(crate) fn to_bf16(&self) -> candle_core::Result<Linear> {
        Ok(match self {
            Linear::Bf16 { .. } => self.clone(),
            _ => Linear::Bf16 {
                weight: Arc::new(Bf16Linear::new(&self.dense_weight(DType::F32)?)?),
                bias: self.bias().map(|b| b.to_dtype(DType::F32)).transpose()?,
            },
        })
    }

    /// The weight's shape `[out, in]`.
    pub(crate) fn weight_dims(&self) -> Vec<usize> {
        match self {
            Linear::Dense { weight, .. } => weight.dims().to_vec(),
            Linear::Quantized { weight, .. } => match weight {
                QMatMul::QTensor(t) => t.shape().dims().to_vec(),
                QMatMul::Tensor(t) | QMatMul::TensorF16(t) => t.dims().to_vec(),
            },
            Linear::Bf16 { weight, .. } => {
                vec![weight.out_features(), weight.in_features()]
            }
        }
    }

    /// The bias, if any.
    pub(crate) fn bias(&self) -> Option<&Tensor> {
        match self {
            Linear::Dense { bias, .. }
            | Linear::Quantized { bias, .. }
            | Linear::Bf16 { bias, .. } => bias.as_ref(),
        }
    }
}

fn dequantize(q: &QMatMul, dtype: DType) -> candle_core::Result<Tensor> {
    match q {
        QMatMul::QTensor(t) => t.dequantize(&t.device())?.to_dtype(dtype),
        QMatMul::Tensor(t) | QMatMul::TensorF16(t) => t.to_dtype(dtype),
    }
}

/// An embedding table, dense or quantized.
#[derive(Debug, Clone)]
pub(crate) enum Embedding {
    Dense(Tensor),
    Quantized(QMatMul),
}

impl Embedding {
    pub(crate) fn forward(&self, ids: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
        match self {
            Embedding::Dense(table) => {
                let (b, t) = ids.dims2()?;
                let hidden = table.dim(1)?;
                table
                    .index_select(&ids.flatten_all()?, 0)?
                    .reshape((b, t, hidden))
            }
            Embedding::Quantized(q) => q.embedding(ids)?.to_dtype(dtype),
        }
    }

    /// The table `[rows, hidden]` as a dense tensor in `dtype` (shared, not copied, when dense).
    pub(crate) fn dense_table(&self, dtype: DType) -> candle_core::Result<Tensor> {
        match self {
            Embedding::Dense(t) => t.to_dtype(dtype),
            Embedding::Quantized(q) => dequantize(q, dtype),
        }
    }

    /// The table reused as the output projection (tied embeddings).
    pub(crate) fn as_linear(&self) -> Linear {
        match self {
            Embedding::Dense(t) => Linear::Dense {
                weight: t.clone(),
                bias: None,
            },
            Embedding::Quantized(q) => Linear::Quantized {
                weight: q.clone(),
                bias: None,
            },
        }
    }
}

/// A source of named tensors.
pub(crate) trait WeightSource {
    /// Path used in error messages.
    fn path(&self) -> &Path;
    fn contains(&self, hf_name: &str) -> bool;
    /// A dense tensor in the compute dtype (norm weights, biases).
    fn dense(&mut self, hf_name: &str, shape: &[usize]) -> Result<Tensor>;
    fn linear(&mut self, hf_prefix: &str, out: usize, inp: usize, bias: bool) -> Result<Linear>;
    fn embedding(&mut self, hf_name: &str, rows: usize, hidden: usize) -> Result<Embedding>;

    fn missing(&self, name: &str) -> Error {
        Error::Weights {
            path: self.path().to_path_buf(),
            reason: format!("tensor `{name}` is missing"),
        }
    }
}

fn check_shape(path: &Path, name: &str, got: &[usize], want: &[usize]) -> Result<()> {
    if got != want {
        return Err(Error::Weights {
            path: path.to_path_buf(),
            reason: format!(
                "tensor `{name}` has shape {got:?}, the config implies {want:?} \
                 (does config.json belong to these weights?)"
            ),
        });
    }
    Ok(())
}

/// Dense weights from one or more safetensors files (memory-mapped).
pub(crate) struct SafetensorsSource {
    path: PathBuf,
    tensors: MmapedSafetensors,
    dtype: DType,
    device: Device,
}

impl SafetensorsSource {
    /// Opens `model.safetensors`, or every shard listed in `model.safetensors.index.json`.
    pub(crate) fn open(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let files: Vec<PathBuf> = if single.is_file() {
            vec![single.clone()]
        } else if index.is_file() {
            let text = std::fs::read_to_string(&index).map_err(crate::error::io_error(&index))?;
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| Error::Weights {
                    path: index.clone(),
                    reason: e.to_string(),
                })?;
            let map = json
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| Error::Weights {
                    path: index.clone(),
                    reason: "no `weight_map` object".into(),
                })?;
            let mut shards: Vec<PathBuf> = map
                .values()
                .filter_map(|v| v.as_str())
                .map(|f| dir.join(f))
                .collect();
            shards.sort();
            shards.dedup();
            for shard in &shards {
                if !shard.is_file() {
                    return Err(Error::MissingFile {
                        path: shard.clone(),
                        reason: "shard listed in model.safetensors.index.json is missing".into(),
                    });
                }
            }
            shards
        } else {
            return Err(Error::MissingFile {
                path: dir.to_path_buf(),
                reason: "no model.safetensors or model.safetensors.index.json in this directory"
                    .into(),
            });
        };
        // SAFETY: the files are mapped read-only; candle's contract is that they are not
        // modified while mapped, which we document on `LanguageModel::load`.
        #[allow(unsafe_code)]
        let tensors = unsafe { MmapedSafetensors::multi(&files) }.map_err(|e| Error::Weights {
            path: files[0].clone(),
            reason: format!("not a valid safetensors file (corrupt or truncated?): {e}"),
        })?;
        Ok(Self {
            path: files[0].clone(),
            tensors,
            dtype,
            device: device.clone(),
        })
    }

    fn load(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let view = self.tensors.get(name).map_err(|_| self.missing(name))?;
        check_shape(&self.path, name, view.shape(), shape)?;
        let tensor = self
            .tensors
            .load(name, &self.device)
            .map_err(|e| Error::Weights {
                path: self.path.clone(),
                reason: format!("tensor `{name}`: {e}"),
            })?;
        Ok(tensor.to_dtype(self.dtype)?)
    }
}

impl WeightSource for SafetensorsSource {
    fn path(&self) -> &Path {
        &self.path
    }
    fn contains(&self, hf_name: &str) -> bool {
        self.tensors.get(hf_name).is_ok()
    }
    fn dense(&mut self, hf_name: &str, shape: &[usize]) -> Result<Tensor> {
        self.load(hf_name, shape)
    }
    fn linear(&mut self, prefix: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
        let weight = self.load(&format!("{prefix}.weight"), &[out, inp])?;
        let bias = if bias {
            Some(self.load(&format!("{prefix}.bias"), &[out])?)
        } else {
            None
        };
        Ok(Linear::Dense { weight, bias })
    }
    fn embedding(&mut self, hf_name: &str, rows: usize, hidden: usize) -> Result<Embedding> {
        Ok(Embedding::Dense(self.load(hf_name, &[rows, hidden])?))
    }
}

/// Splits fused projections (Phi-3's `qkv_proj` and `gate_up_proj`, llama.cpp's `attn_qkv` and
/// fused `ffn_up`) into the separate layers the decoder asks for, so the decoder stays one code
/// path. Everything else passes through.
pub(crate) struct FusedSplit<'a> {
    inner: &'a mut dyn WeightSource,
    q_out: usize,
    kv_out: usize,
    intermediate: usize,
    dtype: DType,
    /// The fused layer last loaded, reused for its other parts.
    last: Option<(String, Linear)>,
}

impl<'a> FusedSplit<'a> {
    pub(crate) fn new(
        inner: &'a mut dyn WeightSource,
        q_out: usize,
        kv_out: usize,
        intermediate: usize,
        dtype: DType,
    ) -> Self {
        Self {
            inner,
            q_out,
            kv_out,
            intermediate,
            dtype,
            last: None,
        }
    }

    /// The fused layer a separate one lives in, with its row range and the fused shape, when
    /// the file has the fused layer instead of the first separate one. (The first one decides:
    /// llama.cpp names the fused gate/up `ffn_up`, the name of the separate up projection.)
    fn fused_part(&self, prefix: &str) -> Option<(String, usize, usize, usize)> {
        let (base, part) = prefix.rsplit_once('.')?;
        let (q, kv, i) = (self.q_out, self.kv_out, self.intermediate);
        let (fused, first, start, len, total) = match part {
            "q_proj" => ("qkv_proj", "q_proj", 0, q, q + 2 * kv),
            "k_proj" => ("qkv_proj", "q_proj", q, kv, q + 2 * kv),
            "v_proj" => ("qkv_proj", "q_proj", q + kv, kv, q + 2 * kv),
            "gate_proj" => ("gate_up_proj", "gate_proj", 0, i, 2 * i),
            "up_proj" => ("gate_up_proj", "gate_proj", i, i, 2 * i),
            _ => return None,
        };
        let fused = format!("{base}.{fused}");
        let is_fused = !self.inner.contains(&format!("{base}.{first}.weight"))
            && self.inner.contains(&format!("{fused}.weight"));
        is_fused.then_some((fused, start, len, total))
    }
}

impl WeightSource for FusedSplit<'_> {
    fn path(&self) -> &Path {
        self.inner.path()
    }
    fn contains(&self, hf_name: &str) -> bool {
        self.inner.contains(hf_name)
    }
    fn dense(&mut self, hf_name: &str, shape: &[usize]) -> Result<Tensor> {
        self.inner.dense(hf_name, shape)
    }
    fn linear(&mut self, prefix: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
        let Some((fused, start, len, total)) = self.fused_part(prefix) else {
            return self.inner.linear(prefix, out, inp, bias);
        };
        debug_assert_eq!(len, out);
        let layer = match self.last.take() {
            Some((name, layer)) if name == fused => layer,
            _ => self.inner.linear(&fused, total, inp, bias)?,
        };
        let part = layer.rows(start, len, self.dtype)?;
        self.last = Some((fused, layer));
        Ok(part)
    }
    fn embedding(&mut self, hf_name: &str, rows: usize, hidden: usize) -> Result<Embedding> {
        self.inner.embedding(hf_name, rows, hidden)
    }
}

/// Translates an HF tensor name into llama.cpp's GGUF name. `sandwich_norms`: Gemma's naming,
/// where HF's `post_attention_layernorm` is the norm on the attention output (llama.cpp
/// `post_attention_norm`) and the MLP's input norm is `pre_feedforward_layernorm` (`ffn_norm`).
pub(crate) fn gguf_name_for(hf_name: &str, sandwich_norms: bool) -> String {
    if sandwich_norms {
        if let Some(rest) = hf_name.strip_prefix("model.layers.") {
            if let Some((layer, part)) = rest.split_once('.') {
                let mapped = [
                    ("post_attention_layernorm.", "post_attention_norm."),
                    ("pre_feedforward_layernorm.", "ffn_norm."),
                    ("post_feedforward_layernorm.", "post_ffw_norm."),
                ]
                .iter()
                .find_map(|(hf, gg)| part.strip_prefix(hf).map(|tail| format!("{gg}{tail}")));
                if let Some(mapped) = mapped {
                    return format!("blk.{layer}.{mapped}");
                }
            }
        }
    }
    gguf_name(hf_name)
}

/// Translates an HF tensor name into llama.cpp's GGUF name.
pub(crate) fn gguf_name(hf_name: &str) -> String {
    match hf_name {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        "lm_head.weight" => return "output.weight".into(),
        _ => {}
    }
    if let Some(rest) = hf_name.strip_prefix("model.layers.") {
        if let Some((layer, part)) = rest.split_once('.') {
            let mapped = [
                ("input_layernorm.", "attn_norm."),
                ("post_attention_layernorm.", "ffn_norm."),
                ("self_attn.q_proj.", "attn_q."),
                ("self_attn.k_proj.", "attn_k."),
                ("self_attn.v_proj.", "attn_v."),
                ("self_attn.o_proj.", "attn_output."),
                ("self_attn.q_norm.", "attn_q_norm."),
                ("self_attn.k_norm.", "attn_k_norm."),
                ("self_attn.qkv_proj.", "attn_qkv."),
                ("mlp.gate_up_proj.", "ffn_up."),
                ("mlp.gate_proj.", "ffn_gate."),
                ("mlp.up_proj.", "ffn_up."),
                ("mlp.down_proj.", "ffn_down."),
            ]
            .iter()
            .find_map(|(hf, gg)| part.strip_prefix(hf).map(|tail| format!("{gg}{tail}")));
            if let Some(mapped) = mapped {
                return format!("blk.{layer}.{mapped}");
            }
        }
    }
    hf_name.to_string()
}

/// Weights from a GGUF file. Quantized matrices stay quantized unless `dequantize` is set.
pub(crate) struct GgufSource {
    path: PathBuf,
    file: File,
    pub(crate) content: gguf_file::Content,
    dtype: DType,
    device: Device,
    dequantize: bool,
    cache: HashMap<String, Arc<QTensor>>,
    /// Gemma's norm names (see [`gguf_name_for`]); set once the config is known.
    pub(crate) sandwich_norms: bool,
}

impl GgufSource {
    pub(crate) fn open(
        path: &Path,
        dtype: DType,
        device: &Device,
        dequantize: bool,
    ) -> Result<Self> {
        let mut file = File::open(path).map_err(crate::error::io_error(path))?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| Error::Weights {
            path: path.to_path_buf(),
            reason: format!("not a valid GGUF file (corrupt or truncated?): {e}"),
        })?;
        // A truncated file passes the header read; check that every tensor lies inside it.
        let file_len = file.metadata().map_err(crate::error::io_error(path))?.len();
        for (name, info) in &content.tensor_infos {
            let elements = info.shape.elem_count();
            let block = info.ggml_dtype.block_size();
            let bytes = (elements / block * info.ggml_dtype.type_size()) as u64;
            let end = content.tensor_data_offset + info.offset + bytes;
            if end > file_len {
                return Err(Error::Weights {
                    path: path.to_path_buf(),
                    reason: format!(
                        "file is truncated: tensor `{name}` ends at byte {end}, the file has {file_len}"
                    ),
                });
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            content,
            dtype,
            device: device.clone(),
            dequantize,
            cache: HashMap::new(),
            sandwich_norms: false,
        })
    }

    fn qtensor(&mut self, gg: &str, shape: &[usize]) -> Result<Arc<QTensor>> {
        if let Some(t) = self.cache.get(gg) {
            check_shape(&self.path, gg, t.shape().dims(), shape)?;
            return Ok(t.clone());
        }
        if !self.content.tensor_infos.contains_key(gg) {
            return Err(self.missing(gg));
        }
        let tensor = self
            .content
            .tensor(&mut self.file, gg, &self.device)
            .map_err(|e| Error::Weights {
                path: self.path.clone(),
                reason: format!("tensor `{gg}`: {e}"),
            })?;
        check_shape(&self.path, gg, tensor.shape().dims(), shape)?;
        let tensor = Arc::new(tensor);
        self.cache.insert(gg.to_string(), tensor.clone());
        Ok(tensor)
    }

    /// A plain f32 vector stored in the file (e.g. `rope_freqs.weight`), if present.
    pub(crate) fn optional_vector(&mut self, gg: &str, len: usize) -> Result<Option<Vec<f32>>> {
        if !self.content.tensor_infos.contains_key(gg) {
            return Ok(None);
        }
        let q = self.qtensor(gg, &[len])?;
        Ok(Some(
            q.dequantize(&Device::Cpu)?
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?,
        ))
    }

    fn matrix(&mut self, gg: &str, out: usize, inp: usize) -> Result<QMatMul> {
        let q = self.qtensor(gg, &[out, inp])?;
        if self.dequantize || self.dtype != DType::F32 {
            // Dense compute in the requested dtype.
            let dense = q.dequantize(&self.device)?.to_dtype(self.dtype)?;
            Ok(QMatMul::Tensor(dense))
        } else {
            Ok(QMatMul::from_arc(q)?)
        }
    }
}

fn qmatmul_into_linear(q: QMatMul, bias: Option<Tensor>) -> Linear {
    match q {
        QMatMul::Tensor(weight) | QMatMul::TensorF16(weight) => Linear::Dense { weight, bias },
        q => Linear::Quantized { weight: q, bias },
    }
}

impl WeightSource for GgufSource {
    fn path(&self) -> &Path {
        &self.path
    }
    fn contains(&self, hf_name: &str) -> bool {
        self.content
            .tensor_infos
            .contains_key(&gguf_name_for(hf_name, self.sandwich_norms))
    }
    fn dense(&mut self, hf_name: &str, shape: &[usize]) -> Result<Tensor> {
        let gg = gguf_name_for(hf_name, self.sandwich_norms);
        let q = self.qtensor(&gg, shape)?;
        Ok(q.dequantize(&self.device)?.to_dtype(self.dtype)?)
    }
    fn linear(&mut self, prefix: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
        let weight = self.matrix(
            &gguf_name_for(&format!("{prefix}.weight"), self.sandwich_norms),
            out,
            inp,
        )?;
        let bias = if bias {
            Some(self.dense(&format!("{prefix}.bias"), &[out])?)
        } else {
            None
        };
        Ok(qmatmul_into_linear(weight, bias))
    }
    fn embedding(&mut self, hf_name: &str, rows: usize, hidden: usize) -> Result<Embedding> {
        let matrix = self.matrix(&gguf_name_for(hf_name, self.sandwich_norms), rows, hidden)?;
        Ok(match qmatmul_into_linear(matrix, None) {
            Linear::Dense { weight, .. } => Embedding::Dense(weight),
            Linear::Quantized { weight, .. } => Embedding::Quantized(weight),
            Linear::Bf16 { .. } => unreachable!("qmatmul_into_linear never packs"),
        })
    }
}
