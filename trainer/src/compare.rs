//! `compare`: the FID curves of several runs in one chart, from their
//! `metrics.csv` files.

use std::path::PathBuf;

use clap::Args;

use crate::metrics::plot::{self, Series};
use crate::run::read_fid_curve;

#[derive(Args, Clone, Debug)]
pub struct CompareArgs {
    /// Run folders (each with a metrics.csv); a folder may be named as
    /// NAME=FOLDER to label its curve
    #[arg(required = true, num_args = 1..=8, value_name = "RUN")]
    pub runs: Vec<String>,
    /// The chart to write
    #[arg(long, value_name = "FILE", default_value = "compare.png")]
    pub out: PathBuf,
}

pub fn compare(args: CompareArgs) -> anyhow::Result<()> {
    let series = args
        .runs
        .iter()
        .map(|run| {
            let (name, folder) = match run.split_once('=') {
                Some((name, folder)) => (name.to_string(), PathBuf::from(folder)),
                None => {
                    let folder = PathBuf::from(run);
                    let name = folder.file_name().map_or(run.clone(), |n| n.to_string_lossy().into_owned());
                    (name, folder)
                }
            };
            let points = read_fid_curve(&folder.join("metrics.csv"))?;
            if points.is_empty() {
                anyhow::bail!("{} has no measurements yet (train with --eval-every above 0)", folder.display());
            }
            Ok(Series { name, points })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    plot::write_comparison(&args.out, &series)?;
    println!("{} runs compared in {}", series.len(), args.out.display());
    Ok(())
}
