//! BatchNorm in training on the CPU, forward and backward in a few passes,
//! with the rectifier that follows it folded in.
//!
//! burn computes a training BatchNorm on its CPU backend out of tensor
//! operations (means by swapped axes and reshapes, a dozen passes each way,
//! each allocating its result); here the forward reads its input twice (the
//! statistics) and writes the rectified output once, and the backward reads
//! twice and writes once, on every core, the loops built for AVX-512 and
//! AVX2 too. Everywhere else, and when drawing, it is burn's
//! `BatchNorm::forward`, then the rectifier.

use burn::nn::BatchNorm;
use burn::prelude::*;

use crate::activation::Rectifier;

/// `bn.forward(x)`.
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    normalised(bn, x, None)
}

/// `then.apply(bn.forward(x))`: in training on the CPU, one fused operation
/// ([`fused::forward_train`]), which also moves the running statistics as
/// burn's does.
pub fn batch_norm_then(bn: &BatchNorm, x: Tensor<4>, then: Rectifier) -> Tensor<4> {
    normalised(bn, x, Some(then))
}

fn normalised(bn: &BatchNorm, x: Tensor<4>, then: Option<Rectifier>) -> Tensor<4> {
    #[cfg(feature = "train")]
    if x.device() == Device::flex()
        && x.device().is_autodiff()
        && x.dtype() == burn::tensor::DType::F32
        && bn.training.is_enabled()
    {
        // Slope 1: no rectifier.
        return fused::forward_train(bn, x, then.map_or(1.0, |r| r.negative_slope() as f32));
    }
    let y = if !x.device().is_autodiff() {
        // What burn's `forward` does here, without linking its training branch
        // into a module that only draws (the page's first one).
        let device = x.device();
        let (mean, var) = (bn.running_mean.value().to_device(&device), bn.running_var.value().to_device(&device));
        burn::tensor::module::batch_norm(x, bn.gamma.val(), bn.beta.val(), mean, var, bn.epsilon)
    } else {
        bn.forward(x)
    };
    match then {
        Some(rectifier) => rectifier.apply(y),
        None => y,
    }
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
    use multiversion::multiversion;

    use crate::activation::{rectified_grad, rectify};
    use crate::cpu::{for_each_chunk, map, tensor, values};

    /// burn's `BatchNorm::forward_train`, then a rectifier with `slope`
    /// (1: none): normalised by the batch's statistics, which move the
    /// running ones by the momentum.
    pub fn forward_train(bn: &BatchNorm, x: Tensor<4>, slope: f32) -> Tensor<4> {
        let (y, mean, variance) = <Dispatch as FusedBatchNorm>::fused_batch_norm_train(
            x.into_dispatch(),
            bn.gamma.val().into_dispatch(),
            bn.beta.val().into_dispatch(),
            bn.epsilon,
            slope,
        );
        let momentum = bn.momentum;
        let moved = |running: Tensor<1>, batch| {
            running.mul_scalar(1.0 - momentum).add(Tensor::<1>::from_dispatch(batch).detach().mul_scalar(momentum))
        };
        bn.running_mean.update(moved(bn.running_mean.value_sync(), mean).detach());
        bn.running_var.update(moved(bn.running_var.value_sync(), variance).detach());
        Tensor::from_dispatch(y)
    }

    /// Training BatchNorm over `[batch, channels, h, w]`, then a rectifier.
    #[backend_extension(Flex, Autodiff)]
    pub trait FusedBatchNorm: Backend {
        /// The output, rectified with `slope` (1: not at all), and the
        /// batch's mean and biased variance per channel.
        fn fused_batch_norm_train(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
            slope: f32,
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
        #[inline(always)]
        fn sum(&self, c: usize, f: impl Fn(Range<usize>) -> f32) -> f32 {
            (0..self.batch).map(|b| f(self.run(b, c)) as f64).sum::<f64>() as f32
        }
    }

    /// Sums `f(i)` over `0..len` in 16 running sums, which the compiler keeps
    /// in one vector register (a single running sum would be a chain of
    /// dependent scalar additions).
    #[inline(always)]
    fn lane_sum(len: usize, f: impl Fn(usize) -> f32) -> f32 {
        lane_sums(len, |i| (f(i), 0.0)).0
    }

    /// Both sums of `f(i) = (a, b)` over `0..len`, as [`lane_sum`].
    #[inline(always)]
    fn lane_sums(len: usize, f: impl Fn(usize) -> (f32, f32)) -> (f32, f32) {
        const LANES: usize = 16;
        let whole = len - len % LANES;
        let (mut lanes_a, mut lanes_b) = ([0f32; LANES], [0f32; LANES]);
        for start in (0..whole).step_by(LANES) {
            for lane in 0..LANES {
                let (a, b) = f(start + lane);
                lanes_a[lane] += a;
                lanes_b[lane] += b;
            }
        }
        let (mut a, mut b) = (lanes_a.iter().sum::<f32>(), lanes_b.iter().sum::<f32>());
        for i in whole..len {
            let (x, y) = f(i);
            a += x;
            b += y;
        }
        (a, b)
    }

    // The loops below are built for AVX-512 and AVX2 too, chosen at run time.

    /// Channel `c`'s mean and biased variance (two passes, as burn's).
    #[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
    fn statistics(input: &[f32], s: &Counts, c: usize) -> (f32, f32) {
        let mean = s.sum(c, |r| {
            let x = &input[r];
            lane_sum(x.len(), |i| x[i])
        }) / s.count();
        let variance = s.sum(c, |r| {
            let x = &input[r];
            lane_sum(x.len(), |i| (x[i] - mean) * (x[i] - mean))
        }) / s.count();
        (mean, variance)
    }

    /// `y = rectify(x * scale + shift)` over one run.
    #[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
    fn normalise(y: &mut [f32], x: &[f32], scale: f32, shift: f32, slope: f32) {
        for (y, x) in y.iter_mut().zip(x) {
            *y = rectify(x * scale + shift, slope);
        }
    }

    impl FusedBatchNorm for Flex {
        fn fused_batch_norm_train(
            x: FlexTensor,
            gamma: FlexTensor,
            beta: FlexTensor,
            epsilon: f64,
            slope: f32,
        ) -> (FlexTensor, FlexTensor, FlexTensor) {
            let s = Counts::of(&x);
            let (input, gamma, beta) = (values(&x), values(&gamma), values(&beta));
            let (mean, variance): (Vec<f32>, Vec<f32>) =
                map(s.channels, |c| statistics(&input, &s, c)).into_iter().unzip();
            // y = rectify(x * scale + shift) per channel.
            let scale: Vec<f32> = (0..s.channels).map(|c| gamma[c] / (variance[c] + epsilon as f32).sqrt()).collect();
            let shift: Vec<f32> = (0..s.channels).map(|c| beta[c] - mean[c] * scale[c]).collect();
            let mut output = vec![0.0; input.len()];
            for_each_chunk(&mut output, s.channels * s.run, |b, image| {
                for (c, run) in image.chunks_exact_mut(s.run).enumerate() {
                    normalise(run, &input[s.run(b, c)], scale[c], shift[c], slope);
                }
            });
            (tensor(output, x.shape().dims::<4>()), tensor(mean, [s.channels]), tensor(variance, [s.channels]))
        }
    }

    /// What the backward reads besides the output's gradient.
    #[derive(Clone, Debug)]
    struct Saved {
        /// The batch's mean and biased variance per channel.
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        /// The rectified output (its sign tells the rectifier's gradient)
        /// and the slope.
        output: FlexTensor,
        slope: f32,
    }

    /// Channel `c`'s sums of the normalisation's output gradient `dz` (from
    /// the rectified output's, `dy`) and of `dz * (x - mean)`, in one pass.
    #[allow(clippy::too_many_arguments)]
    #[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
    fn gradient_sums(dy: &[f32], y: &[f32], input: &[f32], s: &Counts, c: usize, mean: f32, slope: f32) -> (f32, f32) {
        let (mut dz_sum, mut dz_x_sum) = (0f64, 0f64);
        for b in 0..s.batch {
            let r = s.run(b, c);
            let (dy, y, x) = (&dy[r.clone()], &y[r.clone()], &input[r]);
            let (dz, dz_x) = lane_sums(dy.len(), |i| {
                let dz = rectified_grad(dy[i], y[i], slope);
                (dz, dz * (x[i] - mean))
            });
            dz_sum += dz as f64;
            dz_x_sum += dz_x as f64;
        }
        (dz_sum as f32, dz_x_sum as f32)
    }

    /// The input gradient over one run:
    /// `dx = scale * (dz - mean(dz) - x_hat * mean(dz * x_hat))`.
    #[allow(clippy::too_many_arguments)]
    #[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
    fn input_grad_run(
        dx: &mut [f32],
        (dy, y, x): (&[f32], &[f32], &[f32]),
        (mean, inv_std, scale): (f32, f32, f32),
        (mean_dz, mean_dz_x_hat): (f32, f32),
        slope: f32,
    ) {
        for (((dx, &dy), &y), &x) in dx.iter_mut().zip(dy).zip(y).zip(x) {
            let x_hat = (x - mean) * inv_std;
            *dx = scale * (rectified_grad(dy, y, slope) - mean_dz - x_hat * mean_dz_x_hat);
        }
    }

    /// The gradients to the input, gamma and beta, given the rectified output's.
    fn backward(
        x: &FlexTensor,
        gamma: &FlexTensor,
        saved: &Saved,
        dy: &FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let s = Counts::of(x);
        let (input, gamma, dy, y) = (values(x), values(gamma), values(dy), values(&saved.output));
        let (mean, variance) = (values(&saved.mean), values(&saved.variance));
        let inv_std: Vec<f32> = variance.iter().map(|v| 1.0 / (v + saved.epsilon as f32).sqrt()).collect();
        let sums = map(s.channels, |c| gradient_sums(&dy, &y, &input, &s, c, mean[c], saved.slope));
        let beta_grad: Vec<f32> = sums.iter().map(|&(dz, _)| dz).collect();
        let gamma_grad: Vec<f32> = sums.iter().zip(&inv_std).map(|(&(_, dz_x), inv_std)| dz_x * inv_std).collect();
        let mut x_grad = vec![0.0; input.len()];
        for_each_chunk(&mut x_grad, s.channels * s.run, |b, image| {
            for (c, run) in image.chunks_exact_mut(s.run).enumerate() {
                let r = s.run(b, c);
                let means = (beta_grad[c] / s.count(), gamma_grad[c] / s.count());
                let factors = (mean[c], inv_std[c], gamma[c] * inv_std[c]);
                input_grad_run(run, (&dy[r.clone()], &y[r.clone()], &input[r]), factors, means, saved.slope);
            }
        });
        (tensor(x_grad, x.shape().dims::<4>()), tensor(gamma_grad, [s.channels]), tensor(beta_grad, [s.channels]))
    }

    #[derive(Debug)]
    struct FusedBatchNormBackward;

    impl Backward<Flex, 3> for FusedBatchNormBackward {
        /// The checkpointed input and gamma, and what the forward saved.
        type State = (NodeId, NodeId, Saved);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
            let [x_node, gamma_node, beta_node] = ops.parents;
            let dy = grads.consume::<Flex>(&ops.node);
            let (x_state, gamma_state, saved) = ops.state;
            let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
            let gamma = checkpointer.retrieve_node_output::<FlexTensor>(gamma_state);
            let (x_grad, gamma_grad, beta_grad) = backward(&x, &gamma, &saved, &dy);
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
            slope: f32,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let prepared = FusedBatchNormBackward.prepare::<C>([x.node(), gamma.node(), beta.node()]);
            let statistics = |x: FlexTensor, gamma: FlexTensor, beta: FlexTensor| {
                Flex::fused_batch_norm_train(x, gamma, beta, epsilon, slope)
            };
            let (output, mean, variance) = match prepared.compute_bound().stateful() {
                OpsKind::Tracked(mut prep) => {
                    let (x_state, gamma_state) = (prep.checkpoint(&x), prep.checkpoint(&gamma));
                    let (y, mean, variance) =
                        statistics(x.into_primitive(), gamma.into_primitive(), beta.into_primitive());
                    let saved =
                        Saved { mean: mean.clone(), variance: variance.clone(), epsilon, output: y.clone(), slope };
                    (prep.finish((x_state, gamma_state, saved), y), mean, variance)
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
