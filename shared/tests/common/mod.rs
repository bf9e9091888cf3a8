//! Helpers for the shared crate's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use shared::burn::prelude::*;
use shared::mnist::{Dataset, Split};

/// The verified MNIST copy: `$MNIST_DIR`, else `../shared/mnist` beside the repository.
pub fn mnist_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MNIST_DIR") {
        return dir.into();
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/mnist");
    assert!(dir.is_dir(), "MNIST not found: set MNIST_DIR to the folder with the four .gz files");
    dir
}

pub fn read(split: Split) -> (Vec<u8>, Vec<u8>) {
    let dir = mnist_dir();
    let images = std::fs::read(dir.join(split.images_file())).unwrap();
    let labels = std::fs::read(dir.join(split.labels_file())).unwrap();
    (images, labels)
}

pub fn test_set() -> Dataset {
    let (images, labels) = read(Split::Test);
    Dataset::decode_split(Split::Test, &images, &labels).unwrap()
}

pub fn device() -> Device {
    Device::flex()
}

/// The first `count` test images at `side` px as a tensor on `device`.
pub fn real_batch(count: usize, side: usize, device: &Device) -> Tensor<4> {
    test_set().images.take(count).to_tensor(side, device)
}

/// All values of a float tensor.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

/// Fails unless every value of `ours` is within 1e-4 of the largest in
/// `theirs` (a reference computed another way) from its counterpart.
pub fn close(what: &str, ours: Vec<f32>, theirs: Vec<f32>) {
    assert_eq!(ours.len(), theirs.len(), "{what}: sizes");
    let largest = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = ours.iter().zip(&theirs).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(worst <= 1e-4 * largest, "{what}: differs by {worst}, 1e-4 of the largest value {largest} allowed");
}
