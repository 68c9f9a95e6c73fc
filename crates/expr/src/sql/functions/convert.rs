//! Type conversions and dates: `defined`, `boolean`, `number`, `string` (with its
//! default for an undefined value), `datetime` and `today`, each converting every
//! alternative of its argument following [`crate::value`]'s casts. Datetimes are
//! printed only in UTC; elsewhere the interpreter takes over.

use crate::eval::MAX_EPOCH_SECONDS;
use crate::sql::alts::{Alt, Kind, Payload, Val};
use crate::sql::combine::{and, case, or_terms};
use crate::sql::{Compiler, Result, unsupported};
use crate::value::NUMBER_PATTERN;

impl Compiler<'_> {
    /// `defined(x)`: `x` is neither undefined nor null.
    pub(super) fn call_defined(&self, v: &Val) -> Val {
        Val::sql(Kind::Bool, format!("coalesce({}, FALSE)", self.defined(v, false)))
    }

    /// `boolean(x)`.
    pub(super) fn call_boolean(&self, v: &Val) -> Val {
        let d = self.dialect;
        let mut terms = vec![];
        for a in &v.alts {
            let t = match (&a.kind, &a.payload) {
                (Kind::Bool, Payload::Sql(p)) => p.clone(),
                (Kind::Num, Payload::Sql(p)) => format!("{p} <> 0"),
                (Kind::Str, Payload::Sql(p)) => format!("NOT ({p} = '' OR {p} = 'false')"),
                (Kind::Time, Payload::Sql(p)) => format!("{p} IS NOT NULL"),
                (Kind::List, Payload::Items(items)) => (!items.is_empty()).to_string().to_uppercase(),
                (Kind::List, Payload::Dynamic(p)) => format!("{} > 0", d.list_len(p)),
                (Kind::Object, Payload::Dynamic(p)) => format!("{} > 0", d.object_len(p)),
                _ => continue,
            };
            terms.push(and(&[&a.when, &Some(t)]).unwrap_or_default());
        }
        Val::sql(Kind::Bool, format!("coalesce({}, FALSE)", or_terms(terms)))
    }

    /// `number(x)`.
    pub(super) fn call_number(&self, v: &Val) -> Val {
        let d = self.dialect;
        let mut branches = vec![];
        for a in &v.alts {
            let Payload::Sql(p) = &a.payload else { continue };
            let e = match a.kind {
                Kind::Num => p.clone(),
                Kind::Bool => format!("CASE WHEN {p} THEN 1.0 WHEN NOT {p} THEN 0.0 END"),
                Kind::Str => format!(
                    "CASE WHEN {} AND {} THEN TRY_CAST({p} AS DOUBLE) END",
                    d.full_match(p, NUMBER_PATTERN),
                    d.is_finite(&format!("TRY_CAST({p} AS DOUBLE)"))
                ),
                Kind::Time => format!("({p} / 1000.0)"),
                _ => continue,
            };
            branches.push((a.when.clone(), e));
        }
        Val::sql(Kind::Num, case(branches))
    }

    /// `string(x[, default])`.
    pub(super) fn call_string(&self, v: &[Val]) -> Result<Val> {
        let d = self.dialect;
        let mut alts = vec![];
        for a in &v[0].alts {
            let text = match (&a.kind, &a.payload) {
                (Kind::Null, _) => {
                    alts.push(a.clone());
                    continue;
                }
                (Kind::Str, Payload::Sql(p)) => p.clone(),
                (Kind::Num, Payload::Sql(p)) => d.format_number(p),
                (Kind::Bool, Payload::Sql(p)) => {
                    format!("CASE WHEN {p} THEN 'true' WHEN NOT {p} THEN 'false' END")
                }
                (Kind::Time, Payload::Sql(p)) => {
                    if self.program.options().timezone != chrono_tz::UTC {
                        return unsupported("string() of a datetime outside UTC");
                    }
                    d.format_datetime(p)
                }
                (Kind::List | Kind::Object, Payload::Dynamic(p)) => d.json_text(p),
                _ => return unsupported("string() of a list"),
            };
            alts.push(Alt { kind: Kind::Str, when: a.when.clone(), payload: Payload::sql(text) });
        }
        if let Some(default) = v.get(1) {
            // Exactly one side holds: the cast when x is defined, else the default.
            let undefined = self.undefined(&v[0]);
            let mut both = Self::guarded(&alts, &format!("NOT ({undefined})"));
            both.extend(Self::guarded(&default.alts, &undefined));
            return self.merge(both);
        }
        self.merge(alts)
    }

    /// `datetime(x)`: epoch seconds, a date string, or a datetime.
    pub(super) fn call_datetime(&self, v: &Val) -> Val {
        let mut branches = vec![];
        if let Some((w, p)) = v.scalar(Kind::Num) {
            branches.push((
                w,
                format!("CASE WHEN abs({p}) <= {MAX_EPOCH_SECONDS:.1} THEN TRY_CAST(round({p} * 1000) AS BIGINT) END"),
            ));
        }
        if let Some((w, p)) = v.scalar(Kind::Str) {
            branches.push((w, self.instant(v, &p)));
        }
        if let Some((w, p)) = v.scalar(Kind::Time) {
            branches.push((w, p));
        }
        Val::sql(Kind::Time, case(branches))
    }

    /// `today()`: folded now, from the program's fixed "now".
    pub(super) fn call_today(&self) -> Val {
        match crate::eval::today_ms(self.program.options()) {
            Some(ms) => Val::sql(Kind::Time, ms.to_string()).total(),
            None => Val::default(),
        }
    }
}
