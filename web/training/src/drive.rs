//! The loop that drives a [`Run`], and what it reports: the same on both
//! ends, the page (WebGPU) and its training worker (CPU).

use std::cell::RefCell;
use std::future::Future;

use serde::{Deserialize, Serialize};
use shared::growth::Stage;
use shared::image::Gray;

use crate::{LossChart, Phase, Run, Settings};

/// Where a run stands after a read-back or a button press, with the D and G
/// losses of the steps charted since the last report. The worker sends it to
/// the page as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub step: usize,
    pub phase: Phase,
    pub stage: Option<Stage>,
    pub d: Vec<f32>,
    pub g: Vec<f32>,
}

/// What the panel knows of a run, wherever it runs, kept up to date from
/// its [`Report`]s.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub settings: Settings,
    pub step: usize,
    pub phase: Phase,
    pub stage: Option<Stage>,
    pub chart: LossChart,
}

impl Progress {
    pub fn new(settings: Settings) -> Self {
        Self { settings, step: 0, phase: Phase::Running, stage: None, chart: LossChart::default() }
    }

    pub fn apply(&mut self, report: Report) {
        self.step = report.step;
        self.phase = report.phase;
        self.stage = report.stage;
        for (d, g) in report.d.into_iter().zip(report.g) {
            self.chart.push(d, g);
        }
    }
}

/// What [`drive`] has to show.
pub enum Event {
    Report(Report),
    /// The preview grid (the run's generator at the run's seed), or why it
    /// could not be drawn; the run goes on either way.
    Preview(Result<Gray, String>),
}

/// Steps `run` while it is running, one step per `next_turn()` (so that the
/// thread answers messages and clicks between steps): reads the losses back
/// every few steps and reports them, draws the preview when due. Returns
/// once the run no longer runs (paused or over) and what was pending has been
/// reported and drawn. A failed read-back fails the run.
pub async fn drive<T: Future<Output = ()>>(run: &RefCell<Run>, mut show: impl FnMut(Event), next_turn: impl Fn() -> T) {
    loop {
        let (losses, preview, running) = {
            let mut run = run.borrow_mut();
            run.step();
            let losses = run.take_losses();
            let preview = run
                .preview_due()
                .then(|| (run.generator(), run.config.clone(), run.settings.seed, run.device().clone()));
            (losses, preview, run.wants_step())
        };
        if let Some(losses) = losses {
            let values = match losses.into_data_async().await {
                Ok(data) => data.try_into_vec_as::<f32>().map_err(|e| format!("{e:?}")),
                Err(e) => Err(format!("{e:?}")),
            };
            let mut run = run.borrow_mut();
            let from = run.chart.len();
            match values {
                // A loss that is not a number fails the run, which the report says.
                Ok(values) => {
                    let _ = run.record(&values);
                }
                Err(e) => run.fail(format!("reading the losses back: {e}")),
            }
            show(Event::Report(run.report(from)));
        }
        if let Some((generator, config, seed, device)) = preview {
            show(Event::Preview(shared::draw::draw_digits(&generator, &config, seed, &device).await));
        }
        if !running {
            return;
        }
        next_turn().await;
    }
}
