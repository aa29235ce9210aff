//! Recognising page furniture (share bars, comment forms, teasers, credits, cookie notices).
//!
//! Scraped news text carries lines that are not the article: indexing them would make every
//! article match "laisser un commentaire". Rules look at one line or paragraph at a time and are
//! deliberately narrow (exact labels, anchored prefixes, length caps) so real prose survives.

use super::dates;

/// What a boilerplate line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// Drop this line.
    Drop,
    /// "Lire aussi :" and friends; `bare` when the linked title is on the following line(s).
    Teaser { bare: bool },
    /// The comment section starts here ("Laisser un commentaire", "12 commentaires").
    CommentsStart,
    /// A "Publié le ..." line with the date it carries.
    DateMeta(String),
}

/// Boilerplate lines are short; long paragraphs are always prose.
const MAX_CHARS: usize = 400;

/// Whole-line labels (compared after lowercasing and trimming trailing `:`, `*`, `.`).
const EXACT: &[&str] = &[
    "publicité",
    "publicite",
    "pub",
    "advertisement",
    "advertisements",
    "advertising",
    "annonce",
    "sponsored",
    "sponsorisé",
    "contenu sponsorisé",
    "partenaire",
    "partager",
    "partager cet article",
    "partagez cet article",
    "partager sur",
    "partager l'article",
    "partagez",
    "share",
    "share this",
    "share this article",
    "share this story",
    "share this post",
    "like this",
    "j'aime ceci",
    "j'aime",
    "like",
    "chargement",
    "loading",
    "j'aime chargement",
    "like loading",
    "cancel reply",
    "annuler la réponse",
    "annuler la reponse",
    "reply",
    "répondre",
    "repondre",
    "print",
    "imprimer",
    "email",
    "e-mail",
    "mail",
    "envoyer par e-mail",
    "envoyer par email",
    "facebook",
    "twitter",
    "linkedin",
    "whatsapp",
    "pinterest",
    "reddit",
    "telegram",
    "tumblr",
    "pocket",
    "messenger",
    "flipboard",
    "subscribe",
    "s'abonner",
    "abonnez-vous",
    "newsletter",
    "related",
    "read more",
    "lire la suite",
    "continuer la lecture",
    "en savoir plus",
    "tags",
    "mots-clés",
    "mots clés",
    "mots-clefs",
    "commentaires",
    "comments",
    "nom",
    "name",
    "site web",
    "website",
    "commentaire",
    "comment",
    "menu",
    "rechercher",
    "search",
    "accueil",
    "home",
    "retour en haut",
    "back to top",
    "sommaire",
    "fermer",
    "close",
    "précédent",
    "suivant",
    "previous",
    "next",
    "article précédent",
    "article suivant",
    "previous post",
    "next post",
    "navigation de l'article",
    "post navigation",
];

/// Teaser labels; the rest of the line (or the next lines) is a link to another article.
const TEASERS: &[&str] = &[
    "lire aussi",
    "à lire aussi",
    "a lire aussi",
    "lire également",
    "à lire également",
    "a lire également",
    "lire egalement",
    "voir aussi",
    "à voir aussi",
    "à lire",
    "a lire",
    "à voir",
    "read also",
    "read more",
    "see also",
    "also read",
    "related",
    "related posts",
    "related articles",
    "related stories",
    "sur le même sujet",
    "sur le meme sujet",
    "dans la même rubrique",
    "articles similaires",
    "articles liés",
    "articles connexes",
    "vous aimerez aussi",
    "vous aimerez peut-être aussi",
    "vous pourriez aimer",
    "you may also like",
    "you might also like",
    "recommended",
    "recommandé pour vous",
    "à découvrir",
    "à découvrir aussi",
    "découvrir aussi",
];

/// Teaser labels so specific that text may follow without a separator ("Lire aussi Huawei ...").
const STRONG_TEASERS: &[&str] = &[
    "lire aussi",
    "à lire aussi",
    "a lire aussi",
    "lire également",
    "à lire également",
    "read also",
];

/// Comment-section openers.
const COMMENTS: &[&str] = &[
    "laisser un commentaire",
    "laisser une réponse",
    "laissez un commentaire",
    "leave a reply",
    "leave a comment",
    "poster un commentaire",
    "post a comment",
    "ajouter un commentaire",
    "écrire un commentaire",
    "réagir à cet article",
    "réagissez à cet article",
    "join the discussion",
];

