//! UMAP and kNN behaviour on generated data: separation, trustworthiness, recall,
//! determinism across thread counts, and bad input.

use navab_topics::knn::{KnnGraph, KnnMethod, KnnParams, Metric};
use navab_topics::umap::{fit, fit_transform, trustworthiness, Init, UmapParams};
use navab_topics::Error;
use ndarray::{Array2, ArrayView2};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn normal(rng: &mut StdRng) -> f32 {
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// `clusters` Gaussian blobs of `per` points in `dim` dimensions: centres N(0, 1), spread
/// `noise`. Returns the points and their blob labels.
fn blobs(
    clusters: usize,
    per: usize,
    dim: usize,
    noise: f32,
    seed: u64,
) -> (Array2<f32>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres = Array2::from_shape_fn((clusters, dim), |_| normal(&mut rng));
    let labels: Vec<usize> = (0..clusters * per).map(|i| i % clusters).collect();
    let data = Array2::from_shape_fn((clusters * per, dim), |(i, j)| {
        centres[(labels[i], j)] + noise * normal(&mut rng)
    });
    (data, labels)
}

/// Fraction of each point's `k` nearest embedded neighbours that share its label.
fn knn_purity(embedding: ArrayView2<f32>, labels: &[usize], k: usize) -> f64 {
    let g = KnnGraph::build(
        embedding,
        &KnnParams::new(k + 1)
            .metric(Metric::Euclidean)
            .method(KnnMethod::Exact),
    )
    .unwrap();
    let mut same = 0usize;
    for (i, &label) in labels.iter().enumerate() {
        same += g.neighbors(i).0[1..]
            .iter()
            .filter(|&&j| labels[j as usize] == label)
            .count();
    }
    same as f64 / (labels.len() * k) as f64
}

/// Fraction of points nearer their own blob's embedded centroid than any other blob's.
fn nearest_centroid_accuracy(embedding: ArrayView2<f32>, labels: &[usize], clusters: usize) -> f64 {
    let dim = embedding.ncols();
    let mut centroids = Array2::<f64>::zeros((clusters, dim));
    let mut counts = vec![0usize; clusters];
    for (row, &l) in embedding.rows().into_iter().zip(labels) {
        counts[l] += 1;
        for c in 0..dim {
            centroids[(l, c)] += f64::from(row[c]);
        }
    }
    for l in 0..clusters {
        for c in 0..dim {
            centroids[(l, c)] /= counts[l] as f64;
        }
    }
    let correct = embedding
        .rows()
        .into_iter()
        .zip(labels)
        .filter(|(row, &l)| {
            let dist = |m: usize| {
                (0..dim)
                    .map(|c| (f64::from(row[c]) - centroids[(m, c)]).powi(2))
                    .sum::<f64>()
            };
            (0..clusters).all(|m| m == l || dist(l) < dist(m))
        })
        .count();
    correct as f64 / labels.len() as f64
}

#[test]
fn blobs_in_high_dimensions_come_out_separated() {
    for (dim, n_components) in [(64, 2), (384, 5)] {
        let (data, labels) = blobs(4, 40, dim, 0.15, dim as u64);
        let params = UmapParams::default()
            .n_components(n_components)
            .n_epochs(Some(200));
        let fit = fit(data.view(), &params).unwrap();
        assert_eq!(fit.embedding.dim(), (160, n_components));
        assert_eq!(fit.init_used, Init::Spectral, "notes: {:?}", fit.notes);
        assert!(fit.embedding.iter().all(|v| v.is_finite()));
        let purity = knn_purity(fit.embedding.view(), &labels, 10);
        assert!(
            purity > 0.99,
            "dim {dim} -> {n_components}: purity {purity}"
        );
        let accuracy = nearest_centroid_accuracy(fit.embedding.view(), &labels, 4);
        assert!(
            accuracy > 0.99,
            "dim {dim} -> {n_components}: centroid accuracy {accuracy}"
        );
    }
}

#[test]
fn pca_and_random_initialisations_also_separate_blobs() {
    let (data, labels) = blobs(3, 40, 50, 0.15, 11);
    for init in [Init::Pca, Init::Random] {
        let params = UmapParams::default()
            .n_components(2)
            .init(init)
            .n_epochs(Some(200));
        let fit = fit(data.view(), &params).unwrap();
        assert_eq!(fit.init_used, init);
        let purity = knn_purity(fit.embedding.view(), &labels, 10);
        assert!(purity > 0.98, "{init:?}: purity {purity}");
    }
}

/// A noisy 2-d sheet (a rolled-up ribbon) linearly mapped into 50 dimensions.
fn ribbon(n: usize, seed: u64) -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let map = Array2::from_shape_fn((3, 50), |_| normal(&mut rng));
    let mut data = Array2::<f32>::zeros((n, 50));
    for i in 0..n {
        let t = 1.5 * std::f32::consts::PI * (1.0 + 2.0 * rng.random::<f32>());
        let h = 10.0 * rng.random::<f32>();
        let p = [t * t.cos(), h, t * t.sin()];
        for j in 0..50 {
            data[(i, j)] =
                (0..3).map(|c| p[c] * map[(c, j)]).sum::<f32>() + 0.05 * normal(&mut rng);
        }
    }
    data
}

