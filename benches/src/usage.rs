//! What the run cost: the server's CPU time (`/proc/PID/stat` utime+stime, all threads; with several
//! processes named, their sum: the servers and Redis of a cross-process run), its resident
//! memory (`/proc/PID/status` VmRSS), the load tool's own CPU time, and how busy the server's core was
//! (`/proc/stat`), so noise from other processes on that core shows up in the report.

use std::time::{Duration, Instant};

/// One reading of every counter.
#[derive(Clone, Debug)]
pub struct Snapshot {
    at: Instant,
    server_cpu: Option<Duration>,
    /// Each process's CPU time, in the order of the meter's PIDs.
    each_cpu: Vec<Option<Duration>>,
    own_cpu: Duration,
    core_busy: Option<Duration>,
}

/// Counter differences between two snapshots.
#[derive(Clone, Debug)]
pub struct Usage {
    /// Wall time between the snapshots.
    pub wall: Duration,
    /// Server CPU time (None without `--server-pid`), summed over every process metered.
    pub server_cpu: Option<Duration>,
    /// Each metered process's CPU time, in `--server-pid` order (None: it could not be read).
    pub each_cpu: Vec<Option<Duration>>,
    /// The load tool's CPU time.
    pub own_cpu: Duration,
    /// Busy time of the server's core (None if the server is not pinned to one core).
    pub core_busy: Option<Duration>,
}

impl Usage {
    /// Server CPU as a fraction of one core.
    pub fn server_share(&self) -> Option<f64> {
        self.server_cpu
            .map(|c| c.as_secs_f64() / self.wall.as_secs_f64())
    }
    /// Own CPU as a fraction of one core.
    pub fn own_share(&self) -> f64 {
        self.own_cpu.as_secs_f64() / self.wall.as_secs_f64()
    }
    /// Share of the server's core used by anything but the server (other processes, interrupts).
    pub fn other_on_server_core(&self) -> Option<f64> {
        let busy = self.core_busy?.as_secs_f64();
        let server = self.server_cpu?.as_secs_f64();
        Some(((busy - server) / self.wall.as_secs_f64()).max(0.0))
    }
}

/// Reads the counters of the server processes (none, one, or several whose CPU time adds up).
pub struct Meter {
    pids: Vec<u32>,
    core: Option<usize>,
    tick: f64,
}

impl Meter {
    /// A meter for `pids`; with one process, finds the core it is pinned to, if it is pinned to
    /// exactly one (with several, the noise on "the server's core" has no meaning).
    pub fn new(pids: &[u32]) -> Result<Meter, String> {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let tick = if hz > 0 { 1.0 / hz as f64 } else { 0.01 };
        let core = match pids {
            [pid] => pinned_core(*pid),
            _ => None,
        };
        let meter = Meter {
            pids: pids.to_vec(),
            core,
            tick,
        };
        for &p in pids {
            meter
                .cpu_of(p)
                .ok_or_else(|| format!("--server-pid {p}: no such process (/proc/{p}/stat)"))?;
        }
        Ok(meter)
    }

    /// The core the server is pinned to, if any.
    pub fn server_core(&self) -> Option<usize> {
        self.core
    }

    /// Reads every counter now.
    pub fn snapshot(&self) -> Snapshot {
        let each_cpu: Vec<Option<Duration>> = self.pids.iter().map(|&p| self.cpu_of(p)).collect();
        let server_cpu = if self.pids.is_empty() {
            None
        } else {
            each_cpu.iter().copied().sum()
        };
        Snapshot {
            at: Instant::now(),
            server_cpu,
            each_cpu,
            own_cpu: own_cpu(),
            core_busy: self.core.and_then(|c| self.core_busy(c)),
        }
    }

