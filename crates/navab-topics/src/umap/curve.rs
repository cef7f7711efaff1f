//! Fitting the embedding's similarity curve `1 / (1 + a·d^(2b))` to `min_dist` and `spread`.

/// The `a`, `b` of the curve `1 / (1 + a·d^(2b))` closest (least squares, 300 points on
/// `[0, 3·spread]`) to the target `1` for `d < min_dist` and `exp(-(d - min_dist) / spread)`
/// beyond, as umap-learn's `find_ab_params` does; fitted by Levenberg–Marquardt from `(1, 1)`.
///
/// # Example
/// ```
/// let (a, b) = navab_topics::umap::find_ab_params(1.0, 0.1);
/// // umap-learn documents a ≈ 1.58, b ≈ 0.90 for these settings.
/// assert!((a - 1.58).abs() < 0.02 && (b - 0.90).abs() < 0.01);
/// ```
pub fn find_ab_params(spread: f32, min_dist: f32) -> (f32, f32) {
    let (spread, min_dist) = (f64::from(spread), f64::from(min_dist));
    let xs: Vec<f64> = (0..300).map(|i| 3.0 * spread * i as f64 / 299.0).collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|&x| {
            if x < min_dist {
                1.0
            } else {
                (-(x - min_dist) / spread).exp()
            }
        })
        .collect();
    let cost = |a: f64, b: f64| -> f64 {
        xs.iter()
            .zip(&ys)
            .map(|(&x, &y)| (curve(a, b, x) - y).powi(2))
            .sum()
    };
    let (mut a, mut b) = (1.0f64, 1.0f64);
    let mut lambda = 1e-3;
    let mut current = cost(a, b);
    for _ in 0..500 {
        // Normal equations J^T J and J^T r for the two parameters.
        let (mut jaa, mut jab, mut jbb, mut ga, mut gb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&x, &y) in xs.iter().zip(&ys) {
            let r = curve(a, b, x) - y;
            let (da, db) = gradient(a, b, x);
            jaa += da * da;
            jab += da * db;
            jbb += db * db;
            ga += da * r;
            gb += db * r;
        }
        let mut improved = false;
        for _ in 0..30 {
            let (maa, mbb) = (jaa * (1.0 + lambda), jbb * (1.0 + lambda));
            let det = maa * mbb - jab * jab;
            if det.abs() < 1e-300 {
                lambda *= 10.0;
                continue;
            }
            let step_a = -(mbb * ga - jab * gb) / det;
            let step_b = -(maa * gb - jab * ga) / det;
            let (na, nb) = (a + step_a, b + step_b);
            if na > 0.0 && nb > 0.0 {
                let c = cost(na, nb);
                if c < current {
                    let gain = current - c;
                    (a, b, current) = (na, nb, c);
                    lambda = (lambda / 10.0).max(1e-12);
                    improved = gain > 1e-15 * current.max(1e-300);
                    break;
                }
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    (a as f32, b as f32)
}

fn curve(a: f64, b: f64, x: f64) -> f64 {
    1.0 / (1.0 + a * x.powf(2.0 * b))
}

/// Partial derivatives of [`curve`] in `a` and `b`.
fn gradient(a: f64, b: f64, x: f64) -> (f64, f64) {
    if x <= 0.0 {
        return (0.0, 0.0);
    }
    let p = x.powf(2.0 * b);
    let denom = (1.0 + a * p).powi(2);
    (-p / denom, -a * p * 2.0 * x.ln() / denom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(spread: f64, min_dist: f64, a: f64, b: f64) -> f64 {
        (0..300)
            .map(|i| {
                let x = 3.0 * spread * i as f64 / 299.0;
                let y = if x < min_dist {
                    1.0
                } else {
                    (-(x - min_dist) / spread).exp()
                };
                (curve(a, b, x) - y).powi(2)
            })
            .sum()
    }

    #[test]
    fn fit_is_a_local_minimum() {
        for (spread, min_dist) in [(1.0, 0.0), (1.0, 0.1), (2.0, 0.5)] {
            let (a, b) = find_ab_params(spread as f32, min_dist as f32);
            let best = cost(spread, min_dist, f64::from(a), f64::from(b));
            for (da, db) in [(0.01, 0.0), (-0.01, 0.0), (0.0, 0.01), (0.0, -0.01)] {
                assert!(best <= cost(spread, min_dist, f64::from(a) + da, f64::from(b) + db));
            }
        }
    }
}
