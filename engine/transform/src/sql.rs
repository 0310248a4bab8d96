//! Ad-hoc SQL over staged files (`ferry sql`).