/// Line prefixes that mark furniture; the line is dropped when it starts with one of them.
const PREFIXES: &[&str] = &[
    // photo credits
    "crédit photo",
    "crédits photo",
    "credit photo",
    "credits photo",
    "crédit photos",
    "crédits photos",
    "crédit image",
    "crédit :",
    "crédits :",
    "photo credit",
    "image credit",
    "photo :",
    "photos :",
    "image :",
    "illustration :",
    "source photo",
    "©",
    // comment forms (WordPress and co.)
    "ce site utilise akismet",
    "this site uses akismet",
    "en savoir plus sur comment les données",
    "en savoir plus sur la façon dont les données",
    "learn how your comment data",
    "votre adresse e-mail ne sera pas publiée",
    "votre adresse email ne sera pas publiée",
    "votre adresse de messagerie ne sera pas publiée",
    "votre adresse courriel ne sera pas publiée",
    "your email address will not be published",
    "les champs obligatoires sont indiqués",
    "required fields are marked",
    "enregistrer mon nom",
    "save my name",
    "notify me of",
    "prévenez-moi de",
    "avertissez-moi par",
    "m'avertir par",
    "vous devez être connecté pour",
    "you must be logged in to",
    // sharing and following
    "partager :",
    "partager sur",
    "partagez sur",
    "share this:",
    "share on",
    "share:",
    "like this:",
    "j'aime ceci :",
    "cliquez pour partager",
    "cliquer pour partager",
    "click to share",
    "click to email",
    "click to print",
    "suivez-nous",
    "follow us",
    "retrouvez-nous sur",
    "rejoignez-nous sur",
    // newsletters
    "abonnez-vous à",
    "inscrivez-vous à notre newsletter",
    "inscrivez-vous à la newsletter",
    "inscrivez-vous gratuitement",
    "recevez notre newsletter",
    "recevez gratuitement",
    "subscribe to",
    "sign up for our newsletter",
    "sign up to our newsletter",
    "s'abonner à",
    "newsletter :",
    // cookies
    "ce site utilise des cookies",
    "ce site web utilise des cookies",
    "nous utilisons des cookies",
    "en poursuivant votre navigation",
    "en continuant à naviguer",
    "en continuant votre navigation",
    "en continuant d'utiliser ce site",
    "this site uses cookies",
    "this website uses cookies",
    "we use cookies",
    "by continuing to use",
    "by continuing to browse",
    "by using this site",
    "accepter les cookies",
    "accept cookies",
    "accept all cookies",
    "tout accepter",
    "accept all",
    "gérer les cookies",
    "paramétrer les cookies",
    "paramètres des cookies",
    "cookie settings",
    "cookie policy",
    "politique de cookies",
    "politique relative aux cookies",
    "tout refuser",
    "reject all",
    // taxonomy
    "mots-clés :",
    "mots clés :",
    "tags :",
    "tags:",
    "catégories :",
    "categories:",
    "catégorie :",
    "category:",
    "filed under",
    "classé dans",
    "publié dans",
    "posted in",
];

/// Fragments that mark furniture wherever they appear in a short line.
const CONTAINS: &[&str] = &["tous droits réservés", "all rights reserved", "ce site utilise akismet"];

/// "Publié le 12 avril 2025" style lines.
const DATE_PREFIXES: &[&str] = &[
    "publié le",
    "publié :",
    "mis à jour le",
    "mis à jour :",
    "dernière mise à jour",
    "published on",
    "published:",
    "published",
    "updated on",
    "updated:",
    "posted on",
    "last updated",
];

/// Classifies one line or paragraph; `None` means it is content.
pub(super) fn classify(line: &str) -> Option<Kind> {
    let chars = line.chars().count();
    if chars > MAX_CHARS {
        return None;
    }
    let n = normalize(line);
    if n.is_empty() {
        return None;
    }
    let core = n.trim_end_matches([':', '*', '.', '…', ' ', '!', '›', '»', '>', '|', '-', '–']);

    if COMMENTS.iter().any(|p| starts_with_word(&n, p)) || is_comment_count(&n) {
        return Some(Kind::CommentsStart);
    }
    for label in TEASERS {
        if let Some(rest) = n.strip_prefix(label) {
            let sep = rest.trim_start();
            let separated = sep.is_empty()
                || sep.starts_with([':', '>', '-', '–', '—', '|', '»', '.', '→', '►', '('])
                || (STRONG_TEASERS.contains(label) && rest.starts_with(' '));
            if separated && chars <= 300 {
                let bare = sep
                    .trim_start_matches([':', '>', '-', '–', '—', '|', '»', '.', '→', '►', ' '])
                    .is_empty();
                return Some(Kind::Teaser { bare });
            }
        }
    }
    if EXACT.contains(&core) {
        return Some(Kind::Drop);
    }
    if chars <= 300 && PREFIXES.iter().any(|p| starts_with_word(&n, p)) {
        return Some(Kind::Drop);
    }
    if chars <= 200 && CONTAINS.iter().any(|p| n.contains(p)) {
        return Some(Kind::Drop);
    }
    // A date line is short and not a sentence: "Publié le 3 mars 2025, le rapport ..." is prose.
    if chars <= 80
        && !n.ends_with('.')
        && DATE_PREFIXES.iter().any(|p| starts_with_word(&n, p))
        && let Some(date) = dates::find(&n)
    {
        return Some(Kind::DateMeta(date));
    }
    None
}

