//! [`TypeScript`]: a TypeScript module generated from an application's event tables
//! (`docs/client.md#typed-events`), so a page's code is checked against the payload and reply types
//! the handlers really take and return.
//!
//! For every controller type `N` (the last segment of its Rust type name) with events:
//! - `NEmits`: the events a WebSocket client may emit (`ws`, `both`, `safe`), name → payload type
//!   (the fields beside `event`);
//! - `NAjaj`: the same for AJAJ (`both`, `safe`);
//! - `NReceives`: what the client's handler of each event receives (the handler's reply or the
//!   delivery it shows), name → type (with `event` set to the name);
//! - `NClient`: `PleziClient.Typed<NEmits, NReceives, NAjaj>`, the typed view of a `PleziClient`.
//!
//! plus a declaration of every Rust type they use (derived with `ts_rs::TS`). Untyped payloads
//! (`Msg`, `Value`) are `PleziClient.Fields`, untyped replies `PleziClient.Event`.

use std::any::TypeId;
use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use ts_rs::{Config, TS, TypeVisitor};

use crate::controller::Controller;
use crate::events::EventKind;
use crate::reply::ReplyType;

/// The module specifier the generated module imports `PleziClient`'s declarations from.
pub const DEFAULT_CLIENT_MODULE: &str = "plezi-client";

