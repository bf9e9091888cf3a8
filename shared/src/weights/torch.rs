//! The post's `state_dict` in a safetensors file: which tensors it holds
//! (names, shapes, layouts), checking a file against them, and moving a
//! module's tensors into and out of one.
//!
//! Read and written with the `safetensors` crate, not burn's store: its key
//! remapping compiles regular expressions, which would put a regex engine
//! (~0.3 MB of wasm) into the page's first module.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::{DType, f16};
use safetensors::Dtype;

use super::{METADATA_KEY, Precision, Role, WeightsError, WeightsInfo};
use crate::models::ModelConfig;

/// Where the post keeps the tensor at burn module path `path` (e.g.
/// `layers.1.bn.gamma`): its `state_dict` name (`layers.1.1.weight`), and
/// whether its layout is the transpose of burn's (Linear weights: burn
/// `[in, out]`, PyTorch `[out, in]`). `None` for a path the post's model
/// does not have.
fn torch_name(config: &ModelConfig, role: Role, path: &str) -> Option<(String, bool)> {
    let rest = path.strip_prefix("layers.")?;
    let (index, field) = rest.split_once('.')?;
    let i: usize = index.parse().ok()?;
    match config {
        ModelConfig::Gan(_) => {
            // D's `model.0` is its Flatten.
            let t = 2 * i + usize::from(role == Role::Discriminator);
            matches!(field, "weight" | "bias").then(|| (format!("model.{t}.{field}"), field == "weight"))
        }
        ModelConfig::Pggan(_) => {
            let theirs = match field {
                "conv.weight" => "0.weight",
                "bn.gamma" => "1.weight",
                "bn.beta" => "1.bias",
                "bn.running_mean" => "1.running_mean",
                "bn.running_var" => "1.running_var",
                _ => return None,
            };
            Some((format!("layers.{i}.{theirs}"), false))
        }
    }
}

/// Whether the tensor at `path` is a BatchNorm's, which stays f32 in an f16
/// file: its running variance underflows in f16.
fn is_batch_norm(path: &str) -> bool {
    path.contains(".bn.")
}

/// `rows x cols` values, row-major, as `cols x rows`.
fn transposed(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for (r, row) in values.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            out[c * rows + r] = v;
        }
    }
    out
}

/// Follows the module path (`layers.1.bn.gamma`) while burn walks a module.
#[derive(Default)]
struct Path(Vec<String>);

impl Path {
    fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }
    fn exit(&mut self) {
        self.0.pop();
    }
    fn current(&self) -> String {
        self.0.join(".")
    }
}

/// One tensor on its way into a file: its name, PyTorch shape, dtype and
/// little-endian bytes.
type Entry = (String, Vec<usize>, Dtype, Vec<u8>);

/// Collects a module's tensors as the post names and lays them out.
struct Collect<'a> {
    config: &'a ModelConfig,
    role: Role,
    precision: Precision,
    path: Path,
    entries: Vec<Entry>,
    problems: Vec<String>,
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path.current();
        let Some((name, transpose)) = torch_name(self.config, self.role, &path) else {
            self.problems.push(format!("{path} has no place in the post's model"));
            return;
        };
        let tensor = param.val();
        let mut shape = tensor.dims().to_vec();
        let values = match tensor.into_data().convert::<f32>().try_into_vec::<f32>() {
            Ok(values) => values,
            Err(e) => {
                self.problems.push(format!("{path} could not be read: {e:?}"));
                return;
            }
        };
        let values = if transpose {
            shape.reverse();
            transposed(&values, shape[1], shape[0])
        } else {
            values
        };
        let (dtype, bytes) = if self.precision == Precision::F16 && !is_batch_norm(&path) {
            (Dtype::F16, values.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect())
        } else {
            (Dtype::F32, values.iter().flat_map(|v| v.to_le_bytes()).collect())
        };
        self.entries.push((name, shape, dtype, bytes));
    }
}

/// `module` as a safetensors file with `info` in its header.
pub(super) fn save_module<M: Module>(
    module: &M,
    info: &WeightsInfo,
    precision: Precision,
) -> Result<Vec<u8>, WeightsError> {
    let mut collect = Collect {
        config: &info.model,
        role: info.role,
        precision,
        path: Path::default(),
        entries: Vec::new(),
        problems: Vec::new(),
    };
    module.visit(&mut collect);
    if !collect.problems.is_empty() {
        return Err(WeightsError::Write(collect.problems.join("; ")));
    }
    let views = collect
        .entries
        .iter()
        .map(|(name, shape, dtype, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes).map(|view| (name.as_str(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| WeightsError::Write(e.to_string()))?;
    let metadata = serde_json::to_string(info).expect("WeightsInfo serialises");
    safetensors::tensor::serialize(views, Some(HashMap::from([(METADATA_KEY.to_string(), metadata)])))
        .map_err(|e| WeightsError::Write(e.to_string()))
}

/// Replaces a module's tensors by a file's, which [`check_tensors`] has
/// found to be the ones its network needs.
struct Fill<'a> {
    file: &'a safetensors::SafeTensors<'a>,
    config: &'a ModelConfig,
    role: Role,
    path: Path,
    problems: Vec<String>,
}

impl Fill<'_> {
    /// The values of the tensor at `path`, in burn's layout, as f32.
    fn values(&self, path: &str, dims: &[usize]) -> Result<Vec<f32>, String> {
        let (name, transpose) = torch_name(self.config, self.role, path)
            .ok_or_else(|| format!("{path} has no place in the post's model"))?;
        let tensor = self.file.tensor(&name).map_err(|_| format!("{name} is missing"))?;
        let dtype = match tensor.dtype() {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            Dtype::F64 => DType::F64,
            other => return Err(format!("{name} holds {other:?} values, expected floating point")),
        };
        let shape = tensor.shape().to_vec();
        let expected: Vec<usize> = if transpose { dims.iter().rev().copied().collect() } else { dims.to_vec() };
        if shape != expected {
            return Err(format!("{name} has shape {shape:?}, expected {expected:?}"));
        }
        let values = TensorData::from_bytes_vec(tensor.data().to_vec(), shape.clone(), dtype)
            .convert_dtype(DType::F32)
            .try_into_vec::<f32>()
            .map_err(|e| format!("{name} could not be read: {e:?}"))?;
        Ok(if transpose { transposed(&values, shape[0], shape[1]) } else { values })
    }
}

impl ModuleMapper for Fill<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.current();
        let dims = param.dims();
        match self.values(&path, &dims) {
            Ok(values) => param.map(|t| {
                // Trainable where the fresh one was (on an autodiff device, to fine-tune).
                let loaded = Tensor::from_data(TensorData::new(values, dims), &t.device());
                if t.is_require_grad() { loaded.require_grad() } else { loaded }
            }),
            Err(problem) => {
                self.problems.push(problem);
                param
            }
        }
    }
}

/// Loads a file's tensors into `module`, `config`'s `role` network.
pub(super) fn load_module<M: Module>(
    module: M,
    bytes: &[u8],
    config: &ModelConfig,
    role: Role,
) -> Result<M, WeightsError> {
    let file = safetensors::SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Format(e.to_string()))?;
    let mut fill = Fill { file: &file, config, role, path: Path::default(), problems: Vec::new() };
    let module = module.map(&mut fill);
    if !fill.problems.is_empty() {
        return Err(WeightsError::Mismatch { kind: config.kind(), role, problems: fill.problems });
    }
    Ok(module)
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
pub(super) fn check_tensors(bytes: &[u8], config: &ModelConfig, role: Role) -> Result<(), WeightsError> {
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
