//! The whole Realtime client driven by an operation stream.

use crate::time::Instant;

/// Drives a Realtime client on a self-framing transport with an operation stream: app commands,
/// transport events, time steps and server messages whose bytes come from `data` (so the
/// decoder, the dispatch and the channel machine all see hostile input). Panics only on a
/// broken invariant: a push that ends twice, or a deadline left at or before `now` after
/// `handle_timeout`.
pub fn phoenix_client(data: &[u8]) {
    use alloc::collections::BTreeSet;
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::time::Duration;

    use crate::phoenix::channel_config::ChannelConfig;
    use crate::phoenix::client::{
        ChannelId, Client, ClientConfig, Event, PushBody, TransportClosed, TransportCommand, TransportKind,
    };
    use crate::phoenix::postgres::{Binding, ChangeEvent};
    use crate::ws::Message;

    let mut config = ClientConfig::new("ws://fuzz.test/realtime/v1", "key");
    config.transport = TransportKind::Messages;
    config.push_buffer = 4;
    config.max_events = 64;
    config.token_source = data.first().is_some_and(|b| b & 1 == 1);
    let Ok(mut c) = Client::new(config, [data.first().copied().unwrap_or(0); 32]) else { return };
    let mut now = Instant::ZERO;
    let mut ids: Vec<ChannelId> = Vec::new();
    let mut transport = None;
    let mut ended = BTreeSet::new();
    let mut accepted = BTreeSet::new();
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 16 {
            // The wall clock jumps around (sleeps, clocks set) between readings.
            0 if op / 16 % 2 == 1 => c.set_wall_clock(now, u64::from(op / 32) * 1_800_000),
            0 => c.connect(now),
            1 if op / 16 % 2 == 1 => {
                let code = [1000, 1001, 3000, 4999, 5000][usize::from(op / 32) % 5];
                let _ = c.disconnect_with(now, code, "bye");
            }
            1 => c.disconnect(now),
            2 if op / 16 % 2 == 0 => c.resume(now),
            2 => c.set_access_token(now, (op / 32 % 2 == 0).then(|| String::from("a.eyJleHAiOjF9.c"))),
            3 => {
                let name = ["a", "b", "c"][usize::from(op / 16) % 3];
                // Channel `a` has postgres bindings (one repeated), in the ready mode when asked.
                let mut config = ChannelConfig::new();
                if name == "a" {
                    config = config
                        .postgres_changes(Binding::new(ChangeEvent::Insert, "public").table("t"))
                        .postgres_changes(Binding::new(ChangeEvent::All, "public"))
                        .postgres_changes(Binding::new(ChangeEvent::Insert, "public").table("t"));
                    if op / 64 % 2 == 1 {
                        config = config.wait_for_postgres_ready(Duration::from_secs(15));
                    }
                }
                if let Ok(id) = c.channel(now, name, config) {
                    ids.push(id);
                }
            }
            4 | 5 => {
                if let Some(&id) = ids.get(usize::from(op / 16) % ids.len().max(1)) {
                    let _ = c.subscribe(now, id);
                }
            }
            // A runtime's handle clone: one more handle to remove.
            6 if op / 128 == 1 => {
                if let Some(&id) = ids.get(usize::from(op / 16) % ids.len().max(1))
                    && c.retain_channel(id).is_ok()
                {
                    ids.push(id);
                }
            }
            6 => {
                if let Some(&id) = ids.get(usize::from(op / 16) % ids.len().max(1)) {
                    let _ = c.unsubscribe(now, id);
                }
            }
            7 => {
                if !ids.is_empty() {
                    let id = ids.swap_remove(usize::from(op / 16) % ids.len());
                    let _ = c.remove_channel(now, id);
                }
            }
            8 if op / 128 == 1 => {
                if let Some(&id) = ids.get(usize::from(op / 16) % ids.len().max(1)) {
                    match op / 16 % 4 {
                        0 => {
                            let _ = c.enable_presence(now, id);
                        }
                        1 => {
                            let _ = c.untrack(now, id);
                        }
                        _ => {
                            let _ = c.track(now, id, r#"{"u":1}"#);
                        }
                    }
                }
            }
            8 => {
                if let Some(&id) = ids.get(usize::from(op / 16) % ids.len().max(1)) {
                    let body = PushBody::Json { event: String::from("e"), payload: String::from("{}") };
                    if let Ok(push) = c.push(now, id, body) {
                        accepted.insert(push);
                    }
                }
            }
            9 => {
                if let Some(id) = transport {
                    c.handle_transport_open(now, id);
                }
            }
            10 => {
                if let Some(id) = transport {
                    c.handle_transport_closed(now, id, TransportClosed::Eof);
                }
            }
            11 => now = now + Duration::from_millis(u64::from(op / 16) * 700),
            12 | 13 => {
                // A well-formed server message about a ref the fuzzer picks, so replies,
                // closes and errors reach the channels (random bytes rarely would).
                let Some((&arg, tail)) = rest.split_first() else { break };
                rest = tail;
                let topic = ["realtime:a", "realtime:b", "realtime:c", "phoenix"][usize::from(arg % 4)];
                let r = arg / 4 % 24;
                let text = match (op / 16) % 10 {
                    5 => alloc::format!(
                        r#"["{r}","{r}","{topic}","phx_reply",{{"status":"ok","response":{{"postgres_changes":[{{"id":{r},"event":"INSERT","schema":"public","table":"t"}},{{"id":7,"event":"*","schema":"public"}}]}}}}]"#
                    ),
                    6 => alloc::format!(
                        r#"[null,null,"{topic}","postgres_changes",{{"ids":[{r},7],"data":{{"schema":"public","table":"t","type":"{}","columns":[{{"name":"id","type":"int8"}}],"record":{{"id":{r}}},"old_record":null,"errors":null,"commit_timestamp":"x"}}}}]"#,
                        ["INSERT", "UPDATE", "DELETE"][usize::from(r % 3)]
                    ),
                    7 => alloc::format!(
                        r#"[null,null,"{topic}","system",{{"extension":"postgres_changes","status":"{}","message":"m"}}]"#,
                        if r % 2 == 0 { "ok" } else { "error" }
                    ),
                    8 => alloc::format!(
                        r#"["{r}",null,"{topic}","presence_state",{{"k{r}":{{"metas":[{{"phx_ref":"p{r}"}}]}}}}]"#
                    ),
                    9 => alloc::format!(
                        r#"["{r}",null,"{topic}","presence_diff",{{"joins":{{"k":{{"metas":[{{"phx_ref":"q{r}"}}]}}}},"leaves":{{"k{r}":{{"metas":[{{"phx_ref":"p{r}"}}]}}}}}}]"#
                    ),
                    0 => alloc::format!(
                        r#"["{r}","{r}","{topic}","phx_reply",{{"status":"ok","response":{{}}}}]"#
                    ),
                    1 => alloc::format!(
                        r#"[null,"{r}","{topic}","phx_reply",{{"status":"error","response":{{"reason":"x"}}}}]"#
                    ),
                    2 => alloc::format!(r#"["{r}","{r}","{topic}","phx_close",{{}}]"#),
                    3 => alloc::format!(r#"["{r}","{r}","{topic}","phx_error",{{}}]"#),
                    _ => alloc::format!(r#"["{r}",null,"{topic}","broadcast",{{"n":{r}}}]"#),
                };
                c.handle_message(now, Message::Text(text));
            }
            _ => {
                // A server message: the next `len` bytes, text when they are UTF-8.
                let len = usize::from(rest.first().copied().unwrap_or(0)).min(rest.len().saturating_sub(1));
                let Some((body, tail)) = rest.get(1..).map(|r| r.split_at(len)) else { break };
                rest = tail;
                let msg = match core::str::from_utf8(body) {
                    Ok(text) if op % 2 == 0 => Message::Text(String::from(text)),
                    _ => Message::Binary(Vec::from(body)),
                };
                c.handle_message(now, msg);
            }
        }
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
            assert!(c.poll_timeout().is_none_or(|t| t > now), "a deadline left behind");
        }
        while let Some(cmd) = c.poll_transport() {
            if let TransportCommand::Open { id, .. } = cmd {
                transport = Some(id);
            }
        }
        while c.poll_message().is_some() {}
        while let Some(e) = c.poll_event() {
            if let Event::Push { push, .. } = e {
                assert!(ended.insert(push), "a push ended twice");
            }
        }
    }
    // Every push has a deadline: an hour later, each one has ended, exactly once.
    let later = now + Duration::from_secs(3600);
    c.handle_timeout(later);
    while c.poll_message().is_some() {}
    while let Some(e) = c.poll_event() {
        if let Event::Push { push, .. } = e {
            assert!(ended.insert(push), "a push ended twice");
        }
    }
    assert!(accepted.is_subset(&ended), "a push never ended");
}
