//! The update catalog over the real HTTP path on real time: the local
//! backend server on 127.0.0.1:0 and `HttpBackend` talking to it. The
//! check answers a reader's preset; the image comes whole, or from a byte
//! on (206 with `Content-Range`); a body cut mid-way is resumed with a
//! `Range` request from the bytes already received, a bounded number of
//! times; a range past the end is 416 in the JSON error shape.

mod common;

use std::time::{Duration, Instant};

use readerlink::backend::{
    Backend, BackendError, BackendServer, CatalogEntry, CatalogScope, CreateLocation, FaultInjector,
    HttpBackend, HttpBackendConfig, Route, RunningServer, ServerConfig, UpdateQuery,
};
use readerlink::reader::DeviceType;
use readerlink::runtime::Millis;
use readerlink::secret::Secret;
use readerlink::updater::{
    SIMULATED_REQUIRED_SIZE, SIMULATED_UPDATE_VERSION, Sha256Digest, SimulatedUpdatePreset, UpdateComponent,
    simulated_image,
};
use serde_json::Value;

const KEY: &str = "sk_test_catalog";

struct World {
    server: RunningServer,
    faults: FaultInjector,
    epoch: Instant,
    shop: String,
}

async fn start() -> World {
    common::init_tracing();
    let faults = FaultInjector::default();
    let epoch = Instant::now();
    let mut config = ServerConfig::ephemeral(Secret::new(KEY));
    config.faults = faults.clone();
    config.epoch = Some(epoch);
    config.update_presets = vec![("WP-REQUIRED".into(), SimulatedUpdatePreset::Required)];
    let server = BackendServer::start(config).expect("the server starts on an ephemeral port");
    let shop = client(&server, 3)
        .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
        .await
        .unwrap()
        .id;
    World {
        server,
        faults,
        epoch,
        shop,
    }
}

fn client(server: &RunningServer, download_resumes: u32) -> HttpBackend {
    let mut config = HttpBackendConfig::new(server.url(), Secret::new(KEY));
    config.retries = 0;
    config.timeout = Duration::from_secs(5);
    config.download_resumes = download_resumes;
    HttpBackend::new(config).unwrap()
}

fn query(location: &str, serial: &str, version: &str) -> UpdateQuery {
    UpdateQuery {
        location: location.into(),
        serial_number: serial.into(),
        device_type: DeviceType::WisePad3,
        software_version: version.into(),
    }
}

fn elapsed_ms(since: Instant) -> Millis {
    since.elapsed().as_millis() as Millis
}

#[tokio::test]
async fn a_check_answers_the_readers_preset_and_the_image_comes_whole() {
    let world = start().await;
    let backend = client(&world.server, 0);
    let before = elapsed_ms(world.epoch);
    let answer = backend
        .check_update(query(&world.shop, "WP-REQUIRED", "1.0.0"))
        .await
        .unwrap();
    let after = elapsed_ms(world.epoch);
    let update = answer.update.expect("the required preset offers an update");
    assert_eq!(update.version, SIMULATED_UPDATE_VERSION);
    assert!(
        update.required_at <= before && before <= after,
        "required already when offered, on the server's epoch: {} <= {before}",
        update.required_at
    );
    assert_eq!(answer.last_latest_run_at, None);

    let image = backend
        .download_update(DeviceType::WisePad3, &update.version, 0)
        .await
        .unwrap();
    assert_eq!(image.len(), SIMULATED_REQUIRED_SIZE as usize);
    assert_eq!(Sha256Digest::of(&image), update.sha256);

    // A reader with no preset and no catalog is owed nothing, and is
    // recorded as running the latest.
    let plain = backend
        .check_update(query(&world.shop, "WP-OTHER", "1.0.0"))
        .await
        .unwrap();
    assert_eq!(plain.update, None);
    assert!(
        plain
            .last_latest_run_at
            .is_some_and(|t| t <= elapsed_ms(world.epoch))
    );

    // A catalog entry set on the server's core is served too.
    let entry = CatalogEntry::new(
        "2.0.0",
        vec![UpdateComponent::Keys],
        0,
        (0..5000u32).map(|i| i as u8).collect(),
    );
    world
        .server
        .core()
        .lock()
        .unwrap()
        .set_catalog(
            CatalogScope::new(world.shop.clone(), DeviceType::WisePad3),
            vec![entry.clone()],
        )
        .unwrap();
    let answer = backend
        .check_update(query(&world.shop, "WP-OTHER", "1.0.0"))
        .await
        .unwrap();
    assert_eq!(answer.update, Some(entry.update.clone()));
    assert_eq!(
        backend
            .download_update(DeviceType::WisePad3, "2.0.0", 1000)
            .await
            .unwrap(),
        entry.image[1000..]
    );

    assert_eq!(
        backend
            .check_update(query("tml_nowhere", "WP-OTHER", "1.0.0"))
            .await
            .unwrap_err(),
        BackendError::NotFound {
            resource: "location".into(),
            id: "tml_nowhere".into(),
            param: Some("location".into())
        }
    );
    assert_eq!(
        backend
            .download_update(DeviceType::StripeM2, "2.0.0", 0)
            .await
            .unwrap_err(),
        BackendError::NotFound {
            resource: "update".into(),
            id: "stripe_m2/2.0.0".into(),
            param: None
        }
    );
    world.server.stop().await;
}

