//! HTTP CONNECT tunnels and the proxy choice: typed results for every answer, nothing consumed
//! past the head, and the same result and count for any split of the answer.

use proptest::prelude::*;
use realtime_core::phoenix::proxy::{MAX_PROXY_HEAD, ProxyError, Tunnel, no_proxy_matches, proxy_for};
use realtime_core::phoenix::target::Target;

/// The first bytes of a TLS ClientHello: what follows a tunnel's head is the server's.
const AFTER: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";

fn tunnel() -> Tunnel {
    Tunnel::new("abc.supabase.co", 443).unwrap()
}

/// Feeds `input` whole; returns the result (after EOF if still pending) and bytes consumed.
fn whole(input: &[u8]) -> (Option<Result<(), ProxyError>>, usize) {
    feed(input, &[])
}

/// Feeds `input` in pieces cut at `points`, the way a runtime does: a piece not wholly
/// consumed means the result is decided, and the rest is not offered again.
fn feed(input: &[u8], points: &[usize]) -> (Option<Result<(), ProxyError>>, usize) {
    let mut t = tunnel();
    let mut at = 0;
    for &p in points.iter().chain([input.len()].iter()) {
        let piece = &input[at..p.max(at)];
        let n = t.handle_input(piece);
        at += n;
        if n < piece.len() {
            assert!(t.result().is_some(), "bytes left while the head is pending");
            return (t.result(), at);
        }
    }
    if t.result().is_none() {
        t.handle_eof();
    }
    (t.result(), at)
}

#[test]
fn a_2xx_opens_the_tunnel_and_leaves_the_servers_bytes() {
    for head in [
        &b"HTTP/1.1 200 Connection established\r\n\r\n"[..],
        b"HTTP/1.0 200 OK\r\nProxy-Agent: squid\r\nVia: 1.1 p\r\n\r\n",
        b"HTTP/1.1 204\r\n\r\n",
        b"HTTP/1.1 200 OK\n\n",
        // An interim answer first.
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
    ] {
        let mut input = head.to_vec();
        input.extend_from_slice(AFTER);
        assert_eq!(whole(&input), (Some(Ok(())), head.len()), "{:?}", String::from_utf8_lossy(head));
    }
}

