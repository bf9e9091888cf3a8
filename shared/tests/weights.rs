//! The weights format: bitwise round trips, the PyTorch name/shape contract,
//! and clear refusals of files that do not fit.

mod common;

use std::collections::BTreeMap;

use common::{device, real_batch, values};
use safetensors::SafeTensors;
use shared::burn::prelude::*;
use shared::models::Generator;
use shared::weights::{self, Precision, Role, WeightsError};
use shared::{GanTrainer, ModelConfig, ModelKind, PgganConfig, Recipe, latent};

/// name -> (shape, dtype, bytes) of every tensor in a file.
fn tensors(bytes: &[u8]) -> BTreeMap<String, (Vec<usize>, String, Vec<u8>)> {
    SafeTensors::deserialize(bytes)
        .unwrap()
        .tensors()
        .into_iter()
        .map(|(name, t)| (name, (t.shape().to_vec(), format!("{:?}", t.dtype()), t.data().to_vec())))
        .collect()
}

/// A trainer after one step, so BatchNorm running statistics are not trivial.
fn trained(kind: ModelKind) -> GanTrainer {
    let device = device();
    let config = ModelConfig::post(kind);
    let mut trainer = GanTrainer::new(&config, Recipe::stable(), 3, &device);
    let z = latent::to_tensor(latent::noise(0, 8, 100), 100, &device);
    trainer.step(real_batch(8, config.image_size(), &device), z);
    trainer
}

#[test]
fn weights_round_trip_bitwise() {
    let device = device();
    for kind in [ModelKind::Gan, ModelKind::Pggan] {
        let config = ModelConfig::post(kind);
        let trainer = trained(kind);
        let g = trainer.generator.valid();
        let bytes = weights::save_generator(&g, &config, None, Precision::F32).unwrap();
        let (loaded, info) = weights::load_generator(&bytes, Some(kind), &device).unwrap();
        assert_eq!(info.model, config);
        assert_eq!(info.role, Role::Generator);
        let again = weights::save_generator(&loaded, &config, None, Precision::F32).unwrap();
        assert_eq!(tensors(&bytes), tensors(&again), "{kind}: generator changed in a round trip");
        let z = latent::to_tensor(latent::noise(5, 4, 100), 100, &device);
        assert_eq!(values(g.generate(z.clone())), values(loaded.generate(z)), "{kind}: outputs differ");

        let d = trainer.discriminator.valid();
        let bytes = weights::save_discriminator(&d, &config, Precision::F32).unwrap();
        let (loaded, _) = weights::load_discriminator(&bytes, Some(kind), &device).unwrap();
        let again = weights::save_discriminator(&loaded, &config, Precision::F32).unwrap();
        assert_eq!(tensors(&bytes), tensors(&again), "{kind}: discriminator changed in a round trip");
    }
}

/// Fine-tuning (the page's "from the shipped weights"): a pair loaded onto an
/// autodiff device trains, every one of its weights.
#[test]
fn weights_loaded_for_training_train() {
    let device = device().autodiff();
    for kind in [ModelKind::Gan, ModelKind::Pggan] {
        let config = ModelConfig::post(kind);
        let trainer = trained(kind);
        let g = weights::save_generator(&trainer.generator.valid(), &config, None, Precision::F16).unwrap();
        let d = weights::save_discriminator(&trainer.discriminator.valid(), &config, Precision::F16).unwrap();
        let (g, _) = weights::load_generator(&g, Some(kind), &device).unwrap();
        let (d, _) = weights::load_discriminator(&d, Some(kind), &device).unwrap();
        let before = weights::save_generator(&g.valid(), &config, None, Precision::F32).unwrap();
        let mut tuned = GanTrainer::from_models(g, d, Recipe::stable());
        let z = latent::to_tensor(latent::noise(1, 8, 100), 100, &device);
        tuned.step(real_batch(8, config.image_size(), &device), z);
        let after = weights::save_generator(&tuned.generator.valid(), &config, None, Precision::F32).unwrap();
        let (before, after) = (tensors(&before), tensors(&after));
        for (name, (_, _, bytes)) in &before {
            if !name.contains("running_") {
                assert_ne!(bytes, &after[name].2, "{kind}: {name} did not train");
            }
        }
    }
}