#[tokio::test]
async fn a_body_cut_mid_way_is_resumed_from_the_bytes_received() {
    let world = start().await;
    let backend = client(&world.server, 3);
    backend
        .check_update(query(&world.shop, "WP-REQUIRED", "1.0.0"))
        .await
        .unwrap();
    let expected = simulated_image(SIMULATED_UPDATE_VERSION, SIMULATED_REQUIRED_SIZE);

    // Two bodies cut after 100 000 bytes: the first answer (whole image)
    // and the first resume (from byte 100 000); the second resume brings
    // the rest.
    world.faults.cut_next_bodies(Route::DownloadUpdate, 100_000, 2);
    let image = backend
        .download_update(DeviceType::WisePad3, SIMULATED_UPDATE_VERSION, 0)
        .await
        .unwrap();
    assert_eq!(image.len(), expected.len());
    assert!(image == expected, "the resumed image differs from the image");
    assert_eq!(
        world.faults.take_body_cut(Route::DownloadUpdate),
        None,
        "both cuts were used"
    );

    // With one resume allowed, two cuts leave it incomplete: 100 000 bytes
    // from the first answer, 100 000 more from the resume.
    world.faults.cut_next_bodies(Route::DownloadUpdate, 100_000, 2);
    let err = client(&world.server, 1)
        .download_update(DeviceType::WisePad3, SIMULATED_UPDATE_VERSION, 0)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        BackendError::DownloadIncomplete {
            route: "download_update".into(),
            received: 200_000,
            expected: SIMULATED_REQUIRED_SIZE,
            resumes: 1
        }
    );
    assert_eq!(err.code(), "download_incomplete");

    // A download asked from a byte on, cut too, ends at the same bytes.
    world.faults.cut_next_bodies(Route::DownloadUpdate, 50_000, 1);
    let tail = backend
        .download_update(DeviceType::WisePad3, SIMULATED_UPDATE_VERSION, 150_000)
        .await
        .unwrap();
    assert!(tail == expected[150_000..], "the resumed tail differs");
    world.server.stop().await;
}

#[tokio::test]
async fn a_range_is_answered_206_and_one_past_the_end_416_in_the_error_shape() {
    let world = start().await;
    let backend = client(&world.server, 0);
    backend
        .check_update(query(&world.shop, "WP-REQUIRED", "1.0.0"))
        .await
        .unwrap();
    let size = SIMULATED_REQUIRED_SIZE;
    let url = format!(
        "{}/v1/terminal/updates/bbpos_wisepad3/{SIMULATED_UPDATE_VERSION}/image",
        world.server.url()
    );
    let http = reqwest::Client::new();
    let get = |range: Option<String>| {
        let mut request = http.get(&url).bearer_auth(KEY);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        request.send()
    };

    let whole = get(None).await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.bytes().await.unwrap().len(), size as usize);

    let partial = get(Some("bytes=1000-".into())).await.unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(
        partial.headers()["content-range"],
        format!("bytes 1000-{}/{size}", size - 1).as_str()
    );
    assert_eq!(partial.bytes().await.unwrap().len(), size as usize - 1000);

    let past = get(Some(format!("bytes={size}-"))).await.unwrap();
    assert_eq!(past.status(), 416);
    assert_eq!(
        past.headers()["content-range"],
        format!("bytes */{size}").as_str()
    );
    let body: Value = past.json().await.unwrap();
    assert_eq!(body["error"]["code"], "range_not_satisfiable", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());

    let odd = get(Some("bytes=0-99".into())).await.unwrap();
    assert_eq!(odd.status(), 400, "only bytes=N- is served");
    let body: Value = odd.json().await.unwrap();
    assert_eq!(body["error"]["param"], "Range", "{body}");

    assert_eq!(
        backend
            .download_update(DeviceType::WisePad3, SIMULATED_UPDATE_VERSION, size)
            .await
            .unwrap_err(),
        BackendError::RangeNotSatisfiable {
            id: format!("bbpos_wisepad3/{SIMULATED_UPDATE_VERSION}"),
            from: size,
            size
        }
    );
    world.server.stop().await;
}
