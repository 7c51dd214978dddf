//! Live benchmarks: clients against the testkit server running in its own process.
//!
//! - Throughput and CPU ([`send_paced`] and the receivers): one sender process joins the
//!   channel over vsn 2.0.0 and pushes kind-3 binary user broadcasts, each carrying the same
//!   200-byte JSON object ([`Tick`], with its own sequence number and send time), at a fixed
//!   rate; each receiver process ([`recv_ours`], `recv_supabase_rs`, `benches/js/recv.mjs`)
//!   joins the channel in its own wire format and deserializes every payload into a [`Tick`].
//!   The floor ([`recv_floor`]) reads the same stream over a bare tokio `TcpStream` and throws
//!   it away, walking only the frame headers: the cost of the syscalls and wake-ups every
//!   receiver pays. Each reports a [`RecvReport`]: its CPU time (user + sys, `getrusage`) from
//!   the first to the last message, per message, its peak RSS (`VmHWM`) and the latency from
//!   the sender's clock (`sent_us`, Unix microseconds) to the moment the payload is
//!   deserialized (the floor: read in place).
//! - Memory ([`memory_ours`]): N clients of ours in one process, each connected and joined to
//!   its own channel; RSS growth per client once all are subscribed.
//!
//! `realtime_report.py` builds, starts the server, runs the receivers interleaved and writes the
//! tables. The measuring parts (the [`Tick`] payload, [`unix_micros`], the latency [`Meter`],
//! CPU and RSS) live in the CLI's library (`realtime_cli::load`), which `realtime bench` uses
//! too; they are re-exported here.

mod floor;
mod memory;
mod ours;
mod sender;
#[cfg(feature = "peer-supabase-rs")]
mod supabase_rs;

pub use floor::recv_floor;
pub use memory::{MemReport, memory_ours};
pub use ours::recv_ours;
// The payload, the latency clock, the meter and the process figures are the CLI's (`realtime
// bench` measures with the same code): see `realtime_cli::load`.
pub use realtime_cli::load::{
    EVENT, Latencies, Meter, PAYLOAD_BYTES, Percentiles, RecvReport, Tick, Waits, proc_status_kib,
    process_cpu, tick_json, unix_micros,
};
pub use sender::{SendReport, send_paced};
#[cfg(feature = "peer-supabase-rs")]
pub use supabase_rs::recv_supabase_rs;

/// The channel the throughput run uses (sub-topic, without `realtime:`).
pub const TOPIC: &str = "bench";
