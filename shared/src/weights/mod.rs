//! The weights format: safetensors whose tensor names and layouts are those of
//! the post's PyTorch `state_dict`, so that
//! `model.load_state_dict(safetensors.torch.load_file(f))` works on our files
//! and `safetensors.torch.save_file(model.state_dict(), f)` files load here.
//! The architecture travels in the header metadata under [`METADATA_KEY`], so a
//! file alone is enough to rebuild its model.
//!
//! | ours (burn)                   | PyTorch (the post)             |
//! |-------------------------------|--------------------------------|
//! | GAN G `layers.i.weight [in,out]` | `model.{2i}.weight [out,in]` |
//! | GAN D `layers.i.*`            | `model.{2i+1}.*` (0 is Flatten)|
//! | PGGAN `layers.i.conv.weight`  | `layers.i.0.weight`            |
//! | PGGAN `layers.i.bn.gamma/beta`| `layers.i.1.weight/bias`       |
//! | PGGAN `layers.i.bn.running_*` | `layers.i.1.running_*`         |
//!
//! PyTorch's BatchNorm `num_batches_tracked` counters are not written (PyTorch
//! fills them in on load) and are ignored when reading.

mod torch;

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use torch::torch_tensors;
use torch::{check_tensors, load_module, save_module};

use crate::growth::Schedule;
use crate::models::{Discriminator, Generator, ModelConfig, ModelKind};
use crate::recipe::Recipe;

/// Header metadata key holding [`WeightsInfo`] as JSON.
pub const METADATA_KEY: &str = "mnist_gan";
/// Version of the [`WeightsInfo`] layout written by this crate.
pub const FORMAT_VERSION: u32 = 1;
/// Files above this size are refused before parsing (the largest model, the
/// conv generator in f32, is about 14 MB).
pub const MAX_WEIGHTS_BYTES: usize = 64 << 20;

/// The name of the discriminator file exported beside a generator file:
/// `gan.safetensors` -> `gan-discriminator.safetensors`. The web page fetches
/// it to fine-tune the shipped generator against its own discriminator.
pub fn discriminator_file_name(generator_file: &str) -> String {
    let stem = generator_file.strip_suffix(".safetensors").unwrap_or(generator_file);
    format!("{stem}-discriminator.safetensors")
}

/// Which network of the pair a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Generator,
    Discriminator,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Generator => "generator",
            Role::Discriminator => "discriminator",
        })
    }
}

/// How the weights were trained, for the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingFacts {
    pub recipe: Recipe,
    pub seed: u64,
    pub batch_size: usize,
    pub epochs: usize,
    pub steps: u64,
}

impl TrainingFacts {
    /// For people: `7 epochs (6,566 steps of 64), grown from 4x4`.
    pub fn summary(&self) -> String {
        let plural = |n: u64, word: &str| format!("{} {word}{}", thousands(n), if n == 1 { "" } else { "s" });
        let how = match self.recipe.schedule {
            Schedule::Fixed => "at full size throughout".to_string(),
            Schedule::Progressive { fade_images, stable_images } => format!(
                "grown from 4x4 ({} images per fade-in, {} per resolution)",
                thousands(fade_images),
                thousands(stable_images)
            ),
        };
        format!(
            "{} ({} of {}), {how}",
            plural(self.epochs as u64, "epoch"),
            plural(self.steps, "step"),
            self.batch_size
        )
    }
}

/// `28140` as `28,140`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What the header says about the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightsInfo {
    pub format_version: u32,
    pub role: Role,
    pub model: ModelConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingFacts>,
}

impl WeightsInfo {
    pub fn new(role: Role, model: ModelConfig, training: Option<TrainingFacts>) -> Self {
        Self { format_version: FORMAT_VERSION, role, model, training }
    }
}

