//! The page's grid of digits for a seed, drawn alike by the page on WebGPU
//! and by its CPU worker: the same latents, layout and pixels as `trainer
//! sample --seed <seed> --count 64`.

use burn::prelude::*;

use crate::image::{Gray, grid, to_pixels};
use crate::{Generator, ModelConfig, latent};

/// Digits in the grid, and per row.
pub const GRID_DIGITS: usize = 64;
pub const GRID_COLUMNS: usize = 8;

/// The 8-bit pixels of the images generated from `latents` (rows of `dim`).
/// Asynchronous, because WebGPU can only be read back so.
pub async fn generate_pixels(
    generator: &Generator,
    latents: Vec<f32>,
    dim: usize,
    device: &Device,
) -> Result<Vec<u8>, String> {
    let z = latent::to_tensor(latents, dim, device);
    let data = generator.generate(z).into_data_async().await.map_err(|e| format!("reading digits back: {e:?}"))?;
    let values = data.try_into_vec_as::<f32>().map_err(|e| format!("reading digits back: {e:?}"))?;
    Ok(to_pixels(&values))
}

/// The grid of digits for `seed`.
pub async fn draw_digits(
    generator: &Generator,
    config: &ModelConfig,
    seed: u64,
    device: &Device,
) -> Result<Gray, String> {
    let (dim, side) = (config.latent_dim(), config.image_size());
    let pixels = generate_pixels(generator, latent::noise(seed, GRID_DIGITS, dim), dim, device).await?;
    Ok(grid(&pixels, side, GRID_COLUMNS))
}
