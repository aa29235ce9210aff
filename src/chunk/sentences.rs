//! Sentence boundaries for French and English news prose.
//!
//! A boundary is a terminator (`.`, `!`, `?`, `…`, possibly followed by closing quotes or
//! brackets) followed by whitespace and something that can open a sentence (capital, digit,
//! opening quote), or a blank line. Abbreviations, initials, numbers and quotations that the
//! sentence carries on after (`« ... ? » explique-t-il`) are not boundaries.

use std::ops::Range;

/// Abbreviations (lowercase, without the final period) never ending a sentence.
const ABBREVIATIONS: &[&str] = &[
    // French
    "m", "mm", "mme", "mmes", "mlle", "mlles", "me", "mgr", "pr", "dr", "st", "ste", "sts", "cie", "éd", "cf", "vol",
    "fig", "chap", "env", "av", "bd", "boul", "ex", "janv", "févr", "fév", "fevr", "avr", "juil", "déc", "apr", "resp",
    "coll", "hab", // English
    "mr", "mrs", "ms", "messrs", "prof", "jr", "sr", "inc", "ltd", "co", "corp", "bros", "gen", "col", "lt", "sgt",
    "capt", "gov", "sen", "rep", "rev", "hon", "mt", "ft", "dept", "univ", "approx", "vs", "al", "jan", "feb", "aug",
    "sept", "oct", "nov", "dec", "viz",
];

/// Abbreviations that only precede numbers ("art. 5", "No. 3", "p. 12").
const NUMERIC_ABBREVIATIONS: &[&str] = &["no", "nos", "n°", "nº", "art", "p", "pp", "tel", "tél", "ch"];

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

/// Closing marks that belong to the sentence before them.
fn is_closer(c: char) -> bool {
    matches!(c, '»' | '”' | '"' | '’' | '\'' | ')' | ']' | '›')
}

/// Can `c` start a sentence? Capitals, digits, opening quotes, dashes, and letters of scripts
/// without case.
fn opens_sentence(c: char) -> bool {
    c.is_uppercase()
        || c.is_ascii_digit()
        || matches!(
            c,
            '«' | '“' | '"' | '‘' | '\'' | '(' | '[' | '¿' | '¡' | '—' | '–' | '-' | '•' | '*' | '‹'
        )
        || (c.is_alphabetic() && !c.is_lowercase())
}

/// Sentence byte ranges within `range` of `text`, trimmed of surrounding whitespace.
/// An invalid range (out of bounds, not on char boundaries) yields no sentences.
pub fn split_sentences(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let Some(s) = text.get(range.clone()) else {
        return Vec::new();
    };
    let base = range.start;
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let n = chars.len();
    let byte = |i: usize| if i < n { chars[i].0 } else { s.len() };
    let quoted = continuing_quotations(&chars);

    let mut cuts = Vec::new();
    // Char index where the current sentence starts.
    let mut seg_start = 0;
    let mut i = 0;
    while i < n {
        let c = chars[i].1;
        if c == '\n' {
            // A blank line always ends a sentence.
            let mut j = i + 1;
            let mut blank = false;
            while j < n && chars[j].1.is_whitespace() {
                blank |= chars[j].1 == '\n';
                j += 1;
            }
            if blank {
                cuts.push(byte(i));
                seg_start = j;
            }
            i = j.max(i + 1);
            continue;
        }
        if !is_terminator(c) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < n && is_terminator(chars[j].1) {
            j += 1;
        }
        let run_end = j;
        // Closing quotes and brackets stay with the sentence; French puts a space before ».
        let mut end = j;
        loop {
            let mut m = end;
            while m < n && chars[m].1 != '\n' && chars[m].1.is_whitespace() {
                m += 1;
            }
            if m < n && is_closer(chars[m].1) && (m == end || matches!(chars[m].1, '»' | '”' | '›')) {
                end = m + 1;
            } else {
                break;
            }
        }
        let mut m = end;
        while m < n && chars[m].1.is_whitespace() {
            m += 1;
        }
        let single_dot = c == '.' && run_end - i == 1;
        let boundary = m > end
            && m < n
            && opens_sentence(chars[m].1)
            && !(single_dot && is_abbreviation(&chars, i, chars[m].1))
            && !(single_dot && is_list_number(&chars, seg_start, i))
            && !quoted[i];
        if boundary {
            cuts.push(byte(end));
            seg_start = m;
            i = m;
        } else {
            i = run_end;
        }
    }

    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts.into_iter().chain(std::iter::once(s.len())) {
        let seg = &s[start..cut];
        let lead = seg.len() - seg.trim_start().len();
        let trimmed = seg.trim();
        if !trimmed.is_empty() {
            let a = base + start + lead;
            out.push(a..a + trimmed.len());
        }
        start = cut;
    }
    out
}

