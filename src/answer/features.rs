//! What a question asks for and what a sentence carries: the answer type a question word
//! expects (combien / how many → a number, qui / who → a person, …), the evidence of each type
//! in a sentence that the question does not already hold, and the feature vector the learned
//! sentence scorer reads.
//!
//! Cosine similarity measures aboutness; an answer also carries something new of the asked
//! kind. These cues are hand-written because they are French- and English-specific word lists,
//! and cheap: a few string scans per candidate sentence.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// The kind of fact a question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerType {
    Number,
    Person,
    Date,
    Place,
    Cause,
    /// What / which / quel … without a more precise cue.
    Other,
}

impl AnswerType {
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Words of a question (letters and digits, joined through apostrophes and hyphens).
fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’' || c == '-'))
        .filter(|w| !w.is_empty())
}

fn words_lower(s: &str) -> Vec<String> {
    words(s).map(|w| w.to_lowercase().replace('’', "'")).collect()
}

const NUMBER_NOUNS: &[&str] = &[
    "nombre",
    "population",
    "superficie",
    "taille",
    "hauteur",
    "longueur",
    "distance",
    "montant",
    "somme",
    "prix",
    "pourcentage",
    "part",
    "âge",
    "age",
    "durée",
    "poids",
    "coût",
    "cout",
    "budget",
    "chiffre",
    "altitude",
    "profondeur",
    "capacité",
    // Sums paid to someone: "quel est le salaire de …" asks for money.
    "salaire",
    "rémunération",
    "tarif",
    "loyer",
    "salary",
    "wage",
    "fee",
    "number",
    "size",
    "height",
    "length",
    "amount",
    "price",
    "percentage",
    "cost",
    "weight",
    "area",
    "total",
];
const DATE_NOUNS: &[&str] = &[
    "année",
    "annee",
    "date",
    "siècle",
    "siecle",
    "époque",
    "epoque",
    "jour",
    "mois",
    "décennie",
    "year",
    "century",
    "decade",
    "day",
    "month",
    "period",
];
const PLACE_NOUNS: &[&str] = &[
    "ville",
    "pays",
    "région",
    "region",
    "lieu",
    "endroit",
    "continent",
    "île",
    "ile",
    "département",
    "province",
    "état",
    "city",
    "country",
    "place",
    "state",
    "island",
    "town",
    "location",
    "capitale",
    "capital",
];
const PERSON_NOUNS: &[&str] = &[
    "personne",
    "homme",
    "femme",
    "roi",
    "reine",
    "président",
    "auteur",
    "artiste",
    "joueur",
    "person",
    "man",
    "woman",
    "king",
    "queen",
    "president",
    "author",
    "player",
    "architect",
    "composer",
    // Roles: "le PDG de Xiaomi", "Xiaomi's CEO".
    "pdg",
    "ceo",
    "directeur",
    "directrice",
    "dirigeant",
    "fondateur",
    "fondatrice",
    "founder",
    "ministre",
    "minister",
    "maire",
    "mayor",
    "gouverneur",
    "governor",
    "entraîneur",
    "coach",
    "chanteur",
    "chanteuse",
    "singer",
    "écrivain",
    "writer",
    "inventeur",
    "inventor",
    "empereur",
    "emperor",
];

/// Copulas between a "which" word and the noun it asks about ("quel **est** le prix").
const COPULAS: &[&str] = &[
    "est", "sont", "était", "étaient", "fut", "furent", "sera", "is", "are", "was", "were",
];
/// Determiners and prepositions skipped to reach that noun ("le nom **du** maire").
const SKIPPED: &[&str] = &[
    "le", "la", "les", "l'", "un", "une", "des", "du", "de", "d'", "the", "a", "an", "of",
];

/// The noun a "which" question asks about: the word after `quel`/`what`/`which`, or after
/// its copula and determiner ("quel est le **prix**"), or what a name is asked of ("quel est
/// le nom du **maire**", "what is the name of Xiaomi's **CEO**", "comment s'appelle le
/// **maire**"). Elisions are dropped (`l'auteur` → `auteur`).
fn asked_noun(w: &[String]) -> Option<String> {
    let bare = |t: &str| -> String {
        let t = t.strip_prefix("l'").or_else(|| t.strip_prefix("d'")).unwrap_or(t);
        t.to_string()
    };
    let after = |mut i: usize| -> Option<usize> {
        while i < w.len() && (SKIPPED.contains(&w[i].as_str()) || w[i] == "l'" || w[i] == "d'") {
            i += 1;
        }
        (i < w.len()).then_some(i)
    };
    let start = if let Some(q) = w.iter().position(|t| {
        matches!(
            t.as_str(),
            "quel" | "quelle" | "quels" | "quelles" | "what" | "which" | "lequel" | "laquelle"
        )
    }) {
        let i = q + 1;
        if i < w.len() && COPULAS.contains(&w[i].as_str()) {
            i + 1
        } else {
            i
        }
    } else {
        w.iter()
            .position(|t| matches!(t.as_str(), "s'appelle" | "s'appelait" | "s'appellent"))?
            + 1
    };
    let mut i = after(start)?;
    // "What is Ken Hu's salary": the noun after a possessive name.
    if let Some(j) = (i..w.len().min(i + 3)).find(|&j| w[j].ends_with("'s"))
        && j + 1 < w.len()
    {
        i = j + 1;
    }
    let head = bare(&w[i]);
    if matches!(head.as_str(), "nom" | "name" | "prénom") {
        i = after(i + 1)?;
        // "Xiaomi's CEO": the noun after the possessive.
        if w[i].ends_with("'s") && i + 1 < w.len() {
            i += 1;
        }
        return Some(bare(&w[i]));
    }
    Some(head)
}

/// The answer type a question expects, from its question words. Works on French and English
/// whatever `lang` says, since users mix them.
pub fn expected_type(question: &str) -> AnswerType {
    if asks_who_someone_is(question) {
        return AnswerType::Other;
    }
    let w = words_lower(question);
    let has = |x: &str| w.iter().any(|t| t == x);
    let noun_after_which = asked_noun(&w);
    if has("combien") || (has("how") && (has("many") || has("much") || has("old") || has("long") || has("far"))) {
        return AnswerType::Number;
    }
    if has("pourquoi") || has("why") || w.windows(2).any(|p| p[0] == "quelle" && p[1] == "raison") {
        return AnswerType::Cause;
    }
    // "Quand" / "when" after a noun opens a clause ("quel âge avait-il quand …", "who was the
    // leader when …"): it asks for a date when it opens the question, follows a preposition
    // ("depuis quand", "à partir de quand", "how and when") or ends it ("découvert quand ?").
    let asks_when = w.iter().enumerate().any(|(i, t)| {
        (t == "quand" || t == "when")
            && (i == 0
                || i + 1 == w.len()
                || matches!(
                    w[i - 1].as_str(),
                    "de" | "depuis"
                        | "jusqu'à"
                        | "jusqu'a"
                        | "à"
                        | "a"
                        | "et"
                        | "ou"
                        | "since"
                        | "until"
                        | "till"
                        | "and"
                        | "or"
                ))
    });
    if asks_when {
        return AnswerType::Date;
    }
    // Typed without its accent, "ou" still asks where when it opens or ends the question, or
    // follows "c'est" ("ou est basée ibm", "c'est ou armonk"); elsewhere it is "or".
    let ou_unaccented = w.first().is_some_and(|f| f == "ou" || f == "d'ou")
        || (w.len() > 1 && w.last().is_some_and(|l| l == "ou"))
        || w.windows(2).any(|p| p[0] == "c'est" && p[1] == "ou");
    if has("où") || has("where") || has("d'où") || ou_unaccented {
        return AnswerType::Place;
    }
    if has("qui") && !w.iter().any(|t| t.starts_with("qu'est")) && w.first().is_some_and(|f| f != "ce")
        || has("who")
        || has("whom")
        || has("whose")
    {
        // "Qui" after a noun is a relative pronoun ("le roi qui …"): only a question word when
        // it opens the question or follows a preposition.
        let opens = w
            .first()
            .is_some_and(|f| matches!(f.as_str(), "qui" | "who" | "whom" | "whose"))
            || w.windows(2)
                .any(|p| matches!(p[0].as_str(), "par" | "à" | "a" | "de" | "pour" | "avec" | "chez") && p[1] == "qui")
            || has("who")
            || has("whom")
            || has("whose");
        if opens {
            return AnswerType::Person;
        }
    }
    if let Some(n) = noun_after_which.as_deref() {
        // "en quelle année", "quel pays", "quel âge", "quel est le prix", …
        // Folded on both sides: "quelle duree", "quelle capacite" typed without accents.
        let n = fold(n);
        let singular = n.strip_suffix('s').unwrap_or(&n);
        let is = |list: &[&str]| list.iter().any(|x| fold(x) == n || fold(x) == singular);
        if is(DATE_NOUNS) {
            return AnswerType::Date;
        }
        if is(NUMBER_NOUNS) {
            return AnswerType::Number;
        }
        if is(PLACE_NOUNS) {
            return AnswerType::Place;
        }
        if is(PERSON_NOUNS) {
            return AnswerType::Person;
        }
    }
    AnswerType::Other
}

