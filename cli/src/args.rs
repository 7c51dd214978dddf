//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Listen to, send to and load-test Supabase Realtime channels, and run a local server.
#[derive(Debug, Parser)]
// With no subcommand: the help (on stderr, exit 2), not an error that reads like a description.
#[command(name = "realtime", version, about, long_about = None, arg_required_else_help = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the local Realtime server; the first line on stdout is its WebSocket base URL.
    Serve(Serve),
    /// Join a channel and print every event as one JSON object per line.
    ///
    /// Each line has a "type": "status" (with "status": SUBSCRIBED, TIMED_OUT, CLOSED or
    /// CHANNEL_ERROR, and "reason" for errors), "broadcast" ("event", "payload" as JSON, or
    /// "payload_base64" for bytes, "meta"), "presence" ("event": join, leave or sync; "key",
    /// "presences"; a sync carries the whole "state"), "postgres_changes" ("binding" index,
    /// "event_type", "schema", "table", "commit_timestamp", "new", "old", "errors"),
    /// "system" ("event", "payload": other server messages, such as postgres changes being
    /// live), "connection" ("state", after the first SUBSCRIBED: waiting_to_reconnect with "reason",
    /// "attempt" and "retry_in_ms", connecting, open, reconnected with "gap_ms", disconnected) or "error" ("message"). Every line
    /// also has "channel". Presence lines need --presence-key or --track.
    Listen(Listen),
    /// Send broadcasts over the socket (or the REST endpoint with --rest).
    Send(Send),
    /// Track a payload and print the presence state as JSON lines as it changes.
    Presence(PresenceArgs),
    /// Run a local server and two simulated users who chat and come and go, with a live view
    /// of the messages and of who is online.
    Demo(Demo),
    /// Load-test a server: N clients on C channels broadcasting R messages per second for S
    /// seconds; report deliveries, losses, latency percentiles, reconnects and errors.
    Bench(Bench),
}

/// `serve`.
#[derive(Debug, Args)]
pub struct Serve {
    /// The port (0 picks a free one).
    #[arg(long, default_value_t = 4000)]
    pub port: u16,
    /// Log each connection, its close, and each join and leave to stderr.
    #[arg(short, long)]
    pub verbose: bool,
    /// The address to listen on, or a name that resolves to it (`localhost`).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Clients must present exactly this API key.
    #[arg(long, conflicts_with = "jwt_secret")]
    pub api_key: Option<String>,
    /// API keys and access tokens must be HS256 JWTs signed with this secret.
    #[arg(long)]
    pub jwt_secret: Option<String>,
    /// Serve TLS with a generated certificate (its path is printed on stderr: pass it to
    /// clients as --ca-file).
    #[arg(long)]
    pub tls: bool,
    /// Be a plain Phoenix Channels server instead of Supabase Realtime: any topic joins with
    /// any params, and every other event is answered with its own payload and routed to the
    /// topic's other members. The first line is then the socket URL (`ws://.../socket`).
    #[arg(long)]
    pub phoenix: bool,
    /// Agree to permessage-deflate with clients that offer it: their messages are inflated
    /// and every message to them is compressed (`-v` says which connections agreed).
    #[arg(long)]
    pub deflate: bool,
}

/// What every client subcommand takes.
#[derive(Clone, Debug, Args)]
pub struct Connection {
    /// The Realtime URL (`ws://127.0.0.1:4000/realtime/v1`, `https://<ref>.supabase.co/realtime/v1`).
    #[arg(long)]
    pub url: String,
    /// The project's API key.
    #[arg(long)]
    pub api_key: String,
    /// An access token (JWT) for joins.
    #[arg(long)]
    pub token: Option<String>,
    /// Trust this certificate (PEM), e.g. the one `realtime serve --tls` writes.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// The serializer.
    #[arg(long, default_value = "2.0.0", value_parser = ["1.0.0", "2.0.0"])]
    pub vsn: String,
    /// Seconds between heartbeats (25). Each reply is due within 10 s (or one interval, when
    /// shorter), so a dead link is found within the interval plus that: 35 s by default.
    #[arg(long, value_name = "SECONDS", value_parser = heartbeat_secs)]
    pub heartbeat: Option<f64>,
    /// permessage-deflate: `on` offers it and compresses messages of 1 KiB or more, `receive`
    /// offers it but sends uncompressed (no compressor: about 59 KiB a connection instead of
    /// 370 KiB), `off` does not offer it.
    #[arg(long, value_name = "MODE", default_value = "on", value_parser = ["on", "receive", "off"])]
    pub deflate: String,
}

