//! Splits a text into chunks of at most `size` characters on paragraph,
//! then sentence, then word boundaries; each chunk after the first starts
//! with the last `overlap` characters of the one before.

/// The chunks of `text`.
pub fn chunk(text: &str, size: usize, overlap: usize) -> Vec<String> {
    let size = size.max(1);
    let overlap = overlap.min(size.saturating_sub(1));
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut len = 0;
    for piece in pieces(text, size) {
        let n = piece.chars().count();
        if len > 0 && len + n > size {
            let tail = tail(&current, overlap);
            chunks.push(std::mem::take(&mut current).trim().to_string());
            // The overlap only when it leaves room for the piece.
            if tail.chars().count() + n <= size {
                current = tail;
            }
            len = current.chars().count();
        }
        current.push_str(piece);
        len += n;
    }
    if !current.trim().is_empty() {
        chunks.push(current.trim().to_string());
    }
    chunks.retain(|c| !c.is_empty());
    chunks
}

/// Paragraphs (with their blank line), split further into sentences and
/// then words when longer than `size`.
fn pieces(text: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    for paragraph in text.split_inclusive("\n\n") {
        if paragraph.chars().count() <= size {
            out.push(paragraph);
            continue;
        }
        for sentence in split_after(paragraph, |c| matches!(c, '.' | '!' | '?' | '\n')) {
            if sentence.chars().count() <= size {
                out.push(sentence);
                continue;
            }
            for word in sentence.split_inclusive(char::is_whitespace) {
                if word.chars().count() <= size {
                    out.push(word);
                } else {
                    out.extend(hard_split(word, size));
                }
            }
        }
    }
    out
}

/// Splits after every character that ends a sentence and is followed by
/// whitespace (the whitespace stays with the sentence).
fn split_after(text: &str, ends: impl Fn(char) -> bool) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if ends(c)
            && let Some(&(next, n)) = chars.peek()
            && n.is_whitespace()
        {
            let end = next + n.len_utf8();
            chars.next();
            out.push(&text[start..end]);
            start = end;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn hard_split(word: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (count, (i, _)) in word.char_indices().enumerate() {
        if count > 0 && count % size == 0 {
            out.push(&word[start..i]);
            start = i;
        }
    }
    out.push(&word[start..]);
    out
}

/// The last `n` characters of `s`, starting at a word if one starts there.
fn tail(s: &str, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    let total = s.chars().count();
    let skip = total.saturating_sub(n);
    let tail: String = s.chars().skip(skip).collect();
    match tail.find(char::is_whitespace) {
        Some(i) if skip > 0 && i < tail.len() / 2 => tail[i..].trim_start().to_string() + " ",
        _ => tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_text_is_one_chunk() {
        assert_eq!(
            chunk("Hello there.\n\nSecond.", 100, 10),
            vec!["Hello there.\n\nSecond."]
        );
        assert!(chunk("  \n\n ", 100, 10).is_empty());
    }

    #[test]
    fn chunks_respect_the_size_and_break_at_paragraphs_then_sentences() {
        let para = "One sentence here. Another one there. ".repeat(20);
        let text = format!("{para}\n\n{para}");
        let chunks = chunk(&text, 200, 40);
        assert!(chunks.len() > 4);
        for c in &chunks {
            assert!(c.chars().count() <= 200, "{} chars", c.chars().count());
            assert!(c.ends_with('.'), "ends mid-sentence: {c:?}");
        }
    }

    #[test]
    fn consecutive_chunks_overlap() {
        let text = (0..200)
            .map(|i| format!("Sentence number {i}."))
            .collect::<Vec<_>>()
            .join(" ");
        let chunks = chunk(&text, 300, 60);
        for pair in chunks.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let start: String = b.chars().take(15).collect();
            assert!(
                a.contains(start.trim()),
                "{b:?} does not start inside {a:?}"
            );
        }
        // Nothing is lost.
        assert!(chunks.last().unwrap().contains("Sentence number 199."));
    }

    #[test]
    fn a_huge_word_is_cut_hard_and_multibyte_text_is_safe() {
        let text = "é".repeat(250);
        let chunks = chunk(&text, 100, 10);
        assert!(chunks.iter().all(|c| c.chars().count() <= 100));
        assert!(chunks.iter().map(|c| c.chars().count()).sum::<usize>() >= 250);
    }
}
