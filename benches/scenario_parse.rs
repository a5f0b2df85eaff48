//! Parsing scenario files of 1,000, 10,000 and 100,000 steps, against a
//! baseline measured in the same run: `toml` reading the same text into a
//! plain table, the least any TOML scenario format must do. Parsing must be
//! linear in the file's size (line numbers were once counted from the
//! start of the file for every key: 10,000 steps took 7 s, 100,000 twelve
//! minutes). See benches/README.md.
//!
//! Each file has the four readers of the example fleet, a location, and
//! steps cycling through timed and event-triggered world and app actions,
//! then a few expectations — what a long generated scenario looks like.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// A scenario of `steps` steps.
fn scenario(steps: usize) -> String {
    let mut text = String::from("name = \"long\"\nseed = 3\n\n");
    for (serial, device) in [
        ("CHB20-0001", "bbpos_chipper2x"),
        ("WPC32-0001", "bbpos_wisepad3"),
        ("STRM2-0001", "stripe_m2"),
        ("STRM2-0002", "stripe_m2"),
    ] {
        text.push_str(&format!(
            "[[readers]]\nserial = \"{serial}\"\ndevice_type = \"{device}\"\ndistance_m = 1.0\nbattery = 0.9\nsoftware_version = \"3.1.0\"\n\n"
        ));
    }
    text.push_str("[[locations]]\nname = \"shop\"\n\n");
    for i in 0..steps {
        let serial = ["CHB20-0001", "WPC32-0001", "STRM2-0001", "STRM2-0002"][i % 4];
        let trigger = if i % 5 == 4 {
            format!("after = {{ event = \"CardInserted\", serial_number = \"{serial}\" }}\ndelay = \"1s\"")
        } else {
            format!("at = \"{}ms\"", i * 10)
        };
        let action = match i % 4 {
            0 => format!("action = \"insert_card\"\nserial = \"{serial}\""),
            1 => format!("action = \"set_battery\"\nserial = \"{serial}\"\nlevel = 0.5"),
            2 => format!("action = \"connect\"\nserial = \"{serial}\"\nlocation = \"shop\""),
            _ => format!("action = \"lose_link\"\nserial = \"{serial}\"\nfor = \"2s\""),
        };
        text.push_str(&format!("[[steps]]\n{trigger}\n{action}\n\n"));
    }
    text.push_str(
        "[expect]\nsequence = [ { event = \"Connected\", serial_number = \"STRM2-0001\" } ]\n\
         absent = [ { event = \"Disconnected\", reason = \"critically_low_battery\" } ]\n",
    );
    text
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("scenario_parse");
    group.sample_size(10);
    for steps in [1_000, 10_000, 100_000] {
        let text = scenario(steps);
        assert!(
            readerlink::scenario::parse(&text, None, None).is_ok(),
            "the generated scenario is valid"
        );
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse", steps), &text, |b, text| {
            b.iter(|| readerlink::scenario::parse(black_box(text), None, None))
        });
        group.bench_with_input(
            BenchmarkId::new("toml_table_baseline", steps),
            &text,
            |b, text| b.iter(|| toml::from_str::<toml::Table>(black_box(text))),
        );
        group.bench_with_input(
            BenchmarkId::new("toml_borrowed_spans", steps),
            &text,
            |b, text| b.iter(|| toml::de::DeTable::parse(black_box(text)).map(|t| t.into_inner().len())),
        );
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
