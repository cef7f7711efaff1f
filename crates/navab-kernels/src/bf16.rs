//! bf16 matrix products on the CPU: `y = x · Wᵀ` with f32 activations `x` (`m × k`, rounded
//! to bf16 on the fly), bf16 weights `W` (`n × k`, packed once into [`PackedBf16`]), f32
//! accumulation and f32 output. candle's CPU matrix product (the `gemm` crate) has no bf16
//! dot-product kernels; this one uses AMX tiles (`TDPBF16PS`) where the CPU and the OS allow,
//! AVX512-BF16 (`VDPBF16PS`) where only that exists, and portable Rust otherwise, chosen at run
//! time ([`Bf16Path::best`]) or forced ([`matmul_bf16_with`]).
//!
//! ```
//! use navab_kernels::bf16::{matmul_bf16, PackedBf16};
//!
//! let w = PackedBf16::new(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3)?; // 2 outputs, 3 inputs
//! let y = matmul_bf16(&[1.0, 1.0, 1.0], 1, &w)?;
//! assert_eq!(y, vec![6.0, 15.0]);
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
mod x86;

/// Output columns per packed block (and per AMX tile), and pairs of k per AMX tile.
const BLOCK: usize = 16;
/// Rows of activations per parallel task.
const TASK_ROWS: usize = 32;

/// Which kernel runs the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bf16Path {
    /// AMX tiles (`TDPBF16PS`): Sapphire Rapids and later Xeons; on Linux the process asks for
    /// the tile-data permission once.
    Amx,
    /// AVX512-BF16 (`VDPBF16PS`): Cooper Lake, Zen 4 and later.
    Avx512Bf16,
    /// Portable Rust (vectorised by the compiler): the same bf16 operands, f32 products.
    Portable,
}

impl Bf16Path {
    /// Every path, fastest first.
    pub const ALL: [Bf16Path; 3] = [Bf16Path::Amx, Bf16Path::Avx512Bf16, Bf16Path::Portable];

    /// Whether this CPU (and OS) can run the path.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Bf16Path::Amx => x86::amx(),
            #[cfg(target_arch = "x86_64")]
            Bf16Path::Avx512Bf16 => x86::avx512_bf16(),
            Bf16Path::Portable => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The fastest available path.
    pub fn best() -> Self {
        Self::ALL
            .into_iter()
            .find(|p| p.available())
            .unwrap_or(Bf16Path::Portable)
    }

    /// A short name for reports: `amx`, `avx512-bf16`, `portable`.
    pub fn name(self) -> &'static str {
        match self {
            Bf16Path::Amx => "amx",
            Bf16Path::Avx512Bf16 => "avx512-bf16",
            Bf16Path::Portable => "portable",
        }
    }

    /// Rows the kernel reads for `m` rows of activations (the rest are zero padding).
    fn padded_rows(self, m: usize) -> usize {
        match self {
            Bf16Path::Amx => m.next_multiple_of(BLOCK),
            Bf16Path::Avx512Bf16 if m == 1 => 1,
            Bf16Path::Avx512Bf16 => m.next_multiple_of(4),
            Bf16Path::Portable => m,
        }
    }
}

