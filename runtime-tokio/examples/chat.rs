//! A chat room with broadcast and presence: three users (three clients, as three processes
//! would be) join `room:lobby`, track their presence, exchange messages, and one leaves.
//! Each user prints what it sees: presence joins, leaves and syncs, and the others' messages.
//!
//! ```sh
//! cargo run -p realtime-tokio --example chat
//! ```
//!
//! Without environment variables it starts the local Realtime server (`realtime-testkit`)
//! in-process on loopback, so it needs no internet and ends on its own in about a second.
//! With `REALTIME_URL` (e.g. `https://<ref>.supabase.co/realtime/v1`) and `REALTIME_API_KEY`
//! (the project's anon or publishable key) it runs against that project instead.

use std::collections::BTreeSet;
use std::error::Error;
use std::time::Duration;

use realtime_testkit::{Config as ServerConfig, Server};
use realtime_tokio::{Channel, ChannelConfig, Config, PresenceEvent, RealtimeClient};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A guard against hanging if the server never answers, not a timing claim.
const WAIT: Duration = Duration::from_secs(10);

const ROOM: &str = "room:lobby";

/// A chat message as it goes over the wire (a JSON broadcast of event `message`).
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    from: String,
    text: String,
}

/// What one user has seen so far: who is online, and how many messages arrived.
#[derive(Clone, Debug, Default)]
struct Seen {
    online: BTreeSet<String>,
    messages: usize,
}

/// One simulated user: its own client (its own connection), its handle on the room, and the
/// task that prints what it sees.
struct User {
    name: &'static str,
    client: RealtimeClient,
    room: Channel,
    seen: watch::Receiver<Seen>,
    printer: JoinHandle<()>,
}

impl User {
    /// Connects, joins the room with presence keyed by the user's name, and tracks itself.
    async fn join(endpoint: &str, api_key: &str, name: &'static str) -> Result<Self, Box<dyn Error>> {
        let client = RealtimeClient::new(Config::new(endpoint, api_key))?;
        let room = client.channel(ROOM, ChannelConfig::new().presence_key(name).broadcast_ack(true)).await?;
        // Listen before subscribing, so nothing from the join is missed.
        let mut presence = room.on_presence().await;
        let mut messages = room.on_broadcast("message").await;
        let (seen_tx, seen) = watch::channel(Seen::default());
        let printer = tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(item) = presence.recv() => match item {
                        // The stream fell behind (a huge room): the snapshot is the truth.
                        Err(lag) => {
                            println!("[{name:>3}] presence: {lag}; the Sync that follows has everyone");
                        }
                        Ok(PresenceEvent::Join { key, joined, sync, .. }) => {
                            let how = if sync { "already here" } else { "joined" };
                            let meta = joined.first().map_or("", |p| p.payload.as_str());
                            println!("[{name:>3}] presence: {key} {how} {meta}");
                            seen_tx.send_modify(|s| {
                                s.online.insert(key);
                            });
                        }
                        Ok(PresenceEvent::Leave { key, remaining, .. }) => {
                            println!("[{name:>3}] presence: {key} left");
                            if remaining.is_empty() {
                                seen_tx.send_modify(|s| {
                                    s.online.remove(&key);
                                });
                            }
                        }
                        Ok(PresenceEvent::Sync) => {
                            let online: Vec<String> = seen_tx.borrow().online.iter().cloned().collect();
                            let online = if online.is_empty() { "nobody".to_string() } else { online.join(", ") };
                            println!("[{name:>3}] presence sync: online = {online}");
                        }
                    },
                    Some(broadcast) = messages.recv() => match broadcast.map_err(Into::into).and_then(|b| b.json::<Message>()) {
                        Ok(m) => {
                            println!("[{name:>3}] {} says: {}", m.from, m.text);
                            seen_tx.send_modify(|s| s.messages += 1);
                        }
                        Err(e) => println!("[{name:>3}] an odd message: {e}"),
                    },
                    else => break,
                }
            }
        });
        room.subscribe().await?;
        println!("[{name:>3}] subscribed to {ROOM}");
        room.track(&serde_json::json!({ "name": name, "status": "online" })).await?;
        Ok(Self { name, client, room, seen, printer })
    }

    /// Sends a chat message; with `broadcast_ack` it resolves once the server has it.
    async fn say(&self, text: &str) -> Result<(), Box<dyn Error>> {
        println!("[{:>3}] sends: {text}", self.name);
        self.room.send("message", &Message { from: self.name.into(), text: text.into() }).await?;
        Ok(())
    }

    /// Waits until what this user has seen satisfies `done`.
    async fn until(&mut self, what: &str, done: impl FnMut(&Seen) -> bool) -> Result<(), Box<dyn Error>> {
        match tokio::time::timeout(WAIT, self.seen.wait_for(done)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(format!("{} never saw {what}", self.name).into()),
        }
    }

    /// Leaves: untracks, leaves the channel, closes the connection (code 1000) and waits until
    /// it is closed, then ends its printer.
    async fn leave(self) -> Result<(), Box<dyn Error>> {
        println!("[{:>3}] leaves", self.name);
        self.room.untrack().await?;
        let left = tokio::time::timeout(WAIT, self.room.unsubscribe()).await.map_err(|_| "no leave")??;
        println!("[{:>3}] leave: {left}", self.name);
        self.client.shutdown().await?;
        self.printer.abort();
        Ok(())
    }
}

fn online(names: &[&str]) -> impl Fn(&Seen) -> bool {
    let want: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
    move |s| s.online == want
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let (server, endpoint, api_key) = match (std::env::var("REALTIME_URL"), std::env::var("REALTIME_API_KEY"))
    {
        (Ok(url), Ok(key)) => {
            println!("using the Realtime server at {url}");
            (None, url, key)
        }
        _ => {
            let server = Server::start(ServerConfig::default()).await?;
            println!(
                "started a local Realtime server at {} (set REALTIME_URL and REALTIME_API_KEY for a real project)",
                server.url()
            );
            let url = server.url();
            (Some(server), url, "anon".to_string())
        }
    };

    let mut ana = User::join(&endpoint, &api_key, "ana").await?;
    let mut bo = User::join(&endpoint, &api_key, "bo").await?;
    let mut cy = User::join(&endpoint, &api_key, "cy").await?;
    for user in [&mut ana, &mut bo, &mut cy] {
        user.until("all three online", online(&["ana", "bo", "cy"])).await?;
    }

    ana.say("hi all").await?;
    bo.say("hello ana").await?;
    cy.say("hey, I can only stay a moment").await?;
    // Each sees the two messages of the others (a channel does not echo its own by default).
    for user in [&mut ana, &mut bo, &mut cy] {
        user.until("two messages", |s| s.messages == 2).await?;
    }

    cy.leave().await?;
    for user in [&mut ana, &mut bo] {
        user.until("cy leave", online(&["ana", "bo"])).await?;
    }
    ana.say("bye cy").await?;
    bo.until("ana's goodbye", |s| s.messages == 3).await?;

    ana.leave().await?;
    bo.leave().await?;
    if let Some(server) = server {
        // The server sees each close frame a moment after the client sent it.
        let closed = async {
            while server.connections() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(WAIT, closed).await.map_err(|_| "connections left open")?;
        println!("local server: every connection closed");
        server.stop().await;
    }
    println!("done");
    Ok(())
}
