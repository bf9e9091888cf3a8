//! What the operations written for burn's CPU backend (`conv`, `norm`,
//! `adam`) share: reading a tensor's values, making a tensor, and spreading
//! work over the cores (rayon's pool, which burn's matrix products use too;
//! in wasm, one thread).

use std::borrow::Cow;

use burn::backend::flex::FlexTensor;
use burn::tensor::{Shape, TensorData};

/// The values in row-major order, borrowed when they already are.
pub(crate) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("contiguous").to_vec()),
    }
}

/// A matrix read from a slice: `rows x columns`, the entry `(i, j)` at
/// `i * row_stride + j * column_stride` (a transposed view swaps the strides).
/// Made only by [`Matrix::new`] and [`Matrix::t`], so every entry lies in
/// the slice.
#[derive(Clone, Copy)]
pub(crate) struct Matrix<'a> {
    values: &'a [f32],
    rows: usize,
    columns: usize,
    row_stride: usize,
    column_stride: usize,
}

impl<'a> Matrix<'a> {
    /// `values` as a row-major `rows x columns` matrix.
    pub fn new(values: &'a [f32], rows: usize, columns: usize) -> Self {
        assert_eq!(values.len(), rows * columns, "a {rows} x {columns} matrix");
        Self { values, rows, columns, row_stride: columns, column_stride: 1 }
    }

    /// The transpose, the same values.
    pub fn t(self) -> Self {
        Self {
            rows: self.columns,
            columns: self.rows,
            row_stride: self.column_stride,
            column_stride: self.row_stride,
            ..self
        }
    }
}

/// `a x b`, row-major, with `gemm` (on every core for large products, as
/// burn's CPU backend does). Unlike burn's `float_matmul`, the product is
/// written straight into its buffer: burn's clears the buffer, then copies it
/// once more to align it, two passes over the output that cost as much as a
/// product with a short inner dimension (a weight gradient's).
pub(crate) fn matmul(a: Matrix, b: Matrix) -> Vec<f32> {
    let (m, n) = (a.rows, b.columns);
    let mut product = Vec::<f32>::with_capacity(m * n);
    // SAFETY: `product` holds `m * n` values, which `gemm` writes and, with
    // `accumulate` false, never reads, before `set_len`.
    unsafe {
        gemm_into(product.as_mut_ptr(), (n, 1), false, a, b);
        product.set_len(m * n);
    }
    product
}

/// `out += a x b`, where `out` is `a.rows x b.columns` with the entry `(i, j)`
/// at `i * row_stride + j * column_stride`.
pub(crate) fn matmul_add(out: &mut [f32], (row_stride, column_stride): (usize, usize), a: Matrix, b: Matrix) {
    if a.rows > 0 && b.columns > 0 {
        assert!((a.rows - 1) * row_stride + (b.columns - 1) * column_stride < out.len(), "product outside its buffer");
    }
    // SAFETY: every entry lies in `out` (checked above).
    unsafe { gemm_into(out.as_mut_ptr(), (row_stride, column_stride), true, a, b) }
}

/// `out = a x b`, or `out += a x b` if `accumulate`, with `out`'s strides.
///
/// # Safety
/// `out` must be valid for writes (and, if `accumulate`, reads) at every
/// entry of the `a.rows x b.columns` product.
unsafe fn gemm_into(
    out: *mut f32,
    (row_stride, column_stride): (usize, usize),
    accumulate: bool,
    a: Matrix,
    b: Matrix,
) {
    assert_eq!(a.columns, b.rows, "matrix product of {} x {} by {} x {}", a.rows, a.columns, b.rows, b.columns);
    let (m, n, k) = (a.rows, b.columns, a.columns);
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(not(target_family = "wasm"))]
    let parallelism = if m * n * k >= 192 * 192 * 192 { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    #[cfg(target_family = "wasm")]
    let parallelism = gemm::Parallelism::None;
    let stride = |s: usize| s as isize;
    // SAFETY: the reads stay in `a` and `b` (see `Matrix`), the writes in
    // `out` (the caller's promise); with `k == 0` gemm leaves `out` as it
    // is or sets it to zeros.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            stride(column_stride),
            stride(row_stride),
            accumulate,
            a.values.as_ptr(),
            stride(a.column_stride),
            stride(a.row_stride),
            b.values.as_ptr(),
            stride(b.column_stride),
            stride(b.row_stride),
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// `values` as a tensor of `shape`.
pub(crate) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
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

#[cfg(test)]
mod tests {
    use super::{Matrix, matmul, matmul_add};

    /// `a x b` by the definition, for row-major `a: m x k`, `b: k x n`.
    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        (0..m * n).map(|ij| (0..k).map(|l| a[ij / n * k + l] * b[l * n + ij % n]).sum()).collect()
    }

    /// `x: rows x columns` row-major, transposed into a new buffer.
    fn transposed(x: &[f32], rows: usize, columns: usize) -> Vec<f32> {
        (0..rows * columns).map(|ji| x[ji % rows * columns + ji / rows]).collect()
    }

    #[test]
    fn products_of_matrices_and_transposed_views_match_the_definition() {
        // Large enough for several of gemm's blocks and threads, odd sizes.
        for (m, k, n) in [(3, 5, 2), (67, 300, 129), (200, 64, 250)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 11) as f32 * 0.5 - 2.0).collect();
            let expected = naive(&a, &b, m, k, n);
            let (a_t, b_t) = (transposed(&a, m, k), transposed(&b, k, n));
            let products = [
                matmul(Matrix::new(&a, m, k), Matrix::new(&b, k, n)),
                matmul(Matrix::new(&a_t, k, m).t(), Matrix::new(&b, k, n)),
                matmul(Matrix::new(&a, m, k), Matrix::new(&b_t, n, k).t()),
            ];
            for product in products {
                // Integer-valued sums: exact in f32 at these sizes.
                assert_eq!(product, expected, "{m} x {k} x {n}");
            }
            // Added to what the output holds, written by columns.
            let mut sums = vec![1.0; m * n];
            matmul_add(&mut sums, (1, m), Matrix::new(&a, m, k), Matrix::new(&b, k, n));
            assert_eq!(sums, transposed(&expected, m, n).iter().map(|x| x + 1.0).collect::<Vec<_>>());
        }
        assert_eq!(matmul(Matrix::new(&[], 2, 0), Matrix::new(&[], 0, 3)), vec![0.0; 6]);
    }
}