/// Rounds to the nearest bf16, ties to even (NaN stays NaN).
#[inline(always)]
pub fn f32_to_bf16(v: f32) -> u16 {
    let b = v.to_bits();
    // Both results, then a select: no branch, so the conversion loops vectorise.
    let quiet_nan = ((b >> 16) | 0x40) as u16;
    let rounded = (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16;
    if v.is_nan() {
        quiet_nan
    } else {
        rounded
    }
}

/// The f32 value of a bf16.
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// Weights `W` (`n × k`) in bf16, in the layout every kernel reads: blocks of 16 output rows
/// (columns of `y`), each `k_pad / 2` pairs of k by 16 columns by 2 (the "VNNI" layout of an
/// AMX B tile), `k` padded with zeros to a multiple of 32 and the blocks to an even count.
#[derive(Debug, Clone)]
pub struct PackedBf16 {
    n: usize,
    k: usize,
    k_pad: usize,
    n_blocks: usize,
    data: Vec<u16>,
}

impl PackedBf16 {
    /// Packs row-major f32 weights `w` (`n × k`), rounding each to bf16.
    pub fn new(w: &[f32], n: usize, k: usize) -> candle_core::Result<Self> {
        if w.len() != n * k || n == 0 || k == 0 {
            candle_core::bail!("bf16 weights: {} values for {n} × {k}", w.len());
        }
        let k_pad = k.next_multiple_of(32);
        let n_blocks = n.div_ceil(BLOCK).next_multiple_of(2);
        let mut data = vec![0u16; n_blocks * k_pad * BLOCK];
        data.par_chunks_mut(k_pad * BLOCK)
            .enumerate()
            .for_each(|(nb, block)| {
                for j in 0..BLOCK.min(n.saturating_sub(nb * BLOCK)) {
                    let row = &w[(nb * BLOCK + j) * k..(nb * BLOCK + j + 1) * k];
                    for (kk, &v) in row.iter().enumerate() {
                        block[(kk / 2 * BLOCK + j) * 2 + kk % 2] = f32_to_bf16(v);
                    }
                }
            });
        Ok(PackedBf16 {
            n,
            k,
            k_pad,
            n_blocks,
            data,
        })
    }

    /// Packs a 2-D weight tensor `[n, k]` of any float dtype.
    pub fn from_tensor(w: &Tensor) -> candle_core::Result<Self> {
        let (n, k) = w.dims2()?;
        let values = w
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Self::new(&values, n, k)
    }

    /// The weights back as row-major f32 (`n × k`, each value its bf16 rounding).
    pub fn unpack(&self) -> Vec<f32> {
        let mut w = vec![0f32; self.n * self.k];
        for (r, row) in w.chunks_mut(self.k).enumerate() {
            let block = &self.data[r / BLOCK * self.k_pad * BLOCK..];
            for (kk, v) in row.iter_mut().enumerate() {
                *v = bf16_to_f32(block[(kk / 2 * BLOCK + r % BLOCK) * 2 + kk % 2]);
            }
        }
        w
    }

    /// Output features `n`.
    pub fn out_features(&self) -> usize {
        self.n
    }

    /// Input features `k`.
    pub fn in_features(&self) -> usize {
        self.k
    }
}

/// `y = x · Wᵀ` (`m × n`, row-major) on the fastest available path.
pub fn matmul_bf16(x: &[f32], m: usize, w: &PackedBf16) -> candle_core::Result<Vec<f32>> {
    matmul_bf16_with(x, m, w, Bf16Path::best())
}

/// `y = x · Wᵀ` on the given path; an error if this CPU cannot run it.
pub fn matmul_bf16_with(
    x: &[f32],
    m: usize,
    w: &PackedBf16,
    path: Bf16Path,
) -> candle_core::Result<Vec<f32>> {
    if x.len() != m * w.k {
        candle_core::bail!("bf16 matmul: {} inputs for {m} × {}", x.len(), w.k);
    }
    if !path.available() {
        candle_core::bail!("bf16 matmul: this CPU cannot run the {} path", path.name());
    }
    let mut y = vec![0f32; m * w.n];
    if m == 0 {
        return Ok(y);
    }
    let threads = rayon::current_num_threads();
    if m.div_ceil(TASK_ROWS) >= 2 * threads {
        // Many rows: each task converts and multiplies its own rows, writing straight into y.
        y.par_chunks_mut(TASK_ROWS * w.n)
            .zip(x.par_chunks(TASK_ROWS * w.k))
            .for_each(|(y_rows, x_rows)| {
                let rows = x_rows.len() / w.k;
                let a = to_bf16_rows(x_rows, rows, w, path);
                let mut out = Out::new(y_rows, w.n, rows, w.n);
                run(path, &a, w, 0, w.n_blocks, &mut out);
            });
    } else {
        // Few rows: convert once, split the columns.
        let a = to_bf16_rows(x, m, w, path);
        let per_task = w.n_blocks.div_ceil(4 * threads).next_multiple_of(2);
        let parts: Vec<(usize, Vec<f32>)> = (0..w.n_blocks)
            .step_by(per_task)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|nb0| {
                let nb1 = (nb0 + per_task).min(w.n_blocks);
                let cols = (nb1 * BLOCK).min(w.n) - nb0 * BLOCK;
                let mut part = vec![0f32; m * cols];
                run(
                    path,
                    &a,
                    w,
                    nb0,
                    nb1,
                    &mut Out::new(&mut part, cols, m, cols),
                );
                (nb0 * BLOCK, part)
            })
            .collect();
        for (col, part) in parts {
            let cols = part.len() / m;
            for (r, row) in part.chunks(cols).enumerate() {
                y[r * w.n + col..r * w.n + col + cols].copy_from_slice(row);
            }
        }
    }
    Ok(y)
}

