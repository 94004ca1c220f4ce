use super::*;
use serde_json::json;

#[test]
fn an_entity_put_at_a_path_takes_its_id_from_the_url_and_refuses_another() {
    let path = ResourceId::parse("ID", "P1").unwrap();
    let doc = |id: Option<Value>| Map::from_iter(id.map(|id| ("ID".to_owned(), id)));
    for given in [None, Some(json!(null)), Some(json!("P1"))] {
        let entity = Entity::at_path(&path, doc(given)).unwrap();
        assert_eq!((entity.id.as_str(), &entity.doc["ID"]), ("P1", &json!("P1")));
    }
    let refused = |given| Entity::at_path(&path, doc(Some(given))).unwrap_err().code;
    assert_eq!(refused(json!("P2")), InvalidCode::InvalidId);
    assert_eq!(refused(json!(7)), InvalidCode::InvalidId);
    // Carried by a trigger, the same document must name itself.
    let carried = |given| Entity::parse("Product", &doc(given)).unwrap_err();
    assert_eq!(carried(Some(json!(null))).code, InvalidCode::Required);
    assert_eq!(carried(None).code, InvalidCode::Required);
    assert_eq!(carried(Some(json!(7))).field, "Product.ID");
}

fn parse(value: Value) -> Result<Trigger, Vec<(InvalidCode, String)>> {
    let doc: TriggerDoc = serde_json::from_value(value).unwrap();
    Trigger::parse(&doc).map_err(|e| e.0.into_iter().map(|i| (i.code, i.field)).collect())
}

#[test]
fn references_come_from_ids_or_carried_entities() {
    let t = parse(json!({"EventType":"LineItemAdded","ClientID":"s",
        "Order":{"ID":"PO1","FromUserID":"buyer01"},"LineItem":{"ID":"L1","ProductID":"P1"}}))
    .unwrap();
    assert_eq!(t.order_id.unwrap().as_str(), "PO1");
    assert_eq!(t.line_item_id.unwrap().as_str(), "L1");
    assert_eq!(t.user_id.unwrap().as_str(), "buyer01");
    assert_eq!(t.line_item.unwrap().reference("ProductID").unwrap().as_str(), "P1");
}

#[test]
fn each_event_type_states_what_it_needs() {
    assert_eq!(
        parse(json!({"EventType":"LineItemAdded","ClientID":"s"})).unwrap_err(),
        [
            (InvalidCode::Required, "OrderID or Order".to_owned()),
            (InvalidCode::Required, "LineItemID or LineItem".to_owned())
        ]
    );
    assert!(parse(json!({"EventType":"UserLoggedIn","ClientID":"s"})).is_err());
    assert!(parse(json!({"EventType":"UserLoggedIn","ClientID":"s","UserID":"u"})).is_ok());
    assert!(parse(json!({"EventType":"ProductViewed","ClientID":"s","ProductID":"p"})).is_ok());
    assert!(parse(json!({"EventType":"OrderSubmitted","ClientID":"s","OrderID":"o"})).is_ok());
}

#[test]
fn contradicting_references_and_bad_entities_are_refused() {
    assert_eq!(
        parse(json!({"EventType":"OrderSubmitted","ClientID":"s","OrderID":"A","Order":{"ID":"B"}})).unwrap_err(),
        [(InvalidCode::InvalidValue, "OrderID".to_owned())]
    );
    assert_eq!(
        parse(
            json!({"EventType":"OrderSubmitted","ClientID":"s","OrderID":"A","Products":[{"ID":"ok"},{"Name":"no id"}]})
        )
        .unwrap_err(),
        [(InvalidCode::Required, "Products[1].ID".to_owned())]
    );
    assert_eq!(
        parse(json!({"EventType":"Shipped","ClientID":"bad id","OccurredAt":"yesterday"})).unwrap_err(),
        [
            (InvalidCode::InvalidEventType, "EventType".to_owned()),
            (InvalidCode::InvalidId, "ClientID".to_owned()),
            (InvalidCode::InvalidValue, "OccurredAt".to_owned())
        ]
    );
}