/// Storage precision of float weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    /// Linear and conv weights in f16 (half the size); BatchNorm stays f32
    /// because its running variance underflows in f16.
    F16,
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("weights file is {size} bytes, over the {limit}-byte limit for these models")]
    TooLarge { size: usize, limit: usize },
    #[error("not a safetensors file: {0}")]
    Format(String),
    #[error(
        "no `{METADATA_KEY}` entry in the header, so the architecture is unknown \
         (a file saved by PyTorch loads when the model is named, e.g. --model gan)"
    )]
    NoMetadata,
    #[error("unreadable `{METADATA_KEY}` header entry: {0}")]
    Metadata(String),
    #[error("weights format version {found} is newer than this program's {FORMAT_VERSION}")]
    Version { found: u32 },
    #[error("this file holds a {found_model} {found_role}, expected a {expected_model} {expected_role}")]
    WrongModel { expected_model: ModelKind, expected_role: Role, found_model: ModelKind, found_role: Role },
    #[error("invalid architecture in the header: {0}")]
    Architecture(String),
    #[error("{} tensor(s) of the {kind} {role} missing from the file: {}", missing.len(), missing.join(", "))]
    Missing { kind: ModelKind, role: Role, missing: Vec<String> },
    #[error("tensor(s) not matching the {kind} {role}: {}", problems.join("; "))]
    Mismatch { kind: ModelKind, role: Role, problems: Vec<String> },
    #[error("file holds tensor(s) the {kind} {role} does not have: {}", unused.join(", "))]
    Unused { kind: ModelKind, role: Role, unused: Vec<String> },
    #[error(
        "the networks are still growing (now at {0}): weights files hold fully grown networks only; \
         the run's checkpoint keeps these"
    )]
    StillGrowing(String),
    #[error("writing safetensors failed: {0}")]
    Write(String),
}

/// Reads the header's [`WeightsInfo`] without touching the tensors.
pub fn read_info(bytes: &[u8]) -> Result<WeightsInfo, WeightsError> {
    parse_info(&read_header_entry(bytes)?.ok_or(WeightsError::NoMetadata)?)
}

/// Parses and checks the JSON of the header's [`METADATA_KEY`] entry.
pub fn parse_info(json: &str) -> Result<WeightsInfo, WeightsError> {
    let info: WeightsInfo = serde_json::from_str(json).map_err(|e| WeightsError::Metadata(e.to_string()))?;
    if info.format_version > FORMAT_VERSION {
        return Err(WeightsError::Version { found: info.format_version });
    }
    info.model.validate().map_err(WeightsError::Architecture)?;
    Ok(info)
}

fn check_size(bytes: &[u8]) -> Result<(), WeightsError> {
    if bytes.len() > MAX_WEIGHTS_BYTES {
        return Err(WeightsError::TooLarge { size: bytes.len(), limit: MAX_WEIGHTS_BYTES });
    }
    Ok(())
}

fn read_header_entry(bytes: &[u8]) -> Result<Option<String>, WeightsError> {
    check_size(bytes)?;
    let (_, metadata) =
        safetensors::SafeTensors::read_metadata(bytes).map_err(|e| WeightsError::Format(e.to_string()))?;
    Ok(metadata.metadata().as_ref().and_then(|m| m.get(METADATA_KEY).cloned()))
}

/// Checks that the header describes the expected kind of network.
fn expect(info: &WeightsInfo, role: Role, kind: Option<ModelKind>) -> Result<(), WeightsError> {
    let found_model = info.model.kind();
    if info.role != role || kind.is_some_and(|k| k != found_model) {
        return Err(WeightsError::WrongModel {
            expected_model: kind.unwrap_or(found_model),
            expected_role: role,
            found_model,
            found_role: info.role,
        });
    }
    Ok(())
}

fn describe(stage: Option<crate::growth::Stage>) -> String {
    stage.map_or_else(|| "a lower resolution".into(), |s| s.to_string())
}

/// A generator as safetensors bytes, with `training` facts in the header.
pub fn save_generator(
    generator: &Generator,
    config: &ModelConfig,
    training: Option<TrainingFacts>,
    precision: Precision,
) -> Result<Vec<u8>, WeightsError> {
    let info = WeightsInfo::new(Role::Generator, config.clone(), training);
    expect(&info, Role::Generator, Some(generator.kind()))?;
    let stage = generator.stage();
    let generator = generator.grown().ok_or_else(|| WeightsError::StillGrowing(describe(stage)))?;
    match &generator {
        Generator::Gan(g) => save_module(g, &info, precision),
        Generator::Pggan(g) => save_module(g, &info, precision),
    }
}

