//! Seeded `N(0, 1)` latent noise drawn on the host, so that a seed gives the
//! same vectors natively and in the browser, whatever the device.

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand::rngs::ChaCha8Rng;
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

#[cfg(test)]
mod tests {
    use super::*;

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
