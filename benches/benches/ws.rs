//! In-memory WebSocket codec benchmarks: our core against peer crates, client side.
//!
//! The cells live in the library (`src/lib.rs`, `src/recv.rs`, `src/send.rs`) so that the
//! instruction-count harness (`src/bin/icount.rs`) runs the same code: each implementation's
//! `Setup` builds its state once per cell, and one criterion iteration is one call of the
//! returned batch, N = max(2, 1 MiB / size) messages (shared/spec/websocket.md sections 3-4).
//! Criterion's throughput is the payload bytes of the batch.
//!
//! Groups (`realtime_benches::GROUPS`):
//! - `client_recv_binary`: unmasked server-to-client binary frames, each payload touched.
//! - `client_recv_text`: the same with ASCII JSON-like text, for implementations that check UTF-8.
//! - `client_send`: encode and mask a binary message into a send buffer drained when full.
//!
//! Run: `cargo bench -p realtime-benches --bench ws` (or `python3 benches/report.py`). On AMD
//! CPUs set `GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=100000000` (report.py does):
//! glibc's `rep movsb` copies are alignment-dependent there and swamp the differences
//! (benches/README.md).

use core::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use realtime_benches::{Case, SIZES};

/// Sizes outside, implementations inside: the implementations of one size run back to back.
fn run_group(c: &mut Criterion, name: &str) {
    let g = realtime_benches::group(name).expect("known group");
    let mut group = c.benchmark_group(g.name);
    for (size, label) in SIZES {
        let case = Case::new(size, g.kind);
        group.throughput(Throughput::Bytes((case.n * size) as u64));
        for imp in g.impls {
            group.bench_with_input(BenchmarkId::new(imp.name, label), &case, |b, case| {
                let mut batch = (imp.setup)(case);
                b.iter(&mut batch);
            });
        }
    }
    group.finish();
}

fn client_recv_binary(c: &mut Criterion) {
    run_group(c, "client_recv_binary");
}

fn client_recv_text(c: &mut Criterion) {
    run_group(c, "client_recv_text");
}

fn client_send(c: &mut Criterion) {
    run_group(c, "client_send");
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(15)
        .warm_up_time(Duration::from_millis(400))
        .measurement_time(Duration::from_millis(1500))
}

criterion_group! {
    name = ws;
    config = config();
    targets = client_recv_binary, client_recv_text, client_send
}
criterion_main!(ws);
