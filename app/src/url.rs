//! Percent-encoding for the few URLs the pages and the server build by hand.

/// Encodes everything but RFC 3986's unreserved characters, so the result is safe in a query
/// value or a path segment.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode_component;

    #[test]
    fn reserved_and_non_ascii_characters_are_encoded() {
        assert_eq!(encode_component("/a b?c=d&e"), "%2Fa%20b%3Fc%3Dd%26e");
        assert_eq!(encode_component("ä"), "%C3%A4");
        assert_eq!(encode_component("safe-_.~"), "safe-_.~");
    }
}
