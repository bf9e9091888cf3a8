//! Everything the trainer and the web demo both need, defined once and for any
//! burn device: the two generators of the post and their discriminators, the
//! GAN training step, MNIST decoding, the weights format, latent sampling and
//! image/grid rendering. No file or network I/O lives here, so the crate builds
//! for `wasm32-unknown-unknown` as it does natively. The `train` feature (on
//! by default) adds what training needs: autodiff, the optimiser, the step,
//! the moving average; without it the crate only draws (the page's first module).

pub mod activation;
#[cfg(feature = "train")]
pub mod adam;
pub mod aids;
pub mod conv;
mod cpu;
pub mod draw;
#[cfg(feature = "train")]
pub mod ema;
pub mod epochs;
pub mod growth;
pub mod image;
pub mod init;
pub mod latent;
pub mod linear;
pub mod mnist;
pub mod models;
pub mod norm;
#[cfg(feature = "train")]
pub mod recalibrate;
pub mod recipe;
#[cfg(feature = "train")]
pub mod train;
pub mod weights;

pub use burn;
pub use init::InitScheme;
pub use models::{Discriminator, GanConfig, Generator, ModelConfig, ModelKind, PgganConfig};
pub use recipe::{LossKind, Recipe};
#[cfg(feature = "train")]
pub use train::{GanTrainer, StepLosses};
