//! BatchNorm in training on the CPU, forward and backward in a few passes.
//!
//! burn computes a training BatchNorm on its CPU backend out of tensor
//! operations (means by swapped axes and reshapes, a dozen passes each way,
//! each allocating its result); here the forward reads its input twice (the
//! statistics) and writes the output once, and the backward reads twice and
//! writes once, on every core. Everywhere else, and when drawing, it is
//! burn's `BatchNorm::forward`.

use burn::nn::BatchNorm;
use burn::prelude::*;

/// `bn.forward(x)`: in training on the CPU ([`fused::forward_train`]), the
/// fused form, which also moves the running statistics as burn's does.
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "train")]
    if x.device() == Device::flex()
        && x.device().is_autodiff()
        && x.dtype() == burn::tensor::DType::F32
        && bn.training.is_enabled()
    {
        return fused::forward_train(bn, x);
    }
    if !x.device().is_autodiff() {
        // What burn's `forward` does here, without linking its training branch
        // into a module that only draws (the page's first one).
        let device = x.device();
        let (mean, var) = (bn.running_mean.value().to_device(&device), bn.running_var.value().to_device(&device));
        return burn::tensor::module::batch_norm(x, bn.gamma.val(), bn.beta.val(), mean, var, bn.epsilon);
    }
    bn.forward(x)
}

#[cfg(feature = "train")]
mod fused {
    use std::ops::Range;

    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::autodiff::{Autodiff, NodeId};
    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
    use burn::nn::BatchNorm;
    use burn::prelude::*;

    use crate::cpu::{for_each_chunk, map, tensor, values};

    /// burn's `BatchNorm::forward_train`: normalised by the batch's
    /// statistics, which move the running ones by the momentum.
    pub fn forward_train(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
        let (y, mean, variance) = <Dispatch as FusedBatchNorm>::fused_batch_norm_train(
            x.into_dispatch(),
            bn.gamma.val().into_dispatch(),
            bn.beta.val().into_dispatch(),
            bn.epsilon,
        );
        let momentum = bn.momentum;
        let moved = |running: Tensor<1>, batch| {
            running.mul_scalar(1.0 - momentum).add(Tensor::<1>::from_dispatch(batch).detach().mul_scalar(momentum))
        };
        bn.running_mean.update(moved(bn.running_mean.value_sync(), mean).detach());
        bn.running_var.update(moved(bn.running_var.value_sync(), variance).detach());
        Tensor::from_dispatch(y)
    }

    /// Training BatchNorm over `[batch, channels, h, w]`.
    #[backend_extension(Flex, Autodiff)]
    pub trait FusedBatchNorm: Backend {
        /// The output, and the batch's mean and biased variance per channel.
        fn fused_batch_norm_train(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    }

    /// A map `[batch, channels, h, w]` as its counts.
    struct Counts {
        batch: usize,
        channels: usize,
        /// Values of a channel in one image.
        run: usize,
    }

    impl Counts {
        fn of(x: &FlexTensor) -> Self {
            let [batch, channels, height, width] = x.shape().dims();
            Self { batch, channels, run: height * width }
        }

        /// Values per channel.
        fn count(&self) -> f32 {
            (self.batch * self.run) as f32
        }

        /// The indices of channel `c`'s values in image `b`.
        fn run(&self, b: usize, c: usize) -> Range<usize> {
            let start = (b * self.channels + c) * self.run;
            start..start + self.run
        }

        /// `f(run)` summed over channel `c`'s run in every image (each run
        /// summed by `f` in `f32`, the runs in `f64`).
        fn sum(&self, c: usize, f: impl Fn(Range<usize>) -> f32) -> f32 {
            (0..self.batch).map(|b| f(self.run(b, c)) as f64).sum::<f64>() as f32
        }
    }

    impl FusedBatchNorm for Flex {
        fn fused_batch_norm_train(
            x: FlexTensor,
            gamma: FlexTensor,
            beta: FlexTensor,
            epsilon: f64,
        ) -> (FlexTensor, FlexTensor, FlexTensor) {
            let s = Counts::of(&x);
            let (input, gamma, beta) = (values(&x), values(&gamma), values(&beta));
            let mean: Vec<f32> = map(s.channels, |c| s.sum(c, |r| input[r].iter().sum()) / s.count());
            let variance: Vec<f32> =
                map(s.channels, |c| s.sum(c, |r| input[r].iter().map(|x| (x - mean[c]).powi(2)).sum()) / s.count());
            // y = x * scale + shift per channel.
            let scale: Vec<f32> = (0..s.channels).map(|c| gamma[c] / (variance[c] + epsilon as f32).sqrt()).collect();
            let shift: Vec<f32> = (0..s.channels).map(|c| beta[c] - mean[c] * scale[c]).collect();
            let mut output = vec![0.0; input.len()];
            for_each_chunk(&mut output, s.channels * s.run, |b, image| {
                for (c, run) in image.chunks_exact_mut(s.run).enumerate() {
                    let from = &input[s.run(b, c)];
                    run.iter_mut().zip(from).for_each(|(y, x)| *y = x * scale[c] + shift[c]);
                }
            });
            (tensor(output, x.shape().dims::<4>()), tensor(mean, [s.channels]), tensor(variance, [s.channels]))
        }
    }

