//! The user's own weights: a `.safetensors` generator dropped on the page or
//! chosen with the file button, checked (size before reading, then
//! architecture and tensors) and drawn in the grid, or refused with the
//! reason. And the way out: saving bytes as a download.
//!
//! `data-weights` is `loaded` or `refused` after each file, with the message
//! in `#weights-message`.

use std::rc::Rc;

use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{Blob, BlobPropertyBag, DragEvent, File, HtmlAnchorElement, HtmlInputElement, Url};

use super::{Page, Shared, js_message, listen, request_draw};
use crate::app::{self, Origin, Slot, Weights};

async fn read(file: &File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer()).await.map_err(js_message)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Checks a file and, if it holds a generator, draws the grid with it.
async fn take(page: &Rc<Page>, state: &Shared, file: File) {
    let name = file.name();
    page.text("weights-message", &format!("Checking {name}…"));
    let result = match app::check_size(&name, file.size()) {
        Ok(()) => read(&file).await.map_err(|e| format!("{name}: cannot read it: {e}")),
        Err(e) => Err(e),
    };
    match result.and_then(|bytes| app::check_user_weights(&name, &bytes).map(|info| (info, bytes))) {
        Ok((info, bytes)) => {
            let kind = info.model.kind();
            let trained = match &info.training {
                Some(t) => format!(", trained {} steps with seed {}", t.steps, t.seed),
                None => String::new(),
            };
            page.text("weights-message", &format!("Using {name}: a {} generator{trained}.", app::label(kind)));
            let slot = Slot::Ready { weights: Weights::File(Rc::new(bytes)), info, origin: Origin::File(name) };
            state.borrow_mut().set_slot(kind, slot);
            page.choose_model(state, kind);
            page.mark("weights", "loaded");
            request_draw(page, state);
        }
        Err(message) => {
            page.text("weights-message", &format!("Not used: {message}"));
            page.mark("weights", "refused");
        }
    }
}

pub fn wire(page: &Rc<Page>, state: &Shared) -> Result<(), JsValue> {
    let input: HtmlInputElement = page.get("weights-file")?;
    let (p, s) = (page.clone(), state.clone());
    let chooser = input.clone();
    listen(&input, "change", move |_: web_sys::Event| {
        if let Some(file) = chooser.files().and_then(|f| f.get(0)) {
            let (p, s) = (p.clone(), s.clone());
            spawn_local(async move { take(&p, &s, file).await });
        }
        chooser.set_value(""); // choosing the same file again fires `change` again
    })?;

    // Anywhere on the page: without `preventDefault` on `dragover` the
    // browser would open the file instead of dropping it here.
    listen(&page.document, "dragover", move |e: DragEvent| e.prevent_default())?;
    let (p, s) = (page.clone(), state.clone());
    listen(&page.document, "drop", move |e: DragEvent| {
        e.prevent_default();
        if let Some(file) = e.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) {
            let (p, s) = (p.clone(), s.clone());
            spawn_local(async move { take(&p, &s, file).await });
        }
    })?;
    Ok(())
}

/// Offers `bytes` as a download named `name`.
pub fn download(page: &Page, bytes: &[u8], name: &str) -> Result<(), JsValue> {
    let parts = Array::of1(&Uint8Array::from(bytes));
    let options = BlobPropertyBag::new();
    options.set_type("application/octet-stream");
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &options)?;
    let url = Url::create_object_url_with_blob(&blob)?;
    let link: HtmlAnchorElement = page.document.create_element("a")?.dyn_into()?;
    link.set_href(&url);
    link.set_download(name);
    link.click();
    // Freed once the browser has surely taken the bytes.
    let free = Closure::once_into_js(move || {
        let _ = Url::revoke_object_url(&url);
    });
    page.window.set_timeout_with_callback_and_timeout_and_arguments_0(free.unchecked_ref(), 60_000)?;
    Ok(())
}
