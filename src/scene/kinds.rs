//! Kind enums: each kind list (`MATERIAL_FAMILIES`, `LAMP_KINDS`, ...) is written once, as an
//! enum whose serde names are the list, so a preset's kind names, the scene's serde tags and
//! the lists that validate presets cannot drift apart.

/// Declares a fieldless kind enum, its serde names (snake_case), `ALL`, `name`, `parse`, and
/// the `&[&str]` list of its names.
macro_rules! kinds {
    ($(#[$meta:meta])* $name:ident, $list:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize,
            serde::Deserialize,
            schemars::JsonSchema,
        )]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every kind, in the order of the list.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The kind's name in presets, manifests and the worker's requests.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The kind named `text`, if there is one.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|k| k.name() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// The names of every kind (what a preset may name).
        pub const $list: &[&str] = &[$($text),+];
    };
}

pub(crate) use kinds;
