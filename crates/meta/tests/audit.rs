//! The audit log as the state machine keeps it: events with their origin and result,
//! webhook deliveries queued by the same command, filtered pages, and retention of both
//! events and delivery logs in bounded commands.
#![allow(clippy::unwrap_used)]

mod common;

use berth_meta::command::{Attempt, CreateWebhook, PruneDeliveries, PruneEvents, PullRecord, RecordDeliveries, RecordPullEvents};
use berth_meta::origin::Origin;
use berth_meta::query::EventFilter;
use berth_meta::{Applied, Command, DeliveryState, StateMachine, Webhook};
use common::{create_repository, d, org, repo};

fn alice_from(source: &str, at: u64) -> Origin {
    Origin { at, user: Some("alice".into()), token: Some("t1".into()), source: Some(source.into()), job: None }
}

fn hook(kind: &str, key: &str) -> Webhook {
    Webhook {
        kind: kind.into(),
        key: key.into(),
        endpoint: "https://hooks.example/x".into(),
        tls_cert: None,
        sealed_secret: "sealed".into(),
        created_by: "admin".into(),
        created_at: 1,
        failures: 0,
        paused: None,
    }
}

fn pulls(repository: &str, user: &str, at: u64, n: u64) -> Command {
    let pulls = (0..n)
        .map(|i| PullRecord {
            repository: repo(repository),
            digest: d(&format!("m{i}")),
            tag: Some(format!("v{i}")),
            user: Some(user.into()),
            token: None,
            source: Some("10.0.0.9".into()),
            count: 1,
            first: at + i,
            last: at + i,
        })
        .collect();
    Command::RecordPullEvents(RecordPullEvents { pulls })
}

fn all(machine: &StateMachine, filter: EventFilter) -> Vec<(u64, berth_meta::Event)> {
    machine.reader().unwrap().events(&EventFilter { limit: 1000, ..filter }, |_, _| Ok(true)).unwrap().events
}

#[test]
fn events_carry_their_origin_and_result_and_queue_deliveries_for_matching_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let machine = StateMachine::open(&dir.path().join("meta.redb")).unwrap();
    machine.apply_batch_from(vec![org("a"), org("b")], &alice_from("10.1.1.1", 1_000)).unwrap();
    let hooks = vec![
        Command::CreateWebhook(CreateWebhook { id: "on-a".into(), hook: hook("REPO_EVENT", "a") }),
        Command::CreateWebhook(CreateWebhook { id: "on-b".into(), hook: hook("REPO_EVENT", "b") }),
        Command::CreateWebhook(CreateWebhook { id: "pushes-a".into(), hook: hook("TAG_PUSH", "a") }),
    ];
    machine.apply_batch_from(hooks, &alice_from("10.1.1.1", 2_000)).unwrap();

    let applied =
        machine.apply_batch_from(vec![create_repository("a/x"), create_repository("a/x")], &alice_from("192.0.2.7", 3_000)).unwrap();
    assert_eq!(applied[0], Applied::Done);
    assert!(matches!(applied[1], Applied::Rejected(_)), "the second creation is refused");

    let created = all(&machine, EventFilter { kind: Some("REPO_CREATED".into()), ..Default::default() });
    assert_eq!(created.len(), 2, "the refused command is recorded too");
    let (newest, oldest) = (&created[0].1, &created[1].1);
    assert_eq!(oldest.user.as_deref(), Some("alice"));
    assert_eq!(oldest.token.as_deref(), Some("t1"));
    assert_eq!(oldest.source.as_deref(), Some("192.0.2.7"));
    assert_eq!(oldest.repository.as_deref(), Some("a/x"));
    assert_eq!(oldest.at, 3_000);
    assert_eq!(oldest.refused, None);
    assert_eq!(newest.refused.as_deref(), Some("REPOSITORY_EXISTS"));

    // Only the REPO_EVENT hook on `a` got deliveries: one per event, refused ones not sent.
    let reader = machine.reader().unwrap();
    let on_a = reader.deliveries("on-a", None, 100).unwrap();
    assert_eq!(on_a.len(), 1, "{on_a:?}");
    assert!(on_a[0].1.payload.contains("REPO_CREATED"));
    assert_eq!(on_a[0].1.state, DeliveryState::Pending);
    assert!(reader.deliveries("on-b", None, 100).unwrap().is_empty());
    assert!(reader.deliveries("pushes-a", None, 100).unwrap().is_empty());
}

