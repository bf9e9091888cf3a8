//! A convolution lowered to one matrix product over the whole batch: the
//! data movement around that product, in plain loops over `f32` slices.
//!
//! Everything is seen from the convolution (`Conv2d`) side: an input map
//! `[batch, in, height, width]`, an output map `[batch, out, out_h, out_w]`,
//! a weight `[out, in, k, k]`, which is already the matrix `[out, patch]`
//! with a column per tap `(channel, kernel row, kernel column)`. A transposed
//! convolution is the same geometry read backwards (its input is this
//! output; see `super::op`).
//!
//! The patch matrix `[patch, positions]` has a row per tap and a column per
//! output position of every image `(image, row, column)`, so that the
//! forward product is `weight x patches = [out, positions]`, the output with
//! its first two axes swapped (`swap_outer`, a copy of whole image rows).

use std::ops::Range;

use crate::cpu::for_each_chunk;

/// The shape of one convolution, as PyTorch's `Conv2d` without bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub in_channels: usize,
    pub height: usize,
    pub width: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

/// A convolution's outputs along an axis of `size` inputs, as PyTorch's
/// `Conv2d` counts them: `(size + 2 padding - kernel) / stride + 1`; `None`
/// where the kernel does not fit.
pub fn conv_output(size: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    (size + 2 * padding).checked_sub(kernel).map(|d| d / stride + 1)
}

/// A transposed convolution's outputs along an axis of `size` inputs (no
/// output padding): `(size - 1) stride + kernel - 2 padding`; `None` where
/// that is not at least one.
pub fn transposed_output(size: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    (size.checked_sub(1)? * stride + kernel).checked_sub(2 * padding).filter(|&n| n > 0)
}

impl Geometry {
    /// Output rows ([`conv_output`]; a geometry is built only where the
    /// kernel fits).
    pub fn out_height(&self) -> usize {
        conv_output(self.height, self.kernel, self.stride, self.padding).unwrap_or(0)
    }

    pub fn out_width(&self) -> usize {
        conv_output(self.width, self.kernel, self.stride, self.padding).unwrap_or(0)
    }

    /// Columns of the patch matrix: every output position of every image.
    pub fn positions(&self) -> usize {
        self.batch * self.out_height() * self.out_width()
    }

    /// Rows of the patch matrix: every tap of the kernel over every channel.
    pub fn patch(&self) -> usize {
        self.kernel * self.kernel * self.in_channels
    }

    /// For kernel tap `tap` along an axis of `size` inputs and `out`
    /// outputs: the outputs whose source `o * stride + tap - padding` lies
    /// inside the input (the others read the padding), and the first's source.
    fn span(&self, tap: usize, size: usize, out: usize) -> (Range<usize>, usize) {
        let (s, p) = (self.stride, self.padding);
        let first = p.saturating_sub(tap).div_ceil(s);
        let end = if size + p > tap { out.min((size + p - tap - 1) / s + 1) } else { 0 };
        let first = first.min(end);
        (first..end, (first * s + tap).saturating_sub(p))
    }

    /// Every kernel tap `(ky, kx)`, numbered `ky * k + kx`, with the output
    /// rows and columns that read the input and the input pixel the first of
    /// them reads.
    fn taps(&self) -> Vec<Tap> {
        let k = self.kernel;
        (0..k * k)
            .map(|tap| {
                let (rows, y0) = self.span(tap / k, self.height, self.out_height());
                let (columns, x0) = self.span(tap % k, self.width, self.out_width());
                Tap { index: tap, rows, columns, source: y0 * self.width + x0 }
            })
            .collect()
    }
}

/// One kernel tap's reach: see [`Geometry::taps`].
struct Tap {
    index: usize,
    rows: Range<usize>,
    columns: Range<usize>,
    source: usize,
}

/// The patch matrix `[patch, positions]` of an input `[batch, in, h, w]`
/// (zeros where a tap reads the padding).
pub fn im2col(x: &[f32], g: &Geometry) -> Vec<f32> {
    let (s, k, width, out_w) = (g.stride, g.kernel, g.width, g.out_width());
    let (plane, image) = (g.height * width, g.out_height() * out_w);
    let taps = g.taps();
    let mut patches = vec![0.0; g.patch() * g.positions()];
    // A channel's k * k rows at a time.
    for_each_chunk(&mut patches, k * k * g.positions(), |c, rows| {
        for (tap, row) in taps.iter().zip(rows.chunks_exact_mut(g.positions())) {
            for (b, outputs) in row.chunks_exact_mut(image).enumerate() {
                let input = &x[(b * g.in_channels + c) * plane..][..plane];
                for (i, oy) in tap.rows.clone().enumerate() {
                    let from = input[tap.source + i * s * width..].iter().step_by(s);
                    let to = &mut outputs[oy * out_w..][tap.columns.clone()];
                    to.iter_mut().zip(from).for_each(|(to, from)| *to = *from);
                }
            }
        }
    });
    patches
}

