//! Fuzzes the SSE decoder (with the bridge's event-size guard): the first byte chooses a
//! chunk size, the rest is the wire. Property: any chunking yields the same events as the
//! whole body delivered at once, and nothing panics.
#![no_main]

use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use wazion_mcp::upstream::EventStream;

fn decode(chunks: Vec<Bytes>) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let body = futures::stream::iter(chunks.into_iter().map(Ok::<_, reqwest::Error>));
        let mut stream = EventStream::new(body, Duration::from_secs(5), 4096);
        let mut out = Vec::new();
        while let Some(e) = stream.next().await {
            out.push(match e {
                Ok(e) => format!("{:?}|{:?}|{:?}|{}", e.id, e.data, e.retry, e.is_message),
                Err(e) => format!("error: {e:?}"),
            });
        }
        out
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, wire)) = data.split_first() else { return };
    let size = usize::from(size).max(1);
    let whole = decode(vec![Bytes::copy_from_slice(wire)]);
    let chunked = decode(wire.chunks(size).map(Bytes::copy_from_slice).collect());
    assert_eq!(whole, chunked);
});
