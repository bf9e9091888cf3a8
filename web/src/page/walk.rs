//! The latent walk: one digit morphing into another along the great circle
//! between their latents. Its frames are generated in one batch (in the
//! worker that draws the grid, or here if none can), then played
//! back and forth, or scrubbed with the slider; in walk mode a click on the
//! grid picks the next end point.
//!
//! `data-walkframes` counts the frame sets drawn, `data-walkfrom`/`walkto`
//! name the end digits, `data-walkframe` the frame shown.

use std::rc::Rc;

use shared::image::Gray;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlButtonElement, HtmlElement, HtmlInputElement, MouseEvent};

use super::{Coalesce, Page, Shared, coalesced, js_message, listen};
use crate::app::{self, WALK_FRAMES, WalkEnds};

/// Milliseconds per frame while playing.
const FRAME_MS: i32 = 60;

#[derive(Default)]
pub struct Walk {
    on: bool,
    ends: WalkEnds,
    frames: Vec<Gray>,
    frame: usize,
    /// Playing forward (or backward, on the way back).
    forward: bool,
    paused: bool,
    drawing: Coalesce,
    drawn: u64,
}

fn show_frame(page: &Page, walk: &Walk) {
    let Some(frame) = walk.frames.get(walk.frame) else { return };
    if let Err(e) = page.walk.paint(frame) {
        page.error(&format!("drawing the walk failed: {}", js_message(e)));
    }
    if let Ok(slider) = page.get::<HtmlInputElement>("walk-t") {
        slider.set_value(&walk.frame.to_string());
    }
    page.mark("walkframe", &walk.frame.to_string());
}

fn describe(page: &Page, walk: &Walk) {
    let (from, to) = (walk.ends.from, walk.ends.to);
    let place = |i: usize| format!("#{} (row {}, column {})", i + 1, i / 8 + 1, i % 8 + 1);
    page.text(
        "walk-ends",
        &format!("From digit {} to digit {}. Click a digit in the grid to walk on to it.", place(from), place(to)),
    );
    page.mark("walkfrom", &from.to_string());
    page.mark("walkto", &to.to_string());
}

/// Generates the frames for the grid's model, seed and the chosen ends.
pub fn request(page: &Rc<Page>, state: &Shared) {
    if !state.borrow().walk.on {
        return;
    }
    let (page, shared) = (page.clone(), state.clone());
    coalesced(
        state,
        |s| &mut s.walk.drawing,
        async move || {
            let (job, device, seed, ends, worker) = {
                let s = shared.borrow();
                (s.chosen(), s.device.clone(), s.seed, s.walk.ends, s.drawing_worker())
            };
            let Ok((weights, info, _)) = job else { return };
            // In the worker that draws the grid, as the grid; here if none can.
            let in_worker = match &worker {
                Some((worker, _)) => worker.walk(info.model.kind(), seed, ends).await.ok(),
                None => None,
            };
            let walked = match in_worker {
                Some(frames) => Ok(frames),
                None => match weights.generator(&info.model, &device) {
                    Ok(generator) => app::walk_frames(&generator, &info.model, seed, ends, &device).await,
                    Err(e) => Err(e),
                },
            };
            match walked {
                Ok(frames) => {
                    let mut s = shared.borrow_mut();
                    let walk = &mut s.walk;
                    walk.frames = frames;
                    walk.frame = 0;
                    walk.forward = true;
                    walk.drawn += 1;
                    describe(&page, walk);
                    show_frame(&page, walk);
                    page.mark("walkframes", &walk.drawn.to_string());
                }
                Err(e) => page.error(&format!("latent walk: {e}")),
            }
        },
    );
}

/// A click on the grid: in walk mode it picks the digit under the pointer
/// and returns true; otherwise it returns false (the grid resamples).
pub fn click(page: &Rc<Page>, state: &Shared, event: &MouseEvent) -> bool {
    let side = match state.borrow().chosen() {
        Ok((_, info, _)) => info.model.image_size(),
        Err(_) => return false,
    };
    if !state.borrow().walk.on {
        return false;
    }
    // CSS pixels to canvas pixels: the canvas is drawn scaled up.
    let canvas = &page.digits.element;
    let scale = canvas.width() as f64 / canvas.client_width().max(1) as f64;
    if let Some(cell) = app::cell_at(event.offset_x() as f64 * scale, event.offset_y() as f64 * scale, side) {
        let mut s = state.borrow_mut();
        s.walk.ends = s.walk.ends.pick(cell);
        describe(page, &s.walk);
        drop(s);
        request(page, state);
    }
    true
}

fn set_paused(page: &Page, walk: &mut Walk, paused: bool) {
    walk.paused = paused;
    if let Ok(button) = page.get::<HtmlButtonElement>("walk-play") {
        button.set_text_content(Some(if paused { "Play" } else { "Pause" }));
    }
}

pub fn wire(page: &Rc<Page>, state: &Shared) -> Result<(), JsValue> {
    let mode: HtmlInputElement = page.get("walk-mode")?;
    let panel: HtmlElement = page.get("walk-panel")?;
    let slider: HtmlInputElement = page.get("walk-t")?;
    slider.set_max(&(WALK_FRAMES - 1).to_string());

    let (p, s) = (page.clone(), state.clone());
    let toggle = mode.clone();
    listen(&mode, "change", move |_: web_sys::Event| {
        let on = toggle.checked();
        s.borrow_mut().walk.on = on;
        panel.set_hidden(!on);
        p.digits.element.set_title(if on {
            "Click a digit: the walk goes on to it"
        } else {
            "Click, or press Space, for new digits"
        });
        p.mark("walk", if on { "on" } else { "off" });
        request(&p, &s);
    })?;

    let (p, s) = (page.clone(), state.clone());
    let input = slider.clone();
    listen(&slider, "input", move |_: web_sys::Event| {
        let mut st = s.borrow_mut();
        let walk = &mut st.walk;
        set_paused(&p, walk, true);
        walk.frame = input.value().parse::<usize>().unwrap_or(0).min(walk.frames.len().saturating_sub(1));
        show_frame(&p, walk);
    })?;

    let play: HtmlElement = page.get("walk-play")?;
    let (p, s) = (page.clone(), state.clone());
    listen(&play, "click", move |_: MouseEvent| {
        let mut st = s.borrow_mut();
        let paused = !st.walk.paused;
        set_paused(&p, &mut st.walk, paused);
    })?;

    // The animation: back and forth over the frames.
    let (p, s) = (page.clone(), state.clone());
    let tick = Closure::<dyn FnMut()>::new(move || {
        let mut st = s.borrow_mut();
        let walk = &mut st.walk;
        if !walk.on || walk.paused || walk.frames.len() < 2 {
            return;
        }
        let last = walk.frames.len() - 1;
        if (walk.forward && walk.frame == last) || (!walk.forward && walk.frame == 0) {
            walk.forward = !walk.forward;
        }
        walk.frame = if walk.forward { walk.frame + 1 } else { walk.frame - 1 };
        show_frame(&p, walk);
    });
    page.window.set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), FRAME_MS)?;
    tick.forget();
    Ok(())
}
