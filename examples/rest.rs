//! REST: a notes resource at `/notes` with every REST action, plus AJAJ events on the same route.
//!
//! ```text
//! cargo run --example rest                         # http://127.0.0.1:3000/notes
//! curl -s localhost:3000/notes                              # index   (GET, no id)
//! curl -s localhost:3000/notes/new                          # new     (GET, id = new): an HTML form
//! curl -s -d title=Hi -d body=there localhost:3000/notes    # create  (POST): redirects to the note
//! curl -s localhost:3000/notes/1                            # show    (GET with an id)
//! curl -s -X PATCH -d title=Hello localhost:3000/notes/1    # update  (PUT/PATCH with an id)
//! curl -s -d _method=delete localhost:3000/notes/1          # delete  (DELETE, or POST + _method)
//! curl -s localhost:3000/notes/count                        # AJAJ event `count` (safe: GET or POST)
//! curl -s -H 'Content-Type: application/json' -d '{"id":"search","q":"hi"}' localhost:3000/notes
//! ```
//! A JSON body works wherever a form does. An id that is not a number declines (falls through to
//! the 404 answer); a number with no note is a JSON 404.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use plezi::prelude::*;

/// One note.
#[derive(Clone)]
struct Note {
    title: String,
    body: String,
}

/// The notes, shared by every request (a database would go here).
#[derive(Default)]
struct Store {
    next: u64,
    notes: BTreeMap<u64, Note>,
}

type Shared = Arc<Mutex<Store>>;

/// The controller: one instance per request, all sharing the store.
struct Notes {
    store: Shared,
}

fn note_json(id: u64, note: &Note) -> Value {
    json!({"id": id, "title": note.title, "body": note.body})
}

fn json_response(status: u16, value: &Value) -> Response {
    Response::json(status, value.to_string())
}

fn not_found(id: u64) -> Option<Response> {
    Some(json_response(
        404,
        &json!({"error": "no such note", "id": id}),
    ))
}

impl Notes {
    /// The numeric `id` param; `None` (decline) when it is not a number.
    fn id(cx: &Ctx<'_>) -> Option<u64> {
        cx.params().get_str("id")?.parse().ok()
    }

    /// A string param (form values are strings; JSON bodies may carry any value).
    fn text(cx: &Ctx<'_>, key: &str) -> Option<String> {
        match cx.params().get(key)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// AJAJ `count`: how many notes there are.
    fn count(&mut self, _cx: &mut Ctx<'_>, _msg: Value) -> Value {
        json!({"event": "count", "count": self.store().notes.len()})
    }

    /// AJAJ (and WebSocket-less) `search {q}`: notes whose title or body contains `q`.
    fn search(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
        let q = msg["q"].as_str().unwrap_or_default().to_lowercase();
        let found: Vec<Value> = self
            .store()
            .notes
            .iter()
            .filter(|(_, n)| {
                n.title.to_lowercase().contains(&q) || n.body.to_lowercase().contains(&q)
            })
            .map(|(id, n)| note_json(*id, n))
            .collect();
        json!({"event": "search", "q": q, "notes": found})
    }
}

impl Controller for Notes {
    fn events() -> Events<Self> {
        // HTTP only (no WebSocket), with two AJAJ events; both only read, so both are declared
        // safe for GET too (a handler that changes anything stays `both`: POST only).
        Events::none()
            .safe("count", Notes::count)
            .safe("search", Notes::search)
    }

    fn index(&mut self, _cx: &mut Ctx<'_>) -> Option<Response> {
        let notes: Vec<Value> = self
            .store()
            .notes
            .iter()
            .map(|(id, n)| note_json(*id, n))
            .collect();
        Some(json_response(200, &json!({"notes": notes})))
    }

    fn show(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let id = Notes::id(cx)?;
        match self.store().notes.get(&id) {
            Some(note) => Some(json_response(200, &note_json(id, note))),
            None => not_found(id),
        }
    }

    fn new(&mut self, _cx: &mut Ctx<'_>) -> Option<Response> {
        Some(Response::html(
            200,
            "<!doctype html><title>New note</title><form method=post action=/notes>\
             <input name=title placeholder=title> <input name=body placeholder=body> \
             <button>Create</button></form>",
        ))
    }

    fn create(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let note = Note {
            title: Notes::text(cx, "title").unwrap_or_else(|| "untitled".to_owned()),
            body: Notes::text(cx, "body").unwrap_or_default(),
        };
        let id = {
            let mut store = self.store();
            store.next += 1;
            let id = store.next;
            store.notes.insert(id, note);
            id
        };
        cx.redirect_to(&format!("/notes/{id}")).ok()
    }

    fn update(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let id = Notes::id(cx)?;
        let (title, body) = (Notes::text(cx, "title"), Notes::text(cx, "body"));
        let mut store = self.store();
        let Some(note) = store.notes.get_mut(&id) else {
            return not_found(id);
        };
        if let Some(title) = title {
            note.title = title;
        }
        if let Some(body) = body {
            note.body = body;
        }
        Some(json_response(200, &note_json(id, note)))
    }

    fn delete(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let id = Notes::id(cx)?;
        match self.store().notes.remove(&id) {
            Some(_) => Some(Response::new(204)),
            None => not_found(id),
        }
    }
}

fn main() -> Result<(), plezi::Error> {
    let store = Shared::default();
    App::new()
        .client("/client.js")?
        .route("/notes", move || Notes {
            store: store.clone(),
        })?
        .run()
}
