//! `trainer`: trains the post's two generators on MNIST, samples grids from
//! weight files, and benchmarks training steps. Without a subcommand it trains
//! the default model and exports weights where the web demo finds them.

mod backend;
mod bench;
mod compare;
mod data;
mod evaluate;
mod fault;
mod files;
mod metrics;
mod run;
mod sample;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use shared::ModelKind;

#[derive(Parser)]
#[command(name = "trainer", version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Options of `train`, which runs when no subcommand is given.
    #[command(flatten)]
    train: run::TrainArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model (the default command).
    Train(run::TrainArgs),
    /// Draw a grid of samples from a generator weights file into a PNG.
    Sample(sample::SampleArgs),
    /// Median milliseconds per training step of each model.
    Bench(bench::BenchArgs),
    /// FID, Inception Score and digit coverage of generator weight files.
    Eval(evaluate::EvalArgs),
    /// Retrain the MNIST classifier the metrics are measured with.
    Classifier(evaluate::ClassifierArgs),
    /// The FID curves of several runs in one chart (PNG).
    Compare(compare::CompareArgs),
}

/// Which model, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    Gan,
    Pggan,
}

impl From<ModelArg> for ModelKind {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::Gan => ModelKind::Gan,
            ModelArg::Pggan => ModelKind::Pggan,
        }
    }
}

/// A clap value parser for whole numbers from `LO` to `HI`: every count the
/// command line takes is bounded, so that no value can ask for unbounded
/// memory or time, and a wrong one is refused with the range.
pub fn whole<const LO: u64, const HI: u64>(text: &str) -> Result<usize, String> {
    let range = format!("a whole number from {LO} to {HI}");
    match text.trim().parse::<u64>() {
        Ok(n) if (LO..=HI).contains(&n) => Ok(n as usize),
        Ok(n) => Err(format!("{n} is out of range: expected {range}")),
        Err(_) => Err(format!("expected {range}")),
    }
}

/// A clap value parser for learning rates: finite and positive.
pub fn learning_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(lr) if lr.is_finite() && lr > 0.0 && lr <= 1.0 => Ok(lr),
        _ => Err("expected a number above 0 and at most 1, e.g. 2e-4".into()),
    }
}

/// A moving-average decay: 0 (none) or below 1.
pub fn ema_decay(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(decay) if (0.0..1.0).contains(&decay) => Ok(decay),
        _ => Err("expected a number from 0 (no average) to below 1, e.g. 0.999".into()),
    }
}

/// Where MNIST is read from, shared by the commands that need it.
#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Folder with the four MNIST .gz files; missing files are downloaded
    /// there and checked against their sha256 sums.
    #[arg(long, env = "MNIST_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// A panic on any thread ends the process. burn-wgpu waits for results that
/// a polling thread of its own delivers; when wgpu panics there (Mesa's GL
/// driver gives up on its context lock after 6 s while a long shader
/// compiles), the trainer would otherwise wait forever.
fn exit_on_any_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        eprintln!("error: stopped by an internal error (above)");
        std::process::exit(101);
    }));
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Keeps freed memory mapped for reuse instead of handing it back to the
/// kernel after mimalloc's purge delay: a CPU training step frees and allocates the same
/// large buffers over and over, and each fresh page costs a fault and a
/// zeroing (8 % of a conv step). The peak is what the process keeps.
fn keep_freed_memory() {
    // `mi_option_purge_delay` in mimalloc.h (v3, the version libmimalloc-sys
    // builds), which the crate's constants leave out.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets a plain option before any thread but this one exists.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
}

fn main() -> ExitCode {
    keep_freed_memory();
    exit_on_any_panic();
    fault::thread_panic();
    let cli = Cli::parse();
    // The command runs on a thread of rayon's pool, the one that burn's CPU
    // backend and our CPU operations share: each parallel operation then
    // starts from a worker, which works on it too, instead of from this
    // thread, which would hand it over and sleep until it is done (a wake-up
    // and a sleep per operation; 3-5 % of a CPU training step).
    let result = rayon::scope(|_| match cli.command {
        None => run::train(cli.train),
        Some(Command::Train(args)) => run::train(args),
        Some(Command::Sample(args)) => sample::sample(args),
        Some(Command::Bench(args)) => bench::bench(args),
        Some(Command::Eval(args)) => evaluate::eval(args),
        Some(Command::Classifier(args)) => evaluate::train_classifier(args),
        Some(Command::Compare(args)) => compare::compare(args),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
