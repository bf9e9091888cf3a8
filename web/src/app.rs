//! The demo's logic that needs no DOM, so `cargo test` covers it on the host:
//! the state of each model, seeds, weight checks, the latent walk and the
//! pixels drawn.

use std::rc::Rc;

use burn::prelude::*;
use shared::image::{GRID_GAP, Gray};
use shared::weights::{self, MAX_WEIGHTS_BYTES, Role, TrainingFacts, WeightsError, WeightsInfo};
use shared::{Generator, ModelConfig, ModelKind};

pub use shared::draw::{
    GRID_COLUMNS, GRID_DIGITS, WALK_FRAMES, WalkEnds, draw_digits, first_choice, generate_pixels, parse_seed,
    seed_from_unit, walk_frames, weights_url,
};

/// The models the page offers, in the order of its switch.
pub const MODELS: [ModelKind; 2] = ModelKind::ALL;

/// What the page says about a model.
pub fn label(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Gan => "GAN (MLP, 28x28)",
        ModelKind::Pggan => "PGGAN (conv, 32x32)",
    }
}

/// Where the generator a model draws with came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    Shipped,
    /// A file the user dropped or chose.
    File(String),
    /// Trained in the page's "Train here" panel.
    Trained {
        steps: usize,
    },
}

impl Origin {
    /// For `data-origin`.
    pub fn name(&self) -> &'static str {
        match self {
            Origin::Shipped => "shipped",
            Origin::File(_) => "file",
            Origin::Trained { .. } => "trained",
        }
    }

    /// Where the weights come from, with what their header says of their training.
    pub fn describe(&self, kind: ModelKind, facts: Option<&TrainingFacts>) -> String {
        match self {
            Origin::Shipped => match facts {
                Some(facts) => format!("the shipped weights ({}: {})", weights_url(kind), facts.summary()),
                None => format!("the shipped weights ({})", weights_url(kind)),
            },
            Origin::File(name) => format!("your file {name}"),
            Origin::Trained { steps } => format!("the generator trained on this page ({steps} steps)"),
        }
    }
}

/// A model's generator on the page: a checked weights file, which the
/// drawing workers build and draw with (the page builds it only to draw
/// itself, when no worker can), or a generator trained on this page.
#[derive(Clone)]
pub enum Weights {
    File(Rc<Vec<u8>>),
    Trained(Generator),
}

impl Weights {
    /// The generator, built on `device` from the file if need be.
    pub fn generator(&self, model: &ModelConfig, device: &Device) -> Result<Generator, String> {
        match self {
            Weights::File(bytes) => weights::load_generator_as(bytes, model, device).map_err(|e| e.to_string()),
            Weights::Trained(generator) => Ok(generator.clone()),
        }
    }
}

/// A model's slot on the page.
// Two slots live for the page's lifetime: boxing the large variant saves nothing.
#[allow(clippy::large_enum_variant)]
pub enum Slot {
    Loading,
    Ready { weights: Weights, info: WeightsInfo, origin: Origin },
    Failed(String),
}

