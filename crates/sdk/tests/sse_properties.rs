//! The `text/event-stream` parser over generated input: any bytes in any chunking never panic
//! and give the same events as the whole stream at once; events written out parse back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::{ProptestConfig, any, prop_assert_eq, proptest};
use proptest::{collection, option};
use switchyard_sdk::sse::{Event, EventParser};

fn parse_in_chunks(stream: &[u8], cuts: &[usize]) -> Vec<Event> {
    let mut parser = EventParser::default();
    let mut events = Vec::new();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts.into_iter().chain([stream.len()]) {
        events.extend(parser.feed(&stream[start..cut]));
        start = cut;
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes (biased towards the format's own bytes) in arbitrary chunks.
    #[test]
    fn chunking_never_changes_the_events(
        stream in collection::vec(
            proptest::prop_oneof![
                1 => any::<u8>(),
                3 => proptest::sample::select(b"\n\r: dataeventid\xc3\xa9".to_vec()),
            ],
            0..300,
        ),
        cuts in collection::vec(any::<usize>(), 0..8),
    ) {
        let whole = EventParser::default().feed(&stream);
        prop_assert_eq!(parse_in_chunks(&stream, &cuts), whole);
    }

    /// Events written as the server writes them (with comments as heartbeats, `\n` or `\r\n`)
    /// parse back to themselves.
    #[test]
    fn written_events_parse_back(
        events in collection::vec(
            (option::of("[^\r\n]{0,8}"), "[^\r\n]{0,8}", collection::vec("[^\r\n]{0,12}", 1..4)),
            0..5,
        ),
        crlf in any::<bool>(),
        cuts in collection::vec(any::<usize>(), 0..8),
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut stream = String::new();
        for (id, name, data) in &events {
            stream.push_str(&format!(":heartbeat{end}"));
            if let Some(id) = id {
                stream.push_str(&format!("id: {id}{end}"));
            }
            stream.push_str(&format!("event: {name}{end}"));
            for line in data {
                stream.push_str(&format!("data: {line}{end}"));
            }
            stream.push_str(end);
        }
        let expected: Vec<Event> = events
            .into_iter()
            .map(|(id, name, data)| Event { id, name, data: data.join("\n") })
            .collect();
        prop_assert_eq!(parse_in_chunks(stream.as_bytes(), &cuts), expected);
    }
}