/// "Qui est Ross Gan ?", "c'est qui Pie IV", "Who was Ken Hu?", "Huawei, c'est quoi ?",
/// "qu'est-ce que Dailymotion": the question names someone or something and asks what they
/// are (a role, a title, a kind of company), so the answer is a description, not another name.
pub fn asks_who_someone_is(question: &str) -> bool {
    let toks = tokens(question);
    let lower: Vec<String> = toks.iter().map(|t| t.text.to_lowercase().replace('’', "'")).collect();
    let has = |x: &[&str]| lower.iter().any(|t| x.contains(&t.as_str()));
    const ASKS: &[&str] = &["qui", "who", "who'", "quoi", "qu'", "what'"];
    const COPULA: &[&str] = &["est", "était", "etait", "sont", "est-ce", "is", "was", "are"];
    // "who's", "what's": the "s" after the apostrophe is the copula.
    let contracted = |i: usize| lower[i] == "s" && i > 0 && matches!(lower[i - 1].as_str(), "who'" | "what'");
    if !has(ASKS) || !(has(COPULA) || (0..lower.len()).any(contracted)) {
        return false;
    }
    const FRAME: &[&str] = &[
        "qui",
        "who",
        "who'",
        "what'",
        "quoi",
        "qu'",
        "que",
        "est",
        "était",
        "etait",
        "sont",
        "est-ce",
        "is",
        "was",
        "are",
        "c'",
        "ce",
        "exactement",
        "vraiment",
        "exactly",
        "really",
        "comme",
    ];
    // "Huawei, c'est quoi comme entreprise ?": the kind asked after "comme" is frame too.
    let kind = |i: usize| i > 0 && lower[i - 1] == "comme";
    let mut rest = toks
        .iter()
        .zip(&lower)
        .enumerate()
        .filter(|(i, (_, l))| !FRAME.contains(&l.as_str()) && !contracted(*i) && !kind(*i))
        .map(|(_, x)| x)
        .peekable();
    rest.peek().is_some() && rest.all(|(t, _)| is_capitalised(t.text) && !is_date_token(t.text))
}

/// The names a question holds: capitalised words after its first, acronyms ("Ross", "Gan",
/// "CPME"), and the first word when capitalised but no question or function word ("Huawei,
/// c'est quoi ?"), folded, without a possessive's apostrophe. Question words are never
/// capitalised after the first, so what remains names a person, a place, an organisation or
/// a work.
pub fn question_names(question: &str) -> Vec<String> {
    let toks = tokens(question);
    let first_is_name = toks.first().is_some_and(|t| {
        is_capitalised(t.text) && {
            let first = t.text.to_lowercase().replace('’', "'");
            let first = first.trim_end_matches('\'');
            crate::lexical::question_content(question)
                .split_whitespace()
                .filter_map(|w| {
                    w.to_lowercase()
                        .replace('’', "'")
                        .split('\'')
                        .next()
                        .map(str::to_string)
                })
                .any(|w| w.trim_matches(|c: char| !c.is_alphanumeric()) == first)
        }
    });
    toks.iter()
        .skip(usize::from(!first_is_name))
        .filter(|t| is_capitalised(t.text) && !is_date_token(t.text))
        .map(|t| fold_bare(t.text))
        .filter(|f| f.chars().count() >= 2)
        .collect()
}

/// Whether `sentence` says what the last of `names` is: an apposition ("Ross Gan, porte-parole
/// du groupe", "Fabien Aufrechter, le directeur Web 3.0") or a copula ("Walter Rodney est un
/// historien"), the way articles introduce someone.
pub fn describes_name(sentence: &str, names: &[String]) -> bool {
    let Some(last) = names.last() else {
        return false;
    };
    let toks = tokens(sentence);
    let det = |t: &str| {
        matches!(
            fold(t).as_str(),
            "le" | "la" | "l'" | "les" | "un" | "une" | "the" | "a" | "an"
        )
    };
    let lower = |t: &str| t.chars().next().is_some_and(char::is_lowercase);
    toks.iter().enumerate().any(|(i, t)| {
        if fold_bare(t.text) != *last {
            return false;
        }
        let Some(next) = toks.get(i + 1) else {
            return false;
        };
        let between = sentence[t.end..next.start].trim();
        let after_det = if det(next.text) { toks.get(i + 2) } else { Some(next) };
        // "Huawei, tout en vantant …", "Huawei, qui …" go on with the sentence.
        const GOES_ON: &[&str] = &[
            "tout",
            "toute",
            "tous",
            "alors",
            "tandis",
            "lorsque",
            "puis",
            "ainsi",
            "notamment",
            "selon",
            "comme",
            "dont",
            "qui",
            "que",
            "et",
            "mais",
            "ou",
            "avec",
            "en",
            "who",
            "which",
            "and",
            "but",
            "while",
            "when",
            "as",
            "with",
        ];
        let described = after_det.is_some_and(|w| lower(w.text) && !GOES_ON.contains(&fold(w.text).as_str()));
        match between {
            "," | "(" => described,
            "" => {
                matches!(fold(next.text).as_str(), "est" | "etait" | "is" | "was")
                    && toks.get(i + 2).is_some_and(|d| det(d.text))
            }
            _ => false,
        }
    })
}

/// The question with each word typed in lower case that the passages only ever write
/// capitalised inside a sentence ("huawei", "ross gan", "ibm") written as they write it
/// ("Huawei", "Ross Gan", "IBM"). New users type in lower case, and what reads a question
/// reads its case: the names that keep a question on topic, "who is X", the span rules, the
/// reader (trained on PIAF's well-cased questions). A word the passages also write in lower
/// case ("or", "parlement") stays as typed; a capital after a full stop, a colon or an
/// opening quotation mark says nothing, so it is not counted. A question with a capital past
/// its first letter was typed with care, and stays as it is.
pub fn recase(question: &str, texts: &[&str]) -> String {
    use std::collections::HashMap;
    if question.chars().skip(1).any(char::is_uppercase) {
        return question.to_string();
    }
    let key = |t: &str| t.trim_end_matches(['\'', '’']).to_string();
    let qtoks = tokens(question);
    let lower_letters = |t: &str| t.chars().any(char::is_alphabetic) && !t.chars().any(char::is_uppercase);
    let wanted: HashSet<String> = qtoks
        .iter()
        .filter(|t| lower_letters(t.text) && t.text.chars().count() >= 2)
        .map(|t| key(t.text))
        .collect();
    if wanted.is_empty() {
        return question.to_string();
    }
    // For each wanted word: its capitalised forms inside sentences, and how often it is
    // written in lower case.
    let mut forms: HashMap<String, (HashMap<String, usize>, usize)> = HashMap::new();
    for text in texts {
        let toks = tokens(text);
        for (i, t) in toks.iter().enumerate() {
            let k = key(t.text);
            let lower = k.to_lowercase();
            if !wanted.contains(&lower) {
                continue;
            }
            let e = forms.entry(lower.clone()).or_default();
            if k == lower {
                e.1 += 1;
                continue;
            }
            let inside = i > 0 && {
                let gap = &text[toks[i - 1].end..t.start];
                !gap.contains(['.', '!', '?', ':', ';', '\n', '«', '"', '“', '(', '['])
            };
            if inside {
                *e.0.entry(k).or_default() += 1;
            }
        }
    }
    let mut out = String::with_capacity(question.len());
    let mut at = 0;
    for t in &qtoks {
        let k = key(t.text);
        let Some((caps, 0)) = forms.get(&k) else {
            continue;
        };
        let Some((form, _)) = caps.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0))) else {
            continue;
        };
        // Same letters, other case: the byte ranges of the question stay valid.
        if form.len() != k.len() {
            continue;
        }
        out.push_str(&question[at..t.start]);
        out.push_str(form);
        at = t.start + k.len();
    }
    out.push_str(&question[at..]);
    out
}

/// Whether `text` holds every word of `names` (folded), as words.
pub fn holds_names(text: &str, names: &[String]) -> bool {
    let words: HashSet<String> = tokens(text).iter().map(|t| fold_bare(t.text)).collect();
    names.iter().all(|n| words.contains(n))
}

/// The place a question scopes its figure to: the capitalised name after "en", "au", "aux",
/// "à" or "in" ("Combien de magasins Xiaomi a-t-il en Inde ?" → "inde"), folded.
pub fn scoped_place(question: &str) -> Option<String> {
    places_after_prepositions(question).pop()
}

/// Capitalised names right after a preposition of place, folded, in order.
fn places_after_prepositions(text: &str) -> Vec<String> {
    let toks = tokens(text);
    toks.windows(2)
        .filter(|w| {
            // "à", not "a": "Combien d'employés a Xiaomi ?" has a verb there.
            matches!(w[0].text.to_lowercase().as_str(), "en" | "au" | "aux" | "à" | "in") && is_capitalised(w[1].text)
        })
        .map(|w| fold_bare(w[1].text))
        .collect()
}

/// Whether the figure `sentences` give is for another place than the one the question asks
/// about: none of them names the question's place, and the first scopes itself to another
/// ("… d'ici à 2019 en Chine d'un millier de magasins" for stores in India).
pub fn figure_for_another_place(question: &str, sentences: &[&str]) -> bool {
    let Some(place) = scoped_place(question) else {
        return false;
    };
    let q_words = question_words(question);
    let names_place = |s: &str| tokens(s).iter().any(|t| fold_bare(t.text) == place);
    !sentences.iter().any(|s| names_place(s))
        && sentences.first().is_some_and(|s| {
            places_after_prepositions(s)
                .iter()
                .any(|p| *p != place && !q_words.contains(p))
        })
}

/// How many times `text` writes the folded name `name` capitalised.
pub fn capitalised_mentions(text: &str, name: &str) -> usize {
    tokens(text)
        .iter()
        .filter(|t| is_capitalised(t.text) && fold_bare(t.text) == name)
        .count()
}

/// Whether a word of `text` starts like the folded name `name` (all of a short name, all but
/// two letters of a longer one), so that "norvégien" and "mexicaines" name "Norvège" and
/// "Mexicaine".
pub fn mentions_stem(text: &str, name: &str) -> bool {
    let n = name.chars().count();
    let stem: String = name.chars().take(if n <= 5 { n } else { (n - 2).max(5) }).collect();
    tokens(text).iter().any(|t| fold_bare(t.text).starts_with(&stem))
}

