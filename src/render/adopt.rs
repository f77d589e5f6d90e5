//! `sagevpc adopt`'s list: what it takes over, and the matches it leaves alone.

use crate::changeset::adopt::Adoption;

/// The takes, one a line (`= adopt subnet.private-a  subnet-0abc  (10.20.0.0/20 in
/// us-east-1a)`), then what is not taken and why, then a count.
pub fn adoption(a: &Adoption) -> String {
    let mut out = String::new();
    if a.takes.is_empty() {
        out.push_str(
            "Nothing to adopt: no existing resource without sagevpc tags matches the plan.\n",
        );
    } else {
        out.push_str("sagevpc will adopt (tag with the plan's sagevpc:plan and sagevpc:key):\n\n");
        let width = a
            .takes
            .iter()
            .map(|t| t.address.to_string().len())
            .max()
            .unwrap_or(0);
        for t in &a.takes {
            out.push_str(&format!(
                "  = adopt {:<width$}  {}  ({})\n",
                t.address.to_string(),
                t.id,
                t.matched_by
            ));
        }
    }
    if !a.refused.is_empty() {
        out.push_str("\nNot adopted:\n");
        for r in &a.refused {
            out.push_str(&format!("  ! {r}\n"));
        }
    }
    if !a.takes.is_empty() {
        out.push_str(&format!(
            "\nAdopt: {} to adopt. Adopted resources are the plan's: `apply` changes them to match it, `destroy` deletes them.\n",
            a.takes.len()
        ));
    }
    out
}
