//! Static files from the public folder: content types, validators (ETag / Last-Modified → 304),
//! `.gz` siblings, single ranges (206 / 416), index.html for folders, large files, files that change
//! while being served, and traversal attempts that must never reach a file outside the folder.

mod common;

use std::time::Duration;

use common::{Client, HttpResponse, Options, TempDir, TestServer, wait_until};

struct Site {
    _root: TempDir,
    server: TestServer,
    secret: &'static str,
}

const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-PUBLIC-FOLDER";
const JS: &str = "console.log('plain javascript, not compressed');\n";
const GZ: &[u8] = b"\x1f\x8b\x08\x00pretend-gzip-bytes";

/// root/secret.txt (outside), root/public/... (served).
fn site() -> Site {
    let root = TempDir::new("static");
    root.write("secret.txt", SECRET);
    root.write("public/index.html", "<h1>root index</h1>");
    root.write("public/hello.txt", "hello static");
    root.write("public/hello world.txt", "spaced name");
    root.write("public/style.css", "body{}");
    root.write("public/app.js", JS);
    root.write("public/app.js.gz", GZ);
    root.write("public/data.json", "{\"a\":1}");
    root.write("public/logo.png", b"\x89PNG\r\n\x1a\nfake");
    root.write("public/pic.svg", "<svg/>");
    root.write("public/blob.unknownext", "???");
    root.write("public/docs/index.html", "<h1>docs index</h1>");
    root.write("public/digits.txt", "0123456789abcdefghij");
    let big: Vec<u8> = (0..2_500_000u32).map(|i| (i % 241) as u8).collect();
    root.write("public/big.bin", big);
    #[cfg(unix)]
    {
        let _ = std::os::unix::fs::symlink(
            root.path.join("secret.txt"),
            root.path.join("public/link.txt"),
        );
        let _ = std::os::unix::fs::symlink(&root.path, root.path.join("public/outside"));
    }
    let server = TestServer::start_with(Options {
        public: Some(root.path.join("public")),
        ..Options::default()
    });
    Site {
        _root: root,
        server,
        secret: SECRET,
    }
}

fn get(c: &mut Client, path: &str, extra: &[&str]) -> HttpResponse {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n");
    for h in extra {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    c.request(req)
}

#[test]
fn serves_files_with_content_types() {
    let s = site();
    let mut c = s.server.client();
    let cases = [
        ("/hello.txt", "text/plain", "hello static"),
        ("/style.css", "text/css", "body{}"),
        ("/data.json", "application/json", "{\"a\":1}"),
        ("/index.html", "text/html", "<h1>root index</h1>"),
        ("/pic.svg", "image/svg+xml", "<svg/>"),
        ("/blob.unknownext", "application/octet-stream", "???"),
    ];
    for (path, ctype, body) in cases {
        let r = get(&mut c, path, &[]);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.text(), body, "{path}");
        let got = r.header("content-type").unwrap_or_default();
        assert!(
            got.starts_with(ctype),
            "{path}: content-type {got:?}, expected {ctype}"
        );
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string().as_str()),
            "{path}"
        );
    }
    let r = get(&mut c, "/app.js", &[]);
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.contains("javascript"), "app.js content-type {ct:?}");
    let r = get(&mut c, "/logo.png", &[]);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.body, b"\x89PNG\r\n\x1a\nfake");
}

#[test]
fn percent_encoded_names_and_query_strings() {
    let s = site();
    let mut c = s.server.client();
    let r = get(&mut c, "/hello%20world.txt", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "spaced name"), "{r:?}");
    let r = get(&mut c, "/hello.txt?v=123", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "hello static"),
        "{r:?}"
    );
    let r = get(&mut c, "/missing.txt", &[]);
    assert_eq!(r.status, 404, "{r:?}");
}

#[test]
fn etag_and_if_none_match() {
    let s = site();
    let mut c = s.server.client();
    let r = get(&mut c, "/hello.txt", &[]);
    let etag = r
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag: {r:?}"))
        .to_string();
    assert!(
        etag.ends_with('"'),
        "ETag should be a quoted string: {etag:?}"
    );
    let r = get(&mut c, "/hello.txt", &[&format!("If-None-Match: {etag}")]);
    assert_eq!(r.status, 304, "{r:?}");
    assert!(r.body.is_empty());
    assert_eq!(
        r.header("etag"),
        Some(etag.as_str()),
        "304 should repeat the ETag"
    );
    let r = get(
        &mut c,
        "/hello.txt",
        &[&format!("If-None-Match: \"other\", {etag}")],
    );
    assert_eq!(r.status, 304, "list containing the tag: {r:?}");
    let r = get(&mut c, "/hello.txt", &["If-None-Match: \"not-the-tag\""]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "hello static");
    // The connection is still in sync after a 304 (no stray body bytes).
    let r = get(&mut c, "/style.css", &[]);
    assert_eq!(r.text(), "body{}");
}

