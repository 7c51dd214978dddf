//! The close handshake in both directions, pings and round-trip times, all on virtual time.

use core::time::Duration;

use realtime_core::Instant;
use realtime_core::ws::{CloseCode, Config, Error, MessageKind, SendError, State};

use crate::harness::{Ev, client_frames, drain, feed, frame, open, open_with, send};

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

#[test]
fn server_close_is_echoed_then_server_ends_tcp() {
    let mut conn = open();
    let mut wire = Vec::new();
    let t0 = Instant::from_millis(1000);
    let mut bytes = frame(true, 8, &close_payload(1001, "bye"));
    bytes.extend(frame(true, 1, b"ignored after close"));
    let (ev, used) = feed(&mut conn, t0, &bytes, &[], &mut wire);
    assert_eq!(ev, [Ev::Close(Some(1001), "bye".into())]);
    assert_eq!(used, bytes.len());
    let frames = client_frames(&wire);
    assert_eq!(frames.len(), 1);
    assert_eq!((frames[0].opcode, frames[0].payload.clone()), (8, 1001u16.to_be_bytes().to_vec()));
    assert_eq!(conn.state(), State::Closing);
    assert_eq!(conn.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    assert_eq!(conn.handle_transport_closed(t0), None, "a clean end is no error");
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn server_close_without_tcp_end_times_out_quietly() {
    let mut conn = open();
    let (ev, _) = feed(&mut conn, Instant::ZERO, &frame(true, 8, &[]), &[], &mut Vec::new());
    assert_eq!(ev, [Ev::Close(None, String::new())]);
    let mut wire = Vec::new();
    drain(&mut conn, &mut wire);
    let deadline = conn.poll_timeout().unwrap();
    assert_eq!(conn.handle_timeout(deadline), None);
    assert!(conn.is_closed());
}

#[test]
fn empty_server_close_gets_an_empty_reply() {
    let mut conn = open();
    let mut wire = Vec::new();
    feed(&mut conn, Instant::ZERO, &frame(true, 8, &[]), &[], &mut wire);
    let frames = client_frames(&wire);
    assert_eq!((frames[0].opcode, frames[0].payload.len()), (8, 0));
}

#[test]
fn client_close_then_server_reply() {
    let mut conn = open();
    let mut wire = Vec::new();
    conn.close(Instant::ZERO, CloseCode::NORMAL, "done").unwrap();
    assert_eq!(conn.close(Instant::ZERO, CloseCode::NORMAL, ""), Err(SendError::NotOpen));
    drain(&mut conn, &mut wire);
    let frames = client_frames(&wire);
    assert_eq!((frames[0].opcode, frames[0].payload.clone()), (8, close_payload(1000, "done")));
    assert_eq!(conn.state(), State::Closing);
    let (ev, _) =
        feed(&mut conn, Instant::from_millis(10), &frame(true, 8, &close_payload(1000, "")), &[], &mut wire);
    assert_eq!(ev, [Ev::Close(Some(1000), String::new())]);
    assert_eq!(client_frames(&wire).len(), 1, "no second close frame");
    assert_eq!(conn.handle_transport_closed(Instant::from_millis(20)), None);
}

#[test]
fn client_close_without_reply_times_out() {
    let mut conn = open();
    conn.close(Instant::ZERO, CloseCode(4000), "").unwrap();
    drain(&mut conn, &mut Vec::new());
    assert_eq!(conn.handle_timeout(Instant::from_millis(4999)), None);
    assert_eq!(conn.handle_timeout(Instant::from_millis(5000)), Some(Error::CloseTimeout));
    assert!(conn.is_closed());
}

#[test]
fn close_arguments_are_checked() {
    let mut conn = open();
    assert_eq!(conn.close(Instant::ZERO, CloseCode(1005), ""), Err(SendError::InvalidCloseCode));
    assert_eq!(conn.close(Instant::ZERO, CloseCode::NORMAL, &"x".repeat(124)), Err(SendError::ReasonTooLong));
    assert!(conn.close(Instant::ZERO, CloseCode::NORMAL, &"x".repeat(123)).is_ok());
}

#[test]
fn eof_without_close_is_a_reset() {
    let mut conn = open();
    assert_eq!(conn.handle_transport_closed(Instant::ZERO), Some(Error::ConnectionReset));
    assert_eq!(conn.handle_transport_closed(Instant::ZERO), None, "reported once");
}

#[test]
fn close_during_a_fragmented_send_finishes_the_frame_then_drops_the_message() {
    let mut conn = open_with(Config { send_frame_len: 10, ..Config::default() });
    let payload = [7u8; 35];
    conn.start_message(MessageKind::Binary, &payload).unwrap();
    let mut buf = [0u8; 20];
    let t = conn.poll_transmit(&mut buf, &payload);
    assert!(!t.message_done);
    let mut wire = buf[..t.len].to_vec();
    conn.close(Instant::ZERO, CloseCode::GOING_AWAY, "").unwrap();
    let mut big = [0u8; 256];
    let t = conn.poll_transmit(&mut big, &payload);
    assert!(t.message_done, "the rest of the message is dropped");
    wire.extend_from_slice(&big[..t.len]);
    let frames = client_frames(&wire);
    let shape: Vec<_> = frames.iter().map(|f| (f.opcode, f.fin, f.payload.len())).collect();
    assert_eq!(shape, [(2, false, 10), (0, false, 10), (8, true, 2)]);
}

#[test]
fn ping_round_trip_time_on_virtual_time() {
    let mut conn = open();
    let mut wire = Vec::new();
    conn.send_ping(Instant::from_millis(1000)).unwrap();
    drain(&mut conn, &mut wire);
    let ping = client_frames(&wire).remove(0);
    assert_eq!(ping.opcode, 9);
    let (ev, _) = feed(&mut conn, Instant::from_millis(1250), &frame(true, 10, b"other"), &[], &mut wire);
    assert_eq!(ev, [Ev::Pong(false)], "a pong with another payload is not ours");
    let mut got = None;
    let bytes = frame(true, 10, &ping.payload);
    let read = conn.handle_input(Instant::from_millis(1250), &bytes);
    if let Some(realtime_core::ws::Event::Pong { rtt }) = read.event {
        got = rtt;
    }
    assert_eq!(got, Some(Duration::from_millis(250)));
}

#[test]
fn every_ping_in_one_write_gets_its_pong() {
    // Autobahn case 2.10: ten pings in one write, ten pongs with the same payloads, in order.
    let mut conn = open();
    let mut wire = Vec::new();
    let bytes: Vec<u8> = (0..10).flat_map(|i| frame(true, 9, format!("payload-{i}").as_bytes())).collect();
    let (ev, used) = feed(&mut conn, Instant::ZERO, &bytes, &[], &mut wire);
    assert_eq!(used, bytes.len());
    assert_eq!(ev.len(), 10);
    let pongs: Vec<_> = client_frames(&wire).into_iter().map(|f| (f.opcode, f.payload)).collect();
    let want: Vec<_> = (0..10).map(|i| (10u8, format!("payload-{i}").into_bytes())).collect();
    assert_eq!(pongs, want);
}

#[test]
fn a_ping_waits_while_a_pong_is_pending() {
    let mut conn = open();
    let mut bytes = frame(true, 9, b"one");
    bytes.extend(frame(true, 9, b"two"));
    let first = conn.handle_input(Instant::ZERO, &bytes).consumed;
    assert_eq!(first, 5);
    let r = conn.handle_input(Instant::ZERO, &bytes[first..]);
    // The header is kept by the decoder; the payload waits until the pong is out.
    assert_eq!((r.consumed, r.event), (2, None), "stalled until the pong is out");
    let resume = first + 2;
    let mut wire = Vec::new();
    drain(&mut conn, &mut wire);
    let r = conn.handle_input(Instant::ZERO, &bytes[resume..]);
    assert_eq!(r.consumed, 3);
    drain(&mut conn, &mut wire);
    let payloads: Vec<_> = client_frames(&wire).into_iter().map(|f| f.payload).collect();
    assert_eq!(payloads, [b"one".to_vec(), b"two".to_vec()]);
}

#[test]
fn a_second_ping_is_refused_while_the_first_is_half_written() {
    let mut conn = open();
    conn.send_ping(Instant::ZERO).unwrap();
    let mut small = [0u8; 7];
    assert_eq!(conn.poll_transmit(&mut small, &[]).len, 7);
    assert_eq!(conn.send_ping(Instant::ZERO), Err(SendError::Busy));
    let mut wire = small.to_vec();
    drain(&mut conn, &mut wire);
    conn.send_ping(Instant::ZERO).unwrap();
    drain(&mut conn, &mut wire);
    let seqs: Vec<_> = client_frames(&wire).into_iter().map(|f| (f.opcode, f.payload)).collect();
    assert_eq!(seqs, [(9, 1u32.to_be_bytes().to_vec()), (9, 2u32.to_be_bytes().to_vec())]);
}

#[test]
fn a_failure_replaces_a_queued_close_with_its_own_code() {
    let mut conn = open();
    conn.close(Instant::ZERO, CloseCode::NORMAL, "bye").unwrap();
    let mut wire = Vec::new();
    let r = conn.handle_input(Instant::ZERO, &[0x91, 0x00]);
    assert!(matches!(r.event, Some(realtime_core::ws::Event::Failed(Error::Protocol(_)))));
    drain(&mut conn, &mut wire);
    assert_eq!(crate::harness::sent_close_code(&wire), Some(1002));
    assert_eq!(client_frames(&wire).len(), 1);
}

#[test]
fn half_written_pong_stalls_input_until_transmitted() {
    let mut conn = open();
    let mut bytes = frame(true, 9, &[1u8; 100]);
    bytes.extend(frame(true, 9, &[2u8; 100]));
    let r = conn.handle_input(Instant::ZERO, &bytes);
    let first = r.consumed;
    let mut small = [0u8; 10];
    let t = conn.poll_transmit(&mut small, &[]);
    assert_eq!(t.len, 10);
    let r = conn.handle_input(Instant::ZERO, &bytes[first..]);
    assert!(r.event.is_none(), "the second ping waits for the first pong");
    let resumed = first + r.consumed;
    let mut wire = small.to_vec();
    drain(&mut conn, &mut wire);
    let r = conn.handle_input(Instant::ZERO, &bytes[resumed..]);
    assert!(matches!(r.event, Some(realtime_core::ws::Event::Ping(p)) if p == [2u8; 100]));
    drain(&mut conn, &mut wire);
    let payloads: Vec<_> = client_frames(&wire).into_iter().map(|f| f.payload[0]).collect();
    assert_eq!(payloads, [1, 2]);
}

#[test]
fn send_checks_state_and_text() {
    let mut conn = open();
    assert_eq!(conn.start_message(MessageKind::Text, b"\xFF"), Err(SendError::InvalidUtf8));
    conn.start_message(MessageKind::Text, b"a").unwrap();
    assert_eq!(conn.start_message(MessageKind::Text, b"b"), Err(SendError::Busy));
    let wire = {
        let mut buf = [0u8; 64];
        let t = conn.poll_transmit(&mut buf, b"a");
        assert!(t.message_done);
        buf[..t.len].to_vec()
    };
    assert_eq!(client_frames(&wire)[0].payload, b"a");
    let zero = send(&mut conn, MessageKind::Binary, &[], &[64]);
    assert_eq!(client_frames(&zero)[0].payload.len(), 0);
}

#[test]
fn a_pong_owed_goes_out_before_the_close_with_its_reason() {
    for (ping, reason, want_reason) in [
        (&b"x"[..], "bye", "bye"),
        // Pong payload and reason do not fit the control buffer together: the code still goes.
        (&[7u8; 125][..], "a reason that cannot fit", ""),
    ] {
        let mut conn = open();
        let mut wire = Vec::new();
        let bytes = frame(true, 9, ping);
        assert_eq!(conn.handle_input(Instant::ZERO, &bytes).consumed, bytes.len());
        conn.close(Instant::ZERO, CloseCode::GOING_AWAY, reason).unwrap();
        drain(&mut conn, &mut wire);
        let frames = client_frames(&wire);
        assert_eq!(frames.len(), 2);
        assert_eq!((frames[0].opcode, frames[0].payload.as_slice()), (10, ping));
        assert_eq!((frames[1].opcode, frames[1].payload.clone()), (8, close_payload(1001, want_reason)));
    }
}

/// Everything `WebSocket::poll_transmit` gives, in chunks of `chunk` bytes.
fn transmit_all(ws: &mut realtime_core::ws::WebSocket, chunk: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        let n = ws.poll_transmit(&mut buf);
        if n == 0 {
            return wire;
        }
        wire.extend_from_slice(&buf[..n]);
    }
}

/// A polite close, as a browser's `WebSocket.close()`: messages already queued (one half
/// written, one not started) go out whole before the close frame, and nothing more is taken.
#[test]
fn a_polite_close_writes_the_queued_messages_first() {
    let config = Config { send_frame_len: 1024, ..Config::default() };
    let mut ws = realtime_core::ws::WebSocket::new_open(config, [9; 32]).unwrap();
    ws.send(MessageKind::Binary, vec![1; 10_000]).unwrap();
    ws.send(MessageKind::Text, b"last words".to_vec()).unwrap();
    let mut first = vec![0u8; 3000];
    let written = ws.poll_transmit(&mut first);
    ws.close(Instant::ZERO, CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(ws.send(MessageKind::Text, b"too late".to_vec()), Err(SendError::NotOpen));
    let mut wire = first[..written].to_vec();
    wire.extend(transmit_all(&mut ws, 512));
    let frames = client_frames(&wire);
    let data: Vec<u8> = frames.iter().filter(|f| f.opcode != 8).flat_map(|f| f.payload.clone()).collect();
    assert_eq!(data.len(), 10_000 + "last words".len(), "both messages, whole");
    assert!(data.ends_with(b"last words"));
    let last = frames.last().unwrap();
    assert_eq!(
        (last.opcode, last.payload.clone()),
        (8, close_payload(1000, "bye")),
        "the close frame comes last"
    );
    assert_eq!(ws.state(), State::Closing);
}

/// A peer that stops reading cannot hold a polite close open: at the close timeout the
/// handshake starts anyway, with what was not written dropped, and the reply has its own
/// close timeout.
#[test]
fn a_polite_close_starts_at_its_deadline_when_the_queue_does_not_drain() {
    let mut ws = realtime_core::ws::WebSocket::new_open(Config::default(), [9; 32]).unwrap();
    ws.send(MessageKind::Binary, vec![1; 100_000]).unwrap();
    let t0 = Instant::from_millis(1000);
    ws.close(t0, CloseCode::NORMAL, "").unwrap();
    assert_eq!(ws.state(), State::Open, "still writing");
    let deadline = ws.poll_timeout().expect("the close has a deadline");
    assert_eq!(deadline, t0 + Config::default().close_timeout);
    ws.handle_timeout(deadline);
    assert_eq!(ws.state(), State::Closing);
    assert_eq!(ws.poll_timeout(), Some(deadline + Config::default().close_timeout));
    let frames = client_frames(&transmit_all(&mut ws, 4096));
    assert_eq!(frames.last().map(|f| f.opcode), Some(8), "the close frame went out");
}
