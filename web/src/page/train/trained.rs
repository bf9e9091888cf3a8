//! The trained generator, wherever it trained: into the main grid, or into
//! a file to download.

use std::rc::Rc;

use shared::weights::{self, Role, WeightsInfo};
use wasm_bindgen_futures::spawn_local;

use super::super::{Page, Shared, files, js_message, request_draw};
use super::Backing;
use super::worker::{self, TrainWorker};
use crate::app::{Origin, Slot, Weights};

/// The run's generator as a weights file `trainer sample` reads, with the
/// run's facts.
async fn trained_file(state: &Shared) -> Result<Vec<u8>, String> {
    let here = match &state.borrow().training.run {
        Some(Backing::Here(run)) => Some(run.borrow().weights_file()),
        Some(Backing::Worker) => None,
        None => return Err("no run has trained a generator".into()),
    };
    if let Some(file) = here {
        return file.await;
    }
    let asked =
        state.borrow_mut().training.worker.as_mut().map_or(Err("no training worker".into()), TrainWorker::ask_file);
    worker::file(asked?).await
}

/// The trained generator becomes the grid's, for its model.
pub(super) fn use_in_grid(page: &Rc<Page>, state: &Shared) {
    let here = {
        let s = state.borrow();
        match &s.training.run {
            Some(Backing::Here(run)) => {
                let run = run.borrow();
                let info = WeightsInfo::new(Role::Generator, run.config.clone(), Some(run.facts()));
                let weights = Weights::Trained(run.generator());
                Some((run.config.kind(), Slot::Ready { weights, info, origin: Origin::Trained { steps: run.step } }))
            }
            _ => None,
        }
    };
    if let Some((kind, slot)) = here {
        state.borrow_mut().set_slot(kind, slot);
        page.choose_model(state, kind);
        return request_draw(page, state);
    }
    // From the worker: its file, which the drawing workers get.
    let (page, state) = (page.clone(), state.clone());
    spawn_local(async move {
        let checked = trained_file(&state)
            .await
            .and_then(|file| weights::check_generator(&file, None).map(|info| (info, file)).map_err(|e| e.to_string()));
        match checked {
            Ok((info, file)) => {
                let kind = info.model.kind();
                let steps = info.training.as_ref().map_or(0, |t| t.steps as usize);
                let slot =
                    Slot::Ready { weights: Weights::File(Rc::new(file)), info, origin: Origin::Trained { steps } };
                state.borrow_mut().set_slot(kind, slot);
                page.choose_model(&state, kind);
                request_draw(&page, &state);
            }
            Err(e) => page.error(&format!("using the trained generator: {e}")),
        }
    });
}

/// Saves the trained generator as a safetensors file `trainer sample` reads.
pub(super) fn download(page: &Rc<Page>, state: &Shared) {
    let (page, state) = (page.clone(), state.clone());
    spawn_local(async move {
        let saved = trained_file(&state).await.and_then(|file| {
            let info = weights::read_info(&file).map_err(|e| e.to_string())?;
            let steps = info.training.map_or(0, |t| t.steps);
            Ok((file, format!("{}-trained-{steps}-steps.safetensors", info.model.kind())))
        });
        match saved {
            Ok((file, name)) => match files::download(&page, &file, &name) {
                Ok(()) => page.mark("traindownload", &name),
                Err(e) => page.error(&format!("download: {}", js_message(e))),
            },
            Err(e) => page.error(&format!("saving the trained generator: {e}")),
        }
    });
}
