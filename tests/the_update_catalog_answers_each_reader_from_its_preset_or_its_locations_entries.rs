//! The update catalog (R13–R18) through `LocalBackend` on a paused clock:
//! a reader with a simulated preset gets what the preset offers; any other
//! gets the latest entry of its location's catalog for its model that is
//! offered to its software; the backend records when a reader last ran
//! the latest software of its location (R15) and answers it; images are
//! served from a byte on; an unknown location or update is
//! `resource_missing`.

use std::time::Duration;

use readerlink::backend::{
    Backend, BackendCore, BackendError, CatalogEntry, CatalogScope, CreateLocation, LocalBackend, Route,
    UpdateQuery,
};
use readerlink::reader::DeviceType;
use readerlink::runtime::Millis;
use readerlink::updater::{
    SIMULATED_AVAILABLE_DUE_MS, SIMULATED_AVAILABLE_SIZE, SIMULATED_REQUIRED_SIZE, SIMULATED_UPDATE_VERSION,
    Sha256Digest, SimulatedUpdatePreset, UpdateComponent, simulated_image,
};
use tokio::time::Instant;

const DAY: Millis = 24 * 60 * 60 * 1000;

/// A backend whose times count from now, with one location.
async fn backend() -> (LocalBackend, String) {
    let backend = LocalBackend::new(BackendCore::in_memory(1)).with_epoch(Instant::now());
    let shop = backend
        .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
        .await
        .unwrap();
    (backend, shop.id)
}

fn query(location: &str, serial: &str, device_type: DeviceType, version: &str) -> UpdateQuery {
    UpdateQuery {
        location: location.into(),
        serial_number: serial.into(),
        device_type,
        software_version: version.into(),
    }
}

