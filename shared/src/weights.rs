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

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::store::{
    BurnToPyTorchAdapter, FloatCastAdapter, HalfPrecisionAdapter, IdentityAdapter, ModuleAdapter, ModuleSnapshot,
    PyTorchToBurnAdapter, SafetensorsStore,
};
use burn::tensor::DType;
use serde::{Deserialize, Serialize};

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

/// Regex key remappings, `(pattern, replacement)`.
type Remaps = Vec<(String, String)>;

/// Key remappings from burn's module paths to the post's `state_dict` names,
/// and back.
fn torch_names(config: &ModelConfig, role: Role) -> (Remaps, Remaps) {
    match config {
        ModelConfig::Gan(c) => {
            let (layers, first) = match role {
                Role::Generator => (c.generator_hidden.len() + 1, 0),
                Role::Discriminator => (c.discriminator_hidden.len() + 1, 1),
            };
            (0..layers)
                .map(|i| {
                    let t = first + 2 * i;
                    (
                        (format!(r"^layers\.{i}\."), format!("model.{t}.")),
                        (format!(r"^model\.{t}\."), format!("layers.{i}.")),
                    )
                })
                .unzip()
        }
        ModelConfig::Pggan(_) => {
            let pairs = [("conv", "0"), ("bn", "1")];
            pairs
                .iter()
                .map(|(ours, theirs)| {
                    (
                        (format!(r"^layers\.(\d+)\.{ours}\."), format!("layers.$1.{theirs}.")),
                        (format!(r"^layers\.(\d+)\.{theirs}\."), format!("layers.$1.{ours}.")),
                    )
                })
                .unzip()
        }
    }
}

/// Every tensor of `config`'s `role` network as the post's `state_dict` has
/// it: names and shapes (PyTorch layouts).
pub fn torch_tensors(config: &ModelConfig, role: Role) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    match config {
        ModelConfig::Gan(c) => {
            let pixels = c.image_size * c.image_size;
            let (widths, first) = match role {
                Role::Generator => ([&[c.latent_dim][..], &c.generator_hidden, &[pixels]].concat(), 0),
                Role::Discriminator => ([&[pixels][..], &c.discriminator_hidden, &[1]].concat(), 1),
            };
            for (i, w) in widths.windows(2).enumerate() {
                let t = first + 2 * i;
                out.push((format!("model.{t}.weight"), vec![w[1], w[0]]));
                out.push((format!("model.{t}.bias"), vec![w[1]]));
            }
        }
        ModelConfig::Pggan(c) => {
            let chain = match role {
                Role::Generator => [&[c.latent_dim][..], &c.channels, &[1]].concat(),
                Role::Discriminator => [&[1][..], &c.channels.iter().rev().copied().collect::<Vec<_>>(), &[1]].concat(),
            };
            let last = chain.len() - 2;
            for (i, w) in chain.windows(2).enumerate() {
                // ConvTranspose2d keeps [in, out, k, k], Conv2d [out, in, k, k].
                let shape = match role {
                    Role::Generator => vec![w[0], w[1], 4, 4],
                    // The minibatch standard deviation is one more input of D's last block.
                    Role::Discriminator if i == last && c.minibatch_stddev => vec![w[1], w[0] + 1, 4, 4],
                    Role::Discriminator => vec![w[1], w[0], 4, 4],
                };
                out.push((format!("layers.{i}.0.weight"), shape));
                if i < last {
                    for field in ["weight", "bias", "running_mean", "running_var"] {
                        out.push((format!("layers.{i}.1.{field}"), vec![w[1]]));
                    }
                }
            }
        }
    }
    out
}

