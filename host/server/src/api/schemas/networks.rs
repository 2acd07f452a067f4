//! The bodies of the `/vnet` and `/vntemplate` routes (`api/vnets.rs`) as
//! the OpenAPI document describes them.

use super::json_schema;

json_schema!(VnetResponse, {
    "type": "object",
    "required": ["VNET"],
    "properties": {
        "VNET": {
            "allOf": [{"$ref": "#/components/schemas/AttributesDocument"}],
            "description": "TEMPLATE.AR holds the address ranges; LEASES the leased addresses (IP, MAC, HOLDER, SERVICE_ID) and USED_LEASES their count (shown by GET /vnet/{id})."
        }
    }
});

json_schema!(VnetPool, {
    "type": "object",
    "description": "An empty pool is {\"VNET_POOL\": {}}.",
    "required": ["VNET_POOL"],
    "properties": {
        "VNET_POOL": {
            "type": "object",
            "properties": {
                "VNET": {"type": "array", "items": {"$ref": "#/components/schemas/AttributesDocument"}}
            }
        }
    }
});

json_schema!(VntemplateResponse, {
    "type": "object",
    "required": ["VNTEMPLATE"],
    "properties": {
        "VNTEMPLATE": {"$ref": "#/components/schemas/AttributesDocument"}
    }
});

json_schema!(VntemplatePool, {
    "type": "object",
    "description": "An empty pool is {\"VNTEMPLATE_POOL\": {}}.",
    "required": ["VNTEMPLATE_POOL"],
    "properties": {
        "VNTEMPLATE_POOL": {
            "type": "object",
            "properties": {
                "VNTEMPLATE": {"type": "array", "items": {"$ref": "#/components/schemas/AttributesDocument"}}
            }
        }
    }
});

json_schema!(VnetCreate, {
    "type": "object",
    "required": ["name", "template"],
    "properties": {
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
        },
        "template": {
            "type": "object",
            "description": "Network attributes: AR (address ranges), GATEWAY, DNS, NETWORK_MASK, NETWORK_ADDRESS, … SERVICE_ID, OPERATION_ID and PARENT_NETWORK_ID are Flotilla's.",
            "properties": {
                "AR": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["IP", "SIZE"],
                        "properties": {
                            "TYPE": {"type": "string", "enum": ["IP4"]},
                            "IP": {"type": "string", "format": "ipv4"},
                            "SIZE": {"type": ["string", "integer"], "description": "1 to 65536 addresses."}
                        }
                    }
                }
            }
        }
    },
    "examples": [{"name": "public", "template": {"AR": [{"TYPE": "IP4", "IP": "10.0.0.1", "SIZE": "100"}], "GATEWAY": "10.0.0.254"}}]
});

json_schema!(ReserveRequest, {
    "type": "object",
    "required": ["name", "size"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"},
        "size": {"type": "integer", "minimum": 1, "maximum": 65536}
    }
});

json_schema!(InstantiateNetwork, {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"},
        "extra": {"type": "string", "description": "OpenNebula template text, e.g. AR=[IP=10.0.0.1, SIZE=10, TYPE=IP4]."}
    }
});
