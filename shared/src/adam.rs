//! Adam as burn computes it, in one pass over each parameter on the CPU.
//!
//! burn's Adam updates a parameter with about a dozen tensor operations, each
//! a pass over memory that allocates its result: on the CPU, for the MLP's
//! 2.9 M weights, a large part of a training step. [`FusedAdam`] reads the
//! weight, its gradient and both moments once and writes the three back
//! (in place when nothing else holds them), on every core; on other devices
//! it is burn's [`Adam`]. Its state is burn's [`AdamState`], so checkpoints
//! are the same either way.

use std::mem::MaybeUninit;

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::prelude::*;
use burn::tensor::DType;
use multiversion::multiversion;

use crate::cpu::{tensor, values};

/// Adam without weight decay, AMSGrad or clipping (what the post uses).
#[derive(Clone)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// The same optimiser, for devices other than the CPU.
    burn: Adam,
}

impl FusedAdam {
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32) -> Self {
        let burn = AdamConfig::new().with_beta_1(beta_1).with_beta_2(beta_2).with_epsilon(epsilon).build();
        Self { beta_1, beta_2, epsilon, burn }
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let device = tensor.device();
        if device != Device::flex() || device.is_autodiff() || tensor.dtype() != DType::F32 {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (time, moment_1, moment_2) = match state {
            Some(AdamState { momentum }) => (momentum.time + 1, momentum.moment_1, momentum.moment_2),
            None => (1, tensor.zeros_like(), tensor.zeros_like()),
        };
        let step = AdamStep { lr: lr as f32, beta_1: self.beta_1, beta_2: self.beta_2, epsilon: self.epsilon, time };
        let (tensor, moment_1, moment_2) = <Dispatch as FusedAdamOps>::fused_adam(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            moment_1.into_dispatch(),
            moment_2.into_dispatch(),
            step.factors(),
        );
        let momentum =
            AdaptiveMomentumState::new(time, Tensor::from_dispatch(moment_1), Tensor::from_dispatch(moment_2));
        (Tensor::from_dispatch(tensor), Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// One step's settings.
struct AdamStep {
    lr: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// Steps taken, this one included.
    time: usize,
}

impl AdamStep {
    /// `[beta_1, beta_2, step size, epsilon]` with burn's bias corrections
    /// folded in: `w -= size * m1 / (sqrt(m2) + epsilon)`.
    fn factors(&self) -> [f32; 4] {
        let time = self.time as i32;
        let correction_2 = (1.0 - self.beta_2.powi(time)).sqrt();
        let size = self.lr * correction_2 / (1.0 - self.beta_1.powi(time));
        [self.beta_1, self.beta_2, size, self.epsilon * correction_2]
    }
}

/// The fused update, on burn's CPU backend only ([`FusedAdam`] checks).
#[backend_extension(Flex)]
pub trait FusedAdamOps: Backend {
    /// `(weight, moment_1, moment_2)` after one step, from
    /// `[beta_1, beta_2, step size, epsilon]` ([`AdamStep::factors`]).
    fn fused_adam(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        factors: [f32; 4],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl FusedAdamOps for Flex {
    fn fused_adam(
        weight: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        factors: [f32; 4],
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (mut moment_1, mut moment_2) = (owned(moment_1), owned(moment_2));
        let grad = values(&grad);
        let (m1, m2) = (moment_1.storage_mut::<f32>(), moment_2.storage_mut::<f32>());
        let weight = if is_whole(&weight) && weight.is_unique() {
            let mut weight = weight;
            for_each_chunk(weight.storage_mut::<f32>(), m1, m2, |start, w, m1, m2| {
                update_in_place(w, m1, m2, &grad[start..][..w.len()], factors)
            });
            weight
        } else {
            // Still held elsewhere (the caller kept the module it passed in):
            // the new values go to a buffer of their own, rather than to a
            // copy then updated in place, one pass fewer.
            let old = values(&weight);
            let mut new = Vec::<f32>::with_capacity(old.len());
            for_each_chunk(&mut new.spare_capacity_mut()[..old.len()], m1, m2, |start, new, m1, m2| {
                let range = start..start + new.len();
                update_into(new, &old[range.clone()], m1, m2, &grad[range], factors)
            });
            // SAFETY: `update_into` wrote every value up to `old.len()`.
            unsafe { new.set_len(old.len()) };
            tensor(new, weight.shape())
        };
        (weight, moment_1, moment_2)
    }
}

// The two loops are compiled for AVX-512 and AVX2 as well, chosen at run
// time: 16 lanes a step where the baseline x86-64 build has 4.

/// One step of `w`, `m1`, `m2` with the gradient `g`, in place.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn update_in_place(w: &mut [f32], m1: &mut [f32], m2: &mut [f32], g: &[f32], factors: [f32; 4]) {
    for (((w, m1), m2), g) in w.iter_mut().zip(m1).zip(m2).zip(g) {
        *w -= decrease(m1, m2, *g, factors);
    }
}

/// One step of `m1`, `m2` with the gradient `g`, and the weights `old` after it in `new`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn update_into(
    new: &mut [MaybeUninit<f32>],
    old: &[f32],
    m1: &mut [f32],
    m2: &mut [f32],
    g: &[f32],
    factors: [f32; 4],
) {
    for ((((new, old), m1), m2), g) in new.iter_mut().zip(old).zip(m1).zip(m2).zip(g) {
        new.write(old - decrease(m1, m2, *g, factors));
    }
}

/// Moves both moments by the gradient `g` and returns the weight's decrease.
#[inline(always)]
fn decrease(m1: &mut f32, m2: &mut f32, g: f32, [beta_1, beta_2, size, epsilon]: [f32; 4]) -> f32 {
    *m1 = beta_1 * *m1 + (1.0 - beta_1) * g;
    *m2 = beta_2 * *m2 + (1.0 - beta_2) * g * g;
    size * *m1 / (m2.sqrt() + epsilon)
}

/// Values per task: enough that rayon's hand-offs do not show.
const CHUNK: usize = 1 << 15;

/// `f(start, w, m1, m2)` for each `CHUNK`-long run of the three from `start`
/// (they have the same length), on every core.
fn for_each_chunk<W: Send>(
    w: &mut [W],
    m1: &mut [f32],
    m2: &mut [f32],
    f: impl Fn(usize, &mut [W], &mut [f32], &mut [f32]) + Send + Sync,
) {
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        let chunks = w.par_chunks_mut(CHUNK).zip(m1.par_chunks_mut(CHUNK)).zip(m2.par_chunks_mut(CHUNK));
        chunks.enumerate().for_each(|(i, ((w, m1), m2))| f(i * CHUNK, w, m1, m2));
    }
    #[cfg(target_family = "wasm")]
    {
        let chunks = w.chunks_mut(CHUNK).zip(m1.chunks_mut(CHUNK)).zip(m2.chunks_mut(CHUNK));
        chunks.enumerate().for_each(|(i, ((w, m1), m2))| f(i * CHUNK, w, m1, m2));
    }
}

/// Whether the tensor's storage is exactly its values, in order.
fn is_whole(t: &FlexTensor) -> bool {
    t.is_contiguous()
        && t.layout().start_offset() == 0
        && t.bytes().len() == t.layout().num_elements() * size_of::<f32>()
}

/// A contiguous tensor whose storage is exactly its values, so that
/// `storage_mut` covers them (copied if shared or a view).
fn owned(t: FlexTensor) -> FlexTensor {
    if is_whole(&t) { t } else { FlexTensor::from_data(t.into_data()) }
}
