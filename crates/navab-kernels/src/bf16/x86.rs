//! The x86 bf16 kernels: AMX tiles (`TDPBF16PS`) and AVX512-BF16 (`VDPBF16PS`). The only
//! `unsafe` code of the crate.
//!
//! Invariants, checked by the safe functions of this module before any `unsafe` block runs:
//! - every kernel is entered only after its CPU feature was detected at run time ([`amx`],
//!   [`avx512_bf16`]); for AMX that includes the Linux tile-data permission, requested once per
//!   process (the kernel then saves the tile state of every thread);
//! - `a` holds `rows × k_pad` bf16 values, row-major, `rows` a multiple of the row block and
//!   `k_pad` a multiple of 32; the packed weights hold `n_blocks × k_pad/2 × 16 × 2` values (see
//!   `PackedBf16`), `n_blocks` even; every load stays inside these bounds, asserted on entry;
//! - each thread configures the tiles (`ldtilecfg`) before its first tile instruction and
//!   releases them (`tilerelease`) before it returns; nothing else in the process uses the
//!   AMX registers, so no tile state crosses a call;
//! - stores go to local arrays only; the safe callers copy the valid rows and columns out.

#![allow(unsafe_code)]

use std::arch::asm;
use std::arch::x86_64::{
    __m512bh, __m512i, _mm512_dpbf16_ps, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_setzero_ps,
    _mm512_storeu_ps,
};
use std::sync::OnceLock;

use super::Out;

/// Rows of an A tile and of an output tile; also pairs of k per B tile.
const TILE: usize = 16;

/// Whether the CPU has AMX-BF16 and the OS lets this process use the tiles.
pub(super) fn amx() -> bool {
    static AMX: OnceLock<bool> = OnceLock::new();
    *AMX.get_or_init(|| {
        let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
        let (tile, bf16) = (leaf7.edx >> 24 & 1 == 1, leaf7.edx >> 22 & 1 == 1);
        tile && bf16 && request_tile_permission()
    })
}

/// Whether the CPU has AVX512-BF16.
pub(super) fn avx512_bf16() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bf16")
}

/// Linux keeps the 8 KiB of tile data out of a thread's saved state until the process asks.
#[cfg(target_os = "linux")]
fn request_tile_permission() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with these arguments only changes this process's permissions.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        )
    };
    rc == 0
}

#[cfg(not(target_os = "linux"))]
fn request_tile_permission() -> bool {
    false
}

/// Palette 1, every tile 16 rows of 64 bytes: C tiles 16 × 16 f32, A tiles 16 rows × 32 bf16,
/// B tiles 16 pairs of k × 16 columns × 2 bf16.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn uniform() -> Self {
        let mut c = [0u8; 64];
        c[0] = 1;
        for t in 0..8 {
            c[16 + 2 * t] = 64;
            c[48 + t] = TILE as u8;
        }
        TileConfig(c)
    }
}

/// The row count of `a`, after asserting what both kernels' unsafe blocks rely on: `k_pad` a
/// positive multiple of 32 that `a` fills whole rows of, and an even count of column blocks
/// `nb0..nb1` inside `packed`.
fn checked_rows(a: &[u16], k_pad: usize, packed: &[u16], nb0: usize, nb1: usize) -> usize {
    let rows = a.len() / k_pad.max(1);
    assert!(k_pad.is_multiple_of(32) && k_pad > 0 && a.len() == rows * k_pad);
    assert!(nb0 <= nb1 && (nb1 - nb0).is_multiple_of(2) && packed.len() >= nb1 * k_pad * TILE);
    rows
}

