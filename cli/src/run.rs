//! The subcommands.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use realtime_core::phoenix::serializer::Vsn;
use realtime_core::ws::DeflateConfig;
use realtime_testkit::{Auth, Config as ServerConfig, Server};
use realtime_tokio::{
    Binding, ChangeEvent, ChannelConfig, ChannelStatus, Config, Lagged, Presence, PresenceEvent,
    RealtimeClient, Receiver, Roots,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;

use crate::args::{Cli, Command, Connection, Listen, PresenceArgs, Send, Serve};
use crate::{Failure, lines};

/// How long a subscribe may take before the command gives up.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(15);

/// How long `listen --postgres` waits for the server to say the changes are live (shorter than
/// [`SUBSCRIBE_WAIT`], so that its error is the one reported).
const POSTGRES_READY_WAIT: Duration = Duration::from_secs(10);

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Serve(a) => serve(a).await,
        Command::Listen(a) => listen(a).await,
        Command::Send(a) => send(a).await,
        Command::Presence(a) => presence(a).await,
        Command::Demo(a) => crate::demo::demo(a).await,
        Command::Bench(a) => crate::bench::bench(a).await,
    }
}

fn print(line: &Value) {
    say(&line.to_string());
}

/// A line on stdout. A closed stdout (piped to `head`) ends the program quietly, as other
/// shell tools do, instead of a panic.
pub(crate) fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn json_arg(what: &str, text: &str) -> Result<Value, Failure> {
    serde_json::from_str(text).map_err(|e| Failure::input(format!("{what} is not valid JSON: {e}")))
}

/// The client for `conn`, checked before anything connects.
pub(crate) fn client(conn: &Connection) -> Result<RealtimeClient, Failure> {
    let url = conn.url.trim();
    if !["ws://", "wss://", "http://", "https://"].iter().any(|s| url.starts_with(s)) {
        return Err(Failure::input(format!(
            "--url must start with ws://, wss://, http:// or https://: {url}"
        )));
    }
    let mut config = Config::new(url, conn.api_key.clone());
    config.client.ws.deflate = match conn.deflate.as_str() {
        "off" => None,
        "receive" => Some(DeflateConfig { compress_min_len: None, ..DeflateConfig::default() }),
        _ => Some(DeflateConfig::default()),
    };
    config.client.vsn = if conn.vsn == "1.0.0" { Vsn::V1 } else { Vsn::V2 };
    if let Some(secs) = conn.heartbeat {
        config.client = config.client.heartbeat(Duration::from_secs_f64(secs));
    }
    if let Some(token) = &conn.token {
        check_token(token)?;
    }
    config.client.access_token.clone_from(&conn.token);
    if let Some(path) = &conn.ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| Failure::input(format!("--ca-file {}: {e}", path.display())))?
            .collect::<Result<_, _>>()
            .map_err(|e| Failure::input(format!("--ca-file {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(Failure::input(format!("--ca-file {}: no certificate in it", path.display())));
        }
        config.roots = Roots::Custom(certs);
    }
    RealtimeClient::new(config).map_err(|e| Failure::input(lines::chain(&e)))
}

/// An expired `--token` is refused before anything connects: the client would leave it out
/// (joining under the API key alone) and the command would seem to work.
fn check_token(token: &str) -> Result<(), Failure> {
    let Some(exp) = realtime_core::supabase::token::Secret::new(token).jwt_exp() else { return Ok(()) };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if exp <= now {
        return Err(Failure::input(format!(
            "--token expired {} s ago (its exp is {exp}): get a fresh one",
            now - exp
        )));
    }
    Ok(())
}

/// The server's answer to the upgrade was not HTTP.
fn not_http(e: &realtime_tokio::ConnectionError) -> bool {
    use realtime_core::ws::{Error as WsError, HandshakeError};
    matches!(
        e,
        realtime_tokio::ConnectionError::Ended(realtime_tokio::ConnectionEnd::WebSocket(WsError::Handshake(
            HandshakeError::MalformedResponse
        )))
    )
}

