//! Chooses the device: burn-wgpu on a GPU when there is one, else burn's
//! `flex` CPU backend with a one-line notice. `--backend` forces either.

use anyhow::{Context, bail};
use burn::BurnConfig;
use burn::tensor::wgpu::{WgpuBackend, wgpu};
use burn::tensor::{Device, DeviceKind};
use burn_std::config::RuntimeConfig;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// wgpu when a GPU adapter is found, else the CPU.
    #[default]
    Auto,
    /// burn-wgpu, on whatever adapter wgpu finds (a software one included).
    Wgpu,
    /// burn's `flex` CPU backend.
    Cpu,
}

/// The device to run on and a short description of it.
pub struct Selected {
    pub device: Device,
    pub description: String,
}

/// Adapters wgpu can see, over every native graphics API.
fn adapters() -> Vec<wgpu::AdapterInfo> {
    [wgpu::Backend::Vulkan, wgpu::Backend::Metal, wgpu::Backend::Dx12, wgpu::Backend::Gl]
        .into_iter()
        .flat_map(|api| {
            let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
                backends: api.into(),
                ..wgpu::InstanceDescriptor::new_without_display_handle()
            });
            pollster::block_on(instance.enumerate_adapters(api.into()))
                .iter()
                .map(wgpu::Adapter::get_info)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

fn cpu() -> Selected {
    Selected { device: Device::flex(), description: "CPU (burn flex)".into() }
}

/// burn-wgpu on the graphics API and kind of adapter `info` describes, so
/// that training runs where the description says (left to itself, burn would
/// try the APIs in its own order, e.g. a crashing Vulkan driver before GL).
fn wgpu_device(info: &wgpu::AdapterInfo) -> anyhow::Result<Selected> {
    let api = match info.backend {
        wgpu::Backend::Vulkan => WgpuBackend::Vulkan,
        wgpu::Backend::Metal => WgpuBackend::Metal,
        wgpu::Backend::Dx12 => WgpuBackend::Dx12,
        wgpu::Backend::Gl => WgpuBackend::Gl,
        _ => WgpuBackend::Auto,
    };
    if info.device_type == wgpu::DeviceType::Cpu {
        run_unfused();
    }
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => DeviceKind::DiscreteGpu(0),
        wgpu::DeviceType::IntegratedGpu => DeviceKind::IntegratedGpu(0),
        wgpu::DeviceType::VirtualGpu => DeviceKind::VirtualGpu(0),
        wgpu::DeviceType::Cpu => DeviceKind::Cpu,
        wgpu::DeviceType::Other => DeviceKind::DefaultDevice,
    };
    let device = Device::wgpu_options()
        .graphics_api(api)
        .device_kind(kind)
        .init()
        .with_context(|| format!("initialising burn-wgpu on {}", describe(info)))?;
    Ok(Selected { device, description: format!("GPU via burn-wgpu: {}", describe(info)) })
}

/// Turns burn's operation fusion off, unless the user configured it
/// (`BURN_FUSION_MAX_EXPLORATIONS`). On a CPU adapter such as Mesa's llvmpipe
/// a fused training step compiles shaders of thousands of lines, which that
/// driver took over 12 minutes for; unfused, 3 GAN steps take about 90 s.
fn run_unfused() {
    if std::env::var_os("BURN_FUSION_MAX_EXPLORATIONS").is_some() {
        return;
    }
    // The fields are private: change the one setting through serde, on top
    // of whatever burn.toml and the environment say.
    let mut config = serde_json::to_value(BurnConfig::from_current_dir().override_from_env()).unwrap_or_default();
    config["fusion"]["beam_search"]["max_explorations"] = 0.into();
    if let Ok(config) = serde_json::from_value::<BurnConfig>(config) {
        // Fails only when burn has read its configuration already; then keep it.
        BurnConfig::try_set(config);
    }
}

pub fn select(choice: Backend) -> anyhow::Result<Selected> {
    match choice {
        Backend::Cpu => Ok(cpu()),
        Backend::Wgpu => {
            let found = adapters();
            let best = found.iter().find(|a| a.device_type != wgpu::DeviceType::Cpu).or(found.first());
            match best {
                Some(info) => wgpu_device(info),
                None => bail!("--backend wgpu: wgpu found no adapter (no Vulkan, Metal, DX12 or GL driver)"),
            }
        }
        Backend::Auto => match adapters().iter().find(|a| a.device_type != wgpu::DeviceType::Cpu) {
            Some(info) => wgpu_device(info),
            None => {
                eprintln!("notice: no GPU adapter found; training on the CPU (burn flex backend)");
                Ok(cpu())
            }
        },
    }
}
