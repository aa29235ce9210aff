//! Languages: the one normaliser of language tags, and identification with whatlang.
//!
//! Metadata, JSONL fields, `--lang` and the lexical analysers all go through [`normalize`], so
//! `fr-FR`, `FR`, `fra` and `français` are the same language everywhere. whatlang speaks
//! ISO 639-3 (`fra`); the index and the user speak ISO 639-1 (`fr`).

use whatlang::Lang;

/// Below this many letters an unreliable guess is worse than none.
const SHORT_TEXT_LETTERS: usize = 200;

/// The ISO 639-1 code of `text`'s language, or `None` when the guess is unreliable on short text.
pub fn detect(text: &str) -> Option<String> {
    let info = whatlang::detect(text)?;
    if !info.is_reliable() && text.chars().filter(|c| c.is_alphabetic()).count() < SHORT_TEXT_LETTERS {
        return None;
    }
    Some(iso639_1(info.lang()).to_string())
}

/// Normalises a language tag (`fr-FR`, `FR`, `fra`, `fre`, `French`, `français`) to an ISO 639-1
/// code. `None` for a tag that names no language sourcier can identify (`xx`, `klingon`).
pub fn normalize(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next()?.to_lowercase();
    let named = match primary.as_str() {
        "french" | "français" | "francais" | "fre" => Some("fr"),
        "english" | "anglais" => Some("en"),
        "german" | "allemand" | "ger" => Some("de"),
        "spanish" | "espagnol" => Some("es"),
        "italian" | "italien" => Some("it"),
        _ => None,
    };
    if let Some(code) = named {
        return Some(code.to_string());
    }
    match primary.len() {
        2 => Lang::all()
            .iter()
            .map(|&l| iso639_1(l))
            .find(|&c| c == primary)
            .map(str::to_string),
        3 => Lang::from_code(primary.as_str()).map(|l| iso639_1(l).to_string()),
        _ => None,
    }
}

/// The codes [`normalize`] can return, for messages.
pub fn known_codes() -> Vec<&'static str> {
    let mut codes: Vec<&str> = Lang::all().iter().map(|&l| iso639_1(l)).collect();
    codes.sort_unstable();
    codes
}

fn iso639_1(lang: Lang) -> &'static str {
    use Lang::*;
    match lang {
        Epo => "eo",
        Eng => "en",
        Rus => "ru",
        Cmn => "zh",
        Spa => "es",
        Por => "pt",
        Ita => "it",
        Ben => "bn",
        Fra => "fr",
        Deu => "de",
        Ukr => "uk",
        Kat => "ka",
        Ara => "ar",
        Hin => "hi",
        Jpn => "ja",
        Heb => "he",
        Yid => "yi",
        Pol => "pl",
        Amh => "am",
        Jav => "jv",
        Kor => "ko",
        Nob => "nb",
        Dan => "da",
        Swe => "sv",
        Fin => "fi",
        Tur => "tr",
        Nld => "nl",
        Hun => "hu",
        Ces => "cs",
        Ell => "el",
        Bul => "bg",
        Bel => "be",
        Mar => "mr",
        Kan => "kn",
        Ron => "ro",
        Slv => "sl",
        Hrv => "hr",
        Srp => "sr",
        Mkd => "mk",
        Lit => "lt",
        Lav => "lv",
        Est => "et",
        Tam => "ta",
        Vie => "vi",
        Urd => "ur",
        Tha => "th",
        Guj => "gu",
        Uzb => "uz",
        Pan => "pa",
        Aze => "az",
        Ind => "id",
        Tel => "te",
        Pes => "fa",
        Mal => "ml",
        Ori => "or",
        Mya => "my",
        Nep => "ne",
        Sin => "si",
        Khm => "km",
        Tuk => "tk",
        Aka => "ak",
        Zul => "zu",
        Sna => "sn",
        Afr => "af",
        Lat => "la",
        Slk => "sk",
        Cat => "ca",
        Tgl => "tl",
        Hye => "hy",
        Cym => "cy",
    }
}

/// Guesses whether a question is French or English. Questions are short, where statistical
/// detectors are unreliable, so common function words decide first.
pub fn question_lang(q: &str) -> &'static str {
    const FR: &[&str] = &[
        "le", "la", "les", "des", "du", "de", "un", "une", "est", "quel", "quelle", "quels", "quelles", "qui", "que",
        "quoi", "combien", "comment", "pourquoi", "où", "quand", "et", "en", "au", "aux", "sur", "pour", "avec",
        "dans", "il", "elle", "ils", "a-t-il", "est-ce", "selon", "depuis",
    ];
    const EN: &[&str] = &[
        "the",
        "a",
        "an",
        "is",
        "are",
        "was",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "many",
        "much",
        "why",
        "where",
        "when",
        "and",
        "in",
        "on",
        "for",
        "with",
        "of",
        "to",
        "does",
        "do",
        "did",
        "has",
        "have",
        "according",
    ];
    let words: Vec<String> = q
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect();
    let fr = words
        .iter()
        .filter(|w| FR.contains(&w.as_str()) || w.contains("qu'") || w.starts_with("l'") || w.starts_with("d'"))
        .count();
    let en = words.iter().filter(|w| EN.contains(&w.as_str())).count();
    if fr > en {
        "fr"
    } else if en > fr {
        "en"
    } else if q.chars().any(|c| "éèêàçùûôîœ".contains(c)) {
        "fr"
    } else {
        "en"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_french_and_english() {
        let fr = "Huawei a décidé d'étendre ses relations avec IBM en lui confiant une mission de conseil \
                  sur sa stratégie de branding mondial. Le contrat a été révélé par le porte-parole du groupe.";
        let en = "The company said on Monday that it would extend its partnership with IBM, which will send \
                  consultants to help the Chinese group manage its brand around the world.";
        assert_eq!(detect(fr).as_deref(), Some("fr"));
        assert_eq!(detect(en).as_deref(), Some("en"));
        assert_eq!(detect(""), None);
    }

    #[test]
    fn normalizes_tags() {
        assert_eq!(normalize("fr-FR").as_deref(), Some("fr"));
        assert_eq!(normalize("fr_CA").as_deref(), Some("fr"));
        assert_eq!(normalize("EN").as_deref(), Some("en"));
        assert_eq!(normalize("fra").as_deref(), Some("fr"));
        assert_eq!(normalize("French").as_deref(), Some("fr"));
        assert_eq!(normalize("Français").as_deref(), Some("fr"));
        assert_eq!(normalize("de").as_deref(), Some("de"));
        assert_eq!(normalize("xx"), None);
        assert_eq!(normalize("klingon"), None);
        assert_eq!(normalize(""), None);
        assert!(known_codes().contains(&"fr"));
    }
}
