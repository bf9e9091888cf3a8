//! The post's MLP GAN at 28x28: the generator and discriminator.

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};

use super::{GanConfig, LEAKY_SLOPE};
use crate::activation::leaky_relu;
use crate::init::LayerInit;
use crate::linear::linear;

/// `Linear(100,256) ReLU Linear(256,512) ReLU Linear(512,1024) ReLU Linear(1024,784) Tanh`.
#[derive(Module, Debug)]
pub struct GanGenerator {
    pub layers: Vec<Linear>,
    pub image_size: usize,
}

impl GanGenerator {
    pub(super) fn new(c: &GanConfig, init: &mut LayerInit) -> Self {
        let mut widths = vec![c.latent_dim];
        widths.extend(&c.generator_hidden);
        widths.push(c.image_size * c.image_size);
        let layers = widths.windows(2).map(|w| init.linear(w[0], w[1])).collect();
        Self { layers, image_size: c.image_size }
    }

    /// `z: [batch, latent]` to images `[batch, 1, 28, 28]` in `[-1, 1]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let last = self.layers.len() - 1;
        let mut x = z;
        for (i, layer) in self.layers.iter().enumerate() {
            x = linear(layer, x);
            x = if i < last { relu(x) } else { tanh(x) };
        }
        let batch = x.dims()[0];
        x.reshape([batch, 1, self.image_size, self.image_size])
    }
}

/// `Flatten Linear(784,1024) LeakyReLU Linear(1024,512) LeakyReLU Linear(512,1)`.
#[derive(Module, Debug)]
pub struct GanDiscriminator {
    pub layers: Vec<Linear>,
}

impl GanDiscriminator {
    pub(super) fn new(c: &GanConfig, init: &mut LayerInit) -> Self {
        let mut widths = vec![c.image_size * c.image_size];
        widths.extend(&c.discriminator_hidden);
        widths.push(1);
        let layers = widths.windows(2).map(|w| init.linear(w[0], w[1])).collect();
        Self { layers }
    }

    /// Images `[batch, 1, 28, 28]` to logits `[batch, 1]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut x = images.flatten(1, 3);
        for (i, layer) in self.layers.iter().enumerate() {
            x = linear(layer, x);
            if i < last {
                x = leaky_relu(x, LEAKY_SLOPE);
            }
        }
        x
    }
}
