//! `readerlink trace show --mermaid` draws the messages between actors and
//! the outside as a Mermaid `sequenceDiagram`: a reconnection (R9) reads as
//! transport → connection (link lost) → session → reconnect supervisor →
//! session → connection (connect again), and a connect from discovery to
//! the supervisor watching. The diagrams are snapshots, and their syntax
//! is checked line by line, so text that would break Mermaid (`;`, `#`)
//! cannot slip in unescaped.

mod common;
mod trace_support;

use readerlink::runtime::Trace;
use readerlink::runtime::inspect::{Filter, SequenceDiagram};
use trace_support::{check_sequence_diagram, scenario_trace};

fn diagram(text: &str, filter: &Filter, outputs: bool) -> String {
    let trace = Trace::parse(text).unwrap();
    let mut diagram = SequenceDiagram::new(outputs);
    for record in trace.records.iter().filter(|r| filter.keeps(r)) {
        diagram.push(record);
    }
    diagram.render()
}

#[test]
fn a_reconnection_is_drawn_as_a_valid_sequence_diagram() {
    let _snapshots = common::snapshots();
    let text = scenario_trace("link_lost_and_reconnection");
    let reconnection = Filter {
        reader: Some("STRM2-0001".into()),
        from_ms: Some(10_000),
        ..Filter::default()
    };
    let drawn = diagram(&text, &reconnection, false);
    check_sequence_diagram(&drawn).unwrap();
    for step in [
        "x_transport->>a_connection_STRM2_0001: LinkLost(cause=SignalLost, session=1)",
        "a_session_STRM2_0001->>a_reconnect_STRM2_0001: ConnectionLost(auto_reconnect=true, reason=bluetooth_signal_lost)",
        "a_reconnect_STRM2_0001->>a_session_STRM2_0001: ReconnectSucceeded",
    ] {
        assert!(drawn.contains(step), "missing `{step}` in\n{drawn}");
    }
    insta::assert_snapshot!("trace_show_mermaid_of_a_reconnection", drawn);
}

#[test]
fn a_connect_is_drawn_from_discovery_to_the_supervisor_watching() {
    let _snapshots = common::snapshots();
    let text = scenario_trace("connect_and_disconnect");
    let connect = Filter {
        until_ms: Some(1_000),
        ..Filter::default()
    };
    let drawn = diagram(&text, &connect, false);
    check_sequence_diagram(&drawn).unwrap();
    assert!(
        drawn.contains("x_app->>a_terminal: ConnectReaderRequested(call=1)"),
        "{drawn}"
    );
    assert!(
        drawn.contains("Note over a_reconnect_STRM2_0001: disabled → watching"),
        "{drawn}"
    );
    insta::assert_snapshot!("trace_show_mermaid_of_a_connect", drawn);
}

#[test]
fn a_whole_connect_with_outputs_is_a_valid_sequence_diagram_too() {
    let text = scenario_trace("link_lost_and_reconnection");
    let drawn = diagram(&text, &Filter::default(), true);
    check_sequence_diagram(&drawn).unwrap();
    assert!(drawn.contains("participant x_app as app"), "{drawn}");
    assert!(
        drawn.contains("-->>a_terminal: Publish(ReconnectStarted("),
        "{drawn}"
    );
}

#[test]
fn text_that_would_break_mermaid_is_escaped() {
    let text = [
        r#"{"format":"readerlink-trace","version":2,"seed":1,"config":{},"created_by":"test"}"#,
        r#"{"seq":1,"t_ms":0,"actor":"odd;actor#1","kind":"started","machine":"turnstile","state":"locked"}"#,
        r#"{"seq":2,"t_ms":0,"actor":"odd;actor#1","kind":"input","source":"app","event":"Said","input":{"Said":{"text":"a;b #c <d>"}}}"#,
        r#"{"seq":3,"t_ms":0,"actor":"odd;actor#1","kind":"panicked","state":"locked","message":"x;y","restarted":false}"#,
    ]
    .join("\n");
    let drawn = diagram(&text, &Filter::default(), false);
    check_sequence_diagram(&drawn).unwrap();
    assert!(drawn.contains("Said(text=a#59;b #35;c #lt;d#gt;)"), "{drawn}");
    assert!(drawn.contains("as odd#59;actor#35;1"), "{drawn}");
    // The checker itself catches what the escaping prevents.
    assert!(check_sequence_diagram("sequenceDiagram\n    participant a as a\n    a->>a: x;y\n").is_err());
    assert!(check_sequence_diagram("sequenceDiagram\n    participant a as a\n    a->>b: x\n").is_err());
}

#[test]
fn trace_show_prints_the_same_diagram_and_a_timeline() {
    let text = scenario_trace("link_lost_and_reconnection");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.jsonl");
    std::fs::write(&path, &text).unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_readerlink"))
            .args(["trace", "show"])
            .arg(&path)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let mermaid = run(&["--mermaid", "--reader", "STRM2-0001", "--from", "10s"]);
    let expected = diagram(
        &text,
        &Filter {
            reader: Some("STRM2-0001".into()),
            from_ms: Some(10_000),
            ..Filter::default()
        },
        false,
    );
    assert_eq!(mermaid, expected);

    let only_the_supervisor = run(&["--mermaid", "--actor", "reconnect:STRM2-0001", "--until", "12s"]);
    check_sequence_diagram(&only_the_supervisor).unwrap();
    assert!(
        only_the_supervisor.contains("ConnectionLost"),
        "{only_the_supervisor}"
    );
    assert!(
        !only_the_supervisor.contains("LinkEstablished"),
        "{only_the_supervisor}"
    );

    let timeline = run(&[]);
    assert!(
        timeline.lines().any(|l| l.contains("12.000s")
            && l.contains("connection:STRM2-0001")
            && l.contains("<- transport: LinkLost")),
        "{timeline}"
    );
    assert!(
        timeline.contains("watching -> attempting  (on ConnectionLost)"),
        "{timeline}"
    );
}
