//! OneFlow's response shapes: a resource is a `DOCUMENT` whose attributes
//! are strings (`"ID": "12"`) and whose `TEMPLATE.BODY` is typed JSON.

use super::openapi::json_schema;
use crate::access::{Ownership, Permissions};
use crate::service::lifecycle::{Service, Severity};
use crate::store::{ServiceTemplateDoc, Store};
use serde_json::{Map, Value, json};

pub const SERVICE_TYPE: &str = "100";
pub const TEMPLATE_TYPE: &str = "101";
/// OneFlow keeps the last 50 log entries in a service document.
const MAX_LOG: usize = 50;

pub(super) fn permissions(p: &Permissions) -> Value {
    let bit = |b: bool| if b { "1" } else { "0" };
    json!({
        "OWNER_U": bit(p.owner.r#use), "OWNER_M": bit(p.owner.manage), "OWNER_A": bit(p.owner.admin),
        "GROUP_U": bit(p.group.r#use), "GROUP_M": bit(p.group.manage), "GROUP_A": bit(p.group.admin),
        "OTHER_U": bit(p.other.r#use), "OTHER_M": bit(p.other.manage), "OTHER_A": bit(p.other.admin),
    })
}

/// The names of a document's owner and group (`UNAME`, `GNAME`), read
/// from the store so that rendering can happen without it.
#[derive(PartialEq)]
pub struct Names {
    pub user: String,
    pub group: String,
}

impl Names {
    pub fn of(store: &dyn Store, ownership: &Ownership) -> Names {
        let (user, group) = store.owner_names(ownership);
        Names { user, group }
    }
}

fn document(
    names: &Names,
    id: u64,
    name: &str,
    kind: &str,
    ownership: &Ownership,
    body: Value,
) -> Value {
    json!({
        "ID": id.to_string(),
        "UID": ownership.uid.to_string(),
        "GID": ownership.gid.to_string(),
        "UNAME": names.user,
        "GNAME": names.group,
        "NAME": name,
        "TYPE": kind,
        "PERMISSIONS": permissions(&ownership.permissions),
        "TEMPLATE": { "BODY": body },
    })
}

pub fn one(document: Value) -> Value {
    json!({ "DOCUMENT": document })
}

/// `{"DOCUMENT_POOL":{"DOCUMENT":[…]}}`, or `{"DOCUMENT_POOL":{}}` when empty.
pub fn pool(documents: Vec<Value>) -> Value {
    if documents.is_empty() {
        json!({ "DOCUMENT_POOL": {} })
    } else {
        json!({ "DOCUMENT_POOL": { "DOCUMENT": documents } })
    }
}

pub fn template(store: &dyn Store, doc: &ServiceTemplateDoc) -> Value {
    let names = Names::of(store, &doc.ownership);
    let mut body = doc.body.clone();
    if let Some(b) = body.as_object_mut() {
        b.insert("registration_time".into(), json!(doc.registration_time));
    }
    document(
        &names,
        doc.id,
        &doc.name,
        TEMPLATE_TYPE,
        &doc.ownership,
        body,
    )
}

pub fn service(store: &dyn Store, s: &Service) -> Value {
    service_named(&Names::of(store, &s.ownership), s)
}

pub fn service_named(names: &Names, s: &Service) -> Value {
    let mut body = serde_json::to_value(&s.template).unwrap_or_else(|_| json!({}));
    let Some(b) = body.as_object_mut() else {
        return json!({});
    };
    b.insert("state".into(), json!(s.state.number()));
    b.insert("start_time".into(), json!(s.start_time_ms / 1000));
    let log: Vec<Value> = s
        .log
        .iter()
        .skip(s.log.len().saturating_sub(MAX_LOG))
        .map(|l| {
            json!({
                "timestamp": l.time_ms / 1000,
                "severity": if l.severity == Severity::Error { "E" } else { "I" },
                "message": l.message,
            })
        })
        .collect();
    b.insert("log".into(), json!(log));
    if let Some(Value::Array(roles)) = b.get_mut("roles") {
        for (role, runtime) in roles.iter_mut().zip(&s.roles) {
            let Some(r) = role.as_object_mut() else {
                continue;
            };
            r.insert("state".into(), json!(runtime.state.number()));
            r.insert("cardinality".into(), json!(runtime.cardinality));
            r.insert("last_vmname".into(), json!(runtime.last_vmname));
            r.insert("on_hold".into(), json!(runtime.on_hold));
            r.entry("cooldown").or_insert(json!(s.default_cooldown_s));
            let nodes: Vec<Value> = runtime
                .nodes
                .iter()
                .filter_map(|n| {
                    let id = n.vm_id.clone()?;
                    let deploy_id = id
                        .parse::<u64>()
                        .map(Value::from)
                        .unwrap_or(Value::String(id.clone()));
                    let mut vm = Map::new();
                    vm.insert("ID".into(), json!(id));
                    vm.insert("UID".into(), json!(s.ownership.uid.to_string()));
                    vm.insert("GID".into(), json!(s.ownership.gid.to_string()));
                    vm.insert("UNAME".into(), json!(names.user));
                    vm.insert("GNAME".into(), json!(names.group));
                    vm.insert("NAME".into(), json!(n.name));
                    if let Some(state) = n.vm_state {
                        vm.insert("STATE".into(), json!(state.as_str()));
                    }
                    let mut node = json!({ "deploy_id": deploy_id, "vm_info": { "VM": vm } });
                    // Why the VM is as it is (a refused action, a failure):
                    // an addition OneFlow clients ignore.
                    if let Some(reason) = &n.reason {
                        node["reason"] = json!(reason);
                    }
                    Some(node)
                })
                .collect();
            r.insert("nodes".into(), json!(nodes));
            let scheduled: Vec<Value> = s
                .scheduled_actions
                .iter()
                .filter(|a| a.role == runtime.name)
                .map(|a| {
                    json!({"id": a.id, "action": a.action, "vm_id": a.vm_id, "time": a.due_ms / 1000})
                })
                .collect();
            r.insert("scheduled_actions".into(), json!(scheduled));
        }
    }
    document(names, s.id, &s.name, SERVICE_TYPE, &s.ownership, body)
}

// The bodies above as the OpenAPI document describes them.

json_schema!(PermissionsSchema as "Permissions", {
    "type": "object",
    "description": "OpenNebula permission bits (Use, Manage, Admin for owner, group, others), each \"0\" or \"1\".",
    "required": ["OWNER_U", "OWNER_M", "OWNER_A", "GROUP_U", "GROUP_M", "GROUP_A", "OTHER_U", "OTHER_M", "OTHER_A"],
    "properties": {
        "OWNER_U": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "OWNER_M": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "OWNER_A": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "GROUP_U": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "GROUP_M": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "GROUP_A": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "OTHER_U": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "OTHER_M": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "OTHER_A": {
            "type": "string",
            "enum": ["0", "1"]
        }
    }
});

json_schema!(Document, {
    "type": "object",
    "description": "A OneFlow document. Every attribute except TEMPLATE.BODY is a string.",
    "required": ["ID", "UID", "GID", "UNAME", "GNAME", "NAME", "TYPE", "PERMISSIONS", "TEMPLATE"],
    "properties": {
        "ID": {
            "type": "string",
            "pattern": "^[0-9]+$"
        },
        "UID": {
            "type": "string",
            "pattern": "^[0-9]+$"
        },
        "GID": {
            "type": "string",
            "pattern": "^[0-9]+$"
        },
        "UNAME": {
            "type": "string"
        },
        "GNAME": {
            "type": "string"
        },
        "NAME": {
            "type": "string"
        },
        "TYPE": {
            "type": "string",
            "enum": ["100", "101"],
            "description": "\"100\" service, \"101\" service template."
        },
        "PERMISSIONS": {
            "$ref": "#/components/schemas/Permissions"
        },
        "TEMPLATE": {
            "type": "object",
            "required": ["BODY"],
            "properties": {
                "BODY": {
                    "anyOf": [
                        {
                            "$ref": "#/components/schemas/ServiceBody"
                        },
                        {
                            "$ref": "#/components/schemas/ServiceTemplateBody"
                        }
                    ],
                    "description": "ServiceBody when TYPE is \"100\", ServiceTemplateBody when \"101\"."
                }
            }
        }
    }
});

json_schema!(ServiceTemplateDocument, {
    "allOf": [
        {
            "$ref": "#/components/schemas/Document"
        },
        {
            "type": "object",
            "properties": {
                "TYPE": {
                    "const": "101"
                },
                "TEMPLATE": {
                    "type": "object",
                    "required": ["BODY"],
                    "properties": {
                        "BODY": {
                            "$ref": "#/components/schemas/ServiceTemplateBody"
                        }
                    }
                }
            }
        }
    ]
});

json_schema!(ServiceDocument, {
    "allOf": [
        {
            "$ref": "#/components/schemas/Document"
        },
        {
            "type": "object",
            "properties": {
                "TYPE": {
                    "const": "100"
                },
                "TEMPLATE": {
                    "type": "object",
                    "required": ["BODY"],
                    "properties": {
                        "BODY": {
                            "$ref": "#/components/schemas/ServiceBody"
                        }
                    }
                }
            }
        }
    ]
});

json_schema!(DocumentResponse, {
    "type": "object",
    "required": ["DOCUMENT"],
    "properties": {
        "DOCUMENT": {
            "$ref": "#/components/schemas/Document"
        }
    }
});

json_schema!(DocumentPool, {
    "type": "object",
    "description": "An empty pool is {\"DOCUMENT_POOL\": {}}.",
    "required": ["DOCUMENT_POOL"],
    "properties": {
        "DOCUMENT_POOL": {
            "type": "object",
            "properties": {
                "DOCUMENT": {
                    "type": "array",
                    "items": {
                        "$ref": "#/components/schemas/Document"
                    }
                }
            }
        }
    }
});

json_schema!(VmNode, {
    "type": "object",
    "required": ["deploy_id", "vm_info"],
    "properties": {
        "deploy_id": {
            "type": ["integer", "string"],
            "description": "The VM id."
        },
        "vm_info": {
            "type": "object",
            "required": ["VM"],
            "properties": {
                "VM": {
                    "type": "object",
                    "required": ["ID", "UID", "GID", "UNAME", "GNAME", "NAME"],
                    "properties": {
                        "ID": {
                            "type": "string"
                        },
                        "UID": {
                            "type": "string",
                            "pattern": "^[0-9]+$"
                        },
                        "GID": {
                            "type": "string",
                            "pattern": "^[0-9]+$"
                        },
                        "UNAME": {
                            "type": "string"
                        },
                        "GNAME": {
                            "type": "string"
                        },
                        "NAME": {
                            "type": "string"
                        },
                        "STATE": {
                            "type": "string",
                            "enum": ["PENDING", "HOLD", "RUNNING", "POWEROFF", "SUSPENDED", "STOPPED", "UNDEPLOYED", "UNKNOWN", "FAILED", "DONE"],
                            "description": "Last observed VM state, once polled."
                        }
                    }
                }
            }
        }
    }
});

json_schema!(ScheduledAction, {
    "type": "object",
    "description": "A pending VM action of a batched role action.",
    "required": ["id", "action", "vm_id", "time"],
    "properties": {
        "id": {
            "type": "integer",
            "minimum": 0,
            "description": "The sched_id to cancel it with."
        },
        "action": {
            "type": "string",
            "enum": ["terminate", "terminate-hard", "undeploy", "undeploy-hard", "hold", "release", "stop", "suspend", "resume", "reboot", "reboot-hard", "poweroff", "poweroff-hard", "snapshot-create", "snapshot-revert", "snapshot-delete", "disk-snapshot-create", "disk-snapshot-revert", "disk-snapshot-delete"]
        },
        "vm_id": {
            "type": "string"
        },
        "time": {
            "type": "integer",
            "description": "When it runs, epoch seconds."
        }
    }
});

json_schema!(ServiceRole, {
    "allOf": [
        {
            "$ref": "#/components/schemas/Role"
        },
        {
            "type": "object",
            "required": ["state", "cardinality", "last_vmname", "on_hold", "nodes"],
            "properties": {
                "state": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 11,
                    "description": "Role state: 0 PENDING, 1 DEPLOYING, 2 RUNNING, 3 UNDEPLOYING, 4 WARNING, 5 DONE, 6 FAILED_UNDEPLOYING, 7 FAILED_DEPLOYING, 8 SCALING, 9 FAILED_SCALING, 10 COOLDOWN, 11 HOLD"
                },
                "cardinality": {
                    "type": "integer",
                    "minimum": 0
                },
                "last_vmname": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Number the last VM name used."
                },
                "on_hold": {
                    "type": "boolean"
                },
                "cooldown": {
                    "type": "integer",
                    "minimum": 0
                },
                "nodes": {
                    "type": "array",
                    "items": {
                        "$ref": "#/components/schemas/VmNode"
                    }
                },
                "scheduled_actions": {
                    "type": "array",
                    "items": {
                        "$ref": "#/components/schemas/ScheduledAction"
                    }
                }
            }
        }
    ],
    "description": "A role of a running service."
});

json_schema!(ServiceBody, {
    "allOf": [
        {
            "$ref": "#/components/schemas/ServiceTemplateBody"
        },
        {
            "type": "object",
            "required": ["state", "start_time", "log", "roles"],
            "properties": {
                "state": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 15,
                    "description": "Service state: 0 PENDING, 1 DEPLOYING, 2 RUNNING, 3 UNDEPLOYING, 4 WARNING, 5 DONE, 6 FAILED_UNDEPLOYING, 7 FAILED_DEPLOYING, 8 SCALING, 9 FAILED_SCALING, 10 COOLDOWN, 11 DEPLOYING_NETS, 12 UNDEPLOYING_NETS, 13 FAILED_DEPLOYING_NETS, 14 FAILED_UNDEPLOYING_NETS, 15 HOLD"
                },
                "start_time": {
                    "type": "integer",
                    "description": "Epoch seconds."
                },
                "log": {
                    "type": "array",
                    "description": "The last 50 entries.",
                    "items": {
                        "type": "object",
                        "required": ["timestamp", "severity", "message"],
                        "properties": {
                            "timestamp": {
                                "type": "integer",
                                "description": "Epoch seconds."
                            },
                            "severity": {
                                "type": "string",
                                "enum": ["I", "E"]
                            },
                            "message": {
                                "type": "string"
                            }
                        }
                    }
                },
                "roles": {
                    "type": "array",
                    "items": {
                        "$ref": "#/components/schemas/ServiceRole"
                    }
                }
            }
        }
    ],
    "description": "A service: its template body plus runtime state."
});
