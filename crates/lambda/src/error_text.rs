//! How an error reads in a result, a log line or a doctor's check: its own text and each of its
//! sources', once each.

/// An error and its sources, joined: `Display` of each level says only its own part.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
