//! The request's work, run in spawn_blocking: parse the JSON body, tokenize
//! the prompt and render the token ids. tidepool's frontend does the same, so
//! the two produce the same bytes.

use serde::Deserialize;

// GPT-2's vocabulary size: ids land in the same range as a real tokenizer's.
const VOCABULARY: u32 = 50_257;
const FNV_OFFSET: u32 = 2_166_136_261;
const FNV_PRIME: u32 = 16_777_619;
const IDS_PER_LINE: usize = 16;

#[derive(Deserialize)]
struct GenerateRequest {
    prompt: String,
}

fn token_id(token: &[u8]) -> u32 {
    let hash = token.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(FNV_PRIME)
    });
    hash % VOCABULARY
}

// Not u8::is_ascii_whitespace, which leaves out vertical tab (0x0b): the
// protocol follows C's isspace.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Token ids of `text`: each maximal run of ASCII alphanumerics is a token,
/// and so is every other byte that is not whitespace (punctuation, and each
/// byte of a multi-byte UTF-8 character alike).
pub fn tokenize(text: &[u8]) -> Vec<u32> {
    let mut ids = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if is_space(b) {
            i += 1;
        } else if b.is_ascii_alphanumeric() {
            let start = i;
            while i < text.len() && text[i].is_ascii_alphanumeric() {
                i += 1;
            }
            ids.push(token_id(&text[start..i]));
        } else {
            ids.push(token_id(&text[i..=i]));
            i += 1;
        }
    }
    ids
}

fn push_decimal(out: &mut Vec<u8>, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[..len].iter().rev());
}

/// Each id in decimal followed by a space, sixteen to a line; a partial last
/// line is terminated too.
pub fn render(ids: &[u32]) -> Vec<u8> {
    // At most five digits and a space per id, plus the newlines.
    let mut out = Vec::with_capacity(ids.len() * 6 + ids.len() / IDS_PER_LINE + 1);
    for line in ids.chunks(IDS_PER_LINE) {
        for &id in line {
            push_decimal(&mut out, id);
            out.push(b' ');
        }
        out.push(b'\n');
    }
    out
}

/// The response text for a generate body, or None when the body is not JSON
/// or lacks a string `prompt` (a 400).
pub fn generate(body: &[u8]) -> Option<Vec<u8>> {
    let request: GenerateRequest = serde_json::from_slice(body).ok()?;
    Some(render(&tokenize(request.prompt.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_words_punctuation_and_spaces() {
        let ids = tokenize(b"Hi, you\x0b\x0c!ab1");
        let expected: Vec<u32> = ["Hi", ",", "you", "!", "ab1"]
            .iter()
            .map(|t| token_id(t.as_bytes()))
            .collect();
        assert_eq!(ids, expected);
        assert_eq!(token_id(b""), FNV_OFFSET % VOCABULARY);
    }

    #[test]
    fn renders_sixteen_per_line() {
        assert_eq!(render(&[]), b"");
        assert_eq!(render(&[0, 50256]), b"0 50256 \n");
        let sixteen = render(&[7; 16]);
        assert_eq!(
            sixteen,
            [&b"7 "[..]; 16]
                .concat()
                .into_iter()
                .chain([b'\n'])
                .collect::<Vec<_>>()
        );
        assert_eq!(render(&[7; 17]).iter().filter(|&&b| b == b'\n').count(), 2);
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(generate(br#"{"prompt": 3}"#).is_none());
        assert!(generate(br#"{"text": "a"}"#).is_none());
        assert!(generate(b"{").is_none());
        assert_eq!(generate(br#"{"prompt": "", "n": 1}"#).unwrap(), b"");
    }
}
