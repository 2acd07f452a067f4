//! Templates: bad ones refused, the request merged and user inputs filled
//! at instantiation, what VMs get, updates and renames.

use crate::{harness, seed};
use flotilla::engine::EngineError;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_templates_are_refused_and_change_nothing() {
    let h = harness(600_000).await;
    let mut bad = seed("straight");
    bad["roles"][2]["template_id"] = json!(42);
    bad["roles"][3]["parents"] = json!(["ghost"]);
    match h.engine.instantiate(&bad).await {
        Err(EngineError::Invalid(errors)) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].field, "roles[3].parents[0]");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let mut unknown = seed("straight");
    unknown["roles"][2]["template_id"] = json!(42);
    match h.engine.instantiate(&unknown).await {
        Err(EngineError::Invalid(errors)) => {
            assert_eq!(
                errors[0].to_string(),
                "roles[2].template_id: VM template 42 does not exist"
            )
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert!(h.engine.service_ids().unwrap().is_empty());
    assert!(h.sim.views().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instantiate_merges_the_request_and_fills_user_inputs() {
    let h = harness(600_000).await;
    let template = json!({
        "name": "app",
        "user_inputs": {"DB_USER": "M|text|database user", "WORKERS": "O|range|workers|1..8|2", "MOTD": "O|text|message"},
        "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
                   "user_inputs": {"PORT": "M|number|port||8080"}}]
    });
    // A mandatory input without a value or default is refused, naming it.
    match h.engine.instantiate_merged(&template, &json!({})).await {
        Err(EngineError::Invalid(e)) => assert_eq!(
            e[0].to_string(),
            "user_inputs_values.DB_USER: is required (a mandatory user input)"
        ),
        other => panic!("{:?}", other),
    }
    let merge = json!({"name": "app-prod", "user_inputs_values": {"DB_USER": "prod"},
                       "roles": [{"name": "web", "cardinality": 2}]});
    let id = h
        .engine
        .instantiate_merged(&template, &merge)
        .await
        .unwrap();
    let service = h.engine.service(id).unwrap();
    assert_eq!(service.name, "app-prod");
    assert_eq!(service.role("web").unwrap().cardinality, 2);
    let vm = &h.sim.views()[0];
    assert_eq!(vm.template["DB_USER"], "prod");
    assert_eq!(
        vm.template["WORKERS"], "2",
        "an optional input takes its default"
    );
    assert_eq!(vm.template["PORT"], "8080");
    assert!(
        vm.template.get("MOTD").is_none(),
        "an optional input without a default is left out"
    );
    let bad = json!({"user_inputs_values": {"DB_USER": "x", "WORKERS": 99}});
    match h.engine.instantiate_merged(&template, &bad).await {
        Err(EngineError::Invalid(e)) => assert_eq!(
            e[0].to_string(),
            "user_inputs_values.WORKERS: 99 is outside 1..8"
        ),
        other => panic!("{:?}", other),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_get_the_merged_template_with_inputs_identity_and_parent_values() {
    let h = harness(600_000).await;
    let template = json!({
        "name": "shop",
        "deployment": "straight",
        "user_inputs": {"DB_USER": "M|text|database user", "WORKERS": "O|range|workers|1..8|2"},
        "user_inputs_values": {"DB_USER": "app", "WORKERS": 2},
        "roles": [
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0,
             "template_contents": {"MEMORY": "2048", "CONTEXT": {"DB_NAME": "orders"}}},
            {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0, "parents": ["db"],
             "user_inputs_values": {"WORKERS": 4},
             "template_contents": {"CONTEXT": {"DB": "${db.template.context.db_name}@${db.template.memory}"}}}
        ]
    });
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 2).await;
    let web = h
        .sim
        .views()
        .into_iter()
        .find(|v| v.role_name == "web")
        .unwrap();
    let t = &web.template;
    assert_eq!(t["CPU"], "1", "from the VM template");
    assert_eq!(
        t["MEMORY"], "512",
        "web's own VM template, not db's contents"
    );
    assert_eq!(t["SERVICE_ID"], id.to_string());
    assert_eq!(t["ROLE_NAME"], "web");
    assert_eq!(t["DB_USER"], "app");
    assert_eq!(t["WORKERS"], "4", "the role's input wins");
    assert_eq!(
        t["CONTEXT"]["WORKERS"], "4",
        "CONTEXT's `$WORKERS` takes the input's value, as oned writes a context"
    );
    assert_eq!(
        t["CONTEXT"]["DB"], "orders@2048",
        "resolved from the parent's template"
    );
    assert_eq!(web.name, format!("web_0_(service_{id})"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_refuses_immutable_attributes_and_rename_changes_the_name() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("straight")).await.unwrap();
    h.tick(id, 3).await;
    let mut changed = seed("none");
    changed["roles"][1]["cardinality"] = json!(3);
    changed["roles"][0]["parents"] = json!([]);
    let err = h.engine.update(id, &changed).await.unwrap_err().to_string();
    for expected in [
        "deployment: cannot change on a live service",
        "roles[1].cardinality: cannot change by update (use scale)",
        "roles[0].parents: cannot change on a live service",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in {err}");
    }
    let mut allowed = seed("straight");
    allowed["roles"][1]["max_vms"] = json!(8);
    allowed["description"] = json!("now with room to grow");
    h.engine.update(id, &allowed).await.unwrap();
    assert_eq!(
        h.engine
            .service(id)
            .unwrap()
            .template
            .role("backend")
            .unwrap()
            .max_vms,
        Some(8)
    );
    h.engine.rename(id, "shop").await.unwrap();
    assert_eq!(h.engine.service(id).unwrap().name, "shop");
}
