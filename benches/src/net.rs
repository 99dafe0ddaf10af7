//! Sockets: non-blocking connects from a chosen 127.0.0.x source address (to pass the ~28k ephemeral
//! ports of one source address), and the open-file limit.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{FromRawFd, OwnedFd};

/// Where the server is: `ws://HOST:PORT/PATH` with an IPv4 host (or `localhost`).
#[derive(Clone, Debug)]
pub struct Target {
    /// Server address.
    pub addr: SocketAddrV4,
    /// Host as written in the URL (sent in `Host:`).
    pub host: String,
    /// Request path, e.g. `/ws`.
    pub path: String,
    /// Offer permessage-deflate in the upgrade (`--deflate on`), and require it accepted.
    pub deflate: bool,
}

impl Target {
    /// Parses `ws://HOST:PORT/PATH` (port defaults to 80, path to `/`).
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("--url {url}: only ws:// URLs are supported"))?;
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("--url {url}: bad port {p:?}"))?,
            ),
            None => (hostport, 80),
        };
        let ip = if host == "localhost" {
            Ipv4Addr::LOCALHOST
        } else {
            host.parse::<Ipv4Addr>().map_err(|_| {
                format!("--url {url}: the host must be an IPv4 address or localhost")
            })?
        };
        Ok(Target {
            addr: SocketAddrV4::new(ip, port),
            host: host.to_string(),
            path: path.to_string(),
            deflate: false,
        })
    }
}

/// Source addresses to spread clients over: `127.0.0.2`, `127.0.0.3`, ... (`count` of them), or just
/// `0.0.0.0` (kernel's choice) when the server is not on loopback.
pub fn source_addresses(target: &Target, count: usize) -> Vec<Ipv4Addr> {
    if !target.addr.ip().is_loopback() {
        return vec![Ipv4Addr::UNSPECIFIED];
    }
    (0..count.clamp(1, 250))
        .map(|i| Ipv4Addr::new(127, 0, 0, 2 + i as u8))
        .collect()
}

/// Starts a non-blocking connect from `src` (any port) to `dst`, with `TCP_NODELAY`.
pub fn connect_from(src: Ipv4Addr, dst: SocketAddrV4) -> io::Result<mio::net::TcpStream> {
    // SAFETY: plain socket syscalls on a descriptor we own; `OwnedFd` closes it on every error path.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    if !src.is_unspecified() {
        // Pick the port at connect time, per (source, destination) pair, not at bind time.
        set_int_opt(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
        let local = sockaddr(SocketAddrV4::new(src, 0));
        // SAFETY: `local` is a valid sockaddr_in of the given length.
        let rc = unsafe {
            libc::bind(
                fd,
                (&local as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let remote = sockaddr(dst);
    // SAFETY: `remote` is a valid sockaddr_in of the given length.
    let rc = unsafe {
        libc::connect(
            fd,
            (&remote as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as u32,
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(err);
        }
    }
    Ok(mio::net::TcpStream::from_std(std::net::TcpStream::from(
        owned,
    )))
}

fn set_int_opt(fd: i32, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a valid c_int for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

/// Raises the soft open-file limit to the hard limit; errors if `needed` descriptors won't fit.
pub fn raise_open_files(needed: u64) -> Result<u64, String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit: {}", io::Error::last_os_error()));
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(format!("setrlimit: {}", io::Error::last_os_error()));
        }
    }
    if needed > lim.rlim_cur {
        return Err(format!(
            "{needed} sockets need more open files than the hard limit allows ({}); \
             use fewer connections or raise the hard limit (ulimit -Hn)",
            lim.rlim_cur
        ));
    }
    Ok(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let t = Target::parse("ws://127.0.0.1:3000/ws").expect("valid");
        assert_eq!(t.addr, "127.0.0.1:3000".parse().expect("addr"));
        assert_eq!(t.path, "/ws");
        let t = Target::parse("ws://localhost:8080").expect("valid");
        assert_eq!(t.path, "/");
        assert!(Target::parse("http://127.0.0.1/").is_err());
        assert!(Target::parse("ws://example.com/").is_err());
    }

    #[test]
    fn connects_from_a_spread_source_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let std::net::SocketAddr::V4(dst) = listener.local_addr().expect("addr") else {
            panic!("v4")
        };
        let _stream = connect_from(Ipv4Addr::new(127, 0, 0, 7), dst).expect("connect");
        let (_, peer) = listener.accept().expect("accept");
        assert_eq!(peer.ip(), std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7)));
    }
}
