//! The page's grid of digits for a seed, drawn alike by the page and its
//! workers (CPU or WebGPU): the same latents, layout and pixels as `trainer
//! sample --seed <seed> --count 64`; the latent walk between two of its
//! digits; and how they choose the first grid's model and seed, and find the
//! shipped weights.

use burn::prelude::*;

use crate::image::{Gray, grid, to_pixels};
use crate::{Generator, ModelConfig, ModelKind, latent};

/// Digits in the grid, and per row.
pub const GRID_DIGITS: usize = 64;
pub const GRID_COLUMNS: usize = 8;
/// Frames of a latent walk, both ends included.
pub const WALK_FRAMES: usize = 48;

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

/// The two digits of the grid a latent walk goes between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkEnds {
    pub from: usize,
    pub to: usize,
}

impl Default for WalkEnds {
    fn default() -> Self {
        Self { from: 0, to: 1 }
    }
}

impl WalkEnds {
    /// A click on `cell` walks on from the digit reached so far to it.
    pub fn pick(self, cell: usize) -> Self {
        if cell == self.to { self } else { Self { from: self.to, to: cell } }
    }
}

/// The frames of the walk between two digits of the grid of `seed`, by
/// spherical interpolation of their latents: frame 0 is the digit `from`,
/// the last the digit `to`.
pub async fn walk_frames(
    generator: &Generator,
    config: &ModelConfig,
    seed: u64,
    ends: WalkEnds,
    device: &Device,
) -> Result<Vec<Gray>, String> {
    let (dim, side) = (config.latent_dim(), config.image_size());
    let z = latent::noise(seed, GRID_DIGITS, dim);
    let row = |i: usize| &z[i * dim..(i + 1) * dim];
    let pixels =
        generate_pixels(generator, latent::walk(row(ends.from), row(ends.to), WALK_FRAMES), dim, device).await?;
    Ok(pixels.chunks(side * side).map(|p| Gray { width: side, height: side, pixels: p.to_vec() }).collect())
}

/// Where the page fetches a model's shipped generator, relative to the page.
pub fn weights_url(kind: ModelKind) -> String {
    format!("weights/{kind}.safetensors")
}

/// A seed typed by the user: a non-negative whole number.
pub fn parse_seed(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| format!("the seed must be a whole number from 0 to {}, got {:?}", u64::MAX, text.trim()))
}

/// A fresh seed from a uniform draw in `[0, 1)` (the browser's `Math.random()`),
/// kept below 2^32 so it stays easy to read and type.
pub fn seed_from_unit(u: f64) -> u64 {
    (u.clamp(0.0, 1.0) * 4_294_967_296.0) as u64 % 4_294_967_296
}

/// The first grid's model and seed: the address's `?model=` and `?seed=`
/// where they are valid, else the GAN and the seed `unit` gives. The worker
/// that draws the first digits and the page that takes over from it both
/// call this with the same `unit`, so they agree.
pub fn first_choice(model: Option<&str>, seed: Option<&str>, unit: f64) -> (ModelKind, u64) {
    let kind = model.and_then(ModelKind::named).unwrap_or(ModelKind::Gan);
    let seed = seed.and_then(|s| parse_seed(s).ok()).unwrap_or_else(|| seed_from_unit(unit));
    (kind, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_and_draw_like_the_page_says() {
        assert_eq!(parse_seed(" 42 "), Ok(42));
        assert!(parse_seed("-1").unwrap_err().contains("whole number"));
        assert!(parse_seed("abc").is_err());
        assert_eq!(seed_from_unit(0.0), 0);
        assert_eq!(seed_from_unit(0.5), 1 << 31);
        assert!(seed_from_unit(0.999_999_999_9) < 1 << 32);
    }

    #[test]
    fn the_first_grid_follows_the_address_where_it_is_valid() {
        assert_eq!(first_choice(None, None, 0.5), (ModelKind::Gan, 1 << 31));
        assert_eq!(first_choice(Some("pggan"), Some("7"), 0.5), (ModelKind::Pggan, 7));
        assert_eq!(first_choice(Some("vae"), Some("x"), 0.0), (ModelKind::Gan, 0));
        assert_eq!(weights_url(ModelKind::Pggan), "weights/pggan.safetensors");
    }
}