/// Subscribes, or fails with the first status and, when it could not connect, the reason the
/// client saw (refused, unreachable, an untrusted certificate, a refused upgrade).
pub(crate) async fn subscribe(
    client: &RealtimeClient,
    channel: &realtime_tokio::Channel,
) -> Result<(), Failure> {
    let cannot_connect = |client: &RealtimeClient| {
        let error = client.last_error();
        let mut why =
            error.as_ref().map_or_else(|| "no answer (unreachable host?)".into(), |e| lines::chain(e));
        if error.as_ref().is_some_and(not_http) {
            // What a TLS server answers a plain upgrade with is not HTTP.
            why.push_str(" (a TLS server? its URL starts with wss://)");
        }
        Failure::runtime(format!("subscribe failed: cannot connect: {why}"))
    };
    match tokio::time::timeout(SUBSCRIBE_WAIT, channel.subscribe()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(realtime_tokio::Error::Subscribe(ChannelStatus::ChannelError(
            realtime_tokio::ChannelErrorReason::Disconnected,
        )))) => Err(cannot_connect(client)),
        Ok(Err(realtime_tokio::Error::Subscribe(status))) => {
            let line = lines::status(channel.name(), &status);
            Err(Failure::runtime(format!(
                "subscribe failed: {} {}",
                line["status"].as_str().unwrap_or(""),
                line["reason"].as_str().unwrap_or("")
            )))
        }
        Ok(Err(e)) => Err(Failure::runtime(format!("subscribe failed: {}", lines::chain(&e)))),
        Err(_) => Err(cannot_connect(client)),
    }
}

/// `--host`: an address, or a name to resolve (`localhost`), its first address.
async fn listen_address(host: &str, port: u16) -> Result<SocketAddr, Failure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut found = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Failure::input(format!("--host {host} does not resolve: {e}")))?;
    found.next().ok_or_else(|| Failure::input(format!("--host {host} resolves to no address")))
}