    /// Differences between two snapshots.
    pub fn between(&self, a: &Snapshot, b: &Snapshot) -> Usage {
        Usage {
            wall: b.at - a.at,
            server_cpu: a
                .server_cpu
                .zip(b.server_cpu)
                .map(|(x, y)| y.saturating_sub(x)),
            each_cpu: a
                .each_cpu
                .iter()
                .zip(&b.each_cpu)
                .map(|(x, y)| x.zip(*y).map(|(x, y)| y.saturating_sub(x)))
                .collect(),
            own_cpu: b.own_cpu.saturating_sub(a.own_cpu),
            core_busy: a
                .core_busy
                .zip(b.core_busy)
                .map(|(x, y)| y.saturating_sub(x)),
        }
    }

    /// Resident memory of the (first) server in bytes.
    pub fn server_rss(&self) -> Option<u64> {
        let pid = self.pids.first()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    fn cpu_of(&self, pid: u32) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may contain spaces) start at field 3 (state).
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace();
        let utime: u64 = fields.nth(11)?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(Duration::from_secs_f64((utime + stime) as f64 * self.tick))
    }

    fn core_busy(&self, core: usize) -> Option<Duration> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let name = format!("cpu{core}");
        let line = stat
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal ...
        let total: u64 = v.iter().take(8).sum();
        let idle = v.get(3)? + v.get(4)?;
        Some(Duration::from_secs_f64((total - idle) as f64 * self.tick))
    }
}

/// This process's CPU time (user + system).
pub fn own_cpu() -> Duration {
    let mut ru: libc::rusage = unsafe_zeroed_rusage();
    // SAFETY: `ru` is a valid rusage to fill.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn unsafe_zeroed_rusage() -> libc::rusage {
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// The single core `pid` may run on, if its affinity mask has exactly one.
fn pinned_core(pid: u32) -> Option<usize> {
    // SAFETY: cpu_set_t is plain old data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the given size.
    let rc = unsafe { libc::sched_getaffinity(pid as i32, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return None;
    }
    // SAFETY: CPU_ISSET only reads `set`.
    let cores: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect();
    (cores.len() == 1).then(|| cores[0])
}

/// The 1-, 5- and 15-minute load averages, as written in `/proc/loadavg`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let meter = Meter::new(&[std::process::id()]).expect("own pid exists");
        let a = meter.snapshot();
        // Burn 60 ms of CPU (however long that takes on a busy machine).
        let mut x = 0u64;
        let deadline = Instant::now() + Duration::from_secs(20);
        while own_cpu() < a.own_cpu + Duration::from_millis(60) && Instant::now() < deadline {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let b = meter.snapshot();
        let u = meter.between(&a, &b);
        assert!(
            u.own_cpu >= Duration::from_millis(60),
            "own cpu {:?}",
            u.own_cpu
        );
        // /proc/PID/stat counts in clock ticks (10 ms): the same work, coarser.
        let server = u.server_cpu.expect("own /proc/PID/stat");
        assert!(server >= Duration::from_millis(30), "stat cpu {server:?}");
        assert!(meter.server_rss().is_some_and(|r| r > 0));
        assert!(Meter::new(&[u32::MAX - 1]).is_err());
        assert!(Meter::new(&[std::process::id(), u32::MAX - 1]).is_err());
    }

    #[test]
    fn several_processes_add_up() {
        let me = std::process::id();
        let one = Meter::new(&[me]).expect("own pid");
        let twice = Meter::new(&[me, me]).expect("own pid twice");
        let (a1, a2) = (one.snapshot(), twice.snapshot());
        let mut x = 0u64;
        let deadline = Instant::now() + Duration::from_secs(20);
        while own_cpu() < a1.own_cpu + Duration::from_millis(60) && Instant::now() < deadline {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let (b1, b2) = (one.snapshot(), twice.snapshot());
        let (u1, u2) = (one.between(&a1, &b1), twice.between(&a2, &b2));
        let (c1, c2) = (u1.server_cpu.expect("cpu"), u2.server_cpu.expect("cpu"));
        assert_eq!(u2.each_cpu.len(), 2);
        assert!(
            c2 >= c1 + c1 / 2,
            "the same process twice: {c2:?} vs {c1:?}"
        );
        assert_eq!(twice.server_core(), None);
    }
}
