//! Helpers for the cross-crate tests: where the handed-over data and peers
//! are, and whether a Python with PyTorch is at hand.

use std::path::PathBuf;
use std::process::Command;

/// The folder with the post's runnable PyTorch code: `$PEERS_DIR`, else
/// `../shared/peers` beside the repository.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers"))
}

/// The post's PyTorch code, runnable.
pub fn peer_script() -> PathBuf {
    peers_dir().join("seed_gan.py")
}

/// `python3`, which must import torch, torchvision and safetensors: the live
/// PyTorch tests are `#[ignore]`d (CI has no torch; the golden files stand in
/// there) and fail, saying what to install, when run without them.
pub fn python_with_torch() -> Command {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python).args(["-c", "import torch, torchvision, safetensors.torch"]).output();
    assert!(
        probe.is_ok_and(|out| out.status.success()),
        "{python} cannot import torch, torchvision and safetensors: pip install torch torchvision safetensors numpy"
    );
    Command::new(python)
}

/// Writes f32 values as raw little-endian bytes.
pub fn write_f32(path: &std::path::Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// Reads raw little-endian f32 values.
pub fn read_f32(path: &std::path::Path) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

/// The fuzzing targets' bodies, one place for the fuzzer (`fuzz/`) and for
/// the `cargo test` that replays its corpus and crashes (`fuzz_replay.rs`).
/// Each must return, whatever the bytes: an error is the right answer to a
/// bad file, a panic or an abort is a bug.
pub mod fuzzing {
    use shared::burn::prelude::Device;
    use shared::mnist;
    use shared::weights::{self, Role};

    /// The MNIST IDX decoder, gzip or raw, as an images file and as a labels file.
    pub fn idx(data: &[u8]) {
        let _ = mnist::decode_images("fuzzed-images", data);
        let _ = mnist::decode_labels("fuzzed-labels", data);
    }

    /// A weights file loaded as a generator and as a discriminator.
    pub fn weights(data: &[u8]) {
        let device = Device::flex();
        let _ = weights::load_generator(data, None, &device);
        let _ = weights::load_discriminator(data, None, &device);
    }

    /// The header's JSON entry, parsed and checked, and the tensors it asks for.
    pub fn header(data: &[u8]) {
        let Ok(json) = std::str::from_utf8(data) else { return };
        if let Ok(info) = weights::parse_info(json) {
            for role in [Role::Generator, Role::Discriminator] {
                let _ = weights::torch_tensors(&info.model, role);
            }
        }
    }
}
