//! The fused training BatchNorm, alone and with a rectifier folded in,
//! against burn's BatchNorm (then burn's rectifier): output, the gradients to
//! the input, gamma and beta, and the running statistics it moves, within
//! 1e-4 of the largest value of each, on the shapes the conv models use and
//! runs that do not fill the vector lanes.

mod common;

use common::{close, values};
use shared::activation::Rectifier;
use shared::burn::module::Param;
use shared::burn::nn::{BatchNorm, BatchNormConfig};
use shared::burn::prelude::*;
use shared::burn::tensor::Distribution;
use shared::burn::tensor::activation::{leaky_relu, relu};
use shared::norm::{batch_norm, batch_norm_then};

#[test]
fn fused_batch_norm_trains_as_burns() {
    let device = Device::flex().autodiff();
    device.seed(11);
    let rectifiers = [None, Some(Rectifier::Relu), Some(Rectifier::Leaky(0.2))];
    let shapes = [[3, 512, 4, 4], [3, 256, 8, 8], [2, 128, 16, 16], [5, 3, 2, 3], [4, 2, 5, 7]];
    for (shape, then) in shapes.into_iter().flat_map(|shape| rectifiers.map(|then| (shape, then))) {
        let name = format!("{shape:?} then {then:?}");
        // Gamma and beta away from 1 and 0, so that their roles show; two
        // layers with their own running statistics (a clone would share them).
        let gamma = Tensor::<1>::random([shape[1]], Distribution::Normal(1.0, 0.5), &device);
        let beta = Tensor::<1>::random([shape[1]], Distribution::Normal(0.0, 0.5), &device);
        let layer = || BatchNorm {
            gamma: Param::from_tensor(gamma.clone()),
            beta: Param::from_tensor(beta.clone()),
            ..BatchNormConfig::new(shape[1]).init(&device)
        };
        let (ours_bn, theirs_bn) = (layer(), layer());
        let x = (Tensor::<4>::random(shape, Distribution::Normal(0.5, 2.0), &device)).require_grad();
        let upstream = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let (ours, theirs) = match then {
            None => (batch_norm(&ours_bn, x.clone()), theirs_bn.forward(x.clone())),
            Some(rectifier) => {
                let theirs = theirs_bn.forward(x.clone());
                let theirs = match rectifier {
                    Rectifier::Relu => relu(theirs),
                    Rectifier::Leaky(slope) => leaky_relu(theirs, slope),
                };
                (batch_norm_then(&ours_bn, x.clone(), rectifier), theirs)
            }
        };
        let grads_ours = (ours.clone() * upstream.clone()).sum().backward();
        let grads_theirs = (theirs.clone() * upstream).sum().backward();
        close(&format!("{name} output"), values(ours.inner()), values(theirs.inner()));
        close(
            &format!("{name} input gradient"),
            values(x.grad(&grads_ours).unwrap()),
            values(x.grad(&grads_theirs).unwrap()),
        );
        let param_grad = |bn: &BatchNorm, grads| {
            (values(bn.gamma.val().grad(grads).unwrap()), values(bn.beta.val().grad(grads).unwrap()))
        };
        let (g_ours, b_ours) = param_grad(&ours_bn, &grads_ours);
        let (g_theirs, b_theirs) = param_grad(&theirs_bn, &grads_theirs);
        close(&format!("{name} gamma gradient"), g_ours, g_theirs);
        close(&format!("{name} beta gradient"), b_ours, b_theirs);
        let running = |bn: &BatchNorm| (values(bn.running_mean.value_sync()), values(bn.running_var.value_sync()));
        let ((mean_ours, var_ours), (mean_theirs, var_theirs)) = (running(&ours_bn), running(&theirs_bn));
        assert!(mean_theirs.iter().any(|m| m.abs() > 0.01), "{name}: the running mean moved");
        close(&format!("{name} running mean"), mean_ours, mean_theirs);
        close(&format!("{name} running variance"), var_ours, var_theirs);
    }
}
