//! Decode and dispatch of Realtime messages through the client, against the least work a client
//! must do on the same bytes, and presence sync and diffs (`realtime_benches::phoenix`).
//!
//! Run: `cargo bench -p realtime-benches --bench phoenix` (or `python3 benches/phoenix_report.py`
//! for three interleaved runs and the ratios); `-- presence` for the presence groups only.

use core::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use realtime_benches::phoenix::{
    BATCH, DIFFS, PRESENCES, cases, diff_cases, floor, joined_client, ours, presence_diffs,
    presence_state_text, presence_sync, presence_sync_floor,
};

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

/// A `presence_state` of 10,000 presences into an empty state, against parsing it into a
/// `serde_json::Value`.
fn presence_sync_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("presence_sync");
    group.throughput(Throughput::Elements(PRESENCES as u64));
    let text = presence_state_text(PRESENCES);
    group.bench_function(BenchmarkId::new("floor", "10k"), |b| b.iter(|| presence_sync_floor(&text)));
    group.bench_function(BenchmarkId::new("ours", "10k"), |b| b.iter(|| presence_sync(&text)));
    group.finish();
}

/// One-key diffs against a state of 10,000 presences and of 10.
fn presence_diff_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("presence_diff");
    group.throughput(Throughput::Elements(DIFFS as u64));
    for case in diff_cases() {
        group.bench_function(BenchmarkId::new("ours", case.name), |b| {
            b.iter_batched(|| case.state.clone(), |s| presence_diffs(s, &case.diffs), BatchSize::LargeInput);
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

criterion_group! { name = benches; config = config(); targets = phoenix_decode, presence_sync_group, presence_diff_group }
criterion_main!(benches);