    /// The gradients to the input, gamma and beta, given the output's.
    fn backward(
        x: &FlexTensor,
        gamma: &FlexTensor,
        mean: &FlexTensor,
        variance: &FlexTensor,
        epsilon: f64,
        dy: &FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let s = Counts::of(x);
        let (input, gamma, mean, variance, dy) = (values(x), values(gamma), values(mean), values(variance), values(dy));
        let inv_std: Vec<f32> = variance.iter().map(|v| 1.0 / (v + epsilon as f32).sqrt()).collect();
        let beta_grad: Vec<f32> = map(s.channels, |c| s.sum(c, |r| dy[r].iter().sum()));
        let gamma_grad: Vec<f32> = map(s.channels, |c| {
            s.sum(c, |r| dy[r.clone()].iter().zip(&input[r]).map(|(dy, x)| dy * (x - mean[c])).sum()) * inv_std[c]
        });
        // dx = gamma / std * (dy - mean(dy) - x_hat * mean(dy * x_hat)).
        let mut x_grad = vec![0.0; input.len()];
        for_each_chunk(&mut x_grad, s.channels * s.run, |b, image| {
            for (c, run) in image.chunks_exact_mut(s.run).enumerate() {
                let r = s.run(b, c);
                let (mean_dy, mean_dy_xhat) = (beta_grad[c] / s.count(), gamma_grad[c] / s.count());
                let scale = gamma[c] * inv_std[c];
                for ((dx, dy), x) in run.iter_mut().zip(&dy[r.clone()]).zip(&input[r]) {
                    let x_hat = (x - mean[c]) * inv_std[c];
                    *dx = scale * (dy - mean_dy - x_hat * mean_dy_xhat);
                }
            }
        });
        (tensor(x_grad, x.shape().dims::<4>()), tensor(gamma_grad, [s.channels]), tensor(beta_grad, [s.channels]))
    }

    #[derive(Debug)]
    struct FusedBatchNormBackward;

    impl Backward<Flex, 3> for FusedBatchNormBackward {
        /// The checkpointed input and gamma, the batch's mean and variance, epsilon.
        type State = (NodeId, NodeId, FlexTensor, FlexTensor, f64);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
            let [x_node, gamma_node, beta_node] = ops.parents;
            let dy = grads.consume::<Flex>(&ops.node);
            let (x_state, gamma_state, mean, variance, epsilon) = ops.state;
            let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
            let gamma = checkpointer.retrieve_node_output::<FlexTensor>(gamma_state);
            let (x_grad, gamma_grad, beta_grad) = backward(&x, &gamma, &mean, &variance, epsilon, &dy);
            for (node, grad) in [(x_node, x_grad), (gamma_node, gamma_grad), (beta_node, beta_grad)] {
                if let Some(node) = node {
                    grads.register::<Flex>(node.id, grad);
                }
            }
        }
    }

    impl<C: CheckpointStrategy> FusedBatchNorm for Autodiff<Flex, C> {
        fn fused_batch_norm_train(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let prepared = FusedBatchNormBackward.prepare::<C>([x.node(), gamma.node(), beta.node()]);
            let statistics = |x: FlexTensor, gamma: FlexTensor, beta: FlexTensor| {
                Flex::fused_batch_norm_train(x, gamma, beta, epsilon)
            };
            let (output, mean, variance) = match prepared.compute_bound().stateful() {
                OpsKind::Tracked(mut prep) => {
                    let (x_state, gamma_state) = (prep.checkpoint(&x), prep.checkpoint(&gamma));
                    let (y, mean, variance) =
                        statistics(x.into_primitive(), gamma.into_primitive(), beta.into_primitive());
                    let state = (x_state, gamma_state, mean.clone(), variance.clone(), epsilon);
                    (prep.finish(state, y), mean, variance)
                }
                OpsKind::UnTracked(prep) => {
                    let (y, mean, variance) =
                        statistics(x.into_primitive(), gamma.into_primitive(), beta.into_primitive());
                    (prep.finish(y), mean, variance)
                }
            };
            (output, FloatTensor::<Self>::new(mean), FloatTensor::<Self>::new(variance))
        }
    }
}
