//! The trainer on burn-wgpu, tested without a GPU: Mesa's software GL driver
//! (llvmpipe) is a wgpu adapter like any other. One generation of each model,
//! and a few training steps of each at a small batch, compared with the CPU
//! backend (the conv model's training only outside CI, see below). On a CPU
//! adapter the trainer runs burn's operations unfused (fused kernels took
//! llvmpipe over 12 minutes to compile). Needs Mesa's
//! GL/EGL packages (`libgl1-mesa-dri libegl1 libegl-mesa0`, which
//! tests/run.sh installs); where wgpu finds no adapter the tests fail and say
//! so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{command, s, succeeds};

/// Generated pixels may differ by this many of 255 grey levels between the
/// backends (float sums in another order round a few pixels the other way).
const PIXEL_LEVELS: u8 = 1;
/// Losses after each training step may differ by this much.
const LOSS_TOLERANCE: f64 = 1e-3;
/// A generator trained 3 steps on each backend, drawn on the CPU: Adam moves
/// a weight by ~lr whatever its gradient's size, so a gradient near 0 whose
/// sign differs moves it the other way; the digits stay within this.
const TRAINED_PIXEL_LEVELS: u8 = 4;

fn shipped(model: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/weights").join(format!("{model}.safetensors"))
}

/// `trainer ARGS --backend BACKEND`; on wgpu, where only Mesa's GL driver can
/// be used: its Vulkan driver (lavapipe) crashes under wgpu, so every Vulkan
/// driver is hidden, and GL wants a runtime folder.
fn on(backend: &str, args: &[&str], tmp: &Path) -> Command {
    let mut c = command(args);
    c.args(["--backend", backend]);
    if backend == "wgpu" {
        let none = tmp.join("no-vulkan-driver.json");
        c.env("VK_ICD_FILENAMES", &none).env("VK_DRIVER_FILES", &none).env("XDG_RUNTIME_DIR", tmp);
    }
    c
}

/// Runs on wgpu, failing with a hint when wgpu has no adapter here.
fn on_wgpu(args: &[&str], tmp: &Path) -> String {
    let out = common::output(&mut on("wgpu", args, tmp));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "trainer {args:?} --backend wgpu failed; this test needs a wgpu adapter, e.g. Mesa's software GL \
         driver (apt-get install libgl1-mesa-dri libegl1 libegl-mesa0):\n{text}"
    );
    text
}

fn max_difference(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
}

/// `trainer sample` of `weights` for seed 7 as raw pixels, on `backend`.
fn sample(weights: &Path, backend: &str, tmp: &Path) -> Vec<u8> {
    let raw = tmp.join(format!("{backend}.raw"));
    let png = tmp.join(format!("{backend}.png"));
    let args = ["sample", "--weights", s(weights), "--seed", "7", "--count", "16", "--out", s(&png), "--raw", s(&raw)];
    if backend == "wgpu" {
        on_wgpu(&args, tmp);
    } else {
        succeeds(on(backend, &args, tmp));
    }
    std::fs::read(raw).unwrap()
}

fn generates_like_the_cpu(model: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let cpu = sample(&shipped(model), "cpu", tmp.path());
    let gpu = sample(&shipped(model), "wgpu", tmp.path());
    let worst = max_difference(&cpu, &gpu);
    assert!(worst <= PIXEL_LEVELS, "{model}: wgpu's digits differ from the CPU's by up to {worst} grey levels");
}

#[test]
fn gan_generates_on_wgpu_like_on_the_cpu() {
    generates_like_the_cpu("gan");
}

#[test]
fn pggan_generates_on_wgpu_like_on_the_cpu() {
    generates_like_the_cpu("pggan");
}

/// The four numbers of each step in losses.csv: D, G, D(x), D(G(z)).
fn losses(run: &Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(run.join("losses.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|row| row.split(',').skip(2).map(|v| v.parse().unwrap()).collect())
        .collect()
}

fn trains_like_the_cpu(model: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let run = |backend: &str| {
        let dir = tmp.path().join(backend);
        let args = [
            "train",
            "--model",
            model,
            "--max-steps",
            "3",
            "--batch-size",
            "8",
            "--eval-every",
            "0",
            "--no-export",
            "--run-dir",
            s(&dir),
        ];
        let text =
            if backend == "wgpu" { on_wgpu(&args, tmp.path()) } else { succeeds(on(backend, &args, tmp.path())) };
        (dir, text)
    };
    let (cpu, _) = run("cpu");
    let (gpu, text) = run("wgpu");
    assert!(text.contains("device: GPU via burn-wgpu"), "{model}: training did not run on wgpu:\n{text}");

    let (a, b) = (losses(&cpu), losses(&gpu));
    assert_eq!(a.len(), 3, "{model}: three steps logged");
    assert_eq!(a.len(), b.len());
    for (step, (x, y)) in a.iter().zip(&b).enumerate() {
        let worst = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
        assert!(worst <= LOSS_TOLERANCE, "{model}: step {} losses differ by {worst}: cpu {x:?}, wgpu {y:?}", step + 1);
    }
    // Both trained generators drawn on the CPU.
    let drawn = |run: &Path| sample(&run.join("generator.safetensors"), "cpu", run);
    let worst = max_difference(&drawn(&cpu), &drawn(&gpu));
    assert!(
        worst <= TRAINED_PIXEL_LEVELS,
        "{model}: the generator trained on wgpu draws up to {worst} grey levels from the CPU-trained one"
    );
}

#[test]
fn gan_trains_on_wgpu_like_on_the_cpu() {
    trains_like_the_cpu("gan");
}

/// Not in CI: on llvmpipe the conv model's first step compiles burn's conv
/// kernels for over 5 minutes, and wgpu's GL backend panics ("Could not lock
/// adapter context") when one shader compiles for more than 6 s while another
/// thread waits for the context, which a loaded 2-core machine makes likely
/// (the one try here, beside other work, ended so after its first step).
#[test]
#[ignore = "over 5 minutes on llvmpipe, and flaky there: cargo test -p trainer --test wgpu -- --ignored"]
fn pggan_trains_on_wgpu_like_on_the_cpu() {
    trains_like_the_cpu("pggan");
}
