//! permessage-deflate against independent peers on loopback: Node's `ws` and Python's
//! `websockets` (both on zlib), as echo servers in child processes (`testkit/interop/
//! deflate_echo.mjs` and `deflate_echo.py`, installed pinned by `scripts/interop-setup`), over
//! every server configuration of the four parameters and the client's own asks, and a bomb each.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use realtime_core::ws::deflate::{Offer, Params};
use realtime_core::ws::{Config, DeflateConfig, Error, Message, MessageKind, WsEvent};
use serde_json::{Value, json};

use super::{Client, pseudo_random};

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testkit/interop")
}

/// A peer process and the ports of its listeners, killed when dropped.
struct Peer {
    child: Child,
    ports: Vec<u16>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    NodeWs,
    PythonWebsockets,
}

impl Peer {
    /// Starts `kind` with one listener per configuration (`Conf`s in the peer's own words).
    fn start(kind: Kind, configs: &[Conf]) -> Self {
        let args = match kind {
            Kind::NodeWs => configs.iter().map(Conf::node).collect(),
            Kind::PythonWebsockets => configs.iter().map(Conf::python).collect(),
        };
        Self::start_with(kind, args)
    }

    /// Starts `kind` with one listener of the peer's defaults.
    fn start_default(kind: Kind) -> Self {
        Self::start_with(kind, vec![json!({})])
    }

    fn start_with(kind: Kind, args: Vec<Value>) -> Self {
        let dir = interop_dir();
        let (program, script): (PathBuf, &str) = match kind {
            Kind::NodeWs => ("node".into(), "deflate_echo.mjs"),
            Kind::PythonWebsockets => (dir.join(".venv/bin/python"), "deflate_echo.py"),
        };
        let needs = match kind {
            Kind::NodeWs => dir.join("node_modules/ws/package.json"),
            Kind::PythonWebsockets => dir.join(".venv/bin/python"),
        };
        assert!(needs.exists(), "{} missing: run scripts/interop-setup", needs.display());
        let mut child = Command::new(program)
            .arg(script)
            .arg(Value::from(args).to_string())
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("peer's first line");
        let report: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{kind:?} said {line:?}: {e}"));
        let ports =
            report["ports"].as_array().expect("ports").iter().map(|p| p.as_u64().unwrap() as u16).collect();
        Self { child, ports }
    }
}

/// A server configuration: the four parameters of RFC 7692 section 7.1.
#[derive(Clone, Copy, Debug)]
struct Conf {
    server_nct: bool,
    client_nct: bool,
    server_bits: Option<u8>,
    client_bits: Option<u8>,
}

impl Conf {
    fn node(&self) -> Value {
        let mut v =
            json!({ "serverNoContextTakeover": self.server_nct, "clientNoContextTakeover": self.client_nct });
        if let Some(b) = self.server_bits {
            v["serverMaxWindowBits"] = b.into();
        }
        if let Some(b) = self.client_bits {
            v["clientMaxWindowBits"] = b.into();
        }
        v
    }

    fn python(&self) -> Value {
        let mut v = json!({ "server_no_context_takeover": self.server_nct, "client_no_context_takeover": self.client_nct });
        if let Some(b) = self.server_bits {
            v["server_max_window_bits"] = b.into();
        }
        if let Some(b) = self.client_bits {
            v["client_max_window_bits"] = b.into();
        }
        v
    }

    /// What the client must have agreed with a server of this configuration.
    fn check(&self, p: &Params) {
        assert_eq!(p.server_no_context_takeover, self.server_nct, "{self:?} {p:?}");
        assert!(p.client_no_context_takeover || !self.client_nct, "{self:?} {p:?}");
        if let Some(b) = self.server_bits {
            assert_eq!(p.server_max_window_bits, b, "{self:?} {p:?}");
        }
        if let Some(b) = self.client_bits {
            assert_eq!(p.client_max_window_bits, b, "{self:?} {p:?}");
        }
    }
}

fn all_confs() -> Vec<Conf> {
    let mut out = Vec::new();
    for server_nct in [false, true] {
        for client_nct in [false, true] {
            for server_bits in [None, Some(9), Some(12)] {
                for client_bits in [None, Some(9), Some(12)] {
                    out.push(Conf { server_nct, client_nct, server_bits, client_bits });
                }
            }
        }
    }
    out
}