/// "1." opening a sentence is list numbering, not a sentence of its own.
fn is_list_number(chars: &[(usize, char)], seg_start: usize, dot: usize) -> bool {
    let mut j = dot;
    while j > seg_start && chars[j - 1].1.is_ascii_digit() {
        j -= 1;
    }
    (1..=3).contains(&(dot - j)) && chars[seg_start..j].iter().all(|&(_, c)| c.is_whitespace())
}

/// Is the `.` at char index `dot` the end of an abbreviation or initial rather than a sentence?
fn is_abbreviation(chars: &[(usize, char)], dot: usize, next: char) -> bool {
    let mut j = dot;
    while j > 0 {
        let p = chars[j - 1].1;
        if p.is_whitespace() || matches!(p, '(' | '[' | '«' | '“' | '"' | '‘' | '/' | '\'' | '’') {
            break;
        }
        j -= 1;
    }
    let token: String = chars[j..dot].iter().flat_map(|&(_, c)| c.to_lowercase()).collect();
    if token.is_empty() || token.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    let letters = token.chars().filter(|c| c.is_alphabetic()).count();
    if letters == 1 && token.chars().count() == 1 {
        // "J. Smith", "p. ex."
        return true;
    }
    if token.contains('.') {
        // "e.g", "U.S", "P.-D.G", "J.-C": dotted short segments.
        let mut segments = token.split(['.', '-']).filter(|s| !s.is_empty()).peekable();
        if segments.peek().is_some() && segments.all(|s| s.chars().count() <= 2 && s.chars().all(char::is_alphabetic)) {
            return true;
        }
    }
    ABBREVIATIONS.contains(&token.as_str())
        || (NUMERIC_ABBREVIATIONS.contains(&token.as_str()) && next.is_ascii_digit())
}

