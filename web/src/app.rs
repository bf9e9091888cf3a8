//! The demo's logic that needs no DOM, so `cargo test` covers it on the host:
//! the state of each model, seeds, weight checks and the pixels drawn.

use burn::prelude::*;
use shared::image::{Gray, grid, to_pixels};
use shared::weights::{self, WeightsInfo};
use shared::{Generator, ModelConfig, ModelKind, latent};

/// Digits in the grid, and per row.
pub const GRID_DIGITS: usize = 64;
pub const GRID_COLUMNS: usize = 8;

/// The models the page offers, in the order of its switch.
pub const MODELS: [ModelKind; 2] = [ModelKind::Gan, ModelKind::Pggan];

/// Where the page fetches a model's generator, relative to the page.
pub fn weights_url(kind: ModelKind) -> String {
    format!("weights/{kind}.safetensors")
}

/// What the page says about a model.
pub fn label(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Gan => "GAN (MLP, 28x28)",
        ModelKind::Pggan => "PGGAN (conv, 32x32)",
    }
}

/// A model's slot on the page.
pub enum Slot {
    Loading,
    Ready { generator: Generator, info: WeightsInfo },
    Failed(String),
}

impl Slot {
    /// Checks fetched bytes and builds the generator the file describes.
    /// Errors name the file and what is wrong with it.
    pub fn from_weights(kind: ModelKind, bytes: &[u8], device: &Device) -> Slot {
        let url = weights_url(kind);
        match weights::load_generator(bytes, Some(kind), device) {
            Ok((generator, info)) => Slot::Ready { generator, info },
            Err(e) => Slot::Failed(format!("{url}: {e}")),
        }
    }

    /// A failed download, named.
    pub fn fetch_failed(kind: ModelKind, reason: &str) -> Slot {
        Slot::Failed(format!("{}: {reason}", weights_url(kind)))
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, Slot::Ready { .. })
    }
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

/// The grid of digits for `seed`: the same latents, layout and pixels as
/// `trainer sample --seed <seed> --count 64`.
pub async fn draw_digits(generator: &Generator, config: &ModelConfig, seed: u64, device: &Device) -> Result<Gray, String> {
    let (dim, side) = (config.latent_dim(), config.image_size());
    let z = latent::to_tensor(latent::noise(seed, GRID_DIGITS, dim), dim, device);
    let data = generator.generate(z).into_data_async().await.map_err(|e| format!("reading digits back: {e:?}"))?;
    let values = data.try_into_vec_as::<f32>().map_err(|e| format!("reading digits back: {e:?}"))?;
    Ok(grid(&to_pixels(&values), side, GRID_COLUMNS))
}

/// Gray pixels as the RGBA bytes a canvas `ImageData` takes.
pub fn rgba(picture: &Gray) -> Vec<u8> {
    picture.pixels.iter().flat_map(|&p| [p, p, p, 255]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::InitScheme;
    use shared::weights::Precision;

    fn device() -> Device {
        Device::flex()
    }

    fn weights(kind: ModelKind) -> Vec<u8> {
        let config = ModelConfig::post(kind);
        let (g, _) = config.init(InitScheme::Dcgan, 0, &device());
        weights::save_generator(&g, &config, None, Precision::F16).unwrap()
    }

    #[test]
    fn seeds_parse_and_draw() {
        assert_eq!(parse_seed(" 42 "), Ok(42));
        assert!(parse_seed("-1").unwrap_err().contains("whole number"));
        assert!(parse_seed("abc").is_err());
        assert_eq!(seed_from_unit(0.0), 0);
        assert_eq!(seed_from_unit(0.5), 1 << 31);
        assert!(seed_from_unit(0.999_999_999_9) < 1 << 32);
    }

    #[test]
    fn weights_are_checked_and_errors_name_the_file() {
        let device = device();
        assert!(Slot::from_weights(ModelKind::Gan, &weights(ModelKind::Gan), &device).is_ready());
        let Slot::Failed(msg) = Slot::from_weights(ModelKind::Pggan, &weights(ModelKind::Gan), &device) else {
            panic!("a GAN file must not load as the PGGAN");
        };
        assert_eq!(msg, "weights/pggan.safetensors: this file holds a gan generator, expected a pggan generator");
        let Slot::Failed(msg) = Slot::from_weights(ModelKind::Gan, b"<html>404</html>", &device) else {
            panic!("garbage must not load");
        };
        assert!(msg.starts_with("weights/gan.safetensors: not a safetensors file"), "{msg}");
        let Slot::Failed(msg) = Slot::fetch_failed(ModelKind::Gan, "HTTP 404 Not Found") else { unreachable!() };
        assert_eq!(msg, "weights/gan.safetensors: HTTP 404 Not Found");
    }

    #[test]
    fn digits_match_the_trainers_grid_for_a_seed() {
        let device = device();
        for kind in MODELS {
            let Slot::Ready { generator, info } = Slot::from_weights(kind, &weights(kind), &device) else {
                panic!("{kind} weights load");
            };
            let picture = pollster::block_on(draw_digits(&generator, &info.model, 7, &device)).unwrap();
            let side = ModelConfig::post(kind).image_size();
            assert_eq!(picture.width, 8 * side + 9 * shared::image::GRID_GAP);
            assert_eq!(picture.height, picture.width);
            // The same pixels as drawing the latents of seed 7 directly.
            let z = latent::to_tensor(latent::noise(7, 64, 100), 100, &device);
            let values = generator.generate(z).into_data().try_into_vec_as::<f32>().unwrap();
            assert_eq!(picture, grid(&to_pixels(&values), side, 8));
            let again = pollster::block_on(draw_digits(&generator, &info.model, 8, &device)).unwrap();
            assert_ne!(picture, again, "another seed draws other digits");
            let rgba = rgba(&picture);
            assert_eq!(rgba.len(), picture.pixels.len() * 4);
            assert_eq!(&rgba[..4], &[picture.pixels[0], picture.pixels[0], picture.pixels[0], 255]);
        }
    }
}
