//! Postgres changes emitted by the in-process server reach only the listeners whose bindings
//! match, tagged with the matching binding's index.

use realtime_testkit::{Config, RowChange, Server};
use serde_json::{Value, json};

use crate::common::{client, listen, run};

const AT: &str = "2026-01-02T03:04:05.678Z";

fn change(kind: &str, record: Value, old_record: Value) -> RowChange {
    RowChange {
        schema: "public".into(),
        table: "t".into(),
        kind: kind.into(),
        columns: vec![("id".into(), "int8".into()), ("name".into(), "text".into())],
        record,
        old_record,
        commit_timestamp: AT.into(),
    }
}

#[tokio::test]
async fn changes_reach_only_matching_listeners_with_the_binding_index() {
    let server = Server::start(Config::default()).await.expect("the server starts");
    let url = server.url();
    // The filter is the second binding, so its changes say binding 1.
    let mut inserts = listen(
        &url,
        "db",
        &["--postgres", "UPDATE:public:t", "--postgres", "INSERT:public:t:id=gt.1", "--exit-after", "1"],
    )
    .await;
    let mut deletes = listen(&url, "db", &["--postgres", "DELETE:public:t", "--exit-after", "1"]).await;
    let mut others = listen(&url, "db", &["--postgres", "*:public:other", "--exit-after", "1"]).await;

    // Each listener says its changes are live (the server's `system` message) before any.
    for l in [&mut inserts, &mut deletes, &mut others] {
        let live = l.line().await;
        assert_eq!(
            (live["type"].as_str(), live["event"].as_str()),
            (Some("system"), Some("system")),
            "{live}"
        );
        assert_eq!(live["payload"]["extension"], "postgres_changes");
        assert_eq!(live["payload"]["status"], "ok");
    }
    // id 1 is not > 1: nobody has a binding for it.
    assert_eq!(server.emit_change(&change("INSERT", json!({"id": 1, "name": "a"}), Value::Null)), 0);
    assert_eq!(server.emit_change(&change("INSERT", json!({"id": 2, "name": "b"}), Value::Null)), 1);
    assert_eq!(server.emit_change(&change("DELETE", Value::Null, json!({"id": 2, "name": "b"}))), 1);
    let mut other = change("INSERT", json!({"id": 7, "name": "c"}), Value::Null);
    other.table = "other".into();
    assert_eq!(server.emit_change(&other), 1);

    assert_eq!(
        inserts.line().await,
        json!({
            "type": "postgres_changes", "channel": "db", "binding": 1, "event_type": "INSERT",
            "schema": "public", "table": "t", "commit_timestamp": AT,
            "new": {"id": 2, "name": "b"}, "old": {}, "errors": [],
        })
    );
    assert_eq!(
        deletes.line().await,
        json!({
            "type": "postgres_changes", "channel": "db", "binding": 0, "event_type": "DELETE",
            "schema": "public", "table": "t", "commit_timestamp": AT,
            "new": {}, "old": {"id": 2, "name": "b"}, "errors": [],
        })
    );
    assert_eq!(
        others.line().await,
        json!({
            "type": "postgres_changes", "channel": "db", "binding": 0, "event_type": "INSERT",
            "schema": "public", "table": "other", "commit_timestamp": AT,
            "new": {"id": 7, "name": "c"}, "old": {}, "errors": [],
        })
    );
    for listener in [inserts, deletes, others] {
        listener.exit().await.assert_quiet_success();
    }
}

#[tokio::test]
async fn a_filter_the_server_refuses_fails_listen() {
    let server = Server::start(Config::default()).await.expect("the server starts");
    let args = client("listen", &server.url(), &["--channel", "db", "--postgres", "INSERT:public:t:id=zz.1"]);
    run(&args).await.assert_failed(1, "id=zz.1");
}

/// `--postgres UPDATE:public` (no table) gets every table of the schema, as realtime-js allows;
/// `*` as the table says the same.
#[tokio::test]
async fn a_binding_without_a_table_covers_the_whole_schema() {
    let server = Server::start(Config::default()).await.expect("the server starts");
    let url = server.url();
    let mut schema = listen(&url, "db", &["--postgres", "UPDATE:public", "--exit-after", "2"]).await;
    let mut star = listen(&url, "db", &["--postgres", "UPDATE:public:*", "--exit-after", "2"]).await;
    for l in [&mut schema, &mut star] {
        assert_eq!(l.line().await["type"], "system", "changes are live");
    }
    let mut a = change("UPDATE", json!({"id": 1, "name": "a"}), json!({"id": 1}));
    a.table = "accounts".into();
    let mut b = change("UPDATE", json!({"id": 2, "name": "b"}), json!({"id": 2}));
    b.table = "orders".into();
    assert_eq!(server.emit_change(&a), 2);
    assert_eq!(
        server.emit_change(&change("INSERT", json!({"id": 3}), Value::Null)),
        0,
        "an INSERT is not an UPDATE"
    );
    assert_eq!(server.emit_change(&b), 2);
    for l in [&mut schema, &mut star] {
        assert_eq!(l.line().await["table"], "accounts");
        assert_eq!(l.line().await["table"], "orders");
    }
    schema.exit().await.assert_quiet_success();
    star.exit().await.assert_quiet_success();
}

/// `realtime serve`'s test-control endpoint emits a row change from a shell (`curl -d ...
/// http://HOST/realtime/v1/testkit/emit`), so `listen --postgres` can be tried end to end.
#[tokio::test]
async fn serve_emits_row_changes_posted_to_its_control_endpoint() {
    let server = crate::common::Serve::start(&[]).await;
    let mut listener =
        listen(&server.url, "db", &["--postgres", "INSERT:public:todos", "--exit-after", "1"]).await;
    assert_eq!(listener.line().await["type"], "system", "changes are live");
    let body = r#"{"schema":"public","table":"todos","type":"INSERT","record":{"id":1,"title":"milk"}}"#;
    assert_eq!(crate::common::control(&server.url, "emit", body).await, json!({"delivered": 1}));
    let change = listener.line().await;
    assert_eq!(
        (change["type"].as_str(), change["table"].as_str()),
        (Some("postgres_changes"), Some("todos"))
    );
    assert_eq!(change["new"], json!({"id": 1, "title": "milk"}));
    listener.exit().await.assert_quiet_success();
}
