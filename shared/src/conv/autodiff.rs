//! The backward passes of the batched convolutions, following burn-autodiff's
//! own `conv2d`: the forward keeps what the backward reads, and the backward
//! computes the gradient of each input that needs one.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;

use super::lowering::Geometry;
use super::op::{self, BatchedConv};

/// What the weight gradient reads, besides the output's gradient.
#[derive(Clone, Debug)]
enum Kept {
    /// A convolution: the patch matrix of its input, built by the forward
    /// pass (the weight gradient would otherwise build it again).
    Patches(FlexTensor),
    /// A transposed convolution: its input (checkpointed).
    Input(NodeId),
}

#[derive(Debug)]
struct BatchedConvBackward;

impl Backward<Flex, 2> for BatchedConvBackward {
    /// The checkpointed weight, what the weight gradient reads, the geometry.
    type State = (NodeId, Kept, Geometry);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [x_node, weight_node] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (weight_state, kept, g) = ops.state;
        let weight = checkpointer.retrieve_node_output::<FlexTensor>(weight_state);
        let (x_grad, weight_grad) = match kept {
            Kept::Patches(patches) => (
                x_node.as_ref().map(|_| op::input_grad(dy.clone(), weight, &g)),
                weight_node.as_ref().map(|_| op::weight_grad_from_patches(patches, dy, &g)),
            ),
            // The transposed convolution's input is the convolution's output.
            Kept::Input(x_state) => {
                let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
                (
                    x_node.as_ref().map(|_| op::forward(dy.clone(), weight, &g)),
                    weight_node.as_ref().map(|_| op::weight_grad(dy, x, &g)),
                )
            }
        };
        for (node, grad) in [(x_node, x_grad), (weight_node, weight_grad)] {
            if let (Some(node), Some(grad)) = (node, grad) {
                grads.register::<Flex>(node.id, grad);
            }
        }
    }
}

impl<C: CheckpointStrategy> BatchedConv for Autodiff<Flex, C> {
    fn batched_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let g = op::conv2d_geometry(x.primitive(), weight.primitive(), stride, padding);
        match BatchedConvBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let patches = op::patches(x.primitive(), &g);
                let state = (prep.checkpoint(&weight), Kept::Patches(patches.clone()), g);
                prep.finish(state, op::forward_from_patches(patches, weight.into_primitive(), &g))
            }
            OpsKind::UnTracked(prep) => prep.finish(op::forward(x.into_primitive(), weight.into_primitive(), &g)),
        }
    }

    fn batched_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let g = op::conv_transpose2d_geometry(x.primitive(), weight.primitive(), stride, padding);
        match BatchedConvBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&weight), Kept::Input(prep.checkpoint(&x)), g);
                prep.finish(state, op::input_grad(x.into_primitive(), weight.into_primitive(), &g))
            }
            OpsKind::UnTracked(prep) => prep.finish(op::input_grad(x.into_primitive(), weight.into_primitive(), &g)),
        }
    }
}
