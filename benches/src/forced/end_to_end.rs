//! The forced-disconnect scenario against the plezi room server on a free port: with a history every
//! broadcast arrives exactly once across the cuts; without one the tool reports the losses.

use super::{Config, Report, client::Proto, run, server};

fn config(url: String) -> Config {
    Config {
        proto: Proto::Plezi,
        url,
        clients: 12,
        rate: 100.0,
        notify_rate: 60.0,
        duration: 2.0,
        cut_every: 0.4,
        cut_fraction: 0.3,
        backoff_ms: 60,
        backoff_max_ms: 500,
        settle: 10.0,
        connect_timeout: 20.0,
        label: "test".into(),
    }
}

fn scenario(history: bool, settle: f64) -> Report {
    let (url, server) = server::build("127.0.0.1:0", 1, history).expect("the server");
    let running = server.spawn().expect("the server starts");
    let report = run(&Config {
        settle,
        ..config(url)
    })
    .expect("the run");
    running.stop().expect("the server stops");
    println!("{}\n{}", report.human(), report.json);
    report
}

fn int(report: &Report, name: &str) -> u64 {
    report.json[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn recoverable_broadcasts_arrive_exactly_once_across_resets() {
    let report = scenario(true, 10.0);
    assert!(int(&report, "cuts") > 0, "{}", report.human());
    assert!(int(&report, "recovered") > 0, "{}", report.human());
    assert_eq!(int(&report, "recovery_failed"), 0, "{}", report.human());
    assert!(report.says.expected > 12 * 100, "{}", report.human());
    assert_eq!(report.says.lost(), 0, "{}", report.human());
    assert_eq!(report.says.duplicates, 0, "{}", report.human());
    assert_eq!(report.says.reordered, 0, "{}", report.human());
    assert!(report.notices.expected > 0);
    assert_eq!(report.notices.duplicates, 0, "{}", report.human());
}

/// Without a history the reconnects recover nothing: the tool must see the broadcasts sent while a
/// client was away as lost, and no reconnect as recovered.
#[test]
fn without_a_history_the_losses_are_reported() {
    // What is lost never comes: a short settle.
    let report = scenario(false, 1.0);
    assert!(int(&report, "cuts") > 0, "{}", report.human());
    assert!(report.says.lost() > 0, "{}", report.human());
    assert!(!report.clean());
    assert_eq!(int(&report, "recovered"), 0, "{}", report.human());
    // Nothing carries a position, so no reconnect can ask for a recovery.
    assert!(int(&report, "no_position") > 0, "{}", report.human());
}
