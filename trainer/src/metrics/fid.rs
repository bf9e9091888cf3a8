//! Fréchet distance between Gaussians fitted to feature vectors (FID when the
//! features are a classifier's), and the classifier-based Inception Score.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Mean and covariance of a set of feature vectors.
#[derive(Clone, Debug)]
pub struct Gaussian {
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
}

impl Gaussian {
    /// Fits `features` (`dim` values per vector, vector after vector), with
    /// the unbiased covariance as `numpy.cov` (and so pytorch-fid) computes it.
    pub fn fit(features: &[f32], dim: usize) -> Self {
        let n = features.len() / dim;
        assert!(n >= 2, "a covariance needs at least two vectors, got {n}");
        let x = DMatrix::from_row_iterator(n, dim, features.iter().map(|&v| v as f64));
        let mean = x.row_mean().transpose();
        let centred = DMatrix::from_fn(n, dim, |i, j| x[(i, j)] - mean[j]);
        let cov = centred.transpose() * &centred / (n - 1) as f64;
        Self { mean, cov }
    }
}

/// The square root of a symmetric positive semi-definite matrix (round-off
/// negatives among the eigenvalues are taken as 0).
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let eigen = SymmetricEigen::new(m.clone());
    let roots = eigen.eigenvalues.map(|l| l.max(0.0).sqrt());
    &eigen.eigenvectors * DMatrix::from_diagonal(&roots) * eigen.eigenvectors.transpose()
}

/// `|m1 - m2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`.
///
/// `tr (S1 S2)^(1/2)` is computed as `tr (S1^(1/2) S2 S1^(1/2))^(1/2)`: the
/// same eigenvalues, but of a symmetric matrix, so a symmetric eigensolver
/// gives them stably (no complex parts to discard, unlike scipy's `sqrtm`).
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> f64 {
    let root_a = psd_sqrt(&a.cov);
    let middle = &root_a * &b.cov * &root_a;
    let middle = (&middle + middle.transpose()) / 2.0;
    let trace_root: f64 = SymmetricEigen::new(middle).eigenvalues.iter().map(|l| l.max(0.0).sqrt()).sum();
    let fid = (&a.mean - &b.mean).norm_squared() + a.cov.trace() + b.cov.trace() - 2.0 * trace_root;
    // Round-off can leave a tiny negative for identical sets.
    fid.max(0.0)
}

/// `exp(E_x KL(p(y|x) || p(y)))` over `probs` (`classes` probabilities per sample).
pub fn inception_score(probs: &[f32], classes: usize) -> f64 {
    let n = probs.len() / classes;
    let mut marginal = vec![0.0f64; classes];
    for row in probs.chunks_exact(classes) {
        marginal.iter_mut().zip(row).for_each(|(m, &p)| *m += p as f64 / n as f64);
    }
    let kl: f64 = probs
        .chunks_exact(classes)
        .map(|row| {
            row.iter()
                .zip(&marginal)
                .filter(|&(&p, _)| p > 0.0)
                .map(|(&p, &m)| p as f64 * ((p as f64).ln() - m.ln()))
                .sum::<f64>()
        })
        .sum();
    (kl / n as f64).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::latent;

    /// `n` draws of `mean + L e` with `e ~ N(0, I)`: covariance `L L^T`.
    fn draws(n: usize, mean: &[f64], l: &DMatrix<f64>, seed: u64) -> Vec<f32> {
        let dim = mean.len();
        let normal = latent::draw(&mut latent::rng(seed, 0), n * dim);
        normal
            .chunks_exact(dim)
            .flat_map(|e| {
                let x = l * DVector::from_iterator(dim, e.iter().map(|&v| v as f64)) + DVector::from_column_slice(mean);
                x.iter().map(|&v| v as f32).collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn matches_the_closed_form_for_commuting_covariances() {
        // S1 = R diag(a) R^T and S2 = R diag(b) R^T share eigenvectors, so
        // FID = |m1 - m2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
        let r = SymmetricEigen::new(DMatrix::from_row_slice(3, 3, &[2.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 1.0]))
            .eigenvectors;
        let (a, b) = ([4.0, 1.0, 0.25], [1.0, 9.0, 0.25]);
        let gaussian = |mean: [f64; 3], d: [f64; 3]| Gaussian {
            mean: DVector::from_column_slice(&mean),
            cov: &r * DMatrix::from_diagonal(&DVector::from_column_slice(&d)) * r.transpose(),
        };
        let g1 = gaussian([0.0, 1.0, 2.0], a);
        let g2 = gaussian([1.0, 1.0, 0.0], b);
        let expected = 1.0 + 4.0 + (2.0f64 - 1.0).powi(2) + (1.0f64 - 3.0).powi(2) + 0.0;
        assert!((frechet_distance(&g1, &g2) - expected).abs() < 1e-9, "{}", frechet_distance(&g1, &g2));
        assert!((frechet_distance(&g2, &g1) - expected).abs() < 1e-9);
    }

    #[test]
    fn sampled_gaussians_approach_the_closed_form() {
        // Non-commuting covariances: compare with the value computed from the
        // exact parameters; 200k draws put the fitted ones within ~1 %.
        let l1 = DMatrix::from_row_slice(3, 3, &[1.0, 0.0, 0.0, 0.5, 1.0, 0.0, -0.3, 0.2, 0.7]);
        let l2 = DMatrix::from_row_slice(3, 3, &[2.0, 0.0, 0.0, -0.4, 0.5, 0.0, 0.1, 0.3, 1.2]);
        let (m1, m2) = ([0.0, 0.0, 0.0], [0.5, -1.0, 0.2]);
        let exact = frechet_distance(
            &Gaussian { mean: DVector::from_column_slice(&m1), cov: &l1 * l1.transpose() },
            &Gaussian { mean: DVector::from_column_slice(&m2), cov: &l2 * l2.transpose() },
        );
        let fitted = frechet_distance(
            &Gaussian::fit(&draws(200_000, &m1, &l1, 1), 3),
            &Gaussian::fit(&draws(200_000, &m2, &l2, 2), 3),
        );
        assert!(exact > 1.0, "the test needs distinct distributions, got {exact}");
        assert!((fitted - exact).abs() < 0.02 * exact, "fitted {fitted} vs exact {exact}");
    }

    #[test]
    fn a_set_against_itself_is_zero() {
        let l = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.8, 0.6]);
        let g = Gaussian::fit(&draws(5_000, &[3.0, -2.0], &l, 3), 2);
        assert!(frechet_distance(&g, &g).abs() < 1e-9);
    }

    #[test]
    fn inception_score_spans_one_to_the_number_of_classes() {
        // Confident and evenly spread: 10. All the same class: 1.
        let confident: Vec<f32> =
            (0..100).flat_map(|i| (0..10).map(move |c| if c == i % 10 { 1.0 } else { 0.0 })).collect();
        assert!((inception_score(&confident, 10) - 10.0).abs() < 1e-9);
        let one_class: Vec<f32> = (0..100).flat_map(|_| (0..10).map(|c| if c == 3 { 1.0 } else { 0.0 })).collect();
        assert!((inception_score(&one_class, 10) - 1.0).abs() < 1e-9);
        let unsure = vec![0.1f32; 1000];
        assert!((inception_score(&unsure, 10) - 1.0).abs() < 1e-6);
    }
}