#[test]
fn the_discriminator_is_exported_beside_its_generator() {
    assert_eq!(weights::discriminator_file_name("gan.safetensors"), "gan-discriminator.safetensors");
    assert_eq!(weights::discriminator_file_name("my-run"), "my-run-discriminator.safetensors");
}

#[test]
fn saving_after_an_async_read_back_gives_the_same_file() {
    let device = device();
    for kind in [ModelKind::Gan, ModelKind::Pggan] {
        let config = ModelConfig::post(kind);
        let g = trained(kind).generator.valid();
        let facts = None;
        let direct = weights::save_generator(&g, &config, facts.clone(), Precision::F16).unwrap();
        let read_back =
            pollster::block_on(weights::save_generator_async(&g, &config, facts, Precision::F16, &device)).unwrap();
        assert_eq!(tensors(&direct), tensors(&read_back), "{kind}: the async copy changed the weights");
        // The BatchNorm statistics a step changed are in both, and not the init's.
        let fresh = weights::save_generator(&config.init_generator(&device), &config, None, Precision::F16).unwrap();
        assert_ne!(tensors(&fresh), tensors(&read_back));
    }
}

fn shapes(bytes: &[u8]) -> BTreeMap<String, Vec<usize>> {
    tensors(bytes).into_iter().map(|(k, (shape, _, _))| (k, shape)).collect()
}

fn expect(pairs: &[(&str, &[usize])]) -> BTreeMap<String, Vec<usize>> {
    pairs.iter().map(|(k, s)| (k.to_string(), s.to_vec())).collect()
}

#[test]
fn files_use_the_names_and_layouts_of_the_posts_state_dict() {
    let gan = trained(ModelKind::Gan);
    let config = ModelConfig::post(ModelKind::Gan);
    let g = weights::save_generator(&gan.generator.valid(), &config, None, Precision::F32).unwrap();
    assert_eq!(
        shapes(&g),
        expect(&[
            ("model.0.weight", &[256, 100]),
            ("model.0.bias", &[256]),
            ("model.2.weight", &[512, 256]),
            ("model.2.bias", &[512]),
            ("model.4.weight", &[1024, 512]),
            ("model.4.bias", &[1024]),
            ("model.6.weight", &[784, 1024]),
            ("model.6.bias", &[784]),
        ])
    );
    // Linear weights are stored [out, in]: transposed from burn's [in, out].
    let Generator::Gan(inner) = gan.generator.valid() else { unreachable!() };
    let ours = values(inner.layers[0].weight.val()); // [100, 256]
    let (_, _, stored) = &tensors(&g)["model.0.weight"];
    let stored: Vec<f32> = stored.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    assert_eq!(stored[1], ours[256], "file[0][1] is burn's [1][0]");
    assert_eq!(stored[100], ours[1], "file[1][0] is burn's [0][1]");

    let d = weights::save_discriminator(&gan.discriminator.valid(), &config, Precision::F32).unwrap();
    assert_eq!(
        shapes(&d),
        expect(&[
            ("model.1.weight", &[1024, 784]),
            ("model.1.bias", &[1024]),
            ("model.3.weight", &[512, 1024]),
            ("model.3.bias", &[512]),
            ("model.5.weight", &[1, 512]),
            ("model.5.bias", &[1]),
        ])
    );

    let pg = trained(ModelKind::Pggan);
    let config = ModelConfig::post(ModelKind::Pggan);
    let g = weights::save_generator(&pg.generator.valid(), &config, None, Precision::F32).unwrap();
    let bn = |i: usize, n: usize| {
        ["weight", "bias", "running_mean", "running_var"].map(|p| (format!("layers.{i}.1.{p}"), vec![n]))
    };
    let mut want: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, shape) in [[100, 512, 4, 4], [512, 256, 4, 4], [256, 128, 4, 4], [128, 1, 4, 4]].iter().enumerate() {
        want.insert(format!("layers.{i}.0.weight"), shape.to_vec());
    }
    for (i, n) in [(0, 512), (1, 256), (2, 128)] {
        want.extend(bn(i, n));
    }
    assert_eq!(shapes(&g), want);

    let d = weights::save_discriminator(&pg.discriminator.valid(), &config, Precision::F32).unwrap();
    let mut want: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, shape) in [[128, 1, 4, 4], [256, 128, 4, 4], [512, 256, 4, 4], [1, 512, 4, 4]].iter().enumerate() {
        want.insert(format!("layers.{i}.0.weight"), shape.to_vec());
    }
    for (i, n) in [(0, 128), (1, 256), (2, 512)] {
        want.extend(bn(i, n));
    }
    assert_eq!(shapes(&d), want);

    // The architecture travels in the header.
    let info = weights::read_info(&g).unwrap();
    assert_eq!(info.model, config);
}