#[test]
fn pages_are_filtered_bounded_in_time_and_continue_where_they_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let machine = StateMachine::open(&dir.path().join("meta.redb")).unwrap();
    let job = Origin { at: 1, user: None, token: None, source: None, job: Some("test".into()) };
    machine.apply_batch_from(vec![pulls("a/x", "alice", 10_000, 30), pulls("a/y", "bob", 20_000, 30)], &job).unwrap();
    machine.apply_batch_from(vec![pulls("a/x", "bob", 30_000, 30)], &job).unwrap();

    let bob_on_x = all(&machine, EventFilter { repository: Some("a/x".into()), user: Some("bob".into()), ..Default::default() });
    assert_eq!(bob_on_x.len(), 30);
    assert!(bob_on_x.iter().all(|(_, e)| e.user.as_deref() == Some("bob") && e.repository.as_deref() == Some("a/x")));
    assert!(bob_on_x.windows(2).all(|w| w[0].0 > w[1].0), "newest first");

    let window = all(&machine, EventFilter { since: Some(20_005), until: Some(20_009), ..Default::default() });
    assert_eq!(window.iter().map(|(_, e)| e.at).collect::<Vec<_>>(), [20_009, 20_008, 20_007, 20_006, 20_005]);

    // Pages of 7 of alice's events, each continuing below the last id of the one before.
    let reader = machine.reader().unwrap();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let filter = EventFilter { user: Some("alice".into()), before, limit: 7, ..Default::default() };
        let page = reader.events(&filter, |_, _| Ok(true)).unwrap();
        seen.extend(page.events.iter().map(|(id, _)| *id));
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 30, "every event once");
    assert!(seen.windows(2).all(|w| w[0] > w[1]));
    // What the caller may not see is left out, and the page still ends.
    let visible =
        reader.events(&EventFilter { limit: 1000, ..Default::default() }, |_, e| Ok(e.repository.as_deref() == Some("a/y"))).unwrap();
    assert_eq!(visible.events.len(), 30);
}

#[test]
fn retention_removes_the_oldest_events_with_their_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let machine = StateMachine::open(&dir.path().join("meta.redb")).unwrap();
    let job = Origin { at: 1, user: None, token: None, source: None, job: Some("test".into()) };
    machine.apply_batch_from(vec![pulls("a/x", "alice", 1_000, 50), pulls("a/y", "bob", 2_000, 50)], &job).unwrap();
    let (count, first, last) = machine.reader().unwrap().event_span().unwrap();
    assert_eq!((count, first, last), (100, Some(1), Some(100)));

    // Keep the newest 40: two bounded commands of at most 40 remove the oldest 60.
    for _ in 0..2 {
        machine.apply(Command::PruneEvents(PruneEvents { before: 61, at_most: 40 })).unwrap();
    }
    let (count, first, _) = machine.reader().unwrap().event_span().unwrap();
    assert_eq!((count, first), (40, Some(61)));
    assert!(all(&machine, EventFilter { user: Some("alice".into()), ..Default::default() }).is_empty(), "the user index forgot them");
    assert!(all(&machine, EventFilter { repository: Some("a/x".into()), ..Default::default() }).is_empty());
    assert_eq!(all(&machine, EventFilter { kind: Some("TAG_PULL".into()), ..Default::default() }).len(), 40);
    assert_eq!(machine.reader().unwrap().first_event_since(0).unwrap(), 61);
}

