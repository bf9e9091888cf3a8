//! Our weight files load into the post's PyTorch classes with
//! `load_state_dict(safetensors.torch.load_file(f))`, and `state_dict`s the
//! post's code saves with `safetensors.torch.save_file` load into ours; both
//! sides then compute the same images, checked live against a real PyTorch.
//! Ignored by default (CI has no torch; `pytorch_golden.rs` checks the same
//! against files PyTorch wrote); run them with
//! `cargo test -p mnist-gan-tests --test pytorch_interop -- --ignored`.

use std::path::Path;
use std::process::Command;

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::sigmoid;
use mnist_gan_tests::{peer_script, python_with_torch, read_f32, write_f32};
use shared::weights::{self, Precision};
use shared::{GanTrainer, ModelConfig, ModelKind, Recipe, latent};

const SAMPLES: usize = 6;

fn run(mut python: Command, args: &[&Path]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("pytorch_interop.py");
    let out = python.arg(script).args(args).env("PEER_SCRIPT", peer_script()).output().unwrap();
    assert!(out.status.success(), "python failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

#[test]
#[ignore = "needs python3 with torch: cargo test -p mnist-gan-tests --test pytorch_interop -- --ignored"]
fn our_files_load_into_the_posts_pytorch_classes() {
    let device = Device::flex();
    for kind in [ModelKind::Gan, ModelKind::Pggan] {
        let python = python_with_torch();
        let tmp = tempfile::tempdir().unwrap();
        let p = |name: &str| tmp.path().join(name);
        let config = ModelConfig::post(kind);
        // Two steps on noise images so that BatchNorm statistics are not trivial.
        let mut trainer = GanTrainer::new(&config, Recipe::stable(), 1, &device);
        let side = config.image_size();
        for _ in 0..2 {
            let real = Tensor::<4>::random([8, 1, side, side], Distribution::Uniform(-1.0, 1.0), &device);
            trainer.step(real, latent::to_tensor(latent::noise(2, 8, 100), 100, &device));
        }
        let (g, d) = (trainer.generator.valid(), trainer.discriminator.valid());
        std::fs::write(p("g.safetensors"), weights::save_generator(&g, &config, None, Precision::F32).unwrap())
            .unwrap();
        std::fs::write(p("d.safetensors"), weights::save_discriminator(&d, &config, Precision::F32).unwrap()).unwrap();
        let z = latent::noise(9, SAMPLES, 100);
        write_f32(&p("z.bin"), &z);
        let images = g.generate(latent::to_tensor(z, 100, &device));
        let verdicts = values(sigmoid(d.logits(images.clone())));
        let images = values(images);

        run(
            python,
            &[
                Path::new("load"),
                Path::new(kind.name()),
                &p("g.safetensors"),
                &p("d.safetensors"),
                &p("z.bin"),
                &p("tg.bin"),
                &p("td.bin"),
            ],
        );
        let diff = max_diff(&images, &read_f32(&p("tg.bin")));
        assert!(diff < 1e-4, "{kind}: PyTorch draws different images from our file (max diff {diff})");
        let diff = max_diff(&verdicts, &read_f32(&p("td.bin")));
        assert!(diff < 1e-4, "{kind}: PyTorch's D judges differently with our file (max diff {diff})");
    }
}

#[test]
#[ignore = "needs python3 with torch: cargo test -p mnist-gan-tests --test pytorch_interop -- --ignored"]
fn pytorch_state_dicts_load_into_ours() {
    let device = Device::flex();
    for kind in [ModelKind::Gan, ModelKind::Pggan] {
        let python = python_with_torch();
        let tmp = tempfile::tempdir().unwrap();
        let p = |name: &str| tmp.path().join(name);
        let z = latent::noise(4, SAMPLES, 100);
        write_f32(&p("z.bin"), &z);
        run(python, &[Path::new("save"), Path::new(kind.name()), &p("g.safetensors"), &p("z.bin"), &p("tg.bin")]);

        let bytes = std::fs::read(p("g.safetensors")).unwrap();
        // PyTorch's file has no architecture in its header: name it.
        assert!(matches!(weights::read_info(&bytes), Err(weights::WeightsError::NoMetadata)));
        let g = weights::load_generator_as(&bytes, &ModelConfig::post(kind), &device).unwrap();
        let ours = values(g.generate(latent::to_tensor(z, 100, &device)));
        let diff = max_diff(&ours, &read_f32(&p("tg.bin")));
        assert!(diff < 1e-4, "{kind}: our model draws different images from PyTorch's file (max diff {diff})");
    }
}