/// `rows` rows of `x` in bf16, `k` padded to `k_pad`, rows padded as `path` needs.
fn to_bf16_rows(x: &[f32], rows: usize, w: &PackedBf16, path: Bf16Path) -> Vec<u16> {
    let mut a = vec![0u16; path.padded_rows(rows) * w.k_pad];
    for (dst, src) in a.chunks_mut(w.k_pad).zip(x.chunks(w.k)) {
        convert_row(src, &mut dst[..w.k]);
    }
    a
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma+avx",
    "x86_64+avx2+fma+avx",
))]
fn convert_row(src: &[f32], dst: &mut [u16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f32_to_bf16(s);
    }
}

/// Where a kernel's block lands: `rows × cols` valid values, `ld` apart, in `data`.
pub(crate) struct Out<'a> {
    data: &'a mut [f32],
    ld: usize,
    rows: usize,
    cols: usize,
}

impl<'a> Out<'a> {
    fn new(data: &'a mut [f32], ld: usize, rows: usize, cols: usize) -> Self {
        Out {
            data,
            ld,
            rows,
            cols,
        }
    }

    /// Writes `values` at row `r`, column `c`, clipped to the valid region.
    pub(crate) fn put(&mut self, r: usize, c: usize, values: &[f32]) {
        if r < self.rows && c < self.cols {
            let len = values.len().min(self.cols - c);
            self.data[r * self.ld + c..r * self.ld + c + len].copy_from_slice(&values[..len]);
        }
    }
}

fn run(path: Bf16Path, a: &[u16], w: &PackedBf16, nb0: usize, nb1: usize, out: &mut Out) {
    match path {
        #[cfg(target_arch = "x86_64")]
        Bf16Path::Amx => x86::amx_block(a, w.k_pad, &w.data, nb0, nb1, out),
        #[cfg(target_arch = "x86_64")]
        Bf16Path::Avx512Bf16 => x86::avx512_block(a, w.k_pad, &w.data, nb0, nb1, out),
        _ => portable_block(a, w.k_pad, &w.data, nb0, nb1, out),
    }
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma+avx",
    "x86_64+avx2+fma+avx",
))]
fn portable_block(a: &[u16], k_pad: usize, packed: &[u16], nb0: usize, nb1: usize, out: &mut Out) {
    for (r, row) in a.chunks(k_pad).enumerate().take(out.rows) {
        for nb in nb0..nb1 {
            let block = &packed[nb * k_pad * BLOCK..(nb + 1) * k_pad * BLOCK];
            let mut acc = [0f32; BLOCK];
            for (pair, w) in row.chunks_exact(2).zip(block.chunks_exact(2 * BLOCK)) {
                let (a0, a1) = (bf16_to_f32(pair[0]), bf16_to_f32(pair[1]));
                for (s, wj) in acc.iter_mut().zip(w.chunks_exact(2)) {
                    *s += a0 * bf16_to_f32(wj[0]) + a1 * bf16_to_f32(wj[1]);
                }
            }
            out.put(r, (nb - nb0) * BLOCK, &acc);
        }
    }
}

