//! An exponential moving average of the generator's weights (Karras et al.
//! 2018; Yazici et al. 2019): after each step, every weight and BatchNorm
//! running statistic of the average moves a little towards the trained
//! generator's. When a run keeps one (`Recipe::ema_decay` above 0), it is
//! what the trainer samples, measures and exports. Over the GAN's first 3
//! epochs it measured a worse FID than the generator itself (README), so it
//! is off by default.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use crate::models::Generator;

/// The generator averaged over training, without autodiff.
#[derive(Clone, Debug)]
pub struct AveragedGenerator {
    pub generator: Generator,
    /// The long-run decay: each step keeps this share of the average.
    pub decay: f64,
    /// Updates so far, for the ramp-up.
    pub updates: u64,
}

impl AveragedGenerator {
    /// Starts the average at `generator`'s weights.
    pub fn new(generator: &Generator, decay: f64) -> Self {
        Self { generator: generator.valid(), decay, updates: 0 }
    }

    /// The decay of the next update: `(1 + t) / (10 + t)` until that reaches
    /// `decay`, so that the random initial weights fade out within the first
    /// steps instead of lingering for `1 / (1 - decay)` of them.
    pub fn current_decay(&self) -> f64 {
        let t = self.updates as f64;
        self.decay.min((1.0 + t) / (10.0 + t))
    }

    /// Moves the average towards `generator` (on any device, autodiff or not).
    pub fn update(&mut self, generator: &Generator) {
        // `valid()` folds in BatchNorm's pending running-statistics update.
        let mut current = Collect(Vec::new());
        generator.valid().visit(&mut current);
        let decay = self.current_decay();
        let mut blend = Blend { current: current.0.into_iter(), decay };
        self.generator = self.generator.clone().map(&mut blend);
        self.updates += 1;
    }
}

/// Every float tensor of a module (weights and running statistics), flattened,
/// in visiting order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().inner().reshape([-1]));
    }
}

/// `average = decay * average + (1 - decay) * current`, tensor by tensor in
/// the same visiting order (the two modules have one architecture).
struct Blend {
    current: std::vec::IntoIter<Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let current = self.current.next().expect("the averaged generator has the trained one's architecture");
        let decay = self.decay;
        param.map(|average| {
            let dims = average.dims();
            let device = average.device();
            average.mul_scalar(decay) + current.to_device(&device).reshape(dims).mul_scalar(1.0 - decay)
        })
    }
}