async fn serve(a: Serve) -> Result<(), Failure> {
    let addr = listen_address(&a.host, a.port).await?;
    let auth = match (a.api_key, a.jwt_secret) {
        (Some(k), _) => Auth::ApiKey(k),
        (None, Some(s)) => Auth::Jwt { secret: s.into_bytes() },
        (None, None) => Auth::Open,
    };
    let log: Option<realtime_testkit::Log> =
        a.verbose.then(|| std::sync::Arc::new(|line: &str| eprintln!("{line}")) as realtime_testkit::Log);
    let config = ServerConfig {
        auth,
        tls: a.tls,
        log,
        phoenix: a.phoenix,
        deflate: a.deflate,
        ..ServerConfig::default()
    };
    // Every client is one socket: lift the soft open-file limit to the hard one.
    crate::load::raise_open_files(u64::MAX);
    let server = Server::start_on(addr, config)
        .await
        .map_err(|e| Failure::runtime(format!("cannot listen on {}:{}: {e}", a.host, a.port)))?;
    say(&if a.phoenix { server.socket_url() } else { server.url() });
    let mut certificate = None;
    if let Some(pem) = server.ca_pem() {
        let path = std::env::temp_dir().join(format!("realtime-serve-{}.pem", server.addr().port()));
        std::fs::write(&path, pem)
            .map_err(|e| Failure::runtime(format!("writing {}: {e}", path.display())))?;
        eprintln!("certificate: {} (pass it to clients as --ca-file)", path.display());
        certificate = Some(path);
    }
    let _ = tokio::signal::ctrl_c().await;
    server.stop().await;
    // The certificate belongs to this run: the next one makes its own.
    if let Some(path) = certificate {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// A `--postgres EVENT:SCHEMA:TABLE[:FILTER]` flag.
fn binding(spec: &str) -> Result<Binding, Failure> {
    let bad = || Failure::input(format!("--postgres wants EVENT:SCHEMA[:TABLE[:FILTER]], got {spec}"));
    let mut parts = spec.splitn(4, ':');
    let (Some(event), Some(schema)) = (parts.next(), parts.next()) else {
        return Err(bad());
    };
    let event = ChangeEvent::parse(event).ok_or_else(bad)?;
    if schema.is_empty() {
        return Err(bad());
    }
    // Without a table (or with `*`), every table of the schema, as realtime-js allows.
    let mut b = Binding::new(event, schema);
    match parts.next() {
        None | Some("*") => {}
        Some("") => return Err(bad()),
        Some(table) => b = b.table(table),
    }
    if let Some(filter) = parts.next().filter(|f| !f.is_empty()) {
        if b.table_name().is_none() {
            // The server filters a table's columns: a filter needs its table.
            return Err(Failure::input(format!("--postgres: a FILTER needs a TABLE, got {spec}")));
        }
        b = b.filter_text(filter);
    }
    Ok(b)
}

/// Counts the lines that `--exit-after` counts.
struct Budget(Option<u64>);

impl Budget {
    /// One more line; true when the budget is spent.
    fn spend(&mut self) -> bool {
        match &mut self.0 {
            Some(n) => {
                // clap takes 1 or more, and the command stops at 0.
                debug_assert!(*n > 0);
                *n -= 1;
                *n == 0
            }
            None => false,
        }
    }
}

/// Ctrl-C, caught from the moment this is made. tokio's `ctrl_c()` only listens once polled, and
/// an interrupt that comes while no such future exists (between two turns of a loop) is lost.
struct Interrupt(#[cfg(unix)] tokio::signal::unix::Signal);

impl Interrupt {
    fn new() -> Result<Self, Failure> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            signal(SignalKind::interrupt())
                .map(Self)
                .map_err(|e| Failure::runtime(format!("cannot catch Ctrl-C: {e}")))
        }
        #[cfg(not(unix))]
        Ok(Self())
    }

    /// The next Ctrl-C (cancel-safe).
    async fn recv(&mut self) {
        #[cfg(unix)]
        self.0.recv().await;
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The presence state as the events describe it. A sync line shows this, not the client's
/// state read after the event, which can already hold later joins and leaves.
#[derive(Default)]
struct PresenceMirror(BTreeMap<String, Vec<Presence>>);

impl PresenceMirror {
    /// Applies a join or a leave the way the core does: a join keeps the key's old entries
    /// (minus re-joined refs) and appends the new ones; a leave leaves `remaining`, and a key
    /// with nothing left goes.
    fn apply(&mut self, e: &PresenceEvent) {
        match e {
            PresenceEvent::Join { key, current, joined, .. } => {
                let refs: BTreeSet<&str> = joined.iter().map(|p| p.presence_ref.as_str()).collect();
                let mut next: Vec<Presence> =
                    current.iter().filter(|p| !refs.contains(p.presence_ref.as_str())).cloned().collect();
                next.extend(joined.iter().cloned());
                self.0.insert(key.clone(), next);
            }
            PresenceEvent::Leave { key, remaining, .. } => {
                if remaining.is_empty() {
                    self.0.remove(key);
                } else {
                    self.0.insert(key.clone(), remaining.clone());
                }
            }
            PresenceEvent::Sync => {}
        }
    }
}

/// The next item of a stream that may not exist (`None`: never).
async fn next<T: realtime_tokio::Item>(rx: &mut Option<Receiver<T>>) -> Option<Result<T, Lagged>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A status after the first SUBSCRIBED: `Err` when the command must stop. CLOSED after joining
/// comes only from the server closing the channel (this command never leaves it), and the
/// channel is not joined again.
fn stops(status: Option<&ChannelStatus>) -> Option<Failure> {
    match status {
        Some(ChannelStatus::Closed) => Some(Failure::runtime("the server closed the channel")),
        Some(_) => None,
        None => Some(Failure::runtime("the client stopped")),
    }
}

async fn listen(a: Listen) -> Result<(), Failure> {
    let track = a.track.as_deref().map(|t| json_arg("--track", t)).transpose()?;
    if track.as_ref().is_some_and(|t| !t.is_object()) {
        return Err(Failure::input("--track must be a JSON object"));
    }
    let bindings = a.postgres.iter().map(|s| binding(s)).collect::<Result<Vec<_>, _>>()?;
    let client = client(&a.conn)?;
    // With bindings, SUBSCRIBED waits until the changes are live, and a binding the server
    // refuses fails the subscribe instead of arriving as a status after it.
    let mut config = ChannelConfig::new().private(a.private).wait_for_postgres_ready(POSTGRES_READY_WAIT);
    if let Some(key) = &a.presence_key {
        config = config.presence_key(key.clone()).presence_enabled(true);
    }
    let name = a.channel.clone();
    let channel = client.channel(&name, config).await.map_err(|e| Failure::runtime(lines::chain(&e)))?;
    let mut changes = Vec::new();
    for b in bindings {
        changes.push(channel.on_postgres_changes(b).await.map_err(|e| Failure::runtime(lines::chain(&e)))?);
    }
    let mut statuses = channel.statuses().await;
    let mut broadcasts = channel.on_broadcast("*").await;
    let mut system = channel.on_messages().await;
    // Listening to presence turns it on for the channel (and the server then sends a state on
    // every join): only when asked for.
    let mut presence =
        if a.presence_key.is_some() || track.is_some() { Some(channel.on_presence().await) } else { None };
    subscribe(&client, &channel).await?;
    // Connection lines are for what happens after SUBSCRIBED, not the connecting it took.
    let mut connection = client.events();
    let mut interrupt = Interrupt::new()?;
    print(&lines::status(&name, &ChannelStatus::Subscribed));
    if let Some(t) = &track {
        channel
            .track(t)
            .await
            .map_err(|e| Failure::runtime(format!("track failed: {}", lines::chain(&e))))?;
    }
    // Postgres changes come in per binding: merge them into one stream of (index, change).
    let (tx, mut merged) = tokio::sync::mpsc::channel(256);
    for (i, mut rx) in changes.into_iter().enumerate() {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(c) = rx.recv().await {
                if tx.send((i, c)).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut budget = Budget(a.exit_after);
    let mut mirror = PresenceMirror::default();
    let mut first_status = true;
    let outcome = loop {
        tokio::select! {
            // In this order when several are ready: what a drop printed is the same every time
            // (the connection's lines, then the channel's).
            biased;
            Some(Ok(e)) = connection.recv() => {
                if let Some(line) = lines::connection(&name, &e) {
                    print(&line);
                }
            }
            status = statuses.recv() => {
                let status = match status {
                    Some(Err(lag)) => {
                        print(&lines::lagged(&name, "statuses", lag.missed));
                        continue;
                    }
                    Some(Ok(s)) => Some(s),
                    None => None,
                };
                // The first Subscribed was printed already.
                if std::mem::take(&mut first_status) && status == Some(ChannelStatus::Subscribed) {
                    continue;
                }
                // A channel error because the socket dropped is told by the connection's
                // lines (a reconnect follows, then SUBSCRIBED again): not a channel failure.
                let dropped = matches!(
                    status,
                    Some(ChannelStatus::ChannelError(realtime_tokio::ChannelErrorReason::Disconnected))
                );
                if let Some(status) = status.as_ref().filter(|_| !dropped) {
                    print(&lines::status(&name, status));
                }
                if let Some(failure) = stops(status.as_ref()) {
                    print(&lines::error(&name, &failure.message));
                    break Err(failure);
                }
            }
            Some(b) = broadcasts.recv() => match b {
                Ok(b) => {
                    print(&lines::broadcast(&name, &b));
                    if budget.spend() { break Ok(()); }
                }
                Err(lag) => print(&lines::lagged(&name, "broadcasts", lag.missed)),
            },
            Some(m) = system.recv() => match m {
                Ok((event, payload)) => print(&lines::system(&name, &event, &payload)),
                Err(lag) => print(&lines::lagged(&name, "system", lag.missed)),
            },
            Some(e) = next(&mut presence) => match e {
                Ok(e) => {
                    mirror.apply(&e);
                    print(&lines::presence(&name, &e, &mirror.0));
                    if budget.spend() { break Ok(()); }
                }
                // Fell behind: start again from the client's state (the Sync that follows
                // prints it).
                Err(lag) => {
                    print(&lines::lagged(&name, "presence", lag.missed));
                    let state = channel.presence_state().await.unwrap_or_default();
                    mirror.0 = state.into_iter().collect();
                }
            },
            Some((i, c)) = merged.recv() => match c {
                Ok(c) => {
                    print(&lines::postgres(&name, i, &c));
                    if budget.spend() { break Ok(()); }
                }
                Err(lag) => print(&lines::lagged(&name, "postgres_changes", lag.missed)),
            },
            () = interrupt.recv() => break Ok(()),
        }
    };
    let _ = client.shutdown().await;
    outcome
}

/// A `--payload`'s bytes: `-` is stdin, `@PATH` a file, anything else the text itself.
fn payload_bytes(arg: &str) -> Result<Vec<u8>, Failure> {
    use std::io::Read as _;
    if arg == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::input(format!("--payload -: cannot read stdin: {e}")))?;
        return Ok(bytes);
    }
    if let Some(path) = arg.strip_prefix('@') {
        return std::fs::read(path).map_err(|e| Failure::input(format!("--payload {arg}: {e}")));
    }
    Ok(arg.as_bytes().to_vec())
}

/// What one broadcast carries.
enum Body {
    Json(Value),
    Binary(Vec<u8>),
}

async fn send(a: Send) -> Result<(), Failure> {
    if a.rate < 0.0 || !a.rate.is_finite() {
        return Err(Failure::input("--rate must be a number of broadcasts per second, 0 or more"));
    }
    if a.binary && a.rest {
        return Err(Failure::input("--binary goes over the socket: leave out --rest"));
    }
    let body = match &a.payload {
        None if a.binary => return Err(Failure::input("--binary needs --payload - or --payload @PATH")),
        // One broadcast per line: there is no count or rate to keep.
        None if a.count != 1 || a.rate != 0.0 => {
            return Err(Failure::input(
                "--count and --rate need --payload (without it, each line of stdin is one)",
            ));
        }
        None => None,
        Some(arg) => {
            let bytes = payload_bytes(arg)?;
            Some(if a.binary {
                Body::Binary(bytes)
            } else {
                Body::Json(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| Failure::input(format!("--payload is not valid JSON: {e}")))?,
                )
            })
        }
    };
    let client = client(&a.conn)?;
    let config = ChannelConfig::new().broadcast_ack(a.ack).private(a.private);
    let channel = client.channel(&a.channel, config).await.map_err(|e| Failure::runtime(lines::chain(&e)))?;
    let Some(body) = body else {
        let outcome = send_lines(&a, &client, &channel).await;
        let _ = client.shutdown().await;
        return outcome;
    };
    if !a.rest {
        subscribe(&client, &channel).await?;
    }
    let start = tokio::time::Instant::now();
    for i in 0..a.count {
        if a.rate > 0.0 {
            tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / a.rate)).await;
        }
        let sent = match &body {
            Body::Json(payload) if a.rest => channel.http_send(&a.event, payload, a.private).await,
            Body::Json(payload) => channel.send(&a.event, payload).await,
            Body::Binary(bytes) => channel.send_binary(&a.event, bytes.clone()).await,
        };
        sent.map_err(|e| {
            Failure::runtime(format!("broadcast {} of {} failed: {}", i + 1, a.count, lines::chain(&e)))
        })?;
    }
    let _ = client.shutdown().await;
    Ok(())
}

