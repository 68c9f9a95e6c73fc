//! What differs between SQL engines: the [`Dialect`] trait, through which the compiler
//! writes its engine-specific SQL (literals, member access and type tests on the dynamic
//! type, list functions, regular expressions, date and number formatting), and
//! [`DuckDb`], its first implementation. A second engine (ClickHouse) plugs in here by
//! implementing the trait. The rest of the compiler writes common SQL (`CASE`,
//! `coalesce`, `CAST`), though some of it is still DuckDB's spelling (`TRY_CAST`,
//! `starts_with`, `contains`, `left`, `least`, ...), to move here when a dialect needs
//! another.

use super::Kind;

/// What differs between SQL engines.
pub trait Dialect {
    /// A string literal.
    fn string(&self, s: &str) -> String;
    /// A number literal.
    fn number(&self, n: f64) -> String {
        if n == n.trunc() && n.abs() < 1e15 { format!("{}.0", n as i64) } else { format!("{n:e}") }
    }
    /// The member `name` of a dynamic object value.
    fn member(&self, object: &str, name: &str) -> String;
    /// Whether the object value has the member `name` (JSON null included).
    fn has_member(&self, object: &str, name: &str) -> String;
    /// The member `name` of an object held as JSON text, as the dynamic type: what
    /// [`Dialect::member`] gives for the same object as the dynamic type.
    fn text_member(&self, text: &str, name: &str) -> String;
    /// Whether an object held as JSON text has the member `name` (JSON null included).
    fn text_has_member(&self, text: &str, name: &str) -> String;
    /// A condition on a dynamic value: it holds a `kind`.
    fn is_kind(&self, value: &str, kind: Kind) -> String;
    /// A dynamic value known to hold a scalar `kind`, as that SQL type.
    fn payload(&self, value: &str, kind: Kind) -> String;
    /// A dynamic value that is a scalar `kind` or missing or `null`, as that SQL type:
    /// NULL where it is missing or `null`.
    fn payload_of_only(&self, value: &str, kind: Kind) -> String;
    /// A record of named values, each computed once: what a binding holds.
    fn record(&self, fields: &[(String, String)]) -> String;
    /// The member `name` of the record a binding's `var` stands for.
    fn field(&self, var: &str, name: &str) -> String;
    /// `body`, written with `var`, where `var` stands for `record`, computed once a row.
    fn bind(&self, var: &str, record: &str, body: &str) -> String;
    /// Whether some element of a dynamic list satisfies `cond`, written with `var`.
    fn list_any(&self, list: &str, var: &str, cond: &str) -> String;
    /// The non-NULL results of `expr` (written with `var`) over a dynamic list's
    /// elements, distinct, as a list of text.
    fn list_texts(&self, list: &str, var: &str, expr: &str) -> String;
    /// Elements of a dynamic list.
    fn list_len(&self, list: &str) -> String;
    /// Members of a dynamic object.
    fn object_len(&self, object: &str) -> String;
    /// A dynamic list or object as compact JSON text.
    fn json_text(&self, value: &str) -> String;
    /// A full-string regular-expression match (RE2 syntax).
    fn full_match(&self, s: &str, pattern: &str) -> String;
    /// A searching match.
    fn regex_search(&self, s: &str, pattern: &str) -> String;
    /// Group `group` of the first match (caller guards for a match).
    fn regex_extract(&self, s: &str, pattern: &str, group: usize) -> String;
    /// Every match replaced (replacement has no group references).
    fn regex_replace(&self, s: &str, pattern: &str, replacement: &str) -> String;
    /// A validated `YYYY-MM-DD[( |T)HH:MM:SS]` string as epoch ms, read as UTC.
    fn parse_datetime(&self, s: &str) -> String;
    /// Epoch ms as `YYYY-MM-DDTHH:MM:SS` in UTC.
    fn format_datetime(&self, ms: &str) -> String;
    /// A number as text, following [`crate::value::format_number`].
    fn format_number(&self, n: &str) -> String;
    /// Whether a double is finite.
    fn is_finite(&self, n: &str) -> String;
    /// `n`-th (from 1) part of `s` split at `d`, NULL when out of range.
    fn split_part(&self, s: &str, d: &str, n: &str) -> String;
}

/// DuckDB: properties are VARIANT.
#[derive(Clone, Copy, Debug, Default)]
pub struct DuckDb;

/// `name` as a quoted SQL identifier (DuckDB and PostgreSQL quote alike).
pub fn quoted_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The JSON Pointer (RFC 6901) to the top-level member `name`.
pub fn json_pointer(name: &str) -> String {
    format!("/{}", name.replace('~', "~0").replace('/', "~1"))
}

const NUMERIC_TYPES: &str =
    "'INT8','INT16','INT32','INT64','UINT8','UINT16','UINT32','UINT64','HUGEINT','UHUGEINT','FLOAT','DOUBLE'";

impl Dialect for DuckDb {
    fn string(&self, s: &str) -> String {
        if s.contains('\0') {
            let parts: Vec<String> = s.split('\0').map(|p| self.string(p)).collect();
            return format!("({})", parts.join(" || chr(0) || "));
        }
        format!("'{}'", s.replace('\'', "''"))
    }

    fn member(&self, object: &str, name: &str) -> String {
        format!("variant_extract({object}, {})", self.string(name))
    }

