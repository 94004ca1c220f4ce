//! Identity links: the user an anonymous ID belongs to, and the anonymous ID last linked to a
//! user.

use trackway::domain::ResourceId;
use trackway::storage::entities::{Overlay, Writes};

use super::{id, Twins};

/// The anonymous ID last linked to `user_id`, but none of `excluding`: what a batch reads for a
/// user it knows, leaving out the links it makes itself.
const LATEST_LINK: &str =
    "SELECT anonymous_id FROM identities WHERE user_id = $1 AND anonymous_id <> ALL(string_to_array($2, ','))
                           ORDER BY linked_at DESC LIMIT 1";
const LINKED_USER: &str = "SELECT user_id FROM identities WHERE anonymous_id = $1";

#[tokio::test]
async fn the_anonymous_id_a_batch_finds_for_a_user_is_the_one_its_write_and_one_by_one_writes_link_last() {
    let twins = Twins::spawn().await;
    // (anonymous ID, user ID) linked an hour ago.
    for (anonymous, user) in [
        ("a-moved", "u-left"),
        ("a-older", "u-newer"),
        ("a-again", "u-again"),
        ("a-kept", "u-kept"),
    ] {
        let sql = "INSERT INTO identities VALUES ($1, $2, now() - interval '1 hour')";
        twins.seed(sql, &[anonymous, user]).await;
    }
    let triggers: [&[(&str, &str)]; 3] = [
        &[
            ("a-new", "u-new"),
            ("a-moved", "u-moved"),
            ("a-newer", "u-newer"),
            ("a-again", "u-again"),
            // Two links of one anonymous ID by one trigger: the first is kept.
            ("a-twice", "u-first"),
            ("a-twice", "u-second"),
            // Two links to one user by one trigger: the later is its latest.
            ("a-pair-1", "u-pair"),
            ("a-pair-2", "u-pair"),
            ("a-hop-1", "u-hop"),
        ],
        // Linked again by later triggers: to another user, or to the same one anew.
        &[("a-twice", "u-third"), ("a-hop-2", "u-hop")],
        &[("a-hop-1", "u-hop")],
    ];
    let users = [
        "u-new", "u-left", "u-moved", "u-newer", "u-again", "u-kept", "u-first", "u-second", "u-third", "u-pair",
        "u-hop",
    ];
    let user_ids: Vec<ResourceId> = users.iter().map(|u| id(u)).collect();
    let user = |name: &str| &user_ids[users.iter().position(|u| *u == name).unwrap()];
    let sequence: Vec<Writes> = triggers
        .iter()
        .map(|links| Writes {
            identities: links.iter().map(|(anonymous, u)| (*anonymous, user(u))).collect(),
            ..Writes::default()
        })
        .collect();
    let mut overlay = Overlay::default();
    for writes in &sequence {
        overlay.apply(writes);
    }
    let linked = overlay.linked_anonymous_ids().collect::<Vec<_>>().join(",");
    let anonymous_ids: Vec<&str> = triggers.iter().flat_map(|t| t.iter().map(|(a, _)| *a)).collect();
    let (mut latest, mut linked_user) = (Vec::new(), Vec::new());
    for user in users {
        let before = twins.read::<String>(LATEST_LINK, &[user, &linked]).await;
        latest.push(overlay.linked_anonymous_id(user).map(str::to_owned).or(before));
    }
    for anonymous in &anonymous_ids {
        let before = twins.read::<String>(LINKED_USER, &[anonymous]).await;
        linked_user.push(overlay.linked_user(anonymous).map(ResourceId::to_string).or(before));
    }
    twins.write(&sequence).await;

    for (user, expected) in users.iter().zip(latest) {
        let after = twins.read::<String>(LATEST_LINK, &[user, ""]).await;
        assert_eq!(after, expected, "{user}: the overlay and the statements disagree");
    }
    for (anonymous, expected) in anonymous_ids.iter().zip(linked_user) {
        let after = twins.read::<String>(LINKED_USER, &[anonymous]).await;
        assert_eq!(after, expected, "{anonymous}: the overlay and the statements disagree");
    }
    // The rules all three follow, spelled out.
    for (user, expected, rule) in [
        ("u-second", None, "one trigger's first link of a-twice is kept"),
        ("u-first", None, "a later trigger linked a-twice to u-third"),
        ("u-third", Some("a-twice"), "the later trigger's link"),
        (
            "u-pair",
            Some("a-pair-2"),
            "of one user's links by one trigger, the later is the latest",
        ),
        ("u-hop", Some("a-hop-1"), "linked again, by the last trigger"),
    ] {
        let latest = twins.read::<String>(LATEST_LINK, &[user, ""]).await;
        assert_eq!(latest.as_deref(), expected, "{user}: {rule}");
    }
}