/// The adjoint of [`im2col`]: every entry of a patch matrix added back to the
/// input position it was read from, `[batch, in, h, w]`.
pub fn col2im(patches: &[f32], g: &Geometry) -> Vec<f32> {
    let (s, k, width, out_w) = (g.stride, g.kernel, g.width, g.out_width());
    let (plane, image) = (g.height * width, g.out_height() * out_w);
    let taps = g.taps();
    // A channel at a time, `[in, batch, h, w]`: each reads its own k * k
    // rows of the patch matrix in order.
    let mut x = vec![0.0; g.batch * g.in_channels * plane];
    for_each_chunk(&mut x, g.batch * plane, |c, planes| {
        for tap in &taps {
            let row = &patches[(c * k * k + tap.index) * g.positions()..][..g.positions()];
            for (input, outputs) in planes.chunks_exact_mut(plane).zip(row.chunks_exact(image)) {
                for (i, oy) in tap.rows.clone().enumerate() {
                    let to = input[tap.source + i * s * width..].iter_mut().step_by(s);
                    to.zip(&outputs[oy * out_w..][tap.columns.clone()]).for_each(|(to, from)| *to += from);
                }
            }
        }
    });
    swap_outer(&x, g.in_channels, g.batch, plane)
}

/// `[a, b, run]` to `[b, a, run]`: swaps the two outer axes, copying whole
/// runs (a map's `[batch, channels, pixels]` and `[channels, batch, pixels]`)
/// in the output's order.
pub fn swap_outer(x: &[f32], a: usize, b: usize, run: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for j in 0..b {
        for i in 0..a {
            out.extend_from_slice(&x[(i * b + j) * run..][..run]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(height: usize, kernel: usize, stride: usize, padding: usize) -> Geometry {
        Geometry { batch: 2, in_channels: 3, height, width: height + 2, out_channels: 4, kernel, stride, padding }
    }

    #[test]
    fn output_sizes_follow_pytorch() {
        let g = geometry(32, 4, 2, 1);
        assert_eq!((g.out_height(), g.out_width()), (16, 17));
        assert_eq!(geometry(4, 4, 1, 0).out_height(), 1);
        assert_eq!(geometry(7, 4, 2, 1).out_height(), 3);
        assert_eq!(conv_output(2, 4, 1, 0), None);
        // The generator's blocks: 1 -> 4, 4 -> 8, 16 -> 32.
        assert_eq!(transposed_output(1, 4, 1, 0), Some(4));
        assert_eq!(transposed_output(4, 4, 2, 1), Some(8));
        assert_eq!(transposed_output(16, 4, 2, 1), Some(32));
        assert_eq!((transposed_output(1, 4, 2, 3), transposed_output(0, 4, 2, 1)), (None, None));
    }

    #[test]
    fn im2col_reads_each_tap_and_zero_padding() {
        let g = Geometry {
            batch: 1,
            in_channels: 1,
            height: 2,
            width: 2,
            out_channels: 1,
            kernel: 2,
            stride: 1,
            padding: 1,
        };
        let patches = im2col(&[1.0, 2.0, 3.0, 4.0], &g);
        assert_eq!(g.positions(), 9);
        // Tap (0, 0) sees input (0, 0) from output (1, 1); tap (1, 1) from output (0, 0).
        assert_eq!(&patches[0..9], &[0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0]);
        assert_eq!(&patches[27..36], &[1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), y> = <x, col2im(y)> for every x, y.
        for g in [geometry(8, 4, 2, 1), geometry(5, 3, 1, 1), geometry(4, 4, 1, 0), geometry(7, 4, 2, 1)] {
            let x: Vec<f32> = (0..g.batch * g.height * g.width * g.in_channels).map(|i| (i % 7) as f32 - 3.0).collect();
            let y: Vec<f32> = (0..g.positions() * g.patch()).map(|i| (i % 5) as f32 - 2.0).collect();
            let left: f32 = im2col(&x, &g).iter().zip(&y).map(|(a, b)| a * b).sum();
            let right: f32 = x.iter().zip(col2im(&y, &g)).map(|(a, b)| a * b).sum();
            assert_eq!(left, right, "{g:?}");
        }
    }

    #[test]
    fn swap_outer_round_trips() {
        let x: Vec<f32> = (0..2 * 3 * 5).map(|i| i as f32).collect();
        let t = swap_outer(&x, 2, 3, 5);
        // [1, 2, 4] of the input is [2, 1, 4] of the output.
        assert_eq!(t[(2 * 2 + 1) * 5 + 4], x[(3 + 2) * 5 + 4]);
        assert_eq!(swap_outer(&t, 3, 2, 5), x);
    }
}