/// Whether `sentence` has a word starting like one of the question's content words (four
/// letters or more, names aside): "les détails financiers" shares none with "Combien
/// d'employés compte IBM ?".
pub fn shares_content_word(question: &str, sentence: &str) -> bool {
    let names: HashSet<String> = question_names(question).into_iter().collect();
    crate::lexical::question_content(question)
        .split_whitespace()
        .map(fold_bare)
        .filter(|w| w.chars().count() >= 4 && !names.contains(w))
        .any(|w| mentions_stem(sentence, &w))
}

/// [`fold`] without a trailing apostrophe: "Huawei's" tokenises as "Huawei'" + "s".
fn fold_bare(t: &str) -> String {
    fold(t).trim_end_matches('\'').to_string()
}

const MONTHS: &[&str] = &[
    "janvier",
    "février",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
    "decembre",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DATE_WORDS: &[&str] = &[
    "siècle",
    "siècles",
    "century",
    "centuries",
    "années",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const NUMBER_WORDS: &[&str] = &[
    "deux",
    "trois",
    "quatre",
    "cinq",
    "six",
    "sept",
    "huit",
    "neuf",
    "dix",
    "onze",
    "douze",
    "quinze",
    "vingt",
    "trente",
    "quarante",
    "cinquante",
    "soixante",
    "cent",
    "cents",
    "mille",
    "million",
    "millions",
    "milliard",
    "milliards",
    "dizaine",
    "dizaines",
    "centaine",
    "centaines",
    "two",
    "three",
    "four",
    "five",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "fifteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "hundred",
    "hundreds",
    "thousand",
    "thousands",
    "billion",
    "billions",
    "dozen",
    "dozens",
    "%",
];
/// Words that open a causal clause; [`super::span`] marks the clause from there.
pub const CAUSE_MARKERS: &[&str] = &[
    "parce que",
    "parce qu'",
    "car ",
    "en raison",
    "à cause",
    "grâce à",
    "grâce au",
    "afin de",
    "afin que",
    "pour que",
    "du fait",
    "puisque",
    "because",
    "due to",
    "owing to",
    "as a result",
    "in order to",
    "so that",
    "thanks to",
];
/// Openings of a sentence whose cause is the sentence before ("C'est dans cette optique qu'il
/// annonce …"), lower case.
pub const POINTS_BACK_TO_CAUSE: &[&str] = &[
    "c'est dans cette optique",
    "c'est dans ce but",
    "c'est pourquoi",
    "c'est pour cela",
    "c'est pour ça",
    "c'est la raison",
    "pour cette raison",
    "pour ces raisons",
    "dans cette optique",
    "dans ce but",
    "dans cette perspective",
    "d'où",
    "de ce fait",
    "that is why",
    "this is why",
    "for this reason",
    "hence",
    "therefore",
    "as a result",
];
/// Phrases by which a sentence gives the cause of the one before ("Une décision qui fait
/// suite à …"), besides [`CAUSE_MARKERS`].
pub const CAUSE_FOLLOWS: &[&str] = &[
    "fait suite",
    "suite à",
    "suite aux",
    "s'explique",
    "explained by",
    "the reason",
];
/// Looser cues that count as causal evidence but are too common to open the marked clause.
const LOOSE_CAUSE_MARKERS: &[&str] = &["since ", "pour ", "to "];
const PLACE_PREPS: &[&str] = &[
    "à", "a", "au", "aux", "en", "dans", "de", "du", "des", "près", "vers", "in", "at", "from", "near", "to", "into",
];

/// Whether a token reads as a number, a year, or a number word.
pub fn is_number_token(t: &str) -> bool {
    t.chars().any(|c| c.is_ascii_digit()) || NUMBER_WORDS.contains(&t.to_lowercase().as_str())
}

/// Whether a token reads as part of a date: a year 1000–2199, a month, a day, a century.
pub fn is_date_token(t: &str) -> bool {
    let l = t.to_lowercase();
    if MONTHS.contains(&l.as_str()) || DATE_WORDS.contains(&l.as_str()) {
        return true;
    }
    let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() == 4 && digits.len() == t.trim_end_matches(['.', ',']).len() {
        let y: u32 = digits.parse().unwrap_or(0);
        return (1000..2200).contains(&y);
    }
    // Roman-numeral centuries: XIXe, XVIIIe siècle.
    l.len() >= 2 && l.ends_with('e') && l[..l.len() - 1].chars().all(|c| "xvi".contains(c)) && t.starts_with('X')
        || t.starts_with(['I', 'V', 'X']) && t.ends_with("e") && t[..t.len() - 1].chars().all(|c| "IVX".contains(c))
}

fn is_capitalised(t: &str) -> bool {
    let mut cs = t.chars();
    cs.next().is_some_and(|c| c.is_uppercase()) && t.chars().count() >= 2
}

/// A token of a sentence with its byte range.
#[derive(Debug, Clone)]
pub struct Token<'a> {
    pub text: &'a str,
    pub start: usize,
    pub end: usize,
}

/// Word tokens of `s` (letters, digits and inner `'.,-%`), with byte ranges.
pub fn tokens(s: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        let next_alnum = chars.get(k + 1).is_some_and(|&(_, n)| n.is_alphanumeric());
        let inner = matches!(c, '\'' | '’' | '-' | '.' | ',') && next_alnum && start.is_some();
        let keep = c.is_alphanumeric() || inner || c == '%';
        // Elided articles and prepositions (l', d', qu') are their own tokens.
        let split_after = matches!(c, '\'' | '’') && inner;
        match (keep, start) {
            (true, None) => start = Some(i),
            (false, Some(st)) => {
                out.push(Token {
                    text: &s[st..i],
                    start: st,
                    end: i,
                });
                start = None;
            }
            _ => {}
        }
        if split_after && let Some(st) = start.take() {
            let e = i + c.len_utf8();
            out.push(Token {
                text: &s[st..e],
                start: st,
                end: e,
            });
        }
        // "12%" splits so the percent sign can stay with its number as a unit.
        if c == '%'
            && let Some(st) = start.take()
        {
            let e = i + 1;
            out.push(Token {
                text: &s[st..e],
                start: st,
                end: e,
            });
        }
    }
    if let Some(st) = start {
        out.push(Token {
            text: &s[st..],
            start: st,
            end: s.len(),
        });
    }
    for t in &mut out {
        // Trailing separators ("1987." / "3,") are punctuation, not part of the token.
        let trimmed = t.text.trim_end_matches(['.', ',']);
        t.end = t.start + trimmed.len();
        t.text = trimmed;
    }
    out.retain(|t| !t.text.is_empty());
    out
}

/// Lower-cased, accent-insensitive form for comparing a sentence's words with the question's.
pub fn fold(t: &str) -> String {
    t.to_lowercase()
        .chars()
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            '’' => '\'',
            c => c,
        })
        .collect()
}

/// The question's folded words, for telling new content from repeated content.
pub fn question_words(question: &str) -> HashSet<String> {
    // "Huawei's" tokenises as "Huawei'" + "s": keep the name itself too.
    tokens(question)
        .iter()
        .flat_map(|t| {
            let f = fold(t.text);
            let bare = f.trim_end_matches('\'').to_string();
            [f, bare]
        })
        .collect()
}

/// Evidence of each answer type in a sentence, counting only what the question lacks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence {
    pub number: bool,
    pub date: bool,
    pub name: bool,
    pub place: bool,
    pub cause: bool,
    /// Share of the sentence's words (3+ letters) absent from the question.
    pub novelty: f32,
}

impl Evidence {
    pub fn has(&self, t: AnswerType) -> bool {
        match t {
            AnswerType::Number => self.number,
            AnswerType::Date => self.date,
            AnswerType::Person => self.name,
            AnswerType::Place => self.place || self.name,
            AnswerType::Cause => self.cause,
            AnswerType::Other => self.novelty > 0.3,
        }
    }
}

/// What `sentence` carries that the question (its folded words `q`) does not.
pub fn evidence(sentence: &str, q: &HashSet<String>) -> Evidence {
    let toks = tokens(sentence);
    let mut e = Evidence::default();
    let (mut long, mut new) = (0usize, 0usize);
    for (i, t) in toks.iter().enumerate() {
        let f = fold(t.text);
        let novel = !q.contains(&f);
        if t.text.chars().count() >= 3 {
            long += 1;
            new += usize::from(novel);
        }
        if !novel {
            continue;
        }
        if is_date_token(t.text) {
            e.date = true;
        }
        if is_number_token(t.text) {
            e.number = true;
        }
        if i > 0 && is_capitalised(t.text) && !is_date_token(t.text) {
            e.name = true;
            let prev = fold(toks[i - 1].text);
            if PLACE_PREPS.contains(&prev.trim_end_matches('\'')) || prev == "d'" || prev == "l'" {
                e.place = true;
            }
        }
    }
    e.cause = has_cause_marker(sentence, LOOSE_CAUSE_MARKERS);
    e.novelty = if long == 0 { 0.0 } else { new as f32 / long as f32 };
    e
}

/// Whether `sentence` holds a word of [`CAUSE_MARKERS`] or of `extra`, at a word start.
pub fn has_cause_marker(sentence: &str, extra: &[&str]) -> bool {
    let low = format!(" {} ", sentence.to_lowercase().replace('’', "'"));
    CAUSE_MARKERS
        .iter()
        .chain(extra)
        .any(|m| low.contains(&format!(" {m}")))
}