#[test]
fn last_modified_and_if_modified_since() {
    let s = site();
    let mut c = s.server.client();
    let r = get(&mut c, "/hello.txt", &[]);
    let lm = r
        .header("last-modified")
        .unwrap_or_else(|| panic!("no Last-Modified: {r:?}"))
        .to_string();
    assert!(lm.ends_with(" GMT"), "{lm:?}");
    let r = get(&mut c, "/hello.txt", &[&format!("If-Modified-Since: {lm}")]);
    assert_eq!(r.status, 304, "{r:?}");
    assert!(r.body.is_empty());
    let r = get(
        &mut c,
        "/hello.txt",
        &["If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT"],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = get(&mut c, "/hello.txt", &["If-Modified-Since: not a date"]);
    assert_eq!(r.status, 200, "an invalid date is ignored: {r:?}");
}

#[test]
fn gz_sibling_is_served_when_accepted() {
    let s = site();
    let mut c = s.server.client();
    let r = get(&mut c, "/app.js", &["Accept-Encoding: gzip, deflate, br"]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"), "{r:?}");
    assert_eq!(r.body, GZ);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .contains("javascript"),
        "{r:?}"
    );
    let r = get(&mut c, "/app.js", &[]);
    assert_eq!(r.header("content-encoding"), None, "{r:?}");
    assert_eq!(r.text(), JS);
    let r = get(&mut c, "/app.js", &["Accept-Encoding: br"]);
    assert_eq!(r.header("content-encoding"), None, "{r:?}");
    assert_eq!(r.text(), JS);
    let r = get(&mut c, "/app.js", &["Accept-Encoding: gzip;q=0"]);
    assert_eq!(
        r.header("content-encoding"),
        None,
        "q=0 refuses gzip: {r:?}"
    );
    // No sibling: served plain even when gzip is accepted.
    let r = get(&mut c, "/hello.txt", &["Accept-Encoding: gzip"]);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.text(), "hello static");
}

#[test]
fn single_ranges() {
    let s = site();
    let mut c = s.server.client();
    let r = get(&mut c, "/digits.txt", &["Range: bytes=0-9"]);
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(r.text(), "0123456789");
    assert_eq!(r.header("content-range"), Some("bytes 0-9/20"));
    assert_eq!(r.header("content-length"), Some("10"));
    let r = get(&mut c, "/digits.txt", &["Range: bytes=15-"]);
    assert_eq!((r.status, r.text().as_str()), (206, "fghij"));
    assert_eq!(r.header("content-range"), Some("bytes 15-19/20"));
    let r = get(&mut c, "/digits.txt", &["Range: bytes=-3"]);
    assert_eq!((r.status, r.text().as_str()), (206, "hij"));
    let r = get(&mut c, "/digits.txt", &["Range: bytes=18-100"]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (206, "ij"),
        "end past the size is clamped"
    );
    let r = get(&mut c, "/digits.txt", &["Range: bytes=20-30"]);
    assert_eq!(r.status, 416, "{r:?}");
    assert_eq!(r.header("content-range"), Some("bytes */20"));
    let r = get(&mut c, "/digits.txt", &["Range: bytes=9-3"]);
    assert!(matches!(r.status, 200 | 416), "inverted range: {r:?}");
    let r = get(&mut c, "/digits.txt", &["Range: items=0-3"]);
    assert_eq!(
        (r.status, r.text().len()),
        (200, 20),
        "unknown unit is ignored"
    );
    // Range in the middle of a big file.
    let r = get(&mut c, "/big.bin", &["Range: bytes=1000000-1000009"]);
    assert_eq!(r.status, 206);
    let want: Vec<u8> = (1_000_000u32..1_000_010).map(|i| (i % 241) as u8).collect();
    assert_eq!(r.body, want);
    // Still in sync.
    assert_eq!(get(&mut c, "/hello.txt", &[]).text(), "hello static");
}

#[test]
fn index_html_for_folders() {
    let s = site();
    let mut c = s.server.client();
    let r = get(&mut c, "/", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "<h1>root index</h1>"),
        "{r:?}"
    );
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let r = get(&mut c, "/docs/", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "<h1>docs index</h1>"),
        "{r:?}"
    );
    let r = get(&mut c, "/docs", &[]);
    match r.status {
        200 => assert_eq!(r.text(), "<h1>docs index</h1>"),
        301 | 302 | 307 | 308 => {
            assert!(
                r.header("location").unwrap_or_default().ends_with("/docs/"),
                "{r:?}"
            )
        }
        _ => panic!("/docs without slash: {r:?}"),
    }
}

