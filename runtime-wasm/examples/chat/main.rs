//! A small chat with presence in the browser: the page's `index.html` loads this module (built
//! by `scripts/wasm-example`), which joins a room on the local server, shows who is online and
//! every message, and sends what is typed. `?url=` picks the server
//! (`ws://127.0.0.1:4000/realtime/v1` by default), `?name=` the user.

use std::rc::Rc;

use realtime_wasm::{ChannelConfig, Config, PresenceEvent, RealtimeClient};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Document, HtmlInputElement, KeyboardEvent};

#[derive(Serialize, Deserialize)]
struct Line {
    from: String,
    text: String,
}

fn query(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    params.get(name).filter(|v| !v.is_empty())
}

fn element(doc: &Document, id: &str) -> web_sys::Element {
    doc.get_element_by_id(id).unwrap_or_else(|| panic!("#{id} in index.html"))
}

fn append(doc: &Document, list: &str, text: &str) {
    let item = doc.create_element("li").expect("an element");
    item.set_text_content(Some(text));
    let _ = element(doc, list).append_child(&item);
}

/// Runs when the module loads.
#[wasm_bindgen(start)]
pub fn start() {
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = run().await {
            web_sys::console::error_1(&format!("chat: {e}").into());
            if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
                element(&doc, "status").set_text_content(Some(&format!("error: {e}")));
            }
        }
    });
}

async fn run() -> Result<(), realtime_wasm::Error> {
    let doc = web_sys::window().and_then(|w| w.document()).expect("a page");
    let url = query("url").unwrap_or_else(|| "ws://127.0.0.1:4000/realtime/v1".into());
    let me = query("name").unwrap_or_else(|| format!("guest-{}", (js_sys::Math::random() * 1000.0) as u32));
    element(&doc, "me").set_text_content(Some(&me));
    let client = RealtimeClient::new(Config::new(url.as_str(), "anon"))?;
    // Probe the link as soon as the page is shown again, back online or restored.
    std::mem::forget(realtime_wasm::resume_on_wake(&client));
    let room =
        client.channel("lobby", ChannelConfig::new().presence_key(me.as_str()).broadcast_self(true)).await?;
    let mut lines = room.on_broadcast_as::<Line>("line").await;
    let mut presence = room.on_presence().await;
    element(&doc, "status").set_text_content(Some(&format!("joining {url}")));
    room.subscribe().await?;
    room.track(&serde_json::json!({"name": me})).await?;
    element(&doc, "status").set_text_content(Some("online"));

    // Enter sends the line.
    let input: HtmlInputElement = element(&doc, "text").dyn_into().expect("an input");
    let sender = Rc::new((room.clone(), me.clone(), input.clone()));
    let on_key = Closure::<dyn FnMut(KeyboardEvent)>::new(move |e: KeyboardEvent| {
        if e.key() != "Enter" {
            return;
        }
        let (room, me, input) = (&sender.0, &sender.1, &sender.2);
        let text = input.value();
        input.set_value("");
        if text.is_empty() {
            return;
        }
        let (room, from) = (room.clone(), me.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let _ = room.send("line", &Line { from, text }).await;
        });
    });
    input.add_event_listener_with_callback("keydown", on_key.as_ref().unchecked_ref()).expect("a listener");
    on_key.forget();

    let doc2 = doc.clone();
    let room2 = room.clone();
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(event) = presence.recv().await {
            if let Ok(PresenceEvent::Sync) = event {
                // The whole state after each change: who is online now.
                let online = element(&doc2, "online");
                online.set_inner_html("");
                if let Ok(state) = room2.presence_state().await {
                    for (key, _) in state {
                        append(&doc2, "online", &key);
                    }
                }
            }
        }
    });
    while let Some(line) = lines.recv().await {
        match line {
            Ok(Line { from, text }) => append(&doc, "messages", &format!("{from}: {text}")),
            Err(e) => append(&doc, "messages", &format!("(unreadable: {e})")),
        }
    }
    Ok(())
}