#[test]
fn a_delivery_log_keeps_the_newest_finished_deliveries_and_every_pending_one() {
    let dir = tempfile::tempdir().unwrap();
    let machine = StateMachine::open(&dir.path().join("meta.redb")).unwrap();
    let job = Origin { at: 1, user: None, token: None, source: None, job: Some("test".into()) };
    machine.apply_batch_from(vec![Command::CreateWebhook(CreateWebhook { id: "h".into(), hook: hook("TAG_PULL", "a") })], &job).unwrap();
    machine.apply_batch_from(vec![pulls("a/x", "alice", 1_000, 10)], &job).unwrap();
    let ids: Vec<u64> = machine.reader().unwrap().deliveries("h", None, 100).unwrap().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 10);
    // All delivered but the oldest, which is still being retried.
    let oldest = *ids.last().unwrap();
    let attempts = ids
        .iter()
        .map(|&delivery| {
            let failed = delivery == oldest;
            Attempt {
                delivery,
                at: 2_000,
                status: Some(if failed { 500 } else { 200 }),
                error: failed.then(|| "HTTP 500".into()),
                duration_ms: 3,
                retry_at: failed.then_some(9_000),
            }
        })
        .collect();
    machine.apply(Command::RecordDeliveries(RecordDeliveries { attempts, pause_after: 5 })).unwrap();

    machine.apply(Command::PruneDeliveries(PruneDeliveries { keep: 4, at_most: 3 })).unwrap();
    assert_eq!(machine.reader().unwrap().deliveries("h", None, 100).unwrap().len(), 7, "at most 3 per command");
    machine.apply(Command::PruneDeliveries(PruneDeliveries { keep: 4, at_most: 100 })).unwrap();
    let kept = machine.reader().unwrap().deliveries("h", None, 100).unwrap();
    let kept_ids: Vec<u64> = kept.iter().map(|(id, _)| *id).collect();
    let mut expected = ids[..4].to_vec();
    expected.push(oldest);
    assert_eq!(kept_ids, expected, "the newest four, and the pending one");
    assert_eq!(kept.last().unwrap().1.state, DeliveryState::Pending);
}

#[test]
fn rare_combinations_are_found_by_merging_indexes_and_paged_past_the_scan_limit() {
    let dir = tempfile::tempdir().unwrap();
    let machine = StateMachine::open(&dir.path().join("meta.redb")).unwrap();
    let job = Origin { at: 1, user: None, token: None, source: None, job: Some("test".into()) };
    // 60,000 pulls: a/x by alice, a/y by bob, and every 2,000th a/x by bob.
    let records = (0..60_000u64)
        .map(|i| {
            let (repository, user) = match i {
                i if i % 2_000 == 1_999 => ("a/x", "bob"),
                i if i % 2 == 0 => ("a/x", "alice"),
                _ => ("a/y", "bob"),
            };
            PullRecord {
                repository: repo(repository),
                digest: d("m"),
                tag: None,
                user: Some(user.into()),
                token: None,
                source: None,
                count: 1,
                first: 10 + i,
                last: 10 + i,
            }
        })
        .collect();
    machine.apply_batch_from(vec![Command::RecordPullEvents(RecordPullEvents { pulls: records })], &job).unwrap();

    let reader = machine.reader().unwrap();
    let (mut seen, mut pages, mut before) = (Vec::new(), 0, None);
    loop {
        let filter = EventFilter { repository: Some("a/x".into()), user: Some("bob".into()), before, limit: 50, ..Default::default() };
        let page = reader.events(&filter, |_, _| Ok(true)).unwrap();
        pages += 1;
        assert!(page.events.iter().all(|(_, e)| e.repository.as_deref() == Some("a/x") && e.user.as_deref() == Some("bob")));
        seen.extend(page.events.iter().map(|(id, _)| *id));
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let expected: Vec<u64> = (0..60_000u64).rev().filter(|i| i % 2_000 == 1_999).map(|i| i + 1).collect();
    assert_eq!(seen, expected, "every match once, newest first");
    assert!(pages > 1, "the scan limit split the walk into pages");
}
