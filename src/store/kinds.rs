//! The closed sets of values rows hold (visibility, build status, account status), typed in Rust and stored as
//! their lowercase names in a text column by every backend.

use std::fmt;

/// Who may fetch a file from the asset host (COMPAT §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    Public,
    Protected,
    Private,
}

/// A Build's lifecycle (COMPAT §9.2): `building` until a node finishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuildStatus {
    Building,
    Completed,
    Failed,
}

/// An account's standing (COMPAT §16.4): only `active` accounts authenticate; `closed` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    Active,
    Suspended,
    Closed,
}

/// A text value with a fixed set of names.
pub trait Named: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;

    /// The value named `name` exactly (as stored).
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == name)
    }
}

impl Named for Visibility {
    const ALL: &'static [Self] = &[
        Visibility::Public,
        Visibility::Protected,
        Visibility::Private,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Protected => "protected",
            Visibility::Private => "private",
        }
    }
}

impl Named for BuildStatus {
    const ALL: &'static [Self] = &[
        BuildStatus::Building,
        BuildStatus::Completed,
        BuildStatus::Failed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Building => "building",
            BuildStatus::Completed => "completed",
            BuildStatus::Failed => "failed",
        }
    }
}

impl Named for AccountStatus {
    const ALL: &'static [Self] = &[
        AccountStatus::Active,
        AccountStatus::Suspended,
        AccountStatus::Closed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Closed => "closed",
        }
    }
}

macro_rules! text_column {
    ($($named:ty),*) => {$(
        impl $named {
            pub fn as_str(self) -> &'static str {
                Named::as_str(self)
            }
        }

        impl fmt::Display for $named {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(Named::as_str(*self))
            }
        }

        impl serde::Serialize for $named {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(Named::as_str(*self))
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $named
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $named
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                Named::as_str(*self).to_owned().encode_by_ref(buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $named
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let name = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                <$named as Named>::from_name(name)
                    .ok_or_else(|| format!("unknown {} {name:?}", stringify!($named)).into())
            }
        }
    )*};
}

text_column!(Visibility, BuildStatus, AccountStatus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in Visibility::ALL {
            assert_eq!(Visibility::from_name(v.as_str()), Some(*v));
        }
        for s in BuildStatus::ALL {
            assert_eq!(BuildStatus::from_name(s.as_str()), Some(*s));
        }
        for s in AccountStatus::ALL {
            assert_eq!(AccountStatus::from_name(s.as_str()), Some(*s));
        }
        assert_eq!(Visibility::from_name("Public"), None);
    }
}
