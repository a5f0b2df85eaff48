//! `TerminalDelegate::on_discovery_finished`: an app on callbacks hears a
//! discovery's end as its stream does — `None` when it ran out its timeout
//! (R3), the error when it failed (the adapter off).

mod common;
mod terminal_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use readerlink::prelude::*;
use readerlink::runtime::{Tracer, virtual_time_system};
use terminal_support::rig_with;

#[derive(Default)]
struct Ends(Mutex<Vec<Option<String>>>);

impl TerminalDelegate for Ends {
    fn on_discovery_finished(&self, error: Option<&DiscoveryError>) {
        self.0.lock().unwrap().push(error.map(|e| e.code().to_owned()));
    }
}

async fn run_to_end(terminal: &Terminal) -> DiscoveryUpdate {
    let mut discovery = terminal
        .discover_readers(DiscoveryConfig::scan().with_timeout(Duration::from_secs(2)))
        .await;
    loop {
        match discovery.updates.next().await {
            Some(update @ DiscoveryUpdate::Finished(_)) => return update,
            Some(_) => {}
            None => panic!("the stream ended without Finished"),
        }
    }
}

#[test]
fn a_discovery_that_times_out_or_fails_is_told_to_the_delegate_as_to_its_stream() {
    virtual_time_system().block_on(async {
        let ends = Arc::new(Ends::default());
        let delegate = ends.clone();
        let rig = rig_with(Tracer::off(), move |b| b.delegate(delegate));

        let finished = run_to_end(&rig.terminal).await;
        assert!(matches!(finished, DiscoveryUpdate::Finished(Ok(()))));
        assert_eq!(*ends.0.lock().unwrap(), vec![None], "the timeout ended it well");

        rig.world.set_adapter_powered(false);
        let finished = run_to_end(&rig.terminal).await;
        let DiscoveryUpdate::Finished(Err(error)) = finished else {
            panic!("the adapter is off: {finished:?}");
        };
        assert_eq!(
            *ends.0.lock().unwrap(),
            vec![None, Some(error.code().to_owned())],
            "the delegate hears the stream's error"
        );
    });
}