/// `out[r][c] = Σ_k a[r][k] · w[c][k]` for the rows of `a` (`rows`, a multiple of 16) and the
/// column blocks `nb0..nb1` (an even count) of `packed`, into `out` at column `(nb − nb0)·16`.
/// Two-by-two tiles (32 rows × 32 columns) where 32 rows remain, one-by-two for the last 16.
pub(super) fn amx_block(
    a: &[u16],
    k_pad: usize,
    packed: &[u16],
    nb0: usize,
    nb1: usize,
    out: &mut Out,
) {
    assert!(amx(), "AMX kernel entered without AMX");
    let rows = checked_rows(a, k_pad, packed, nb0, nb1);
    assert!(rows.is_multiple_of(TILE));
    let config = TileConfig::uniform();
    let mut c = Scratch([0f32; 32 * 32]);
    let lda = (k_pad * 2) as isize;
    // SAFETY: AMX is present and permitted (asserted); the tiles are configured here and
    // released below; every tile load reads 16 rows of 64 bytes at most `lda` apart inside `a`
    // (row block `rb..rb + 16·(1 or 2)` ≤ `rows`, columns `kb·32..kb·32 + 32` ≤ `k_pad`) or
    // 1024 contiguous bytes inside `packed` (block `nb < nb1`, pairs `kb·16..kb·16 + 16` ≤
    // `kp`); stores write 16 rows of 64 bytes, 128 bytes apart, inside the 4 KiB scratch.
    unsafe {
        asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack, readonly));
        for nb in (nb0..nb1).step_by(2) {
            let b0 = packed.as_ptr().add(nb * k_pad * TILE);
            let b1 = b0.add(k_pad * TILE);
            let mut rb = 0;
            while rb < rows {
                let two = rows - rb >= 2 * TILE;
                asm!(
                    "tilezero tmm0",
                    "tilezero tmm1",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    options(nostack, nomem)
                );
                let a0 = a.as_ptr().add(rb * k_pad);
                for kb in 0..k_pad / 32 {
                    let pa = a0.add(kb * 32);
                    let pb0 = b0.add(kb * TILE * 2 * TILE);
                    let pb1 = b1.add(kb * TILE * 2 * TILE);
                    asm!(
                        "tileloadd tmm4, [{pa} + {lda}*1]",
                        "tileloadd tmm6, [{pb0} + {ldb}*1]",
                        "tileloadd tmm7, [{pb1} + {ldb}*1]",
                        "tdpbf16ps tmm0, tmm4, tmm6",
                        "tdpbf16ps tmm1, tmm4, tmm7",
                        pa = in(reg) pa, pb0 = in(reg) pb0, pb1 = in(reg) pb1,
                        lda = in(reg) lda, ldb = in(reg) 64isize,
                        options(nostack, readonly),
                    );
                    if two {
                        asm!(
                            "tileloadd tmm5, [{pa} + {lda}*1]",
                            "tdpbf16ps tmm2, tmm5, tmm6",
                            "tdpbf16ps tmm3, tmm5, tmm7",
                            pa = in(reg) pa.add(TILE * k_pad), lda = in(reg) lda,
                            options(nostack, readonly),
                        );
                    }
                }
                let p = c.0.as_mut_ptr();
                asm!(
                    "tilestored [{c0} + {ldc}*1], tmm0",
                    "tilestored [{c1} + {ldc}*1], tmm1",
                    "tilestored [{c2} + {ldc}*1], tmm2",
                    "tilestored [{c3} + {ldc}*1], tmm3",
                    c0 = in(reg) p, c1 = in(reg) p.add(TILE),
                    c2 = in(reg) p.add(TILE * 32), c3 = in(reg) p.add(TILE * 32 + TILE),
                    ldc = in(reg) 128isize,
                    options(nostack),
                );
                let block_rows = if two { 2 * TILE } else { TILE };
                let col = (nb - nb0) * TILE;
                for r in 0..block_rows {
                    out.put(rb + r, col, &c.0[r * 32..r * 32 + 32]);
                }
                rb += block_rows;
            }
        }
        asm!("tilerelease", options(nostack, nomem));
    }
}

#[repr(C, align(64))]
struct Scratch([f32; 32 * 32]);