/// A linear layer without bias, `x · Wᵀ`, on contiguous f32 CPU tensors (`[.., k]` →
/// `[.., n]`); the weights are rounded to bf16 once.
///
/// On AMX and AVX512-BF16 the weights are packed for the bf16 kernels. Without them (the
/// portable path) the bf16 weights are kept as f32 values and multiplied by candle's f32
/// product: the operands are the same bf16 values, and `gemm` runs them several times faster
/// than a portable bf16 loop, so bf16 there costs what f32 costs.
#[derive(Debug, Clone)]
pub struct Bf16Linear {
    weights: Weights,
    path: Bf16Path,
}

#[derive(Debug, Clone)]
enum Weights {
    /// For the AMX and AVX512-BF16 kernels.
    Packed(PackedBf16),
    /// `n × k` f32 values of the bf16 weights, for the f32 product.
    Rounded(Tensor),
}

impl Bf16Linear {
    /// Rounds `weight` (`[n, k]`, any float dtype) to bf16 for the fastest available path.
    pub fn new(weight: &Tensor) -> candle_core::Result<Self> {
        Self::with_path(weight, Bf16Path::best())
    }

    /// The same on the given path; an error if this CPU cannot run it.
    pub fn with_path(weight: &Tensor, path: Bf16Path) -> candle_core::Result<Self> {
        if !path.available() {
            candle_core::bail!("bf16 linear: this CPU cannot run the {} path", path.name());
        }
        let weights = match path {
            Bf16Path::Portable => {
                let w = weight.to_device(&candle_core::Device::Cpu)?;
                Weights::Rounded(
                    w.to_dtype(DType::BF16)?
                        .to_dtype(DType::F32)?
                        .contiguous()?,
                )
            }
            _ => Weights::Packed(PackedBf16::from_tensor(weight)?),
        };
        Ok(Bf16Linear { weights, path })
    }

    /// Output features `n`.
    pub fn out_features(&self) -> usize {
        match &self.weights {
            Weights::Packed(w) => w.out_features(),
            Weights::Rounded(w) => w.dims()[0],
        }
    }

    /// Input features `k`.
    pub fn in_features(&self) -> usize {
        match &self.weights {
            Weights::Packed(w) => w.in_features(),
            Weights::Rounded(w) => w.dims()[1],
        }
    }

    /// The weights as an f32 `n × k` CPU tensor (each value its bf16 rounding).
    pub fn weight_f32(&self) -> candle_core::Result<Tensor> {
        match &self.weights {
            Weights::Packed(w) => Tensor::from_vec(
                w.unpack(),
                (w.out_features(), w.in_features()),
                &candle_core::Device::Cpu,
            ),
            Weights::Rounded(w) => Ok(w.clone()),
        }
    }

    /// The path the products run on.
    pub fn path(&self) -> Bf16Path {
        self.path
    }

    /// `x · Wᵀ` over the last dimension of `x` (f32).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (n, k) = (self.out_features(), self.in_features());
        let dims = x.dims();
        if dims.last() != Some(&k) || x.dtype() != DType::F32 {
            candle_core::bail!(
                "bf16-linear: input {dims:?} {:?}, weights of {k} f32 inputs",
                x.dtype()
            );
        }
        match &self.weights {
            Weights::Packed(_) => x.contiguous()?.apply_op1_no_bwd(self),
            Weights::Rounded(w) => {
                let rows = x.elem_count() / k;
                let x = x.to_dtype(DType::BF16)?.to_dtype(DType::F32)?;
                let y = x.reshape((rows, k))?.matmul(&w.t()?)?;
                let mut out = dims.to_vec();
                *out.last_mut().expect("checked above") = n;
                y.reshape(out)
            }
        }
    }
}