/// `send` without `--payload`: each line of stdin is a broadcast, the channel's broadcasts are
/// printed, until the end of stdin or Ctrl-C. A line that is not JSON is said on stderr and
/// skipped (a typo at a prompt does not end the session).
async fn send_lines(
    a: &Send,
    client: &RealtimeClient,
    channel: &realtime_tokio::Channel,
) -> Result<(), Failure> {
    use tokio::io::AsyncBufReadExt as _;
    let mut received = channel.on_broadcast("*").await;
    if !a.rest {
        subscribe(client, channel).await?;
    }
    let mut interrupt = Interrupt::new()?;
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut n = 0u64;
    loop {
        tokio::select! {
            line = stdin.next_line() => {
                let line = line.map_err(|e| Failure::runtime(format!("cannot read stdin: {e}")))?;
                let Some(line) = line else { return Ok(()) };
                if line.trim().is_empty() {
                    continue;
                }
                let payload = match serde_json::from_str::<Value>(&line) {
                    Ok(payload) => payload,
                    Err(e) => {
                        eprintln!("realtime: not sent, the line is not valid JSON: {e}");
                        continue;
                    }
                };
                n += 1;
                let sent = if a.rest {
                    channel.http_send(&a.event, &payload, a.private).await
                } else {
                    channel.send(&a.event, &payload).await
                };
                sent.map_err(|e| Failure::runtime(format!("broadcast {n} failed: {}", lines::chain(&e))))?;
            }
            Some(b) = received.recv() => {
                if let Ok(b) = b {
                    print(&lines::broadcast(&a.channel, &b));
                }
            }
            () = interrupt.recv() => return Ok(()),
        }
    }
}

