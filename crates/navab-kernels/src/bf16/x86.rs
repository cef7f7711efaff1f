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
//! - tile instructions are issued only through `Hardware`, which configures the tiles
//!   (`ldtilecfg`) when it is made and releases them (`tilerelease`) when dropped, within one
//!   call on one thread; nothing else in the process uses the AMX registers, so no tile state
//!   crosses a call; every tile load asserts that its 16 rows lie inside its slice;
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
/// column blocks `nb0..nb1` (an even count) of `packed`, into `out` at column `(nb − nb0)·16`,
/// on the AMX tiles.
pub(super) fn amx_block(
    a: &[u16],
    k_pad: usize,
    packed: &[u16],
    nb0: usize,
    nb1: usize,
    out: &mut Out,
) {
    let mut tiles = Hardware::configure().expect("AMX kernel entered without AMX");
    tile_loop(&mut tiles, a, k_pad, packed, nb0, nb1, out);
}

/// The tile instructions of the AMX kernel: two A tiles (`tmm4`, `tmm5`: 16 rows × 32 bf16),
/// two B tiles (`tmm6`, `tmm7`: 16 pairs of k × 16 columns × 2) and four accumulators
/// (`tmm0..=tmm3`: C`ij` = 16 × 16 f32 in `tmm(2i + j)`). [`Hardware`] issues them; the tests
/// run the same [`tile_loop`] on a software model of them, so that its addressing is checked on
/// every CPU.
pub(super) trait Tiles {
    /// Zeroes the four accumulators.
    fn zero(&mut self);
    /// A tile `i` from 16 rows of 32 values, `ld` values apart, at the start of `a`.
    fn load_a(&mut self, i: usize, a: &[u16], ld: usize);
    /// B tile `j` from the first 512 values of `b`.
    fn load_b(&mut self, j: usize, b: &[u16]);
    /// C`ij` += A`i` · B`j`.
    fn dot(&mut self, i: usize, j: usize);
    /// The accumulators into a 32 × 32 block: C`ij` at rows `16i..`, columns `16j..`.
    fn store(&mut self, c: &mut Scratch);
}

/// Values in a B tile: 16 pairs of k × 16 columns × 2.
const B_TILE: usize = TILE * 2 * TILE;

/// Two-by-two tiles (32 rows × 32 columns) where 32 rows remain, one-by-two for the last 16.
pub(super) fn tile_loop<T: Tiles>(
    tiles: &mut T,
    a: &[u16],
    k_pad: usize,
    packed: &[u16],
    nb0: usize,
    nb1: usize,
    out: &mut Out,
) {
    let rows = checked_rows(a, k_pad, packed, nb0, nb1);
    assert!(rows.is_multiple_of(TILE));
    let mut c = Scratch([0f32; 32 * 32]);
    for nb in (nb0..nb1).step_by(2) {
        let b = [nb, nb + 1].map(|n| &packed[n * k_pad * TILE..(n + 1) * k_pad * TILE]);
        let mut rb = 0;
        while rb < rows {
            let a_tiles = if rows - rb >= 2 * TILE { 2 } else { 1 };
            tiles.zero();
            for kb in 0..k_pad / 32 {
                for (j, bj) in b.iter().enumerate() {
                    tiles.load_b(j, &bj[kb * B_TILE..(kb + 1) * B_TILE]);
                }
                for i in 0..a_tiles {
                    tiles.load_a(i, &a[(rb + i * TILE) * k_pad + kb * 32..], k_pad);
                    tiles.dot(i, 0);
                    tiles.dot(i, 1);
                }
            }
            tiles.store(&mut c);
            let col = (nb - nb0) * TILE;
            for r in 0..a_tiles * TILE {
                out.put(rb + r, col, &c.0[r * 32..r * 32 + 32]);
            }
            rb += a_tiles * TILE;
        }
    }
}

/// A 32 × 32 f32 block, aligned for tile stores.
#[repr(C, align(64))]
pub(super) struct Scratch(pub(super) [f32; 32 * 32]);

/// The AMX tiles of this thread, configured; released on drop. It exists only where [`amx`]
/// holds, so its methods may issue tile instructions.
struct Hardware(());

impl Hardware {
    fn configure() -> Option<Self> {
        if !amx() {
            return None;
        }
        let config = TileConfig::uniform();
        // SAFETY: AMX is present and permitted; the 64-byte configuration is only read.
        unsafe { asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack, readonly)) };
        Some(Hardware(()))
    }
}

