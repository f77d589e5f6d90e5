//! The `kinds!` macro: from one list of kinds, the `Kind` enum, the `Op` enum and every
//! dispatch over kinds. Nothing outside this file matches over all kinds.

macro_rules! kinds {
    ($($variant:ident => $module:ident :: $unit:ident),* $(,)?) => {
        /// The kinds of resource sagevpc manages, in dependency order for creation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Kind {
            $($variant),*
        }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => <$module::$unit as ResourceKind>::NAME),*
                }
            }

            pub fn parse(s: &str) -> Option<Kind> {
                Kind::ALL.iter().copied().find(|k| k.as_str() == s)
            }

            pub fn tagging(self) -> Tagging {
                match self {
                    $(Kind::$variant => <$module::$unit as ResourceKind>::TAGGING),*
                }
            }
        }

        /// One API-level step: a kind's op, or a tag update of any taggable kind.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Op {
            $($variant($module::Op),)*
            Tags(tags::SetTags),
            DeleteEndpoints(endpoint::DeleteEndpoints),
        }

        $(
            impl From<$module::Op> for Op {
                fn from(op: $module::Op) -> Op {
                    Op::$variant(op)
                }
            }
        )*

        impl From<tags::SetTags> for Op {
            fn from(op: tags::SetTags) -> Op {
                Op::Tags(op)
            }
        }

        impl From<endpoint::DeleteEndpoints> for Op {
            fn from(op: endpoint::DeleteEndpoints) -> Op {
                Op::DeleteEndpoints(op)
            }
        }

        impl Op {
            pub fn refs_mut(&mut self) -> Vec<&mut IdRef> {
                match self {
                    $(Op::$variant(o) => o.refs_mut(),)*
                    Op::Tags(o) => o.refs_mut(),
                    Op::DeleteEndpoints(o) => o.refs_mut(),
                }
            }
            pub fn api_name(&self) -> &'static str {
                match self {
                    $(Op::$variant(o) => o.api_name(),)*
                    Op::Tags(o) => o.api_name(),
                    Op::DeleteEndpoints(o) => o.api_name(),
                }
            }
            pub fn creates(&self) -> bool {
                match self {
                    $(Op::$variant(o) => o.creates(),)*
                    Op::Tags(o) => o.creates(),
                    Op::DeleteEndpoints(o) => o.creates(),
                }
            }
            pub fn deletes(&self) -> Vec<&str> {
                match self {
                    $(Op::$variant(o) => o.deletes(),)*
                    Op::Tags(o) => o.deletes(),
                    Op::DeleteEndpoints(o) => o.deletes(),
                }
            }
            pub fn awaits(&self) -> Vec<&str> {
                match self {
                    $(Op::$variant(o) => o.awaits(),)*
                    Op::Tags(o) => o.awaits(),
                    Op::DeleteEndpoints(o) => o.awaits(),
                }
            }
            pub fn releases(&self) -> Vec<String> {
                match self {
                    $(Op::$variant(o) => o.releases(),)*
                    Op::Tags(o) => o.releases(),
                    Op::DeleteEndpoints(o) => o.releases(),
                }
            }
            pub fn removes(&self) -> bool {
                match self {
                    $(Op::$variant(o) => o.removes(),)*
                    Op::Tags(o) => o.removes(),
                    Op::DeleteEndpoints(o) => o.removes(),
                }
            }
            pub fn waits(&self) -> bool {
                match self {
                    $(Op::$variant(o) => o.waits(),)*
                    Op::Tags(o) => o.waits(),
                    Op::DeleteEndpoints(o) => o.waits(),
                }
            }
            /// Take `other` into this op (one call for both), if the two can be one.
            pub fn absorb(&mut self, other: &Op) -> bool {
                match (self, other) {
                    $((Op::$variant(a), Op::$variant(b)) => a.absorb(b),)*
                    (Op::Tags(a), Op::Tags(b)) => a.absorb(b),
                    (Op::DeleteEndpoints(a), Op::DeleteEndpoints(b)) => a.absorb(b),
                    _ => false,
                }
            }
            pub fn target(&self) -> Option<&str> {
                match self {
                    $(Op::$variant(o) => o.target(),)*
                    Op::Tags(o) => o.target(),
                    Op::DeleteEndpoints(o) => o.target(),
                }
            }
        }

        /// Everything a run needs from a cloud: every kind's calls.
        pub trait Cloud: Send + Sync + 'static + Guard + tags::Api + crate::quotas::Api $(+ $module::Api)* {}
        impl<T: Send + Sync + 'static + Guard + tags::Api + crate::quotas::Api $(+ $module::Api)*> Cloud for T {}

        /// Perform one resolved op against `c`.
        pub async fn perform<C: Cloud>(
            c: &C,
            op: Op,
            run: &mut Run<'_>,
        ) -> Result<Option<String>, NodeFailure> {
            match op {
                $(Op::$variant(o) => <$module::$unit as Perform<C>>::perform(c, o, run).await,)*
                Op::Tags(o) => tags::perform(c, o).await,
                Op::DeleteEndpoints(o) => endpoint::delete(c, o, run).await,
            }
        }

        /// Engine dispatch: every kind's checks.
        pub(crate) fn check_all(cx: &mut Cx) {
            $(<$module::$unit as ResourceKind>::check(cx);)*
            crate::resources::existing::check(cx);
        }

        /// Engine dispatch: every kind, in dependency order.
        pub(crate) fn reconcile_all(cx: &mut Cx) {
            $(cx.run::<$module::$unit>();)*
        }

        /// Whether `plan` owns any resource in `obs` yet.
        pub(crate) fn any_owned(obs: &Observed, plan: &str) -> bool {
            false $(|| <$module::$unit as ResourceKind>::live(obs)
                .iter()
                .any(|l| crate::observe::owned_key(l.tags(), plan).is_some()))*
        }
    };
}