/// Checks the file's tensors against what `config`'s `role` network needs
/// (names, shapes, float types) before any model is built: a header that
/// claims a huge model costs nothing, and loading allocates no more than the
/// file's tensors (safetensors checked their byte lengths while parsing).
fn check_tensors(bytes: &[u8], config: &ModelConfig, role: Role) -> Result<(), WeightsError> {
    use safetensors::Dtype;
    let file = safetensors::SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Format(e.to_string()))?;
    let expected = torch_tensors(config, role);
    let kind = config.kind();
    let (mut missing, mut problems) = (Vec::new(), Vec::new());
    for (name, shape) in &expected {
        match file.tensor(name) {
            Err(_) => missing.push(name.clone()),
            Ok(t) => {
                if !matches!(t.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64) {
                    problems.push(format!("{name} holds {:?} values, expected floating point", t.dtype()));
                }
                if t.shape() != shape.as_slice() {
                    problems.push(format!("{name} has shape {:?}, expected {shape:?}", t.shape()));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(WeightsError::Mismatch { kind, role, problems });
    }
    if !missing.is_empty() {
        return Err(WeightsError::Missing { kind, role, missing });
    }
    let mut unused: Vec<String> = file
        .names()
        .into_iter()
        .filter(|name| !name.ends_with("num_batches_tracked") && !expected.iter().any(|(e, _)| e == *name))
        .map(|name| name.to_string())
        .collect();
    if !unused.is_empty() {
        unused.sort();
        return Err(WeightsError::Unused { kind, role, unused });
    }
    Ok(())
}

fn save_module<M: ModuleSnapshot>(
    module: &M,
    info: &WeightsInfo,
    precision: Precision,
) -> Result<Vec<u8>, WeightsError> {
    let metadata = serde_json::to_string(info).expect("WeightsInfo serialises");
    let adapter = match precision {
        Precision::F32 => BurnToPyTorchAdapter.chain(IdentityAdapter),
        Precision::F16 => BurnToPyTorchAdapter.chain(HalfPrecisionAdapter::new()),
    };
    let mut store = SafetensorsStore::from_bytes(None).metadata(METADATA_KEY, metadata).with_to_adapter(adapter);
    for (from, to) in torch_names(&info.model, info.role).0 {
        store = store.with_key_remapping(from, to);
    }
    module.save_into(&mut store).map_err(|e| WeightsError::Write(e.to_string()))?;
    store.get_bytes().map_err(|e| WeightsError::Write(e.to_string()))
}

fn load_module<M: ModuleSnapshot>(
    module: &mut M,
    bytes: &[u8],
    config: &ModelConfig,
    role: Role,
) -> Result<(), WeightsError> {
    let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()))
        .with_from_adapter(PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32)))
        // Problems come back in the result, to be reported below with the model's name.
        .validate(false)
        .allow_partial(true);
    for (from, to) in torch_names(config, role).1 {
        store = store.with_key_remapping(from, to);
    }
    let result = module.load_from(&mut store).map_err(|e| WeightsError::Format(e.to_string()))?;
    let kind = config.kind();
    if !result.errors.is_empty() {
        let problems = result.errors.iter().map(|e| e.to_string()).collect();
        return Err(WeightsError::Mismatch { kind, role, problems });
    }
    if !result.missing.is_empty() {
        let missing = result.missing.iter().map(|(path, _)| path.clone()).collect();
        return Err(WeightsError::Missing { kind, role, missing });
    }
    let unused: Vec<String> = result.unused.into_iter().filter(|name| !name.ends_with("num_batches_tracked")).collect();
    if !unused.is_empty() {
        return Err(WeightsError::Unused { kind, role, unused });
    }
    Ok(())
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

/// Loads generator weights into the architecture `config`, whatever the
/// header says: for files saved by PyTorch, which carry no architecture.
pub fn load_generator_as(bytes: &[u8], config: &ModelConfig, device: &Device) -> Result<Generator, WeightsError> {
    check_size(bytes)?;
    config.validate().map_err(WeightsError::Architecture)?;
    check_tensors(bytes, config, Role::Generator)?;
    let mut generator = config.init_generator(device);
    match &mut generator {
        Generator::Gan(g) => load_module(g, bytes, config, Role::Generator)?,
        Generator::Pggan(g) => load_module(g, bytes, config, Role::Generator)?,
    }
    Ok(generator)
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
    let mut discriminator = config.init_discriminator(device);
    match &mut discriminator {
        Discriminator::Gan(d) => load_module(d, bytes, config, Role::Discriminator)?,
        Discriminator::Pggan(d) => load_module(d, bytes, config, Role::Discriminator)?,
    }
    Ok(discriminator)
}
