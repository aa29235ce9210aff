//! The fact inside an answer sentence: the shortest span that answers the question's type
//! (a number with its unit, a date, a name, a place, a causal clause), so that the CLI can
//! print it in bold and the JSON can point at its bytes. The cited claim stays the sentence.

use std::collections::HashSet;
use std::ops::Range;

use super::features::{AnswerType, CAUSE_MARKERS, Token, fold, is_date_token, is_number_token, tokens};

/// Words that may sit inside a multi-word name: "Jean de La Fontaine", "Ludwig van Beethoven".
const NAME_LINKS: &[&str] = &[
    "de", "du", "des", "d'", "la", "le", "van", "von", "der", "di", "da", "of", "the", "y",
];
/// Units and measure words that follow a number ("25 consultants", "3 millions d'euros").
const NUMBER_JOIN: &[&str] = &["d'", "de", "of"];

fn capitalised(t: &str) -> bool {
    t.chars().next().is_some_and(|c| c.is_uppercase())
}

fn novel(t: &Token<'_>, q: &HashSet<String>) -> bool {
    !q.contains(&fold(t.text))
}

/// Byte range in `sentence` of the fact a question of type `kind` asks for, or `None` when
/// the sentence has none of that kind beyond what the question says.
pub fn fact_span(sentence: &str, kind: AnswerType, q: &HashSet<String>) -> Option<Range<usize>> {
    let toks = tokens(sentence);
    let r = match kind {
        AnswerType::Number => number_span(&toks, q, false).or_else(|| number_span(&toks, q, true)),
        AnswerType::Date => date_span(&toks, q),
        AnswerType::Person => name_span(&toks, q, false),
        AnswerType::Place => name_span(&toks, q, true).or_else(|| name_span(&toks, q, false)),
        AnswerType::Cause => cause_span(sentence),
        AnswerType::Other => None,
    }?;
    (r.start < r.end && sentence.get(r.clone()).is_some()).then_some(r)
}

