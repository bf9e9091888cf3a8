//! The small MNIST classifier whose features FID and the Inception Score are
//! computed on. A trained copy ships inside the binary (`assets/`), so that
//! every run and machine measures with the same network: FIDs from different
//! feature extractors are not comparable. `trainer classifier` retrains it.

use anyhow::{Context, bail};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::activation::{relu, softmax};
use shared::latent;
use shared::mnist::{Dataset, SIDE};

/// Width of the penultimate layer: the features FID compares.
pub const FEATURES: usize = 128;
pub const CLASSES: usize = 10;

/// The reference classifier, trained by `trainer classifier` (seed 0).
const REFERENCE: &[u8] = include_bytes!("../../assets/classifier.safetensors");

/// `conv3x3(32) ReLU maxpool conv3x3(64) ReLU maxpool Linear(3136, 128) ReLU Linear(128, 10)`.
#[derive(Module, Debug)]
pub struct Classifier {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    features: Linear,
    head: Linear,
}

impl Classifier {
    pub fn new(device: &Device) -> Self {
        let conv = |c_in, c_out| {
            Conv2dConfig::new([c_in, c_out], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device)
        };
        Self {
            conv1: conv(1, 32),
            conv2: conv(32, 64),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            features: LinearConfig::new(64 * (SIDE / 4) * (SIDE / 4), FEATURES).init(device),
            head: LinearConfig::new(FEATURES, CLASSES).init(device),
        }
    }

    /// The shipped reference network, on `device`.
    pub fn reference(device: &Device) -> Self {
        Self::from_bytes(REFERENCE, device).expect("the classifier built into the trainer loads")
    }

    /// Images `[b, 1, 28, 28]` in `[-1, 1]` to penultimate features `[b, 128]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv1.forward(images)));
        let x = self.pool.forward(relu(self.conv2.forward(x)));
        relu(self.features.forward(x.flatten(1, 3)))
    }

    /// Features to class logits `[b, 10]`.
    pub fn logits(&self, features: Tensor<2>) -> Tensor<2> {
        self.head.forward(features)
    }

    pub fn to_bytes(&self) -> anyhow::Result<Vec<u8>> {
        let mut store = SafetensorsStore::from_bytes(None);
        self.save_into(&mut store).map_err(|e| anyhow::anyhow!("saving the classifier: {e}"))?;
        store.get_bytes().map_err(|e| anyhow::anyhow!("saving the classifier: {e}"))
    }

    pub fn from_bytes(bytes: &[u8], device: &Device) -> anyhow::Result<Self> {
        let mut classifier = Self::new(device);
        let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()));
        let result = classifier.load_from(&mut store).map_err(|e| anyhow::anyhow!("not a classifier file: {e}"))?;
        if !result.errors.is_empty() || !result.missing.is_empty() {
            bail!("not a classifier file: {:?} {:?}", result.errors, result.missing);
        }
        Ok(classifier)
    }
}

/// Features and class probabilities of `images` (`[n, 1, 28, 28]`), in batches.
pub fn features_and_probs(classifier: &Classifier, images: Tensor<4>) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    const BATCH: usize = 1000;
    let n = images.dims()[0];
    let (mut features, mut probs) = (Vec::with_capacity(n * FEATURES), Vec::with_capacity(n * CLASSES));
    for start in (0..n).step_by(BATCH) {
        let f = classifier.features(images.clone().slice(start..(start + BATCH).min(n)));
        let p = softmax(classifier.logits(f.clone()), 1);
        let read = |t: Tensor<2>| t.into_data().try_into_vec_as::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"));
        features.extend(read(f)?);
        probs.extend(read(p)?);
    }
    Ok((features, probs))
}

/// Index of the largest probability of each row.
pub fn predictions(probs: &[f32]) -> Vec<u8> {
    probs
        .chunks_exact(CLASSES)
        .map(|row| {
            row.iter().enumerate().fold((0, f32::MIN), |best, (i, &p)| if p > best.1 { (i, p) } else { best }).0 as u8
        })
        .collect()
}

/// Share of `labels` predicted right.
pub fn accuracy(classifier: &Classifier, data: &Dataset, device: &Device) -> anyhow::Result<f64> {
    let (_, probs) = features_and_probs(classifier, data.images.to_tensor(SIDE, device))?;
    Ok(share_right(&probs, &data.labels))
}

/// Share of `labels` whose class gets the largest of `probs`.
pub fn share_right(probs: &[f32], labels: &[u8]) -> f64 {
    let right = predictions(probs).iter().zip(labels).filter(|(p, l)| p == l).count();
    right as f64 / labels.len() as f64
}

/// Trains `start` (a fresh classifier when `None`) with Adam at `lr`, batches
/// of 128, `steps` steps over shuffled training images (seeded).
pub fn train(
    train: &Dataset,
    start: Option<Classifier>,
    steps: usize,
    lr: f64,
    seed: u64,
    device: &Device,
    mut on_step: impl FnMut(usize, f32),
) -> anyhow::Result<Classifier> {
    let device = device.clone().autodiff();
    const BATCH: usize = 128;
    let n = train.labels.len();
    let images = train.images.at_side(SIDE);
    let labels = Tensor::<1, Int>::from_data(
        TensorData::new(train.labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [n]),
        &device,
    );
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut optimizer = AdamConfig::new().init();
    let mut classifier = match start {
        Some(c) => Classifier::from_bytes(&c.to_bytes()?, &device)?,
        None => Classifier::new(&device),
    };
    let per_epoch = n / BATCH;
    let mut order = Vec::new();
    for step in 0..steps {
        if step % per_epoch == 0 {
            order = latent::epoch_order(seed, step / per_epoch, n);
        }
        let batch = &order[(step % per_epoch) * BATCH..][..BATCH];
        let index = Tensor::<1, Int>::from_data(TensorData::new(batch.to_vec(), [BATCH]), &device);
        let logits = classifier.logits(classifier.features(images.rows(batch, &device)));
        let loss = loss_fn.forward(logits, labels.clone().select(0, index));
        let grads = GradientsParams::from_grads(loss.backward(), &classifier);
        classifier = optimizer.step(lr, classifier, grads);
        if step % 50 == 0 || step + 1 == steps {
            let value = loss.into_scalar::<f32>();
            on_step(step, value);
        }
    }
    Ok(classifier.valid())
}

/// The classifier in a file written by `trainer classifier`.
pub fn load(path: &std::path::Path, device: &Device) -> anyhow::Result<Classifier> {
    let bytes = crate::files::read(path)?;
    Classifier::from_bytes(&bytes, device).with_context(|| format!("reading {}", path.display()))
}
