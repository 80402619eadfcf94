//! Positions in text, for error messages that name a file, line and column.

/// 1-based line and column (in characters) of byte `offset` in `text`. An
/// offset past the end or inside a character counts from the character it
/// falls in, so a parser's span never panics here.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("ab\ncdé f", 8), (2, 5));
        assert_eq!(line_col("x", 0), (1, 1));
    }

    #[test]
    fn offsets_inside_a_character_or_past_the_end_are_clamped() {
        // "é" is two bytes: offset 4 falls inside it.
        assert_eq!(line_col("ab\né", 4), (2, 1));
        assert_eq!(line_col("ab\n", 99), (2, 1));
    }
}
