//! The run's logs: `losses.csv` (one row per step, and the window collapse
//! is judged on) and `metrics.csv` (one row per measurement). A resumed run
//! drops the rows written after its checkpoint.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::Context;
use burn::prelude::*;

use crate::files;
use crate::metrics::Metrics;

/// `losses.csv`, one row per step, appended as losses are read back.
pub(super) struct LossLog {
    file: std::io::BufWriter<std::fs::File>,
    /// Sums of the four columns since the last [`LossLog::take_means`], and their count.
    sums: [f64; 4],
    rows: u64,
    /// The rows collapse is judged on.
    pub(super) window: Window,
}

/// The last [`Window::STEPS`] rows of losses, `[d_loss, g_loss, d_real, d_fake]`.
#[derive(Default)]
pub(super) struct Window(VecDeque<[f32; 4]>);

impl Window {
    pub(super) const STEPS: usize = 200;

    pub(super) fn push(&mut self, row: [f32; 4]) {
        self.0.push_back(row);
        if self.0.len() > Self::STEPS {
            self.0.pop_front();
        }
    }

    /// Means of the columns over the window, once it is full.
    pub(super) fn means(&self) -> Option<[f64; 4]> {
        (self.0.len() == Self::STEPS).then(|| {
            let mut sums = [0.0; 4];
            self.0.iter().for_each(|row| sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64));
            sums.map(|s| s / Self::STEPS as f64)
        })
    }
}

impl LossLog {
    const HEADER: &str = "step,epoch,d_loss,g_loss,d_real,d_fake";

    /// Opens the log of a run that has done `steps` steps: rows after them
    /// (written after its last checkpoint) are dropped, so a resumed run's log
    /// reads as if it had never stopped.
    /// The collapse window is refilled from the rows kept, so that a resumed
    /// run judges collapse exactly as the uninterrupted run would, and the
    /// epoch's means from the rows of `epoch` (0-based), the one it resumes
    /// in, so that its line covers the whole epoch.
    pub(super) fn open(path: &Path, steps: u64, epoch: usize) -> anyhow::Result<Self> {
        let file = reopen_csv(path, Self::HEADER, steps)?;
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let rows: Vec<&str> = text.lines().skip(1).collect();
        let mut log = Self { file: std::io::BufWriter::new(file), sums: [0.0; 4], rows: 0, window: Window::default() };
        let in_epoch = (epoch + 1).to_string();
        let first_kept = rows.len().saturating_sub(Window::STEPS);
        for (i, text) in rows.iter().enumerate() {
            let mut fields = text.split(',').skip(1);
            let this_epoch = fields.next() == Some(in_epoch.as_str());
            if i < first_kept && !this_epoch {
                continue;
            }
            let v: Vec<f32> = fields.filter_map(|x| x.parse().ok()).collect();
            let row =
                <[f32; 4]>::try_from(v).map_err(|_| anyhow::anyhow!("{}: unreadable row {text:?}", path.display()))?;
            if i >= first_kept {
                log.window.push(row);
            }
            if this_epoch {
                log.add_to_means(&row);
            }
        }
        Ok(log)
    }

    fn add_to_means(&mut self, row: &[f32]) {
        self.sums.iter_mut().zip(row).for_each(|(sum, &v)| *sum += v as f64);
        self.rows += 1;
    }

    /// Reads back the stacked losses of the last steps (one transfer) and
    /// appends them; returns the newest row.
    pub(super) fn append(&mut self, epoch: usize, last_step: u64, pending: Vec<Tensor<1>>) -> anyhow::Result<[f32; 4]> {
        let count = pending.len() as u64;
        let values: Vec<f32> =
            Tensor::cat(pending, 0).into_data().try_into_vec_as::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut last = [0.0; 4];
        for (i, row) in values.chunks_exact(4).enumerate() {
            let step = last_step + 1 - count + i as u64;
            writeln!(self.file, "{step},{},{},{},{},{}", epoch + 1, row[0], row[1], row[2], row[3])?;
            last.copy_from_slice(row);
            self.add_to_means(row);
            self.window.push([row[0], row[1], row[2], row[3]]);
        }
        Ok(last)
    }

    /// Means of the columns over the rows appended since the last call.
    pub(super) fn take_means(&mut self) -> [f64; 4] {
        let means = self.sums.map(|sum| sum / self.rows.max(1) as f64);
        (self.sums, self.rows) = ([0.0; 4], 0);
        means
    }

    pub(super) fn flush(&mut self) -> anyhow::Result<()> {
        Ok(self.file.flush()?)
    }
}