#[test]
fn large_file_is_streamed_whole_and_head_has_no_body() {
    let s = site();
    let mut c = s.server.client();
    let r = get(&mut c, "/big.bin", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 2_500_000);
    assert!(
        r.body
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 241) as u8),
        "content differs"
    );
    c.send("HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let h = c.read_head_response();
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), Some("2500000"));
    assert_eq!(
        get(&mut c, "/hello.txt", &[]).text(),
        "hello static",
        "HEAD leaked a body"
    );
}

#[test]
fn traversal_never_leaves_the_public_folder() {
    let s = site();
    let attempts = [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/docs/../../secret.txt",
        "/docs/%2e%2e/%2e%2e/secret.txt",
        "/./../secret.txt",
        "/..\\secret.txt",
        "/..%5csecret.txt",
        "/%252e%252e/secret.txt",
        "//../secret.txt",
        "/docs/..%00/../secret.txt",
        "/secret.txt%00.html",
        "/link.txt",
        "/outside/secret.txt",
        "/outside/public/../secret.txt",
        "../secret.txt",
    ];
    for path in attempts {
        let mut c = s.server.client();
        c.send(format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        ));
        let raw = c.read_to_eof(common::STEP).unwrap_or_default();
        let text = String::from_utf8_lossy(&raw);
        assert!(
            !text.contains(s.secret),
            "{path} leaked the outside file:\n{text}"
        );
        let status = text.get(9..12).unwrap_or("");
        assert!(
            matches!(status, "400" | "403" | "404"),
            "{path}: expected 400/403/404, got {:?}",
            text.lines().next()
        );
    }
    // The server is fine afterwards.
    let mut c = s.server.client();
    assert_eq!(get(&mut c, "/hello.txt", &[]).text(), "hello static");
}

/// The body of a 200, checked against its `Content-Length` and entity tag (`"<len hex>-..."`).
fn consistent_body(r: &HttpResponse) -> Vec<u8> {
    assert_eq!(r.status, 200, "{r:?}");
    let etag = r.header("etag").expect("an ETag");
    let len_hex = etag.trim_matches('"').split('-').next().unwrap_or("");
    assert_eq!(
        u64::from_str_radix(len_hex, 16).ok(),
        Some(r.body.len() as u64),
        "the ETag {etag} does not describe the body sent"
    );
    r.body.clone()
}

#[test]
fn changed_added_and_deleted_files_are_seen_within_a_second() {
    let site = site();
    let public = site.server.public().to_path_buf();
    let mut c = site.server.client();
    let replace = |name: &str, content: &str| {
        let tmp = public.join(format!("{name}.tmp"));
        std::fs::write(&tmp, content).unwrap();
        std::fs::rename(&tmp, public.join(name)).unwrap();
    };
    // Within the revalidation interval plus generous slack for a loaded machine.
    let deadline = Duration::from_secs(5);

    // Changed: the old or the new body, whole, until the new one.
    assert_eq!(
        consistent_body(&get(&mut c, "/hello.txt", &[])),
        b"hello static"
    );
    replace("hello.txt", "hello again, longer");
    let seen = wait_until(deadline, || {
        let body = consistent_body(&get(&mut c, "/hello.txt", &[]));
        assert!(
            body == b"hello static" || body == b"hello again, longer",
            "mixed body {body:?}"
        );
        body == b"hello again, longer"
    });
    assert!(seen, "the changed file was not served");

    // Added.
    assert_eq!(get(&mut c, "/later.txt", &[]).status, 404);
    replace("later.txt", "added");
    assert!(
        wait_until(deadline, || get(&mut c, "/later.txt", &[]).status == 200),
        "the added file was not served"
    );

    // Deleted.
    std::fs::remove_file(public.join("hello.txt")).unwrap();
    assert!(
        wait_until(deadline, || get(&mut c, "/hello.txt", &[]).status == 404),
        "the deleted file is still served"
    );
}

#[test]
fn a_link_turned_outward_is_refused_within_a_second() {
    let site = site();
    let public = site.server.public().to_path_buf();
    let mut c = site.server.client();
    std::os::unix::fs::symlink(public.join("hello.txt"), public.join("turns.txt")).unwrap();
    assert_eq!(get(&mut c, "/turns.txt", &[]).text(), "hello static");
    std::fs::remove_file(public.join("turns.txt")).unwrap();
    std::os::unix::fs::symlink(public.join("../secret.txt"), public.join("turns.txt")).unwrap();
    let refused = wait_until(Duration::from_secs(5), || {
        let r = get(&mut c, "/turns.txt", &[]);
        assert!(!r.text().contains(site.secret), "the secret was served");
        r.status == 404
    });
    assert!(refused, "the outward link is still followed");
}
