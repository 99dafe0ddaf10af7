//! Templates over real sockets: an HTTP action renders a page with a layout and a partial
//! (auto-escaped), WebSocket and AJAJ handlers answer with a rendered fragment, edits show at once
//! with `Reload::EveryRender` and not with `Reload::Never`, and a missing or broken template is a
//! 500 (HTTP) or an `err` 500 (WebSocket) with a log line, never a panic or a file from outside
//! the folder.

mod support;

use std::path::{Path, PathBuf};

use plezi_dispatch::{Controller, Ctx, Events, Reload, RenderError, Routes, events};
use plezi_server::Response;
use serde_json::{Value, json};
use support::TestApp;

#[derive(Default)]
struct Pages;

impl Pages {
    fn fragment(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<String, RenderError> {
        let name = m["template"].as_str().unwrap_or("message.html").to_owned();
        cx.render(&name, json!({"text": m["text"]}))
    }
}

impl Controller for Pages {
    fn index(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let page = cx
            .params()
            .get_str("page")
            .unwrap_or("home.html")
            .to_owned();
        Some(cx.render_page(&page, json!({"title": "Hi <there>", "items": ["a&b", "c"]})))
    }

    fn events() -> Events<Self> {
        events![both fragment => Pages::fragment]
    }
}

/// A fresh templates folder with a layout, a page, a partial and a fragment.
fn folder(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plezi-templates-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("parts")).expect("temp dir");
    write(
        &dir,
        "layout.html",
        "<html><title>{{ title }}</title>{% block body %}{% endblock %}</html>",
    );
    write(
        &dir,
        "home.html",
        "{% extends \"layout.html\" %}{% block body %}<ul>{% for i in items %}{% include \"parts/item.html\" %}{% endfor %}</ul>{% endblock %}",
    );
    write(&dir, "parts/item.html", "<li>{{ i }}</li>");
    write(&dir, "message.html", "<p>{{ text }}</p>");
    write(&dir, "broken.html", "{% for x in %}");
    std::fs::write(dir.parent().unwrap().join("plezi-outside.txt"), "secret")
        .expect("outside file");
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write a template");
}

fn app(dir: &Path, reload: Reload) -> TestApp {
    let mut routes = Routes::new();
    routes.controller("/pages", Pages::default).expect("route");
    routes.templates(dir, reload);
    TestApp::start(routes)
}

#[test]
fn an_http_action_renders_a_page_with_a_layout_and_partials_escaped() {
    let dir = folder("page");
    let app = app(&dir, Reload::Never);
    let reply = app.http("GET", "/pages", &[], b"");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        reply.text(),
        "<html><title>Hi &lt;there&gt;</title><ul><li>a&amp;b</li><li>c</li></ul></html>"
    );
}

#[test]
fn websocket_and_ajaj_handlers_answer_with_a_rendered_fragment() {
    let dir = folder("fragment");
    let app = app(&dir, Reload::Never);
    let mut ws = app.ws("/pages");
    ws.send(&json!({"event": "fragment", "text": "<b>hi</b>"}));
    assert_eq!(ws.text(), "<p>&lt;b&gt;hi&lt;&#x2f;b&gt;</p>");
    let reply = app.post_json("/pages", &json!({"id": "fragment", "text": "x<y"}));
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "<p>x&lt;y</p>")
    );
}

#[test]
fn edits_show_at_once_in_development_and_not_once_parsed_in_production() {
    let dir = folder("reload");
    let dev = app(&dir, Reload::EveryRender);
    let prod_dir = folder("kept");
    let prod = app(&prod_dir, Reload::Never);
    let fragment = |app: &TestApp| {
        app.post_json("/pages", &json!({"id": "fragment", "text": "t"}))
            .text()
    };
    assert_eq!(fragment(&dev), "<p>t</p>");
    assert_eq!(fragment(&prod), "<p>t</p>");
    write(&dir, "message.html", "<div>{{ text }}</div>");
    write(&prod_dir, "message.html", "<div>{{ text }}</div>");
    assert_eq!(fragment(&dev), "<div>t</div>", "development reads the edit");
    assert_eq!(
        fragment(&prod),
        "<p>t</p>",
        "production keeps the parsed template"
    );
}

#[test]
fn missing_broken_or_outside_templates_answer_500_and_never_panic() {
    let dir = folder("errors");
    let app = app(&dir, Reload::EveryRender);
    for page in ["nope.html", "broken.html", "../plezi-outside.txt"] {
        let reply = app.http("GET", &format!("/pages?page={page}"), &[], b"");
        assert_eq!(reply.status, 500, "{page}: {}", reply.text());
        assert!(!reply.text().contains("secret"), "{page}");
    }
    let mut ws = app.ws("/pages");
    ws.send(&json!({"event": "fragment", "template": "broken.html"}));
    let err = ws.json();
    assert_eq!(
        (err["event"].as_str(), err["status"].as_u64()),
        (Some("err"), Some(500)),
        "{err}"
    );
    // Still serving.
    assert_eq!(app.http("GET", "/pages", &[], b"").status, 200);
}

#[test]
fn without_a_folder_rendering_is_a_500() {
    let mut routes = Routes::new();
    routes.controller("/pages", Pages::default).expect("route");
    let app = TestApp::start(routes);
    assert_eq!(app.http("GET", "/pages", &[], b"").status, 500);
}