fn json_text(i: usize, len: usize) -> String {
    let mut s = format!(r#"{{"event":"broadcast","topic":"realtime:room","ref":"{i}","payload":["#);
    let mut n = 0;
    while s.len() < len {
        s.push_str(&format!(r#"{{"id":{n},"user":"user-{}","text":"message {i}.{n}"}},"#, n % 5));
        n += 1;
    }
    s.push_str("{}]}");
    s
}

fn config(offer: Offer) -> Config {
    Config {
        deflate: Some(DeflateConfig { offer, compress_min_len: Some(64), ..DeflateConfig::default() }),
        max_message_len: 4 << 20,
        ..Config::default()
    }
}

/// Data frames in the server's bytes after its handshake head: (RSV1, opcode) of each.
fn server_frames(bytes: &[u8]) -> Vec<(bool, u8)> {
    let start = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let mut rest = &bytes[start..];
    let mut out = Vec::new();
    while rest.len() >= 2 {
        let (len, head) = match rest[1] & 0x7F {
            126 if rest.len() >= 4 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
            127 if rest.len() >= 10 => (u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize, 10),
            126 | 127 => break,
            n => (usize::from(n), 2),
        };
        if rest.len() < head + len {
            break;
        }
        out.push((rest[0] & 0x40 != 0, rest[0] & 0x0F));
        rest = &rest[head + len..];
    }
    out
}

/// One connection: the agreed terms, then text, binary and fragmented messages echoed, the
/// small one too; what came back compressed is counted from the server's frames.
fn exchange(port: u16, offer: Offer, conf: Option<Conf>, who: Kind) {
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let (mut c, _) = Client::open_with(addr, config(offer), &[]);
    let params = c.deflate.unwrap_or_else(|| panic!("{who:?} {conf:?}: deflate not agreed"));
    if let Some(conf) = conf {
        conf.check(&params);
    }
    let Message::Text(ext) = c.next_message() else { panic!("the agreed extension first") };
    assert!(ext.starts_with("ext:permessage-deflate"), "{who:?}: {ext}");
    let big = json_text(9, 200_000);
    let msgs: Vec<(MessageKind, Vec<u8>)> = vec![
        (MessageKind::Text, json_text(0, 300).into_bytes()),
        (MessageKind::Text, json_text(1, 5000).into_bytes()),
        (MessageKind::Binary, pseudo_random(3000, port.into())),
        (MessageKind::Text, b"hi".to_vec()),
        // Over the 64 KiB frame size: sent as several frames, RSV1 on the first only.
        (MessageKind::Text, big.into_bytes()),
        (MessageKind::Text, json_text(2, 300).into_bytes()),
    ];
    for (kind, payload) in &msgs {
        c.ws.send(*kind, payload.clone()).expect("send");
        let back = c.next_message();
        assert_eq!(
            (back.kind(), back.as_bytes()),
            (*kind, payload.as_slice()),
            "{who:?} {conf:?} {params:?}"
        );
    }
    let compressed = server_frames(&c.received).iter().filter(|(rsv1, op)| *rsv1 && *op != 0).count();
    assert!(compressed >= msgs.len(), "{who:?}: {compressed} compressed messages came back");
    c.close_normally();
}

fn run_all(who: Kind) {
    let confs = all_confs();
    let peer = Peer::start(who, &confs);
    for (conf, &port) in confs.iter().zip(&peer.ports) {
        exchange(port, Offer::default(), Some(*conf), who);
    }
    // The client's own asks, to a server that grants them (its defaults: `ws` refuses an ask
    // for server_no_context_takeover when told `serverNoContextTakeover: false`).
    let plain = Peer::start_default(who);
    let asks = [
        Offer { server_no_context_takeover: true, ..Offer::default() },
        Offer { client_no_context_takeover: true, ..Offer::default() },
        Offer { server_max_window_bits: Some(10), ..Offer::default() },
        Offer { client_max_window_bits: Some(11), ..Offer::default() },
        Offer { client_max_window_bits: None, ..Offer::default() },
        Offer {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(9),
            client_max_window_bits: Some(9),
        },
    ];
    for offer in asks {
        exchange(plain.ports[0], offer, None, who);
    }
}

#[test]
fn every_configuration_against_node_ws() {
    run_all(Kind::NodeWs);
}

#[test]
fn every_configuration_against_python_websockets() {
    run_all(Kind::PythonWebsockets);
}

/// The peer sends 32 MiB of zeros, a few KiB compressed, to a client whose limit is 1 MiB:
/// it fails with `MessageTooLong` and closes with 1009, as it inflates.
fn bomb(who: Kind) {
    let peer = Peer::start_default(who);
    let addr = format!("127.0.0.1:{}", peer.ports[0]).parse().unwrap();
    let limited = Config { max_message_len: 1 << 20, ..config(Offer::default()) };
    let (mut c, _) = Client::open_with(addr, limited, &[]);
    let _ = c.next_message();
    c.ws.send(MessageKind::Text, format!("bomb:{}", 32 << 20).into_bytes()).expect("send");
    let events = c.run_to_eof();
    assert!(
        matches!(events.first(), Some(WsEvent::Failed(Error::MessageTooLong { max, .. })) if *max == 1 << 20),
        "{who:?}: {events:?}"
    );
    let wire_bytes = c.received.len();
    assert!(wire_bytes < 1 << 20, "{who:?}: {wire_bytes} bytes on the wire");
}

#[test]
fn a_bomb_from_node_ws_is_closed_with_1009() {
    bomb(Kind::NodeWs);
}

#[test]
fn a_bomb_from_python_websockets_is_closed_with_1009() {
    bomb(Kind::PythonWebsockets);
}
