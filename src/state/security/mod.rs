//! Who may connect and what they may do: SASL credentials and ACLs.

pub mod acls;
pub mod sasl;