#[test]
fn trustworthiness_of_a_manifold_embedding_is_high() {
    let data = ribbon(400, 3);
    let params = UmapParams::default()
        .n_components(2)
        .metric(Metric::Euclidean)
        .n_epochs(Some(200));
    let embedding = fit_transform(data.view(), &params).unwrap();
    let t = trustworthiness(data.view(), embedding.view(), 10).unwrap();
    assert!(t > 0.9, "trustworthiness {t}");
    // A random layout of the same points is far less trustworthy: the measure discriminates.
    let mut rng = StdRng::seed_from_u64(1);
    let random = Array2::from_shape_fn((400, 2), |_| rng.random::<f32>());
    let t_random = trustworthiness(data.view(), random.view(), 10).unwrap();
    assert!(t_random < 0.7, "random layout trustworthiness {t_random}");
}

#[test]
fn nn_descent_recall_on_clustered_data() {
    let (data, _) = blobs(30, 80, 32, 0.3, 5);
    let exact = KnnGraph::build(data.view(), &KnnParams::new(15).method(KnnMethod::Exact)).unwrap();
    let approx = KnnGraph::build(
        data.view(),
        &KnnParams::new(15).method(KnnMethod::NnDescent),
    )
    .unwrap();
    assert_eq!(approx.method(), KnnMethod::NnDescent);
    let recall = approx.recall(&exact).unwrap();
    assert!(recall >= 0.9, "recall {recall}");
}