impl CustomOp1 for Bf16Linear {
    fn name(&self) -> &'static str {
        "bf16-linear"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let Weights::Packed(weight) = &self.weights else {
            candle_core::bail!("bf16-linear: the portable path runs the f32 product");
        };
        let x = crate::f32_slice(s, l, self.name())?;
        let mut dims = l.dims().to_vec();
        if dims.last() != Some(&weight.k) {
            candle_core::bail!(
                "bf16-linear: input {dims:?}, weights of {} inputs",
                weight.k
            );
        }
        let m = x.len() / weight.k;
        let y = matmul_bf16_with(x, m, weight, self.path)?;
        *dims.last_mut().expect("checked above") = weight.n;
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1) with a few larger ones, so sums mix magnitudes.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let v = (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                if i % 97 == 0 {
                    v * 8.0
                } else {
                    v
                }
            })
            .collect()
    }

    fn round(v: &[f32]) -> Vec<f32> {
        v.iter().map(|&x| bf16_to_f32(f32_to_bf16(x))).collect()
    }

    /// Checks every available path at `m × n × k` against the f32 product (bf16 rounding bound)
    /// and against the exact product of the rounded operands (f32 accumulation bound).
    fn check(m: usize, n: usize, k: usize) {
        let (x, w) = (
            values(m * k, (m * 31 + k) as u64),
            values(n * k, (n * 7 + k) as u64),
        );
        let packed = PackedBf16::new(&w, n, k).unwrap();
        let (xr, wr) = (round(&x), round(&w));
        assert_eq!(packed.unpack(), wr);
        let mut results = Vec::new();
        for path in Bf16Path::ALL {
            if !path.available() {
                println!("skipped: this CPU has no {} path", path.name());
                continue;
            }
            let y = matmul_bf16_with(&x, m, &packed, path).unwrap();
            results.push((path.name(), y));
        }
        #[cfg(target_arch = "x86_64")]
        results.push(("amx (software model)", emulated_amx(&x, m, &packed)));
        for (name, y) in results {
            assert_eq!(y.len(), m * n);
            for r in 0..m {
                for c in 0..n {
                    let (xs, ws) = (&x[r * k..(r + 1) * k], &w[c * k..(c + 1) * k]);
                    let magnitude: f64 = xs
                        .iter()
                        .zip(ws)
                        .map(|(a, b)| f64::from((a * b).abs()))
                        .sum();
                    let exact: f64 = xs
                        .iter()
                        .zip(ws)
                        .map(|(a, b)| f64::from(*a) * f64::from(*b))
                        .sum();
                    let rounded: f64 = xr[r * k..(r + 1) * k]
                        .iter()
                        .zip(&wr[c * k..(c + 1) * k])
                        .map(|(a, b)| f64::from(*a) * f64::from(*b))
                        .sum();
                    let got = f64::from(y[r * n + c]);
                    let at = format!("{name} at {m}×{n}×{k}, row {r}, column {c}");
                    assert!(
                        (got - exact).abs() <= 1e-2 * magnitude + 1e-6,
                        "{at}: {got} vs f32 {exact}"
                    );
                    assert!(
                        (got - rounded).abs() <= 1e-5 * magnitude + 1e-6,
                        "{at}: {got} vs bf16 {rounded}"
                    );
                }
            }
        }
    }

    /// The AMX kernel's tile loop on the software model of the tiles, over all column blocks;
    /// checks on the way that a column range of it gives the same columns.
    #[cfg(target_arch = "x86_64")]
    fn emulated_amx(x: &[f32], m: usize, w: &PackedBf16) -> Vec<f32> {
        let a = to_bf16_rows(x, m, w, Bf16Path::Amx);
        let columns = |nb0: usize, nb1: usize| {
            let cols = (nb1 * BLOCK).min(w.n) - nb0 * BLOCK;
            let mut y = vec![0f32; m * cols];
            let mut out = Out::new(&mut y, cols, m, cols);
            x86::tile_loop(
                &mut x86::Emulated::new(),
                &a,
                w.k_pad,
                &w.data,
                nb0,
                nb1,
                &mut out,
            );
            y
        };
        let y = columns(0, w.n_blocks);
        if w.n_blocks >= 4 {
            let part = columns(2, 4);
            let cols = part.len() / m;
            for r in 0..m {
                let full = &y[r * w.n + 2 * BLOCK..r * w.n + 2 * BLOCK + cols];
                assert_eq!(
                    &part[r * cols..(r + 1) * cols],
                    full,
                    "column blocks 2..4, row {r}"
                );
            }
        }
        y
    }

    #[test]
    fn odd_shapes_and_tails_on_every_path() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            for (m, n, k) in [
                (1, 1, 1),
                (1, 17, 33),
                (1, 100, 576),
                (2, 3, 5),
                (3, 35, 70),
                (5, 16, 32),
                (17, 50, 65),
                (33, 100, 31),
                (40, 64, 96),
                (64, 64, 64),
                // Enough rows for the row-parallel branch (≥ 2 tasks per thread).
                (150, 47, 100),
                (161, 33, 129),
            ] {
                check(m, n, k);
            }
        });
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(f32_to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to the even 1.0.
        assert_eq!(f32_to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(f32_to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert!(bf16_to_f32(f32_to_bf16(f32::NAN)).is_nan());
        assert_eq!(bf16_to_f32(f32_to_bf16(f32::INFINITY)), f32::INFINITY);
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(PackedBf16::new(&[1.0; 5], 2, 3).is_err());
        let w = PackedBf16::new(&[1.0; 6], 2, 3).unwrap();
        assert!(matmul_bf16(&[1.0; 4], 1, &w).is_err());
        assert!(matmul_bf16(&[], 0, &w).unwrap().is_empty());
    }

    #[test]
    fn the_linear_layer_gives_the_bf16_product_on_every_path() {
        let device = candle_core::Device::Cpu;
        let (m, n, k) = (37, 45, 70);
        let (x, w) = (values(m * k, 3), values(n * k, 4));
        let (xr, wr) = (round(&x), round(&w));
        let xt = Tensor::from_vec(x, (m, k), &device).unwrap();
        let wt = Tensor::from_vec(w, (n, k), &device).unwrap();
        for path in Bf16Path::ALL {
            let Ok(linear) = Bf16Linear::with_path(&wt, path) else {
                assert!(!path.available());
                println!("skipped: this CPU has no {} path", path.name());
                continue;
            };
            assert_eq!(
                linear
                    .weight_f32()
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
                wr
            );
            let y = linear.forward(&xt).unwrap().to_vec2::<f32>().unwrap();
            for r in 0..m {
                for c in 0..n {
                    let pairs = xr[r * k..(r + 1) * k].iter().zip(&wr[c * k..(c + 1) * k]);
                    let (exact, magnitude) = pairs.fold((0f64, 0f64), |(e, g), (a, b)| {
                        let p = f64::from(*a) * f64::from(*b);
                        (e + p, g + p.abs())
                    });
                    let got = f64::from(y[r][c]);
                    assert!(
                        (got - exact).abs() <= 1e-5 * magnitude + 1e-6,
                        "{} at row {r}, column {c}: {got} vs {exact}",
                        path.name()
                    );
                }
            }
        }
    }

    #[test]
    fn linear_op_keeps_leading_dimensions() {
        let device = candle_core::Device::Cpu;
        let w = Tensor::new(&[[1.0f32, 0.0, 2.0], [0.5, 1.0, -1.0]], &device).unwrap();
        let x = Tensor::new(&[[[1.0f32, 2.0, 3.0]], [[0.0, 4.0, 1.0]]], &device).unwrap();
        let y = Bf16Linear::new(&w).unwrap().forward(&x).unwrap();
        assert_eq!(y.dims(), &[2, 1, 2]);
        assert_eq!(
            y.to_vec3::<f32>().unwrap(),
            vec![vec![vec![7.0, -0.5]], vec![vec![2.0, 3.0]]]
        );
        assert!(Bf16Linear::new(&w)
            .unwrap()
            .forward(&w.t().unwrap())
            .is_err());
    }
}
