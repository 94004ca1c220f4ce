use serde_json::json;

use super::*;

fn id(value: &str) -> ResourceId {
    ResourceId::parse("ID", value).unwrap()
}

fn doc(value: Value) -> Doc {
    value.as_object().unwrap().clone()
}

fn entity(value: Value) -> Entity {
    let doc = doc(value);
    Entity {
        id: id(doc["ID"].as_str().unwrap()),
        doc,
    }
}

fn ids(docs: &[Doc]) -> Vec<&str> {
    docs.iter().map(|d| d["ID"].as_str().unwrap()).collect()
}

#[test]
fn line_items_after_the_writes_replace_add_and_remove_by_id_in_id_order() {
    let (po1, po2) = (id("PO1"), id("PO2"));
    let (l2_new, l2_also, l4, x1, l1) = (
        entity(json!({"ID": "L2", "Quantity": 5})),
        entity(json!({"ID": "L2", "Quantity": 9})),
        entity(json!({"ID": "L4"})),
        entity(json!({"ID": "X1"})),
        id("L1"),
    );
    let writes = Writes {
        line_items: vec![(&po1, &l4), (&po1, &l2_new), (&po1, &l2_also), (&po2, &x1)],
        remove_line_items: vec![(&po1, &l1)],
        ..Writes::default()
    };
    let stored = vec![
        doc(json!({"ID": "L1"})),
        doc(json!({"ID": "L2", "Quantity": 1})),
        doc(json!({"ID": "L3"})),
    ];
    let after = Overlay::of(&writes).line_items_of("PO1", stored);
    assert_eq!(
        ids(&after),
        ["L2", "L3", "L4"],
        "L1 removed, L4 added, the other order's kept out"
    );
    assert_eq!(
        after[0]["Quantity"], 5,
        "of two writes of a row in one Writes the first is kept"
    );
}

#[test]
fn a_line_item_both_written_and_removed_is_only_removed() {
    let (po1, l1) = (id("PO1"), id("L1"));
    let written = entity(json!({"ID": "L1", "Quantity": 2}));
    let writes = Writes {
        line_items: vec![(&po1, &written)],
        remove_line_items: vec![(&po1, &l1)],
        ..Writes::default()
    };
    let overlay = Overlay::of(&writes);
    assert!(overlay.line_items_of("PO1", vec![doc(json!({"ID": "L1"}))]).is_empty());
    assert!(overlay.line_items_of("PO1", Vec::new()).is_empty());
}

#[test]
fn documents_and_links_written_are_what_a_reader_finds() {
    let (user, product, order) = (
        entity(json!({"ID": "u1", "Email": "new@example.com"})),
        entity(json!({"ID": "P9", "Name": "Nine"})),
        entity(json!({"ID": "PO1", "Total": 3})),
    );
    let (u1, u2) = (id("u1"), id("u2"));
    let writes = Writes {
        users: vec![&user],
        products: vec![&product],
        orders: vec![(&order, Some(u1.clone()))],
        identities: vec![("beacon-2", &u2), ("beacon-1", &u1)],
        ..Writes::default()
    };
    let overlay = Overlay::of(&writes);
    assert_eq!(overlay.user("u1"), Some(&user.doc));
    assert_eq!(overlay.user("u2"), None);
    assert_eq!(overlay.product("P9"), Some(&product.doc));
    assert_eq!(overlay.order("PO1"), Some(&order.doc));
    assert_eq!(overlay.order_user("PO1"), Some(&u1));
    assert_eq!(overlay.order("PO2"), None);
    assert_eq!(overlay.linked_anonymous_id("u2"), Some("beacon-2"));
    assert_eq!(overlay.linked_anonymous_id("u3"), None);
    assert_eq!(overlay.linked_user("beacon-1"), Some(&u1));
    assert_eq!(
        overlay.linked_anonymous_ids().collect::<Vec<_>>(),
        ["beacon-1", "beacon-2"]
    );
}

