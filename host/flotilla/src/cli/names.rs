//! Names where ids are taken: `flotilla service show shop`. A name is
//! looked up in the list the caller may see; all digits is an id, as in
//! OpenNebula's CLI (a resource named `42` is reached by its id).

use super::connection::Api;
use super::error::{CliError, Result};
use super::output::{pool_items, text};

/// A kind of resource that can be named: its list route, its pool's
/// element and how the CLI calls it.
pub struct Named {
    pub path: &'static str,
    pub element: &'static str,
    /// `service`, `vm-template`, …: the command that lists them.
    pub command: &'static str,
}

pub const SERVICE: Named = Named {
    path: "/service",
    element: "DOCUMENT",
    command: "service",
};
pub const TEMPLATE: Named = Named {
    path: "/service_template",
    element: "DOCUMENT",
    command: "template",
};
pub const USER: Named = Named {
    path: "/user",
    element: "USER",
    command: "user",
};
pub const GROUP: Named = Named {
    path: "/group",
    element: "GROUP",
    command: "group",
};

/// The id a command line argument names: an id as it is, a name through
/// the list. None or several with that name is an error saying which.
pub async fn id(api: &Api, kind: &Named, given: &str) -> Result<u64> {
    if !given.is_empty() && given.bytes().all(|b| b.is_ascii_digit()) {
        return given.parse().map_err(|_| {
            CliError::Local(format!("{} id `{given}` is out of range", kind.command))
        });
    }
    let pool = api.get(kind.path).await?;
    let ids: Vec<String> = pool_items(&pool, kind.element)
        .iter()
        .filter(|item| item["NAME"].as_str() == Some(given))
        .map(|item| text(item, "ID"))
        .collect();
    match ids.as_slice() {
        [one] => one.parse().map_err(|_| {
            CliError::Local(format!(
                "{} `{given}` has the id `{one}`, not a number",
                kind.command
            ))
        }),
        [] => Err(CliError::Local(format!(
            "no {} named `{given}` (or you may not see it); `flotilla {} list` shows them",
            kind.command, kind.command
        ))),
        several => Err(CliError::Local(format!(
            "{} {} are named `{given}`: {}; give the id",
            several.len(),
            plural(kind.command),
            several.join(", ")
        ))),
    }
}

/// Ids of several arguments, each an id or a name.
pub async fn ids(api: &Api, kind: &Named, given: &[String]) -> Result<Vec<u64>> {
    let mut out = Vec::with_capacity(given.len());
    for g in given {
        out.push(id(api, kind, g).await?);
    }
    Ok(out)
}

fn plural(word: &str) -> String {
    format!("{word}s")
}