/// A heartbeat interval: a positive number of seconds, at most a day.
fn heartbeat_secs(text: &str) -> Result<f64, String> {
    let secs: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(secs.is_finite() && (0.001..=86_400.0).contains(&secs)) {
        return Err(format!("{text} is out of range: give 0.001 to 86400 seconds"));
    }
    Ok(secs)
}

/// `listen`.
#[derive(Debug, Args)]
pub struct Listen {
    /// Where and how to connect.
    #[command(flatten)]
    pub conn: Connection,
    /// The channel's name (without `realtime:`).
    #[arg(long)]
    pub channel: String,
    /// A private channel.
    #[arg(long)]
    pub private: bool,
    /// Turn presence on with this key and print presence lines (without it and --track, no
    /// presence lines).
    #[arg(long)]
    pub presence_key: Option<String>,
    /// Track this JSON object as this client's presence (turns presence lines on).
    #[arg(long)]
    pub track: Option<String>,
    /// A postgres changes binding: `EVENT:SCHEMA[:TABLE[:FILTER]]`. EVENT is INSERT, UPDATE,
    /// DELETE or `*` (all three); without TABLE (or with `*`) every table of the schema; FILTER
    /// needs a TABLE (`id=gt.1`). Repeatable; change lines carry its index as "binding".
    #[arg(long = "postgres")]
    pub postgres: Vec<String>,
    /// Exit after this many broadcast, presence and postgres lines (1 or more).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub exit_after: Option<u64>,
}

/// `send`.
#[derive(Debug, Args)]
pub struct Send {
    /// Where and how to connect.
    #[command(flatten)]
    pub conn: Connection,
    /// The channel's name (without `realtime:`).
    #[arg(long)]
    pub channel: String,
    /// The broadcast event.
    #[arg(long)]
    pub event: String,
    /// The payload: JSON, `-` to read it from stdin, or `@PATH` to read it from a file (no
    /// limit of the command line's length). Without it, each line of stdin is a broadcast
    /// (JSON), and the channel's broadcasts are printed as `listen` prints them, until the end of
    /// stdin (Ctrl-D) or Ctrl-C: an interactive session on a terminal.
    #[arg(long)]
    pub payload: Option<String>,
    /// Send the payload's bytes as a binary broadcast (read with `--payload -` or
    /// `--payload @PATH`), over the socket.
    #[arg(long)]
    pub binary: bool,
    /// Wait for the server's acknowledgement of each broadcast.
    #[arg(long)]
    pub ack: bool,
    /// Send over the REST endpoint instead of the socket.
    #[arg(long)]
    pub rest: bool,
    /// A private channel.
    #[arg(long)]
    pub private: bool,
    /// How many broadcasts.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Broadcasts per second (0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
}

/// `presence`.
#[derive(Debug, Args)]
pub struct PresenceArgs {
    /// Where and how to connect.
    #[command(flatten)]
    pub conn: Connection,
    /// The channel's name (without `realtime:`).
    #[arg(long)]
    pub channel: String,
    /// The presence key (the server picks one without it).
    #[arg(long)]
    pub key: Option<String>,
    /// Track this JSON object.
    #[arg(long, default_value = "{}")]
    pub track: String,
    /// Exit after this many state lines (1 or more).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub exit_after: Option<u64>,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct Demo {
    /// Stop after this many seconds (without it: run until Ctrl-C).
    #[arg(long = "for", value_name = "SECONDS")]
    pub for_secs: Option<f64>,
}

/// `bench`.
#[derive(Debug, Args)]
pub struct Bench {
    /// Where and how to connect.
    #[command(flatten)]
    pub conn: Connection,
    /// Clients, each with its own connection.
    #[arg(long, default_value_t = 100)]
    pub clients: u32,
    /// Channels the clients are spread over (client i joins channel i mod C).
    #[arg(long, default_value_t = 1)]
    pub channels: u32,
    /// Broadcasts per second over all clients and channels.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// A delivery later than this many seconds after its send counts as lost.
    #[arg(long, default_value_t = 5.0)]
    pub lost_after: f64,
    /// Senders receive their own broadcasts too (and are expected to).
    #[arg(long = "self")]
    pub receive_own: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Subscriptions in flight at once while the clients connect.
    #[arg(long, default_value_t = 100)]
    pub concurrency: u32,
}
