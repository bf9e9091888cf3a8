//! Seeded `N(0, 1)` latent noise drawn on the host, so that a seed gives the
//! same vectors natively and in the browser, whatever the device.

use burn::prelude::*;
use rand::SeedableRng;
pub use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};

/// Independent random streams drawn from one seed.
pub mod stream {
    /// Latent vectors of sample grids (`trainer sample --seed`, the web page).
    pub const SAMPLES: u64 = 0;
    /// Initial weights.
    pub const INIT: u64 = 1;
    /// Latent vectors of training steps.
    pub const TRAIN_NOISE: u64 = 2;
    /// Latent vectors of the samples metrics are measured on.
    pub const EVALUATION: u64 = 3;
    /// Latent vectors that re-estimate BatchNorm statistics ([`crate::recalibrate`]).
    pub const RECALIBRATION: u64 = 4;
    /// The order of training examples in epoch `e` is stream `EPOCH_ORDER + e`.
    pub const EPOCH_ORDER: u64 = 1 << 32;
}

/// The generator of `stream` for `seed`.
pub fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// `count` latent vectors of `dim` values from `seed`, row after row: the
/// first `k` rows are the same whatever `count` is.
pub fn noise(seed: u64, count: usize, dim: usize) -> Vec<f32> {
    draw(&mut rng(seed, stream::SAMPLES), count * dim)
}

/// `n` standard normal values from `rng`.
pub fn draw(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    StandardNormal.sample_iter(rng).take(n).collect()
}

/// The order in which epoch `epoch` visits `n` examples: a permutation that
/// depends on `(seed, epoch)` alone, so a run resumed mid-epoch sees the same
/// batches as one that was never interrupted.
pub fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut rng(seed, stream::EPOCH_ORDER + epoch as u64));
    order
}

/// Latent vectors as a `[count, dim]` tensor on `device`.
pub fn to_tensor(values: Vec<f32>, dim: usize, device: &Device) -> Tensor<2> {
    let count = values.len() / dim;
    Tensor::from_data(TensorData::new(values, [count, dim]), device)
}

/// Spherical interpolation from `a` (t = 0) to `b` (t = 1) along the great
/// circle between their directions, the norm moving linearly: Gaussian latents
/// keep a typical norm all the way, where a straight line would pass through
/// unlikely short vectors in the middle. (Anti)parallel vectors, whose circle
/// is undefined, fall back to the straight line.
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "slerp between latents of different sizes");
    let norm = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    let t = t as f64;
    let lerp = || a.iter().zip(b).map(|(&x, &y)| ((1.0 - t) * x as f64 + t * y as f64) as f32).collect();
    if na == 0.0 || nb == 0.0 {
        return lerp();
    }
    let cos = (a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum::<f64>() / (na * nb)).clamp(-1.0, 1.0);
    let omega = cos.acos();
    if omega.sin() < 1e-6 {
        return lerp();
    }
    let norm_t = (1.0 - t) * na + t * nb;
    let wa = ((1.0 - t) * omega).sin() / omega.sin() * norm_t / na;
    let wb = (t * omega).sin() / omega.sin() * norm_t / nb;
    a.iter().zip(b).map(|(&x, &y)| (wa * x as f64 + wb * y as f64) as f32).collect()
}

/// `frames` latents evenly spaced by [`slerp`] from `a` to `b`, both included,
/// row after row (ready for [`to_tensor`]).
pub fn walk(a: &[f32], b: &[f32], frames: usize) -> Vec<f32> {
    let last = frames.saturating_sub(1).max(1) as f32;
    (0..frames).flat_map(|i| slerp(a, b, i as f32 / last)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(v: &[f32]) -> f32 {
        v.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    #[test]
    fn slerp_follows_the_great_circle() {
        let (a, b) = ([1.0, 0.0], [0.0, 1.0]);
        assert_eq!(slerp(&a, &b, 0.0), a);
        let end = slerp(&a, &b, 1.0);
        assert!((end[0] - b[0]).abs() < 1e-6 && (end[1] - b[1]).abs() < 1e-6, "{end:?}");
        // Halfway between orthogonal unit vectors: the diagonal, still of norm 1
        // (a straight line would give norm 0.707).
        let mid = slerp(&a, &b, 0.5);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((mid[0] - h).abs() < 1e-6 && (mid[1] - h).abs() < 1e-6, "{mid:?}");
        // A third of the way: 30 degrees.
        let third = slerp(&a, &b, 1.0 / 3.0);
        assert!((third[1].atan2(third[0]).to_degrees() - 30.0).abs() < 1e-3, "{third:?}");
        // Norms move linearly between unequal norms.
        assert!((norm(&slerp(&[2.0, 0.0], &[0.0, 4.0], 0.5)) - 3.0).abs() < 1e-5);
        // Parallel vectors: the straight line, no NaN.
        assert_eq!(slerp(&[1.0, 1.0], &[2.0, 2.0], 0.5), vec![1.5, 1.5]);
        assert_eq!(slerp(&[0.0, 0.0], &[2.0, 2.0], 0.5), vec![1.0, 1.0]);
    }

    #[test]
    fn a_walk_starts_and_ends_at_its_latents() {
        let z = noise(3, 2, 100);
        let (a, b) = z.split_at(100);
        let frames = walk(a, b, 9);
        assert_eq!(frames.len(), 9 * 100);
        assert_eq!(&frames[..100], a);
        let last = &frames[800..];
        assert!(last.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5));
        // Every frame's norm lies between the ends' (a straight line between
        // two nearly orthogonal Gaussian latents would dip to ~0.7 of them).
        let (lo, hi) = (norm(a).min(norm(b)), norm(a).max(norm(b)));
        for f in frames.chunks(100) {
            assert!(norm(f) > lo - 1e-3 && norm(f) < hi + 1e-3, "{} outside [{lo}, {hi}]", norm(f));
        }
    }

    #[test]
    fn noise_is_seeded_and_prefix_stable() {
        let a = noise(7, 4, 100);
        assert_eq!(a, noise(7, 4, 100));
        assert_ne!(a, noise(8, 4, 100));
        assert_eq!(&noise(7, 2, 100)[..], &a[..200]);
    }

    #[test]
    fn epoch_order_is_a_seeded_permutation() {
        let a = epoch_order(3, 0, 1000);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
        assert_eq!(a, epoch_order(3, 0, 1000));
        assert_ne!(a, epoch_order(3, 1, 1000));
        assert_ne!(a, epoch_order(4, 0, 1000));
    }

    #[test]
    fn noise_is_standard_normal() {
        let v = noise(1, 1000, 100);
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }
}