#[test]
fn same_seed_gives_same_bytes_whatever_the_thread_count() {
    let (data, _) = blobs(3, 50, 40, 0.2, 9);
    for method in [KnnMethod::Exact, KnnMethod::NnDescent] {
        let params = UmapParams::default()
            .n_components(3)
            .n_epochs(Some(100))
            .knn_method(method);
        let a = fit_transform(data.view(), &params).unwrap();
        let b = fit_transform(data.view(), &params).unwrap();
        let one = fit_transform(data.view(), &params.clone().threads(Some(1))).unwrap();
        let three = fit_transform(data.view(), &params.clone().threads(Some(3))).unwrap();
        let bits = |m: &Array2<f32>| m.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        assert_eq!(bits(&a), bits(&b), "{method:?}: two runs differ");
        assert_eq!(
            bits(&one),
            bits(&three),
            "{method:?}: 1 vs 3 threads differ"
        );
        assert_eq!(
            bits(&a),
            bits(&one),
            "{method:?}: global pool vs 1 thread differ"
        );
        // A different seed gives a different layout.
        let other = fit_transform(data.view(), &params.seed(7)).unwrap();
        assert_ne!(bits(&a), bits(&other));
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let params = UmapParams::default();
    let empty = Array2::<f32>::zeros((0, 8));
    assert!(matches!(fit(empty.view(), &params), Err(Error::Input(_))));
    let one = Array2::<f32>::ones((1, 8));
    let err = fit(one.view(), &params).unwrap_err().to_string();
    assert!(err.contains("at least 2 points"), "{err}");
    let (mut data, _) = blobs(2, 10, 8, 0.1, 1);
    data[(13, 5)] = f32::NAN;
    let err = fit(data.view(), &params).unwrap_err().to_string();
    assert!(err.contains("row 13"), "{err}");
    assert!(matches!(
        fit(data.view(), &params.clone().n_neighbors(1)),
        Err(Error::InvalidParam {
            name: "n_neighbors",
            ..
        })
    ));
    assert!(matches!(
        fit(data.view(), &params.clone().min_dist(2.0)),
        Err(Error::InvalidParam {
            name: "min_dist",
            ..
        })
    ));
    assert!(matches!(
        fit(data.view(), &params.clone().threads(Some(0))),
        Err(Error::InvalidParam {
            name: "threads",
            ..
        })
    ));
}

#[test]
fn fewer_points_than_neighbours_clamps_with_a_note() {
    let (data, _) = blobs(2, 5, 16, 0.1, 2);
    let fit = fit(data.view(), &UmapParams::default().n_components(2)).unwrap();
    assert_eq!(fit.n_neighbors, 9);
    assert!(
        fit.notes.iter().any(|n| n.contains("clamped")),
        "{:?}",
        fit.notes
    );
    assert_eq!(fit.embedding.dim(), (10, 2));
    assert!(fit.embedding.iter().all(|v| v.is_finite()));
    // Two points: the smallest data UMAP accepts.
    let two = fit_transform(
        data.slice(ndarray::s![..2, ..]),
        &UmapParams::default().n_components(2),
    )
    .unwrap();
    assert!(two.iter().all(|v| v.is_finite()));
}

#[test]
fn duplicates_give_finite_output() {
    let (base, _) = blobs(2, 15, 16, 0.1, 4);
    let mut data = Array2::<f32>::zeros((60, 16));
    for i in 0..60 {
        data.row_mut(i).assign(&base.row(i / 2));
    }
    let embedding = fit_transform(
        data.view(),
        &UmapParams::default().n_components(2).n_epochs(Some(100)),
    )
    .unwrap();
    assert!(embedding.iter().all(|v| v.is_finite()));
    let same = Array2::<f32>::ones((20, 4));
    let embedding = fit_transform(
        same.view(),
        &UmapParams::default().n_components(2).n_epochs(Some(50)),
    )
    .unwrap();
    assert!(embedding.iter().all(|v| v.is_finite()));
}

#[test]
fn a_precomputed_graph_gives_the_same_embedding() {
    let (data, _) = blobs(3, 30, 24, 0.2, 12);
    let params = UmapParams::default().n_components(2).n_epochs(Some(60));
    let direct = fit(data.view(), &params).unwrap();
    let knn = KnnGraph::build(data.view(), &KnnParams::new(15)).unwrap();
    let copied = KnnGraph::from_parts(
        knn.indices().to_owned(),
        knn.distances().to_owned(),
        Metric::Cosine,
    )
    .unwrap();
    let via_graph = navab_topics::umap::fit_with_knn(data.view(), &copied, &params).unwrap();
    assert_eq!(direct.embedding, via_graph.embedding);
    // Row count mismatch and malformed graphs are errors.
    assert!(
        navab_topics::umap::fit_with_knn(data.slice(ndarray::s![..10, ..]), &copied, &params)
            .is_err()
    );
    let mut bad = knn.indices().to_owned();
    bad[(4, 0)] = 5;
    let err = KnnGraph::from_parts(bad, knn.distances().to_owned(), Metric::Cosine)
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 4"), "{err}");
}

/// Weakly separated groups: 6 centres N(0, 0.5²) in 16 dimensions, unit noise around each, so
/// the groups overlap (the structure of news with many small, overlapping topics).
fn weak_blobs(seed: u64) -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres = Array2::from_shape_fn((6, 16), |_| 0.5 * normal(&mut rng));
    Array2::from_shape_fn((300, 16), |(i, j)| centres[(i % 6, j)] + normal(&mut rng))
}

#[test]
fn attraction_is_equal_and_opposite_so_it_moves_no_centre() {
    // umap-learn moves both ends of an edge by the same step (move_other): attraction alone
    // keeps the layout's centre where it is and contracts the groups. A layout whose
    // attraction is taken from moving positions drifts (by ~0.2 here) and contracts less, and
    // then HDBSCAN merges weakly separated topics that umap-learn keeps apart.
    let data = weak_blobs(3);
    for seed in 0..3 {
        let params = UmapParams::default().seed(seed).negative_sample_rate(0);
        // Up to 10 epochs the graph is pruned as for the default count, so both fits share
        // the graph and the initial layout.
        let start = fit_transform(data.view(), &params.clone().n_epochs(Some(0))).unwrap();
        let end = fit_transform(data.view(), &params.n_epochs(Some(10))).unwrap();
        let (c0, c1) = (
            start.mean_axis(ndarray::Axis(0)).unwrap(),
            end.mean_axis(ndarray::Axis(0)).unwrap(),
        );
        for (d, (a, b)) in c0.iter().zip(&c1).enumerate() {
            assert!(
                (a - b).abs() < 1e-3,
                "seed {seed}: the centre moved on axis {d}: {a} -> {b}"
            );
        }
        let spread = |m: &Array2<f32>| m.std_axis(ndarray::Axis(0), 0.0).sum();
        assert!(
            spread(&end) < 0.5 * spread(&start),
            "seed {seed}: attraction alone should contract: spread {} -> {}",
            spread(&start),
            spread(&end)
        );
    }
}
