//! Service template and image commands: update, recursive clone, chmod,
//! rename, delete; images created, shown and updated.

use crate::{Site, created_id, example, fails, json_of, ok, rows};

#[test]
fn template_and_image_commands() {
    let site = Site::start();
    let env = site.admin();
    site.fast_vm_templates();
    let tid = created_id(&ok(
        &env,
        &["template", "create", &example("templates/three-tier.json")],
    ));
    let template = |id: &str| json_of(&env, &["template", "show", id])["DOCUMENT"].clone();

    // update in $EDITOR, then with --append.
    let editor = site.editor(
        "edit-description.sh",
        r#"s/"description": "[^"]*"/"description": "edited"/"#,
    );
    ok(
        &[("EDITOR", editor.as_str()), env[0], env[1]],
        &["template", "update", &tid],
    );
    let doc = template(&tid);
    assert_eq!(doc["TEMPLATE"]["BODY"]["description"], "edited", "{doc:#}");
    assert_eq!(
        doc["TEMPLATE"]["BODY"]["roles"].as_array().unwrap().len(),
        3
    );
    let append = site.file("append.json", r#"{"description": "appended"}"#);
    ok(&env, &["template", "update", &tid, &append, "--append"]);
    let doc = template(&tid);
    assert_eq!(
        doc["TEMPLATE"]["BODY"]["description"], "appended",
        "{doc:#}"
    );
    assert_eq!(doc["TEMPLATE"]["BODY"]["name"], "three-tier");
    assert_eq!(
        doc["TEMPLATE"]["BODY"]["roles"].as_array().unwrap().len(),
        3
    );
    let show = ok(&env, &["template", "show", &tid]);
    assert!(show.contains("\"description\": \"appended\""), "{show}");

    // A recursive clone gets its own VM templates.
    let vm_templates = || -> Vec<(String, String)> {
        json_of(&env, &["vm-template", "list"])["VMTEMPLATE_POOL"]["VMTEMPLATE"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t["ID"].as_str().unwrap().to_string(),
                    t["NAME"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let before = vm_templates();
    assert_eq!(before.len(), 4);
    let clone = created_id(&ok(&env, &["template", "clone", &tid, "copy", "-R"]));
    assert_ne!(clone, tid);
    let doc = template(&clone);
    assert_eq!(doc["NAME"], "copy");
    let after = vm_templates();
    assert_eq!(after.len(), 7, "{after:?}");
    for name in ["database-copy", "worker-copy", "frontend-copy"] {
        assert!(after.iter().any(|(_, n)| n == name), "{after:?}");
    }
    let list = ok(&env, &["vm-template", "list"]);
    assert!(list.contains("database-copy"), "{list}");
    let original = template(&tid)["TEMPLATE"]["BODY"]["roles"].clone();
    let roles = doc["TEMPLATE"]["BODY"]["roles"].as_array().unwrap().clone();
    assert_eq!(roles.len(), 3);
    for (copy, orig) in roles.iter().zip(original.as_array().unwrap()) {
        let new_id = copy["template_id"].as_u64().unwrap().to_string();
        let old_id = orig["template_id"].as_u64().unwrap().to_string();
        let new_name = &after.iter().find(|(i, _)| *i == new_id).unwrap().1;
        let old_name = &before.iter().find(|(i, _)| *i == old_id).unwrap().1;
        assert_eq!(*new_name, format!("{old_name}-copy"), "{doc:#}");
    }

    ok(&env, &["template", "chmod", &clone, "640"]);
    ok(&env, &["template", "rename", &clone, "copy2"]);
    let show = ok(&env, &["template", "show", &clone]);
    assert!(show.lines().any(|l| l == "NAME         : copy2"), "{show}");
    assert!(
        show.lines().any(|l| l == "PERMISSIONS  : um-u-----"),
        "{show}"
    );
    let list = ok(&env, &["template", "list"]);
    assert!(rows(&list, &clone)[0].contains(&"copy2"), "{list}");

    ok(
        &env,
        &["template", "delete", &clone, "--delete-vm-templates"],
    );
    let err = fails(&env, &["template", "show", &clone]);
    assert!(err.contains("404"), "{err}");
    assert_eq!(vm_templates(), before);
    let list = ok(&env, &["vm-template", "list"]);
    assert!(!list.contains("-copy"), "{list}");
    // The original and its VM templates are untouched.
    assert_eq!(template(&tid)["TEMPLATE"]["BODY"]["roles"], original);

    // Images.
    let out = ok(&env, &["image", "create", &example("images/debian.json")]);
    assert_eq!(out.trim(), "ID: 0");
    let list = ok(&env, &["image", "list"]);
    let row = rows(&list, "0");
    assert_eq!(row.len(), 1, "{list}");
    assert!(row[0].contains(&"debian-12"), "{list}");
    let show = ok(&env, &["image", "show", "0"]);
    assert!(show.contains("IMAGE 0 INFORMATION"), "{show}");
    assert!(
        show.lines().any(|l| l == "NAME         : debian-12"),
        "{show}"
    );
    assert!(show.contains("ATTRIBUTES"), "{show}");
    assert!(show.contains("debian-12-generic-amd64.qcow2"), "{show}");
    let append = site.file(
        "image-append.json",
        r#"{"DESCRIPTION": "Debian 12, patched", "DEV_PREFIX": "vd"}"#,
    );
    ok(&env, &["image", "update", "0", &append, "--append"]);
    let image = json_of(&env, &["image", "show", "0"])["IMAGE"]["TEMPLATE"].clone();
    assert_eq!(image["DESCRIPTION"], "Debian 12, patched", "{image:#}");
    assert_eq!(image["DEV_PREFIX"], "vd", "{image:#}");
    assert_eq!(image["TYPE"], "OS", "{image:#}");
    assert!(
        image["PATH"]
            .as_str()
            .is_some_and(|p| p.ends_with(".qcow2")),
        "{image:#}"
    );
}
