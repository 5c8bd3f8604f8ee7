//! A parser for `text/event-stream` (server-sent events), shared by the SDK's sync and by
//! anything else that follows a Switchyard stream.

/// One server-sent event.
#[derive(Debug, Default, PartialEq)]
pub struct Event {
    /// The `id:` field (a revision), when sent.
    pub id: Option<String>,
    pub name: String,
    pub data: String,
}

/// Splits a byte stream into events (the `text/event-stream` format; comments are heartbeats).
#[derive(Debug, Default)]
pub struct EventParser {
    buffer: Vec<u8>,
    id: Option<String>,
    name: String,
    data: Vec<String>,
}

impl EventParser {
    /// Takes the next bytes; returns the events they complete.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(Event {
                        id: self.id.take(),
                        name: std::mem::take(&mut self.name),
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
                self.name.clear();
                self.id = None;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => self.id = Some(value.to_owned()),
                "event" => self.name = value.to_owned(),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_heartbeats_are_skipped() {
        let mut parser = EventParser::default();
        assert!(parser.feed(b":\n\nid: 3\nevent: put\nda").is_empty());
        let events =
            parser.feed(b"ta: {\"a\":1}\n\n:\n\nevent: patch\r\ndata: x\r\ndata: y\r\n\r\n");
        assert_eq!(
            events,
            vec![
                Event {
                    id: Some("3".into()),
                    name: "put".into(),
                    data: "{\"a\":1}".into()
                },
                Event {
                    id: None,
                    name: "patch".into(),
                    data: "x\ny".into()
                },
            ]
        );
    }
}
