//! An order's line items: written, removed, both, by one trigger or several.

use serde_json::json;
use sqlx::types::Json;
use trackway::domain::trigger::Entity;
use trackway::domain::ResourceId;
use trackway::storage::entities::Writes;

use super::{by_trigger, entity, id, Doc, Twins};

const LINE_ITEMS: &str = "SELECT coalesce(jsonb_agg(doc ORDER BY id), '[]') FROM line_items WHERE order_id = $1";

/// What a trigger does to a line item: writes it with a quantity, or removes it.
#[derive(Clone, Copy)]
enum Line {
    Put(&'static str, u32),
    Remove(&'static str),
}

use Line::{Put, Remove};

/// An order's line items by ID, each with its quantity.
type Quantities = &'static [(&'static str, u32)];

/// A case: its name, its order, the line items stored before, and each trigger's changes, in
/// order.
type Case = (&'static str, &'static str, Quantities, &'static [&'static [Line]]);

const CASES: [Case; 11] = [
    ("replaced", "PO-replace", &[("L1", 1), ("L2", 1)], &[&[Put("L1", 5)]]),
    (
        "added, in ID order",
        "PO-add",
        &[("L5", 1)],
        &[&[Put("L9", 1), Put("L0", 1)]],
    ),
    ("removed", "PO-remove", &[("L1", 1), ("L2", 1)], &[&[Remove("L1")]]),
    (
        "written and removed by one trigger",
        "PO-both",
        &[("L1", 1), ("L2", 1)],
        &[&[Put("L1", 9), Put("L3", 1), Remove("L1"), Remove("L3")]],
    ),
    (
        "two writes of one row by one trigger",
        "PO-twice",
        &[("L1", 1)],
        &[&[Put("L1", 2), Put("L1", 3)]],
    ),
    ("written as stored", "PO-same", &[("L1", 1)], &[&[Put("L1", 1)]]),
    ("not written", "PO-other", &[("L1", 1)], &[]),
    (
        "written by two triggers",
        "PO-later",
        &[("L1", 1)],
        &[&[Put("L1", 2)], &[Put("L1", 3)]],
    ),
    (
        "added A, B, removed A, added C",
        "PO-abc",
        &[],
        &[&[Put("A", 1)], &[Put("B", 1)], &[Remove("A")], &[Put("C", 1)]],
    ),
    (
        "written, removed, written again",
        "PO-again",
        &[("L1", 1)],
        &[&[Put("L1", 2)], &[Remove("L1")], &[Put("L1", 3)]],
    ),
    (
        "written back as stored",
        "PO-back",
        &[("L1", 1)],
        &[&[Put("L1", 2)], &[Put("L1", 1)]],
    ),
];

/// One trigger's line items written (with their order) and removed (order, line).
type Changes = (Vec<(ResourceId, Entity)>, Vec<(ResourceId, ResourceId)>);

fn changes(steps: &[(&Case, &&[Line])]) -> Changes {
    let (mut written, mut removed) = (Vec::new(), Vec::new());
    for ((_, order, _, _), lines) in steps {
        for line in lines.iter() {
            match *line {
                Put(line, n) => written.push((id(order), entity(json!({"ID": line, "Quantity": n})))),
                Remove(line) => removed.push((id(order), id(line))),
            }
        }
    }
    (written, removed)
}

async fn stored(twins: &Twins, order: &str) -> Vec<Doc> {
    let docs: Option<Json<Vec<Doc>>> = twins.read(LINE_ITEMS, &[order]).await;
    docs.map(|d| d.0).unwrap_or_default()
}

#[tokio::test]
async fn line_items_a_batch_finds_are_those_its_write_and_one_by_one_writes_leave() {
    let twins = Twins::spawn().await;
    for (_, order, stored, _) in &CASES {
        for (line, quantity) in stored.iter() {
            let item = json!({"ID": line, "Quantity": quantity}).to_string();
            let sql = "INSERT INTO line_items (order_id, id, doc) VALUES ($1, $2::jsonb->>'ID', $2::jsonb)";
            twins.seed(sql, &[order, &item]).await;
        }
    }
    let triggers: Vec<Changes> = by_trigger(&CASES, |(_, _, _, t)| t)
        .iter()
        .map(|steps| changes(steps))
        .collect();
    let sequence: Vec<Writes> = triggers
        .iter()
        .map(|(written, removed)| Writes {
            line_items: written.iter().map(|(order, item)| (order, item)).collect(),
            remove_line_items: removed.iter().map(|(order, line)| (order, line)).collect(),
            ..Writes::default()
        })
        .collect();

    let mut before = Vec::new();
    for (_, order, _, _) in &CASES {
        before.push(stored(&twins, order).await);
    }
    let overlay = twins.write(&sequence).await;

    for ((case, order, _, _), before) in CASES.iter().zip(before) {
        let expected = overlay.line_items_of(order, before);
        assert_eq!(
            stored(&twins, order).await,
            expected,
            "{case}: the overlay and the statements disagree"
        );
    }
    // The rules all three follow, spelled out: (order, its lines' quantities, the rule).
    let rules: [(&str, Quantities, &str); 6] = [
        ("PO-twice", &[("L1", 2)], "one trigger's first write"),
        ("PO-both", &[("L2", 1)], "written and removed by one trigger: removed"),
        ("PO-later", &[("L1", 3)], "the later trigger's write"),
        ("PO-abc", &[("B", 1), ("C", 1)], "in arrival order"),
        ("PO-again", &[("L1", 3)], "written again after its removal"),
        ("PO-back", &[("L1", 1)], "the later trigger's, though stored already"),
    ];
    for (order, lines, rule) in rules {
        let expected: Vec<_> = lines.iter().map(|(l, n)| json!({"ID": l, "Quantity": n})).collect();
        assert_eq!(json!(stored(&twins, order).await), json!(expected), "{order}: {rule}");
    }
}
