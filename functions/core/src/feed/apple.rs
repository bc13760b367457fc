//! Apple Podcasts' rules for a show: its category list and the channel tags
//! it requires or recommends. A build refuses a feed that misses a required one.

use serde::Serialize;

use crate::domain::Show;

/// Apple Podcasts categories and their subcategories (Apple's 2019 list).
pub const CATEGORIES: &[(&str, &[&str])] = &[
    ("Arts", &["Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"]),
    ("Business", &["Careers", "Entrepreneurship", "Investing", "Management", "Marketing", "Non-Profit"]),
    ("Comedy", &["Comedy Interviews", "Improv", "Stand-Up"]),
    ("Education", &["Courses", "How To", "Language Learning", "Self-Improvement"]),
    ("Fiction", &["Comedy Fiction", "Drama", "Science Fiction"]),
    ("Government", &[]),
    ("History", &[]),
    ("Health & Fitness", &["Alternative Health", "Fitness", "Medicine", "Mental Health", "Nutrition", "Sexuality"]),
    ("Kids & Family", &["Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"]),
    ("Leisure", &["Animation & Manga", "Automotive", "Aviation", "Crafts", "Games", "Hobbies", "Home & Garden", "Video Games"]),
    ("Music", &["Music Commentary", "Music History", "Music Interviews"]),
    ("News", &["Business News", "Daily News", "Entertainment News", "News Commentary", "Politics", "Sports News", "Tech News"]),
    ("Religion & Spirituality", &["Buddhism", "Christianity", "Hinduism", "Islam", "Judaism", "Religion", "Spirituality"]),
    ("Science", &["Astronomy", "Chemistry", "Earth Sciences", "Life Sciences", "Mathematics", "Natural Sciences", "Nature", "Physics", "Social Sciences"]),
    ("Society & Culture", &["Documentary", "Personal Journals", "Philosophy", "Places & Travel", "Relationships"]),
    ("Sports", &["Baseball", "Basketball", "Cricket", "Fantasy Sports", "Football", "Golf", "Hockey", "Rugby", "Running", "Soccer", "Swimming", "Tennis", "Volleyball", "Wilderness", "Wrestling"]),
    ("Technology", &[]),
    ("True Crime", &[]),
    ("TV & Film", &["After Shows", "Film History", "Film Interviews", "Film Reviews", "TV Reviews"]),
];

/// Something a feed lacks. `blocking` problems stop a publish; the others
/// are Apple's recommendations, reported but not enforced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    pub code: &'static str,
    pub field: &'static str,
    pub message: String,
    pub blocking: bool,
}

fn problem(code: &'static str, field: &'static str, message: &str, blocking: bool) -> Problem {
    Problem { code, field, message: message.to_owned(), blocking }
}

/// Whether `sub` is one of the subcategories Apple lists under `category`.
pub fn subcategory_fits(category: &str, sub: &str) -> bool {
    CATEGORIES.iter().any(|(c, subs)| *c == category && subs.contains(&sub))
}

/// What Apple requires (blocking) and recommends (not) of the channel.
/// `has_image` says whether the show's image resolved to a URL.
pub fn check_show(show: &Show, has_image: bool) -> Vec<Problem> {
    let mut out = Vec::new();
    if show.title.trim().is_empty() {
        out.push(problem("feed.title_missing", "title", "Apple requires a show title", true));
    }
    if show.description.trim().is_empty() {
        out.push(problem("feed.description_missing", "description", "Apple requires a show description", true));
    }
    if !has_image {
        out.push(problem("feed.image_missing", "image", "Apple requires artwork (a 1400-3000 px square JPEG or PNG)", true));
    }
    if show.language.is_empty() {
        out.push(problem("feed.language_missing", "language", "Apple requires the show's language (e.g. 'en')", true));
    }
    match show.category.as_deref() {
        None | Some("") => out.push(problem("feed.category_missing", "category", "Apple requires a category from its list", true)),
        Some(cat) => match CATEGORIES.iter().find(|(c, _)| *c == cat) {
            None => out.push(problem("feed.category_unknown", "category", &format!("'{cat}' is not an Apple Podcasts category"), true)),
            Some((_, subs)) => {
                if let Some(sub) = show.subcategory.as_deref().filter(|s| !s.is_empty()) {
                    if !subs.contains(&sub) {
                        out.push(problem("feed.subcategory_unknown", "subcategory", &format!("'{sub}' is not a subcategory of '{cat}'"), true));
                    }
                }
            }
        },
    }
    if show.author.trim().is_empty() {
        out.push(problem("feed.author_missing", "author", "Apple recommends naming the author", false));
    }
    if show.owner.email.is_empty() {
        out.push(problem("feed.owner_email_missing", "owner.email", "Apple recommends an owner email (it is used to verify ownership)", false));
    }
    if show.link.is_none() {
        out.push(problem("feed.link_missing", "link", "Apple recommends a website link", false));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_show_lacks_everything_apple_requires() {
        let codes: Vec<_> = check_show(&Show::default(), false).into_iter().filter(|p| p.blocking).map(|p| p.code).collect();
        assert_eq!(codes, ["feed.title_missing", "feed.description_missing", "feed.image_missing", "feed.language_missing", "feed.category_missing"]);
    }

    #[test]
    fn categories_and_subcategories_come_from_apples_list() {
        let mut show = Show { title: "t".into(), description: "d".into(), language: "en".into(), ..Default::default() };
        show.category = Some("Technology".into());
        assert!(check_show(&show, true).iter().all(|p| !p.blocking));
        show.category = Some("News".into());
        show.subcategory = Some("Tech News".into());
        assert!(check_show(&show, true).iter().all(|p| !p.blocking));
        show.subcategory = Some("Cooking".into());
        assert_eq!(check_show(&show, true)[0].code, "feed.subcategory_unknown");
        show.category = Some("Podcasts".into());
        assert_eq!(check_show(&show, true)[0].code, "feed.category_unknown");
    }
}
