//! Templates: files below a folder rendered with MiniJinja (Jinja2's language: `{% extends %}`
//! layouts, `{% include %}` partials, macros, filters). Auto-escaping follows the file name:
//! `.html`, `.htm` and `.xml` escape HTML, `.json` escapes JSON, anything else is as written.
//! In development every render reads the files again, so an edit shows at the next request; in
//! production ([`Reload::Never`]) each template is parsed once and kept.

use std::path::{Path, PathBuf};

use minijinja::Environment;
use plezi_server::Response;
use serde::Serialize;

use crate::error::RenderError;

/// When templates are read again from their files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    /// At every render: edits show at once (development).
    EveryRender,
    /// Never: each template is parsed at its first render and kept (production).
    Never,
}

/// The application's templates (see [`crate::Routes::templates`]).
///
/// ```
/// use plezi_dispatch::{Reload, Templates};
/// let dir = std::env::temp_dir().join("plezi-doc-templates");
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("hello.html"), "<p>Hello, {{ name }}!</p>").unwrap();
/// let templates = Templates::new(&dir, Reload::Never);
/// let html = templates.render("hello.html", serde_json::json!({"name": "<Ada>"})).unwrap();
/// assert_eq!(html, "<p>Hello, &lt;Ada&gt;!</p>");
/// ```
pub struct Templates {
    dir: PathBuf,
    reload: Reload,
    /// The environment that keeps parsed templates (used with [`Reload::Never`]).
    kept: Environment<'static>,
}

impl Templates {
    /// The templates below `dir`, read again at every render or parsed once (`reload`).
    pub fn new(dir: impl Into<PathBuf>, reload: Reload) -> Templates {
        let dir = dir.into();
        Templates {
            kept: environment(&dir),
            dir,
            reload,
        }
    }

    /// The folder the templates are read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Renders template `name` (a path below the folder, e.g. `"chat/message.html"`) with
    /// `context` (any `Serialize` value, usually a struct or `json!({...})`).
    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, RenderError> {
        let fresh;
        let env = match self.reload {
            Reload::Never => &self.kept,
            Reload::EveryRender => {
                fresh = environment(&self.dir);
                &fresh
            }
        };
        let template = env
            .get_template(name)
            .map_err(|e| RenderError::new(name, &e))?;
        template
            .render(context)
            .map_err(|e| RenderError::new(name, &e))
    }

    /// Renders template `name` as a `200` response whose `Content-Type` follows its file name
    /// (`.html`: `text/html`, `.json`: `application/json`, otherwise `text/plain`). A template that
    /// fails answers `500` and logs the error (the details stay in the log, not in the page).
    pub fn page(&self, name: &str, context: impl Serialize) -> Response {
        match self.render(name, context) {
            Ok(body) => {
                let kind = match Path::new(name).extension().and_then(|e| e.to_str()) {
                    Some("html" | "htm") => "text/html; charset=utf-8",
                    Some("json") => "application/json",
                    Some("xml") => "application/xml",
                    _ => "text/plain; charset=utf-8",
                };
                Response::new(200).header("Content-Type", kind).body(body)
            }
            Err(e) => {
                log::error!("plezi: {e}");
                Response::text(500, "Internal Server Error\n")
            }
        }
    }
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("dir", &self.dir)
            .field("reload", &self.reload)
            .finish()
    }
}

/// An environment that loads templates from `dir` (never from outside it), with the default
/// escaping by file name.
fn environment(dir: &Path) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_loader(minijinja::path_loader(dir));
    env
}
