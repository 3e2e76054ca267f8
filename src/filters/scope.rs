//! The selection as a [`ListScope`], so that `pgcopydb list --filters`
//! shows exactly what a run with the same filters would copy.

use std::collections::HashSet;

use super::{Filters, Selection};
use crate::catalog::listing::ListScope;

/// Names left out, resolved on the source: dependents of filtered objects
/// (a partition of an excluded table, a sequence owned by one) are left out
/// too, which name matching alone would miss.
pub struct FilterScope {
    filters: Filters,
    schemas: HashSet<String>,
    relations: HashSet<(String, String)>,
    extensions: HashSet<String>,
}

impl FilterScope {
    pub fn new(filters: Filters, selection: &Selection) -> FilterScope {
        FilterScope {
            filters,
            schemas: selection.schemas.iter().cloned().collect(),
            relations: selection
                .relations
                .iter()
                .map(|r| (r.schema.clone(), r.name.clone()))
                .collect(),
            extensions: selection.extensions.iter().cloned().collect(),
        }
    }

    fn relation(&self, schema: &str, name: &str) -> bool {
        !self.schemas.contains(schema)
            && !self
                .relations
                .contains(&(schema.to_string(), name.to_string()))
    }
}

impl ListScope for FilterScope {
    fn table(&self, schema: &str, name: &str) -> bool {
        self.relation(schema, name)
    }
    fn table_data(&self, schema: &str, name: &str) -> bool {
        !self.filters.table_data_excluded(schema, name)
    }
    fn sequence(&self, schema: &str, name: &str) -> bool {
        self.relation(schema, name)
    }
    fn index(&self, schema: &str, name: &str) -> bool {
        self.relation(schema, name)
    }
    fn extension(&self, name: &str) -> bool {
        !self.extensions.contains(name)
    }
}
