//! `realtime demo`: the local server in this process, two simulated users (alice and bob) who
//! join a room, track their presence, chat, leave and come back, and a viewer client whose
//! events make the view: a small screen redrawn in place on a terminal, one line per event
//! otherwise.

use std::collections::{BTreeSet, VecDeque};
use std::io::{IsTerminal, Write};
use std::time::Duration;

use realtime_core::Rng;
use realtime_testkit::{Config as ServerConfig, Server};
use realtime_tokio::{ChannelConfig, Config, PresenceEvent, Proxy, RealtimeClient};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::args::Demo;
use crate::{Failure, lines};

/// The room everybody joins.
const ROOM: &str = "demo-room";
/// The broadcast event of a chat message.
const MESSAGE: &str = "message";
/// Lines kept on the screen.
const SCREEN_LINES: usize = 14;

/// A simulated user: a name, what they say, and a seed for their timing.
struct Persona {
    name: &'static str,
    lines: &'static [&'static str],
    seed: u64,
    /// When they first arrive.
    arrive: Duration,
}

const USERS: [Persona; 2] = [
    Persona {
        name: "alice",
        lines: &[
            "hi! anyone around?",
            "the broadcast latency looks fine from here",
            "did the presence list update for you?",
            "brb, coffee",
            "back. what did I miss?",
            "ship it",
        ],
        seed: 0x9E37_79B9_7F4A_7C15,
        arrive: Duration::from_millis(200),
    },
    Persona {
        name: "bob",
        lines: &[
            "hey alice",
            "yes, you show up as online",
            "I'm testing reconnects, might drop",
            "ok, rejoined",
            "lunch soon?",
            "see you later",
        ],
        seed: 0xD1B5_4A32_D192_ED03,
        arrive: Duration::from_millis(900),
    },
];

/// A duration between `lo` and `hi` milliseconds, from the core's generator (deterministic
/// from the persona's seed).
fn millis(rng: &mut Rng, lo: u32, hi: u32) -> Duration {
    Duration::from_millis(u64::from(lo + rng.below(hi - lo + 1)))
}

fn client(url: &str) -> Result<RealtimeClient, realtime_tokio::Error> {
    let mut config = Config::new(url, "demo");
    config.proxy = Proxy::None;
    RealtimeClient::new(config)
}

/// One user's life: join (connect, subscribe, track), say a few lines, leave (disconnect),
/// stay away a while, and again. Errors end a session early; the next one starts as usual.
async fn live(p: &'static Persona, url: String) {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&p.seed.to_le_bytes());
    let mut rng = Rng::from_seed(seed);
    let mut said = 0usize;
    tokio::time::sleep(p.arrive).await;
    loop {
        let _ = session(p, &url, &mut rng, &mut said).await;
        tokio::time::sleep(millis(&mut rng, 900, 2200)).await;
    }
}

async fn session(
    p: &Persona,
    url: &str,
    rng: &mut Rng,
    said: &mut usize,
) -> Result<(), realtime_tokio::Error> {
    let client = client(url)?;
    let config = ChannelConfig::new().presence_key(p.name.to_string()).presence_enabled(true);
    let room = client.channel(ROOM, config).await?;
    let run = async {
        room.subscribe().await?;
        room.track(&json!({"name": p.name})).await?;
        for _ in 0..2 + rng.below(2) {
            tokio::time::sleep(millis(rng, 500, 1400)).await;
            let text = p.lines[*said % p.lines.len()];
            *said += 1;
            room.send(MESSAGE, &json!({"from": p.name, "text": text})).await?;
        }
        tokio::time::sleep(millis(rng, 300, 900)).await;
        Ok(())
    };
    let outcome = run.await;
    let _ = client.shutdown().await;
    outcome
}

/// What the viewer knows, and how it shows it.
struct View {
    started: Instant,
    url: String,
    until: Option<Instant>,
    online: BTreeSet<String>,
    log: VecDeque<String>,
    screen: bool,
    /// Bold and colour on the screen (not with `NO_COLOR`).
    color: bool,
}

impl View {
    fn event(&mut self, text: String) {
        let line = format!("[{:6.1}s] {text}", self.started.elapsed().as_secs_f64());
        if self.screen {
            self.log.push_back(line);
            while self.log.len() > SCREEN_LINES {
                self.log.pop_front();
            }
            self.draw();
        } else {
            crate::run::say(&line);
        }
    }

