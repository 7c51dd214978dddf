//! Decode and dispatch of Realtime messages through the client, against the least work a client
//! must do on the same bytes (`realtime_benches::phoenix`).
//!
//! Run: `cargo bench -p realtime-benches --bench phoenix` (or `python3 benches/phoenix_report.py`
//! for three interleaved runs and the ratios).

use core::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use realtime_benches::phoenix::{BATCH, cases, floor, joined_client, ours};

fn phoenix_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("phoenix_decode");
    group.throughput(Throughput::Elements(BATCH as u64));
    for case in cases() {
        let make = || vec![case.message.clone(); BATCH];
        group.bench_function(BenchmarkId::new("floor", case.name), |b| {
            b.iter_batched(make, |batch| floor(&case, batch), BatchSize::LargeInput);
        });
        let mut client = joined_client(case.vsn);
        group.bench_function(BenchmarkId::new("ours", case.name), |b| {
            b.iter_batched(make, |batch| ours(&mut client, batch), BatchSize::LargeInput);
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = phoenix_decode }
criterion_main!(benches);