/// True when `line` can be the linked headline of a teaser (short, not a sentence).
pub(super) fn teaser_target(line: &str) -> bool {
    let t = line.trim();
    let chars = t.chars().count();
    if chars == 0 || chars > 200 || t.split_whitespace().count() > 30 {
        return false;
    }
    let ends_period = t.ends_with('.') && !t.ends_with("...");
    !ends_period && !t.ends_with(':')
}

/// Lowercase, typographic apostrophes folded, whitespace collapsed, leading bullets dropped.
pub(super) fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    let trimmed = s.trim_start_matches(|c: char| {
        !(c.is_alphanumeric() || c == '©' || c == '(' || c == '«' || c == '"' || c == '“')
    });
    for c in trimmed.chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        match c {
            '’' | '‘' | 'ʼ' => out.push('\''),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// `s` starts with `prefix` and the prefix does not end mid-word.
fn starts_with_word(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| {
        !prefix.ends_with(|c: char| c.is_alphanumeric()) || !rest.starts_with(|c: char| c.is_alphanumeric())
    })
}

/// "12 commentaires", "3 comments", "5 réponses", "2 thoughts on “...”".
fn is_comment_count(n: &str) -> bool {
    let rest = n.trim_start_matches(|c: char| c.is_ascii_digit());
    if rest.len() == n.len() || n.chars().count() > 200 {
        return false;
    }
    let rest = rest.trim_start();
    let word = rest.trim_end_matches([':', ' ', '.']);
    const WORDS: &[&str] = &[
        "commentaire",
        "commentaires",
        "comment",
        "comments",
        "réponse",
        "réponses",
        "response",
        "responses",
        "replies",
        "réaction",
        "réactions",
    ];
    const TITLED: &[&str] = &[
        "thoughts on",
        "réflexions sur",
        "réflexion sur",
        "responses to “",
        "responses to \"",
        "réponses à «",
        "réponse à «",
        "réponses à “",
        "commentaires sur «",
        "comments on “",
    ];
    WORDS.contains(&word) || TITLED.iter().any(|p| rest.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_furniture() {
        assert_eq!(classify("Lire aussi :"), Some(Kind::Teaser { bare: true }));
        assert_eq!(
            classify("Lire aussi\u{a0}: Huawei et IBM"),
            Some(Kind::Teaser { bare: false })
        );
        assert_eq!(classify("Laisser un commentaire"), Some(Kind::CommentsStart));
        assert_eq!(
            classify(
                "Ce site utilise Akismet pour réduire les indésirables. En savoir plus sur comment \
                 les données de vos commentaires sont utilisées."
            ),
            Some(Kind::Drop)
        );
        assert_eq!(classify("Crédit photo : Hans Gogia"), Some(Kind::Drop));
    }

    #[test]
    fn common_furniture() {
        for line in [
            "Partager :",
            "Share this:",
            "Like this:",
            "Leave a Reply",
            "Cancel reply",
            "Votre adresse e-mail ne sera pas publiée. Les champs obligatoires sont indiqués avec *",
            "Related posts",
            "Subscribe",
            "Publicité",
            "© 2024 Le Journal - Tous droits réservés",
            "Nous utilisons des cookies pour améliorer votre expérience.",
            "► LIRE AUSSI >> Le titre",
            "12 commentaires",
            "Cliquez pour partager sur Twitter(ouvre dans une nouvelle fenêtre)",
        ] {
            assert!(classify(line).is_some(), "{line}");
        }
        assert_eq!(
            classify("Publié le 12 avril 2025 à 10h32"),
            Some(Kind::DateMeta("2025-04-12".into()))
        );
    }

    #[test]
    fn keeps_prose() {
        for line in [
            "À lire les déclarations du ministre, on croirait que tout va bien.",
            "Huawei cible les grandes entreprises comme les PME",
            "Des demandes que la chambre de commerce va suivre.",
            "Subscribers grew by 20% last year.",
            "La CNIL a sanctionné Google pour son utilisation des cookies publicitaires.",
            "Publié le mois dernier, le rapport de la Commission européenne détaille les risques liés aux équipementiers chinois.",
            "Partagez-vous cet avis ? Beaucoup d'analystes en doutent.",
            "Photographie : un art en mutation",
            "Le groupe a publié ses comptes.",
            "Commentaires acerbes et critiques fusent depuis la publication du rapport.",
            "3 réponses à la crise énergétique",
            "Published research shows a rise in attacks",
            "Publié le 3 mars 2025, le rapport a fait grand bruit.",
        ] {
            assert_eq!(classify(line), None, "{line}");
        }
    }
}