/// Opens a CSV log for appending, keeping only the rows whose first column is
/// at most `upto` (those before the checkpoint a run resumes from), so a
/// resumed run's log reads as if it had never stopped.
fn reopen_csv(path: &Path, header: &str, upto: u64) -> anyhow::Result<std::fs::File> {
    let mut kept = vec![header.to_string()];
    if upto > 0 && path.exists() {
        let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        for line in BufReader::new(file).lines().skip(1) {
            let line = line?;
            let first: u64 = line.split(',').next().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
            if first <= upto {
                kept.push(line);
            }
        }
    }
    let mut text = kept.join("\n");
    text.push('\n');
    files::write_atomic(path, text.as_bytes())?;
    OpenOptions::new().append(true).open(path).with_context(|| format!("cannot append to {}", path.display()))
}

/// The FID curve of a run's `metrics.csv`: `(epochs, FID)` per row, the
/// matched FID (it is the plain one at 28x28, and the one that can reach the
/// floor at other sizes). Rows from before it existed give the plain one at
/// 28x28 and are left out at other sizes, where the plain FID is biased.
pub fn read_fid_curve(path: &Path) -> anyhow::Result<Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    if !MetricsLog::HEADER.starts_with(header) || !header.starts_with("step,epoch,fid,") {
        anyhow::bail!("{} is not a metrics.csv of this trainer (its header is {header:?})", path.display());
    }
    let mut curve = Vec::new();
    for (i, line) in lines.enumerate() {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap_or(f64::NAN)).collect();
        let fid = match v.len() {
            18 => v[17],
            17 if v[16] != 28.0 => continue,
            16 | 17 => v[2],
            _ => f64::NAN,
        };
        match v[1] {
            epoch if epoch.is_finite() && !fid.is_nan() => curve.push((epoch, fid)),
            _ => anyhow::bail!("{}, line {}: unreadable row {line:?}", path.display(), i + 2),
        }
    }
    Ok(curve)
}

/// `metrics.csv`, one row per measurement.
pub(super) struct MetricsLog {
    file: std::fs::File,
}

impl MetricsLog {
    /// `side`: the resolution the generator drew at (below full size while
    /// growing; its samples are upsampled to full size to be measured);
    /// `fid_matched`: see [`Metrics::fid_matched`].
    const HEADER: &str =
        "step,epoch,fid,inception_score,coverage,collapsed,d0,d1,d2,d3,d4,d5,d6,d7,d8,d9,side,fid_matched";

    pub(super) fn open(path: &Path, steps: u64) -> anyhow::Result<Self> {
        Ok(Self { file: reopen_csv(path, Self::HEADER, steps)? })
    }

    /// A row for the model after `step` steps, `epoch` (fractional) epochs,
    /// drawing at `side` pixels.
    pub(super) fn append(
        &mut self,
        step: u64,
        epoch: f64,
        m: &Metrics,
        collapsed: bool,
        side: usize,
    ) -> anyhow::Result<()> {
        let digits = m.histogram.map(|c| c.to_string()).join(",");
        writeln!(
            self.file,
            "{step},{epoch:.3},{},{},{},{},{digits},{side},{}",
            m.fid,
            m.inception_score,
            m.coverage(),
            collapsed as u8,
            m.fid_matched
        )?;
        Ok(self.file.flush()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::collapse::{self, Sign};

    #[test]
    fn a_resumed_loss_log_judges_collapse_on_the_same_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("losses.csv");
        let mut text = format!("{}\n", LossLog::HEADER);
        for step in 1..=250 {
            text += &format!("{step},1,1.0,2.0,{},0.5\n", step as f32 / 1000.0);
        }
        std::fs::write(&path, text).unwrap();
        let log = LossLog::open(&path, 240, 0).unwrap();
        assert_eq!(log.window.0.len(), Window::STEPS);
        assert_eq!(log.window.0.front().unwrap()[2], 0.041, "steps 41..=240, as the run had them");
        assert_eq!(log.window.0.back().unwrap()[2], 0.24);
    }

    #[test]
    fn a_run_resumed_within_an_epoch_reports_the_whole_epochs_means() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("losses.csv");
        // Epoch 1: steps 1..=300 with D loss 1; epoch 2: steps 301..=400 with D loss 3.
        let mut text = format!("{}\n", LossLog::HEADER);
        for step in 1..=400 {
            let (epoch, d) = if step <= 300 { (1, 1.0) } else { (2, 3.0) };
            text += &format!("{step},{epoch},{d},2.0,0.5,0.25\n");
        }
        std::fs::write(&path, text).unwrap();
        let mut log = LossLog::open(&path, 400, 1).unwrap();
        log.append(1, 401, vec![Tensor::<1>::from_floats([5.0, 2.0, 0.5, 0.25], &Device::flex())]).unwrap();
        let [d, g, ..] = log.take_means();
        assert!((d - (100.0 * 3.0 + 5.0) / 101.0).abs() < 1e-9, "epoch 2's 100 earlier steps count: {d}");
        assert_eq!(g, 2.0);
        // Resumed at an epoch's start: nothing of the epoch before.
        let mut log = LossLog::open(&path, 300, 1).unwrap();
        assert_eq!(log.take_means(), [0.0; 4]);
    }