#[test]
fn half_precision_halves_the_size_and_keeps_the_digits() {
    let device = device();
    let config = ModelConfig::post(ModelKind::Gan);
    let g = trained(ModelKind::Gan).generator.valid();
    let full = weights::save_generator(&g, &config, None, Precision::F32).unwrap();
    let half = weights::save_generator(&g, &config, None, Precision::F16).unwrap();
    assert!(half.len() < full.len() * 52 / 100, "{} vs {}", half.len(), full.len());
    assert!(tensors(&half).values().all(|(_, dtype, _)| dtype == "F16"));
    let (loaded, _) = weights::load_generator(&half, None, &device).unwrap();
    let z = latent::to_tensor(latent::noise(2, 8, 100), 100, &device);
    let (a, b) = (values(g.generate(z.clone())), values(loaded.generate(z)));
    let max_diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    assert!(max_diff < 1e-2, "f16 weights changed pixels by {max_diff}");
}

/// Rewrites a file keeping the tensors `keep` accepts, with `metadata`.
fn rewrite(
    bytes: &[u8],
    keep: impl Fn(&str) -> bool,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView)> =
        st.tensors().into_iter().filter(|(name, _)| keep(name)).collect();
    safetensors::serialize(kept, metadata).unwrap()
}

#[test]
fn files_that_do_not_fit_are_refused_with_what_is_wrong() {
    let device = device();
    let gan = trained(ModelKind::Gan);
    let gan_config = ModelConfig::post(ModelKind::Gan);
    let g = weights::save_generator(&gan.generator.valid(), &gan_config, None, Precision::F32).unwrap();
    let d = weights::save_discriminator(&gan.discriminator.valid(), &gan_config, Precision::F32).unwrap();

    let err = weights::load_generator(&d, None, &device).unwrap_err();
    assert!(matches!(err, WeightsError::WrongModel { found_role: Role::Discriminator, .. }), "{err}");
    assert_eq!(err.to_string(), "this file holds a gan discriminator, expected a gan generator");

    let err = weights::load_generator(&g, Some(ModelKind::Pggan), &device).unwrap_err();
    assert_eq!(err.to_string(), "this file holds a gan generator, expected a pggan generator");

    // The GAN's file forced into the conv architecture: nothing matches.
    let pggan = ModelConfig::post(ModelKind::Pggan);
    let err = weights::load_generator_as(&g, &pggan, &device).unwrap_err();
    assert!(matches!(err, WeightsError::Missing { .. }), "{err}");

    let info = Some(weights::read_info(&g).unwrap())
        .map(|i| [(weights::METADATA_KEY.to_string(), serde_json::to_string(&i).unwrap())].into_iter().collect());
    let missing = rewrite(&g, |n| n != "model.4.bias", info.clone());
    let err = weights::load_generator(&missing, None, &device).unwrap_err();
    assert!(matches!(&err, WeightsError::Missing { missing, .. } if missing.len() == 1), "{err}");
    assert!(err.to_string().contains("model.4.bias"), "names the missing tensor: {err}");

    // A file for a smaller latent has the wrong shape for the post's model.
    let small = ModelConfig::Gan(shared::GanConfig { latent_dim: 64, ..Default::default() });
    let (g64, _) = small.init(shared::InitScheme::Dcgan, 0, &device);
    let g64 = weights::save_generator(&g64, &small, None, Precision::F32).unwrap();
    let err = weights::load_generator_as(&g64, &gan_config, &device).unwrap_err();
    assert!(matches!(err, WeightsError::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains("[64, 256]") || err.to_string().contains("64"), "{err}");

    let no_header = rewrite(&g, |_| true, None);
    assert!(matches!(weights::load_generator(&no_header, None, &device), Err(WeightsError::NoMetadata)));
    // ...but it loads once the architecture is named, as a PyTorch save does.
    weights::load_generator_as(&no_header, &gan_config, &device).unwrap();

    let err = weights::load_generator(b"definitely not safetensors", None, &device).unwrap_err();
    assert!(matches!(err, WeightsError::Format(_)), "{err}");

    let bad_meta = rewrite(&g, |_| true, Some([(weights::METADATA_KEY.to_string(), "{\"role\":1}".into())].into()));
    assert!(matches!(weights::read_info(&bad_meta), Err(WeightsError::Metadata(_))));

    let empty = ModelConfig::Pggan(PgganConfig { latent_dim: 100, channels: vec![], ..Default::default() });
    let weird = rewrite(
        &g,
        |_| true,
        Some(
            [(
                weights::METADATA_KEY.to_string(),
                serde_json::to_string(&weights::WeightsInfo::new(Role::Generator, empty, None)).unwrap(),
            )]
            .into(),
        ),
    );
    assert!(matches!(weights::read_info(&weird), Err(WeightsError::Architecture(_))));
}

#[test]
fn checking_a_file_without_building_refuses_what_loading_refuses() {
    let device = device();
    let gan = trained(ModelKind::Gan);
    let config = ModelConfig::post(ModelKind::Gan);
    let g = weights::save_generator(&gan.generator.valid(), &config, None, Precision::F16).unwrap();
    let d = weights::save_discriminator(&gan.discriminator.valid(), &config, Precision::F32).unwrap();
    let info = Some(weights::read_info(&g).unwrap())
        .map(|i| [(weights::METADATA_KEY.to_string(), serde_json::to_string(&i).unwrap())].into_iter().collect());
    let missing = rewrite(&g, |n| n != "model.4.bias", info);
    let hostile = tiny_file_claiming(ModelConfig::Gan(shared::GanConfig {
        generator_hidden: vec![4_000_000_000],
        ..Default::default()
    }));
    for (bytes, kind) in [
        (&d, None),
        (&g, Some(ModelKind::Pggan)),
        (&missing, None),
        (&b"not safetensors".to_vec(), None),
        (&hostile, None),
    ] {
        let loaded = weights::load_generator(bytes, kind, &device).unwrap_err().to_string();
        assert_eq!(weights::check_generator(bytes, kind).unwrap_err().to_string(), loaded);
    }
    assert_eq!(weights::check_generator(&g, Some(ModelKind::Gan)).unwrap(), weights::read_info(&g).unwrap());
    let pggan = ModelConfig::post(ModelKind::Pggan);
    assert_eq!(
        weights::check_generator_as(&g, &pggan).unwrap_err().to_string(),
        weights::load_generator_as(&g, &pggan, &device).unwrap_err().to_string()
    );
    weights::check_generator_as(&g, &config).unwrap();
}

/// A file of a few hundred bytes whose header claims `model`.
fn tiny_file_claiming(model: ModelConfig) -> Vec<u8> {
    let info = serde_json::to_string(&weights::WeightsInfo::new(Role::Generator, model, None)).unwrap();
    let data = vec![0u8; 16];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 2], &data).unwrap();
    safetensors::serialize([("model.0.weight", view)], Some([(weights::METADATA_KEY.to_string(), info)].into()))
        .unwrap()
}