/// Words that make "combien" / "how much" ask for a sum of money rather than a count: paying,
/// costing, earning, spending, being worth. Hand-written (French and English), like the other
/// cue lists here.
const MONEY_VERBS: &[&str] = &[
    // French (folded: no accents)
    "paie",
    "paye",
    "paient",
    "payent",
    "payer",
    "paye-t-il",
    "paie-t-il",
    "paie-t-elle",
    "paient-ils",
    "payes",
    "coute",
    "coutent",
    "coute-t-il",
    "coute-t-elle",
    "coutera",
    "coutait",
    "cout",
    "couts",
    "vaut",
    "valent",
    "valait",
    "depense",
    "depenses",
    "depenser",
    "investi",
    "investit",
    "investir",
    "gagne",
    "gagnes",
    "gagner",
    "touche",
    "touchent",
    "rapporte",
    "rapportent",
    "facture",
    "factures",
    "verse",
    "verses",
    "debourse",
    "prix",
    "montant",
    "budget",
    "salaire",
    "somme",
    "tarif",
    "loyer",
    // English
    "pay",
    "pays",
    "paid",
    "paying",
    "cost",
    "costs",
    "costing",
    "spend",
    "spends",
    "spent",
    "worth",
    "earn",
    "earns",
    "earned",
    "invest",
    "invests",
    "invested",
    "charge",
    "charges",
    "charged",
    "price",
    "priced",
    "money",
    "salary",
    "budget",
    "amount",
    "fee",
    "fees",
];

/// Currency signs and names: a sentence with one of these and a number states a sum.
const CURRENCIES: &[&str] = &[
    "€", "$", "£", "¥", "euro", "euros", "dollar", "dollars", "franc", "francs", "yuan", "yuans", "yen", "yens",
    "sterling", "rouble", "roubles", "ruble", "rubles", "roupie", "roupies", "rupee", "rupees", "peso", "pesos",
    "dinar", "dinars", "dirham", "dirhams", "centime", "centimes", "cent", "cents", "usd", "eur", "gbp", "chf", "cny",
    "renminbi", "won", "livres", "pounds",
];

/// Words that make a number a large sum when money is asked ("3 millions").
const MAGNITUDES: &[&str] = &[
    "million",
    "millions",
    "milliard",
    "milliards",
    "billion",
    "billions",
    "trillion",
    "trillions",
    "md",
    "mds",
    "k€",
    "m€",
];

/// Whether a "how much" question asks for a sum of money ("Combien Huawei paie-t-il IBM ?",
/// "How much did it cost?"), as opposed to a count ("Combien de consultants ?").
pub fn asks_for_money(question: &str) -> bool {
    let w: Vec<String> = words_lower(question).iter().map(|t| fold(t)).collect();
    let has = |x: &str| w.iter().any(|t| t == x);
    let money_word = |t: &str| MONEY_VERBS.contains(&t) || CURRENCIES.contains(&t);
    if has("combien") {
        // "combien de <noun>" counts, unless the noun is a currency ("combien d'euros").
        if let Some(i) = w.iter().position(|t| t == "combien")
            && let Some(next) = w.get(i + 1)
        {
            if next == "de" {
                return w.get(i + 2).is_some_and(|n| CURRENCIES.contains(&n.as_str()));
            }
            if let Some(noun) = next.strip_prefix("d'") {
                return CURRENCIES.contains(&noun);
            }
        }
        return w.iter().any(|t| money_word(t));
    }
    if has("how") && has("much") {
        return w.iter().any(|t| money_word(t));
    }
    // "Quel est le montant …", "What was the cost …"; not "quel prix", which is as often an
    // award.
    const SUM_NOUNS: &[&str] = &[
        "montant",
        "cout",
        "couts",
        "somme",
        "budget",
        "salaire",
        "remuneration",
        "tarif",
        "loyer",
        "amount",
        "cost",
        "price",
        "fee",
        "salary",
        "wage",
    ];
    let sum = |t: &String| SUM_NOUNS.contains(&t.as_str());
    // "What is Ken Hu's salary", "quelle est la rémunération de …".
    let asked = asked_noun(&words_lower(question)).map(|n| fold(&n));
    if asked.as_ref().is_some_and(sum) {
        return true;
    }
    // "Quel est le prix des brevets ?" asks a price: "prix" asked and followed by what it is
    // the price of; "quel prix a-t-il reçu" and "le grand prix de Suisse" are awards.
    if asked.as_deref() == Some("prix")
        && !has("grand")
        && w.windows(2)
            .any(|p| p[0] == "prix" && (matches!(p[1].as_str(), "de" | "des" | "du") || p[1].starts_with("d'")))
    {
        return true;
    }
    w.windows(2)
        .any(|p| matches!(p[0].as_str(), "quel" | "quelle" | "what" | "which") && sum(&p[1]))
        || w.windows(4).any(|p| {
            matches!(p[0].as_str(), "quel" | "quelle" | "what")
                && matches!(p[1].as_str(), "est" | "etait" | "fut" | "was" | "is")
                && matches!(p[2].as_str(), "le" | "la" | "l'" | "the")
                && sum(&p[3])
        })
}

/// The noun a "how many" question counts: after "combien de", "how many", "nombre de",
/// "number of" (folded). None for other questions.
pub fn counted_noun(question: &str) -> Option<String> {
    let w: Vec<String> = words_lower(question).iter().map(|t| fold(t)).collect();
    // `words_lower` with the case kept: English puts a name before the counted
    // noun ("how many Huawei employees"), so a name followed by a plural is passed over there;
    // "how many Americans live" still counts Americans. French puts it after ("combien de
    // salariés Huawei").
    let named: Vec<bool> = words(question).map(is_capitalised).collect();
    let modifier = |i: usize| {
        named.get(i).copied().unwrap_or(false)
            && w.get(i + 1).is_some_and(|n| {
                !named.get(i + 1).copied().unwrap_or(true)
                    && n.ends_with('s')
                    && !matches!(n.as_str(), "is" | "was" | "has" | "does")
            })
    };
    let after = |mut i: usize, english: bool| -> Option<String> {
        while english && modifier(i) {
            i += 1;
        }
        let t = w.get(i)?;
        let t = t.strip_prefix("d'").unwrap_or(t);
        (t.len() >= 3).then(|| t.to_string())
    };
    for (i, t) in w.iter().enumerate() {
        let next = w.get(i + 1).map(String::as_str);
        let (noun_at, english) = match (t.as_str(), next) {
            ("combien" | "nombre", Some("de")) => (i + 2, false),
            ("number", Some("of")) => (i + 2, true),
            ("combien" | "nombre", Some(n)) if n.starts_with("d'") => (i + 1, false),
            ("many", _) if i > 0 && w[i - 1] == "how" => (i + 1, true),
            _ => continue,
        };
        return after(noun_at, english);
    }
    None
}

/// Whether a number the question lacks is followed, within three words, by the counted noun
/// (same first five letters: "salariés" / "salarié"). Hand-written, like the other cues.
pub fn counted_after_number(sentence: &str, counted: &str, q: &HashSet<String>) -> bool {
    let stem = |w: &str| -> String { w.chars().take(5).collect() };
    let asked = stem(counted);
    // People are counted under many names: "combien de personnes travaillent chez …" is
    // answered by "13.000 salariés", "how many employees" by "salariés".
    let stems: Vec<String> = if PEOPLE.iter().any(|p| stem(p) == asked) {
        PEOPLE.iter().map(|p| stem(p)).collect()
    } else {
        vec![asked]
    };
    let toks = tokens(sentence);
    toks.iter().enumerate().any(|(i, t)| {
        is_number_token(t.text)
            && !q.contains(&fold(t.text))
            && toks[i + 1..]
                .iter()
                .take(3)
                .any(|n| stems.iter().any(|s| fold(n.text).starts_with(s.as_str())))
    })
}

/// Nouns that count people (accents folded, as [`fold`] leaves them), French and English.
const PEOPLE: &[&str] = &[
    "personnes",
    "gens",
    "individus",
    "salaries",
    "employes",
    "collaborateurs",
    "travailleurs",
    "people",
    "persons",
    "employees",
    "workers",
    "staff",
];

/// Roles held by one human being: a question about the holder of one ("le PDG de Xiaomi",
/// "who is Xiaomi's CEO") asks for a person's name, where a plain "qui" may be answered by a
/// company, a people or an institution.
const HUMAN_ROLES: &[&str] = &[
    "pdg",
    "ceo",
    "directeur",
    "directrice",
    "dirigeant",
    "dirigeante",
    "patron",
    "patronne",
    "fondateur",
    "fondatrice",
    "founder",
    "cofondateur",
    "co-founder",
    "ministre",
    "minister",
    "maire",
    "mayor",
    "gouverneur",
    "governor",
    "entraineur",
    "coach",
    "president",
    "presidente",
    "chairman",
    "chairwoman",
    "roi",
    "reine",
    "king",
    "queen",
    "empereur",
    "emperor",
    "chancelier",
    "chancellor",
    "pape",
    "pope",
];

/// Particles inside a name ("Bernardo de Gálvez", "Jean d'Angleterre", "Ludwig van Beethoven").
const NAME_PARTICLES: &[&str] = &[
    "de", "d'", "du", "da", "del", "della", "di", "van", "von", "der", "bin", "ibn", "al",
];

/// Verbs of leading something, asked of its leader ("qui dirige Xiaomi", "who heads …").
const LEADING_VERBS: &[&str] = &[
    "dirige",
    "dirigeait",
    "dirigea",
    "preside",
    "presidait",
    "presida",
    "heads",
    "headed",
    "leads",
    "runs",
    "chairs",
    "chaired",
];

/// Titles before a surname ("M. Ren", "Mme Lagarde", "Dr Smith"); `tokens` drops their dot.
const PERSON_TITLES: &[&str] = &[
    "m", "mme", "mlle", "mr", "mrs", "ms", "dr", "pr", "me", "sir", "lady", "monsieur", "madame",
];

