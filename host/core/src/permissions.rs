//! OpenNebula's permission model: every resource has an owner, a group and
//! use / manage / admin bits for owner, group and others.

use crate::service::FieldError;
use serde::{Deserialize, Serialize};

/// What an action needs: `use` to see and instantiate, `manage` to change
/// and delete, `admin` to change ownership-sensitive attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Right {
    Use,
    Manage,
    Admin,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rights {
    pub r#use: bool,
    pub manage: bool,
    pub admin: bool,
}

impl Rights {
    fn from_digit(d: u32) -> Rights {
        // OpenNebula's octal digit: 4 = use, 2 = manage, 1 = admin.
        Rights {
            r#use: d & 4 != 0,
            manage: d & 2 != 0,
            admin: d & 1 != 0,
        }
    }

    fn digit(&self) -> u32 {
        (self.r#use as u32) * 4 + (self.manage as u32) * 2 + self.admin as u32
    }

    fn has(&self, right: Right) -> bool {
        match right {
            Right::Use => self.r#use,
            Right::Manage => self.manage,
            Right::Admin => self.admin,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub owner: Rights,
    pub group: Rights,
    pub other: Rights,
}

impl Default for Permissions {
    /// New resources: the owner may use and manage, nobody else anything
    /// (OpenNebula's default umask 177).
    fn default() -> Self {
        Permissions::from_octet("600").expect("a valid octet")
    }
}

impl Permissions {
    /// Parse `"640"` (three octal digits).
    pub fn from_octet(octet: &str) -> Result<Permissions, FieldError> {
        let digits: Vec<u32> = octet
            .trim()
            .chars()
            .map(|c| c.to_digit(8).unwrap_or(99))
            .collect();
        if digits.len() != 3 || digits.iter().any(|d| *d > 7) {
            return Err(FieldError {
                field: "octet".into(),
                reason: format!("`{octet}` must be three octal digits, like 640"),
            });
        }
        Ok(Permissions {
            owner: Rights::from_digit(digits[0]),
            group: Rights::from_digit(digits[1]),
            other: Rights::from_digit(digits[2]),
        })
    }

    pub fn octet(&self) -> String {
        format!(
            "{}{}{}",
            self.owner.digit(),
            self.group.digit(),
            self.other.digit()
        )
    }
}

/// Who owns a resource (by default oneadmin, mode 600).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    pub uid: u64,
    pub gid: u64,
    pub permissions: Permissions,
}

/// The `oneadmin` group: its members may do anything.
pub const ADMIN_GROUP: u64 = 0;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u64,
    pub name: String,
    pub gid: u64,
    /// Members of the `oneadmin` group may do anything.
    pub admin: bool,
}

impl Identity {
    /// Whether this identity has `right` on a resource.
    pub fn may(&self, right: Right, on: &Ownership) -> bool {
        self.admin
            || (self.uid == on.uid && on.permissions.owner.has(right))
            || (self.gid == on.gid && on.permissions.group.has(right))
            || on.permissions.other.has(right)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(uid: u64, gid: u64) -> Identity {
        Identity {
            uid,
            name: format!("u{uid}"),
            gid,
            admin: false,
        }
    }

    #[test]
    fn octets_round_trip_and_bad_ones_are_refused() {
        for octet in ["600", "640", "777", "000", "105"] {
            assert_eq!(Permissions::from_octet(octet).unwrap().octet(), octet);
        }
        for bad in ["", "60", "6400", "680", "abc"] {
            assert_eq!(
                Permissions::from_octet(bad).unwrap_err().field,
                "octet",
                "{bad}"
            );
        }
        assert_eq!(Permissions::default().octet(), "600");
    }

    #[test]
    fn owner_group_other_and_admin() {
        let doc = Ownership {
            uid: 5,
            gid: 100,
            permissions: Permissions::from_octet("640").unwrap(),
        };
        let owner = who(5, 100);
        let teammate = who(6, 100);
        let stranger = who(7, 200);
        assert!(owner.may(Right::Use, &doc) && owner.may(Right::Manage, &doc));
        assert!(!owner.may(Right::Admin, &doc));
        assert!(teammate.may(Right::Use, &doc) && !teammate.may(Right::Manage, &doc));
        assert!(!stranger.may(Right::Use, &doc));
        let admin = Identity {
            admin: true,
            ..who(0, 0)
        };
        assert!(admin.may(Right::Admin, &doc));
    }
}
