//! Every bad input is a non-zero exit: 2 for bad input, 1 for failures at run time. The
//! client's own errors are one line on stderr (`realtime: ...`); clap's (a flag unknown,
//! missing or with a value it does not allow) keep clap's whole message.

use crate::common::{Proc, Serve, client, run};

/// Nothing listens on port 1.
const NOWHERE: &str = "ws://127.0.0.1:1/realtime/v1";

#[tokio::test]
async fn bad_input_is_one_line_and_exit_code_2() {
    let send = |payload: &'static str| {
        client("send", NOWHERE, &["--channel", "c", "--event", "e", "--payload", payload])
    };
    let listen = |extra: &[&str]| {
        let mut args = client("listen", NOWHERE, &["--channel", "c"]);
        args.extend(extra.iter().map(|s| (*s).to_string()));
        args
    };
    let presence = |track: &str| client("presence", NOWHERE, &["--channel", "c", "--track", track]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (send("{nope"), "--payload is not valid JSON"),
        (send(""), "--payload is not valid JSON"),
        (presence("{nope"), "--track is not valid JSON"),
        (presence("[1]"), "--track must be a JSON object"),
        (listen(&["--track", "nope"]), "--track is not valid JSON"),
        (listen(&["--track", "1"]), "--track must be a JSON object"),
        (listen(&["--postgres", "INSERT"]), "--postgres wants EVENT:SCHEMA[:TABLE[:FILTER]]"),
        (listen(&["--postgres", "UPSERT:public:t"]), "--postgres wants EVENT:SCHEMA[:TABLE[:FILTER]]"),
        (listen(&["--postgres", "INSERT::t"]), "--postgres wants EVENT:SCHEMA[:TABLE[:FILTER]]"),
        (listen(&["--postgres", "INSERT:public::id=eq.1"]), "--postgres wants EVENT:SCHEMA[:TABLE[:FILTER]]"),
        (listen(&["--postgres", "INSERT:public:*:id=eq.1"]), "a FILTER needs a TABLE"),
        (listen(&["--ca-file", "/nonexistent/ca.pem"]), "--ca-file /nonexistent/ca.pem"),
        (listen(&["--ca-file", "/dev/null"]), "no certificate in it"),
        (client("listen", "ftp://127.0.0.1/realtime/v1", &["--channel", "c"]), "--url must start with ws://"),
        (client("listen", "127.0.0.1:4000", &["--channel", "c"]), "--url must start with ws://"),
        (
            client("send", NOWHERE, &["--channel", "c", "--event", "e", "--payload", "1", "--rate=-1"]),
            "--rate",
        ),
        (
            vec!["serve".into(), "--host".into(), "no such host".into()],
            "--host no such host does not resolve",
        ),
        (
            client("send", NOWHERE, &["--channel", "c", "--event", "e", "--count", "2"]),
            "--count and --rate need --payload",
        ),
    ];
    for (args, needle) in cases {
        let exit = run(&args).await;
        assert_eq!(exit.code, Some(2), "{args:?}: {exit:?}");
        exit.assert_failed(2, needle);
    }
}

/// clap's errors keep their whole message on stderr (with exit code 2): the flags still
/// missing, the values a flag allows, the subcommand a typo meant, and the usage.
#[tokio::test]
async fn argument_errors_keep_their_detail() {
    let listen = |extra: &[&str]| {
        let mut args = client("listen", NOWHERE, &["--channel", "c"]);
        args.extend(extra.iter().map(|s| (*s).to_string()));
        args
    };
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (listen(&["--bogus"]), vec!["unexpected argument '--bogus'", "Usage: realtime listen"]),
        // A listener sends nothing: the flags about its own broadcasts are not offered.
        (listen(&["--ack"]), vec!["unexpected argument '--ack'"]),
        (listen(&["--self"]), vec!["unexpected argument '--self'"]),
        (listen(&["--vsn", "3.0.0"]), vec!["'3.0.0'", "[possible values: 1.0.0, 2.0.0]"]),
        (listen(&["--exit-after", "0"]), vec!["--exit-after", "0 is not in 1.."]),
        (
            listen(&["--heartbeat", "0"]),
            vec!["--heartbeat", "0 is out of range: give 0.001 to 86400 seconds"],
        ),
        (listen(&["--heartbeat", "soon"]), vec!["--heartbeat", "\"soon\" is not a number of seconds"]),
        (
            vec![
                "send".into(),
                "--url".into(),
                NOWHERE.into(),
                "--api-key".into(),
                "k".into(),
                "--channel".into(),
                "c".into(),
                "--event".into(),
                "e".into(),
                "--payload".into(),
                "1".into(),
                "--count".into(),
                "0".into(),
            ],
            vec!["--count", "0 is not in 1.."],
        ),
        (vec!["send".into(), "--url".into(), NOWHERE.into()], vec!["--channel <CHANNEL>", "--event <EVENT>"]),
        (
            vec!["lisen".into()],
            vec!["unrecognized subcommand 'lisen'", "similar subcommand exists: 'listen'"],
        ),
        (vec!["launch".into()], vec!["unrecognized subcommand 'launch'"]),
    ];
    for (args, needles) in cases {
        let exit = run(&args).await;
        assert_eq!(exit.code, Some(2), "{args:?}: {exit:?}");
        assert!(exit.stdout.is_empty(), "{args:?}: {exit:?}");
        assert!(exit.stderr.starts_with("error: "), "clap's message, whole: {exit:?}");
        assert!(exit.stderr.lines().count() > 1, "more than the first line: {exit:?}");
        for needle in needles {
            assert!(exit.stderr.contains(needle), "{needle:?} in {exit:?}");
        }
    }
}

