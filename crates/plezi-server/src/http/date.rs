//! IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7): formatting, parsing, and the
//! per-thread cache behind the `Date` response header.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate string.
pub(crate) const IMF_LEN: usize = 29;

const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 from a civil date (inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats seconds since the Unix epoch as an IMF-fixdate. Years past 9999 are clamped to 9999.
pub(crate) fn format_imf(secs: u64) -> [u8; IMF_LEN] {
    let secs = secs.min(253_402_300_799); // 9999-12-31T23:59:59Z
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    let two = |v: u64| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
    out[5..7].copy_from_slice(&two(u64::from(d)));
    out[8..11].copy_from_slice(MONTHS[(m - 1) as usize]);
    let y = y as u64;
    out[12..14].copy_from_slice(&two(y / 100));
    out[14..16].copy_from_slice(&two(y % 100));
    out[17..19].copy_from_slice(&two(hh));
    out[20..22].copy_from_slice(&two(mm));
    out[23..25].copy_from_slice(&two(ss));
    out
}

/// Formats a `SystemTime` as an IMF-fixdate `String` (times before 1970 format as the epoch).
pub(crate) fn format_system_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // The formatter writes ASCII only.
    String::from_utf8_lossy(&format_imf(secs)).into_owned()
}

/// Parses an IMF-fixdate into seconds since the Unix epoch. Other date forms (RFC 850, asctime)
/// return `None`; callers treat that as "no date given", which only costs a cache revalidation.
pub(crate) fn parse_imf(s: &str) -> Option<u64> {
    let b = s.trim().as_bytes();
    if b.len() != IMF_LEN || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    if !DAYS.iter().any(|d| &b[..3] == *d) || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' {
        return None;
    }
    if b[19] != b':' || b[22] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        b[r].iter().try_fold(0u64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
        })
    };
    let d = num(5..7)?;
    let m = MONTHS.iter().position(|mo| &b[8..11] == *mo)? as u32 + 1;
    let y = num(12..16)?;
    let (hh, mm, ss) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if !(1..=31).contains(&d) || y < 1970 || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, m, d as u32);
    Some(days as u64 * 86_400 + hh * 3600 + mm * 60 + ss)
}

thread_local! {
    static DATE_CACHE: RefCell<(u64, [u8; IMF_LEN])> = const { RefCell::new((u64::MAX, [0; IMF_LEN])) };
}

/// Appends the current time as an IMF-fixdate, reformatting at most once per second per thread.
pub(crate) fn append_now(out: &mut Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    DATE_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != now {
            *cache = (now, format_imf(now));
        }
        out.extend_from_slice(&cache.1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(&format_imf(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&format_imf(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        // 2000-02-29 (leap day in a century leap year) 12:00:00
        assert_eq!(&format_imf(951_825_600), b"Tue, 29 Feb 2000 12:00:00 GMT");
        assert_eq!(&format_imf(1_700_000_000), b"Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn parse_round_trips() {
        for secs in [0u64, 784_111_777, 951_825_600, 1_700_000_000, 4_102_444_799] {
            let s = String::from_utf8(format_imf(secs).to_vec()).unwrap();
            assert_eq!(parse_imf(&s), Some(secs), "{s}");
        }
        // Step through days across several years, including leap years.
        for day in (0..20_000u64).step_by(37) {
            let secs = day * 86_400 + 3_661;
            let s = String::from_utf8(format_imf(secs).to_vec()).unwrap();
            assert_eq!(parse_imf(&s), Some(secs), "{s}");
        }
    }

    #[test]
    fn parse_rejects_other_forms() {
        assert_eq!(parse_imf("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_imf("Sun Nov  6 08:49:37 1994"), None);
        assert_eq!(parse_imf("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_imf("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(parse_imf("Sun, 0x Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_imf(""), None);
    }

    #[test]
    fn now_is_an_imf_date() {
        let mut out = Vec::new();
        append_now(&mut out);
        append_now(&mut out);
        assert_eq!(out.len(), 2 * IMF_LEN);
        let first = std::str::from_utf8(&out[..IMF_LEN]).unwrap();
        assert!(parse_imf(first).is_some(), "{first}");
    }
}
