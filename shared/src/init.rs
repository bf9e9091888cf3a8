//! Weight initialisation drawn on the host from a seeded ChaCha stream, so a
//! seed gives the same starting weights on every device (CPU, GPU, browser).
//!
//! Layers are built here field by field, in burn's own layouts (`Linear`
//! weights are `[in, out]`), not through burn's configs: their `init` links
//! every one of burn's initialisers (orthogonal's QR decomposition among
//! them, ~0.2 MB of wasm) into the page's first module, which only draws.

use burn::module::{Param, RunningState};
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use burn::prelude::*;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

/// How a fresh model's weights are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    /// PyTorch's defaults, which the post relies on: weights and biases
    /// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, BatchNorm scale 1 and shift 0.
    Torch,
    /// The DCGAN paper's: weights `N(0, 0.02)`, biases 0, BatchNorm scale
    /// `N(1, 0.02)` and shift 0.
    Dcgan,
}

impl std::fmt::Display for InitScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Torch => "PyTorch's default",
            Self::Dcgan => "DCGAN",
        })
    }
}

/// Draws layer weights from one seeded stream, in construction order.
pub struct LayerInit<'a> {
    scheme: InitScheme,
    /// None: every drawn weight is zero ([`Self::blank`]).
    rng: Option<ChaCha8Rng>,
    device: &'a Device,
}

impl<'a> LayerInit<'a> {
    pub fn new(scheme: InitScheme, seed: u64, device: &'a Device) -> Self {
        Self { scheme, rng: Some(crate::latent::rng(seed, crate::latent::stream::INIT)), device }
    }

    /// Zero weights (BatchNorm as PyTorch starts it), for layers whose
    /// weights a file replaces at once: drawing millions of random numbers
    /// to throw them away slowed loading, the page's first digits included.
    pub fn blank(device: &'a Device) -> Self {
        Self { scheme: InitScheme::Torch, rng: None, device }
    }

    fn param<const D: usize>(&mut self, shape: [usize; D], values: impl Distribution<f32>) -> Param<Tensor<D>> {
        let Some(rng) = &mut self.rng else { return Param::from_tensor(Tensor::zeros(shape, self.device)) };
        let n = shape.iter().product();
        let data: Vec<f32> = values.sample_iter(rng).take(n).collect();
        Param::from_tensor(Tensor::from_data(TensorData::new(data, shape), self.device))
    }

    /// A weight (`bias == false`) or bias of a layer with `fan_in` inputs per output.
    fn draw<const D: usize>(&mut self, shape: [usize; D], fan_in: usize, bias: bool) -> Param<Tensor<D>> {
        match (self.scheme, bias) {
            (InitScheme::Torch, _) => {
                let bound = 1.0 / (fan_in as f32).sqrt();
                self.param(shape, Uniform::new_inclusive(-bound, bound).expect("finite bound"))
            }
            (InitScheme::Dcgan, false) => self.param(shape, Normal::new(0.0, 0.02).expect("valid std")),
            (InitScheme::Dcgan, true) => Param::from_tensor(Tensor::zeros(shape, self.device)),
        }
    }

    pub fn linear(&mut self, d_in: usize, d_out: usize) -> Linear {
        let weight = self.draw([d_in, d_out], d_in, false);
        Linear { weight, bias: Some(self.draw([d_out], d_in, true)) }
    }

    /// A bias-free convolution (the post's conv layers have none).
    pub fn conv2d(&mut self, c_in: usize, c_out: usize, kernel: usize, stride: usize, padding: usize) -> Conv2d {
        Conv2d {
            weight: self.draw([c_out, c_in, kernel, kernel], c_in * kernel * kernel, false),
            bias: None,
            stride: [stride, stride],
            kernel_size: [kernel, kernel],
            dilation: [1, 1],
            groups: 1,
            padding: PaddingConfig2d::Explicit(padding, padding, padding, padding),
        }
    }

    /// A bias-free transposed convolution; its weight is `[in, out, k, k]` in
    /// burn and PyTorch alike, and PyTorch takes `out * k * k` as its fan-in.
    pub fn conv_transpose2d(
        &mut self,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> ConvTranspose2d {
        ConvTranspose2d {
            weight: self.draw([c_in, c_out, kernel, kernel], c_out * kernel * kernel, false),
            bias: None,
            stride: [stride, stride],
            kernel_size: [kernel, kernel],
            dilation: [1, 1],
            groups: 1,
            padding: [padding, padding],
            padding_out: [0, 0],
            channels: [c_in, c_out],
        }
    }

    pub fn batch_norm(&mut self, features: usize) -> BatchNorm {
        let gamma = match self.scheme {
            InitScheme::Torch => Param::from_tensor(Tensor::ones([features], self.device)),
            InitScheme::Dcgan => self.param([features], Normal::new(1.0, 0.02).expect("valid std")),
        };
        // burn's `BatchNormConfig` defaults, which are PyTorch's.
        BatchNorm {
            gamma,
            beta: Param::from_tensor(Tensor::zeros([features], self.device)),
            training: Param::from_bool(true),
            running_mean: RunningState::new(Tensor::zeros([features], self.device)),
            running_var: RunningState::new(Tensor::ones([features], self.device)),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }
}