/// A number and its unit. Years are passed over first (`years` false), since "how many"
/// rarely asks for one.
fn number_span(toks: &[Token<'_>], q: &HashSet<String>, years: bool) -> Option<Range<usize>> {
    let candidate = |t: &Token<'_>| is_number_token(t.text) && novel(t, q) && (years || !is_date_token(t.text));
    // A number whose unit the question names ("combien de salariés" → "13.000 salariés")
    // beats the first number of the sentence; units compare on their first five letters.
    let stem = |w: &str| fold(w).chars().take(5).collect::<String>();
    let asked: HashSet<String> = q.iter().filter(|w| w.chars().count() >= 4).map(|w| stem(w)).collect();
    // The unit is the next word, past "de"/"d'"/"of" and number words ("3 millions d'euros").
    let names_unit = |i: usize| {
        toks[i + 1..]
            .iter()
            .find(|u| !NUMBER_JOIN.contains(&fold(u.text).as_str()) && !is_number_token(u.text))
            .is_some_and(|u| u.text.chars().count() >= 4 && asked.contains(&stem(u.text)))
    };
    let i = (0..toks.len())
        .find(|&i| candidate(&toks[i]) && names_unit(i))
        .or_else(|| toks.iter().position(candidate))?;
    let mut j = i;
    while j + 1 < toks.len() && is_number_token(toks[j + 1].text) && !is_date_token(toks[j + 1].text) {
        j += 1;
    }
    // One unit word, through "de"/"d'": "millions d'euros", "25 consultants".
    let mut k = j + 1;
    if k < toks.len() && NUMBER_JOIN.contains(&fold(toks[k].text).as_str()) && k + 1 < toks.len() {
        k += 1;
    }
    if k < toks.len()
        && toks[k].text.chars().all(char::is_alphabetic)
        && !capitalised(toks[k].text)
        && toks[k].text.chars().count() >= 2
        && !toks[j].text.ends_with('%')
    {
        j = k;
    }
    Some(toks[i].start..toks[j].end)
}

/// A run of date words and day numbers: "12 avril 1987", "XIXe siècle", "1987".
fn date_span(toks: &[Token<'_>], q: &HashSet<String>) -> Option<Range<usize>> {
    let i = toks.iter().position(|t| is_date_token(t.text) && novel(t, q))?;
    let day = |t: &Token<'_>| t.text.parse::<u32>().is_ok_and(|d| (1..=31).contains(&d)) || t.text == "1er";
    let mut s = i;
    while s > 0 && (day(&toks[s - 1]) || is_date_token(toks[s - 1].text)) {
        s -= 1;
    }
    let mut e = i;
    while e + 1 < toks.len() && (is_date_token(toks[e + 1].text) || day(&toks[e + 1])) {
        e += 1;
    }
    Some(toks[s].start..toks[e].end)
}

/// A run of capitalised words that the question lacks, joined by name particles. With
/// `after_prep`, only a run that follows a place preposition counts.
fn name_span(toks: &[Token<'_>], q: &HashSet<String>, after_prep: bool) -> Option<Range<usize>> {
    const PREPS: &[&str] = &[
        "a", "au", "aux", "en", "dans", "de", "du", "d'", "pres", "in", "at", "from", "near", "to", "into",
    ];
    let mut i = 1; // the first word is capitalised anyway
    while i < toks.len() {
        let t = &toks[i];
        let prep_ok = !after_prep || PREPS.contains(&fold(toks[i - 1].text).as_str());
        if capitalised(t.text) && novel(t, q) && !is_date_token(t.text) && t.text.chars().count() >= 2 && prep_ok {
            let mut e = i;
            loop {
                if e + 1 < toks.len() && capitalised(toks[e + 1].text) {
                    e += 1;
                } else if e + 2 < toks.len()
                    && NAME_LINKS.contains(&fold(toks[e + 1].text).as_str())
                    && capitalised(toks[e + 2].text)
                {
                    e += 2;
                } else {
                    break;
                }
            }
            return Some(t.start..toks[e].end);
        }
        i += 1;
    }
    None
}

/// From the causal marker to the end of the sentence.
fn cause_span(sentence: &str) -> Option<Range<usize>> {
    let low = sentence.to_lowercase();
    // Lower-casing keeps byte offsets only for these ASCII and Latin-1 letters; check it.
    if low.len() != sentence.len() {
        return None;
    }
    let start = CAUSE_MARKERS.iter().filter_map(|m| low.find(m)).min()?;
    let end = sentence
        .trim_end_matches(|c: char| c == '.' || c == '!' || c.is_whitespace())
        .len();
    (start < end).then_some(start..end)
}

/// Coordinators that join the items of a list ("Vito Acconci et Eva Hesse", "Jordanie, Liban
/// ou Irak").
const LIST_JOINS: &[&str] = &[",", ";", "et", "ou", "and", "or", "&"];
/// Words that may open a list item before its name: "le Canada et les États-Unis".
const ITEM_OPENERS: &[&str] = &[
    "le", "la", "les", "l'", "de", "des", "du", "d'", "au", "aux", "the", "a",
];

/// Whether the run `inner` of `text` is one item of a list of names that `outer` holds, as in
/// "Victor Vasarely, Zsigmond Kemény et László Moholy-Nagy": a coordinator beside `inner`, and a
/// capitalised item on its other side within `outer`. Such a list answers "qui sont les trois
/// peintres…" whole; one of its names alone is a third of the answer. "Ányos Jedlik, inventeur
/// du moteur…" is no list: what follows the comma is not a name.
pub fn is_item_of_list(text: &str, outer: &Range<usize>, inner: &Range<usize>) -> bool {
    if inner.start < outer.start || inner.end > outer.end || inner.len() >= outer.len() {
        return false;
    }
    let (Some(before), Some(after)) = (text.get(outer.start..inner.start), text.get(inner.end..outer.end)) else {
        return false;
    };
    let split = |s: &str| -> Vec<String> {
        s.replace(',', " , ")
            .replace(';', " ; ")
            .replace('’', "'")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let joins = |w: &str| LIST_JOINS.contains(&w.to_lowercase().as_str());
    let opener = |w: &str| {
        let l = w.to_lowercase();
        ITEM_OPENERS.contains(&l.as_str()) || ["l'", "d'"].iter().any(|o| l.starts_with(o) && l.len() > o.len())
    };
    // A name, possibly glued to its article ("l'Espagne").
    let named = |w: &str| {
        let bare = w.strip_prefix("l'").or_else(|| w.strip_prefix("d'")).unwrap_or(w);
        bare.chars().next().is_some_and(char::is_uppercase)
    };
    let a = split(after);
    if let Some(first) = a.first()
        && joins(first)
        && let Some(item) = a[1..].iter().find(|w| !opener(w) || named(w))
        && named(item)
    {
        return true;
    }
    let b = split(before);
    let mut rest = b.iter().rev().skip_while(|w| opener(w) && !named(w));
    if rest.next().is_some_and(|w| joins(w))
        && let Some(item) = rest.next()
        && (named(item) || item.ends_with(')'))
    {
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::features::question_words;

    fn fact(sentence: &str, q: &str, kind: AnswerType) -> Option<String> {
        fact_span(sentence, kind, &question_words(q)).map(|r| sentence[r].to_string())
    }

    #[test]
    fn each_type_finds_its_fact() {
        use AnswerType::*;
        assert_eq!(
            fact(
                "IBM a envoyé 25 consultants chez Huawei en 1998.",
                "Combien de consultants IBM a-t-il envoyés ?",
                Number
            )
            .as_deref(),
            Some("25 consultants")
        );
        assert_eq!(
            fact(
                "Le contrat valait 3,5 millions d'euros.",
                "Combien valait le contrat ?",
                Number
            )
            .as_deref(),
            Some("3,5 millions d'euros")
        );
        assert_eq!(
            fact(
                "Huawei was founded in 1987 by Ren Zhengfei in Shenzhen.",
                "Who founded Huawei?",
                Person
            )
            .as_deref(),
            Some("Ren Zhengfei")
        );
        assert_eq!(
            fact(
                "La tour fut achevée le 31 mars 1889 pour l'Exposition.",
                "Quand la tour fut-elle achevée ?",
                Date
            )
            .as_deref(),
            Some("31 mars 1889")
        );
        assert_eq!(
            fact(
                "Le siège du groupe se trouve à Armonk, dans l'État de New York.",
                "Où se trouve le siège du groupe ?",
                Place
            )
            .as_deref(),
            Some("Armonk")
        );
        assert_eq!(
            fact(
                "Le projet a été abandonné parce que les coûts avaient doublé.",
                "Pourquoi le projet a-t-il été abandonné ?",
                Cause
            )
            .as_deref(),
            Some("parce que les coûts avaient doublé")
        );
        assert_eq!(
            fact(
                "Le roi Louis de Bourbon signa le traité.",
                "Qui signa le traité ?",
                Person
            )
            .as_deref(),
            Some("Louis de Bourbon")
        );
        assert_eq!(
            fact(
                "The company hired 300 engineers in 2019.",
                "How many engineers did the company hire?",
                Number
            )
            .as_deref(),
            Some("300 engineers")
        );
        assert_eq!(
            fact("The bridge opened on 12 May 1937.", "When did the bridge open?", Date).as_deref(),
            Some("12 May 1937")
        );
        assert_eq!(
            fact(
                "In 1964 the headquarters moved to Armonk, north of the city.",
                "Where did the headquarters move?",
                Place
            )
            .as_deref(),
            Some("Armonk")
        );
        assert_eq!(
            fact(
                "The launch was delayed because the weather was bad.",
                "Why was the launch delayed?",
                Cause
            )
            .as_deref(),
            Some("because the weather was bad")
        );
        assert_eq!(
            fact(
                "Le groupe a crû de 22% et emploie 13.000 salariés en Europe.",
                "Combien de salariés le groupe emploie-t-il ?",
                Number
            )
            .as_deref(),
            Some("13.000 salariés"),
            "the number whose unit the question names"
        );
        assert_eq!(
            fact(
                "Huawei's rotating chairman Ken Hu spoke in Paris.",
                "Who is Huawei's rotating chairman?",
                Person
            )
            .as_deref(),
            Some("Ken Hu")
        );
        assert_eq!(
            fact("IBM aide Huawei.", "Combien IBM aide-t-il Huawei ?", Number),
            None,
            "no number: no fact"
        );
    }

    /// `outer` and `inner` as the substrings they name (each found once in `text`).
    fn item(text: &str, outer: &str, inner: &str) -> bool {
        let o = text.find(outer).unwrap();
        let i = o + text[o..].find(inner).unwrap();
        is_item_of_list(text, &(o..o + outer.len()), &(i..i + inner.len()))
    }

    #[test]
    fn one_name_of_a_list_is_an_item_of_it() {
        let s = "Les plus célèbres sont Victor Vasarely, Zsigmond Kemény et László Moholy-Nagy.";
        let all = "Victor Vasarely, Zsigmond Kemény et László Moholy-Nagy";
        assert!(item(s, all, "Victor Vasarely"));
        assert!(item(s, all, "László Moholy-Nagy"));
        let s = "Elle est la nièce de Bellatrix Lestrange et de Narcissa Malefoy.";
        assert!(item(
            s,
            "Bellatrix Lestrange et de Narcissa Malefoy",
            "Bellatrix Lestrange"
        ));
        let s = "Elle est créée par le Canada et les États-Unis en 1908.";
        assert!(item(s, "le Canada et les États-Unis", "États-Unis"));
        let s = "Derrière viennent l'Allemagne, l'Espagne et les États-Unis.";
        assert!(item(s, "l'Allemagne, l'Espagne et les États-Unis", "Allemagne"));
        let s = "They met Vito Acconci and Eva Hesse.";
        assert!(item(s, "Vito Acconci and Eva Hesse", "Vito Acconci"));
        // A name and what is said of it, a number and its unit: no list.
        let s = "On doit à Ányos Jedlik, inventeur du moteur électrique et de la dynamo, ce prototype.";
        assert!(!item(
            s,
            "Ányos Jedlik, inventeur du moteur électrique et de la dynamo",
            "Ányos Jedlik"
        ));
        let s = "Il succède à Guillaume de Clare, 1er Comte de Pembroke.";
        assert!(!item(
            s,
            "Guillaume de Clare, 1er Comte de Pembroke",
            "Guillaume de Clare"
        ));
        let s = "LO conduit 38 listes) ou le Parti socialiste (26 listes).";
        assert!(!item(s, "38 listes) ou le Parti socialiste (26", "38 listes"));
        let s = "Il reste 702 millièmes de seconde.";
        assert!(!item(s, "702 millièmes de seconde", "702 millièmes"));
        // Not inside, or the whole: no item.
        assert!(!item(s, "702 millièmes", "702 millièmes"));
    }

    proptest::proptest! {
        /// Any text and any ranges, on char boundaries or not, in order or not: an answer, never
        /// a panic.
        #[test]
        fn any_ranges_of_any_text_are_judged_without_panic(
            text in "[A-Za-zÀ-ÿ ,;'’().0-9]{0,60}",
            a in 0usize..70, b in 0usize..70, c in 0usize..70, d in 0usize..70,
        ) {
            let _ = is_item_of_list(&text, &(a..b), &(c..d));
        }
    }
}
