use super::*;
use crate::metrics::adjusted_rand_index;
use ndarray::Array2;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr_free::gaussian;

/// A standard normal sample by Box–Muller (rand 0.9 without rand_distr).
mod rand_distr_free {
    use rand::Rng;
    pub fn gaussian(rng: &mut impl Rng) -> f32 {
        let u1: f64 = rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = rng.random();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

/// `blobs` (at most 4) Gaussian blobs of `per_blob` points (sd `spread`) centred on the
/// corners of a 10 x 10 square, then `noise` uniform points in a wide box, each at least 20
/// from every centre: farther than the blobs are from one another, so HDBSCAN should leave them
/// out of every cluster. Returns the points and the truth (`Some(blob)`, `None` for noise).
fn blobs(
    dim: usize,
    blobs: usize,
    per_blob: usize,
    spread: f32,
    noise: usize,
    seed: u64,
) -> (Array2<f32>, Vec<Option<usize>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..blobs)
        .map(|b| {
            (0..dim)
                .map(|d| {
                    if d < 2 {
                        10.0 * ((b >> d) & 1) as f32
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    let n = blobs * per_blob + noise;
    let mut data = Array2::zeros((n, dim));
    let mut truth = Vec::with_capacity(n);
    for (b, c) in centres.iter().enumerate() {
        for i in 0..per_blob {
            let row = b * per_blob + i;
            for d in 0..dim {
                data[[row, d]] = c[d] + spread * gaussian(&mut rng);
            }
            truth.push(Some(b));
        }
    }
    let mut row = blobs * per_blob;
    while row < n {
        let p: Vec<f32> = (0..dim).map(|_| rng.random_range(-60.0..70.0)).collect();
        if centres.iter().all(|c| dist(c, &p) >= 20.0) {
            for d in 0..dim {
                data[[row, d]] = p[d];
            }
            truth.push(None);
            row += 1;
        }
    }
    (data, truth)
}

fn dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

fn params(min_cluster_size: usize) -> HdbscanParams {
    HdbscanParams {
        min_cluster_size,
        ..HdbscanParams::default()
    }
}

fn check_blobs(dim: usize) {
    let (data, truth) = blobs(dim, 4, 250, 1.0, 40, dim as u64);
    let c = hdbscan(data.view(), &params(25)).unwrap();
    assert_eq!(c.n_clusters, 4);
    let blob_rows: Vec<usize> = (0..truth.len()).filter(|&r| truth[r].is_some()).collect();
    let found: Vec<_> = blob_rows.iter().map(|&r| c.labels[r]).collect();
    let expected: Vec<_> = blob_rows.iter().map(|&r| truth[r]).collect();
    let ari = adjusted_rand_index(&expected, &found).unwrap();
    assert!(ari > 0.98, "ARI {ari}");
    let planted: Vec<usize> = (0..truth.len()).filter(|&r| truth[r].is_none()).collect();
    let noise_hits = planted.iter().filter(|&&r| c.labels[r].is_none()).count();
    assert_eq!(
        noise_hits,
        planted.len(),
        "planted noise points labelled as clusters"
    );
    // Planted outliers score higher than typical blob points.
    let mut blob_scores: Vec<f64> = blob_rows.iter().map(|&r| c.outlier_scores[r]).collect();
    blob_scores.sort_by(f64::total_cmp);
    let blob_median = blob_scores[blob_scores.len() / 2];
    let outlier_min = planted
        .iter()
        .map(|&r| c.outlier_scores[r])
        .fold(f64::INFINITY, f64::min);
    assert!(
        outlier_min > blob_median,
        "min outlier score {outlier_min} <= blob median {blob_median}"
    );
    for (&p, &s) in c.probabilities.iter().zip(&c.outlier_scores) {
        assert!(
            (0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&s),
            "{p} {s}"
        );
    }
    for (l, &p) in c.labels.iter().zip(&c.probabilities) {
        if l.is_none() {
            assert_eq!(p, 0.0);
        }
    }
    assert_eq!(c.persistence.len(), 4);
    let sizes = c.cluster_sizes();
    assert_eq!(
        sizes.iter().sum::<usize>(),
        c.labels.iter().flatten().count()
    );
    assert!(sizes.iter().all(|&s| s >= 25), "{sizes:?}");
}

#[test]
fn separated_blobs_in_2d_are_found_and_planted_noise_is_noise() {
    check_blobs(2);
}

#[test]
fn separated_blobs_in_5d_are_found_and_planted_noise_is_noise() {
    check_blobs(5);
}

/// Group A: two sub-blobs 3 apart (sd 0.5); group B: one blob 40 away. Each blob 200 points.
fn nested() -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(11);
    let centres = [[0.0f32, 0.0], [3.0, 0.0], [40.0, 0.0]];
    Array2::from_shape_fn((600, 2), |(r, d)| {
        centres[r / 200][d] + 0.5 * gaussian(&mut rng)
    })
}

#[test]
fn leaf_finds_the_sub_clusters_that_eom_keeps_together() {
    let data = nested();
    let leaf = hdbscan(
        data.view(),
        &HdbscanParams {
            min_cluster_size: 40,
            cluster_selection: ClusterSelection::Leaf,
            ..HdbscanParams::default()
        },
    )
    .unwrap();
    let eom = hdbscan(data.view(), &params(40)).unwrap();
    let truth_fine: Vec<usize> = (0..600).map(|r| r / 200).collect();
    let truth_coarse: Vec<usize> = (0..600).map(|r| usize::from(r >= 400)).collect();
    assert_eq!(leaf.n_clusters, 3);
    assert_eq!(eom.n_clusters, 2);
    let clustered = |c: &Clustering, truth: &[usize]| {
        let rows: Vec<usize> = (0..600).filter(|&r| c.labels[r].is_some()).collect();
        let a: Vec<_> = rows.iter().map(|&r| truth[r]).collect();
        let b: Vec<_> = rows.iter().map(|&r| c.labels[r]).collect();
        adjusted_rand_index(&a, &b).unwrap()
    };
    assert!(clustered(&leaf, &truth_fine) > 0.95);
    assert!(clustered(&eom, &truth_coarse) > 0.95);
}

#[test]
fn epsilon_merges_clusters_born_closer_than_it() {
    let data = nested();
    let leaf = |eps: f64| {
        let p = HdbscanParams {
            min_cluster_size: 40,
            cluster_selection: ClusterSelection::Leaf,
            cluster_selection_epsilon: eps,
            ..HdbscanParams::default()
        };
        hdbscan(data.view(), &p).unwrap()
    };
    assert_eq!(leaf(0.0).n_clusters, 3);
    // The sub-blobs of A part at a distance of about 1; A and B at about 37.
    let merged = leaf(5.0);
    assert_eq!(merged.n_clusters, 2);
    assert_eq!(merged.labels[0], merged.labels[200]);
}

#[test]
fn same_input_gives_the_same_clustering_for_any_thread_count() {
    let (data, _) = blobs(3, 4, 300, 3.0, 100, 5);
    let one = hdbscan(
        data.view(),
        &HdbscanParams {
            min_cluster_size: 20,
            threads: 1,
            ..HdbscanParams::default()
        },
    )
    .unwrap();
    let two = hdbscan(
        data.view(),
        &HdbscanParams {
            min_cluster_size: 20,
            threads: 2,
            ..HdbscanParams::default()
        },
    )
    .unwrap();
    let again = hdbscan(
        data.view(),
        &HdbscanParams {
            min_cluster_size: 20,
            threads: 2,
            ..HdbscanParams::default()
        },
    )
    .unwrap();
    assert_eq!(one, two);
    assert_eq!(two, again);
}

#[test]
fn ties_are_broken_by_row_whatever_the_tree() {
    // Points on a coarse grid: many equal distances and mutual reachability ties.
    let mut rng = StdRng::seed_from_u64(21);
    let data = Array2::from_shape_fn((3000, 2), |(r, _)| {
        (if r % 3 == 0 { 0.0 } else { 30.0 }) + f32::from(rng.random_range(0u8..12))
    });
    let run = |leaf_size: usize, threads: usize| {
        let p = HdbscanParams {
            min_cluster_size: 15,
            leaf_size,
            threads,
            ..HdbscanParams::default()
        };
        hdbscan(data.view(), &p).unwrap()
    };
    let reference = run(64, 1);
    assert!(reference.n_clusters >= 2);
    assert!(reference
        .outlier_scores
        .iter()
        .chain(&reference.probabilities)
        .all(|v| (0.0..=1.0).contains(v)));
    for (leaf_size, threads) in [(1, 1), (5, 2), (300, 2)] {
        assert_eq!(
            run(leaf_size, threads),
            reference,
            "leaf_size {leaf_size}, threads {threads}"
        );
    }
}

#[test]
fn condensed_tree_holds_every_point_once() {
    let (data, _) = blobs(2, 3, 100, 1.0, 20, 9);
    let c = hdbscan(data.view(), &params(10)).unwrap();
    let mut seen = vec![0; data.nrows()];
    for r in c
        .condensed_tree
        .rows
        .iter()
        .filter(|r| r.child < data.nrows())
    {
        seen[r.child] += 1;
        assert!(r.parent >= data.nrows());
    }
    assert!(seen.iter().all(|&s| s == 1));
    for r in &c.condensed_tree.rows {
        assert!(
            r.child > r.parent || r.child < data.nrows(),
            "child cluster numbered before its parent"
        );
    }
}

#[test]
fn single_cluster_needs_allow_single_cluster() {
    let (data, _) = blobs(2, 1, 300, 1.0, 0, 4);
    let without = hdbscan(data.view(), &params(20)).unwrap();
    let with = hdbscan(
        data.view(),
        &HdbscanParams {
            allow_single_cluster: true,
            ..params(20)
        },
    )
    .unwrap();
    // As in the Python package, the root as the one cluster keeps only the points that stay
    // in it up to its densest end; the rest is noise.
    assert_eq!(with.n_clusters, 1);
    assert!(with.noise_fraction() < 1.0);
    assert_ne!(without.n_clusters, 1);
}

#[test]
fn empty_input_is_an_error() {
    let data = Array2::<f32>::zeros((0, 3));
    assert!(matches!(
        hdbscan(data.view(), &params(5)),
        Err(Error::Input(_))
    ));
    let no_columns = Array2::<f32>::zeros((4, 0));
    assert!(matches!(
        hdbscan(no_columns.view(), &params(5)),
        Err(Error::Input(_))
    ));
}

#[test]
fn one_point_and_too_few_points_are_all_noise() {
    for n in [1, 2, 7] {
        let data = Array2::from_shape_fn((n, 2), |(r, d)| (r * 2 + d) as f32);
        for allow_single_cluster in [false, true] {
            let c = hdbscan(
                data.view(),
                &HdbscanParams {
                    allow_single_cluster,
                    ..params(8)
                },
            )
            .unwrap();
            assert_eq!(c.n_clusters, 0);
            assert!(c.labels.iter().all(Option::is_none));
            assert_eq!(c.labels.len(), n);
        }
    }
}

#[test]
fn identical_points_are_never_split() {
    let data = Array2::<f32>::from_elem((200, 3), 1.5);
    let c = hdbscan(data.view(), &params(10)).unwrap();
    assert_eq!(c.n_clusters, 0);
    let single = hdbscan(
        data.view(),
        &HdbscanParams {
            allow_single_cluster: true,
            ..params(10)
        },
    )
    .unwrap();
    assert_eq!(single.n_clusters, 1);
    assert!(single.labels.iter().all(|&l| l == Some(0)));
    // Two groups of duplicates far apart are two clusters.
    let two = Array2::from_shape_fn((200, 2), |(r, _)| if r < 100 { 0.0f32 } else { 10.0 });
    let c = hdbscan(two.view(), &params(10)).unwrap();
    assert_eq!(c.n_clusters, 2);
    assert_ne!(c.labels[0], c.labels[150]);
    assert!(c.labels[..100].iter().all(|&l| l == c.labels[0]));
}

#[test]
fn nan_row_is_an_error_naming_it() {
    let mut data = Array2::<f32>::zeros((10, 2));
    data[[6, 0]] = f32::NAN;
    let err = hdbscan(data.view(), &params(3)).unwrap_err();
    assert!(matches!(err, Error::Input(_)));
    assert!(err.to_string().contains("row 6"), "{err}");
}

#[test]
fn parameters_out_of_range_are_rejected() {
    let data = Array2::<f32>::zeros((10, 2));
    let bad = [
        HdbscanParams {
            min_cluster_size: 1,
            ..HdbscanParams::default()
        },
        HdbscanParams {
            min_samples: Some(0),
            ..HdbscanParams::default()
        },
        HdbscanParams {
            cluster_selection_epsilon: -1.0,
            ..HdbscanParams::default()
        },
        HdbscanParams {
            cluster_selection_epsilon: f64::NAN,
            ..HdbscanParams::default()
        },
        HdbscanParams {
            leaf_size: 0,
            ..HdbscanParams::default()
        },
    ];
    for p in bad {
        assert!(
            matches!(p.check(), Err(Error::InvalidParam { .. })),
            "{p:?}"
        );
        assert!(matches!(
            hdbscan(data.view(), &p),
            Err(Error::InvalidParam { .. })
        ));
    }
    assert!(HdbscanParams::default().check().is_ok());
    assert_eq!(HdbscanParams::default().effective_min_samples(), 50);
}

#[test]
fn core_distances_and_mst_are_consistent() {
    let (data, _) = blobs(2, 2, 50, 1.0, 5, 2);
    let tree = KdTree::new(data.view(), 4).unwrap();
    let core = core_distances(&tree, 5, 1);
    let mst = mutual_reachability_mst(&tree, &core, 1).unwrap();
    assert!(mutual_reachability_mst(&tree, &core[1..], 1).is_err());
    assert_eq!(mst.len(), data.nrows() - 1);
    for e in &mst {
        let d = dist(&data.row(e.a).to_vec(), &data.row(e.b).to_vec()) as f64;
        let expected = core[e.a].max(core[e.b]).max(d);
        assert!((e.distance - expected).abs() < 1e-5, "{e:?} vs {expected}");
    }
    let weight: f64 = mst.iter().map(|e| e.distance).sum();
    let reference = mst::tests::naive_prim_weight(data.view(), 5);
    assert!((weight - reference).abs() < 1e-9 * reference);
}

#[test]
fn hand_computed_two_groups_on_a_line() {
    // Points 0, 1, 2 and 10, 11, 12 with min_samples 1: every core distance is 1, the groups
    // join at distance 8. With min_cluster_size 2 the root splits at lambda 1/8 into two
    // clusters of 3, whose points all leave at lambda 1. Stability of each: 3 x (1 - 1/8) =
    // 2.625; persistence = 2.625 / (3 points x max lambda 1) = 0.875.
    let data = Array2::from_shape_vec((6, 1), vec![0.0f32, 1.0, 2.0, 10.0, 11.0, 12.0]).unwrap();
    let p = HdbscanParams {
        min_cluster_size: 2,
        min_samples: Some(1),
        ..HdbscanParams::default()
    };
    let c = hdbscan(data.view(), &p).unwrap();
    assert_eq!(c.labels[..3], [Some(0); 3]);
    assert_eq!(c.labels[3..], [Some(1); 3]);
    assert_eq!(c.probabilities, vec![1.0; 6]);
    assert_eq!(c.outlier_scores, vec![0.0; 6]);
    for s in &c.persistence {
        assert!((s - 0.875).abs() < 1e-12, "{s}");
    }
    let tree = &c.condensed_tree;
    let splits: Vec<_> = tree.rows.iter().filter(|r| r.child >= 6).collect();
    assert_eq!(splits.len(), 2);
    assert!(splits
        .iter()
        .all(|r| r.parent == 6 && r.child_size == 3 && r.lambda == 1.0 / 8.0));
    assert!(tree
        .rows
        .iter()
        .filter(|r| r.child < 6)
        .all(|r| r.lambda == 1.0 && r.parent > 6));
}
