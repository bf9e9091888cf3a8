//! `trainer`: trains the post's two generators on MNIST, samples grids from
//! weight files, and benchmarks training steps. Without a subcommand it trains
//! the default model and exports weights where the web demo finds them.

mod backend;
mod bench;
mod checkpoint;
mod data;
mod evaluate;
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

/// Where MNIST is read from, shared by the commands that need it.
#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Folder with the four MNIST .gz files; missing files are downloaded
    /// there and checked against their sha256 sums.
    #[arg(long, env = "MNIST_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run::train(cli.train),
        Some(Command::Train(args)) => run::train(args),
        Some(Command::Sample(args)) => sample::sample(args),
        Some(Command::Bench(args)) => bench::bench(args),
        Some(Command::Eval(args)) => evaluate::eval(args),
        Some(Command::Classifier(args)) => evaluate::train_classifier(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