#[test]
fn hostile_headers_are_refused_before_any_model_is_built() {
    let device = device();
    let gan =
        |hidden: Vec<usize>| ModelConfig::Gan(shared::GanConfig { generator_hidden: hidden, ..Default::default() });
    let conv =
        |channels: Vec<usize>| ModelConfig::Pggan(PgganConfig { latent_dim: 100, channels, ..Default::default() });
    // Each of these would need terabytes (or overflow) if it were built.
    let cases = [
        (gan(vec![4_000_000_000]), "generator_hidden"),
        (gan(vec![usize::MAX]), "generator_hidden"),
        (conv(vec![2_000_000_000]), "channels"),
        (conv(vec![512; 40]), "channels"),
        (gan(vec![16_000, 16_000, 16_000]), "parameters"),
    ];
    for (model, named) in cases {
        let err = weights::load_generator(&tiny_file_claiming(model.clone()), None, &device).unwrap_err();
        assert!(matches!(err, WeightsError::Architecture(_)), "{model:?}: {err}");
        assert!(err.to_string().contains(named), "{model:?}: the message names {named}: {err}");
    }
    // Within the limits, but the file does not hold that model's tensors:
    // refused from the file's table of tensors, before the model is built.
    let big = gan(vec![4096, 4096]);
    big.validate().unwrap();
    let err = weights::load_generator(&tiny_file_claiming(big), None, &device).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Mismatch { problems, .. } if problems[0].contains("model.0.weight has shape [2, 2], expected [4096, 100]")),
        "{err}"
    );
}

