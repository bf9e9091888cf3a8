//! The PyTorch interoperability checks without PyTorch: golden files that
//! `tests/golden/make.py` wrote with the post's own classes from the shipped
//! weights (see that script). Runs everywhere, CI included; the live checks
//! against a real PyTorch are in `pytorch_interop.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use burn::tensor::f16;
use mnist_gan_tests::read_f32;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::weights;
use shared::{ModelConfig, ModelKind, latent};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn golden(name: &str) -> PathBuf {
    repository().join("tests/golden").join(name)
}

/// The shipped file, after checking it is the one the golden files came from.
fn shipped(name: &str) -> Vec<u8> {
    let path = format!("web/weights/{name}.safetensors");
    let bytes = std::fs::read(repository().join(&path)).unwrap();
    let hash = format!("{:x}", Sha256::digest(&bytes));
    let sources = std::fs::read_to_string(golden("sources.txt")).unwrap();
    assert!(
        sources.lines().any(|line| line == format!("{hash}  {path}")),
        "{path} changed since the golden files were made: run python3 tests/golden/make.py (needs torch)"
    );
    bytes
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

/// `g` drawn on the golden latents, against PyTorch's drawing.
fn draws_like_pytorch(kind: ModelKind, g: &shared::Generator, what: &str) {
    let device = Device::flex();
    let z = read_f32(&golden("z.bin"));
    let ours = values(g.generate(latent::to_tensor(z, 100, &device)));
    let diff = max_diff(&ours, &read_f32(&golden(&format!("{kind}-images.bin"))));
    assert!(diff < 1e-4, "{kind}: {what}: our images differ from PyTorch's by up to {diff}");
}

#[test]
fn pytorch_draws_from_our_files_what_we_draw() {
    let device = Device::flex();
    for kind in [ModelKind::Gan, ModelKind::Pggan] {
        let g = weights::load_generator(&shipped(kind.name()), Some(kind), &device).unwrap().0;
        draws_like_pytorch(kind, &g, "the shipped file in the post's class");
    }
    // The GAN's discriminator judges PyTorch's images as the post's class does.
    let d = weights::load_discriminator(&shipped("gan-discriminator"), Some(ModelKind::Gan), &device).unwrap().0;
    let images = read_f32(&golden("gan-images.bin"));
    let images = Tensor::<4>::from_data(TensorData::new(images, [6, 1, 28, 28]), &device);
    let diff = max_diff(&values(sigmoid(d.logits(images))), &read_f32(&golden("gan-verdicts.bin")));
    assert!(diff < 1e-4, "gan: our discriminator's verdicts differ from PyTorch's by up to {diff}");
}

/// The bytes `safetensors.torch.save_file(g.state_dict())` wrote for the
/// shipped generator: PyTorch's recorded header (names, dtypes, shapes,
/// offsets) over the shipped values, widened to the header's dtypes.
fn pytorch_file(kind: ModelKind) -> Vec<u8> {
    let ours_bytes = shipped(kind.name());
    let ours = SafeTensors::deserialize(&ours_bytes).unwrap();
    let recorded: Value =
        serde_json::from_str(&std::fs::read_to_string(golden(&format!("{kind}-pytorch-header.json"))).unwrap())
            .unwrap();
    let header: BTreeMap<String, Value> = serde_json::from_value(recorded["header"].clone()).unwrap();
    let mut data = Vec::new();
    for (name, entry) in &header {
        let [start, end] = [0, 1].map(|i| entry["data_offsets"][i].as_u64().unwrap() as usize);
        let bytes: Vec<u8> = if let Some(count) = recorded["num_batches_tracked"][name].as_i64() {
            // PyTorch's own bookkeeping, which our files leave out.
            count.to_le_bytes().to_vec()
        } else {
            let view = ours.tensor(name).unwrap_or_else(|_| panic!("{kind}: PyTorch's {name} is not in our file"));
            match (entry["dtype"].as_str().unwrap(), view.dtype()) {
                ("F32", Dtype::F16) => view
                    .data()
                    .chunks_exact(2)
                    .flat_map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32().to_le_bytes())
                    .collect(),
                ("F32", Dtype::F32) => view.data().to_vec(),
                (theirs, ours) => panic!("{kind}: {name} is {theirs} in PyTorch's file and {ours:?} in ours"),
            }
        };
        assert_eq!(bytes.len(), end - start, "{kind}: {name}'s size");
        data.resize(data.len().max(end), 0);
        data[start..end].copy_from_slice(&bytes);
    }
    let mut json = serde_json::to_vec(&header).unwrap();
    json.resize(json.len().next_multiple_of(8), b' ');
    [&(json.len() as u64).to_le_bytes()[..], &json, &data].concat()
}

#[test]
fn pytorch_written_files_load_into_ours() {
    let device = Device::flex();
    for kind in [ModelKind::Gan, ModelKind::Pggan] {
        let bytes = pytorch_file(kind);
        // PyTorch's file has no architecture in its header: name it.
        assert!(matches!(weights::read_info(&bytes), Err(weights::WeightsError::NoMetadata)));
        let g = weights::load_generator_as(&bytes, &ModelConfig::post(kind), &device).unwrap();
        draws_like_pytorch(kind, &g, "PyTorch's file");
    }
}
