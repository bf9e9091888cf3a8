//! The one download routine of the page and of its worker (two wasm
//! modules, which share no code at run time): a fetch's bytes, refusing HTTP
//! errors and bodies over a size limit, by the length the response declares
//! before reading anything, and while reading, so that a body that declares
//! no length, or a wrong one, never grows past the limit in memory.

#[cfg(target_arch = "wasm32")]
mod browser {
    use js_sys::{Promise, Reflect, Uint8Array};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{ReadableStreamDefaultReader, Response};

    /// A JavaScript error's message.
    pub fn js_message(e: JsValue) -> String {
        e.as_string()
            .or_else(|| Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()))
            .unwrap_or_else(|| "an error without a message".into())
    }

    /// The body of the response `fetch` (a `fetch()` call) resolves to; the
    /// reasons it gives name no URL, which the caller knows.
    pub async fn read_limited(fetch: Promise, limit: usize) -> Result<Vec<u8>, String> {
        let response: Response = JsFuture::from(fetch)
            .await
            .map_err(js_message)?
            .dyn_into()
            .map_err(|_| "fetch did not return a response".to_string())?;
        if !response.ok() {
            return Err(format!("HTTP {} {}", response.status(), response.status_text()).trim_end().into());
        }
        let declared = response.headers().get("content-length").ok().flatten().and_then(|l| l.parse::<usize>().ok());
        if let Some(length) = declared.filter(|&l| l > limit) {
            return Err(format!("{length} bytes, over the {limit}-byte limit"));
        }
        let Some(body) = response.body() else { return Ok(Vec::new()) };
        let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0));
        loop {
            let chunk = JsFuture::from(reader.read()).await.map_err(js_message)?;
            if Reflect::get(&chunk, &"done".into()).map_or(true, |done| done.is_truthy()) {
                return Ok(bytes);
            }
            let value: Uint8Array = Reflect::get(&chunk, &"value".into())
                .ok()
                .and_then(|v| v.dyn_into().ok())
                .ok_or("the download sent something other than bytes")?;
            let start = bytes.len();
            if start + value.length() as usize > limit {
                let _ = reader.cancel();
                return Err(format!("over the {limit}-byte limit"));
            }
            bytes.resize(start + value.length() as usize, 0);
            value.copy_to(&mut bytes[start..]);
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use browser::{js_message, read_limited};
