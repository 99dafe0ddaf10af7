//! Fan-out enqueue: one broadcast frame (64-byte payload, encoded once as a `SharedFrame`) queued
//! on 1,000 connections' outbound queues — the per-receiver work of `ServerHandle::broadcast`
//! before the socket writes. Also with the write to a sink, to show the queue's own share of a
//! delivery (the real `writev` system call dominates and is measured by the load tool).
//!
//! `cargo bench -p plezi-benches --bench fanout`

use std::hint::black_box;
use std::io;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use plezi_server::SharedFrame;
use plezi_server::outbound::OutQueue;

const RECEIVERS: usize = 1_000;

fn fanout(c: &mut Criterion) {
    let frame = SharedFrame::text(&"x".repeat(64));
    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements(RECEIVERS as u64));

    // Idle receivers: each queue is empty (unallocated) before the broadcast, as in a server.
    group.bench_function("enqueue_1000_idle", |b| {
        b.iter_batched_ref(
            || {
                (0..RECEIVERS)
                    .map(|_| OutQueue::default())
                    .collect::<Vec<_>>()
            },
            |queues| {
                for q in queues.iter_mut() {
                    q.push_frame(black_box(&frame).clone());
                }
            },
            BatchSize::SmallInput,
        );
    });

    // Busy receivers: each queue already holds a few frames (no allocation on push).
    group.bench_function("enqueue_1000_busy", |b| {
        let mut queues: Vec<OutQueue> = (0..RECEIVERS).map(|_| OutQueue::default()).collect();
        for q in &mut queues {
            for _ in 0..4 {
                q.push_frame(frame.clone());
            }
        }
        b.iter(|| {
            for q in queues.iter_mut() {
                q.push_frame(black_box(&frame).clone());
            }
            for q in queues.iter_mut() {
                q.drop_unstarted();
                for _ in 0..4 {
                    q.push_frame(frame.clone());
                }
            }
        });
    });

    // Enqueue then drain each queue into a sink (the vectored-write path without the kernel).
    group.bench_function("enqueue_and_flush_1000", |b| {
        let mut queues: Vec<OutQueue> = (0..RECEIVERS).map(|_| OutQueue::default()).collect();
        let mut sink = io::sink();
        b.iter(|| {
            for q in queues.iter_mut() {
                q.push_frame(black_box(&frame).clone());
            }
            for q in queues.iter_mut() {
                let _ = q.write_to(&mut sink);
            }
        });
    });
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
