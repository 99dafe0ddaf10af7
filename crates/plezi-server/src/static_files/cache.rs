//! What the folder answered for a request path, kept for [`REVALIDATE`] so that a busy file costs no
//! system call: its canonical path, its metadata with the entity tag and date already formatted,
//! and, for files up to [`MAX_BODY`] bytes, its content.
//!
//! - An entry older than [`REVALIDATE`] is resolved again from scratch (decode, `realpath`,
//!   containment and dotfile checks, `stat`), so a changed, added or deleted file, or a symlink
//!   that starts pointing outside the folder, is seen within that time. A body is read again only
//!   when the file's identity, size, mtime or ctime changed, or when it was read while the file
//!   was still being written ([`RACY`]).
//! - A file larger than [`MAX_BODY`] is opened on every request (no `realpath`), and served only
//!   if it is still the same inode; otherwise the path is resolved again at once.
//! - A body is kept only if the file did not change while it was read (same metadata before and
//!   after), so a response never mixes two versions of a file.
//! - The cache is shared by the server's loops behind a read-write lock: a read for a lookup, a
//!   write only to remember or forget a file. It holds at most [`MAX_ENTRIES`] paths and
//!   [`MAX_BYTES`] bytes (bodies and keys); past either, entries due for revalidation go first,
//!   then arbitrary ones. Only files are kept, never misses, so requests for paths that name no
//!   file cannot push the files out.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::format_system_time;

/// How long an answer is served without looking at the file system again.
pub(crate) const REVALIDATE: Duration = Duration::from_secs(1);
/// Largest file whose content is kept in memory.
pub(crate) const MAX_BODY: u64 = 64 * 1024;
/// Most request paths remembered.
pub(crate) const MAX_ENTRIES: usize = 1024;
/// Most bytes of content (and keys) remembered.
pub(crate) const MAX_BYTES: usize = 16 * 1024 * 1024;
/// A body read less than this after the file's last change is read again at the next
/// revalidation even if the metadata looks the same: file-system timestamps are coarse, and a
/// write in the same tick as the read would otherwise go unnoticed.
pub(crate) const RACY: Duration = Duration::from_secs(2);

/// What identifies one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    pub(crate) fn of(meta: &Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The same file (inode), whatever its content.
    pub(crate) fn same_file(&self, other: &Stamp) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }
}

/// A file's validators, formatted once.
#[derive(Debug, Clone)]
pub(crate) struct Validators {
    pub(crate) len: u64,
    pub(crate) mtime_secs: u64,
    /// `"<len hex>-<mtime ns hex>"`, with `-gz` for the gzip variant.
    pub(crate) etag: String,
    /// IMF-fixdate of the mtime.
    pub(crate) last_modified: String,
}

impl Validators {
    pub(crate) fn of(meta: &Metadata, gzip: bool) -> Validators {
        let len = meta.len();
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        let since_epoch = mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
        Validators {
            len,
            mtime_secs: since_epoch.as_secs(),
            etag: format!(
                "\"{len:x}-{:x}{}\"",
                since_epoch.as_nanos(),
                if gzip { "-gz" } else { "" }
            ),
            last_modified: format_system_time(mtime),
        }
    }
}

/// One representation of a path: the file itself or its `.gz` sibling.
#[derive(Debug)]
pub(crate) struct Variant {
    /// Canonical path (inside the folder when it was resolved).
    pub(crate) real: PathBuf,
    pub(crate) stamp: Stamp,
    pub(crate) validators: Validators,
    /// The content, for files up to [`MAX_BODY`] bytes.
    pub(crate) body: Option<Arc<[u8]>>,
    /// The body was read long enough after the file's last change to trust the metadata.
    settled: bool,
}

