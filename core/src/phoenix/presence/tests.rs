//! The presence state's own cases; core/tests/it holds the model and phoenix.js fixture runs.

use alloc::format;
use alloc::string::ToString;
use alloc::vec;

use super::*;

fn p(r: &str, payload: &str) -> Presence {
    Presence { presence_ref: r.to_string(), payload: payload.to_string() }
}

fn keys(s: &PresenceState) -> Vec<(String, Vec<String>)> {
    s.list()
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|p| p.presence_ref.clone()).collect()))
        .collect()
}

#[test]
fn state_then_diffs_as_phoenix_js() {
    let mut s = PresenceState::new();
    let events = s
        .handle_state("1", r#"{"u1":{"metas":[{"phx_ref":"a","user":"ana","n":12345678901234567890}]}}"#)
        .unwrap();
    assert_eq!(
        events,
        [
            PresenceEvent::Join {
                key: "u1".into(),
                current: vec![],
                joined: vec![p("a", r#"{"user":"ana","n":12345678901234567890}"#)],
                sync: true,
            },
            PresenceEvent::Sync
        ],
        "phx_ref becomes presence_ref; numbers stay exact"
    );
    // An update: a join with phx_ref_prev plus a leave of the old ref.
    let diff = r#"{"joins":{"u1":{"metas":[{"phx_ref":"b","phx_ref_prev":"a","user":"ana","away":true}]}},"leaves":{"u1":{"metas":[{"phx_ref":"a","user":"ana"}]}}}"#;
    let events = s.handle_diff("1", diff).unwrap();
    assert_eq!(events.len(), 3);
    match &events[0] {
        PresenceEvent::Join { current, joined, .. } => {
            assert_eq!(current.len(), 1);
            assert_eq!(joined, &[p("b", r#"{"user":"ana","away":true}"#)], "phx_ref_prev dropped");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(keys(&s), [("u1".to_string(), vec!["b".to_string()])]);
    // A second presence of the same key joins after the old one; a leave of the last
    // presence removes the key.
    s.handle_diff("1", r#"{"joins":{"u1":{"metas":[{"phx_ref":"c"}]}},"leaves":{}}"#).unwrap();
    assert_eq!(keys(&s), [("u1".to_string(), vec!["b".to_string(), "c".to_string()])], "old first, then new");
    let events = s
        .handle_diff("1", r#"{"joins":{},"leaves":{"u1":{"metas":[{"phx_ref":"b"},{"phx_ref":"c"}]}}}"#)
        .unwrap();
    assert!(matches!(&events[0], PresenceEvent::Leave { remaining, .. } if remaining.is_empty()));
    assert!(s.list().is_empty());
    // A leave for an unknown key is skipped.
    let events = s.handle_diff("1", r#"{"leaves":{"ghost":{"metas":[{"phx_ref":"z"}]}}}"#).unwrap();
    assert_eq!(events, [PresenceEvent::Sync]);
}

#[test]
fn a_new_state_is_joins_and_leaves_against_the_old_one() {
    let mut s = PresenceState::new();
    s.handle_state(
        "1",
        r#"{"u1":{"metas":[{"phx_ref":"a"},{"phx_ref":"b"}]},"u2":{"metas":[{"phx_ref":"c"}]}}"#,
    )
    .unwrap();
    let events = s
        .handle_state(
            "2",
            r#"{"u1":{"metas":[{"phx_ref":"b"},{"phx_ref":"d"}]},"u3":{"metas":[{"phx_ref":"e"}]}}"#,
        )
        .unwrap();
    let summary: Vec<_> = events
        .iter()
        .map(|e| match e {
            PresenceEvent::Join { key, joined, .. } => format!("join {key} {}", joined.len()),
            PresenceEvent::Leave { key, left, .. } => format!("leave {key} {}", left.len()),
            PresenceEvent::Sync => "sync".to_string(),
        })
        .collect();
    assert_eq!(
        summary,
        ["join u1 1", "join u3 1", "leave u2 1", "leave u1 1", "sync"],
        "joins before leaves; leaves of vanished keys before leaves of lost metas (syncState)"
    );
    assert_eq!(
        keys(&s),
        [
            ("u1".to_string(), vec!["b".to_string(), "d".to_string()]),
            ("u3".to_string(), vec!["e".to_string()])
        ]
    );
}

#[test]
fn diffs_wait_for_the_state_of_the_current_join() {
    let mut s = PresenceState::new();
    assert!(s.is_pending("1"));
    assert_eq!(s.handle_diff("1", r#"{"joins":{"u2":{"metas":[{"phx_ref":"x"}]}}}"#).unwrap(), []);
    let events = s.handle_state("1", r#"{"u1":{"metas":[{"phx_ref":"a"}]}}"#).unwrap();
    assert_eq!(
        events.iter().filter(|e| matches!(e, PresenceEvent::Join { .. })).count(),
        2,
        "the state, then the queued diff"
    );
    assert_eq!(events.last(), Some(&PresenceEvent::Sync));
    assert_eq!(keys(&s).len(), 2);
    // A rejoin: diffs of the new join wait for its state; the old state stays until then.
    assert_eq!(s.handle_diff("2", r#"{"leaves":{"u1":{"metas":[{"phx_ref":"a"}]}}}"#).unwrap(), []);
    assert_eq!(keys(&s).len(), 2);
    s.handle_state("2", r#"{"u1":{"metas":[{"phx_ref":"a"}]}}"#).unwrap();
    assert_eq!(keys(&s), [], "u2 left with the new state, u1 left by the queued diff");
    // Bounded.
    let mut s = PresenceState::new();
    for _ in 0..MAX_PENDING_DIFFS {
        s.handle_diff("1", r#"{"joins":{}}"#).unwrap();
    }
    assert_eq!(s.handle_diff("1", r#"{"joins":{}}"#), Err(PresenceError::TooManyPendingDiffs));
}

#[test]
fn diffs_queued_on_a_join_that_never_got_its_state_are_dropped() {
    // Found by the model test (tests/it/presence_model.rs): join 2 queues a diff, the channel
    // rejoins (3) before join 2's state, and the server's state for join 3 already has `a`
    // gone. Join 2's diff must not bring it back.
    let mut s = PresenceState::new();
    s.handle_state("1", "{}").unwrap();
    s.handle_diff("2", r#"{"joins":{"u":{"metas":[{"phx_ref":"a"}]}}}"#).unwrap();
    s.handle_state("3", r#"{"v":{"metas":[{"phx_ref":"b"}]}}"#).unwrap();
    assert_eq!(keys(&s), [("v".to_string(), vec!["b".to_string()])], "state then join 3's queue (empty)");
    // The same when join 3 queued diffs of its own: they apply, join 2's do not.
    s.handle_diff("4", r#"{"joins":{"u":{"metas":[{"phx_ref":"a"}]}}}"#).unwrap();
    s.handle_diff("5", r#"{"joins":{"w":{"metas":[{"phx_ref":"c"}]}}}"#).unwrap();
    s.handle_state("5", r#"{"v":{"metas":[{"phx_ref":"b"}]}}"#).unwrap();
    assert_eq!(
        keys(&s),
        [("v".to_string(), vec!["b".to_string()]), ("w".to_string(), vec!["c".to_string()])]
    );
}

#[test]
fn malformed_payloads_are_typed_errors() {
    let mut s = PresenceState::new();
    for bad in [
        "[]",
        r#"{"u":{}}"#,
        r#"{"u":{"metas":[{"user":"no ref"}]}}"#,
        r#"{"u":{"metas":[{"phx_ref":1}]}}"#,
        "{",
    ] {
        assert_eq!(s.handle_state("1", bad), Err(PresenceError::InvalidPayload), "{bad}");
    }
    assert_eq!(s.handle_diff("1", r#"{"joins":[]}"#), Err(PresenceError::InvalidPayload));
}

fn metas(refs: impl IntoIterator<Item = usize>) -> String {
    let metas: Vec<String> = refs.into_iter().map(|r| format!(r#"{{"phx_ref":"r{r}"}}"#)).collect();
    format!(r#"{{"metas":[{}]}}"#, metas.join(","))
}

#[test]
fn the_entry_limit_holds_for_states_and_diffs() {
    let mut s = PresenceState::with_limit(3);
    let over = format!(r#"{{"a":{},"b":{}}}"#, metas(0..2), metas(2..4));
    assert_eq!(s.handle_state("1", &over), Err(PresenceError::TooManyEntries));
    assert!(s.is_empty() && s.is_pending("1"), "refused whole");
    s.handle_state("1", &format!(r#"{{"a":{},"b":{}}}"#, metas(0..2), metas(2..3))).unwrap();
    assert_eq!(s.len(), 3);
    // One more is over; an update (join with a new ref, leave of the old) is not.
    let more = format!(r#"{{"joins":{{"c":{}}}}}"#, metas(9..10));
    assert_eq!(s.handle_diff("1", &more), Err(PresenceError::TooManyEntries));
    let update = format!(r#"{{"joins":{{"a":{}}},"leaves":{{"a":{}}}}}"#, metas(7..8), metas(0..1));
    s.handle_diff("1", &update).unwrap();
    assert_eq!(keys(&s)[0], ("a".to_string(), vec!["r1".to_string(), "r7".to_string()]));
    assert_eq!(s.len(), 3);
    // A re-join of refs already there counts once.
    s.handle_diff("1", &format!(r#"{{"joins":{{"b":{}}}}}"#, metas(2..3))).unwrap();
    assert_eq!(s.len(), 3);
}

#[test]
fn joins_and_leaves_say_whether_they_come_from_a_sync() {
    let mut s = PresenceState::new();
    let events = s.handle_state("1", &format!(r#"{{"a":{}}}"#, metas(0..1))).unwrap();
    assert!(matches!(events[0], PresenceEvent::Join { sync: true, .. }));
    let events = s.handle_diff("1", &format!(r#"{{"leaves":{{"a":{}}}}}"#, metas(0..1))).unwrap();
    assert!(matches!(events[0], PresenceEvent::Leave { sync: false, .. }));
}

#[test]
fn a_key_with_many_presences_keeps_order_and_counts() {
    // Past the linear-scan length, the set path must give the same result.
    let mut s = PresenceState::new();
    s.handle_state("1", &format!(r#"{{"k":{}}}"#, metas(0..100))).unwrap();
    s.handle_diff(
        "1",
        &format!(r#"{{"joins":{{"k":{}}},"leaves":{{"k":{}}}}}"#, metas(50..150), metas(0..25)),
    )
    .unwrap();
    let refs: Vec<String> = (25..150).map(|r| format!("r{r}")).collect();
    assert_eq!(keys(&s), [("k".to_string(), refs)]);
    assert_eq!(s.len(), 125);
    let events = s.handle_state("2", &format!(r#"{{"k":{}}}"#, metas(100..200))).unwrap();
    assert_eq!(s.len(), 100);
    match &events[..] {
        [PresenceEvent::Join { joined, .. }, PresenceEvent::Leave { left, .. }, PresenceEvent::Sync] => {
            assert_eq!((joined.len(), left.len()), (50, 75));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_meta_with_two_refs_is_refused() {
    let mut s = PresenceState::new();
    assert_eq!(
        s.handle_state("1", r#"{"u":{"metas":[{"phx_ref":"a","phx_ref":"b"}]}}"#),
        Err(PresenceError::InvalidPayload)
    );
    assert_eq!(s.handle_state("1", r#"{"u":{"metas":[]}} x"#), Err(PresenceError::InvalidPayload));
}

/// Second read: diffs queued for an old join (its state never came) are applied on top of the
/// next join's state, though the module says a rejoin never applies the old join's diffs.
#[test]
fn old_join_diffs_are_not_applied_to_a_new_joins_state() {
    let mut s = PresenceState::new();
    // Join 1: its state never arrives (#2196, a lost server push); a diff is queued.
    assert_eq!(s.handle_diff("1", r#"{"joins":{"ghost":{"metas":[{"phx_ref":"g"}]}}}"#).unwrap(), []);
    // Rejoin as join 2: its state, then nothing else.
    s.handle_state("2", r#"{"u1":{"metas":[{"phx_ref":"a"}]}}"#).unwrap();
    assert_eq!(keys(&s), [("u1".to_string(), vec!["a".to_string()])], "join 1's diff leaked into join 2");
}

/// Second read: the pending queue is bounded by count only; with a limit of 10 presences it
/// holds 1024 diffs of 10 joins each (10,240 presences), plus leaves that are not counted.
#[test]
fn pending_diffs_stay_within_the_presence_limit() {
    let mut s = PresenceState::with_limit(10);
    let metas: Vec<String> = (0..10).map(|i| format!(r#"{{"phx_ref":"r{i}"}}"#)).collect();
    let diff = format!(r#"{{"joins":{{"k":{{"metas":[{}]}}}}}}"#, metas.join(","));
    for _ in 0..MAX_PENDING_DIFFS {
        let _ = s.handle_diff("1", &diff);
    }
    let queued: usize =
        s.pending.iter().map(|(j, l)| j.values().chain(l.values()).map(Vec::len).sum::<usize>()).sum();
    assert!(queued <= 10, "{queued} presences queued with a limit of 10");
}

#[test]
fn tracked_fields_read_into_the_apps_type() {
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Member {
        user: String,
        n: u64,
    }
    let p = p("a", r#"{"user":"ana","n":12345678901234567890}"#);
    assert_eq!(p.json::<Member>().unwrap(), Member { user: "ana".to_string(), n: 12345678901234567890 });
    assert!(p.json::<Vec<u8>>().is_err());
}

/// Second read: a key holding a ref twice (a diff joined it again) kept both copies through a
/// state that was itself within the limit, so the state ended over it.
#[test]
fn a_state_over_duplicated_refs_stays_within_the_limit() {
    let mut s = PresenceState::with_limit(3);
    s.handle_state("1", "{}").unwrap();
    s.handle_diff("1", r#"{"joins":{"a":{"metas":[{"phx_ref":"r"},{"phx_ref":"r"}]}}}"#).unwrap();
    assert_eq!(s.len(), 2);
    let state = r#"{"a":{"metas":[{"phx_ref":"r"}]},"b":{"metas":[{"phx_ref":"x"}]},"c":{"metas":[{"phx_ref":"y"}]}}"#;
    assert_eq!(s.handle_state("1", state), Err(PresenceError::TooManyEntries));
    assert!(s.len() <= 3, "{} presences with a limit of 3", s.len());
}
