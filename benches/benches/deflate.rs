//! permessage-deflate benchmarks: `deflate_recv` and `deflate_send` at 1 KiB and 64 KiB of
//! Realtime-like JSON, ours against yawc (`realtime_benches::deflate`). The compression ratio
//! of each sender is printed before the timings. Node's `ws` runs the same messages in
//! `benches/js/deflate.mjs`; `benches/deflate_report.py` runs both, three times interleaved.

use core::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use realtime_benches::deflate::{DeflateCase, DeflateImpl, RECV, SEND, SIZES, send_ratios};

fn run_group(c: &mut Criterion, name: &str, impls: &[DeflateImpl]) {
    let mut group = c.benchmark_group(name);
    for (size, label) in SIZES {
        let case = DeflateCase::new(size);
        if name == "deflate_send" {
            for (imp, ratio) in send_ratios(&case) {
                eprintln!("ratio {name}/{imp}/{label}: {ratio:.4}");
            }
        } else {
            eprintln!(
                "ratio {name}/server/{label}: {:.4}",
                case.wire_payload as f64 / (case.n * size) as f64
            );
        }
        group.throughput(Throughput::Bytes((case.n * size) as u64));
        for imp in impls {
            group.bench_with_input(BenchmarkId::new(imp.name, label), &case, |b, case| {
                let mut batch = (imp.setup)(case);
                b.iter(&mut batch);
            });
        }
    }
    group.finish();
}

fn deflate_recv(c: &mut Criterion) {
    run_group(c, "deflate_recv", RECV);
}

fn deflate_send(c: &mut Criterion) {
    run_group(c, "deflate_send", SEND);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(15)
        .warm_up_time(Duration::from_millis(400))
        .measurement_time(Duration::from_millis(1500))
}

criterion_group! {
    name = deflate;
    config = config();
    targets = deflate_recv, deflate_send
}
criterion_main!(deflate);