impl Drop for Hardware {
    fn drop(&mut self) {
        // SAFETY: the tiles were configured by `configure`.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}

/// A tile load of 16 rows of 64 bytes, `stride` bytes apart, into the named register.
macro_rules! tileload {
    ($reg:literal, $ptr:expr, $stride:expr) => {
        // SAFETY: the callers assert that the 16 rows lie inside their slice.
        unsafe {
            asm!(
                concat!("tileloadd ", $reg, ", [{p} + {s}*1]"),
                p = in(reg) $ptr, s = in(reg) ($stride) as isize,
                options(nostack, readonly),
            )
        }
    };
}

impl Tiles for Hardware {
    fn zero(&mut self) {
        // SAFETY: configured tiles; no memory is touched.
        unsafe {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            )
        };
    }

    fn load_a(&mut self, i: usize, a: &[u16], ld: usize) {
        assert!(ld >= 32 && a.len() >= (TILE - 1) * ld + 32);
        match i {
            0 => tileload!("tmm4", a.as_ptr(), ld * 2),
            _ => tileload!("tmm5", a.as_ptr(), ld * 2),
        }
    }

    fn load_b(&mut self, j: usize, b: &[u16]) {
        assert!(b.len() >= B_TILE);
        match j {
            0 => tileload!("tmm6", b.as_ptr(), 64),
            _ => tileload!("tmm7", b.as_ptr(), 64),
        }
    }

    fn dot(&mut self, i: usize, j: usize) {
        // SAFETY: configured tiles; registers only.
        unsafe {
            match (i, j) {
                (0, 0) => asm!("tdpbf16ps tmm0, tmm4, tmm6", options(nostack, nomem)),
                (0, _) => asm!("tdpbf16ps tmm1, tmm4, tmm7", options(nostack, nomem)),
                (_, 0) => asm!("tdpbf16ps tmm2, tmm5, tmm6", options(nostack, nomem)),
                _ => asm!("tdpbf16ps tmm3, tmm5, tmm7", options(nostack, nomem)),
            }
        }
    }

    fn store(&mut self, c: &mut Scratch) {
        let p = c.0.as_mut_ptr();
        // SAFETY: each store writes 16 rows of 64 bytes, 128 bytes apart, from row 0 or 16 and
        // column 0 or 16 of the 32 × 32 block: inside its 4 KiB.
        unsafe {
            asm!(
                "tilestored [{c0} + {ldc}*1], tmm0",
                "tilestored [{c1} + {ldc}*1], tmm1",
                "tilestored [{c2} + {ldc}*1], tmm2",
                "tilestored [{c3} + {ldc}*1], tmm3",
                c0 = in(reg) p, c1 = in(reg) p.add(TILE),
                c2 = in(reg) p.add(TILE * 32), c3 = in(reg) p.add(TILE * 32 + TILE),
                ldc = in(reg) 128isize,
                options(nostack),
            )
        };
    }
}

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

/// A software model of the tile registers the AMX kernel uses and of `TDPBF16PS` (two f32
/// products per pair, added in turn), for the tests of [`tile_loop`] on CPUs without AMX.
#[cfg(test)]
pub(super) struct Emulated {
    a: [[u16; B_TILE]; 2],
    b: [[u16; B_TILE]; 2],
    c: [[f32; TILE * TILE]; 4],
}

#[cfg(test)]
impl Emulated {
    pub(super) fn new() -> Self {
        Emulated {
            a: [[0; B_TILE]; 2],
            b: [[0; B_TILE]; 2],
            c: [[0.0; TILE * TILE]; 4],
        }
    }
}

#[cfg(test)]
impl Tiles for Emulated {
    fn zero(&mut self) {
        self.c = [[0.0; TILE * TILE]; 4];
    }

    fn load_a(&mut self, i: usize, a: &[u16], ld: usize) {
        for r in 0..TILE {
            self.a[i][r * 32..r * 32 + 32].copy_from_slice(&a[r * ld..r * ld + 32]);
        }
    }

    fn load_b(&mut self, j: usize, b: &[u16]) {
        self.b[j].copy_from_slice(&b[..B_TILE]);
    }

    fn dot(&mut self, i: usize, j: usize) {
        use super::bf16_to_f32 as f;
        let (a, b, c) = (&self.a[i], &self.b[j], &mut self.c[2 * i + j]);
        for m in 0..TILE {
            for n in 0..TILE {
                for p in 0..TILE {
                    for e in 0..2 {
                        c[m * TILE + n] += f(a[m * 32 + 2 * p + e]) * f(b[p * 32 + 2 * n + e]);
                    }
                }
            }
        }
    }

    fn store(&mut self, out: &mut Scratch) {
        for (t, c) in self.c.iter().enumerate() {
            let (r0, c0) = (t / 2 * TILE, t % 2 * TILE);
            for r in 0..TILE {
                let at = (r0 + r) * 32 + c0;
                out.0[at..at + TILE].copy_from_slice(&c[r * TILE..r * TILE + TILE]);
            }
        }
    }
}