    /// `[d_loss, g_loss, d_real, d_fake]` of every step of a real run: the
    /// columns of its `losses.csv`, kept gzipped in `trainer/tests/data/`.
    fn real_run(name: &str) -> Vec<[f32; 4]> {
        use std::io::Read;
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/losses-{name}.csv.gz"));
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap()).read_to_string(&mut text).unwrap();
        let rows: Vec<[f32; 4]> = text
            .lines()
            .skip(1)
            .map(|line| {
                let v: Vec<f32> = line.split(',').skip(1).map(|x| x.parse().unwrap()).collect();
                v.try_into().unwrap()
            })
            .collect();
        assert!(rows.len() > 5000, "{name}: {} steps", rows.len());
        rows
    }

    /// The step at which the trainer raises the alarm on these losses, and
    /// why: the window's means, judged every `READBACK_EVERY` steps, as `train` does.
    fn first_alarm(rows: &[[f32; 4]]) -> Option<(u64, Sign)> {
        let mut window = Window::default();
        rows.iter().zip(1u64..).find_map(|(&row, step)| {
            window.push(row);
            let due = step.is_multiple_of(super::super::READBACK_EVERY);
            due.then(|| window.means().and_then(collapse::check_losses)).flatten().map(|sign| (step, sign))
        })
    }

    #[test]
    fn the_collapse_alarm_fires_on_a_real_collapsed_run_and_not_on_a_healthy_one() {
        // The post's own PyTorch code, seed 0: D wins for good in epoch 9
        // (it had dipped below the floor for a few steps in epochs 2 and 5
        // and recovered, which the 200-step window rightly lets pass).
        let post = real_run("post-seed0");
        let (step, sign) = first_alarm(&post).expect("the post recipe's collapsed run raises the alarm");
        assert!(matches!(sign, Sign::DiscriminatorWins { .. }), "{sign}");
        assert!((7505..=8442).contains(&step), "in epoch 9, where it collapsed for good: step {step}");
        let last: f32 = post[post.len() - Window::STEPS..].iter().map(|r| r[3]).sum::<f32>() / Window::STEPS as f32;
        assert!(last < 0.01, "still collapsed at its end: mean D(G(z)) {last}");
        // The stable recipe, seed 0, 10 epochs: healthy all along.
        let stable = real_run("stable-seed0");
        assert_eq!(first_alarm(&stable).map(|(step, _)| step), None);
    }

    #[test]
    fn the_fid_curve_is_the_matched_fid_and_leaves_out_biased_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        let digits = "0,0,0,0,0,0,0,0,0,0";
        let text = format!(
            "{}\n1,1.0,2000,1.5,3,0,{digits}\n2,2.0,900,2,5,0,{digits},32\n3,3.0,300,6,10,0,{digits},32,40\n",
            MetricsLog::HEADER
        );
        std::fs::write(&path, text).unwrap();
        // Row 1 (28x28, from before the side column): plain; row 2 (32x32
        // without a matched FID): left out; row 3: matched.
        assert_eq!(read_fid_curve(&path).unwrap(), vec![(1.0, 2000.0), (3.0, 40.0)]);
        std::fs::write(&path, "step,loss\n").unwrap();
        assert!(read_fid_curve(&path).unwrap_err().to_string().contains("not a metrics.csv"));
        std::fs::write(&path, format!("{}\n1,x\n", MetricsLog::HEADER)).unwrap();
        assert!(read_fid_curve(&path).unwrap_err().to_string().contains("line 2"));
    }

    #[test]
    fn resumed_logs_drop_rows_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        std::fs::write(&path, "step,epoch\n100,1\n200,2\n300,3\n").unwrap();
        drop(reopen_csv(&path, "step,epoch", 200).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "step,epoch\n100,1\n200,2\n");
    }
}