#[test]
fn writes_applied_one_after_another_leave_each_key_as_the_last_left_it() {
    let (po1, l1, l2, u1, u2) = (id("PO1"), id("L1"), id("L2"), id("u1"), id("u2"));
    let (l1_first, l1_again, l2_doc) = (
        entity(json!({"ID": "L1", "Quantity": 1, "ProductID": "P1"})),
        entity(json!({"ID": "L1", "Quantity": 3, "ProductID": "P3"})),
        entity(json!({"ID": "L2", "ProductID": "P2"})),
    );
    let (order_with_user, order_without) = (
        entity(json!({"ID": "PO1", "Total": 1})),
        entity(json!({"ID": "PO1", "Total": 2})),
    );
    let (flash_10, flash_9) = (
        entity(json!({"ID": "flash", "xp": {"Inventory": 10}})),
        entity(json!({"ID": "flash", "xp": {"Inventory": 9}})),
    );
    let sequence = [
        Writes {
            orders: vec![(&order_with_user, Some(u1.clone()))],
            line_items: vec![(&po1, &l1_first), (&po1, &l2_doc)],
            products: vec![&flash_10],
            identities: vec![("beacon-1", &u1)],
            ..Writes::default()
        },
        Writes {
            orders: vec![(&order_without, None)],
            remove_line_items: vec![(&po1, &l1)],
            products: vec![&flash_9],
            identities: vec![("beacon-2", &u1)],
            ..Writes::default()
        },
        Writes {
            line_items: vec![(&po1, &l1_again)],
            remove_line_items: vec![(&po1, &l2)],
            identities: vec![("beacon-1", &u2)],
            ..Writes::default()
        },
    ];
    let mut overlay = Overlay::default();
    overlay.apply(&sequence[0]);
    assert_eq!(ids(&overlay.line_items_of("PO1", Vec::new())), ["L1", "L2"]);
    assert_eq!(overlay.linked_anonymous_id("u1"), Some("beacon-1"));
    overlay.apply(&sequence[1]);
    assert_eq!(ids(&overlay.line_items_of("PO1", Vec::new())), ["L2"]);
    assert_eq!(overlay.product("flash"), Some(&flash_9.doc), "the later document");
    assert_eq!(overlay.order("PO1"), Some(&order_without.doc));
    assert_eq!(
        overlay.order_user("PO1"),
        Some(&u1),
        "an order written without a user keeps it"
    );
    assert_eq!(overlay.linked_anonymous_id("u1"), Some("beacon-2"), "the latest link");
    overlay.apply(&sequence[2]);
    let after = overlay.line_items_of("PO1", vec![doc(json!({"ID": "L0"}))]);
    assert_eq!(ids(&after), ["L0", "L1"], "removed, then written again");
    assert_eq!(after[1]["Quantity"], 3);
    assert_eq!(overlay.product_ids_written_on("PO1"), ["P3"]);
    assert_eq!(
        overlay.linked_user("beacon-1"),
        Some(&u2),
        "linked again, to another user"
    );
    assert_eq!(overlay.linked_anonymous_id("u2"), Some("beacon-1"));
    assert_eq!(overlay.linked_anonymous_id("u1"), Some("beacon-2"));

    // What the statement makes: one write per row, the links in the order last made.
    let last = overlay.writes();
    assert_eq!(last.products, [&flash_9]);
    assert_eq!(last.orders, [(&order_without, Some(u1.clone()))]);
    assert_eq!(last.line_items, [(&po1, &l1_again)]);
    assert_eq!(last.remove_line_items, [(&po1, &l2)]);
    assert_eq!(last.identities, [("beacon-2", &u1), ("beacon-1", &u2)]);
}

#[test]
fn of_one_users_links_made_together_the_last_is_dated_latest() {
    let (u1, u2) = (id("u1"), id("u2"));
    let writes = Writes {
        identities: vec![("b-1", &u1), ("b-2", &u2), ("b-3", &u1), ("b-1", &u2), ("b-4", &u1)],
        ..Writes::default()
    };
    // The first link of b-1 is the one made; u1's three links are dated 2, 1 and 0 µs early.
    assert_eq!(
        writes.links_in_order(),
        [("b-1", &u1, 2), ("b-2", &u2, 0), ("b-3", &u1, 1), ("b-4", &u1, 0)]
    );
}
