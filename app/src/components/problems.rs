//! How problems read on a page: a list, or the messages under one field. A mention of a stored
//! request (`request <id>`) becomes a link to it, so a conflict points at the work that holds
//! the path.

use leptos::prelude::*;

/// Splits `text` into plain parts and request ids mentioned as `request <uuid>`.
fn split_mentions(text: &str) -> Vec<(String, Option<String>)> {
    const MARK: &str = "request ";
    const ID_LEN: usize = 36;
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(MARK) {
        let after = &rest[start + MARK.len()..];
        let id = after.get(..ID_LEN).filter(|candidate| {
            candidate.chars().enumerate().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
        });
        match id {
            Some(id) => {
                parts.push((rest[..start].to_owned(), None));
                parts.push((format!("request {}", &id[..8]), Some(id.to_owned())));
                rest = &after[ID_LEN..];
            }
            None => {
                parts.push((rest[..start + MARK.len()].to_owned(), None));
                rest = after;
            }
        }
    }
    parts.push((rest.to_owned(), None));
    parts
}

/// A message with its request mentions linked.
#[component]
pub fn MessageText(text: String) -> impl IntoView {
    split_mentions(&text)
        .into_iter()
        .map(|(part, link)| match link {
            Some(id) => view! { <a href=format!("/requests/{id}")>{part}</a> }.into_any(),
            None => part.into_any(),
        })
        .collect_view()
}

/// Problems as a list, each with the field it is about.
#[component]
pub fn ProblemList(problems: Vec<mesh::Problem>) -> impl IntoView {
    view! {
        <ul class="problems">
            {problems
                .into_iter()
                .map(|problem| {
                    // With several documents, say which one ("request#2") the problem is in.
                    let place = match &problem.source {
                        Some(source) if source.contains('#') => format!("{source} · {}", problem.field),
                        _ => problem.field.clone(),
                    };
                    view! {
                        <li>
                            <span class="field">{place}</span>
                            <MessageText text=problem.message.clone() />
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// The messages under one field, tied to it by id (`aria-describedby`).
#[component]
pub fn FieldMessages(id: String, messages: Signal<Vec<String>>) -> impl IntoView {
    view! {
        <div class="field-messages" id=id aria-live="polite">
            {move || {
                messages
                    .get()
                    .into_iter()
                    .map(|message| view! { <p class="field-error"><MessageText text=message /></p> })
                    .collect_view()
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_in_messages_become_links() {
        let parts = split_mentions(
            "/orders is leased to team team-a by request 0b8f6c1e-8c44-4f55-9c38-1b1f3c0a9d2e on x",
        );
        assert_eq!(parts.len(), 3);
        assert_eq!(
            parts[1],
            (
                "request 0b8f6c1e".to_owned(),
                Some("0b8f6c1e-8c44-4f55-9c38-1b1f3c0a9d2e".to_owned())
            )
        );
        assert_eq!(parts[2].0, " on x");
    }

    #[test]
    fn text_without_an_id_stays_as_it_is() {
        let parts = split_mentions("a request for nothing");
        let joined: String = parts.into_iter().map(|(p, _)| p).collect();
        assert_eq!(joined, "a request for nothing");
    }
}
