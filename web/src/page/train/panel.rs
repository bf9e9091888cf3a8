//! The "Train here" panel's fields, buttons, status line and loss chart: what
//! the run shows, and which controls apply.

use web_sys::{Element, HtmlButtonElement, HtmlInputElement, HtmlSelectElement};

use super::{Data, Training};
use crate::page::Page;
use crate::training::{Phase, Progress};

pub(super) fn select_value(page: &Page, id: &str) -> String {
    page.get::<HtmlSelectElement>(id).map(|s| s.value()).unwrap_or_default()
}

pub(super) fn input_value(page: &Page, id: &str) -> String {
    page.get::<HtmlInputElement>(id).map(|i| i.value()).unwrap_or_default()
}

fn set_enabled(page: &Page, id: &str, on: bool) {
    if let Ok(e) = page.get::<Element>(id) {
        let _ = if on { e.remove_attribute("disabled") } else { e.set_attribute("disabled", "") };
    }
}

pub(super) fn status(page: &Page, text: &str) {
    page.text("train-status", text);
}

/// Enables the buttons and fields that apply now.
pub(super) fn controls(page: &Page, training: &Training) {
    let phase = training.progress.as_ref().map(|p| p.phase.clone());
    let data_ready = matches!(training.data, Data::Ready { .. });
    // Still winding down counts as active: its last losses belong to this run.
    let active = matches!(phase, Some(Phase::Running | Phase::Paused)) || training.starting || training.looping;
    let has_weights = training.progress.as_ref().is_some_and(|p| p.step > 0) && phase != Some(Phase::Running);
    let enable = |id: &str, on: bool| {
        if let Ok(b) = page.get::<HtmlButtonElement>(id) {
            b.set_disabled(!on);
        }
    };
    enable("train-go", data_ready && !active);
    enable("train-pause", matches!(phase, Some(Phase::Running | Phase::Paused)));
    enable("train-stop", matches!(phase, Some(Phase::Running | Phase::Paused)));
    enable("train-use", has_weights);
    enable("train-download", has_weights);
    if let Ok(b) = page.get::<Element>("train-pause") {
        b.set_text_content(Some(if phase == Some(Phase::Paused) { "Resume" } else { "Pause" }));
    }
    for id in ["train-model", "train-from", "train-steps", "train-batch", "train-lr"] {
        set_enabled(page, id, !active);
    }
    // Only a conv model from scratch can grow: shipped networks are grown.
    let can_grow = select_value(page, "train-model") == "pggan" && select_value(page, "train-from") == "scratch";
    set_enabled(page, "train-schedule", !active && can_grow);
    let state = match (&phase, training.starting) {
        (_, true) => "starting",
        (Some(p), _) => p.name(),
        (None, _) => "idle",
    };
    page.mark("trainstate", state);
}

pub(super) fn show_progress(page: &Page, run: &Progress, (t0, step0): (f64, usize), now: f64) {
    let seconds = (now - t0) / 1000.0;
    let rate = if seconds > 0.0 && run.step > step0 { (run.step - step0) as f64 / seconds } else { 0.0 };
    let (d, g) = (run.chart.d.last().copied().unwrap_or(f32::NAN), run.chart.g.last().copied().unwrap_or(f32::NAN));
    let what = match run.phase {
        Phase::Running => "Training",
        Phase::Paused => "Paused",
        Phase::Stopped => "Stopped",
        Phase::Finished => "Done",
        Phase::Failed(_) => "Failed",
    };
    let rate_text = if rate > 0.0 { format!(", {rate:.1} steps/s") } else { String::new() };
    let stage = run.stage.map(|s| format!(", at {s}")).unwrap_or_default();
    status(
        page,
        &format!("{what}: step {} of {}{stage}, D loss {d:.3}, G loss {g:.3}{rate_text}", run.step, run.settings.steps),
    );
    page.mark("trainstep", &run.step.to_string());
    page.mark("trainstage", &run.stage.map(|s| s.to_string()).unwrap_or_default());
    page.mark("trainloss", &format!("{d} {g}"));
    if rate > 0.0 {
        page.mark("trainrate", &format!("{rate:.2}"));
    }
}

/// D (orange) and G (blue) losses over the run's steps.
pub(super) fn draw_chart(page: &Page, run: &Progress) {
    let chart = &page.chart;
    let (w, h) = (chart.element.width() as f64, chart.element.height() as f64);
    let (left, top, bottom) = (38.0, 8.0, 18.0);
    let (pw, ph) = (w - left - 8.0, h - top - bottom);
    let plot = run.chart.plot(run.settings.steps, pw, ph);
    let c = &chart.context;
    c.set_fill_style_str("#181818");
    c.fill_rect(0.0, 0.0, w, h);
    c.set_font("11px sans-serif");
    c.set_fill_style_str("#999");
    c.set_stroke_style_str("#333");
    c.set_line_width(1.0);
    for (value, y) in [(plot.y_max, top), (plot.y_max / 2.0, top + ph / 2.0), (0.0, top + ph)] {
        c.begin_path();
        c.move_to(left, y);
        c.line_to(left + pw, y);
        c.stroke();
        c.set_text_align("right");
        let _ = c.fill_text(&format!("{value:.2}"), left - 4.0, y + 4.0);
    }
    c.set_text_align("left");
    let _ = c.fill_text(&format!("step {} of {}", run.chart.len(), run.settings.steps), left, h - 4.0);
    for (points, colour, name, x) in [(&plot.d, "#f0a040", "D loss", 0.55), (&plot.g, "#60b0ff", "G loss", 0.78)] {
        c.set_stroke_style_str(colour);
        c.set_line_width(1.5);
        c.begin_path();
        for (i, &(x, y)) in points.iter().enumerate() {
            if i == 0 { c.move_to(left + x, top + y) } else { c.line_to(left + x, top + y) }
        }
        c.stroke();
        c.set_fill_style_str(colour);
        let _ = c.fill_text(name, left + pw * x, h - 4.0);
    }
}