    fn has_member(&self, object: &str, name: &str) -> String {
        format!("coalesce(variant_exists({object}, {}), FALSE)", self.string(name))
    }

    // A JSON Pointer names any member exactly (a JSONPath would need its own quoting).
    // Extracting a JSON `null` gives a VARIANT that is SQL NULL, as `variant_extract` does.
    fn text_member(&self, text: &str, name: &str) -> String {
        format!("CAST(json_extract({text}, {}) AS VARIANT)", self.string(&json_pointer(name)))
    }

    fn text_has_member(&self, text: &str, name: &str) -> String {
        format!("coalesce(json_exists({text}, {}), FALSE)", self.string(&json_pointer(name)))
    }

    fn is_kind(&self, v: &str, kind: Kind) -> String {
        match kind {
            Kind::Null => format!("variant_typeof({v}) = 'VARIANT_NULL'"),
            Kind::Bool => format!("variant_typeof({v}) IN ('BOOL_TRUE', 'BOOL_FALSE')"),
            Kind::Num => format!("variant_typeof({v}) IN ({NUMERIC_TYPES})"),
            Kind::Str => format!("variant_typeof({v}) = 'VARCHAR'"),
            Kind::Time => "FALSE".into(),
            Kind::List => format!("starts_with(variant_typeof({v}), 'ARRAY')"),
            Kind::Object => format!("starts_with(variant_typeof({v}), 'OBJECT')"),
        }
    }

    fn payload(&self, v: &str, kind: Kind) -> String {
        match kind {
            Kind::Bool => format!("(variant_typeof({v}) = 'BOOL_TRUE')"),
            Kind::Num => format!("TRY_CAST({v} AS DOUBLE)"),
            Kind::Str => format!("CAST({v} AS VARCHAR)"),
            _ => v.to_string(),
        }
    }

    fn payload_of_only(&self, v: &str, kind: Kind) -> String {
        match kind {
            Kind::Bool => format!("TRY_CAST({v} AS BOOLEAN)"),
            _ => self.payload(v, kind),
        }
    }

    fn record(&self, fields: &[(String, String)]) -> String {
        let fields: Vec<String> = fields.iter().map(|(name, value)| format!("{name} := {value}")).collect();
        format!("struct_pack({})", fields.join(", "))
    }

    fn field(&self, var: &str, name: &str) -> String {
        format!("struct_extract({var}, '{name}')")
    }

    // A lambda over a one-element list is DuckDB's way to name a value inside an
    // expression: a CTE or a derived column would need the query around the filter.
    fn bind(&self, var: &str, record: &str, body: &str) -> String {
        format!("list_extract(list_transform([{record}], lambda {var}: {body}), 1)")
    }

    fn list_any(&self, list: &str, var: &str, cond: &str) -> String {
        format!(
            "coalesce(list_bool_or(list_transform(TRY_CAST({list} AS VARIANT[]), lambda {var}: coalesce({cond}, FALSE))), FALSE)"
        )
    }

    fn list_texts(&self, list: &str, var: &str, expr: &str) -> String {
        format!(
            "list_distinct(list_filter(list_transform(TRY_CAST({list} AS VARIANT[]), lambda {var}: {expr}), lambda {var}_k: {var}_k IS NOT NULL))"
        )
    }

    fn list_len(&self, list: &str) -> String {
        format!("CAST(variant_array_length({list}) AS DOUBLE)")
    }

    fn object_len(&self, object: &str) -> String {
        format!("CAST(len(variant_keys({object})) AS DOUBLE)")
    }

    fn json_text(&self, v: &str) -> String {
        format!("CAST(CAST({v} AS JSON) AS VARCHAR)")
    }

    fn full_match(&self, s: &str, pattern: &str) -> String {
        format!("regexp_full_match({s}, {})", self.string(pattern))
    }

    fn regex_search(&self, s: &str, pattern: &str) -> String {
        format!("regexp_matches({s}, {})", self.string(&format!("(?i){pattern}")))
    }

    fn regex_extract(&self, s: &str, pattern: &str, group: usize) -> String {
        format!("regexp_extract({s}, {}, {group})", self.string(&format!("(?i){pattern}")))
    }

    fn regex_replace(&self, s: &str, pattern: &str, replacement: &str) -> String {
        format!("regexp_replace({s}, {}, {}, 'g')", self.string(&format!("(?i){pattern}")), self.string(replacement))
    }

    fn parse_datetime(&self, s: &str) -> String {
        format!("epoch_ms(try_strptime(replace({s}, ' ', 'T'), ['%Y-%m-%dT%H:%M:%S', '%Y-%m-%d']))")
    }

    fn format_datetime(&self, ms: &str) -> String {
        format!("strftime(make_timestamp(CAST({ms} AS BIGINT) * 1000), '%Y-%m-%dT%H:%M:%S')")
    }

    fn format_number(&self, n: &str) -> String {
        format!(
            "(CASE WHEN {n} = trunc({n}) AND abs({n}) < 1e15 THEN CAST(CAST({n} AS BIGINT) AS VARCHAR) \
             ELSE CAST({n} AS VARCHAR) END)"
        )
    }

    fn is_finite(&self, n: &str) -> String {
        format!("isfinite({n})")
    }

    fn split_part(&self, s: &str, d: &str, n: &str) -> String {
        format!("list_extract(string_split({s}, {d}), CAST({n} AS BIGINT))")
    }
}