/// `realtime` alone prints the help (the subcommands), not an error, with exit code 2.
#[tokio::test]
async fn no_subcommand_prints_the_help() {
    let exit = run::<&str>(&[]).await;
    assert_eq!(exit.code, Some(2), "{exit:?}");
    for needle in ["Usage: realtime", "listen", "send", "serve"] {
        assert!(exit.stderr.contains(needle), "{needle:?} in {exit:?}");
    }
}

#[tokio::test]
async fn unreachable_hosts_are_one_line_and_exit_code_1() {
    let listen = client("listen", NOWHERE, &["--channel", "c"]);
    run(&listen)
        .await
        .assert_failed(1, "subscribe failed: cannot connect: could not connect: Connection refused");
    let presence = client("presence", NOWHERE, &["--channel", "c"]);
    run(&presence).await.assert_failed(1, "subscribe failed: cannot connect");
    let send = client("send", NOWHERE, &["--channel", "c", "--event", "e", "--payload", "1"]);
    run(&send).await.assert_failed(1, "subscribe failed: cannot connect");
    let rest = client("send", NOWHERE, &["--channel", "c", "--event", "e", "--payload", "1", "--rest"]);
    run(&rest).await.assert_failed(1, "broadcast 1 of 1 failed");
}

#[tokio::test]
async fn serve_on_a_taken_port_is_one_line_and_exit_code_1() {
    let server = Serve::start(&[]).await;
    let port =
        server.url.trim_start_matches("ws://127.0.0.1:").split('/').next().expect("a port").to_string();
    run(&["serve", "--port", &port]).await.assert_failed(1, "cannot listen on 127.0.0.1:");
}

#[tokio::test]
async fn help_and_version_go_to_stdout_with_success() {
    for args in [vec!["--help"], vec!["listen", "--help"], vec!["--version"]] {
        let exit = Proc::spawn(&args).exit().await;
        assert_eq!(exit.code, Some(0), "{args:?}: {exit:?}");
        assert!(!exit.stdout.is_empty() && exit.stderr.is_empty(), "{args:?}: {exit:?}");
    }
}

/// `serve --host localhost` resolves the name; `serve --tls` removes its certificate file
/// when it ends.
#[tokio::test]
async fn serve_takes_a_host_name_and_cleans_up_its_certificate() {
    let mut proc = Proc::spawn(&["serve", "--host", "localhost", "--port", "0", "--tls"]);
    let url = proc.text_line().await;
    assert!(url.starts_with("wss://"), "{url}");
    let line = proc.stderr_line().await;
    let path =
        line.strip_prefix("certificate: ").and_then(|r| r.split(' ').next()).expect("a certificate line");
    let path = std::path::PathBuf::from(path);
    assert!(path.exists(), "{}", path.display());
    let exit = proc.interrupt().await;
    assert_eq!(exit.code, Some(0), "{exit:?}");
    assert!(!path.exists(), "{} is left behind", path.display());
}

/// Errors that used to mislead say what is wrong: a port out of range, and `ws://` to a TLS
/// server (whose answer to a plain upgrade is not HTTP).
#[tokio::test]
async fn misleading_errors_say_what_is_wrong() {
    let port = client("listen", "ws://127.0.0.1:99999/realtime/v1", &["--channel", "c"]);
    run(&port).await.assert_failed(2, "port must be a number from 1 to 65535");
    let server = Serve::start(&["--tls"]).await;
    let plain = server.url.replacen("wss://", "ws://", 1);
    let listen = client("listen", &plain, &["--channel", "c"]);
    run(&listen).await.assert_failed(1, "(a TLS server? its URL starts with wss://)");
}

/// `serve -v` logs each connection, its joins, and its close to stderr (leaves too; `send`
/// ends by closing the socket, which leaves its channels without a phx_leave).
#[tokio::test]
async fn serve_verbose_logs_connections_and_joins() {
    let mut server = Proc::spawn(&["serve", "--port", "0", "-v"]);
    let url = server.text_line().await;
    let sent = run(&client("send", &url, &["--channel", "room", "--event", "e", "--payload", "1"])).await;
    sent.assert_quiet_success();
    let mut lines = Vec::new();
    for _ in 0..3 {
        lines.push(server.stderr_line().await);
    }
    assert_eq!(lines, ["socket 1 connected (vsn 2.0.0)", "socket 1 joins realtime:room", "socket 1 closed"]);
    server.interrupt().await;
}
