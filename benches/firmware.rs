//! The host side of an install (R19) on a 1 MiB image: verify (signature,
//! expiry, device type, rollback, size, SHA-256 digest), then cut into
//! 512-byte `UpdateChunk` frames (`firmware::prepare_install`). Target:
//! at least 20 MB/s on one core. Baseline in the same run: the SHA-256 of
//! the image alone, the least any digest-checking host must do.
//!
//! `cargo bench --bench firmware -- --warm-up-time 1 --measurement-time 3`.
//! Results: `benches/README.md`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use readerlink::firmware::{Expectation, Manifest, SigningKey, TrustedKeys, prepare_install, sign, verify};
use readerlink::protocol::MAX_CHUNK_LEN;
use readerlink::reader::DeviceType;
use readerlink::updater::Sha256Digest;

const IMAGE_LEN: usize = 1024 * 1024;

fn pipeline(c: &mut Criterion) {
    let image: Vec<u8> = (0..IMAGE_LEN)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let key = SigningKey::from_bytes(&[7; 32]);
    let trusted = TrustedKeys::new().with(key.public_key());
    let signed = sign(
        &Manifest::for_image("3.2.0", DeviceType::StripeM2, &image, u64::MAX),
        &key,
    );
    let expectation = Expectation {
        device_type: DeviceType::StripeM2,
        installed_version: "3.1.0".into(),
        now: 0,
    };

    let mut group = c.benchmark_group("firmware_1mib");
    group.throughput(Throughput::Bytes(IMAGE_LEN as u64));
    group.bench_function("a_prepare_install", |b| {
        b.iter(|| {
            let prepared =
                prepare_install(&signed, &image, &trusted, &expectation, MAX_CHUNK_LEN as u16).unwrap();
            assert_eq!(prepared.chunks.len(), IMAGE_LEN / MAX_CHUNK_LEN);
            prepared
        })
    });
    group.bench_function("b_verify_only", |b| {
        b.iter(|| verify(&signed, &image, &trusted, &expectation).unwrap().key_id)
    });
    group.bench_function("c_sha256_baseline", |b| b.iter(|| Sha256Digest::of(&image)));
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
