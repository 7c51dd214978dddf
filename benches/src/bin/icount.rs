//! Instruction-count harness: runs one benchmark cell under callgrind.
//!
//! ```text
//! icount <group> <impl> <size> [batches]    # size: 16B, 125B, 1KiB, 64KiB, 1MiB or bytes
//! icount --list                             # "<group> <impl>" per line
//! icount phoenix <floor|ours> <case> [batches]   # decode + dispatch (`realtime_benches::phoenix`)
//! icount presence sync <floor|ours> [batches]     # a 10,000-presence state, one per batch
//! icount presence diff <10k|10> [batches]         # 1000 one-key diffs per batch
//! ```
//!
//! Builds the case and the implementation's state exactly as the criterion bench `ws` does,
//! runs one warm-up batch, then runs `batches` (default 1) batches inside
//! [`measured_region`], and prints `messages <count>`: the messages handled in the region.
//! Under `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_region*'`
//! only that region is counted (`icount.py` does this and divides by the message count).

use std::process::ExitCode;

use realtime_benches::{GROUPS, parse_size};

/// The measured region: callgrind's `--toggle-collect` switches collection on when this
/// function is entered and off when it returns, so its inclusive cost is the batches' cost.
#[inline(never)]
fn measured_region(batch: &mut dyn FnMut(), batches: u64) {
    for _ in 0..batches {
        batch();
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: icount <group> <impl> <size> [batches]   (size: 16B, 125B, 1KiB, ... or bytes)");
    eprintln!("       icount --list");
    ExitCode::from(2)
}

/// The `phoenix` cells: the message copies are made before the measured region.
#[inline(never)]
fn measured_phoenix(
    run: &mut dyn FnMut(Vec<realtime_core::ws::Message>),
    batches: Vec<Vec<realtime_core::ws::Message>>,
) {
    for b in batches {
        run(b);
    }
}

fn phoenix(imp: &str, case: &str, batches: &str) -> ExitCode {
    use realtime_benches::phoenix::{BATCH, cases, floor, joined_client, ours};
    let Some(case) = cases().into_iter().find(|c| c.name == case) else {
        eprintln!("icount: unknown phoenix case {case:?}");
        return usage();
    };
    let Ok(batches) = batches.parse::<usize>() else { return usage() };
    let make = || vec![case.message.clone(); BATCH];
    let mut client = joined_client(case.vsn);
    let mut run: Box<dyn FnMut(Vec<realtime_core::ws::Message>)> = match imp {
        "floor" => Box::new(|b| floor(&case, b)),
        "ours" => Box::new(|b| ours(&mut client, b)),
        _ => return usage(),
    };
    run(make()); // warm-up
    let inputs: Vec<_> = (0..batches).map(|_| make()).collect();
    measured_phoenix(&mut *run, inputs);
    println!("messages {}", batches * BATCH);
    println!("batch_messages {BATCH}");
    ExitCode::SUCCESS
}

/// The presence cells: the states the diffs apply to are cloned before the region and freed
/// after it, as criterion's `iter_batched` does.
#[inline(never)]
fn measured_presence(run: &mut dyn FnMut()) {
    run();
}

fn presence(kind: &str, imp: &str, batches: &str) -> ExitCode {
    use realtime_benches::phoenix::{
        DIFFS, PRESENCES, diff_cases, presence_diffs, presence_state_text, presence_sync, presence_sync_floor,
    };
    let Ok(batches) = batches.parse::<usize>() else { return usage() };
    match (kind, imp) {
        ("sync", "floor" | "ours") => {
            let text = presence_state_text(PRESENCES);
            let sync = if imp == "ours" { presence_sync } else { presence_sync_floor };
            sync(&text); // warm-up
            measured_presence(&mut || (0..batches).for_each(|_| sync(&text)));
            println!("messages {}", batches * PRESENCES);
            println!("batch_messages {PRESENCES}");
        }
        ("diff", _) => {
            let Some(case) = diff_cases().into_iter().find(|c| c.name == imp) else { return usage() };
            drop(presence_diffs(case.state.clone(), &case.diffs)); // warm-up
            let mut states: Vec<_> = (0..batches).map(|_| case.state.clone()).collect();
            let mut done = Vec::with_capacity(batches);
            measured_presence(&mut || done.extend(states.drain(..).map(|s| presence_diffs(s, &case.diffs))));
            drop(done);
            println!("messages {}", batches * DIFFS);
            println!("batch_messages {DIFFS}");
        }
        _ => return usage(),
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("phoenix") {
        return match args.as_slice() {
            [_, i, c] => phoenix(i, c, "1"),
            [_, i, c, b] => phoenix(i, c, b),
            _ => usage(),
        };
    }
    if args.first().map(String::as_str) == Some("presence") {
        return match args.as_slice() {
            [_, k, i] => presence(k, i, "1"),
            [_, k, i, b] => presence(k, i, b),
            _ => usage(),
        };
    }
    if args.first().map(String::as_str) == Some("--list") {
        for g in &GROUPS {
            for i in g.impls {
                println!("{} {}", g.name, i.name);
            }
        }
        return ExitCode::SUCCESS;
    }
    let (group, imp, size, batches) = match args.as_slice() {
        [g, i, s] => (g, i, s, "1"),
        [g, i, s, b] => (g, i, s, b.as_str()),
        _ => return usage(),
    };
    let Some(group) = realtime_benches::group(group) else {
        eprintln!("icount: unknown group {group:?}");
        return usage();
    };
    let Some(imp) = group.find(imp) else {
        eprintln!("icount: group {} has no implementation {imp:?}", group.name);
        return usage();
    };
    let Some(size) = parse_size(size) else {
        eprintln!("icount: bad size {size:?}");
        return usage();
    };
    let Ok(batches) = batches.parse::<u64>() else {
        eprintln!("icount: bad batch count {batches:?}");
        return usage();
    };

    let case = realtime_benches::Case::new(size, group.kind);
    let mut batch = (imp.setup)(&case);
    batch(); // warm-up: buffers grown, lazy state initialised, as after criterion's warm-up
    measured_region(&mut *batch, batches);
    println!("messages {}", batches * case.n as u64);
    println!("batch_messages {}", case.n);
    ExitCode::SUCCESS
}
