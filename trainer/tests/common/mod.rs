//! Running the trainer binary from the integration tests.

#![allow(dead_code)] // each test binary uses its own share of these

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest any one trainer run in these tests may take (the longest
/// takes about 3 minutes on a loaded 2-core machine): a hung run, such as
/// wgpu stuck in a software GL driver, fails its test instead of the whole CI
/// run's time limit.
const RUN_LIMIT: Duration = Duration::from_secs(600);

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

/// `command.output()`, killed after `RUN_LIMIT` with a failure that shows
/// what the run printed until then.
pub fn output(command: &mut Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} did not start: {e}"));
    // Both pipes are read while waiting, so that a full pipe never stalls the run.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the trainer") {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let Some(status) = status else {
        panic!(
            "{command:?} did not finish within {} s and was killed; it printed:\n{}{}",
            RUN_LIMIT.as_secs(),
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output { status, stdout, stderr }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

pub fn trainer(args: &[&str]) -> Output {
    output(&mut command(args))
}

/// Runs a command that must succeed; returns its stdout and stderr.
pub fn succeeds(mut command: Command) -> String {
    let out = output(&mut command);
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
