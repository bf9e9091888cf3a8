//! Progressive growing (Karras et al. 2018, arXiv 1710.10196) of the post's
//! conv stack: the schedule that says at which resolution a run trains, and
//! the resampling between resolutions.
//!
//! Training starts at 4x4 and doubles up to the full 32x32. Below the full
//! resolution the generator ends in a "toRGB" 1x1 convolution and the
//! discriminator starts with a "fromRGB" one (see
//! [`crate::models::PgGenerator`]). Each new block fades in over a number of
//! images, its output blended with the upsampled output of the resolution
//! before, the blend's weight `alpha` rising linearly from 0 to 1; then the
//! networks train at that resolution for a number of images (stabilisation).
//! The last resolution trains on until the run ends.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// When a run trains at which resolution.
/// Images per fade-in and per resolution when growing, unless told otherwise
/// (full size after 30,000 images): the best of the lengths measured (README,
/// "Phase lengths"). The trainer's default and the page's schedule.
pub const DEFAULT_PHASE_IMAGES: u64 = 5_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    /// The post's: full depth from the first step.
    #[default]
    Fixed,
    /// Start at 4x4; for each doubling, fade the new block in over
    /// `fade_images` images, then train `stable_images` at its resolution
    /// (4x4 itself trains `stable_images`).
    Progressive { fade_images: u64, stable_images: u64 },
}

impl Schedule {
    /// The stage after `images` training images, for networks whose full
    /// depth is `full_depth`.
    pub fn stage(&self, images: u64, full_depth: usize) -> Stage {
        let Schedule::Progressive { fade_images, stable_images } = *self else {
            return Stage::full(full_depth);
        };
        if images < stable_images {
            return Stage { depth: 0, alpha: 1.0 };
        }
        let mut left = images - stable_images;
        for depth in 1..=full_depth {
            if left < fade_images {
                return Stage { depth, alpha: (left as f64 / fade_images as f64) as f32 };
            }
            left -= fade_images;
            if depth == full_depth || left < stable_images {
                return Stage { depth, alpha: 1.0 };
            }
            left -= stable_images;
        }
        Stage::full(full_depth)
    }

    /// Training images until the networks have their full depth.
    pub fn images_to_grow(&self, full_depth: usize) -> u64 {
        match *self {
            Schedule::Fixed => 0,
            Schedule::Progressive { fade_images, stable_images } => {
                full_depth as u64 * fade_images.saturating_add(stable_images)
            }
        }
    }

    pub fn is_progressive(&self) -> bool {
        matches!(self, Schedule::Progressive { .. })
    }
}

/// Where growing stands: the networks run blocks up to `depth` (images of
/// `4 << depth` pixels), the newest one blended in with weight `alpha`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub depth: usize,
    /// From 0 to 1 while the block of `depth` fades in; 1 once it has.
    pub alpha: f32,
}

impl Stage {
    /// The fully grown networks: the post's.
    pub fn full(full_depth: usize) -> Self {
        Self { depth: full_depth, alpha: 1.0 }
    }

    /// Side of the images at this stage.
    pub fn side(&self) -> usize {
        4 << self.depth
    }

    pub fn is_fading(&self) -> bool {
        self.alpha < 1.0
    }

    /// The phase this stage is in, which ends when the block has faded in or
    /// the next one starts to.
    pub fn phase(&self) -> (usize, bool) {
        (self.depth, self.is_fading())
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = self.side();
        if self.is_fading() {
            // Floored: a fade at 99.6 % is not done.
            write!(f, "fading in {side}x{side} ({:.0} %)", (100.0 * self.alpha).floor())
        } else {
            write!(f, "{side}x{side}")
        }
    }
}

/// Each pixel repeated into a `factor` x `factor` square (nearest neighbour).
pub fn upsample(x: Tensor<4>, factor: usize) -> Tensor<4> {
    if factor == 1 {
        return x;
    }
    let [batch, channels, height, width] = x.dims();
    x.reshape([batch, channels, height, 1, width, 1]).repeat_dim(3, factor).repeat_dim(5, factor).reshape([
        batch,
        channels,
        height * factor,
        width * factor,
    ])
}

/// The mean of each `factor` x `factor` square (average pooling).
pub fn downsample(x: Tensor<4>, factor: usize) -> Tensor<4> {
    if factor == 1 {
        return x;
    }
    let [batch, channels, height, width] = x.dims();
    let (height, width) = (height / factor, width / factor);
    x.reshape([batch, channels, height, factor, width, factor])
        .mean_dim(5)
        .mean_dim(3)
        .reshape([batch, channels, height, width])
}

/// Real images as the discriminator is shown them at `stage`: pooled to its
/// side and, while a block fades in, blended with their coarser version as
/// the generator's output is, so that D cannot tell them apart by detail
/// that G is only starting to draw.
pub fn real_at(images: Tensor<4>, stage: Stage) -> Tensor<4> {
    let side = images.dims()[2];
    let x = downsample(images, side / stage.side());
    if !stage.is_fading() {
        return x;
    }
    let coarse = upsample(downsample(x.clone(), 2), 2);
    coarse.mul_scalar(1.0 - stage.alpha) + x.mul_scalar(stage.alpha)
}