impl Slot {
    /// Checks fetched bytes as a generator of `kind` (header, architecture,
    /// tensors) without building it. Errors name the file and what is wrong with it.
    pub fn from_weights(kind: ModelKind, bytes: Vec<u8>) -> Slot {
        match weights::check_generator(&bytes, Some(kind)) {
            Ok(info) => Slot::Ready { weights: Weights::File(Rc::new(bytes)), info, origin: Origin::Shipped },
            Err(e) => Slot::Failed(format!("{}: {e}", weights_url(kind))),
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

/// Refuses a file over the weights size limit before it is read.
pub fn check_size(name: &str, bytes: f64) -> Result<(), String> {
    if bytes > MAX_WEIGHTS_BYTES as f64 {
        return Err(format!("{name}: {bytes} bytes, over the {MAX_WEIGHTS_BYTES}-byte limit for weights"));
    }
    Ok(())
}

/// A generator file from the user, checked without building it: its
/// architecture from the header, or, for a file saved by PyTorch (no
/// metadata), whichever of the post's generators its tensor names and shapes
/// fit. Errors start with the file's name.
pub fn check_user_weights(name: &str, bytes: &[u8]) -> Result<WeightsInfo, String> {
    match weights::check_generator(bytes, None) {
        Ok(info) => Ok(info),
        Err(WeightsError::NoMetadata) => MODELS
            .iter()
            .map(|&kind| ModelConfig::post(kind))
            .find(|config| weights::check_generator_as(bytes, config).is_ok())
            .map(|config| WeightsInfo::new(Role::Generator, config, None))
            .ok_or_else(|| {
                format!(
                    "{name}: no `{}` entry in its header, and its tensors fit neither of the post's generators (GAN, PGGAN)",
                    weights::METADATA_KEY
                )
            }),
        Err(e) => Err(format!("{name}: {e}")),
    }
}

/// The digit under pixel `(x, y)` of the grid of `side`-pixel digits, if
/// any: the gaps between digits belong to none.
pub fn cell_at(x: f64, y: f64, side: usize) -> Option<usize> {
    let pitch = (side + GRID_GAP) as f64;
    let index = |v: f64| {
        let v = v - GRID_GAP as f64;
        let i = (v / pitch).floor();
        (v >= 0.0 && i < GRID_COLUMNS as f64 && v - i * pitch < side as f64).then_some(i as usize)
    };
    Some(index(y)? * GRID_COLUMNS + index(x)?)
}

/// Gray pixels as the RGBA bytes a canvas `ImageData` takes.
pub fn rgba(picture: &Gray) -> Vec<u8> {
    picture.pixels.iter().flat_map(|&p| [p, p, p, 255]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::InitScheme;
    use shared::image::{grid, to_pixels};
    use shared::weights::Precision;

    fn device() -> Device {
        Device::flex()
    }

    fn weights(kind: ModelKind) -> Vec<u8> {
        let config = ModelConfig::post(kind);
        let (g, _) = config.init(InitScheme::Dcgan, 0, &device());
        weights::save_generator(&g, &config, None, Precision::F16).unwrap()
    }

    /// The generator a slot checked, built as the page builds it to draw itself.
    fn built(slot: Slot) -> (Generator, WeightsInfo) {
        let Slot::Ready { weights, info, .. } = slot else { panic!("the weights are refused") };
        (weights.generator(&info.model, &device()).unwrap(), info)
    }

    #[test]
    fn weights_are_checked_and_errors_name_the_file() {
        assert!(Slot::from_weights(ModelKind::Gan, weights(ModelKind::Gan)).is_ready());
        let Slot::Failed(msg) = Slot::from_weights(ModelKind::Pggan, weights(ModelKind::Gan)) else {
            panic!("a GAN file must not load as the PGGAN");
        };
        assert_eq!(msg, "weights/pggan.safetensors: this file holds a gan generator, expected a pggan generator");
        let Slot::Failed(msg) = Slot::from_weights(ModelKind::Gan, b"<html>404</html>".to_vec()) else {
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
            let (generator, info) = built(Slot::from_weights(kind, weights(kind)));
            let picture = pollster::block_on(draw_digits(&generator, &info.model, 7, &device)).unwrap();
            let side = ModelConfig::post(kind).image_size();
            assert_eq!(picture.width, 8 * side + 9 * shared::image::GRID_GAP);
            assert_eq!(picture.height, picture.width);
            // The same pixels as drawing the latents of seed 7 directly.
            let z = shared::latent::to_tensor(shared::latent::noise(7, 64, 100), 100, &device);
            let values = generator.generate(z).into_data().try_into_vec_as::<f32>().unwrap();
            assert_eq!(picture, grid(&to_pixels(&values), side, 8));
            let again = pollster::block_on(draw_digits(&generator, &info.model, 8, &device)).unwrap();
            assert_ne!(picture, again, "another seed draws other digits");
            let rgba = rgba(&picture);
            assert_eq!(rgba.len(), picture.pixels.len() * 4);
            assert_eq!(&rgba[..4], &[picture.pixels[0], picture.pixels[0], picture.pixels[0], 255]);
        }
    }

    #[test]
    fn clicks_find_the_digit_under_them() {
        // 28-px digits with 2-px gaps: digit 0 spans 2..30, digit 1 32..60.
        assert_eq!(cell_at(2.0, 2.0, 28), Some(0));
        assert_eq!(cell_at(29.9, 29.9, 28), Some(0));
        assert_eq!(cell_at(30.5, 10.0, 28), None, "a gap");
        assert_eq!(cell_at(1.0, 10.0, 28), None, "the border");
        assert_eq!(cell_at(33.0, 10.0, 28), Some(1));
        assert_eq!(cell_at(33.0, 33.0, 28), Some(9));
        assert_eq!(cell_at(239.0, 239.0, 28), Some(63));
        assert_eq!(cell_at(241.0, 10.0, 28), None);
        assert_eq!(cell_at(2.0 + 7.0 * 34.0, 2.0, 32), Some(7));
    }

    #[test]
    fn a_walk_goes_on_from_the_digit_it_reached() {
        let ends = WalkEnds::default();
        assert_eq!(ends, WalkEnds { from: 0, to: 1 });
        assert_eq!(ends.pick(5), WalkEnds { from: 1, to: 5 });
        assert_eq!(ends.pick(5).pick(5), WalkEnds { from: 1, to: 5 }, "picking the same end twice keeps the walk");
        assert_eq!(ends.pick(5).pick(0), WalkEnds { from: 5, to: 0 });
    }

    #[test]
    fn a_walks_frames_run_from_one_digit_of_the_grid_to_another() {
        let device = device();
        let kind = ModelKind::Gan;
        let (generator, info) = built(Slot::from_weights(kind, weights(kind)));
        let ends = WalkEnds { from: 3, to: 12 };
        let frames = pollster::block_on(walk_frames(&generator, &info.model, 7, ends, &device)).unwrap();
        assert_eq!(frames.len(), WALK_FRAMES);
        assert!(frames.iter().all(|f| f.width == 28 && f.height == 28 && f.pixels.len() == 784));
        let grid = pollster::block_on(draw_digits(&generator, &info.model, 7, &device)).unwrap();
        let cell = |i: usize| -> Vec<u8> {
            let (x0, y0) = (GRID_GAP + (i % 8) * 30, GRID_GAP + (i / 8) * 30);
            (0..28).flat_map(|y| grid.pixels[(y0 + y) * grid.width + x0..][..28].to_vec()).collect()
        };
        let near = |a: &[u8], b: &[u8]| a.iter().zip(b).all(|(x, y)| x.abs_diff(*y) <= 1);
        assert!(near(&frames[0].pixels, &cell(3)), "the walk starts at digit 3");
        assert!(near(&frames[WALK_FRAMES - 1].pixels, &cell(12)), "and ends at digit 12");
        assert!(!near(&frames[WALK_FRAMES / 2].pixels, &cell(3)) && !near(&frames[WALK_FRAMES / 2].pixels, &cell(12)));
    }

    #[test]
    fn user_files_are_checked_and_refusals_name_the_file() {
        let device = device();
        assert!(check_size("big.safetensors", 64.0 * 1024.0 * 1024.0).is_ok());
        assert_eq!(
            check_size("big.safetensors", 70e6).unwrap_err(),
            "big.safetensors: 70000000 bytes, over the 67108864-byte limit for weights"
        );
        for kind in MODELS {
            let info = check_user_weights("mine.safetensors", &weights(kind)).unwrap();
            assert_eq!(info.model.kind(), kind, "the architecture comes from the header");
            // The same tensors without our header, as PyTorch's `save_file` writes them.
            let bytes = weights(kind);
            let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let plain = safetensors::serialize(file.tensors(), None).unwrap();
            let info = check_user_weights("torch.safetensors", &plain).unwrap();
            assert_eq!(info.model, ModelConfig::post(kind), "recognised by its tensors");
            // And the page builds it, for drawing itself.
            Weights::File(Rc::new(plain)).generator(&info.model, &device).unwrap();
        }
        let config = ModelConfig::post(ModelKind::Gan);
        let (_, d) = config.init(InitScheme::Dcgan, 0, &device);
        let d_bytes = weights::save_discriminator(&d, &config, Precision::F16).unwrap();
        assert_eq!(
            check_user_weights("d.safetensors", &d_bytes).unwrap_err(),
            "d.safetensors: this file holds a gan discriminator, expected a gan generator"
        );
        let err = check_user_weights("notes.txt", b"just some text").unwrap_err();
        assert!(err.starts_with("notes.txt: not a safetensors file"), "{err}");
        let file = safetensors::SafeTensors::deserialize(&d_bytes).unwrap();
        let plain = safetensors::serialize(file.tensors(), None).unwrap();
        assert_eq!(
            check_user_weights("other.safetensors", &plain).unwrap_err(),
            "other.safetensors: no `mnist_gan` entry in its header, and its tensors fit neither of the post's generators (GAN, PGGAN)"
        );
    }
}
