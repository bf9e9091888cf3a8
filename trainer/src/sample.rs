//! `sample`: a PNG grid of digits drawn from a generator weights file.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::prelude::*;
use clap::Args;
use shared::image::{Gray, grid, grid_size, square_columns, to_pixels};
use shared::weights;
use shared::{Generator, ModelConfig, latent};

use crate::backend::{self, Backend};
use crate::{ModelArg, files, whole};

#[derive(Args, Clone, Debug)]
pub struct SampleArgs {
    /// Generator weights (.safetensors) written by `train`, or saved from the
    /// post's PyTorch model (then name its architecture with --model).
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,
    /// Seed of the latent vectors: the same seed draws the same digits here and in the web demo.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of digits (1 to 10,000).
    #[arg(long, default_value_t = 64, value_parser = whole::<1, 10_000>)]
    pub count: usize,
    /// Digits per row [default: a square grid]
    #[arg(long, value_parser = whole::<1, 10_000>)]
    pub columns: Option<usize>,
    /// Output PNG.
    #[arg(long, default_value = "samples.png")]
    pub out: PathBuf,
    /// Upscaling factor of the PNG (nearest neighbour, 1 to 32).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub scale: u32,
    /// Architecture of a file without our header metadata (a PyTorch save).
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Device to generate on.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    pub backend: Backend,
    /// Also write the raw 8-bit pixels of the digits, one after the other, here.
    #[arg(long, value_name = "FILE", hide = true)]
    pub raw: Option<PathBuf>,
}

/// The 8-bit pixels of one image per latent vector in `noise` (`dim` values each).
/// Generated in batches of at most this many images, to bound the memory the
/// activations take (each image is independent: BatchNorm uses its running
/// statistics here).
const GENERATE_BATCH: usize = 500;

/// The longest side of a PNG `sample` writes, in pixels.
const MAX_PNG_SIDE: usize = 16_384;

pub fn generate_pixels(generator: &Generator, noise: &[f32], dim: usize, device: &Device) -> anyhow::Result<Vec<u8>> {
    let mut pixels = Vec::new();
    for chunk in noise.chunks(GENERATE_BATCH * dim) {
        let z = latent::to_tensor(chunk.to_vec(), dim, device);
        let values = generator
            .generate(z)
            .into_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| anyhow::anyhow!("reading generated images back: {e:?}"))?;
        pixels.extend(to_pixels(&values));
    }
    Ok(pixels)
}

/// A square grid of the images `noise` gives.
pub fn generate_grid(
    generator: &Generator,
    noise: &[f32],
    dim: usize,
    side: usize,
    device: &Device,
) -> anyhow::Result<Gray> {
    let pixels = generate_pixels(generator, noise, dim, device)?;
    Ok(grid(&pixels, side, square_columns(noise.len() / dim)))
}

/// Writes a grayscale picture as PNG, upscaled `scale` times.
pub fn write_png(path: &Path, picture: &Gray, scale: u32) -> anyhow::Result<()> {
    let image = image::GrayImage::from_raw(picture.width as u32, picture.height as u32, picture.pixels.clone())
        .context("picture size does not match its pixels")?;
    let image = image::imageops::resize(
        &image,
        image.width() * scale,
        image.height() * scale,
        image::imageops::FilterType::Nearest,
    );
    let mut png = Vec::new();
    image.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)?;
    files::write_atomic(path, &png)
}

pub fn sample(args: SampleArgs) -> anyhow::Result<()> {
    let device = backend::select(args.backend)?.device;
    let bytes = files::read(&args.weights)?;
    let what = || format!("loading generator weights from {}", args.weights.display());
    let (generator, config) = match (weights::read_info(&bytes), args.model) {
        // A PyTorch save has no header entry: trust --model for the architecture.
        (Err(weights::WeightsError::NoMetadata), Some(model)) => {
            let config = ModelConfig::post(model.into());
            (weights::load_generator_as(&bytes, &config, &device).with_context(what)?, config)
        }
        (_, model) => {
            let (generator, info) =
                weights::load_generator(&bytes, model.map(Into::into), &device).with_context(what)?;
            (generator, info.model)
        }
    };
    let side = config.image_size();
    let columns = args.columns.unwrap_or_else(|| square_columns(args.count));
    let (width, height) = grid_size(args.count, side, columns);
    let (width, height) = (width * args.scale as usize, height * args.scale as usize);
    if width.max(height) > MAX_PNG_SIDE {
        bail!(
            "the picture would be {width} x {height} pixels, over {MAX_PNG_SIDE} on a side: \
             lower --count, --columns or --scale"
        );
    }
    let dim = config.latent_dim();
    let noise = latent::noise(args.seed, args.count, dim);
    let pixels = generate_pixels(&generator, &noise, dim, &device)?;
    if let Some(raw) = &args.raw {
        files::write_atomic(raw, &pixels)?;
    }
    write_png(&args.out, &grid(&pixels, side, columns), args.scale)?;
    println!("wrote {} {} digits (seed {}) to {}", args.count, config.kind(), args.seed, args.out.display());
    Ok(())
}
