//! A small pool of threads for blocking work (disk, databases, DNS, heavy computation), so that it
//! never runs on an event loop. Threads start on demand up to a cap and leave after a while idle;
//! a job that panics is logged and does not take its thread down.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::panic_guard::guard;

/// A job for the pool.
type Job = Box<dyn FnOnce() + Send>;

/// An idle worker leaves after this long without work.
const IDLE_EXIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
    closed: bool,
}

/// The pool behind `ServerHandle::run_blocking`.
pub(crate) struct BlockingPool {
    state: Mutex<PoolState>,
    work: Condvar,
    max_threads: usize,
}

impl BlockingPool {
    /// A pool of at most `max_threads` threads (none started yet).
    pub(crate) fn new(max_threads: usize) -> BlockingPool {
        BlockingPool {
            state: Mutex::default(),
            work: Condvar::new(),
            max_threads: max_threads.max(1),
        }
    }

    /// Queues `job`, starting a thread if none is idle and the cap allows. Dropped once closed.
    pub(crate) fn spawn(self: &Arc<Self>, job: Job) {
        let mut state = self.state.lock();
        if state.closed {
            drop(state);
            drop(job);
            return;
        }
        state.jobs.push_back(job);
        if state.idle > 0 || state.threads >= self.max_threads {
            drop(state);
            self.work.notify_one();
            return;
        }
        state.threads += 1;
        drop(state);
        let pool = Arc::clone(self);
        let started = thread::Builder::new()
            .name("plezi-blocking".to_owned())
            .spawn(move || pool.work_loop());
        if let Err(e) = started {
            log::error!("plezi: cannot start a blocking-work thread: {e}");
            self.state.lock().threads -= 1;
        }
    }

    /// Refuses new jobs; workers finish what is queued, then leave.
    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        self.work.notify_all();
    }

    fn work_loop(&self) {
        let mut state = self.state.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                guard("a run_blocking job", job);
                state = self.state.lock();
                continue;
            }
            if state.closed {
                break;
            }
            state.idle += 1;
            let timed_out = self.work.wait_for(&mut state, IDLE_EXIT).timed_out();
            state.idle -= 1;
            if timed_out && state.jobs.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }

    #[cfg(test)]
    fn threads(&self) -> usize {
        self.state.lock().threads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn jobs_run_off_the_calling_thread_within_the_cap() {
        let pool = Arc::new(BlockingPool::new(2));
        let (tx, rx) = mpsc::channel();
        for i in 0..10 {
            let tx = tx.clone();
            pool.spawn(Box::new(move || {
                let name = thread::current().name().map(str::to_owned);
                tx.send((i, name)).expect("send");
            }));
        }
        let mut seen: Vec<usize> = (0..10)
            .map(|_| {
                let (i, name) = rx.recv_timeout(Duration::from_secs(5)).expect("job ran");
                assert_eq!(name.as_deref(), Some("plezi-blocking"));
                i
            })
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert!(pool.threads() <= 2);
    }

    #[test]
    fn a_panicking_job_does_not_stop_the_pool_and_close_refuses_new_jobs() {
        let pool = Arc::new(BlockingPool::new(1));
        pool.spawn(Box::new(|| panic!("job failure")));
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        pool.spawn(Box::new(move || tx2.send(1).expect("send")));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(1));
        pool.close();
        pool.spawn(Box::new(move || tx.send(2).expect("send")));
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    }
}
