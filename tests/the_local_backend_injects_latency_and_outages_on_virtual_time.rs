//! `LocalBackend` (the core in-process) on a paused clock: per-route
//! latency, failure rates from a seed, timeouts, and down switches, all in
//! virtual time.

use std::time::Duration;

use readerlink::backend::{
    Backend, BackendCore, BackendError, CreateLocation, FaultInjector, LocalBackend, Route,
};
use tokio::time::Instant;

fn shop() -> CreateLocation {
    CreateLocation::new("Shop", "1 Main St", "US")
}

#[tokio::test(start_paused = true)]
async fn each_route_answers_after_its_own_latency() {
    let backend = LocalBackend::new(BackendCore::in_memory(1));
    backend
        .faults()
        .set_latency(Route::CreateLocation, Duration::from_millis(800));
    backend
        .faults()
        .set_latency(Route::GetLocation, Duration::from_millis(50));

    let started = Instant::now();
    let location = backend.create_location(shop()).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(800));
    backend.location(&location.id).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(850));
    backend.list_locations().await.unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(850),
        "list has no latency"
    );
}

#[tokio::test(start_paused = true)]
async fn a_route_slower_than_the_timeout_times_out_at_the_timeout() {
    let backend = LocalBackend::new(BackendCore::in_memory(1)).with_timeout(Duration::from_secs(10));
    backend
        .faults()
        .set_latency(Route::ConnectionToken, Duration::from_secs(30));
    let started = Instant::now();
    let err = backend.connection_token().await.unwrap_err();
    assert_eq!(
        err,
        BackendError::Timeout {
            route: "connection_token".into(),
            after_ms: 10_000
        }
    );
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_backend_down_for_a_minute_refuses_calls_until_the_minute_is_over() {
    let backend = LocalBackend::new(BackendCore::in_memory(1));
    backend.faults().down_for(Duration::from_secs(60));
    let err = backend.connection_token().await.unwrap_err();
    assert_eq!(err.code(), "connection_failed");

    tokio::time::sleep(Duration::from_secs(59)).await;
    assert!(backend.connection_token().await.is_err(), "still down at 59 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(backend.connection_token().await.is_ok(), "back at 60 s");
}

#[tokio::test(start_paused = true)]
async fn a_backend_taken_down_stays_down_until_restored() {
    let backend = LocalBackend::new(BackendCore::in_memory(1));
    backend.create_location(shop()).await.unwrap();
    backend.faults().take_down();
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    assert_eq!(
        backend.list_locations().await.unwrap_err().code(),
        "connection_failed"
    );
    backend.faults().restore();
    assert_eq!(
        backend.list_locations().await.unwrap().len(),
        1,
        "the data survived the outage"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_rate_fails_about_that_share_of_calls_the_same_way_for_the_same_seed() {
    let run = |seed| async move {
        let backend = LocalBackend::shared(
            std::sync::Arc::new(std::sync::Mutex::new(BackendCore::in_memory(1))),
            FaultInjector::new(seed),
        );
        backend.faults().set_failure_rate(Route::ConnectionToken, 0.3);
        let mut outcomes = Vec::new();
        for _ in 0..200 {
            outcomes.push(match backend.connection_token().await {
                Ok(_) => true,
                Err(BackendError::Status { status: 500, .. }) => false,
                Err(other) => panic!("unexpected {other:?}"),
            });
        }
        outcomes
    };
    let first = run(9).await;
    assert_eq!(first, run(9).await, "same seed, same failures");
    assert_ne!(first, run(10).await, "another seed, other failures");
    let failures = first.iter().filter(|ok| !**ok).count();
    assert!(
        (40..=80).contains(&failures),
        "about 30 % of 200 failed: {failures}"
    );
}
