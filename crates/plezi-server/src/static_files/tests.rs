use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::http::Body;

/// A public folder (`root`) and a sibling (`outside`) with a secret, removed on drop.
struct Tree {
    base: PathBuf,
    files: StaticFiles,
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

fn tree() -> Tree {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir().join(format!(
        "plezi-static-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&base);
    let root = base.join("public");
    let outside = base.join("outside");
    for dir in [
        &root,
        &outside,
        &root.join("sub"),
        &root.join("empty-dir"),
        &root.join("nested"),
    ] {
        fs::create_dir_all(dir).unwrap();
    }
    fs::write(outside.join("secret.txt"), "top secret").unwrap();
    fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
    fs::write(root.join("hello.txt"), "hello world").unwrap();
    fs::write(
        root.join("app.js"),
        "console.log('plain, long enough to compress');",
    )
    .unwrap();
    fs::write(root.join("app.js.gz"), b"\x1f\x8bGZIPPED").unwrap();
    fs::write(root.join("sub/index.html"), "<h1>sub</h1>").unwrap();
    fs::write(root.join("nested/deep.json"), "{}").unwrap();
    fs::write(root.join("blob.bin"), [0u8, 1, 2]).unwrap();
    fs::write(root.join("a b.txt"), "spaced").unwrap();
    symlink(outside.join("secret.txt"), root.join("link-out")).unwrap();
    symlink(&outside, root.join("dir-link-out")).unwrap();
    symlink(root.join("hello.txt"), root.join("link-in")).unwrap();
    // A .gz sibling that escapes: never served even when gzip is accepted.
    fs::write(root.join("sneaky.txt"), "plain").unwrap();
    symlink(outside.join("secret.txt"), root.join("sneaky.txt.gz")).unwrap();
    let files = StaticFiles::new(root).unwrap();
    Tree { base, files }
}

fn get(t: &Tree, target: &str) -> Option<Response> {
    t.files.serve(&Request::new("GET", target))
}

fn body_of(resp: &mut Response) -> Vec<u8> {
    match resp.take_body() {
        Body::File(mut f) => {
            let mut out = Vec::new();
            while f.read_into(&mut out, 4).unwrap() > 0 {}
            out
        }
        Body::Empty => Vec::new(),
        Body::Bytes(b) => b,
        other => panic!("unexpected body {other:?}"),
    }
}

#[test]
fn serves_a_file_with_its_headers() {
    let t = tree();
    let mut r = get(&t, "/hello.txt").unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.header_value("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(r.header_value("accept-ranges"), Some("bytes"));
    let etag = r.header_value("etag").unwrap();
    assert!(etag.starts_with("\"b-") && etag.ends_with('"'), "{etag}");
    let lm = r.header_value("last-modified").unwrap();
    assert!(parse_imf(lm).is_some(), "{lm}");
    assert_eq!(r.header_value("vary"), None);
    assert_eq!(r.body_ref().len(), Some(11));
    assert_eq!(body_of(&mut r), b"hello world");

    let head = t.files.serve(&Request::new("HEAD", "/hello.txt")).unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.body_ref().len(), Some(11));
}

#[test]
fn only_get_and_head_and_only_existing_files() {
    let t = tree();
    assert!(t.files.serve(&Request::new("POST", "/hello.txt")).is_none());
    assert!(
        t.files
            .serve(&Request::new("DELETE", "/hello.txt"))
            .is_none()
    );
    assert!(get(&t, "/missing.txt").is_none());
    assert!(get(&t, "/hello.txt/").is_none());
    assert!(get(&t, "/empty-dir").is_none());
    assert!(get(&t, "/empty-dir/").is_none());
    assert_eq!(body_of(&mut get(&t, "/a%20b.txt").unwrap()), b"spaced");
    assert_eq!(
        body_of(&mut get(&t, "/hello.txt?v=3").unwrap()),
        b"hello world"
    );
}

#[test]
fn no_escape_from_the_folder() {
    let t = tree();
    for target in [
        "/../outside/secret.txt",
        "/sub/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/sub%2f..%2f..%2foutside%2fsecret.txt",
        "/..\\outside\\secret.txt",
        "/%5c..%5coutside%5csecret.txt",
        "/link-out",
        "/dir-link-out/secret.txt",
        "/dir-link-out/",
        "/dir-link-out",
        "/hello.txt%00.html",
        "//../outside/secret.txt",
        "http://x/../outside/secret.txt",
    ] {
        assert!(get(&t, target).is_none(), "{target} escaped");
    }
    // A symlink that stays inside is fine.
    assert_eq!(body_of(&mut get(&t, "/link-in").unwrap()), b"hello world");
    // An escaping .gz sibling is neither served nor advertised.
    let mut r = t
        .files
        .serve(&Request::new("GET", "/sneaky.txt").with_header("Accept-Encoding", "gzip"))
        .unwrap();
    assert_eq!(r.header_value("content-encoding"), None);
    assert_eq!(r.header_value("vary"), None);
    assert_eq!(body_of(&mut r), b"plain");
}

#[test]
fn index_html_and_folder_redirects() {
    let t = tree();
    let mut r = get(&t, "/").unwrap();
    assert_eq!(
        r.header_value("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(body_of(&mut r), b"<h1>home</h1>");
    assert_eq!(body_of(&mut get(&t, "/sub/").unwrap()), b"<h1>sub</h1>");

    let r = get(&t, "/sub").unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(r.header_value("location"), Some("/sub/"));
    let r = get(&t, "/sub?x=1").unwrap();
    assert_eq!(r.header_value("location"), Some("/sub/?x=1"));
}

#[test]
fn content_types() {
    let t = tree();
    let ct = |target| {
        get(&t, target)
            .unwrap()
            .header_value("content-type")
            .map(str::to_owned)
    };
    assert_eq!(ct("/nested/deep.json").as_deref(), Some("application/json"));
    assert_eq!(
        ct("/app.js").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(ct("/blob.bin").as_deref(), Some("application/octet-stream"));
    assert_eq!(ct("/app.js.gz").as_deref(), Some("application/gzip"));
}

#[test]
fn not_modified() {
    let t = tree();
    let first = get(&t, "/hello.txt").unwrap();
    let etag = first.header_value("etag").unwrap().to_owned();
    let lm = first.header_value("last-modified").unwrap().to_owned();
    let with = |name: &str, value: &str| {
        t.files
            .serve(&Request::new("GET", "/hello.txt").with_header(name, value))
            .unwrap()
    };

    let r = with("If-None-Match", &etag);
    assert_eq!(r.status(), 304);
    assert_eq!(r.header_value("etag"), Some(etag.as_str()));
    assert!(r.body_ref().is_empty());
    assert_eq!(with("If-None-Match", &format!("W/{etag}")).status(), 304);
    assert_eq!(
        with("If-None-Match", &format!("\"other\", {etag}")).status(),
        304
    );
    assert_eq!(with("If-None-Match", "*").status(), 304);
    assert_eq!(with("If-None-Match", "\"other\"").status(), 200);

    assert_eq!(with("If-Modified-Since", &lm).status(), 304);
    assert_eq!(
        with("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT").status(),
        200
    );
    assert_eq!(
        with("If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT").status(),
        200
    );
    assert_eq!(with("If-Modified-Since", "yesterday").status(), 200);

    // If-None-Match wins over If-Modified-Since.
    let r = t.files.serve(
        &Request::new("GET", "/hello.txt")
            .with_header("If-None-Match", "\"other\"")
            .with_header("If-Modified-Since", &lm),
    );
    assert_eq!(r.unwrap().status(), 200);
}

#[test]
fn gzip_sibling() {
    let t = tree();
    let with_ae = |ae: &str| {
        t.files
            .serve(&Request::new("GET", "/app.js").with_header("Accept-Encoding", ae))
            .unwrap()
    };
    let mut gz = with_ae("gzip, deflate, br");
    assert_eq!(gz.header_value("content-encoding"), Some("gzip"));
    assert_eq!(
        gz.header_value("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(gz.header_value("vary"), Some("Accept-Encoding"));
    assert_eq!(body_of(&mut gz), b"\x1f\x8bGZIPPED");

    let mut plain = with_ae("gzip;q=0, br");
    assert_eq!(plain.header_value("content-encoding"), None);
    assert_eq!(plain.header_value("vary"), Some("Accept-Encoding"));
    assert_ne!(plain.header_value("etag"), gz.header_value("etag"));
    assert_eq!(
        body_of(&mut plain),
        b"console.log('plain, long enough to compress');"
    );

    let plain = get(&t, "/app.js").unwrap();
    assert_eq!(plain.header_value("content-encoding"), None);
    assert_eq!(plain.header_value("vary"), Some("Accept-Encoding"));

    // The gzip variant's own ETag revalidates the gzip variant.
    let etag = gz.header_value("etag").unwrap().to_owned();
    let r = t.files.serve(
        &Request::new("GET", "/app.js")
            .with_header("Accept-Encoding", "gzip")
            .with_header("If-None-Match", &etag),
    );
    assert_eq!(r.unwrap().status(), 304);
}

#[test]
fn ranges() {
    let t = tree();
    let with_range = |range: &str| {
        t.files
            .serve(&Request::new("GET", "/hello.txt").with_header("Range", range))
            .unwrap()
    };
    let mut r = with_range("bytes=0-4");
    assert_eq!(r.status(), 206);
    assert_eq!(r.header_value("content-range"), Some("bytes 0-4/11"));
    assert_eq!(body_of(&mut r), b"hello");

    let mut r = with_range("bytes=-5");
    assert_eq!(r.header_value("content-range"), Some("bytes 6-10/11"));
    assert_eq!(body_of(&mut r), b"world");

    let mut r = with_range("bytes=6-");
    assert_eq!(body_of(&mut r), b"world");

    let mut r = with_range("bytes=0-1,4-5");
    assert_eq!(r.status(), 200);
    assert_eq!(body_of(&mut r), b"hello world");

    let r = with_range("bytes=11-");
    assert_eq!(r.status(), 416);
    assert_eq!(r.header_value("content-range"), Some("bytes */11"));

    // If-Range with a stale validator: the whole file.
    let r = t.files.serve(
        &Request::new("GET", "/hello.txt")
            .with_header("Range", "bytes=0-4")
            .with_header("If-Range", "\"stale\""),
    );
    assert_eq!(r.unwrap().status(), 200);
    let etag = get(&t, "/hello.txt")
        .unwrap()
        .header_value("etag")
        .unwrap()
        .to_owned();
    let r = t.files.serve(
        &Request::new("GET", "/hello.txt")
            .with_header("Range", "bytes=0-4")
            .with_header("If-Range", &etag),
    );
    assert_eq!(r.unwrap().status(), 206);
}

#[test]
fn large_files_stream_from_disk() {
    let t = tree();
    // A sparse 1 GiB file: cheap to create, would be fatal to read into memory.
    let big = File::create(t.files.root().join("big.bin")).unwrap();
    big.set_len(1 << 30).unwrap();
    let mut r = get(&t, "/big.bin").unwrap();
    assert_eq!(r.body_ref().len(), Some(1 << 30));
    match r.take_body() {
        Body::File(mut f) => {
            let mut out = Vec::new();
            assert_eq!(f.read_into(&mut out, 64 * 1024).unwrap(), 64 * 1024);
            assert_eq!(f.len(), (1 << 30) - 64 * 1024);
        }
        other => panic!("expected a file body, got {other:?}"),
    }
    let r = t
        .files
        .serve(&Request::new("GET", "/big.bin").with_header("Range", "bytes=-10"));
    let r = r.unwrap();
    assert_eq!(
        r.header_value("content-range"),
        Some("bytes 1073741814-1073741823/1073741824")
    );
    assert_eq!(r.body_ref().len(), Some(10));
}

#[test]
fn root_must_be_a_folder() {
    let t = tree();
    assert!(StaticFiles::new(t.base.join("nope")).is_err());
    assert!(StaticFiles::new(t.files.root().join("hello.txt")).is_err());
    // A relative, non-canonical root is canonicalized.
    let odd = t.base.join("public/sub/..");
    assert_eq!(StaticFiles::new(odd).unwrap().root(), t.files.root());
}
