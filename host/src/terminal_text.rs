//! Text from outside rollcall (what a policy says, a case's name) made safe
//! to print: every control character is shown as its escape (`\n`,
//! `\u{1b}`), so one message is one line and a terminal is sent nothing it
//! would act on.

use std::borrow::Cow;

/// `text` with every control character (and every Unicode line break or
/// bidirectional formatting character, as `policy::validate` counts them)
/// shown as a visible escape.
///
/// ```ignore
/// assert_eq!(one_line("a\nrollcall: ok\u{1b}[2K"), r"a\nrollcall: ok\u{1b}[2K");
/// ```
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for character in text.chars() {
        push_shown(&mut shown, character);
    }
    Cow::Owned(shown)
}

/// `text` as [`one_line`] shows it, cut to at most `max_bytes` (never inside
/// an escape), and how many bytes of `text` were left out.
pub fn one_line_within(text: &str, max_bytes: usize) -> (String, usize) {
    let mut shown = String::with_capacity(text.len().min(max_bytes));
    let mut one = String::new();
    for (at, character) in text.char_indices() {
        one.clear();
        push_shown(&mut one, character);
        if shown.len() + one.len() > max_bytes {
            return (shown, text.len() - at);
        }
        shown.push_str(&one);
    }
    (shown, 0)
}

/// Whether `character` must not reach a terminal as it is.
fn is_unprintable(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{2028}'
                | '\u{2029}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

fn push_shown(shown: &mut String, character: char) {
    if !is_unprintable(character) {
        shown.push(character);
    } else if character.is_control() {
        shown.extend(character.escape_debug());
    } else {
        shown.extend(character.escape_unicode());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_as_escapes_on_one_line() {
        let forged = "no\r\nrollcall: all good\u{1b}[2K\0\u{7f}\u{9b}\u{2028}";
        let shown = one_line(forged);
        assert_eq!(
            shown,
            r"no\r\nrollcall: all good\u{1b}[2K\0\u{7f}\u{9b}\u{2028}"
        );
        assert!(!shown.chars().any(is_unprintable));
        assert_eq!(one_line("a\u{202e}b\u{200f}"), r"a\u{202e}b\u{200f}");
    }

    #[test]
    fn plain_text_is_kept_as_it_is() {
        let plain = "policy said: \"no monitors\" (é, 日本, \\n is two characters)";
        assert!(matches!(one_line(plain), Cow::Borrowed(text) if text == plain));
    }

    #[test]
    fn a_cut_never_splits_an_escape_and_counts_what_it_left_out() {
        assert_eq!(one_line_within("ab\u{1b}c", 3), ("ab".to_owned(), 2));
        assert_eq!(one_line_within("ab\u{1b}c", 8), (r"ab\u{1b}".to_owned(), 1));
        assert_eq!(one_line_within("abc", 3), ("abc".to_owned(), 0));
        assert_eq!(one_line_within("日本", 4), ("日".to_owned(), 3));
    }
}