    fn online_text(&self) -> String {
        if self.online.is_empty() {
            "nobody".into()
        } else {
            self.online.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    }

    /// The whole screen, from the top left.
    fn draw(&self) {
        if !self.screen {
            return;
        }
        let left = match self.until {
            Some(t) => format!("{} s left", t.saturating_duration_since(Instant::now()).as_secs_f64().ceil()),
            None => "Ctrl-C stops".into(),
        };
        let (bold, green, plain) = if self.color { ("\x1b[1m", "\x1b[32m", "\x1b[0m") } else { ("", "", "") };
        let mut s = String::from("\x1b[H\x1b[2J");
        s.push_str(&format!("{bold}realtime demo{plain}  room {ROOM} on {}  ({left})\r\n", self.url));
        s.push_str(&format!("{green}online ({}): {}{plain}\r\n", self.online.len(), self.online_text()));
        s.push_str(&"-".repeat(60));
        s.push_str("\r\n");
        for l in &self.log {
            s.push_str(l);
            s.push_str("\r\n");
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(s.as_bytes()).and_then(|()| out.flush());
    }
}

/// How the demo looks: the redrawn screen on a terminal that can move the cursor (not
/// `TERM=dumb`), plain lines otherwise; colour on the screen unless `NO_COLOR` is set and not
/// empty (no-color.org).
fn look(terminal: bool, term: Option<&str>, no_color: bool) -> (bool, bool) {
    let screen = terminal && term != Some("dumb");
    (screen, screen && !no_color)
}

pub(crate) async fn demo(a: Demo) -> Result<(), Failure> {
    let until = match a.for_secs {
        Some(s) if !(s.is_finite() && s >= 0.0) => {
            return Err(Failure::input("--for must be a number of seconds, 0 or more"));
        }
        Some(s) => Some(Instant::now() + Duration::from_secs_f64(s)),
        None => None,
    };
    let server = Server::start(ServerConfig::default())
        .await
        .map_err(|e| Failure::runtime(format!("cannot start the local server: {e}")))?;
    let url = server.url();
    let (screen, color) = look(
        std::io::stdout().is_terminal(),
        std::env::var("TERM").ok().as_deref(),
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    );
    let mut view = View {
        started: Instant::now(),
        url: url.clone(),
        until,
        online: BTreeSet::new(),
        log: VecDeque::new(),
        screen,
        color,
    };
    if !view.screen {
        crate::run::say(&format!("realtime demo: local server {url}, room {ROOM}, users alice and bob"));
    }

    // The viewer: listens to the room, is not in it.
    let viewer = client(&url).map_err(|e| Failure::runtime(lines::chain(&e)))?;
    let room = viewer
        .channel(ROOM, ChannelConfig::new().presence_enabled(true))
        .await
        .map_err(|e| Failure::runtime(lines::chain(&e)))?;
    let mut messages = room.on_broadcast(MESSAGE).await;
    let mut presence = room.on_presence().await;
    crate::run::subscribe(&viewer, &room).await?;
    view.event("viewer subscribed; waiting for alice and bob".into());

    let users: Vec<_> = USERS.iter().map(|p| tokio::spawn(live(p, url.clone()))).collect();
    let deadline = async {
        match until {
            Some(t) => tokio::time::sleep_until(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let mut redraw = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            Some(b) = messages.recv() => {
                let v: Value = b.ok().and_then(|b| b.json().ok()).unwrap_or(Value::Null);
                let from = v["from"].as_str().unwrap_or("?");
                let text = v["text"].as_str().unwrap_or("");
                view.event(format!("{from}: {text}"));
            }
            Some(e) = presence.recv() => {
                let (key, what) = match &e {
                    Ok(PresenceEvent::Join { key, .. }) => (key.clone(), "joined"),
                    Ok(PresenceEvent::Leave { key, .. }) => (key.clone(), "left"),
                    _ => continue,
                };
                let state = room.presence_state().await.unwrap_or_default();
                let online: BTreeSet<String> = state.into_iter().map(|(k, _)| k).collect();
                if what == "joined" && view.online.contains(&key) && online == view.online {
                    continue; // a re-track of someone already shown
                }
                view.online = online;
                let text = format!("* {key} {what} (online: {})", view.online_text());
                view.event(text);
            }
            _ = redraw.tick() => view.draw(),
            () = &mut deadline => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    for u in &users {
        u.abort();
    }
    let _ = viewer.shutdown().await;
    server.stop().await;
    if view.screen {
        crate::run::say("");
    } else {
        crate::run::say(&format!("demo over after {:.1} s", view.started.elapsed().as_secs_f64()));
    }
    Ok(())
}