/// [`save_generator`] for a generator on any device, its tensors first read
/// back asynchronously into a copy on `host` (a CPU device): in the browser a
/// WebGPU device can only be read that way, and saving reads synchronously.
pub async fn save_generator_async(
    generator: &Generator,
    config: &ModelConfig,
    training: Option<TrainingFacts>,
    precision: Precision,
    host: &Device,
) -> Result<Vec<u8>, WeightsError> {
    struct Collect(Vec<Tensor<1>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().reshape([-1]));
        }
    }
    /// Replaces each float tensor, in visiting order, by the next one read back.
    struct Fill<'a> {
        values: std::vec::IntoIter<TensorData>,
        device: &'a Device,
    }
    impl ModuleMapper for Fill<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let values = self.values.next().expect("a module of the same architecture has as many tensors");
            param.map(|t| Tensor::<1>::from_data(values, self.device).reshape(t.dims()))
        }
    }

    let generator = generator.grown().ok_or_else(|| WeightsError::StillGrowing(describe(generator.stage())))?;
    let mut collect = Collect(Vec::new());
    generator.visit(&mut collect);
    let mut values = Vec::with_capacity(collect.0.len());
    for tensor in collect.0 {
        let data =
            tensor.into_data_async().await.map_err(|e| WeightsError::Write(format!("reading weights back: {e:?}")))?;
        values.push(data);
    }
    // A fresh module, not a clone: clones share BatchNorm running statistics.
    let host_copy = config.init_generator(host).map(&mut Fill { values: values.into_iter(), device: host });
    save_generator(&host_copy, config, training, precision)
}

/// A discriminator as safetensors bytes.
pub fn save_discriminator(
    discriminator: &Discriminator,
    config: &ModelConfig,
    precision: Precision,
) -> Result<Vec<u8>, WeightsError> {
    let info = WeightsInfo::new(Role::Discriminator, config.clone(), None);
    expect(&info, Role::Discriminator, Some(discriminator.kind()))?;
    let discriminator = discriminator.grown().ok_or_else(|| WeightsError::StillGrowing("a lower resolution".into()))?;
    match &discriminator {
        Discriminator::Gan(d) => save_module(d, &info, precision),
        Discriminator::Pggan(d) => save_module(d, &info, precision),
    }
}

/// Builds the generator a file describes and loads its weights.
/// `kind`, when given, is the architecture the caller expects.
pub fn load_generator(
    bytes: &[u8],
    kind: Option<ModelKind>,
    device: &Device,
) -> Result<(Generator, WeightsInfo), WeightsError> {
    let info = read_info(bytes)?;
    expect(&info, Role::Generator, kind)?;
    let generator = load_generator_as(bytes, &info.model, device)?;
    Ok((generator, info))
}

/// Every check [`load_generator`] makes (header, architecture, tensor names,
/// shapes and types) without building the generator: its header.
pub fn check_generator(bytes: &[u8], kind: Option<ModelKind>) -> Result<WeightsInfo, WeightsError> {
    let info = read_info(bytes)?;
    expect(&info, Role::Generator, kind)?;
    check_generator_as(bytes, &info.model)?;
    Ok(info)
}

/// Every check [`load_generator_as`] makes, without building the generator.
pub fn check_generator_as(bytes: &[u8], config: &ModelConfig) -> Result<(), WeightsError> {
    check_size(bytes)?;
    config.validate().map_err(WeightsError::Architecture)?;
    check_tensors(bytes, config, Role::Generator)
}

/// Loads generator weights into the architecture `config`, whatever the
/// header says: for files saved by PyTorch, which carry no architecture.
pub fn load_generator_as(bytes: &[u8], config: &ModelConfig, device: &Device) -> Result<Generator, WeightsError> {
    check_generator_as(bytes, config)?;
    Ok(match config.init_generator(device) {
        Generator::Gan(g) => Generator::Gan(load_module(g, bytes, config, Role::Generator)?),
        Generator::Pggan(g) => Generator::Pggan(load_module(g, bytes, config, Role::Generator)?),
    })
}

/// Builds the discriminator a file describes and loads its weights.
pub fn load_discriminator(
    bytes: &[u8],
    kind: Option<ModelKind>,
    device: &Device,
) -> Result<(Discriminator, WeightsInfo), WeightsError> {
    let info = read_info(bytes)?;
    expect(&info, Role::Discriminator, kind)?;
    let discriminator = load_discriminator_as(bytes, &info.model, device)?;
    Ok((discriminator, info))
}

/// Loads discriminator weights into the architecture `config`.
pub fn load_discriminator_as(
    bytes: &[u8],
    config: &ModelConfig,
    device: &Device,
) -> Result<Discriminator, WeightsError> {
    check_size(bytes)?;
    config.validate().map_err(WeightsError::Architecture)?;
    check_tensors(bytes, config, Role::Discriminator)?;
    Ok(match config.init_discriminator(device) {
        Discriminator::Gan(d) => Discriminator::Gan(load_module(d, bytes, config, Role::Discriminator)?),
        Discriminator::Pggan(d) => Discriminator::Pggan(load_module(d, bytes, config, Role::Discriminator)?),
    })
}