/// The AVX512-BF16 kernel over the same operands as [`amx_block`], `rows` a multiple of 4:
/// 4 rows × 4 column blocks (64 columns) of accumulators at a time, one row at a time where
/// the block is a single row (`rows == 1` is allowed here: generation's matrix-vector case).
pub(super) fn avx512_block(
    a: &[u16],
    k_pad: usize,
    packed: &[u16],
    nb0: usize,
    nb1: usize,
    out: &mut Out,
) {
    assert!(
        avx512_bf16(),
        "AVX512-BF16 kernel entered without AVX512-BF16"
    );
    let rows = checked_rows(a, k_pad, packed, nb0, nb1);
    assert!(rows == 1 || rows.is_multiple_of(4));
    let step = if rows == 1 { 1 } else { 4 };
    let mut acc = [0f32; 4 * 4 * TILE];
    for rb in (0..rows).step_by(step) {
        let a_rows = &a[rb * k_pad..(rb + step) * k_pad];
        let mut nb = nb0;
        while nb < nb1 {
            let nr = if nb1 - nb >= 4 { 4 } else { 2 };
            let w = &packed[nb * k_pad * TILE..(nb + nr) * k_pad * TILE];
            // SAFETY: AVX512-BF16 is present (asserted); the micro-kernels read `a_rows`
            // (`step` rows of `k_pad`) and `w` (`nr` blocks of `k_pad × 16`) within their
            // lengths, asserted again inside, and write `acc` (`4 × 4 × 16`).
            unsafe {
                match (step, nr) {
                    (4, 4) => micro::<4, 4>(a_rows, k_pad, w, &mut acc),
                    (4, _) => micro::<4, 2>(a_rows, k_pad, w, &mut acc),
                    (_, 4) => micro::<1, 4>(a_rows, k_pad, w, &mut acc),
                    _ => micro::<1, 2>(a_rows, k_pad, w, &mut acc),
                }
            }
            let col = (nb - nb0) * TILE;
            for r in 0..step {
                out.put(rb + r, col, &acc[r * 4 * TILE..r * 4 * TILE + nr * TILE]);
            }
            nb += nr;
        }
    }
}

/// `MR` rows × `NR` column blocks; `acc[r·64 + j·16 + lane]` receives row `r`, column `16j + lane`.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn micro<const MR: usize, const NR: usize>(
    a: &[u16],
    k_pad: usize,
    w: &[u16],
    acc: &mut [f32; 4 * 4 * TILE],
) {
    assert!(a.len() == MR * k_pad && w.len() == NR * k_pad * TILE);
    let kp = k_pad / 2;
    let mut sum = [[_mm512_setzero_ps(); NR]; MR];
    let (pa, pw) = (a.as_ptr(), w.as_ptr());
    for p in 0..kp {
        let mut wv = [std::mem::MaybeUninit::<__m512bh>::uninit(); NR];
        for (j, v) in wv.iter_mut().enumerate() {
            // SAFETY: block j's pair p is 32 values at `(j·kp + p)·32 < NR·k_pad·16`.
            let x = unsafe { _mm512_loadu_si512(pw.add((j * kp + p) * 32) as *const __m512i) };
            *v = std::mem::MaybeUninit::new(std::mem::transmute::<__m512i, __m512bh>(x));
        }
        for (r, row) in sum.iter_mut().enumerate() {
            // SAFETY: the pair `2p, 2p + 1` of row r lies inside `a` (`2p + 1 < k_pad`).
            let pair = unsafe { (pa.add(r * k_pad + 2 * p) as *const i32).read_unaligned() };
            let av = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(pair));
            for (j, s) in row.iter_mut().enumerate() {
                *s = _mm512_dpbf16_ps(*s, av, wv[j].assume_init());
            }
        }
    }
    for (r, row) in sum.iter().enumerate() {
        for (j, s) in row.iter().enumerate() {
            let dst = &mut acc[r * 4 * TILE + j * TILE..r * 4 * TILE + j * TILE + TILE];
            // SAFETY: `dst` is 16 f32 long.
            unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), *s) };
        }
    }
}
