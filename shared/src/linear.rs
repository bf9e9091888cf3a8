//! The MLP's fully connected layers on burn's CPU backend, forward and
//! backward as one matrix product each, with the bias folded in.
//!
//! burn's `Linear` multiplies with the weight `[in, out]` as `gemm`'s right
//! operand, which `gemm` repacks on every call: for the MLP's batch of 64
//! rows, the weight is by far the larger operand, and repacking it took
//! about a tenth of a step. Here the forward computes `y^T = W^T x^T`, where
//! the weight is the left operand, stored as `gemm` reads it (columns of
//! contiguous values), so that it is read in place; the output starts as the
//! bias and the product is added to it (no separate pass). Everywhere else,
//! burn's `Linear::forward`.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::Linear;
use burn::prelude::*;

use crate::cpu::{Matrix, matmul_add, tensor, values};

/// `layer.forward(x)` for `x: [batch, in]`.
pub fn linear(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    match &layer.bias {
        Some(bias) if x.device() == Device::flex() && x.dtype() == burn::tensor::DType::F32 => {
            Tensor::from_dispatch(<Dispatch as FusedLinear>::fused_linear(
                x.into_dispatch(),
                layer.weight.val().into_dispatch(),
                bias.val().into_dispatch(),
            ))
        }
        _ => layer.forward(x),
    }
}

/// `x W + b` for `x: [batch, in]`, `W: [in, out]`, `b: [out]`.
#[backend_extension(Flex, Autodiff: cfg(feature = "train"))]
pub trait FusedLinear: Backend {
    fn fused_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl FusedLinear for Flex {
    fn fused_linear(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let ([batch, inputs], [_, outputs]) = (x.shape().dims(), weight.shape().dims());
        let (x, weight, bias) = (values(&x), values(&weight), values(&bias));
        let mut y = bias.repeat(batch);
        // y^T [out, batch] (y row-major read by columns) += W^T x^T.
        let (weight_t, x_t) = (Matrix::new(&weight, inputs, outputs).t(), Matrix::new(&x, batch, inputs).t());
        matmul_add(&mut y, (1, outputs), weight_t, x_t);
        tensor(y, [batch, outputs])
    }
}

#[cfg(feature = "train")]
mod autodiff {
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::autodiff::{Autodiff, NodeId};
    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Flex, TensorMetadata};

    use super::FusedLinear;
    use crate::cpu::{Matrix, matmul, tensor, values};

    #[derive(Debug)]
    struct FusedLinearBackward;

    impl Backward<Flex, 3> for FusedLinearBackward {
        /// The checkpointed input and weight.
        type State = (NodeId, NodeId);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
            let [x_node, weight_node, bias_node] = ops.parents;
            let dy = grads.consume::<Flex>(&ops.node);
            let x = checkpointer.retrieve_node_output::<FlexTensor>(ops.state.0);
            let weight = checkpointer.retrieve_node_output::<FlexTensor>(ops.state.1);
            let ([batch, inputs], [_, outputs]) = (x.shape().dims(), weight.shape().dims());
            let dy = values(&dy);
            let dy_matrix = Matrix::new(&dy, batch, outputs);
            if let Some(node) = x_node {
                // dx = dy W^T.
                let weight = values(&weight);
                let dx = matmul(dy_matrix, Matrix::new(&weight, inputs, outputs).t());
                grads.register::<Flex>(node.id, tensor(dx, [batch, inputs]));
            }
            if let Some(node) = weight_node {
                // dW = x^T dy.
                let x = values(&x);
                let dw = matmul(Matrix::new(&x, batch, inputs).t(), dy_matrix);
                grads.register::<Flex>(node.id, tensor(dw, [inputs, outputs]));
            }
            if let Some(node) = bias_node {
                let mut db = vec![0.0; outputs];
                for row in dy.chunks_exact(outputs) {
                    db.iter_mut().zip(row).for_each(|(db, dy)| *db += dy);
                }
                grads.register::<Flex>(node.id, tensor(db, [outputs]));
            }
        }
    }

    impl<C: CheckpointStrategy> FusedLinear for Autodiff<Flex, C> {
        fn fused_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
            match FusedLinearBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
                OpsKind::Tracked(mut prep) => {
                    let state = (prep.checkpoint(&x), prep.checkpoint(&weight));
                    let y = Flex::fused_linear(x.into_primitive(), weight.into_primitive(), bias.into_primitive());
                    prep.finish(state, y)
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(Flex::fused_linear(x.into_primitive(), weight.into_primitive(), bias.into_primitive()))
                }
            }
        }
    }
}