impl Variant {
    /// Describes an opened file, keeping its content if small. The content of `previous` is
    /// reused when the file has not changed since it was read. Returns the file back when its
    /// content is not kept (the caller streams from it).
    pub(crate) fn new(
        real: PathBuf,
        file: File,
        meta: &Metadata,
        gzip: bool,
        previous: Option<&Variant>,
    ) -> (Variant, Option<File>) {
        let stamp = Stamp::of(meta);
        let mut variant = Variant {
            real,
            stamp,
            validators: Validators::of(meta, gzip),
            body: None,
            settled: false,
        };
        if stamp.len > MAX_BODY {
            return (variant, Some(file));
        }
        if let Some(p) = previous.filter(|p| p.stamp == stamp && p.settled && p.body.is_some()) {
            variant.body = p.body.clone();
            variant.settled = true;
            return (variant, None);
        }
        let changed_at = meta.modified().unwrap_or(UNIX_EPOCH);
        match read_unchanged(&file, &stamp) {
            Some(body) => {
                variant.body = Some(body);
                variant.settled = SystemTime::now()
                    .duration_since(changed_at)
                    .is_ok_and(|age| age >= RACY);
                (variant, None)
            }
            None => (variant, Some(file)),
        }
    }

    fn bytes(&self) -> usize {
        self.body.as_ref().map_or(0, |b| b.len())
    }
}

/// The whole content of `file`, if it still matches `stamp` once read (not changed meanwhile).
fn read_unchanged(file: &File, stamp: &Stamp) -> Option<Arc<[u8]>> {
    let len = usize::try_from(stamp.len).ok()?;
    let mut body = vec![0u8; len];
    let mut at = 0;
    while at < len {
        match file.read_at(&mut body[at..], at as u64) {
            Ok(0) => return None,
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    let after = file.metadata().ok()?;
    (Stamp::of(&after) == *stamp).then(|| Arc::from(body))
}

/// What a request path resolved to.
#[derive(Debug)]
pub(crate) struct Entry {
    /// When it was resolved.
    checked: Instant,
    /// Content type of the requested name (not of its `.gz` sibling).
    pub(crate) content_type: &'static str,
    pub(crate) identity: Variant,
    pub(crate) gzip: Option<Variant>,
}

impl Entry {
    pub(crate) fn new(
        checked: Instant,
        content_type: &'static str,
        identity: Variant,
        gzip: Option<Variant>,
    ) -> Entry {
        Entry {
            checked,
            content_type,
            identity,
            gzip,
        }
    }

    fn is_fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.checked) < REVALIDATE
    }

    fn bytes(&self) -> usize {
        self.identity.bytes() + self.gzip.as_ref().map_or(0, Variant::bytes)
    }
}

/// The bounded map from request path to [`Entry`].
#[derive(Default)]
pub(crate) struct Cache {
    map: RwLock<Map>,
}

#[derive(Default)]
struct Map {
    entries: HashMap<Box<str>, Arc<Entry>>,
    /// Bytes of bodies and keys in `entries`.
    bytes: usize,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Cache")
            .field("entries", &map.entries.len())
            .field("bytes", &map.bytes)
            .finish()
    }
}

impl Cache {
    /// The entry for `path`, if it was resolved less than [`REVALIDATE`] before `now`.
    pub(crate) fn fresh(&self, path: &str, now: Instant) -> Option<Arc<Entry>> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.entries.get(path).filter(|e| e.is_fresh(now)).cloned()
    }

    /// The entry for `path`, however old (its bodies may be reused when the files are unchanged).
    pub(crate) fn previous(&self, path: &str) -> Option<Arc<Entry>> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.entries.get(path).cloned()
    }

    /// Forgets `path` (a read first: misses, the common case, never wait for the write lock).
    pub(crate) fn remove(&self, path: &str) {
        let read = self.map.read().unwrap_or_else(PoisonError::into_inner);
        if !read.entries.contains_key(path) {
            return;
        }
        drop(read);
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(path);
    }

    /// Remembers `entry` for `path`, making room within the bounds; returns it shared.
    pub(crate) fn insert(&self, path: &str, entry: Entry) -> Arc<Entry> {
        let entry = Arc::new(entry);
        let cost = entry.bytes() + path.len();
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(path);
        if cost > MAX_BYTES {
            return entry;
        }
        if map.entries.len() >= MAX_ENTRIES || map.bytes + cost > MAX_BYTES {
            let now = entry.checked;
            map.evict(now, cost);
        }
        map.bytes += cost;
        map.entries.insert(path.into(), Arc::clone(&entry));
        entry
    }

    /// Number of paths remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }
}

