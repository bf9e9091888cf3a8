//! The page's elements: its canvases, the texts and data attributes it
//! updates, and event listeners.

use std::rc::Rc;

use js_sys::Promise;
use shared::ModelKind;
use shared::image::Gray;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CanvasRenderingContext2d, Document, HtmlCanvasElement, HtmlElement, HtmlInputElement, ImageData, MouseEvent, Window,
};

use super::Shared;
use crate::app;

/// A canvas and its 2D context.
pub(super) struct Canvas {
    pub(super) element: HtmlCanvasElement,
    pub(super) context: CanvasRenderingContext2d,
}

impl Canvas {
    fn new(document: &Document, id: &str) -> Result<Self, JsValue> {
        let element: HtmlCanvasElement = element(document, id)?;
        let context = element
            .get_context("2d")?
            .ok_or_else(|| JsValue::from_str(&format!("#{id}: no 2d context")))?
            .dyn_into::<CanvasRenderingContext2d>()?;
        Ok(Self { element, context })
    }

    /// Draws gray pixels one to one, resizing the canvas to them (CSS scales it up).
    pub(super) fn paint(&self, picture: &Gray) -> Result<(), JsValue> {
        self.element.set_width(picture.width as u32);
        self.element.set_height(picture.height as u32);
        let rgba = app::rgba(picture);
        let (w, h) = (picture.width as u32, picture.height as u32);
        let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), w, h)?;
        self.context.put_image_data(&data, 0.0, 0.0)
    }
}

pub(super) struct Page {
    pub(super) window: Window,
    pub(super) document: Document,
    pub(super) body: HtmlElement,
    pub(super) digits: Canvas,
    /// The latent walk's frame, the training preview grid and loss chart.
    pub(super) walk: Canvas,
    pub(super) preview: Canvas,
    pub(super) chart: Canvas,
    pub(super) seed: HtmlInputElement,
}

pub(super) fn element<T: JsCast>(document: &Document, id: &str) -> Result<T, JsValue> {
    document
        .get_element_by_id(id)
        .ok_or_else(|| JsValue::from_str(&format!("index.html lacks #{id}")))?
        .dyn_into::<T>()
        .map_err(|_| JsValue::from_str(&format!("#{id} is not the expected element")))
}

impl Page {
    pub(super) fn new() -> Result<Self, JsValue> {
        let window = web_sys::window().ok_or("no window")?;
        let document = window.document().ok_or("no document")?;
        let body = document.body().ok_or("no body")?;
        let digits = Canvas::new(&document, "digits")?;
        let walk = Canvas::new(&document, "walk")?;
        let preview = Canvas::new(&document, "train-digits")?;
        let chart = Canvas::new(&document, "train-chart")?;
        let seed = element(&document, "seed")?;
        Ok(Self { window, document, body, digits, walk, preview, chart, seed })
    }

    pub(super) fn get<T: JsCast>(&self, id: &str) -> Result<T, JsValue> {
        element(&self.document, id)
    }

    /// The model switch's radio button for `kind`.
    pub(super) fn radio(&self, kind: ModelKind) -> Result<HtmlInputElement, JsValue> {
        self.get(&format!("model-{kind}"))
    }

    /// Switches the grid to `kind`, enabling its radio button.
    pub(super) fn choose_model(&self, state: &Shared, kind: ModelKind) {
        state.borrow_mut().model = kind;
        if let Ok(radio) = self.radio(kind) {
            radio.set_disabled(false);
            radio.set_checked(true);
        }
    }

    pub(super) fn mark(&self, key: &str, value: &str) {
        let _ = self.body.dataset().set(key, value);
    }

    pub(super) fn text(&self, id: &str, text: &str) {
        if let Some(e) = self.document.get_element_by_id(id) {
            e.set_text_content(Some(text));
        }
    }

    pub(super) fn error(&self, message: &str) {
        web_sys::console::error_1(&message.into());
        if let (Some(list), Ok(item)) = (self.document.get_element_by_id("errors"), self.document.create_element("li"))
        {
            item.set_text_content(Some(message));
            let _ = list.append_child(&item);
        }
    }

    /// A message drawn on the canvas, so that it never stays blank.
    pub(super) fn notice(&self, message: &str) {
        let (canvas, context) = (&self.digits.element, &self.digits.context);
        let (w, h) = (canvas.width() as f64, canvas.height() as f64);
        context.set_fill_style_str("#202020");
        context.fill_rect(0.0, 0.0, w, h);
        context.set_fill_style_str("#ff8888");
        context.set_font("14px sans-serif");
        context.set_text_align("center");
        let _ = context.fill_text(message, w / 2.0, h / 2.0);
    }

    pub(super) fn now(&self) -> f64 {
        self.window.performance().map(|p| p.now()).unwrap_or(0.0)
    }

    /// Lets the browser handle events and paint before going on.
    pub(super) async fn next_turn(&self) {
        let window = self.window.clone();
        let promise = Promise::new(&mut |resolve, _| {
            let _ = window.set_timeout_with_callback(&resolve);
        });
        let _ = JsFuture::from(promise).await;
    }
}

pub(super) fn listen<E>(
    target: &web_sys::EventTarget,
    event: &str,
    handler: impl FnMut(E) + 'static,
) -> Result<(), JsValue>
where
    E: wasm_bindgen::convert::FromWasmAbi + 'static,
{
    let closure = Closure::<dyn FnMut(E)>::new(handler);
    target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref())?;
    closure.forget(); // the page lives as long as its listeners
    Ok(())
}

/// A button's clicks.
pub(super) fn on_click(
    page: &Rc<Page>,
    state: &Shared,
    id: &str,
    handler: fn(&Rc<Page>, &Shared),
) -> Result<(), JsValue> {
    let button: HtmlElement = page.get(id)?;
    let (p, s) = (page.clone(), state.clone());
    listen(&button, "click", move |_: MouseEvent| handler(&p, &s))
}