#[test]
fn the_expected_tensors_are_those_a_saved_file_holds() {
    for kind in [ModelKind::Gan, ModelKind::Pggan] {
        let config = ModelConfig::post(kind);
        let trainer = trained(kind);
        let files = [
            (Role::Generator, weights::save_generator(&trainer.generator.valid(), &config, None, Precision::F16)),
            (Role::Discriminator, weights::save_discriminator(&trainer.discriminator.valid(), &config, Precision::F32)),
        ];
        for (role, bytes) in files {
            let in_file: BTreeMap<String, Vec<usize>> =
                tensors(&bytes.unwrap()).into_iter().map(|(name, (shape, _, _))| (name, shape)).collect();
            let expected: BTreeMap<String, Vec<usize>> = weights::torch_tensors(&config, role).into_iter().collect();
            assert_eq!(in_file, expected, "{kind} {role}");
        }
        let total: usize = [Role::Generator, Role::Discriminator]
            .iter()
            .flat_map(|&role| weights::torch_tensors(&config, role))
            .map(|(_, shape)| shape.iter().product::<usize>())
            .sum();
        assert_eq!(total as u64, config.parameter_count(), "{kind}: parameter_count counts every tensor");
    }
}

#[test]
fn training_facts_read_as_words() {
    let facts = weights::TrainingFacts { recipe: Recipe::stable(), seed: 0, batch_size: 64, epochs: 30, steps: 28_140 };
    assert_eq!(facts.summary(), "30 epochs (28,140 steps of 64), at full size throughout");
    let grown = Recipe {
        schedule: shared::growth::Schedule::Progressive { fade_images: 15_000, stable_images: 1_000_000 },
        ..Recipe::stable()
    };
    let facts = weights::TrainingFacts { recipe: grown, seed: 0, batch_size: 16, epochs: 1, steps: 1 };
    assert_eq!(
        facts.summary(),
        "1 epoch (1 step of 16), grown from 4x4 (15,000 images per fade-in, 1,000,000 per resolution)"
    );
}