/// Capitalised words that open a sentence or a name without being one ("Le Monde", "The Times").
const NOT_A_FORENAME: &[&str] = &[
    "le", "la", "les", "l'", "un", "une", "des", "du", "de", "d'", "en", "dans", "pour", "par", "sur", "avec", "au",
    "aux", "et", "mais", "selon", "ce", "cette", "ces", "il", "elle", "ils", "elles", "the", "a", "an", "in", "on",
    "at", "for", "with", "by", "and", "but", "this", "these", "he", "she", "they", "it", "saint", "sainte", "st",
];

/// Whether the question asks for the name of the holder of a human role, by its name or by
/// what the role does.
pub fn asks_for_role_holder(question: &str) -> bool {
    if expected_type(question) != AnswerType::Person {
        return false;
    }
    words_lower(question).iter().any(|t| {
        let f = fold(t);
        let f = f.trim_end_matches("'s").trim_end_matches('\'');
        let singular = f.strip_suffix('s').unwrap_or(f);
        HUMAN_ROLES.contains(&f) || HUMAN_ROLES.contains(&singular) || LEADING_VERBS.contains(&f)
    })
}

/// Whether a sentence names a person the question does not: a forename and surname (two
/// capitalised words with only a space between them, "Lei Jun", "Bruno Le Maire", or with a
/// particle, "Bernardo de Gálvez"), a title and a name ("M. Ren"), or a role held by one
/// human being that the question does not name ("le pape"). A lone capitalised word does not
/// count: in news it is as often a company ("Oppo, Huawei et Vivo"). Hand-written, like the
/// other cues here.
pub fn names_person(sentence: &str, q: &HashSet<String>) -> bool {
    let toks = tokens(sentence);
    let folded: Vec<String> = toks.iter().map(|t| fold(t.text)).collect();
    let novel = |i: usize| !q.contains(&folded[i]);
    let surname = |i: usize| {
        let t = toks[i].text;
        is_capitalised(t) && !is_date_token(t) && !t.chars().any(|c| c.is_ascii_digit())
    };
    let forename = |i: usize| surname(i) && !NOT_A_FORENAME.contains(&folded[i].as_str());
    let gap = |i: usize| &sentence[toks[i].end..toks[i + 1].start];
    (0..toks.len()).any(|i| {
        let role = HUMAN_ROLES.contains(&folded[i].as_str()) && novel(i);
        let next = i + 1 < toks.len();
        let title = next
            && PERSON_TITLES.contains(&folded[i].as_str())
            && matches!(gap(i), " " | ". ")
            && surname(i + 1)
            && novel(i + 1);
        let pair = next && forename(i) && gap(i) == " " && surname(i + 1) && (novel(i) || novel(i + 1));
        let particle = i + 2 < toks.len()
            && forename(i)
            && gap(i) == " "
            && NAME_PARTICLES.contains(&folded[i + 1].as_str())
            && matches!(gap(i + 1), " " | "")
            && surname(i + 2)
            && (novel(i) || novel(i + 2));
        role || title || pair || particle
    })
}

/// How news names the head of a company, folded: one word, or a phrase. Asked as "CEO", the
/// role is written "P-DG", "PDG", "directeur général" as often; "directeur Web 3.0" is another
/// role.
const CHIEF_EXECUTIVE_WORDS: &[&str] = &["ceo", "pdg", "p-dg", "patron", "patronne"];
const CHIEF_EXECUTIVE_PHRASES: &[&str] = &[
    "directeur general",
    "directrice generale",
    "chief executive",
    "president-directeur",
    "managing director",
];

/// Whether a text names the head of a company as such ("son P-DG et fondateur Ren Zhengfei",
/// "the CEO of Vivendi").
pub fn names_chief_executive(text: &str) -> bool {
    let words: Vec<String> = tokens(text).iter().map(|t| fold_bare(t.text)).collect();
    if words.iter().any(|w| CHIEF_EXECUTIVE_WORDS.contains(&w.as_str())) {
        return true;
    }
    let joined = words.join(" ");
    CHIEF_EXECUTIVE_PHRASES.iter().any(|p| joined.contains(p))
}

/// Whether a question asks who heads a company ("Who is the CEO of Vivendi?", "qui est le
/// PDG de Huawei").
pub fn asks_for_chief_executive(question: &str) -> bool {
    expected_type(question) == AnswerType::Person && names_chief_executive(question)
}

/// Whether a sentence names something the question does not: a capitalised word (not a date)
/// past the sentence's first word, outside `q`.
pub fn names_something_new(sentence: &str, q: &HashSet<String>) -> bool {
    tokens(sentence)
        .iter()
        .skip(1)
        .any(|t| is_capitalised(t.text) && !is_date_token(t.text) && !q.contains(&fold_bare(t.text)))
}

/// Nouns that name an organisation: "quelle filiale", "which media group".
const ORGANISATION_NOUNS: &[&str] = &[
    "groupe",
    "entreprise",
    "societe",
    "firme",
    "filiale",
    "marque",
    "club",
    "equipe",
    "parti",
    "organisation",
    "association",
    "banque",
    "journal",
    "group",
    "company",
    "firm",
    "subsidiary",
    "brand",
    "team",
    "party",
    "organization",
    "bank",
    "newspaper",
];

/// Whether a sentence opens by referring back to someone named before it: a personal,
/// possessive or demonstrative pronoun ("Il", "Ses lobbyistes", "His Liber servitoris"), or
/// the definite epithets news articles use for a company or a person named earlier ("Le
/// géant des médias français", "le groupe chinois", "The company").
pub fn refers_back(sentence: &str) -> bool {
    const PRONOUNS: &[&str] = &[
        "il", "elle", "ils", "elles", "ce", "cet", "cette", "ces", "celui", "celle", "ceux", "son", "sa", "ses",
        "leur", "leurs", "lui", "he", "she", "they", "it", "his", "her", "its", "their", "this", "these", "those",
    ];
    const EPITHETS: &[&str] = &[
        "groupe",
        "geant",
        "fabricant",
        "firme",
        "societe",
        "entreprise",
        "constructeur",
        "equipementier",
        "operateur",
        "compagnie",
        "dirigeant",
        "patron",
        "company",
        "group",
        "firm",
        "giant",
        "maker",
        "manufacturer",
    ];
    let toks = tokens(sentence);
    let w: Vec<String> = toks.iter().take(3).map(|t| fold_bare(t.text)).collect();
    match w.first().map(String::as_str) {
        Some(p) if PRONOUNS.contains(&p) => true,
        Some("le" | "la" | "l" | "les" | "the") => w.get(1).is_some_and(|n| EPITHETS.contains(&n.as_str())),
        _ => false,
    }
}

/// Whether the question asks for a name: a person (who), or an organisation ("Which media
/// group …", "Quelle filiale de Vivendi …"), the noun being the one asked about or the next
/// word (English puts the head last).
pub fn asks_for_a_name(question: &str) -> bool {
    match expected_type(question) {
        AnswerType::Person => true,
        AnswerType::Other => {
            let w = words_lower(question);
            let Some(i) = w
                .iter()
                .position(|t| matches!(t.as_str(), "quel" | "quelle" | "quels" | "quelles" | "which"))
            else {
                return false;
            };
            w.iter().skip(i + 1).take(2).any(|t| {
                let t = fold(t);
                let t = t.strip_suffix('s').unwrap_or(&t);
                ORGANISATION_NOUNS.contains(&t)
            })
        }
        _ => false,
    }
}

/// Whether a sentence states a sum of money: a number with a currency (or, failing one, with
/// a magnitude such as "millions").
pub fn carries_money(sentence: &str) -> bool {
    let toks = tokens(sentence);
    let low = sentence.to_lowercase();
    let sign = ["€", "$", "£", "¥"].iter().any(|c| low.contains(c));
    let words: Vec<String> = toks.iter().map(|t| fold(t.text)).collect();
    let number = toks.iter().any(|t| t.text.chars().any(|c| c.is_ascii_digit()))
        || words.iter().any(|w| NUMBER_WORDS.contains(&w.as_str()));
    number
        && (sign
            || words
                .iter()
                .any(|w| CURRENCIES.contains(&w.as_str()) || MAGNITUDES.contains(&w.as_str())))
}

/// Whether a question asks someone's or something's age ("quel âge a …", "how old is …").
pub fn asks_for_age(question: &str) -> bool {
    let w: Vec<String> = words_lower(question).iter().map(|t| fold(t)).collect();
    w.windows(2).any(|p| {
        matches!(
            (p[0].as_str(), p[1].as_str()),
            ("quel", "age") | ("how", "old") | ("what", "age") | ("the", "age")
        )
    }) || w.iter().any(|t| t == "l'age")
}

/// Whether a sentence states an age, or what gives one: a number of years ("34 ans", "aged
/// 39", "âgé de trente ans", "sa vingt-troisième année"), or a birth ("né le 10 juillet 1009").
pub fn carries_age(sentence: &str) -> bool {
    let words: Vec<String> = tokens(sentence).iter().map(|t| fold(t.text)).collect();
    let number = |w: &str| {
        w.chars().any(|c| c.is_ascii_digit())
            || NUMBER_WORDS.contains(&w)
            || w.ends_with("ieme")
            || w.ends_with("th")
            || w.rsplit('-').next().is_some_and(|last| NUMBER_WORDS.contains(&last))
    };
    words.iter().any(|w| {
        matches!(
            w.as_str(),
            "age" | "agee" | "ages" | "agees" | "aged" | "ne" | "nee" | "born" | "naissance" | "birth"
        )
    }) || words
        .windows(2)
        .any(|p| number(&p[0]) && matches!(p[1].as_str(), "ans" | "an" | "annee" | "annees" | "years" | "year"))
}

