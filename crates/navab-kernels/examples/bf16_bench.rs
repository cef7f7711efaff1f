//! GFLOP/s of the bf16 matrix product `y = x · Wᵀ` on each available path, beside candle's f32
//! and bf16 matrix products, at the shapes of MiniLM (k = 384) and SmolLM2-135M (k = 576).
//!
//! `cargo run --release -p navab-kernels --example bf16_bench [-- --reps 20]`

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use navab_kernels::bf16::{matmul_bf16_with, Bf16Path, PackedBf16};

fn gflops(m: usize, n: usize, k: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up: page faults, tile permission, thread pool
    let start = Instant::now();
    for _ in 0..reps {
        f();
    }
    let secs = start.elapsed().as_secs_f64() / reps as f64;
    2.0 * (m * n * k) as f64 / secs / 1e9
}

fn main() -> candle_core::Result<()> {
    let reps: usize = std::env::args()
        .skip_while(|a| a != "--reps")
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let paths: Vec<Bf16Path> = Bf16Path::ALL
        .into_iter()
        .filter(|p| p.available())
        .collect();
    println!(
        "threads {}; bf16 paths on this CPU: {}",
        rayon::current_num_threads(),
        paths
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    print!(
        "{:>5} {:>6} {:>5} {:>10} {:>10}",
        "m", "n", "k", "candle-f32", "candle-bf16"
    );
    for p in &paths {
        print!(" {:>12}", p.name());
    }
    println!("   (GFLOP/s)");
    let device = Device::Cpu;
    for (k, ns) in [(384, &[384, 1536][..]), (576, &[576, 1536, 49152][..])] {
        for &n in ns {
            let w = Tensor::randn(0f32, 0.05, (n, k), &device)?;
            let wt = w.t()?;
            let w16 = w.to_dtype(DType::BF16)?;
            let w16t = w16.t()?;
            let packed = PackedBf16::from_tensor(&w)?;
            for m in [1, 16, 256] {
                let x = Tensor::randn(0f32, 1.0, (m, k), &device)?;
                let x16 = x.to_dtype(DType::BF16)?;
                let xs = x.flatten_all()?.to_vec1::<f32>()?;
                // Large products get fewer repetitions: the figure is stable after a second.
                let r = (reps * 256 * 1536 / (m * n).max(1)).clamp(2, 20 * reps);
                let f32_rate = gflops(m, n, k, r, || {
                    x.matmul(&wt).unwrap();
                });
                let bf16_rate = gflops(m, n, k, (r / 10).max(1), || {
                    x16.matmul(&w16t).unwrap();
                });
                print!("{m:>5} {n:>6} {k:>5} {f32_rate:>10.1} {bf16_rate:>10.1}");
                for &p in &paths {
                    let rate = gflops(m, n, k, r, || {
                        matmul_bf16_with(&xs, m, &packed, p).unwrap();
                    });
                    print!(" {rate:>12.1}");
                }
                println!();
            }
        }
    }
    Ok(())
}
