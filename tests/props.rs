//! Property tests for the byte-level pieces every message goes through: the envelope
//! classifier, whitespace compaction, id replacement, and SSE decoding under any chunking.
//! (Issue 3 §4; the same properties are fuzzed by the targets in `fuzz/`.)

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::Value;
use wazion_mcp::jsonrpc::{self, Kind, Payload};
use wazion_mcp::upstream::EventStream;

/// Arbitrary JSON values (bounded depth and size).
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Arbitrary raw id texts: integers (also beyond i64), strings, decimals.
fn any_id() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        "[1-9][0-9]{18,25}",
        "[1-9][0-9]{0,2}\\.[0-9]{1,3}",
        ".{0,10}".prop_map(|s| Value::from(s).to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn classifier_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = jsonrpc::parse(&bytes);
    }

    #[test]
    fn classifier_recognises_each_shape_and_keeps_the_raw_id(
        id in any_id(), method in "[a-z/]{1,20}", params in any_json(), result in any_json()
    ) {
        let request = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#);
        match jsonrpc::parse(request.as_bytes()) {
            Ok(Payload::Single(e)) => {
                prop_assert_eq!(e.kind, Kind::Request);
                prop_assert_eq!(e.id_key(), Some(id.as_str()));
            }
            other => prop_assert!(false, "{:?}", other),
        }
        let notification = format!(r#"{{"method":"{method}","params":{params},"jsonrpc":"2.0"}}"#);
        match jsonrpc::parse(notification.as_bytes()) {
            Ok(Payload::Single(e)) => prop_assert_eq!(e.kind, Kind::Notification),
            other => prop_assert!(false, "{:?}", other),
        }
        let response = format!(r#"{{"result":{result},"id":{id},"jsonrpc":"2.0"}}"#);
        match jsonrpc::parse(response.as_bytes()) {
            Ok(Payload::Single(e)) => {
                prop_assert_eq!(e.kind, Kind::Response);
                prop_assert_eq!(e.id_key(), Some(id.as_str()));
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn compaction_keeps_the_value_and_leaves_one_line(v in any_json()) {
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        let compacted = jsonrpc::compact(pretty.as_bytes());
        prop_assert!(!compacted.contains(&b'\n') && !compacted.contains(&b'\r'));
        // Compared as parsed from the same digits (f64 parsing is not exact in serde_json).
        let back: Value = serde_json::from_slice(&compacted).unwrap();
        let original: Value = serde_json::from_str(&pretty).unwrap();
        prop_assert_eq!(back, original);
        let one_line = serde_json::to_string(&v).unwrap();
        prop_assert_eq!(&*jsonrpc::compact(one_line.as_bytes()), one_line.as_bytes());
    }

    #[test]
    fn with_id_changes_nothing_but_the_id(old in any_id(), new in any_id(), error in any_json()) {
        let body = format!(r#"{{"jsonrpc":"2.0","error":{error},"id":{old}}}"#);
        let replaced = jsonrpc::with_id(body.as_bytes(), &new);
        let expected = format!(r#"{{"jsonrpc":"2.0","error":{error},"id":{new}}}"#);
        prop_assert_eq!(std::str::from_utf8(&replaced).unwrap(), expected);
    }

    #[test]
    fn sse_decoding_is_independent_of_chunking(
        events in prop::collection::vec(("[a-z0-9]{0,6}", any_json()), 1..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        crlf in any::<bool>(),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut wire = String::from(": keep-alive comment");
        wire.push_str(nl);
        wire.push_str(nl);
        let mut expected = Vec::new();
        for (id, v) in &events {
            // Pretty-printed data spans several `data:` lines, joined back with `\n`.
            let data = serde_json::to_string_pretty(v).unwrap();
            if !id.is_empty() {
                wire.push_str(&format!("id: {id}{nl}"));
            }
            for line in data.split('\n') {
                wire.push_str(&format!("data: {line}{nl}"));
            }
            wire.push_str(nl);
            expected.push((id.clone(), data));
        }
        let bytes = wire.into_bytes();
        let mut positions: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        positions.sort_unstable();
        positions.dedup();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in positions.into_iter().chain([bytes.len()]) {
            chunks.push(Bytes::copy_from_slice(&bytes[last..p]));
            last = p;
        }
        let got = decode(chunks);
        let got: Vec<(String, String)> = got
            .into_iter()
            .filter(|(_, d)| d.is_some())
            .map(|(id, d)| (id.unwrap_or_default(), d.unwrap_or_default()))
            .collect();
        prop_assert_eq!(got, expected);
    }
}

/// Runs the bridge's SSE decoder over the given chunks; returns (id, data) per event.
fn decode(chunks: Vec<Bytes>) -> Vec<(Option<String>, Option<String>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let body = futures::stream::iter(chunks.into_iter().map(Ok::<_, reqwest::Error>));
        let mut stream = EventStream::new(body, Duration::from_secs(5), 1 << 20);
        let mut out = Vec::new();
        while let Some(e) = stream.next().await {
            let e = e.expect("valid stream");
            out.push((e.id, e.data));
        }
        out
    })
}

#[test]
fn an_event_over_the_limit_ends_the_stream_with_an_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let big = format!("data: {}\n\n", "x".repeat(4096));
        let chunks = vec![
            Ok::<_, reqwest::Error>(Bytes::from("data: {}\n\n")),
            Ok(Bytes::from(big)),
        ];
        let mut stream =
            EventStream::new(futures::stream::iter(chunks), Duration::from_secs(5), 1024);
        assert_eq!(
            stream.next().await.unwrap().unwrap().data.as_deref(),
            Some("{}")
        );
        let err = stream.next().await.unwrap().unwrap_err();
        assert!(
            matches!(err, wazion_mcp::upstream::NetError::TooLarge(_)),
            "{err:?}"
        );
    });
}