async fn presence(a: PresenceArgs) -> Result<(), Failure> {
    let track = json_arg("--track", &a.track)?;
    if !track.is_object() {
        return Err(Failure::input("--track must be a JSON object"));
    }
    let client = client(&a.conn)?;
    let mut config = ChannelConfig::new().presence_enabled(true);
    if let Some(key) = &a.key {
        config = config.presence_key(key.clone());
    }
    let name = a.channel.clone();
    let channel = client.channel(&name, config).await.map_err(|e| Failure::runtime(lines::chain(&e)))?;
    let mut events = channel.on_presence().await;
    let mut statuses = channel.statuses().await;
    subscribe(&client, &channel).await?;
    print(&lines::status(&name, &ChannelStatus::Subscribed));
    let mut interrupt = Interrupt::new()?;
    channel
        .track(&track)
        .await
        .map_err(|e| Failure::runtime(format!("track failed: {}", lines::chain(&e))))?;
    let mut budget = Budget(a.exit_after);
    let mut mirror = PresenceMirror::default();
    // The join's state comes before the server has this client's own track: an empty one then
    // says nothing (once something was printed, an emptied room is printed).
    let mut printed = false;
    let outcome = loop {
        tokio::select! {
            Some(e) = events.recv() => {
                let Ok(e) = e else {
                    // Fell behind: start again from the client's state.
                    let state = channel.presence_state().await.unwrap_or_default();
                    mirror.0 = state.into_iter().collect();
                    continue;
                };
                mirror.apply(&e);
                if e == PresenceEvent::Sync && (printed || !mirror.0.is_empty()) {
                    printed = true;
                    print(&lines::presence(&name, &e, &mirror.0));
                    if budget.spend() { break Ok(()); }
                }
            }
            status = statuses.recv() => {
                if let Some(failure) = stops(status.and_then(Result::ok).as_ref()) {
                    break Err(failure);
                }
            }
            () = interrupt.recv() => break Ok(()),
        }
    };
    let _ = client.shutdown().await;
    outcome
}
