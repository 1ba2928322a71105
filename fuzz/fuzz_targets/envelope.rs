//! Fuzzes everything the bridge does to raw message bytes: classification, id sniffing,
//! id replacement and compaction. Properties checked beyond "never panics":
//! compaction yields one line that parses to the same JSON as its input, and leaves
//! one-line input untouched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wazion_mcp::jsonrpc;

fuzz_target!(|data: &[u8]| {
    let _ = jsonrpc::parse(data);
    let _ = jsonrpc::sniff_id(data);
    let _ = jsonrpc::with_id(data, "\"fuzz\"");
    let _ = jsonrpc::initialize_result_version(data);
    let compacted = jsonrpc::compact(data);
    if let Ok(original) = serde_json::from_slice::<serde_json::Value>(data) {
        assert!(!compacted.contains(&b'\n') && !compacted.contains(&b'\r'));
        let back: serde_json::Value = serde_json::from_slice(&compacted).expect("compaction broke valid JSON");
        assert_eq!(back, original);
        if !data.contains(&b'\n') && !data.contains(&b'\r') {
            assert_eq!(&*compacted, data);
        }
    }
});
