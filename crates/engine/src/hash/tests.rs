#![allow(clippy::unwrap_used)]

use super::*;

/// Plain, non-streaming reference implementation (the textbook algorithm over one slice).
fn murmur_reference(data: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    let mut k: u32 = 0;
    if tail.len() >= 3 {
        k ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        k ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        k ^= u32::from(tail[0]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    fmix32(h)
}

#[test]
fn finish_with_equals_update_then_finish() {
    let data: Vec<u8> = (0u8..40)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    for seed in [0, UNLEASH_VARIANT_SEED] {
        for prefix_len in 0..12 {
            let mut prefix = Murmur3::new(seed);
            prefix.update(&data[..prefix_len]);
            for value_len in 0..20 {
                let value = &data[prefix_len..prefix_len + value_len];
                let mut streamed = prefix;
                streamed.update(value);
                assert_eq!(
                    prefix.finish_with(value),
                    streamed.finish(),
                    "{prefix_len} + {value_len}"
                );
            }
        }
    }
}

#[test]
fn murmur3_known_answers() {
    // Widely published MurmurHash3_x86_32 vectors (SMHasher / Wikipedia).
    assert_eq!(murmur3_x86_32(&[b""], 0), 0);
    assert_eq!(murmur3_x86_32(&[], 0), 0);
    assert_eq!(murmur3_x86_32(&[b""], 1), 0x514e_28b7);
    assert_eq!(murmur3_x86_32(&[b""], 0xffff_ffff), 0x81f1_6f39);
    assert_eq!(murmur3_x86_32(&[b"\0\0\0\0"], 0), 0x2362_f9de);
    assert_eq!(murmur3_x86_32(&[b"aaaa"], 0x9747_b28c), 0x5a97_808a);
    assert_eq!(murmur3_x86_32(&[b"abc"], 0), 0xb3dd_93fa);
    assert_eq!(
        murmur3_x86_32(&[b"Hello, world!"], 0x9747_b28c),
        0x2488_4cba
    );
    assert_eq!(
        murmur3_x86_32(
            &[b"The quick brown fox jumps over the lazy dog"],
            0x9747_b28c
        ),
        0x2fa8_26cd
    );
}

#[test]
fn murmur3_streaming_equals_concatenation_for_every_split() {
    let data: Vec<u8> = (0u8..=40)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    for len in 0..data.len() {
        let d = &data[..len];
        let want = murmur_reference(d, 42);
        assert_eq!(murmur3_x86_32(&[d], 42), want);
        for a in 0..=len {
            for b in a..=len {
                let got = murmur3_x86_32(&[&d[..a], &d[a..b], &[], &d[b..]], 42);
                assert_eq!(got, want, "len {len} split {a} {b}");
            }
        }
    }
}

#[test]
fn native_vectors_from_product_md() {
    // shared/product.md, "Native bucketing".
    let cases: [(&str, &str, u32, u32); 6] = [
        ("new-checkout.f3a9c1", "user-1", 3_485_376_019, 81_150),
        ("new-checkout.f3a9c1", "user-2", 451_685_800, 10_516),
        ("new-checkout.f3a9c1", "42", 1_410_749_679, 32_846),
        ("new-checkout.f3a9c1", "Zoë", 4_237_996_573, 98_673),
        ("exp-2026-q4", "tenant-acme", 2_896_862_252, 67_447),
        ("release-7f2c", "user-1", 1_543_032_693, 35_926),
    ];
    for (prefix, value, hash, bucket) in cases {
        let h = murmur3_x86_32(&[prefix.as_bytes(), b".", value.as_bytes()], 0);
        assert_eq!(h, hash, "{prefix} {value}");
        let joined = format!("{prefix}.{value}");
        assert_eq!(murmur_reference(joined.as_bytes(), 0), hash);
        assert_eq!(native_bucket(prefix, value), bucket, "{prefix} {value}");
    }
}

#[test]
fn native_bucket_range_ends() {
    assert_eq!(native_bucket_of_hash(0), 0);
    assert_eq!(native_bucket_of_hash(u32::MAX), 99_999);
}

#[test]
fn unleash_vectors() {
    // Unleash/unleash-client-node src/test/strategy/util.test.ts and
    // Unleash/unleash-client-java src/test/java/io/getunleash/strategy/StrategyUtilsTest.java:
    // normalizedValue('123', 'gr1') = 73, normalizedValue('999', 'groupX') = 25,
    // with VARIANT_NORMALIZATION_SEED: 96 and 60.
    assert_eq!(unleash_normalized("gr1", "123", 100, 0), Some(73));
    assert_eq!(unleash_normalized("groupX", "999", 100, 0), Some(25));
    assert_eq!(
        unleash_normalized("gr1", "123", 100, UNLEASH_VARIANT_SEED),
        Some(96)
    );
    assert_eq!(
        unleash_normalized("groupX", "999", 100, UNLEASH_VARIANT_SEED),
        Some(60)
    );
    assert_eq!(unleash_hash("gr1", "123", 0) % 100 + 1, 73);
    assert_eq!(unleash_normalized("gr1", "123", 0, 0), None);
}

const LD_TOLERANCE: f32 = 0.000_000_1;

fn assert_close(got: f32, want: f32) {
    assert!((got - want).abs() <= LD_TOLERANCE, "got {got}, want {want}");
}

#[test]
fn launchdarkly_vectors() {
    // launchdarkly/rust-server-sdk-evaluation src/variation.rs, consistency_tests
    // (bucket_context_by_key, bucket_context_by_key_with_seed, bucket_context_by_int_attr).
    assert_close(
        launchdarkly_bucket("hashKey.saltyA", "userKeyA"),
        0.421_575_87,
    );
    assert_close(
        launchdarkly_bucket("hashKey.saltyA", "userKeyB"),
        0.670_848_5,
    );
    assert_close(
        launchdarkly_bucket("hashKey.saltyA", "userKeyC"),
        0.103_431_06,
    );
    assert_close(launchdarkly_bucket("61", "userKeyA"), 0.098_012_07);
    assert_close(launchdarkly_bucket("61", "userKeyB"), 0.144_837_77);
    assert_close(launchdarkly_bucket("61", "userKeyC"), 0.924_264_1);
    assert_close(launchdarkly_bucket("60", "userKeyA"), 0.700_881_6);
    let mut buf = [0u8; 20];
    assert_close(
        launchdarkly_bucket("hashKey.saltyA", format_i64(33_333, &mut buf)),
        0.547_714_23,
    );
    assert_close(launchdarkly_bucket("hashKey.saltyA", "99999"), 0.730_965_8);
    // segment.rs: segment key "test", salt "salty".
    assert_close(
        launchdarkly_bucket("segkey.salty", "userKeyA"),
        0.145_747_53,
    );
    assert_close(
        launchdarkly_bucket("segkey.salty", "userKeyZ"),
        0.456_792_15,
    );
    assert_eq!(
        launchdarkly_bucket_parts(&[b"hashKey", b".", b"saltyA", b".", b"userKeyA"]),
        launchdarkly_bucket("hashKey.saltyA", "userKeyA")
    );
}

/// The same computation the way LaunchDarkly writes it: hex-encode, take 15 digits, parse.
fn ld_reference(input: &str) -> f32 {
    let hex = sha1_smol::Sha1::from(input).digest().to_string();
    let numhash = i64::from_str_radix(&hex[..15], 16).unwrap();
    numhash as f32 / (0x0FFF_FFFF_FFFF_FFFF_i64 as f32)
}

#[test]
fn launchdarkly_bit_exact_against_hex_reference() {
    for i in 0..2000 {
        let value = format!("user-{i}");
        let got = launchdarkly_bucket("flag.salt", &value);
        let want = ld_reference(&format!("flag.salt.{value}"));
        assert_eq!(got.to_bits(), want.to_bits(), "{value}");
    }
    assert_eq!(
        0x0FFF_FFFF_FFFF_FFFF_i64 as f32,
        1_152_921_504_606_846_976.0_f32
    );
}

#[test]
fn launchdarkly_rollouts() {
    // variation_index_for_context: 60/40 → A: 0, B: 1, C: 0.
    let w = [60_000.0, 40_000.0];
    for (key, want) in [("userKeyA", 0), ("userKeyB", 1), ("userKeyC", 0)] {
        let b = launchdarkly_bucket("hashKey.saltyA", key);
        assert_eq!(launchdarkly_rollout_index(b, w), Some(want), "{key}");
    }
    // testing_experiment_bucketing / variation_index_for_context_in_experiment: 10/20/70.
    let w = [10_000.0, 20_000.0, 70_000.0];
    for (prefix, key, want) in [
        ("hashKey.saltyA", "userKeyA", 2),
        ("hashKey.saltyA", "userKeyB", 2),
        ("hashKey.saltyA", "userKeyC", 1),
        ("61", "userKeyA", 0),
        ("61", "userKeyB", 1),
        ("61", "userKeyC", 2),
    ] {
        let b = launchdarkly_bucket(prefix, key);
        assert_eq!(
            launchdarkly_rollout_index(b, w),
            Some(want),
            "{prefix} {key}"
        );
    }
    // Beyond the last boundary: pinned to the last variation.
    assert_eq!(launchdarkly_rollout_index(0.5, [5_000.0, 5_000.0]), Some(1));
    assert_eq!(
        launchdarkly_rollout_index(1.0, [50_000.0, 50_000.0]),
        Some(1)
    );
    assert_eq!(launchdarkly_rollout_index(0.0, []), None);
    assert_eq!(launchdarkly_rollout_index(0.0, [0.0, 100_000.0]), Some(1));
}

#[test]
fn launchdarkly_segment_weights() {
    assert!(launchdarkly_segment_weight_matches(0.2, Some(30_000.0)));
    assert!(!launchdarkly_segment_weight_matches(0.3, Some(30_000.0)));
    assert!(launchdarkly_segment_weight_matches(0.9, None));
    assert!(launchdarkly_segment_weight_matches(0.9, Some(-1.0)));
    assert!(!launchdarkly_segment_weight_matches(0.0, Some(0.0)));
}

#[test]
fn launchdarkly_bucketable_numbers() {
    assert_eq!(launchdarkly_bucketable_int(33_333.0), Some(33_333));
    assert_eq!(launchdarkly_bucketable_int(-7.0), Some(-7));
    assert_eq!(launchdarkly_bucketable_int(-0.0), Some(0));
    assert_eq!(launchdarkly_bucketable_int(999.999), None);
    assert_eq!(launchdarkly_bucketable_int(f64::NAN), None);
    assert_eq!(launchdarkly_bucketable_int(f64::INFINITY), None);
    assert_eq!(
        launchdarkly_bucketable_int(9_007_199_254_740_991.0),
        Some(9_007_199_254_740_991)
    );
    assert_eq!(launchdarkly_bucketable_int(9_007_199_254_740_992.0), None);
}

#[test]
fn format_i64_cases() {
    let mut buf = [0u8; 20];
    for v in [
        0,
        1,
        -1,
        9,
        10,
        -10,
        42,
        -42,
        1_234_567_890,
        i64::MAX,
        i64::MIN,
        i64::MIN + 1,
        9_007_199_254_740_991,
    ] {
        assert_eq!(format_i64(v, &mut buf), v.to_string());
    }
    assert_eq!(format_i64(i64::MIN, &mut buf), "-9223372036854775808");
    assert_eq!(format_i64(0, &mut buf), "0");
}