#[test]
fn refusals_and_hostile_answers_are_typed_errors() {
    let refused = b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 5\r\n\r\nnope!";
    assert_eq!(whole(refused), (Some(Err(ProxyError::Refused { status: 407 })), refused.len() - 5));
    assert_eq!(whole(b"HTTP/1.1 101 Switching\r\n\r\n").0, Some(Err(ProxyError::Refused { status: 101 })));
    // Not HTTP: decided at the first byte that cannot start `HTTP/`.
    assert_eq!(whole(b"SSH-2.0-OpenSSH_9.6\r\n"), (Some(Err(ProxyError::Malformed)), 1));
    assert_eq!(whole(b"HTTX/1.1 200 OK\r\n\r\n"), (Some(Err(ProxyError::Malformed)), 4));
    assert_eq!(whole(AFTER), (Some(Err(ProxyError::Malformed)), 1));
    // No status, a bad status line, a bad header: decided at that line's end.
    assert_eq!(whole(b"HTTP/1.1 \r\n\r\n"), (Some(Err(ProxyError::Malformed)), 11));
    assert_eq!(whole(b"HTTP/1.1 abc OK\r\nX: y\r\n\r\n"), (Some(Err(ProxyError::Malformed)), 17));
    assert_eq!(whole(b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n").0, Some(Err(ProxyError::Malformed)));
    // A head that never ends: stopped at the bound, nothing kept beyond it.
    let mut huge = b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec();
    huge.resize(4 * MAX_PROXY_HEAD, b'a');
    assert_eq!(whole(&huge), (Some(Err(ProxyError::HeadTooLong)), MAX_PROXY_HEAD));
    // Many small header lines: the header bound, not the byte bound, ends it.
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for _ in 0..1000 {
        many.extend_from_slice(b"a:b\r\n");
    }
    assert_eq!(whole(&many).0, Some(Err(ProxyError::Malformed)));
    // A head of exactly the bound is fine.
    let mut exact = b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec();
    exact.resize(MAX_PROXY_HEAD - 4, b'a');
    exact.extend_from_slice(b"\r\n\r\n");
    assert_eq!(whole(&exact), (Some(Ok(())), MAX_PROXY_HEAD));
    // The proxy hangs up mid-head.
    assert_eq!(whole(b"HTTP/1.1 200 OK\r\n"), (Some(Err(ProxyError::Eof)), 17));
    assert_eq!(whole(b""), (Some(Err(ProxyError::Eof)), 0));
}

#[test]
fn a_decided_tunnel_consumes_nothing_more() {
    let mut t = tunnel();
    assert_eq!(t.handle_input(b"HTTP/1.1 200 OK\r\n"), 17);
    assert_eq!(t.result(), None);
    assert_eq!(t.handle_input(b"\r\nTLS"), 2);
    assert_eq!(t.result(), Some(Ok(())));
    assert_eq!(t.handle_input(b"more"), 0);
    t.handle_eof();
    assert_eq!(t.result(), Some(Ok(())), "an EOF after the head is the tunnel's, not the handshake's");
}

/// Heads a proxy may send, with what follows them.
fn answer() -> impl Strategy<Value = Vec<u8>> {
    let status = prop_oneof![Just(200u16), Just(200), 100u16..600];
    let header = ("[A-Za-z-]{1,12}", "[ -~]{0,20}").prop_map(|(k, v)| format!("{k}: {}\r\n", v.trim()));
    (
        status,
        "[A-Za-z ]{0,16}",
        proptest::collection::vec(header, 0..8),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(status, reason, headers, lf_only, after)| {
            let mut head = format!("HTTP/1.1 {status} {reason}\r\n{}\r\n", headers.concat());
            if lf_only {
                head = head.replace("\r\n", "\n");
            }
            let mut bytes = head.into_bytes();
            bytes.extend(after);
            bytes
        })
}

/// The end of the first head that is not interim, if the bytes hold one.
fn final_head_end(input: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let rest = &input[from..];
        let end =
            (0..rest.len()).find(|&i| rest[..=i].ends_with(b"\n\n") || rest[..=i].ends_with(b"\n\r\n"))? + 1;
        let interim = rest.starts_with(b"HTTP/1.1 1") && !rest.starts_with(b"HTTP/1.1 101");
        from += end;
        if !interim {
            return Some(from);
        }
    }
}

proptest! {
    /// Any split gives the same result and consumed count; a well-formed head is consumed
    /// exactly, never a byte after it.
    #[test]
    fn any_split_of_an_answer_gives_the_same_result(input in answer(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let want = whole(&input);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        points.sort_unstable();
        prop_assert_eq!(feed(&input, &points), want);
        let one_by_one: Vec<usize> = (1..input.len()).collect();
        prop_assert_eq!(feed(&input, &one_by_one), want);
        let (result, consumed) = want;
        prop_assert!(result.is_some());
        if result == Some(Ok(())) || matches!(result, Some(Err(ProxyError::Refused { .. }))) {
            prop_assert_eq!(Some(consumed), final_head_end(&input));
        }
    }

    /// Arbitrary bytes: no panic, a result at EOF, the same for any split, and nothing
    /// consumed past the first head's end.
    #[test]
    fn any_bytes_give_a_typed_result(bytes in proptest::collection::vec(any::<u8>(), 0..200), prefix in any::<bool>(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let mut input = if prefix { b"HTTP/1.1 ".to_vec() } else { Vec::new() };
        input.extend(bytes);
        let want = whole(&input);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        points.sort_unstable();
        prop_assert_eq!(feed(&input, &points), want);
        prop_assert!(want.0.is_some());
        if let Some(end) = final_head_end(&input) {
            prop_assert!(want.1 <= end, "consumed {} past the head's end {}", want.1, end);
        }
    }
}

fn target(host: &str, tls: bool) -> Target {
    Target { host: host.into(), port: if tls { 443 } else { 80 }, tls, path: "/".into() }
}

#[test]
fn the_proxy_follows_the_scheme_and_no_proxy() {
    let (https, http) = (Some("http://secure-proxy:3128"), Some("http://plain-proxy:3128"));
    assert_eq!(proxy_for(&target("x.supabase.co", true), https, http, None), https);
    assert_eq!(proxy_for(&target("x.supabase.co", false), https, http, None), http);
    assert_eq!(
        proxy_for(&target("x.supabase.co", true), None, http, None),
        None,
        "no fallback to HTTP_PROXY"
    );
    assert_eq!(proxy_for(&target("x.supabase.co", true), Some(""), http, None), None, "empty is none");
    assert_eq!(proxy_for(&target("x.supabase.co", true), Some("  "), http, None), None);
    assert_eq!(proxy_for(&target("x.supabase.co", true), https, http, Some("")), https);
    assert_eq!(proxy_for(&target("x.supabase.co", true), https, http, Some("localhost,.supabase.co")), None);
    assert_eq!(proxy_for(&target("::1", false), https, http, Some("[::1]:4000")), None);
    assert_eq!(proxy_for(&target("127.0.0.1", false), https, http, Some("localhost")), http);
}

#[test]
fn no_proxy_hosts_suffixes_ports_and_case() {
    // The runtime's former cases.
    assert!(no_proxy_matches("localhost, .example.com", "api.example.com"));
    assert!(no_proxy_matches("example.com", "example.com"));
    assert!(no_proxy_matches("*", "anything"));
    assert!(!no_proxy_matches("example.com", "notexample.com"));
    assert!(!no_proxy_matches("", "x"));
    // Suffixes with or without the dot, at a label boundary only.
    assert!(no_proxy_matches("example.com", "a.b.example.com"));
    assert!(no_proxy_matches(".example.com", "example.com"));
    assert!(!no_proxy_matches(".example.com", "xexample.com"));
    assert!(!no_proxy_matches("a.example.com", "example.com"));
    // Case, ports, spaces, empty entries, trailing dots.
    assert!(no_proxy_matches("EXAMPLE.com", "Api.Example.COM"));
    assert!(no_proxy_matches("example.com:8443", "example.com"));
    assert!(no_proxy_matches(" , ,example.com ", "example.com"));
    assert!(no_proxy_matches("example.com.", "example.com"));
    assert!(!no_proxy_matches(",", "example.com"));
    assert!(!no_proxy_matches(":8080", "example.com"));
    // IPv6 literals, bracketed or not, with a port or not.
    assert!(no_proxy_matches("::1", "::1"));
    assert!(no_proxy_matches("[::1]", "::1"));
    assert!(no_proxy_matches("[::1]:8080", "[::1]"));
    assert!(!no_proxy_matches("::1", "::2"));
    // Not ASCII: the suffix comparison would cut `é` in two here, and must not panic.
    assert!(!no_proxy_matches("b", "aé"));
    assert!(no_proxy_matches("é.com", "a.é.com"));
    assert!(!no_proxy_matches("é.com", "aé.com"));
}
