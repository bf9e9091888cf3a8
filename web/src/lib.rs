//! The browser demo: fetches the generators the trainer exported, builds
//! them with the `shared` crate, generates on WebGPU (the CPU backend where
//! the browser has none) and draws the digits onto a canvas; it also trains
//! a GAN in the page, walks the latent space and takes the user's own weights.
//!
//! [`app`] and [`training`] hold everything that needs no DOM and is tested on the host;
//! `page` (wasm only) wires it to the document.

pub mod app;
pub use page_training as training;

#[cfg(target_arch = "wasm32")]
mod page;