/// A TypeScript module describing controllers' events, built from their event tables
/// (`Routes::typescript` adds every routed controller).
///
/// ```
/// use plezi_dispatch::{events, Controller, Ctx, Events, Json, TypeScript};
/// use serde::{Deserialize, Serialize};
/// use ts_rs::TS;
///
/// #[derive(Deserialize, TS)]
/// struct Say { text: String }
/// #[derive(Serialize, TS)]
/// struct Said { text: String }
///
/// #[derive(Default)]
/// struct Room;
/// impl Room {
///     fn say(&mut self, _cx: &mut Ctx<'_>, Json(say): Json<Say>) -> Json<Said> {
///         Json(Said { text: say.text })
///     }
/// }
/// impl Controller for Room {
///     fn events() -> Events<Self> {
///         events![ws say => Room::say]
///     }
/// }
///
/// let mut ts = TypeScript::new();
/// ts.controller::<Room>();
/// let module = ts.render()?;
/// assert!(module.contains("export type Say = { text: string, };"));
/// assert!(module.contains(r#""say": Say;"#));
/// assert!(module.contains(r#""say": Said & { event: "say" };"#));
/// # Ok::<(), plezi_dispatch::TypeScriptError>(())
/// ```
pub struct TypeScript {
    cfg: Config,
    client_module: String,
    /// Declarations by TypeScript name.
    types: BTreeMap<String, String>,
    /// Rust types already visited.
    seen: HashSet<TypeId>,
    /// Controller sections by name, with the Rust type they describe.
    controllers: BTreeMap<String, (&'static str, String)>,
    /// The first two things that wanted the same TypeScript name.
    clash: Option<TypeScriptError>,
}

impl Default for TypeScript {
    fn default() -> Self {
        TypeScript::new()
    }
}

impl fmt::Debug for TypeScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypeScript")
            .field("client_module", &self.client_module)
            .field("types", &self.types.keys().collect::<Vec<_>>())
            .field("controllers", &self.controllers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a TypeScript module could not be made or written.
///
/// ```
/// use plezi_dispatch::TypeScriptError;
/// let e = TypeScriptError::NameClash { name: "Message".into(), first: "a::Message".into(), second: "b::Message".into() };
/// assert!(e.to_string().contains("#[ts(rename"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum TypeScriptError {
    /// Two different Rust types (or controller types) would get the same TypeScript name.
    NameClash {
        /// The TypeScript name.
        name: String,
        /// What had it first.
        first: String,
        /// What wanted it too.
        second: String,
    },
    /// The file does not hold the module the event tables generate (a check found it stale).
    Stale {
        /// The file.
        path: PathBuf,
    },
    /// The module could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
}

impl fmt::Display for TypeScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeScriptError::NameClash {
                name,
                first,
                second,
            } => write!(
                f,
                "{first} and {second} would both be the TypeScript type {name:?}: rename one \
                 (#[ts(rename = \"...\")] on a payload type, or another Rust name for a controller)"
            ),
            TypeScriptError::Stale { path } => write!(
                f,
                "{} is not what the event tables generate: regenerate it (`cargo xtask codegen`) and commit it",
                path.display()
            ),
            TypeScriptError::Io { path, error } => {
                write!(f, "cannot write {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for TypeScriptError {}

/// One event of a controller, described.
pub(crate) struct EventShape {
    pub(crate) name: String,
    pub(crate) kind: EventKind,
    pub(crate) payload: Option<String>,
    pub(crate) reply: ReplyType,
}

impl TypeScript {
    /// An empty module importing `PleziClient` from [`DEFAULT_CLIENT_MODULE`].
    ///
    /// ```
    /// let module = plezi_dispatch::TypeScript::new().render()?;
    /// assert!(module.contains(r#"import("plezi-client")"#));
    /// # Ok::<(), plezi_dispatch::TypeScriptError>(())
    /// ```
    pub fn new() -> TypeScript {
        TypeScript {
            // JSON numbers are doubles: i64/u64 are `number`, not `bigint`.
            cfg: Config::new().with_large_int("number"),
            client_module: DEFAULT_CLIENT_MODULE.to_owned(),
            types: BTreeMap::new(),
            seen: HashSet::new(),
            controllers: BTreeMap::new(),
            clash: None,
        }
    }

    /// Imports `PleziClient`'s declarations (`plezi-client.d.ts`) from `specifier` instead, e.g.
    /// `"./plezi-client"` when the file lies beside the generated module.
    ///
    /// ```
    /// let module = plezi_dispatch::TypeScript::new().client_module("./vendor/plezi-client").render()?;
    /// assert!(module.contains(r#"import("./vendor/plezi-client")"#));
    /// # Ok::<(), plezi_dispatch::TypeScriptError>(())
    /// ```
    pub fn client_module(mut self, specifier: &str) -> TypeScript {
        specifier.clone_into(&mut self.client_module);
        self
    }

    /// Adds controller type `C`'s events (nothing when its table is empty).
    ///
    /// ```
    /// use plezi_dispatch::{events, Controller, Ctx, Events, TypeScript};
    /// use serde_json::Value;
    /// #[derive(Default)]
    /// struct Echo;
    /// impl Controller for Echo {
    ///     fn events() -> Events<Self> {
    ///         events![both echo => |_: &mut Echo, _: &mut Ctx<'_>, msg: Value| msg]
    ///     }
    /// }
    /// let module = TypeScript::new().controller::<Echo>().render()?;
    /// assert!(module.contains(r#""echo": PleziClient.Fields;"#)); // untyped payload
    /// # Ok::<(), plezi_dispatch::TypeScriptError>(())
    /// ```
    pub fn controller<C: Controller>(&mut self) -> &mut TypeScript {
        let shapes = C::events().shapes(self);
        if shapes.is_empty() {
            return self;
        }
        let rust = std::any::type_name::<C>();
        let name = short_name(rust);
        let section = self.section(&name, &shapes);
        match self.controllers.get(&name) {
            Some((first, _)) if *first != rust => self.clashed(&name, first, rust),
            _ => {
                self.controllers.insert(name, (rust, section));
            }
        }
        self
    }

    /// Declares `T` and every type it uses in the module, and returns how the module names it
    /// (`ChatLine`, `Array<ChatLine>`, `string`).
    ///
    /// ```
    /// let mut ts = plezi_dispatch::TypeScript::new();
    /// assert_eq!(ts.declare::<Vec<u64>>(), "Array<number>");
    /// ```
    pub fn declare<T: TS + 'static + ?Sized>(&mut self) -> String {
        self.visit::<T>();
        T::name(&self.cfg)
    }

    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        if !self.seen.insert(TypeId::of::<T>()) {
            return;
        }
        if T::output_path().is_some() {
            let name = T::ident(&self.cfg);
            let mut decl = T::docs().unwrap_or_default();
            decl.push_str("export ");
            decl.push_str(&T::decl(&self.cfg));
            match self.types.get(&name) {
                Some(first) if *first != decl => {
                    let rust = std::any::type_name::<T>();
                    self.clashed(&name, "another type", rust);
                }
                Some(_) => {}
                None => {
                    self.types.insert(name, decl);
                }
            }
        }
        T::visit_dependencies(&mut Visit(self));
        T::visit_generics(&mut Visit(self));
    }

    fn clashed(&mut self, name: &str, first: &str, second: &str) {
        self.clash
            .get_or_insert_with(|| TypeScriptError::NameClash {
                name: name.to_owned(),
                first: first.to_owned(),
                second: second.to_owned(),
            });
    }

    fn section(&self, name: &str, shapes: &[EventShape]) -> String {
        let mut out = String::new();
        let interface = |out: &mut String, doc: &str, suffix: &str, lines: Vec<String>| {
            let _ = writeln!(out, "/** {doc} */");
            let _ = write!(out, "export interface {name}{suffix} {{");
            if lines.is_empty() {
                out.push_str("}\n\n");
                return;
            }
            out.push('\n');
            for line in lines {
                let _ = writeln!(out, "  {line}");
            }
            out.push_str("}\n\n");
        };
        let payload = |e: &EventShape| {
            let ty = e.payload.as_deref().unwrap_or("PleziClient.Fields");
            format!("{}: {ty};", quoted(&e.name))
        };
        interface(
            &mut out,
            &format!(
                "The events a WebSocket client may emit to `{name}`: event name → payload (the fields beside `event`)."
            ),
            "Emits",
            shapes
                .iter()
                .filter(|e| e.kind.from_websocket())
                .map(payload)
                .collect(),
        );
        interface(
            &mut out,
            &format!("The events an AJAJ request (`client.ajaj.emit`) may call on `{name}`."),
            "Ajaj",
            shapes
                .iter()
                .filter(|e| e.kind.from_http())
                .map(payload)
                .collect(),
        );
        interface(
            &mut out,
            &format!(
                "What `{name}` sends a client, by event name: the handler's reply or the delivery it shows (`client.<event>` receives it)."
            ),
            "Receives",
            shapes
                .iter()
                .filter_map(|e| {
                    let ty = match &e.reply {
                        ReplyType::Nothing => return None,
                        ReplyType::Untyped => "PleziClient.Event".to_owned(),
                        ReplyType::Typed(ty) => format!("{ty} & {{ event: {} }}", quoted(&e.name)),
                    };
                    Some(format!("{}: {ty};", quoted(&e.name)))
                })
                .collect(),
        );
        let _ = writeln!(
            out,
            "/** A `PleziClient` connected to `{name}`, typed: `emit`, `ajaj.emit` and the event handlers. */"
        );
        let _ = writeln!(
            out,
            "export type {name}Client = PleziClient.Typed<{name}Emits, {name}Receives, {name}Ajaj>;"
        );
        out
    }

    /// The module's text; an error when two types would share a TypeScript name.
    ///
    /// ```
    /// let module = plezi_dispatch::TypeScript::new().render()?;
    /// assert!(module.starts_with("// Generated"));
    /// # Ok::<(), plezi_dispatch::TypeScriptError>(())
    /// ```
    pub fn render(&self) -> Result<String, TypeScriptError> {
        if let Some(TypeScriptError::NameClash {
            name,
            first,
            second,
        }) = &self.clash
        {
            return Err(TypeScriptError::NameClash {
                name: name.clone(),
                first: first.clone(),
                second: second.clone(),
            });
        }
        let mut out = String::from(
            "// Generated from the controllers' event tables by plezi (`TypeScript`, docs/client.md); do not edit.\n\n",
        );
        // The client's declarations this module uses, under their usual names.
        let _ = writeln!(
            out,
            "declare namespace PleziClient {{\n  type Fields = import({m}).Fields;\n  type Event = import({m}).Event;\n  type Typed<E, R, A> = import({m}).Typed<E, R, A>;\n}}\n",
            m = quoted(&self.client_module)
        );
        for decl in self.types.values() {
            out.push_str(decl);
            out.push_str("\n\n");
        }
        for (_, section) in self.controllers.values() {
            out.push_str(section);
            out.push('\n');
        }
        while out.ends_with("\n\n") {
            out.pop();
        }
        Ok(out)
    }

    /// Writes the module to `path` unless it already holds exactly this text; returns whether it
    /// wrote.
    ///
    /// ```no_run
    /// let changed = plezi_dispatch::TypeScript::new().write("public/events.d.ts")?;
    /// # Ok::<(), plezi_dispatch::TypeScriptError>(())
    /// ```
    pub fn write(&self, path: impl AsRef<Path>) -> Result<bool, TypeScriptError> {
        let path = path.as_ref();
        let text = self.render()?;
        if self.is_fresh(path)? {
            return Ok(false);
        }
        std::fs::write(path, text).map_err(|error| TypeScriptError::Io {
            path: path.to_owned(),
            error,
        })?;
        Ok(true)
    }

    /// `Ok` when `path` holds exactly this module, [`TypeScriptError::Stale`] otherwise.
    ///
    /// ```no_run
    /// plezi_dispatch::TypeScript::new().check("public/events.d.ts")?; // CI: fail when stale
    /// # Ok::<(), plezi_dispatch::TypeScriptError>(())
    /// ```
    pub fn check(&self, path: impl AsRef<Path>) -> Result<(), TypeScriptError> {
        let path = path.as_ref();
        match self.is_fresh(path)? {
            true => Ok(()),
            false => Err(TypeScriptError::Stale {
                path: path.to_owned(),
            }),
        }
    }

    /// Whether `path` holds exactly this module (false when it is missing).
    ///
    /// ```no_run
    /// assert!(plezi_dispatch::TypeScript::new().is_fresh("public/events.d.ts")?);
    /// # Ok::<(), plezi_dispatch::TypeScriptError>(())
    /// ```
    pub fn is_fresh(&self, path: impl AsRef<Path>) -> Result<bool, TypeScriptError> {
        let path = path.as_ref();
        let text = self.render()?;
        match std::fs::read_to_string(path) {
            Ok(old) => Ok(old == text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(TypeScriptError::Io {
                path: path.to_owned(),
                error,
            }),
        }
    }
}

struct Visit<'a>(&'a mut TypeScript);

impl TypeVisitor for Visit<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        self.0.visit::<T>();
    }
}

/// `a::b::Chat<X>` → `Chat`.
fn short_name(rust: &str) -> String {
    let base = rust.split('<').next().unwrap_or(rust);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

/// A string as a TypeScript (JSON) string literal.
fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_paths_and_generics() {
        assert_eq!(short_name("chat::Chat"), "Chat");
        assert_eq!(short_name("a::Room<b::X>"), "Room");
        assert_eq!(short_name("Plain"), "Plain");
    }

    #[test]
    fn names_are_quoted() {
        assert_eq!(quoted("chat-room"), r#""chat-room""#);
    }
}