fn image(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn each_preset_answers_what_the_simulated_reader_of_the_reference_offers() {
    let (backend, shop) = backend().await;
    for (serial, preset) in [
        ("WP-NONE", SimulatedUpdatePreset::None),
        ("WP-AVAILABLE", SimulatedUpdatePreset::Available),
        ("WP-REQUIRED", SimulatedUpdatePreset::Required),
        ("WP-LOW", SimulatedUpdatePreset::LowBattery),
        ("WP-LOW-OK", SimulatedUpdatePreset::LowBatterySucceedConnect),
    ] {
        backend.set_update_preset(serial, preset);
    }
    tokio::time::advance(Duration::from_millis(3 * DAY)).await;
    let now = 3 * DAY;
    let ask =
        |serial: &'static str| backend.check_update(query(&shop, serial, DeviceType::WisePad3, "1.0.0"));

    let none = ask("WP-NONE").await.unwrap();
    assert_eq!(none.update, None);
    assert_eq!(
        none.last_latest_run_at,
        Some(now),
        "a reader owed nothing runs the latest: recorded now"
    );

    let available = ask("WP-AVAILABLE").await.unwrap().update.unwrap();
    assert_eq!(available.required_at, now + SIMULATED_AVAILABLE_DUE_MS);
    assert_eq!(available.size, SIMULATED_AVAILABLE_SIZE);
    assert_eq!(available.components, [UpdateComponent::Firmware]);

    let required = ask("WP-REQUIRED").await.unwrap();
    let update = required.update.unwrap();
    assert_eq!(
        (update.version.as_str(), update.required_at, update.size),
        (SIMULATED_UPDATE_VERSION, now - DAY, SIMULATED_REQUIRED_SIZE),
        "required: came due a day before it was offered"
    );
    assert_eq!(
        required.last_latest_run_at, None,
        "owed an update, never seen on the latest"
    );

    let low = ask("WP-LOW").await.unwrap();
    assert!(low.update.is_some());
    assert_eq!(
        low.last_latest_run_at, None,
        "low_battery: the failed update fails the connect (R15)"
    );
    let low_ok = ask("WP-LOW-OK").await.unwrap();
    assert!(low_ok.update.is_some());
    assert_eq!(
        low_ok.last_latest_run_at,
        Some(now - DAY),
        "low_battery_succeed_connect: ran the latest a day ago, so the connect succeeds (R15)"
    );

    // The image of what was offered is served, and it is what the update
    // describes.
    let bytes = backend
        .download_update(DeviceType::WisePad3, SIMULATED_UPDATE_VERSION, 0)
        .await
        .unwrap();
    assert_eq!(bytes.len(), update.size as usize);
    assert_eq!(Sha256Digest::of(&bytes), update.sha256);
    assert_eq!(bytes, simulated_image(SIMULATED_UPDATE_VERSION, update.size));

    // Once the reader runs the version the preset installs, it is owed
    // nothing and recorded as running the latest.
    tokio::time::advance(Duration::from_secs(90)).await;
    let after = backend
        .check_update(query(
            &shop,
            "WP-REQUIRED",
            DeviceType::WisePad3,
            SIMULATED_UPDATE_VERSION,
        ))
        .await
        .unwrap();
    assert_eq!(after.update, None);
    assert_eq!(after.last_latest_run_at, Some(now + 90_000));
}

#[tokio::test(start_paused = true)]
async fn a_random_preset_draws_the_same_for_the_same_seed_and_serial() {
    let draws = |seed| async move {
        let (backend, shop) = backend().await;
        backend.set_update_seed(seed);
        let mut answers = Vec::new();
        for serial in ["R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"] {
            backend.set_update_preset(serial, SimulatedUpdatePreset::Random);
            let answer = backend
                .check_update(query(&shop, serial, DeviceType::StripeM2, "1.0.0"))
                .await
                .unwrap();
            answers.push((
                answer.update.map(|u| (u.size, u.required_at)),
                answer.last_latest_run_at,
            ));
        }
        answers
    };
    let first = draws(11).await;
    assert_eq!(first, draws(11).await);
    let kinds: std::collections::BTreeSet<_> = first.iter().map(|(u, _)| u.map(|(size, _)| size)).collect();
    assert!(kinds.len() > 1, "eight readers drew one kind only: {first:?}");
}

#[tokio::test(start_paused = true)]
async fn a_reader_gets_the_latest_entry_offered_to_its_software_and_its_latest_run_is_recorded() {
    let (backend, shop) = backend().await;
    let v2 =
        CatalogEntry::new("2.0.0", vec![UpdateComponent::Config], 0, image(2, 4000)).offered_to(["1.0.0"]);
    let v3 = CatalogEntry::new("3.0.0", vec![UpdateComponent::Firmware], 10 * DAY, image(3, 9000))
        .offered_to(["2.0.0"]);
    backend
        .set_catalog(
            CatalogScope::new(shop.clone(), DeviceType::StripeM2),
            vec![v2.clone(), v3.clone()],
        )
        .unwrap();
    let ask =
        |version: &'static str, device_type| backend.check_update(query(&shop, "M2-1", device_type, version));

    tokio::time::advance(Duration::from_secs(10)).await;
    let on_1 = ask("1.0.0", DeviceType::StripeM2).await.unwrap();
    assert_eq!(on_1.update, Some(v2.update.clone()));
    assert_eq!(on_1.last_latest_run_at, None);

    tokio::time::advance(Duration::from_secs(10)).await;
    let on_2 = ask("2.0.0", DeviceType::StripeM2).await.unwrap();
    assert_eq!(on_2.update, Some(v3.update.clone()));
    assert_eq!(on_2.last_latest_run_at, None, "2.0.0 is not the latest");

    tokio::time::advance(Duration::from_secs(10)).await;
    let on_3 = ask("3.0.0", DeviceType::StripeM2).await.unwrap();
    assert_eq!(on_3.update, None);
    assert_eq!(on_3.last_latest_run_at, Some(30_000), "3.0.0 is the latest");

    // Back on old software (a reader swapped in with the same serial): owed
    // an update again, and the last latest run is still the one recorded.
    tokio::time::advance(Duration::from_secs(10)).await;
    let again = ask("1.0.0", DeviceType::StripeM2).await.unwrap();
    assert_eq!(again.update, Some(v2.update.clone()));
    assert_eq!(again.last_latest_run_at, Some(30_000));

    // Catalogs are per model: a WisePad 3 at the same shop is owed nothing.
    let other_model = ask("1.0.0", DeviceType::WisePad3).await.unwrap();
    assert_eq!(other_model.update, None);

    // Images from a byte on; past the end is refused; an unknown version
    // is missing.
    let whole = backend
        .download_update(DeviceType::StripeM2, "3.0.0", 0)
        .await
        .unwrap();
    assert_eq!(whole, v3.image);
    let rest = backend
        .download_update(DeviceType::StripeM2, "3.0.0", 8000)
        .await
        .unwrap();
    assert_eq!(rest, v3.image[8000..]);
    assert_eq!(
        backend
            .download_update(DeviceType::StripeM2, "3.0.0", 9000)
            .await
            .unwrap_err(),
        BackendError::RangeNotSatisfiable {
            id: "stripe_m2/3.0.0".into(),
            from: 9000,
            size: 9000
        }
    );
    let missing = backend
        .download_update(DeviceType::WisePad3, "3.0.0", 0)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), "resource_missing");
    assert_eq!(missing.to_string(), "no such update: `bbpos_wisepad3/3.0.0`");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_location_is_resource_missing_and_a_bad_entry_is_refused_naming_it() {
    let (backend, shop) = backend().await;
    assert_eq!(
        backend
            .check_update(query("tml_nowhere", "M2-1", DeviceType::StripeM2, "1.0.0"))
            .await
            .unwrap_err(),
        BackendError::NotFound {
            resource: "location".into(),
            id: "tml_nowhere".into(),
            param: Some("location".into())
        }
    );
    let mut forged = CatalogEntry::new("2.0.0", vec![UpdateComponent::Keys], 0, image(1, 100));
    forged.image[0] ^= 1;
    match backend
        .set_catalog(
            CatalogScope::new(shop.clone(), DeviceType::StripeM2),
            vec![forged],
        )
        .unwrap_err()
    {
        BackendError::InvalidRequest { param, .. } => assert_eq!(param.as_deref(), Some("entries[0][image]")),
        other => panic!("expected an invalid request, got {other:?}"),
    }
    let answer = backend
        .check_update(query(&shop, "M2-1", DeviceType::StripeM2, "1.0.0"))
        .await
        .unwrap();
    assert_eq!(answer.update, None, "the refused catalog was not set");
}

#[tokio::test(start_paused = true)]
async fn the_catalog_routes_take_their_own_faults_and_answer_at_the_time_the_answer_leaves() {
    let (backend, shop) = backend().await;
    backend.set_update_preset("M2-1", SimulatedUpdatePreset::Available);
    backend
        .faults()
        .set_latency(Route::CheckUpdate, Duration::from_secs(5));
    let started = Instant::now();
    let answer = backend
        .check_update(query(&shop, "M2-1", DeviceType::StripeM2, "1.0.0"))
        .await
        .unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(
        answer.update.unwrap().required_at,
        5_000 + SIMULATED_AVAILABLE_DUE_MS,
        "offered when the answer left, due 7 days later"
    );

    backend.faults().fail_next(Route::DownloadUpdate, 1);
    let failed = backend
        .download_update(DeviceType::StripeM2, SIMULATED_UPDATE_VERSION, 0)
        .await
        .unwrap_err();
    assert_eq!(failed.code(), "http_status");
    assert!(
        backend
            .download_update(DeviceType::StripeM2, SIMULATED_UPDATE_VERSION, 0)
            .await
            .is_ok()
    );
}
