//! Running the trainer binary from the integration tests.

#![allow(dead_code)] // each test binary uses its own share of these

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn mnist_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MNIST_DIR") {
        return dir.into();
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/mnist");
    assert!(dir.is_dir(), "MNIST not found: set MNIST_DIR to the folder with the four .gz files");
    dir
}

/// The trainer binary with `args`, reading MNIST from the test data.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trainer"));
    command.args(args).env("MNIST_DIR", mnist_dir()).env("RAYON_NUM_THREADS", "2");
    command
}

pub fn trainer(args: &[&str]) -> Output {
    command(args).output().expect("the trainer binary runs")
}

/// Runs a command that must succeed; returns its stdout and stderr.
pub fn succeeds(mut command: Command) -> String {
    let out = command.output().expect("the trainer binary runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{command:?} failed:\n{text}");
    text
}

pub fn ok(args: &[&str]) -> String {
    succeeds(command(args))
}

/// Runs a command that must fail cleanly; returns its stderr.
pub fn fails(args: &[&str]) -> String {
    let out = trainer(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "trainer {args:?} should fail");
    assert!(!stderr.contains("panicked"), "trainer {args:?} panicked:\n{stderr}");
    stderr
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