/// Whether a sentence says that a fact was withheld ("n'en a pas révélé le montant", "terms
/// were not disclosed").
pub fn says_undisclosed(sentence: &str) -> bool {
    const MARKERS: &[&str] = &[
        "pas été révélé",
        "pas été dévoilé",
        "pas été divulgué",
        "pas été communiqué",
        "pas été précisé",
        "pas révélé",
        "pas dévoilé",
        "pas divulgué",
        "pas communiqué",
        "pas précisé",
        "n'en a révélé",
        "n'a révélé",
        "n'ont révélé",
        "aucune des deux parties",
        "reste secret",
        "restent secrets",
        "est resté secret",
        "confidentiel",
        "non divulgué",
        "non communiqué",
        "not disclosed",
        "undisclosed",
        "were not revealed",
        "was not revealed",
        "did not disclose",
        "declined to disclose",
        "declined to say",
        "did not say",
        "remain secret",
        "remains secret",
        "confidential",
        "silence radio",
        "gardé secret",
        "tenu secret",
        "not been disclosed",
        "not been revealed",
        "not made public",
        "kept secret",
    ];
    // "Ni le montant ni les brevets n'ont été communiqués": the negation is the "ni … ni" or
    // "rien" before; but "n'a été révélé qu'en 2019" restricts, it does not withhold.
    const WITHHELD: &[&str] = &[
        "n'a été révélé",
        "n'ont été révélé",
        "n'a été dévoilé",
        "n'ont été dévoilé",
        "n'a été divulgué",
        "n'ont été divulgué",
        "n'a été communiqué",
        "n'ont été communiqué",
        "n'a été précisé",
        "n'ont été précisé",
        "n'a été rendu public",
        "n'ont été rendu",
    ];
    let low = sentence.to_lowercase().replace('’', "'");
    MARKERS.iter().any(|m| low.contains(m))
        || WITHHELD.iter().any(|m| {
            low.match_indices(m).any(|(i, _)| {
                let after = &low[i + m.len()..];
                let next: String = after.chars().take(30).collect();
                !(next.contains(" qu'") || next.contains(" que "))
            })
        })
}

/// Number of features [`features`] returns.
pub const FEATURES: usize = 21;

/// Indices of features read elsewhere, pinned by a test against [`FEATURE_NAMES`].
pub const COSINE: usize = 0;
pub const OVERLAP: usize = 2;
pub const TYPE_PRESENT: usize = 10;
pub const TYPE_MISSING: usize = 11;
pub const TYPE_OTHER: usize = 12;
pub const RESIDUAL_COSINE: usize = 19;

/// Names of the features, in order; the scorer file lists them so a stale file is refused.
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "cosine",
    "cosine_gap",
    "lexical_overlap",
    "passage_similarity",
    "passage_rank_inv",
    "first_in_passage",
    "cosine_prev",
    "cosine_next",
    "novelty",
    "log_words",
    "type_present",
    "type_missing",
    "type_other",
    "novel_number",
    "novel_name",
    "novel_date",
    "lang_mismatch",
    "specific_overlap",
    "specific_overlap_prev",
    "residual_cosine",
    "counted_after_number",
];

/// The inputs of one candidate sentence's features.
#[derive(Debug, Clone, Copy)]
pub struct CandidateInput {
    pub cosine: f32,
    pub best_cosine: f32,
    pub lexical_overlap: f32,
    pub passage_similarity: f32,
    pub passage_index: usize,
    pub first_in_passage: bool,
    pub cosine_prev: Option<f32>,
    pub cosine_next: Option<f32>,
    pub words: usize,
    pub lang_mismatch: bool,
    /// Share of the question's terms beyond the passages' titles (its specific words rather
    /// than the topic) that the sentence holds.
    pub specific_overlap: f32,
    /// The same for the sentence before it in its passage: a pronoun often carries the fact
    /// on from the sentence that names the subject.
    pub specific_overlap_prev: Option<f32>,
    /// Cosine of question and sentence once the direction the candidates share (their topic)
    /// is taken out of both: what the sentence says about the question beyond the topic.
    pub residual_cosine: f32,
    /// A new number in the sentence is followed by the noun the question counts ("combien de
    /// **salariés**" → "13.000 salariés").
    pub counted: bool,
}