/// Per char: inside a « » or “ ” quotation that the sentence continues after (the closing
/// mark is followed by lowercase text or a comma), where terminators do not end the sentence.
fn continuing_quotations(chars: &[(usize, char)]) -> Vec<bool> {
    let n = chars.len();
    let mut delta = vec![0i32; n + 1];
    let mut stack: Vec<(usize, char)> = Vec::new();
    for (i, &(_, c)) in chars.iter().enumerate() {
        match c {
            '«' | '“' => stack.push((i, c)),
            '»' | '”' => {
                let open = if c == '»' { '«' } else { '“' };
                if let Some(pos) = stack.iter().rposition(|&(_, o)| o == open) {
                    let (start, _) = stack[pos];
                    stack.truncate(pos);
                    let next = chars[i + 1..].iter().map(|&(_, c)| c).find(|c| !c.is_whitespace());
                    let continues =
                        next.is_some_and(|c| c.is_lowercase() || matches!(c, ',' | ';' | ':' | ')' | '–' | '—' | '-'));
                    if continues {
                        delta[start] += 1;
                        delta[i] -= 1;
                    }
                }
            }
            _ => {}
        }
    }
    let mut depth = 0;
    delta[..n]
        .iter()
        .map(|d| {
            depth += d;
            depth > 0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(s: &str) -> Vec<&str> {
        split_sentences(s, 0..s.len()).into_iter().map(|r| &s[r]).collect()
    }

    #[test]
    fn basic_french_and_english() {
        assert_eq!(
            sentences(
                "Huawei veut tripler son chiffre. IBM lui envoie 25 consultants ! Pourquoi ? Personne ne sait…  Vraiment."
            ),
            vec![
                "Huawei veut tripler son chiffre.",
                "IBM lui envoie 25 consultants !",
                "Pourquoi ?",
                "Personne ne sait…",
                "Vraiment."
            ]
        );
        assert_eq!(
            sentences("The deal was signed. 25 consultants will help! Why? Nobody knows."),
            vec![
                "The deal was signed.",
                "25 consultants will help!",
                "Why?",
                "Nobody knows."
            ]
        );
    }

    #[test]
    fn abbreviations_french() {
        for s in [
            "M. Dupont et Mme. Durand sont venus.",
            "MM. Dupont et Durand sont venus.",
            "Mme Martin a vu le Dr. House hier.",
            "Voir p. ex. Paris et Lyon.",
            "Cf. Le Monde du 3 mars.",
            "Le 12 janv. Le groupe a annoncé.",
            "Selon l'art. 5 du code, c'est interdit.",
            "Le n° 1 mondial est chinois.",
            "La St. Valentin approche.",
        ] {
            assert_eq!(sentences(s), vec![s], "{s}");
        }
    }

    #[test]
    fn abbreviations_english() {
        for s in [
            "Mr. Smith met Mrs. Jones and Ms. Lee.",
            "Prof. Brown works at Acme Inc. Ltd. and Foo Corp.",
            "Many vendors, e.g. Huawei, are affected.",
            "Some vendors, i.e. Chinese ones, are affected.",
            "Apple vs. Samsung is a long story.",
            "J. Smith and J. R. R. Tolkien wrote books.",
            "It happened on Jan. 5 in the U.S. Army base.",
            "See No. 5 in the list.",
        ] {
            assert_eq!(sentences(s), vec![s], "{s}");
        }
    }

    #[test]
    fn numbers_and_hyphens() {
        for s in [
            "Plus de 1.000 partenaires et 862,1 milliards de yuans.",
            "Version 3.5 is out.",
            "Son P-DG et fondateur Ren Zhengfei est issu de l'armée.",
            "Le P.-D.G. Jean Dupont a parlé.",
        ] {
            assert_eq!(sentences(s), vec![s], "{s}");
        }
        assert_eq!(
            sentences("En 2009. 25 consultants."),
            vec!["En 2009.", "25 consultants."]
        );
        assert_eq!(
            sentences("1. Premier point. 2. Second point."),
            vec!["1. Premier point.", "2. Second point."]
        );
    }

    #[test]
    fn ellipsis() {
        assert_eq!(
            sentences("Il hésite... puis accepte."),
            vec!["Il hésite... puis accepte."]
        );
        assert_eq!(sentences("He waited... and left."), vec!["He waited... and left."]);
        assert_eq!(
            sentences("Il hésite... Puis accepte."),
            vec!["Il hésite...", "Puis accepte."]
        );
        assert_eq!(sentences("Il hésite… puis accepte."), vec!["Il hésite… puis accepte."]);
    }

    #[test]
    fn french_quotations() {
        let s = "« Ce n’est pas un projet. Comment je gère la marque ? Qui est responsable ? » explique Ross Gan. Huawei et IBM collaborent.";
        assert_eq!(
            sentences(s),
            vec![
                "« Ce n’est pas un projet. Comment je gère la marque ? Qui est responsable ? » explique Ross Gan.",
                "Huawei et IBM collaborent."
            ]
        );
        let s = "« Les entreprises seront le moteur », a déclaré Willi Song. « Notre approche consiste à travailler avec des partenaires. »";
        assert_eq!(
            sentences(s),
            vec![
                "« Les entreprises seront le moteur », a déclaré Willi Song.",
                "« Notre approche consiste à travailler avec des partenaires. »"
            ]
        );
        // A quotation that ends its sentence may be split inside.
        assert_eq!(
            sentences("Il a dit : « Non. Jamais. » Puis il est parti."),
            vec!["Il a dit : « Non.", "Jamais. »", "Puis il est parti."]
        );
    }

    #[test]
    fn english_quotations() {
        let s = "“We will invest. We are ready,” said the CEO. Shares rose.";
        assert_eq!(
            sentences(s),
            vec!["“We will invest. We are ready,” said the CEO.", "Shares rose."]
        );
        assert_eq!(
            sentences("He said \"no.\" Then he left."),
            vec!["He said \"no.\"", "Then he left."]
        );
        assert_eq!(sentences("(See above.) The end."), vec!["(See above.)", "The end."]);
    }

    #[test]
    fn paragraphs_and_ranges() {
        let s = "xx Un titre sans point\n\nUn corps.\nSuite en minuscule. yy";
        let r = split_sentences(s, 3..s.len() - 3);
        let got: Vec<&str> = r.iter().map(|r| &s[r.clone()]).collect();
        assert_eq!(got, vec!["Un titre sans point", "Un corps.", "Suite en minuscule."]);
        assert!(split_sentences(s, 0..1000).is_empty());
        assert!(split_sentences("é", 1..2).is_empty());
        assert!(split_sentences("   ", 0..3).is_empty());
    }

    #[test]
    fn lowercase_after_period_is_not_a_boundary() {
        assert_eq!(sentences("Il est 3 h. puis 4 h."), vec!["Il est 3 h. puis 4 h."]);
    }
}