impl Map {
    fn remove(&mut self, path: &str) {
        if let Some((key, old)) = self.entries.remove_entry(path) {
            self.bytes -= old.bytes() + key.len();
        }
    }

    /// Frees room for one more entry of `cost` bytes: entries due for revalidation first, then
    /// arbitrary ones, down to 7/8 of the bounds so that a full cache does not scan on every
    /// insert.
    fn evict(&mut self, now: Instant, cost: usize) {
        let entry_goal = MAX_ENTRIES - MAX_ENTRIES / 8;
        let byte_goal = (MAX_BYTES - MAX_BYTES / 8).saturating_sub(cost);
        let mut freed = 0;
        self.entries.retain(|key, e| {
            let keep = e.is_fresh(now);
            if !keep {
                freed += e.bytes() + key.len();
            }
            keep
        });
        self.bytes -= freed;
        while self.entries.len() > entry_goal || self.bytes > byte_goal {
            let Some(key) = self.entries.keys().next().cloned() else {
                break;
            };
            self.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry whose body has `len` bytes (the file itself is only needed for its metadata).
    fn entry(len: usize, now: Instant) -> Entry {
        static FILE: std::sync::OnceLock<(PathBuf, Metadata)> = std::sync::OnceLock::new();
        let (path, meta) = FILE.get_or_init(|| {
            let path = std::env::temp_dir().join(format!("plezi-cache-{}", std::process::id()));
            std::fs::write(&path, b"x").unwrap();
            let meta = std::fs::metadata(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            (path, meta)
        });
        let variant = Variant {
            real: path.clone(),
            stamp: Stamp::of(meta),
            validators: Validators::of(meta, false),
            body: Some(Arc::from(vec![0u8; len])),
            settled: true,
        };
        Entry::new(now, "text/plain", variant, None)
    }

    fn bytes(cache: &Cache) -> usize {
        cache.map.read().unwrap().bytes
    }

    #[test]
    fn entries_are_bounded() {
        let cache = Cache::default();
        let now = Instant::now();
        for i in 0..MAX_ENTRIES * 2 {
            cache.insert(&format!("/f{i}"), entry(10, now));
            assert!(cache.len() <= MAX_ENTRIES);
        }
        assert!(cache.len() > MAX_ENTRIES / 2);
        // The newest is always kept.
        assert!(
            cache
                .fresh(&format!("/f{}", MAX_ENTRIES * 2 - 1), now)
                .is_some()
        );
    }

    #[test]
    fn bytes_are_bounded_and_counted_back() {
        let cache = Cache::default();
        let now = Instant::now();
        let big = MAX_BODY as usize;
        for i in 0..MAX_BYTES / big * 2 {
            cache.insert(&format!("/big{i}"), entry(big, now));
            assert!(bytes(&cache) <= MAX_BYTES, "{} bytes", bytes(&cache));
        }
        // Replacing and removing keep the count exact.
        let before = bytes(&cache);
        let key = format!("/big{}", MAX_BYTES / big * 2 - 1);
        cache.insert(&key, entry(big, now));
        assert_eq!(bytes(&cache), before);
        cache.remove(&key);
        assert_eq!(bytes(&cache), before - big - key.len());
        // One entry larger than the whole budget is answered but not kept.
        cache.insert("/huge", entry(MAX_BYTES, now));
        assert!(cache.previous("/huge").is_none());
    }

    #[test]
    fn stale_entries_go_first() {
        let cache = Cache::default();
        let old = Instant::now();
        let now = old + REVALIDATE * 2;
        cache.insert("/keep", entry(10, now));
        for i in 0..MAX_ENTRIES - 1 {
            cache.insert(&format!("/old{i}"), entry(10, old));
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert!(cache.fresh("/old0", now).is_none(), "stale");
        assert!(
            cache.previous("/old0").is_some(),
            "kept for its body until room is needed"
        );
        cache.insert("/new", entry(10, now));
        assert_eq!(
            cache.len(),
            2,
            "every stale entry went, the fresh ones stayed"
        );
        assert!(cache.fresh("/keep", now).is_some());
        assert!(cache.fresh("/new", now).is_some());
    }
}
