use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

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
        Body::Shared(b) => b.to_vec(),
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

/// Polls `get(target)` until `done` holds for the body served (`None`: not served), checking
/// every body on the way with `each` (and against its entity tag); fails after a deadline well
/// past the revalidation interval.
fn poll_until(
    t: &Tree,
    target: &str,
    mut each: impl FnMut(Option<&[u8]>),
    done: impl Fn(Option<&[u8]>) -> bool,
) {
    let deadline = Instant::now() + cache::REVALIDATE * 5;
    loop {
        let body = get(t, target).map(|mut r| checked_body(&mut r));
        each(body.as_deref());
        if done(body.as_deref()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{target}: the change was not seen within {:?}",
            cache::REVALIDATE * 5
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Replaces `path` atomically (write a sibling, rename over), as deploy tools do.
fn replace(path: &std::path::Path, content: &[u8]) {
    let tmp = path.with_extension("tmp-replace");
    fs::write(&tmp, content).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// The body, checked against the response's own validators (length in the entity tag).
fn checked_body(resp: &mut Response) -> Vec<u8> {
    let etag = resp.header_value("etag").unwrap().to_owned();
    let body = body_of(resp);
    let len_hex = etag.trim_matches('"').split('-').next().unwrap().to_owned();
    assert_eq!(
        u64::from_str_radix(&len_hex, 16).unwrap(),
        body.len() as u64,
        "ETag {etag} does not describe the body sent"
    );
    body
}

#[test]
fn repeated_requests_are_answered_from_memory() {
    let t = tree();
    let mut first = get(&t, "/hello.txt").unwrap();
    let mut second = get(&t, "/hello.txt").unwrap();
    match (first.take_body(), second.take_body()) {
        (Body::Shared(a), Body::Shared(b)) => {
            assert!(
                Arc::ptr_eq(&a, &b),
                "the second answer reads the file again"
            );
            assert_eq!(&*a, b"hello world");
        }
        other => panic!("expected shared bodies, got {other:?}"),
    }
    assert_eq!(first.header_value("etag"), second.header_value("etag"));
    // Different spellings of a path are different keys, one answer each.
    assert_eq!(
        body_of(&mut get(&t, "//hello.txt").unwrap()),
        b"hello world"
    );
    assert_eq!(t.files.cache.len(), 2);
    // Misses are not remembered.
    assert!(get(&t, "/missing.txt").is_none());
    assert_eq!(t.files.cache.len(), 2);
}

#[test]
fn a_replaced_file_is_served_fresh_within_a_second_never_mixed() {
    let t = tree();
    let path = t.files.root().join("hello.txt");
    assert_eq!(body_of(&mut get(&t, "/hello.txt").unwrap()), b"hello world");
    replace(&path, b"a new, longer greeting");
    poll_until(
        &t,
        "/hello.txt",
        |body| {
            let body = body.expect("the file exists throughout");
            assert!(
                body == b"hello world" || body == b"a new, longer greeting",
                "mixed body {body:?}"
            );
        },
        |body| body == Some(&b"a new, longer greeting"[..]),
    );
}

#[test]
fn a_file_rewritten_in_place_with_the_same_length_is_seen() {
    let t = tree();
    let path = t.files.root().join("hello.txt");
    assert_eq!(body_of(&mut get(&t, "/hello.txt").unwrap()), b"hello world");
    // Same length, possibly the same timestamp tick: the metadata may look unchanged, but the
    // body was read too soon after the file's last change to be trusted.
    fs::write(&path, b"HELLO WORLD").unwrap();
    poll_until(
        &t,
        "/hello.txt",
        |_| {},
        |body| body == Some(&b"HELLO WORLD"[..]),
    );
}

#[test]
fn added_and_deleted_files_are_seen_within_a_second() {
    let t = tree();
    assert!(get(&t, "/late.txt").is_none());
    fs::write(t.files.root().join("late.txt"), "here now").unwrap();
    poll_until(
        &t,
        "/late.txt",
        |_| {},
        |body| body == Some(&b"here now"[..]),
    );
    fs::remove_file(t.files.root().join("late.txt")).unwrap();
    poll_until(
        &t,
        "/late.txt",
        |body| {
            if let Some(body) = body {
                assert_eq!(body, b"here now");
            }
        },
        |body| body.is_none(),
    );
}

#[test]
fn a_symlink_turned_outward_is_refused_within_a_second() {
    let t = tree();
    let link = t.files.root().join("link-in");
    assert_eq!(body_of(&mut get(&t, "/link-in").unwrap()), b"hello world");
    fs::remove_file(&link).unwrap();
    symlink(t.base.join("outside/secret.txt"), &link).unwrap();
    poll_until(
        &t,
        "/link-in",
        |body| {
            if let Some(body) = body {
                assert_eq!(body, b"hello world", "served through the new link");
            }
        },
        |body| body.is_none(),
    );
}

#[test]
fn a_large_file_is_checked_on_every_request() {
    let t = tree();
    let path = t.files.root().join("large.bin");
    let old = vec![b'o'; cache::MAX_BODY as usize + 1];
    let new = vec![b'n'; cache::MAX_BODY as usize + 7];
    fs::write(&path, &old).unwrap();
    let mut r = get(&t, "/large.bin").unwrap();
    assert!(matches!(r.body_ref(), Body::File(_)));
    assert_eq!(checked_body(&mut r), old);
    // Replaced by another inode: seen at once, not after the revalidation interval.
    replace(&path, &new);
    assert_eq!(checked_body(&mut get(&t, "/large.bin").unwrap()), new);
    // The same inode rewritten: sent with validators that describe it.
    let same_inode = vec![b's'; cache::MAX_BODY as usize + 3];
    fs::write(&path, &same_inode).unwrap();
    assert_eq!(
        checked_body(&mut get(&t, "/large.bin").unwrap()),
        same_inode
    );
    // Replaced by a link to a file outside: refused at once.
    fs::remove_file(&path).unwrap();
    symlink(t.base.join("outside/secret.txt"), &path).unwrap();
    assert!(get(&t, "/large.bin").is_none());
}

#[test]
fn a_file_replaced_while_it_is_read_is_never_mixed() {
    let t = tree();
    let path = t.files.root().join("flip.txt");
    let a = vec![b'a'; 3000];
    let b = vec![b'b'; 5000];
    fs::write(&path, &a).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (path, a, b, stop) = (path.clone(), a.clone(), b.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut flips = 0u32;
            while !stop.load(Ordering::Relaxed) {
                replace(&path, if flips.is_multiple_of(2) { &b } else { &a });
                flips += 1;
            }
            flips
        })
    };
    let (mut seen_a, mut seen_b) = (false, false);
    let deadline = Instant::now() + cache::REVALIDATE * 5;
    while !(seen_a && seen_b) && Instant::now() < deadline {
        // Each spelling of the path is its own entry, revalidated on its own: many reads.
        for slashes in 1..20 {
            let target = format!("{}flip.txt", "/".repeat(slashes));
            let Some(mut r) = get(&t, &target) else {
                continue;
            };
            let body = checked_body(&mut r);
            seen_a |= body == a;
            seen_b |= body == b;
            assert!(body == a || body == b, "mixed body of {} bytes", body.len());
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
    assert!(seen_a && seen_b, "both versions were served");
}