/// The feature vector of a candidate sentence for a question expecting `expected`.
pub fn features(c: &CandidateInput, ev: &Evidence, expected: AnswerType) -> [f32; FEATURES] {
    let typed = expected != AnswerType::Other;
    [
        c.cosine,
        c.cosine - c.best_cosine,
        c.lexical_overlap,
        c.passage_similarity,
        1.0 / (1.0 + c.passage_index as f32),
        f32::from(u8::from(c.first_in_passage)),
        c.cosine_prev.unwrap_or(0.0),
        c.cosine_next.unwrap_or(0.0),
        ev.novelty,
        (1.0 + c.words as f32).ln(),
        f32::from(u8::from(typed && ev.has(expected))),
        f32::from(u8::from(typed && !ev.has(expected))),
        f32::from(u8::from(!typed)),
        f32::from(u8::from(ev.number)),
        f32::from(u8::from(ev.name)),
        f32::from(u8::from(ev.date)),
        f32::from(u8::from(c.lang_mismatch)),
        c.specific_overlap,
        c.specific_overlap_prev.unwrap_or(0.0),
        c.residual_cosine,
        f32::from(u8::from(c.counted)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_missing_index_names_its_feature() {
        assert_eq!(FEATURE_NAMES[TYPE_MISSING], "type_missing");
        assert_eq!(FEATURE_NAMES[COSINE], "cosine");
        assert_eq!(FEATURE_NAMES[OVERLAP], "lexical_overlap");
        assert_eq!(FEATURE_NAMES[TYPE_PRESENT], "type_present");
        assert_eq!(FEATURE_NAMES[TYPE_OTHER], "type_other");
        assert_eq!(FEATURE_NAMES[RESIDUAL_COSINE], "residual_cosine");
    }

    #[test]
    fn a_sentence_describes_a_name_by_apposition_or_copula() {
        let names = question_names("c'est qui Ross Gan ?");
        for s in [
            "Le contrat a été révélé par Ross Gan, porte-parole du groupe chinois.",
            "Ross Gan (porte-parole) l'a confirmé.",
            "Ross Gan est le porte-parole du groupe.",
        ] {
            assert!(describes_name(s, &names), "{s}");
        }
        for s in [
            "« Qui est responsable de quoi ? » explique Ross Gan.",
            "Ross Gan, Willi Song et Ken Hu étaient là.",
            "Il a collaboré avec Ross Gan, tout en vantant ses outils.",
            "Ross Gan a confirmé le contrat.",
        ] {
            assert!(!describes_name(s, &names), "{s}");
        }
        let names = question_names("Who is Fabien Aufrechter?");
        assert!(describes_name(
            "Huawei a convaincu Fabien Aufrechter, le directeur Web 3.0 de Vivendi, d'intervenir.",
            &names
        ));
    }

    #[test]
    fn a_question_typed_in_lower_case_is_recased_from_the_passages() {
        let texts = [
            "Le contrat a été révélé par Ross Gan, porte-parole du groupe chinois.",
            "Selon IBM, 25 consultants iront chez Huawei. Or, les partenaires Or et Diamant gagnent.",
            "« Huawei est là », dit-il. Le parlement européen et le Parlement.",
        ];
        assert_eq!(recase("c'est qui ross gan", &texts), "c'est qui Ross Gan");
        assert_eq!(
            recase("ibm envoie combien de personnes chez huawei ?", &texts),
            "IBM envoie combien de personnes chez Huawei ?"
        );
        // "parlement" is also written in lower case; "or" only capitalised as a tier, but
        // "Or," after a full stop counts for nothing.
        assert_eq!(recase("le parlement", &texts), "le parlement");
        assert_eq!(recase("les partenaires or", &texts), "les partenaires Or");
        // A capital only at the start is no sign of care; one further on is, and the
        // question stays as typed.
        assert_eq!(recase("Qui est ross gan ?", &texts), "Qui est Ross Gan ?");
        assert_eq!(recase("qui est Ross gan ?", &texts), "qui est Ross gan ?");
        assert_eq!(recase("c'est qui ross gan", &[]), "c'est qui ross gan");
        assert_eq!(recase("huawei's ceo", &texts), "Huawei's ceo");
    }

    #[test]
    fn what_something_named_is_asks_for_a_description() {
        for q in [
            "Huawei, c'est quoi ?",
            "qu'est-ce que Dailymotion",
            "c'est quoi Dailymotion ?",
            "who's Ken Hu",
            "Qui est Ross Gan ?",
            "Huawei c'est quoi comme entreprise",
        ] {
            assert!(asks_who_someone_is(q), "{q}");
            assert_eq!(expected_type(q), AnswerType::Other, "{q}");
        }
        for q in [
            "Who is Huawei's CEO?",
            "Qu'est-ce que la photosynthèse ?",
            "c'est quoi le cloud",
        ] {
            assert!(!asks_who_someone_is(q), "{q}");
        }
        assert_eq!(question_names("Huawei, c'est quoi ?"), ["huawei"]);
        assert_eq!(question_names("Xiaomi rachète quoi à Nokia ?"), ["xiaomi", "nokia"]);
    }

    #[test]
    fn a_question_asks_for_a_name_and_a_sentence_names_something_new() {
        for q in [
            "Which media group works with Huawei?",
            "Quelle filiale de Vivendi a signé avec Huawei ?",
            "Qui a fondé Huawei ?",
        ] {
            assert!(asks_for_a_name(q), "{q}");
        }
        for q in [
            "Combien de consultants ?",
            "Quel est le chiffre d'affaires ?",
            "Qui est Ross Gan ?",
            "Pourquoi Huawei est-il banni ?",
        ] {
            assert!(!asks_for_a_name(q), "{q}");
        }
        let q: HashSet<String> = question_names("Which media group works with Huawei?")
            .into_iter()
            .collect();
        assert!(!names_something_new(
            "Le géant des médias français travaille avec Huawei dans différents domaines.",
            &q
        ));
        for s in [
            "Le géant des médias français travaille avec Huawei.",
            "Ses lobbyistes ont été privés d'accès.",
            "His Liber servitoris is of particular interest.",
            "Il a annoncé l'ouverture de magasins.",
        ] {
            assert!(refers_back(s), "{s}");
        }
        for s in [
            "Students thronged to Wittenberg.",
            "The lockstep situation of the IPCC is a consensus.",
            "Le contrat a été révélé par Ross Gan.",
            "Selon lui, rien ne change.",
        ] {
            assert!(!refers_back(s), "{s}");
        }
        assert!(names_something_new(
            "Huawei a convaincu Fabien Aufrechter, le directeur Web 3.0 de Vivendi.",
            &q
        ));
    }

    #[test]
    fn a_passage_holds_the_names_of_a_question() {
        let names = question_names("Who runs the CPME's digital commission?");
        assert_eq!(names, ["cpme"]);
        let names = question_names("c'est qui Ross Gan ?");
        assert_eq!(names, ["ross", "gan"]);
        assert!(holds_names(
            "Le contrat a été révélé par Ross Gan, porte-parole.",
            &names
        ));
        assert!(!holds_names("Ross Perot a été candidat.", &names));
        assert!(question_names("what is the capital of france").is_empty());
        // The first word is capitalised for being first, not for being a name.
        assert!(question_names("Combien de salariés ?").is_empty());
    }

    #[test]
    fn question_words_give_answer_types() {
        use AnswerType::*;
        for (q, t) in [
            ("Combien de consultants IBM envoie-t-il chez Huawei ?", Number),
            ("How many consultants does IBM send?", Number),
            ("Quel âge avait-il ?", Number),
            ("Qui a fondé Huawei ?", Person),
            ("Par qui le château a-t-il été construit ?", Person),
            ("Who founded Huawei?", Person),
            // Who someone named is: a role or a title, not another name.
            ("Qui est Ross Gan ?", Other),
            ("c'est qui Pie IV", Other),
            ("Who was Ken Hu?", Other),
            ("Qui est le PDG de Huawei ?", Person),
            ("Who is Huawei's founder?", Person),
            ("Quand la tour a-t-elle été construite ?", Date),
            ("En quelle année la guerre a-t-elle commencé ?", Date),
            ("When was the tower built?", Date),
            ("What year did the war start?", Date),
            ("Où se trouve le siège ?", Place),
            ("Dans quel pays se trouve Armonk ?", Place),
            ("Where is the headquarters?", Place),
            ("Pourquoi Huawei fait-il appel à IBM ?", Cause),
            ("Why did Huawei hire IBM?", Cause),
            ("Quel est le nom du projet ?", Other),
            ("What is the project called?", Other),
            ("Quel est le rôle du roi qui règne ?", Other),
            ("Quel est le nom du PDG de Xiaomi ?", Person),
            ("What is the name of Xiaomi's CEO?", Person),
            ("Comment s'appelle le maire de Lyon ?", Person),
            ("Quel est l'auteur du livre ?", Person),
            ("Quelle est la durée du contrat ?", Number),
            ("What is the population of Paris?", Number),
            ("Quelle est la capitale de l'Australie ?", Place),
            ("Quel est le nom de la ville ?", Place),
            ("Quelle est la date de la signature ?", Date),
            ("Quel est le but de l'accord ?", Other),
            // "Quand" / "when" as a question word, and as a conjunction.
            ("Depuis quand la tour est-elle fermée ?", Date),
            ("À partir de quand les Acadiens sont-ils déportés ?", Date),
            ("L'espèce a été découverte quand ?", Date),
            ("How and when did the plague reach Europe?", Date),
            ("Quel âge avait-il quand il a fondé Huawei ?", Number),
            ("Qui dirigeait l'équipe quand il l'a rejointe ?", Person),
            ("Who was the leader when the Franks arrived?", Person),
            ("Que peut-on boire quand on est enrhumé ?", Other),
        ] {
            assert_eq!(expected_type(q), t, "{q}");
        }
    }

    #[test]
    fn evidence_counts_only_what_the_question_lacks() {
        let q = question_words("Combien de consultants IBM envoie-t-il chez Huawei ?");
        let e = evidence("IBM envoie 25 consultants chez Huawei.", &q);
        assert!(e.number && !e.name);
        let e = evidence("IBM envoie des consultants chez Huawei.", &q);
        assert!(!e.number, "IBM and Huawei are in the question");
        let e = evidence("Le groupe a été fondé en 1987 à Shenzhen par Ren Zhengfei.", &q);
        assert!(e.date && e.place && e.name);
        let e = evidence("Il a démissionné parce que la fusion a échoué.", &q);
        assert!(e.cause);
    }

    proptest::proptest! {
        /// Tokens, evidence and fact spans of arbitrary text never panic, and every span is
        /// a slice of the text.
        #[test]
        fn arbitrary_sentences_never_panic(s in "\\PC{0,80}", q in "\\PC{0,40}") {
            for t in tokens(&s) {
                proptest::prop_assert_eq!(s.get(t.start..t.end), Some(t.text));
            }
            let qw = question_words(&q);
            let _ = evidence(&s, &qw);
            let names = question_names(&q);
            let _ = (holds_names(&s, &names), describes_name(&s, &names), counted_noun(&q));
            let _ = crate::lexical::question_content(&q);
            // Recasing changes case only.
            let cased = recase(&q.to_lowercase(), &[&s]);
            proptest::prop_assert_eq!(cased.to_lowercase(), q.to_lowercase().to_lowercase());
            let _ = (asks_for_a_name(&q), names_something_new(&s, &names.iter().cloned().collect()));
            let kind = expected_type(&q);
            for k in [kind, AnswerType::Number, AnswerType::Date, AnswerType::Person, AnswerType::Place, AnswerType::Cause] {
                if let Some(r) = crate::answer::span::fact_span(&s, k, &qw) {
                    proptest::prop_assert!(s.get(r).is_some());
                }
            }
        }

        /// Apostrophes, quotes and punctuation in every position, as article text has them.
        #[test]
        fn punctuation_heavy_sentences_never_panic(parts in proptest::collection::vec(
            proptest::sample::select(vec!["l'", "’", "'", " ", "d’", "12", "%", ",", ".", "É", "à", "Paris", "qu'", "-", "1987", "XIXe", "ﬁ", "İ"]), 0..30)) {
            let s = parts.concat();
            for t in tokens(&s) {
                proptest::prop_assert_eq!(s.get(t.start..t.end), Some(t.text));
            }
            let names = question_names(&format!("Qui est {s} ?"));
            let _ = (describes_name(&s, &names), asks_who_someone_is(&s), crate::lexical::question_content(&s));
            let lower = s.to_lowercase();
            proptest::prop_assert_eq!(recase(&lower, &[&s]).to_lowercase(), lower.to_lowercase());
            let _ = evidence(&s, &question_words("Combien ?"));
            for k in [AnswerType::Number, AnswerType::Date, AnswerType::Person, AnswerType::Place, AnswerType::Cause] {
                if let Some(r) = crate::answer::span::fact_span(&s, k, &question_words("Qui ?")) {
                    proptest::prop_assert!(s.get(r).is_some());
                }
            }
        }
    }

    #[test]
    fn the_head_of_a_company_is_named_as_such() {
        for q in [
            "Who is the CEO of Vivendi?",
            "qui est le PDG de Huawei",
            "Qui est le directeur général de Nokia ?",
        ] {
            assert!(asks_for_chief_executive(q), "{q}");
        }
        for q in [
            "Qui est Ross Gan ?",
            "Who runs the CPME's digital commission?",
            "Combien gagne le PDG ?",
        ] {
            assert!(!asks_for_chief_executive(q), "{q}");
        }
        assert!(names_chief_executive(
            "Et le gouvernement voit ses relations avec l'armée chinoise, d'où son P-DG et fondateur Ren Zhengfei est issu."
        ));
        assert!(!names_chief_executive(
            "Huawei a convaincu Fabien Aufrechter, le directeur Web 3.0 de Vivendi, d'intervenir."
        ));
    }

    #[test]
    fn where_typed_without_its_accent() {
        for q in [
            "ou est basée la firme ibm",
            "c'est ou armonk",
            "huawei a tenu sa conférence ou ?",
            "d'ou vient ren zhengfei",
        ] {
            assert_eq!(expected_type(q), AnswerType::Place, "{q}");
        }
        assert_eq!(expected_type("quelle duree a le contrat"), AnswerType::Number);
        assert_eq!(expected_type("en quelle annee 3com a ete rachete"), AnswerType::Date);
        for q in [
            "Qui a fondé Huawei ou Xiaomi ?",
            "combien de salariés ou de partenaires",
        ] {
            assert_ne!(expected_type(q), AnswerType::Place, "{q}");
        }
    }

    #[test]
    fn age_questions_and_ages() {
        for q in [
            "quel est l'âge de wilbur ross",
            "Quel âge a Ren Zhengfei ?",
            "How old is Ken Hu?",
        ] {
            assert!(asks_for_age(q), "{q}");
            assert_eq!(expected_type(q), AnswerType::Number, "{q}");
        }
        for q in [
            "Combien de demandes ?",
            "Who is the CEO?",
            "Quel est le rôle de l'agence ?",
        ] {
            assert!(!asks_for_age(q), "{q}");
        }
        for s in [
            "Il est mort à 34 ans.",
            "He played at age 39.",
            "âgé de trente ans, il part.",
            "Il n’avait pas encore atteint sa vingt-troisième année.",
            "Alberto Azzo II, né le 10 juillet 1009, est un seigneur.",
        ] {
            assert!(carries_age(s), "{s}");
        }
        assert!(!carries_age(
            "“Ce sont pas moins de 260 demandes” a déclaré Wilbur Ross."
        ));
    }

    #[test]
    fn money_questions_and_sums() {
        for q in [
            "Combien Huawei paie-t-il IBM pour cette mission de conseil ?",
            "Combien a coûté la construction du pont ?",
            "Combien d'euros la ville a-t-elle dépensés ?",
            "How much did Huawei pay IBM?",
            "How much money was raised?",
            "Quel est le montant du contrat ?",
            "Quel est le salaire de Willi Song ?",
            "What was the cost of the bridge?",
            "What is Ken Hu's salary?",
        ] {
            assert!(asks_for_money(q), "{q}");
            assert_eq!(expected_type(q), AnswerType::Number, "{q}");
        }
        for q in [
            "Combien de consultants IBM envoie-t-il chez Huawei ?",
            "Combien de temps a duré la guerre ?",
            "Combien d'employés IBM paie-t-il ?",
            "How much does the statue weigh?",
            "How many people paid?",
            "Quel prix a reçu Marie Curie en 1903 ?",
            "Qui a payé la facture ?",
        ] {
            assert!(!asks_for_money(q), "{q}");
        }
        for s in [
            "Le contrat s'élève à 3,5 millions d'euros.",
            "It cost $40 million.",
            "Le billet coûte 12 €.",
            "Huawei a versé 2 milliards à ses employés.",
            "The deal was worth 300 pounds.",
        ] {
            assert!(carries_money(s), "{s}");
        }
        for s in [
            "IBM envoie 25 consultants chez Huawei.",
            "Aucune des deux parties n'en a révélé les détails financiers.",
            "Le prix a été remis en 1903.",
        ] {
            assert!(!carries_money(s), "{s}");
        }
    }

    #[test]
    fn the_counted_noun_follows_a_new_number() {
        for (q, n) in [
            ("Combien de salariés Huawei compte-t-il en Europe ?", Some("salaries")),
            ("Combien d'habitants compte la ville ?", Some("habitants")),
            ("How many employees does Huawei have?", Some("employees")),
            ("How many Huawei employees are in Europe?", Some("employees")),
            ("How many Americans live in Paris?", Some("americans")),
            ("Combien de Français vivent à Londres ?", Some("francais")),
            ("Quel est le nombre de morts ?", Some("morts")),
            ("Combien Huawei paie-t-il IBM ?", None),
            ("Qui a fondé Huawei ?", None),
        ] {
            assert_eq!(counted_noun(q).as_deref(), n, "{q}");
        }
        let q = question_words("Combien de salariés Huawei compte-t-il en Europe ?");
        assert!(counted_after_number(
            "Le groupe compte déjà 13.000 salariés sur le continent.",
            "salaries",
            &q
        ));
        assert!(!counted_after_number(
            "La conférence a réuni plus de 1.000 partenaires.",
            "salaries",
            &q
        ));
        assert!(!counted_after_number("Les salariés sont nombreux.", "salaries", &q));
        // People under another name, in either language; other things are not people.
        let q = question_words("Combien de personnes travaillent chez Huawei en Europe ?");
        let staff = "Le groupe compte déjà 13.000 salariés sur le continent.";
        assert!(counted_after_number(staff, "personnes", &q));
        assert!(counted_after_number(staff, "employees", &q));
        assert!(!counted_after_number(
            "Huawei Cloud revendique plus de 6.000 entreprises clientes en Europe.",
            "personnes",
            &q
        ));
        assert!(!counted_after_number(staff, "magasins", &q));
    }

    #[test]
    fn sentences_that_say_a_fact_was_withheld() {
        for yes in [
            "IBM a également confirmé l’information, mais aucune des deux parties n’en a révélé les détails financiers.",
            "Concernant les modalités de la transaction, c’est le silence radio, car ni le montant de l’opération, ni les brevets concernés n’ont été communiqués.",
            "Le prix n'a pas été divulgué.",
            "Rien n'a été précisé sur le calendrier.",
            "Financial terms of the deal were not disclosed.",
            "The price has not been disclosed.",
        ] {
            assert!(says_undisclosed(yes), "{yes}");
        }
        for no in [
            "Le contrat a été révélé par Ross Gan, porte-parole du groupe chinois.",
            "Le projet n'a été révélé qu'en 2019 par la presse.",
            "IBM lui envoie 25 consultants pour remédier au problème.",
            "The deal was disclosed on Monday.",
        ] {
            assert!(!says_undisclosed(no), "{no}");
        }
    }

    #[test]
    fn a_role_holder_is_named_by_a_person_not_a_company() {
        for q in [
            "What is the name of Xiaomi's CEO?",
            "Who is the CEO of Huawei?",
            "Qui est le PDG de Xiaomi ?",
            "Comment s'appelle le maire de Paris ?",
            "Quel est le nom du fondateur de Huawei ?",
            "Qui dirige Xiaomi ?",
            "Who heads Huawei's enterprise business?",
        ] {
            assert!(asks_for_role_holder(q), "{q}");
        }
        for q in [
            "Qui a construit le pont ?",
            "Who won the 2018 World Cup?",
            "Combien de consultants IBM envoie-t-il ?",
            "Quel est le nom de la société ?",
            "Qui sont les premiers utilisateurs de la UAZ ?",
        ] {
            assert!(!asks_for_role_holder(q), "{q}");
        }
        let q = question_words("What is the name of Xiaomi's CEO?");
        for s in [
            "Le fondateur de Xiaomi, Lei Jun, a présenté le téléphone.",
            "Huawei a été fondé par Ren Zhengfei en 1987.",
            "Selon M. Ren, la marque doit changer.",
            "Tim Cook dirige Apple.",
            "Il fut nommé par Bernardo de Gálvez.",
            "Jean d'Angleterre régnait alors.",
            "Le ministre Bruno Le Maire était présent.",
            "C'est le pape qui dirige l'État du Vatican.",
        ] {
            assert!(names_person(s, &q), "{s}");
        }
        for s in [
            "Le groupe s'est vu dépasser par ses concurrents locaux Oppo, Huawei et Vivo.",
            "L'ambition affichée de Xiaomi est de séduire la clientèle européenne.",
            "Le Monde l'a annoncé en Janvier 2019.",
            "Xiaomi a vendu 100 millions de téléphones en 2018.",
        ] {
            assert!(!names_person(s, &q), "{s}");
        }
    }

    #[test]
    fn tokens_keep_numbers_and_split_elisions() {
        let t: Vec<&str> = tokens("L'entreprise a payé 3,5 millions d'euros, soit 12% de plus en 1987.")
            .iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(
            t,
            [
                "L'",
                "entreprise",
                "a",
                "payé",
                "3,5",
                "millions",
                "d'",
                "euros",
                "soit",
                "12%",
                "de",
                "plus",
                "en",
                "1987"
            ]
        );
    }

    #[test]
    fn a_figure_for_another_place() {
        let q = "Combien de magasins Xiaomi a-t-il en Inde ?";
        assert_eq!(scoped_place(q).as_deref(), Some("inde"));
        let china = "Il a annoncé l’ouverture d’ici à 2019 en Chine d’un millier de magasins en dur.";
        assert!(figure_for_another_place(q, &[china]));
        // Named by a sentence shown, or asked about the same place: the figure stands.
        assert!(!figure_for_another_place(q, &[china, "Xiaomi a percé en Inde."]));
        assert!(!figure_for_another_place(
            "Combien de magasins Xiaomi ouvre-t-il en Chine ?",
            &[china]
        ));
        // "a" before a name is a verb, not "à": no place asked.
        assert_eq!(scoped_place("Combien d'employés a Xiaomi ?"), None);
        assert!(!figure_for_another_place("Combien d'employés a Xiaomi ?", &[china]));
        // A sentence scoped to no place says nothing.
        assert!(!figure_for_another_place(q, &["Xiaomi compte mille magasins."]));
    }

    #[test]
    fn names_by_stem_and_capitalised_mentions() {
        assert!(mentions_stem("l'État norvégien fut condamné", "norvege"));
        assert!(mentions_stem("les institutions politiques mexicaines", "mexicaine"));
        assert!(mentions_stem("Nokia va aussi fournir", "nokia"));
        assert!(!mentions_stem("Le groupe compte 13.000 salariés", "nokia"));
        // A short name is matched whole: "IEP" is not "Iéna".
        assert!(!mentions_stem("Iéna", "iep"));
        assert_eq!(capitalised_mentions("Nokia, puis Xiaomi et Nokia ; nokia", "nokia"), 2);
    }

    #[test]
    fn an_undisclosed_sentence_speaks_to_a_question_sharing_its_words() {
        let fee = "IBM a également confirmé l’information, mais aucune des deux parties n’en a révélé les détails financiers.";
        assert!(!shares_content_word("Combien d'employés compte IBM ?", fee));
        assert!(shares_content_word(
            "Quels sont les détails financiers du contrat ?",
            fee
        ));
        // The question's names are not what it shares.
        assert!(!shares_content_word(
            "Combien de salariés a IBM ?",
            "IBM n'a rien révélé."
        ));
    }

    #[test]
    fn the_price_of_something_is_money_a_prize_is_not() {
        assert!(asks_for_money("Quel est le prix des brevets Nokia ?"));
        assert!(asks_for_money("Quel est le prix de l'abonnement annuel ?"));
        assert!(!asks_for_money("Quel prix a-t-il reçu en 1998 ?"));
        assert!(!asks_for_money("Quel est le grand prix de Suisse ?"));
    }
}
