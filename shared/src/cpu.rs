//! What the operations written for burn's CPU backend (`conv`, `norm`,
//! `adam`) share: reading a tensor's values, making a tensor, and spreading
//! work over the cores (rayon's pool, which burn's matrix products use too;
//! in wasm, one thread).

use std::borrow::Cow;

use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;

/// The values in row-major order, borrowed when they already are.
pub(crate) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("contiguous").to_vec()),
    }
}

pub(crate) fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// `f(index, chunk)` for each `size`-long chunk of `values`.
pub(crate) fn for_each_chunk(values: &mut [f32], size: usize, f: impl Fn(usize, &mut [f32]) + Send + Sync) {
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        values.par_chunks_exact_mut(size).enumerate().for_each(|(i, chunk)| f(i, chunk));
    }
    #[cfg(target_family = "wasm")]
    values.chunks_exact_mut(size).enumerate().for_each(|(i, chunk)| f(i, chunk));
}

/// `[f(0), f(1), ..., f(count - 1)]`.
#[cfg(feature = "train")]
pub(crate) fn map<T: Send>(count: usize, f: impl Fn(usize) -> T + Send + Sync) -> Vec<T> {
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        (0..count).into_par_iter().map(f).collect()
    }
    #[cfg(target_family = "wasm")]
    (0..count).map(f).collect()
}
