//! Static files, redirects and response headers over raw TCP (`docs/security.md`, section
//! `static-files`): dotfiles are not served unless enabled (`/.well-known/` always is), a folder
//! redirect never leaves the host, and header values with control characters never reach the wire.

mod common;

use std::os::unix::fs::symlink;

use common::{Client, Options, TempDir, TestServer};
use plezi_server::{HeaderError, Reply, Request, Response, Server};

fn public_with_dotfiles() -> TempDir {
    let t = TempDir::new("dotfiles");
    t.write(".env", "SECRET=1");
    t.write(".git/config", "[core]");
    t.write("assets/.htpasswd", "admin:x");
    t.write(".well-known/acme-challenge/token1", "acme-proof");
    t.write(".well-known/.hidden", "no");
    t.write("visible.txt", "visible");
    t.write(
        "evil.example/index.html",
        "<p>a folder named like a host</p>",
    );
    symlink(t.path.join(".env"), t.path.join("env-link")).unwrap();
    symlink(t.path.join(".git"), t.path.join("gitdir")).unwrap();
    t
}

fn get(c: &mut Client, path: &str) -> common::HttpResponse {
    c.request(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
}

#[test]
fn dotfiles_are_not_served_by_default() {
    let t = public_with_dotfiles();
    let s = TestServer::start_with(Options {
        public: Some(t.path.clone()),
        ..Options::default()
    });
    let mut c = s.client();
    for path in [
        "/.env",
        "/%2eenv",
        "/%2Eenv",
        "/.git/config",
        "/.git/",
        "/.git",
        "/assets/.htpasswd",
        "/.well-known/.hidden",
        "/env-link",
        "/gitdir/config",
    ] {
        let resp = get(&mut c, path);
        // The test service answers what static files do not: 404 "not found".
        assert_eq!(resp.status, 404, "{path}: {resp:?}");
        assert_eq!(resp.text(), "not found", "{path}");
    }
    assert_eq!(get(&mut c, "/visible.txt").text(), "visible");
    let resp = get(&mut c, "/.well-known/acme-challenge/token1");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "acme-proof");
}

#[test]
fn dotfiles_can_be_enabled() {
    let t = public_with_dotfiles();
    let s = TestServer::start_custom(
        Options {
            public: Some(t.path.clone()),
            ..Options::default()
        },
        |b| b.serve_dotfiles(true),
    );
    let mut c = s.client();
    assert_eq!(get(&mut c, "/.env").text(), "SECRET=1");
    assert_eq!(get(&mut c, "/env-link").text(), "SECRET=1");
}

#[test]
fn folder_redirects_never_leave_the_host() {
    let t = public_with_dotfiles();
    let s = TestServer::start_with(Options {
        public: Some(t.path.clone()),
        ..Options::default()
    });
    let mut c = s.client();
    let resp = get(&mut c, "/evil.example");
    assert_eq!(resp.status, 301);
    assert_eq!(resp.header("location"), Some("/evil.example/"));
    for path in [
        "//evil.example",
        "///evil.example",
        "////evil.example?x=1",
        "//evil.example//",
        "/\\evil.example",
        "/%2fevil.example",
        "/%2F%2Fevil.example",
        "/%5cevil.example",
        "//%65vil.example",
    ] {
        let resp = get(&mut c, path);
        if let Some(location) = resp.header("location") {
            let b = location.as_bytes();
            assert!(
                b.first() == Some(&b'/') && !matches!(b.get(1), Some(b'/') | Some(b'\\')),
                "{path} redirected off the host: {location:?}"
            );
        }
    }
    let resp = get(&mut c, "//evil.example");
    assert_eq!(resp.status, 301);
    assert_eq!(resp.header("location"), Some("/evil.example/"));
    let resp = get(&mut c, "////evil.example?x=1");
    assert_eq!(resp.header("location"), Some("/evil.example/?x=1"));
}

#[test]
fn control_characters_never_reach_the_wire() {
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .threads(1)
        .service(|req: &mut Request| {
            let value = match req.path() {
                "/cr" => "a\rInjected: 1",
                "/lf" => "a\nInjected: 1",
                "/nul" => "a\0b",
                "/esc" => "a\x1b[31mb",
                "/del" => "a\x7fb",
                _ => "plain\tvalue",
            };
            let typed = Response::new(200).try_header("X-Value", value).err();
            let status = if typed == Some(HeaderError::InvalidValue("X-Value".into())) {
                299
            } else {
                200
            };
            Reply::Response(
                Response::text(status, "body")
                    .header("X-Value", value)
                    .header("Bad Name", "v")
                    .header("X-After", "kept"),
            )
        })
        .build()
        .unwrap();
    let addr = server.local_addr();
    let running = server.spawn().unwrap();
    for (path, refused) in [
        ("/cr", true),
        ("/lf", true),
        ("/nul", true),
        ("/esc", true),
        ("/del", true),
        ("/tab", false),
    ] {
        let mut c = Client::connect(addr);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n"));
        let resp = c.read_response();
        assert_eq!(resp.status, if refused { 299 } else { 200 }, "{path}");
        assert_eq!(
            resp.header("x-value").is_none(),
            refused,
            "{path}: {resp:?}"
        );
        assert!(resp.header("injected").is_none(), "{path}");
        assert!(resp.header("bad name").is_none(), "{path}");
        assert_eq!(resp.header("x-after"), Some("kept"), "{path}");
        assert_eq!(resp.text(), "body");
    }
    drop(running);
}
