//! SQL text cut into statements by the SQL tokenizer (never by searching for `;`, which also
//! appears in strings and comments), each with the line and column where it starts, and the
//! shell's test of whether what was typed so far ends a statement.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The statement's text, without its `;`.
    pub text: String,
    /// 1-based line and column of its first character in the script.
    pub line: u64,
    pub column: u64,
}

impl Piece {
    /// The text preceded by as many line breaks and blanks as put its first character at its
    /// place in the script, so that positions the parser reports are the script's.
    pub fn positioned(&self) -> String {
        let lead = self.line.saturating_sub(1) as usize;
        let indent = self.column.saturating_sub(1) as usize;
        let mut out = String::with_capacity(lead + indent + self.text.len());
        out.extend(std::iter::repeat_n('\n', lead));
        out.extend(std::iter::repeat_n(' ', indent));
        out.push_str(&self.text);
        out
    }
}

/// A script that cannot be cut into tokens (an unterminated string or comment), with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    pub message: String,
    pub line: u64,
    pub column: u64,
}

/// Byte offsets of `text`'s (line, column) locations, columns counted in characters as the
/// tokenizer counts them.
struct Offsets<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Offsets { text, line_starts }
    }

    fn of(&self, at: Location) -> usize {
        let line = (at.line.max(1) - 1) as usize;
        let Some(&start) = self.line_starts.get(line) else { return self.text.len() };
        let rest = &self.text[start..];
        let skip = (at.column.max(1) - 1) as usize;
        rest.char_indices().nth(skip).map_or(self.text.len(), |(i, _)| start + i)
    }
}

fn is_blank(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_))
}

/// The statements of `script`, in order; empty statements (`;;`, comments alone) are left out.
pub fn split(script: &str) -> Result<Vec<Piece>, SplitError> {
    let tokens = Tokenizer::new(&GenericDialect {}, script).tokenize_with_location().map_err(|e| SplitError {
        message: e.message.clone(),
        line: e.location.line,
        column: e.location.column,
    })?;
    let offsets = Offsets::new(script);
    let mut pieces = Vec::new();
    let mut start: Option<Location> = None;
    let mut close = |start: &mut Option<Location>, end: usize| {
        if let Some(at) = start.take() {
            let text = script[offsets.of(at)..end].trim_end().to_string();
            pieces.push(Piece { text, line: at.line, column: at.column });
        }
    };
    for t in &tokens {
        match &t.token {
            Token::SemiColon => close(&mut start, offsets.of(t.span.start)),
            token if is_blank(token) => {}
            _ => {
                start.get_or_insert(t.span.start);
            }
        }
    }
    close(&mut start, script.len());
    Ok(pieces)
}

/// Whether the shell has a whole statement: the text ends with a `;` that is outside strings
/// and comments. Text that cannot be tokenized yet (an open string or comment) is not.
pub fn ends_statement(text: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, text).tokenize() else { return false };
    tokens.iter().rev().find(|t| !is_blank(t)).is_some_and(|t| matches!(t, Token::SemiColon))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(script: &str) -> Vec<(String, u64, u64)> {
        split(script).unwrap().into_iter().map(|p| (p.text, p.line, p.column)).collect()
    }

    #[test]
    fn statements_are_cut_at_semicolons_outside_strings_and_comments() {
        let script = "SELECT ';' AS a; -- one; two\n  SELECT 2 /* ; */ ;\n\n;SELECT 'é;' AS \"x;y\"";
        assert_eq!(
            texts(script),
            [
                ("SELECT ';' AS a".to_string(), 1, 1),
                ("SELECT 2 /* ; */".to_string(), 2, 3),
                ("SELECT 'é;' AS \"x;y\"".to_string(), 4, 2),
            ]
        );
        assert!(texts("-- nothing\n;;").is_empty());
    }

    #[test]
    fn positioned_text_puts_the_statement_where_it_was() {
        let pieces = split("SELECT 1;\n  SELECT x").unwrap();
        assert_eq!(pieces[1].positioned(), "\n  SELECT x");
    }

    #[test]
    fn an_open_string_is_an_error_with_its_place() {
        let e = split("SELECT 1;\nSELECT 'abc").unwrap_err();
        assert_eq!((e.line, e.column), (2, 8));
    }

    #[test]
    fn a_statement_ends_only_at_a_semicolon_outside_strings_and_comments() {
        assert!(ends_statement("SELECT 1;"));
        assert!(ends_statement("SELECT 1\nFROM t ;  \n"));
        assert!(ends_statement("SELECT 1; -- done"));
        assert!(!ends_statement("SELECT ';"));
        assert!(!ends_statement("SELECT 1 -- ;"));
        assert!(!ends_statement("SELECT 1 /* ; "));
        assert!(!ends_statement(""));
    }
}
